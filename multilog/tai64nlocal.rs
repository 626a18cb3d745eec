//! tai64nlocal: turns TAI64N labels at the start of lines into local time,
//! `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (daemontools' tai64nlocal); other bytes pass through.
//! NEW: `-u` prints UTC in RFC 3339 instead (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod filter;

use std::ffi::OsString;
use std::process::ExitCode;

use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};
use vigil_proto::rfc3339::civil_from_days;

/// The label of the unix epoch that daemontools subtracts (2^62 + 10).
const EPOCH_LABEL: u64 = 4_611_686_018_427_387_914;

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("tai64nlocal", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut utc = false;
    for opt in Getopt::new(args, "u") {
        match opt {
            Ok(Opt::Flag(b'u')) => utc = true,
            Ok(_) | Err(_) => return Err(Fail::usage("tai64nlocal [ -u ]")),
        }
    }
    if !utc {
        vigil_proc::localtime::init();
    }
    let mut converter = Converter::new(utc);
    let result = filter::filter(|block, output| {
        converter.convert(block);
        output.append(&mut converter.out);
    });
    match result {
        // compat: daemontools exits 111 without a message when reading or writing fails.
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(_) => Err(Fail::silent(msg::EXIT_FAILURE)),
    }
}

/// Where the converter is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    LineStart,
    /// Inside `@` + hex digits: the label so far, as daemontools accumulates it.
    Label {
        secs: u64,
        nanos: u64,
    },
    Copy,
}

struct Converter {
    utc: bool,
    state: State,
    digits: Vec<u8>,
    out: Vec<u8>,
}

impl Converter {
    fn new(utc: bool) -> Converter {
        Converter {
            utc,
            state: State::LineStart,
            digits: Vec::new(),
            out: Vec::with_capacity(128 * 1024),
        }
    }

    fn convert(&mut self, mut input: &[u8]) {
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                State::Copy => {
                    let (line, more) = match memchr::memchr(b'\n', input) {
                        Some(end) => {
                            self.state = State::LineStart;
                            input.split_at(end + 1)
                        }
                        None => (input, &input[input.len()..]),
                    };
                    self.out.extend_from_slice(line);
                    input = more;
                    continue;
                }
                State::LineStart if byte == b'@' => {
                    self.state = State::Label { secs: 0, nanos: 0 };
                    self.digits.clear();
                }
                State::LineStart => self.pass(byte),
                State::Label { secs, nanos } => match hex(byte) {
                    Some(u) => {
                        // compat: daemontools' tai64nlocal.c shifts digits through nanos
                        // into secs, wrapping, with no limit on their number.
                        let secs = (secs << 4).wrapping_add(nanos >> 28);
                        let nanos = ((nanos & 0xfff_ffff) << 4) + u;
                        self.state = State::Label { secs, nanos };
                        self.digits.push(byte);
                    }
                    None => {
                        self.label(secs, nanos);
                        self.pass(byte);
                    }
                },
            }
            input = rest;
        }
    }

    fn pass(&mut self, byte: u8) {
        self.out.push(byte);
        self.state = if byte == b'\n' {
            State::LineStart
        } else {
            State::Copy
        };
    }

    /// A label out of range stays as it was (daemontools crashes on it).
    fn keep_label(&mut self) {
        self.out.push(b'@');
        self.out.extend_from_slice(&self.digits);
    }

    fn label(&mut self, secs: u64, nanos: u64) {
        let unix = secs.wrapping_sub(EPOCH_LABEL) as i64;
        let nanos = nanos as u32;
        let text = if self.utc {
            let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
            if !(0..=9999).contains(&year) {
                self.keep_label();
                return;
            }
            let second = unix.rem_euclid(86_400);
            format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
                second / 3600,
                second / 60 % 60,
                second % 60
            )
        } else {
            match vigil_proc::localtime::local(unix) {
                Some(t) => format!(
                    "{}-{:02}-{:02} {:02}:{:02}:{:02}.{nanos:09}",
                    t.year, t.month, t.day, t.hour, t.minute, t.second
                ),
                None => {
                    self.keep_label();
                    return;
                }
            }
        };
        self.out.extend_from_slice(text.as_bytes());
    }
}

fn hex(byte: u8) -> Option<u64> {
    match byte {
        b'0'..=b'9' => Some(u64::from(byte - b'0')),
        b'a'..=b'f' => Some(u64::from(byte - b'a' + 10)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_labels_and_passthrough() {
        let mut c = Converter::new(true);
        c.convert(b"@400000005f5e1000075bcd15 hello\nplain @x\n@zz\n");
        assert_eq!(
            String::from_utf8_lossy(&c.out),
            "2020-09-13T12:26:30.123456789Z hello\nplain @x\n@zz\n"
        );
    }

    #[test]
    fn any_bytes_in_any_pieces_convert_without_panic_and_keep_unlabelled_lines() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut input = Vec::new();
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let alphabet = b"@0123456789abcdefxyz\n\0\xff ";
                input.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let mut c = Converter::new(seed % 2 == 0);
            for piece in input.chunks(1 + (seed % 7) as usize) {
                c.convert(piece);
            }
            let mut whole = Converter::new(seed % 2 == 0);
            whole.convert(&input);
            assert_eq!(c.out, whole.out, "pieces change nothing");
            if !input.contains(&b'@') {
                assert_eq!(c.out, input);
            }
        }
    }
}
