//! NEW (issue 15 item 6): supervise's warnings about its service also go into the service's log
//! pipe when it has a logger, as `vigil-supervise: warning: ...`, next to the service's own
//! lines and not only on svscan's stderr; and a logger's supervise names its service in them.
//!
//! svscan runs a logger for `DIR/log` and gives supervise the pipe as its stdout (which `run`
//! inherits). supervise writes its copy through a descriptor of its own, opened non-blocking on
//! that pipe (`/proc/self/fd/1`): a full pipe (a stuck logger) drops the copy, never blocks
//! supervise, and the service's own descriptor keeps its flags. One write per line of at most
//! `PIPE_BUF` bytes, so a line never mixes with the service's.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

use vigil_proto::{msg, paths};

/// What starts each copied line.
pub const PREFIX: &[u8] = b"vigil-supervise: ";

/// supervise's stdout, reopened.
const STDOUT: &str = "/proc/self/fd/1";

/// Copies warnings into the log pipe from now on if the service (the current directory) has a
/// logger and supervise's stdout is a pipe.
pub fn install() {
    let logged = fs::metadata(paths::LOG).is_ok_and(|m| m.is_dir());
    if logged && fs::metadata(STDOUT).is_ok_and(|m| m.file_type().is_fifo()) {
        msg::copy_warnings_to(copy);
    }
}

fn copy(text: &[u8]) {
    let Ok(mut pipe) = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(STDOUT)
    else {
        return;
    };
    let mut line = [PREFIX, text].concat();
    line.truncate(libc::PIPE_BUF - 1);
    line.push(b'\n');
    // One write: all of it or nothing (EAGAIN on a full pipe); stderr has the line anyway.
    let _ = pipe.write(&line);
}

/// The name a logger's supervise gives its service in messages: `supervise log`, as svscan
/// runs it in `NAME`, is `NAME/log` (the current directory's last component, before the
/// chdir), so its warnings say `hello/log/run`, not `log/run`. `None` for any other DIR.
pub fn logger_name(dir: &[u8]) -> Option<Vec<u8>> {
    let trimmed = dir.strip_prefix(b"./").unwrap_or(dir);
    let trimmed = trimmed.strip_suffix(b"/").unwrap_or(trimmed);
    if trimmed != paths::LOG.as_bytes() {
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    let parent = cwd.file_name()?;
    Some(msg::cat(&[parent.as_bytes(), b"/", trimmed]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_log_is_a_logger() {
        assert_eq!(logger_name(b"web"), None);
        assert_eq!(logger_name(b"web/log"), None);
        assert_eq!(logger_name(b"logs"), None);
        let cwd = std::env::current_dir().expect("cwd");
        let parent = cwd.file_name().expect("name").as_bytes().to_vec();
        for dir in [&b"log"[..], b"./log", b"log/"] {
            assert_eq!(logger_name(dir), Some([&parent[..], b"/log"].concat()));
        }
    }
}
