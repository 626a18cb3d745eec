//! tai64n: puts a TAI64N label (`@` + 24 hex digits + space) in front of each line of input
//! (daemontools' tai64n). One clock read per block of input: every line in it had arrived by
//! then.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod filter;

use std::io;
use std::process::ExitCode;

use vigil_proto::tai::Tai64n;

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    // compat: daemontools' tai64n ignores its arguments and exits 111 silently on a read or
    // write error.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(vigil_proto::msg::EXIT_FAILURE),
    }
}

fn run() -> io::Result<()> {
    let mut at_line_start = true;
    filter::filter(|mut rest, output| {
        let mut stamp = [b' '; 26];
        stamp[..25].copy_from_slice(&Tai64n::now().to_hex());
        while !rest.is_empty() {
            if at_line_start {
                output.extend_from_slice(&stamp);
            }
            let (line, more) = match memchr::memchr(b'\n', rest) {
                Some(end) => rest.split_at(end + 1),
                None => (rest, &rest[rest.len()..]),
            };
            output.extend_from_slice(line);
            at_line_start = line.last() == Some(&b'\n');
            rest = more;
        }
    })
}
