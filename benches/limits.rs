//! Resource limits: what sampling costs and how fast a breach is acted on.
//!
//! 1. CPU used by 200 supervise processes over a quiet period: vigil's with limit files at the
//!    default interval, vigil's without, and daemontools' (which has no limits), side by side,
//!    as % of one core (run time from /proc/PID/schedstat, before and after).
//! 2. Detection delay at the default interval: a service that spins a core under `max-cpu 50 5`
//!    and one whose child holds 60 MB under `max-memory 24M`, each restarted several times;
//!    the delay is from the end of the CPU window (or the start of the hog) to the next start.
//!
//! Prints Markdown tables with the date and machine, for docs/bench.md.

mod util;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

const SERVICES: usize = 200;
const QUIET: Duration = Duration::from_secs(20);

fn script(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A running supervise; killed with its services when dropped.
struct Supervise {
    child: Child,
    dir: PathBuf,
}

impl Supervise {
    fn start(program: &Path, dir: &Path) -> Supervise {
        let child = Command::new(program)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn supervise");
        Supervise {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The pid in the status file (0 if none yet).
    fn service_pid(&self) -> u32 {
        fs::read(self.dir.join("supervise/status"))
            .ok()
            .filter(|b| b.len() >= 18)
            .map_or(0, |b| u32::from_le_bytes([b[12], b[13], b[14], b[15]]))
    }
}

impl Drop for Supervise {
    fn drop(&mut self) {
        let pid = self.service_pid();
        if pid != 0 {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Time a process has spent on a CPU, in ns (/proc/PID/schedstat: exact, where utime and
/// stime are whole clock ticks and would round a few milliseconds per process down to 0).
fn cpu_ns(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// 200 services under `program`, with the limit files if `limits`; the CPU % of one core all
/// their supervise processes used over `QUIET`.
fn monitoring_cost(base: &Path, label: &str, program: &Path, limits: bool) -> f64 {
    let root = base.join(label);
    let sups: Vec<Supervise> = (0..SERVICES)
        .map(|i| {
            let dir = root.join(format!("s{i}"));
            script(&dir.join("run"), "exec sleep 1000");
            if limits {
                fs::write(dir.join("max-memory"), "1G\n").expect("write");
                fs::write(dir.join("max-cpu"), "90 300\n").expect("write");
                fs::write(dir.join("max-threads"), "1000\n").expect("write");
            }
            Supervise::start(program, &dir)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sups.iter().any(|s| s.service_pid() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3)); // start-up work done
    let before: u64 = sups.iter().map(|s| cpu_ns(s.pid())).sum();
    let start = Instant::now();
    std::thread::sleep(QUIET);
    let after: u64 = sups.iter().map(|s| cpu_ns(s.pid())).sum();
    let elapsed = start.elapsed().as_secs_f64();
    after.saturating_sub(before) as f64 / 1e9 / elapsed * 100.0
}

/// Starts recorded by a service's run (`echo $$ $(date +%s%N) >> starts`), in ns.
fn starts(path: &Path) -> Vec<u64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
        .collect()
}

/// Runs `body` under vigil's supervise with the given limit files until `restarts` restarts;
/// for each, the time from one start to the next, minus `window`.
fn delays(
    base: &Path,
    name: &str,
    body: &str,
    files: &[(&str, &str)],
    window: Duration,
    restarts: usize,
) -> Vec<Duration> {
    let dir = base.join(name);
    let log = base.join(format!("{name}.starts"));
    script(
        &dir.join("run"),
        &format!("echo $$ $(date +%s%N) >> {}\n{body}", log.display()),
    );
    for (file, value) in files {
        fs::write(dir.join(file), value).expect("write");
    }
    let _sup = Supervise::start(Path::new(env!("CARGO_BIN_EXE_supervise")), &dir);
    let limit = Instant::now() + (window + Duration::from_secs(6)) * (restarts as u32 + 1);
    while starts(&log).len() <= restarts && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
    starts(&log)
        .windows(2)
        .map(|w| Duration::from_nanos(w[1].saturating_sub(w[0])).saturating_sub(window))
        .collect()
}

fn summary(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no restart seen".into();
    }
    v.sort();
    format!(
        "{:.2} s | {:.2} s | {:.2} s | {}",
        v[0].as_secs_f64(),
        v[v.len() / 2].as_secs_f64(),
        v[v.len() - 1].as_secs_f64(),
        v.len()
    )
}

fn main() {
    let base = tempfile::Builder::new()
        .prefix("bench-limits")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tmp");
    let date = util::date_utc();
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_supervise"));

    println!(
        "CPU of {SERVICES} supervise processes over {} s idle, % of one core ({date}; {}):\n",
        QUIET.as_secs(),
        util::machine()
    );
    let with = monitoring_cost(base.path(), "with", &ours, true);
    let without = monitoring_cost(base.path(), "without", &ours, false);
    let peer = Path::new("/usr/bin/supervise");
    let daemontools = peer
        .exists()
        .then(|| monitoring_cost(base.path(), "daemontools", peer, false));
    println!("| supervise | limits | CPU, % of one core | per service |");
    println!("|---|---|---|---|");
    let row = |name: &str, limits: &str, pct: f64| {
        println!(
            "| {name} | {limits} | {pct:.3} % | {:.1} µs/s |",
            pct / 100.0 * 1e6 / SERVICES as f64
        );
    };
    row(
        "vigil",
        "max-memory, max-cpu, max-threads; default interval (2 s)",
        with,
    );
    row("vigil", "none", without);
    match daemontools {
        Some(pct) => row("daemontools 0.76", "none (it has none)", pct),
        None => println!("| daemontools 0.76 | skipped: /usr/bin/supervise missing | | |"),
    }

    println!("\nDetection delay at the default interval (2 s), vigil (no peer has these rules):\n");
    println!("| rule | min | median | max | restarts |");
    println!("|---|---|---|---|---|");
    let cpu = delays(
        base.path(),
        "spin",
        "exec sh -c 'while :; do :; done'",
        &[("max-cpu", "50 5\n")],
        Duration::from_secs(5),
        4,
    );
    println!(
        "| `max-cpu 50 5`: window end to next start | {} |",
        summary(cpu)
    );
    let memory = delays(
        base.path(),
        "hog",
        "cat /dev/zero | tail -c 60M",
        &[("max-memory", "24M\n")],
        Duration::ZERO,
        6,
    );
    println!(
        "| `max-memory 24M`: hog's start to next start | {} |",
        summary(memory)
    );
}
