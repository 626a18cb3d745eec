//! What every benchmark prints beside its table: the machine and date; the median it reports;
//! a process's memory.
// Each bench is its own crate and uses only some of these.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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

/// Polls `cond` every `poll` until it holds (true) or `limit` passes (false).
pub fn wait_for(limit: Duration, poll: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(poll);
    }
    false
}

/// The lines of a file of space-separated numbers (a `run`'s `times`).
pub fn number_lines(path: &Path) -> Vec<Vec<u64>> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').filter_map(|w| w.parse().ok()).collect())
        .collect()
}

/// The middle value of floats (NaN for none).
pub fn median_f64(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Gaps (µs) between one run's exit and the next one's start, from `START EXIT` lines (ns).
pub fn restart_gaps(times: &[Vec<u64>]) -> Vec<f64> {
    times
        .windows(2)
        .filter(|w| w[0].len() == 2 && !w[1].is_empty())
        .map(|w| (w[1][0] as f64 - w[0][1] as f64) / 1000.0)
        .collect()
}

/// The floor of a restart gap: spawn `DIR/run`, wait, spawn again, `restarts` times, in this
/// process, with the same hold as under a supervisor.
pub fn spawn_wait_floor(dir: &Path, restarts: usize) -> Vec<f64> {
    for _ in 0..=restarts {
        Command::new(dir.join("run"))
            .current_dir(dir)
            .status()
            .expect("run");
    }
    restart_gaps(&number_lines(&dir.join("times")))
}

/// `d`, `k`, `x` through the FIFO of any daemontools-like supervisor; KILL if it has not
/// exited after a few seconds.
pub fn stop_supervisor(mut sup: Child, dir: &Path) {
    let _ = vigil_client::Service::at(dir).map(|s| s.try_send(b"dkx"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = sup.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = sup.kill();
    let _ = sup.wait();
}

/// CLOCK_MONOTONIC in ns, as a `run` records its start and exit.
pub fn now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// Appends `line` to file `path` (created if missing).
pub fn append(path: &str, line: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("append");
    f.write_all(line.as_bytes()).expect("write");
}
