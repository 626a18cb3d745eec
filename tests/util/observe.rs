//! Helpers for the event tests: wake-up counts of a process, JSON lines of svwatch.

use std::fs;

/// voluntary_ctxt_switches of a process (summed over its threads): how often it slept and woke.
/// `None` once it is gone.
pub fn wakeups(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The listeners' FIFOs in `DIR/event/` (svwait, svwatch: one each per service they follow).
pub fn listeners(dir: &std::path::Path) -> usize {
    fs::read_dir(dir.join("event")).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().as_encoded_bytes().starts_with(b"ftrig1"))
            .count()
    })
}

/// Bytes written into the FIFO `path` and not read yet (FIONREAD: the pipe's, whoever reads).
pub fn unread(path: &std::path::Path) -> Option<usize> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let fifo = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid for the call.
    let r = unsafe { libc::ioctl(fifo.as_raw_fd(), libc::FIONREAD, &mut n) };
    (r == 0).then_some(n as usize)
}

/// The value of `"key":` in one of svwatch's JSON lines, as raw text (strings keep quotes).
pub fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("\"{key}\":");
    let start = line.find(&pattern)? + pattern.len();
    let rest = &line[start..];
    let end = if let Some(quoted) = rest.strip_prefix('"') {
        1 + quoted.find('"')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(&rest[..end])
}
