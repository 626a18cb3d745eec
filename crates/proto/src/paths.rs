//! The names of a service directory's files, and daemontools' way of joining them to DIR.
//!
//! compat: daemontools builds messages as DIR + "/supervise/lock" with the directory exactly as
//! typed (a trailing slash stays: `svc//supervise/lock`), so paths are joined by bytes, never
//! with `Path::join`.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The directory supervise keeps its state in, inside the service directory.
pub const SUPERVISE: &str = "supervise";
/// The lock a running supervise holds (flock, exclusive).
pub const LOCK: &str = "supervise/lock";
/// The FIFO control bytes are written to.
pub const CONTROL: &str = "supervise/control";
/// The FIFO whose read end is open while a supervise runs (svok opens it for writing).
pub const OK: &str = "supervise/ok";
/// The status file.
pub const STATUS: &str = "supervise/status";
/// The status file being written, renamed over `STATUS` when whole.
pub const STATUS_NEW: &str = "supervise/status.new";
/// NEW: the service's cgroup, one absolute path a line: the cgroup v2 directory `run` is in,
/// then the v1 memory cgroup's while `run` is in it too (docs/cgroups.md); absent on the
/// process-group path.
pub const CGROUP: &str = "supervise/cgroup";
/// The service's program.
pub const RUN: &str = "run";
/// NEW: run after each exit of `run`, with its exit code and signal.
pub const FINISH: &str = "finish";
/// If this file exists the service is normally down.
pub const DOWN: &str = "down";
/// The logger's service directory.
pub const LOG: &str = "log";

/// `dir` + `/` + `tail`, byte for byte as daemontools joins them for messages.
pub fn join(dir: &OsStr, tail: &str) -> OsString {
    let mut bytes = dir.as_bytes().to_vec();
    bytes.push(b'/');
    bytes.extend_from_slice(tail.as_bytes());
    OsString::from_vec(bytes)
}

/// The path of `tail` in `dir`, to open: `tail` itself when `dir` is `.` (supervise, which
/// runs in its service directory), so that no allocation is made; else [`join`].
pub fn under<'a>(dir: &'a OsStr, tail: &'a str) -> Cow<'a, OsStr> {
    if dir == "." {
        Cow::Borrowed(OsStr::new(tail))
    } else {
        Cow::Owned(join(dir, tail))
    }
}

/// A directory name on one line of a text file (svwatch's and vigil-listen's cursor files):
/// `%`, `\n` and `\r` written `%XX`, every other byte as it is, so any name survives.
///
/// ```
/// use vigil_proto::paths::{escape_line, unescape_line};
///
/// let mut line = Vec::new();
/// escape_line(b"a%b\nc", &mut line);
/// assert_eq!(line, b"a%25b%0Ac");
/// assert_eq!(unescape_line(&line).as_deref(), Some(&b"a%b\nc"[..]));
/// ```
pub fn escape_line(name: &[u8], out: &mut Vec<u8>) {
    for &b in name {
        match b {
            b'%' | b'\n' | b'\r' => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
            b => out.push(b),
        }
    }
}

/// The name back from [`escape_line`]; `None` for a `%` not followed by two hex digits.
pub fn unescape_line(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let hex = std::str::from_utf8(text.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_what_the_user_typed() {
        assert_eq!(
            join(OsStr::new("svc/"), LOCK),
            OsString::from("svc//supervise/lock")
        );
        assert_eq!(
            join(OsStr::new("a"), STATUS),
            OsString::from("a/supervise/status")
        );
        assert_eq!(under(OsStr::new("."), LOCK), OsStr::new("supervise/lock"));
        assert_eq!(under(OsStr::new("a"), LOCK), OsStr::new("a/supervise/lock"));
    }
}
