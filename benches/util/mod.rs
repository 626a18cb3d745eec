//! What every benchmark prints beside its table: the machine and date; the median it reports;
//! a process's memory.
// Each bench is its own crate and uses only some of these.
#![allow(dead_code)]

use std::fs;
use std::time::Duration;

/// The middle value (the upper one of an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `CPU model, N cores, Linux RELEASE`, for the table's heading.
pub fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

/// PSS and private (clean + dirty) memory of a process in KB, from /proc/PID/smaps_rollup
/// (zeros if it is gone).
pub fn pss_and_private_kb(pid: u32) -> (f64, f64) {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let (mut pss, mut private) = (0.0, 0.0);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(key), Some(kb)) = (
            words.next(),
            words.next().and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        match key {
            "Pss:" => pss += kb,
            "Private_Clean:" | "Private_Dirty:" => private += kb,
            _ => {}
        }
    }
    (pss, private)
}

/// Now, as `2026-11-25 13:03 UTC`.
pub fn date_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
