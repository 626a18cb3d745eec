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
