//! readproctitle: shows the last bytes read from stdin in its own process title, as daemontools'
//! readproctitle does, so `ps` shows svscan's latest error messages.
//!
//! The last argument is the window: its bytes are overwritten in place (the first three stay
//! dots, the rest scroll), so `ps` and /proc/PID/cmdline show them (vigil_proc::title writes
//! this process's memory).
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use vigil_proc::title::Title;
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
    let Some(last) = args.last().filter(|_| window_len >= 5) else {
        return Err(Fail::silent(EXIT_USAGE));
    };
    let mut title = Title::open(last)
        .map_err(|e| msg::warn_unable("readproctitle", &e, &[b"find my process title"]))
        .ok();
    let mut window = vec![b'.'; window_len];
    show(&mut title, &window);
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
        show(&mut title, &window);
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

/// Shows `window` as the title, if there is one. A failed write only leaves the title as it
/// was; stdin is still drained.
fn show(title: &mut Option<Title>, window: &[u8]) {
    if let Some(t) = title.as_mut() {
        let _ = t.show(window);
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
