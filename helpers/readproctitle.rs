//! readproctitle: shows the last bytes read from stdin in its own process title, as daemontools'
//! readproctitle does, so `ps` shows svscan's latest error messages.
//!
//! The last argument is the window: its bytes are overwritten in place (the first three stay
//! dots, the rest scroll), so `ps` and /proc/PID/cmdline show them. The argument area is found
//! in /proc/self/stat and written through /proc/self/mem, which needs no unsafe code.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::process::ExitCode;

use vigil_proto::msg::{self, Fail, EXIT_FAILURE, EXIT_USAGE};

/// compat: daemontools keeps the first three bytes of the window as dots.
const KEPT: usize = 3;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("readproctitle", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    // compat: daemontools exits 100 without a word when there is no window of 5 bytes or more.
    let window_len = args.last().map_or(0, |a| a.as_bytes().len());
    if window_len < 5 {
        return Err(Fail::silent(EXIT_USAGE));
    }
    let mut title = Title::open(window_len)
        .map_err(|e| msg::warn_unable("readproctitle", &e, &[b"find my process title"]))
        .ok();
    let mut window = vec![b'.'; window_len];
    if let Some(t) = title.as_mut() {
        t.show(&window);
    }
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => return Ok(ExitCode::SUCCESS),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Fail::silent(EXIT_FAILURE)),
        };
        scroll(&mut window, &buf[..n]);
        if let Some(t) = title.as_mut() {
            t.show(&window);
        }
    }
}

/// Appends the non-NUL bytes of `input` to the window's scrolling part, keeping its last bytes.
fn scroll(window: &mut [u8], input: &[u8]) {
    let tail = &mut window[KEPT..];
    let new: Vec<u8> = input.iter().copied().filter(|&b| b != 0).collect();
    if new.len() >= tail.len() {
        tail.copy_from_slice(&new[new.len() - tail.len()..]);
    } else {
        tail.rotate_left(new.len());
        let keep = tail.len() - new.len();
        tail[keep..].copy_from_slice(&new);
    }
}

/// This process's last argument, in its own memory.
struct Title {
    mem: File,
    offset: u64,
}

impl Title {
    /// Finds the last `len` bytes before the final NUL of the argument area.
    fn open(len: usize) -> io::Result<Title> {
        let stat = std::fs::read("/proc/self/stat")?;
        let invalid = || io::Error::from_raw_os_error(libc::EINVAL);
        // Fields after the command name, which may itself hold spaces and parentheses.
        let after = stat
            .iter()
            .rposition(|&b| b == b')')
            .map(|at| &stat[at + 1..])
            .ok_or_else(invalid)?;
        let fields: Vec<&[u8]> = after
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .collect();
        // arg_end is field 49 of proc(5); `after` starts at field 3.
        let arg_end: u64 = fields
            .get(49 - 3)
            .and_then(|f| std::str::from_utf8(f).ok()?.trim().parse().ok())
            .ok_or_else(invalid)?;
        let offset = arg_end.checked_sub(len as u64 + 1).ok_or_else(invalid)?;
        let mem = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/self/mem")?;
        // Make sure the window is where the last argument is before writing over anything.
        let mut there = vec![0u8; len + 1];
        mem.read_exact_at(&mut there, offset)?;
        let expected = std::env::args_os().last().ok_or_else(invalid)?;
        if there[..len] != *expected.as_bytes() || there[len] != 0 {
            return Err(invalid());
        }
        Ok(Title { mem, offset })
    }

    fn show(&mut self, window: &[u8]) {
        // A failed write only leaves the title as it was; stdin is still drained.
        let _ = self.mem.write_all_at(window, self.offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// daemontools' loop, one byte at a time.
    fn reference(window: &mut [u8], input: &[u8]) {
        let len = window.len();
        for &ch in input.iter().filter(|&&b| b != 0) {
            for i in 4..len {
                window[i - 1] = window[i];
            }
            window[len - 1] = ch;
        }
    }

    #[test]
    fn scroll_matches_byte_at_a_time() {
        for input in [&b"ab"[..], b"hello world, this is long", b"x\0y\0\0z", b""] {
            let mut ours = b"..........".to_vec();
            let mut theirs = ours.clone();
            scroll(&mut ours, input);
            reference(&mut theirs, input);
            assert_eq!(ours, theirs, "{input:?}");
        }
    }
}
