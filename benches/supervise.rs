//! supervise against daemontools' supervise, runit's runsv and s6's s6-supervise, in one run:
//! restart gap (exit of run to exec of the next) against a bare spawn/wait loop, `t` control to
//! signal delivered, wake-ups while idle, and memory per supervise (20 services each).
//! Prints a Markdown table; copy it into docs/bench.md.
//!
//! `cargo bench --bench supervise`. Service directories live under target/ (a disk file system,
//! not tmpfs). The `run` of each service is this very binary (a symlink): started as `./run` it
//! records CLOCK_MONOTONIC at start and at exit in `times`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::time::{clock_gettime, ClockId};

/// How long each run stays up: above every supervisor's 1 s "quick exit" threshold, so all of
/// them restart at once rather than throttle.
const HOLD: Duration = Duration::from_millis(1100);
const RESTARTS: usize = 10;
const SIGNALS: usize = 20;
const IDLE: Duration = Duration::from_secs(10);
const FLEET: usize = 20;

fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("clock");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

fn append(path: &str, line: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("times");
    f.write_all(line.as_bytes()).expect("write");
}

/// Started as a service's `./run`: `mode` file says what to do.
fn child() -> ! {
    let start = now_ns();
    let mode = fs::read_to_string("mode").unwrap_or_default();
    match mode.trim() {
        "signal" => {
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            set.thread_block().expect("block");
            append("ready", "ready\n");
            loop {
                if set.wait().is_ok() {
                    append("times", &format!("{}\n", now_ns()));
                }
            }
        }
        "hold" => {
            std::thread::sleep(HOLD);
            append("times", &format!("{start} {}\n", now_ns()));
        }
        "sleep" => std::thread::sleep(Duration::from_secs(3600)),
        _ => append("times", &format!("{start} {}\n", now_ns())),
    }
    std::process::exit(0)
}

struct Peer {
    name: &'static str,
    program: PathBuf,
}

fn peers() -> Vec<Peer> {
    let mut all = vec![Peer {
        name: "vigil",
        program: PathBuf::from(env!("CARGO_BIN_EXE_supervise")),
    }];
    for (name, path) in [
        ("daemontools", "/usr/bin/supervise"),
        ("runit", "/usr/bin/runsv"),
        ("s6", "/usr/bin/s6-supervise"),
    ] {
        if Path::new(path).exists() {
            all.push(Peer {
                name,
                program: PathBuf::from(path),
            });
        } else {
            eprintln!("skipped {name}: {path} is not installed");
        }
    }
    all
}

fn service(base: &Path, name: &str, mode: &str) -> PathBuf {
    let dir = base.join(name);
    fs::create_dir_all(&dir).expect("mkdir");
    symlink(std::env::current_exe().expect("exe"), dir.join("run")).expect("symlink");
    fs::write(dir.join("mode"), mode).expect("mode");
    dir
}

fn start(peer: &Peer, dir: &Path) -> Child {
    Command::new(&peer.program)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn supervisor")
}

/// `d`, `k`, `x` through the FIFO; KILL if it has not exited after a few seconds.
fn stop(mut sup: Child, dir: &Path) {
    let _ = vigil_proto::control::send(dir.as_os_str(), b"dkx");
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

fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn lines(path: &Path) -> Vec<Vec<u64>> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').filter_map(|w| w.parse().ok()).collect())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Gaps (µs) between one run's exit and the next one's start.
fn gaps(times: &[Vec<u64>]) -> Vec<f64> {
    times
        .windows(2)
        .filter(|w| w[0].len() == 2 && !w[1].is_empty())
        .map(|w| (w[1][0] as f64 - w[0][1] as f64) / 1000.0)
        .collect()
}

/// The floor: spawn `run`, wait, spawn again, in this process, with the same hold as under
/// a supervisor (so it pays the same wake-up from idle).
fn floor(dir: &Path) -> Vec<f64> {
    for _ in 0..=RESTARTS {
        Command::new(dir.join("run"))
            .current_dir(dir)
            .status()
            .expect("run");
    }
    gaps(&lines(&dir.join("times")))
}

/// The peer's restart gaps (µs) and, measured in the same seconds (a thread, half a hold out
/// of step) so both see the same machine load, the floor's.
fn restart_gap(peer: &Peer, base: &Path) -> (Vec<f64>, Vec<f64>) {
    let dir = service(base, &format!("gap-{}", peer.name), "hold");
    let floor_dir = service(base, &format!("floor-{}", peer.name), "hold");
    let sup = start(peer, &dir);
    std::thread::sleep(HOLD / 2);
    let floor = std::thread::spawn(move || floor(&floor_dir));
    wait_for(HOLD * (RESTARTS as u32 + 4), || {
        lines(&dir.join("times")).len() > RESTARTS
    });
    stop(sup, &dir);
    let floor_gaps = floor.join().expect("floor thread");
    (gaps(&lines(&dir.join("times"))), floor_gaps)
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn signal_latency(peer: &Peer, base: &Path) -> f64 {
    let dir = service(base, &format!("sig-{}", peer.name), "signal");
    let sup = start(peer, &dir);
    wait_for(Duration::from_secs(5), || dir.join("ready").exists());
    // daemontools ignores control for a second after each start
    std::thread::sleep(Duration::from_millis(1200));
    let mut latencies = Vec::new();
    for i in 0..SIGNALS {
        let sent = now_ns();
        if vigil_proto::control::send(dir.as_os_str(), b"t").is_err() {
            break;
        }
        if !wait_for(Duration::from_secs(3), || {
            lines(&dir.join("times")).len() > i
        }) {
            break;
        }
        let got = lines(&dir.join("times"))[i][0];
        latencies.push((got as f64 - sent as f64) / 1000.0);
    }
    stop(sup, &dir);
    median(latencies)
}

fn switches(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Per peer: (wake-ups of one idle supervisor over IDLE, PSS KB, private KB) with FLEET services.
fn fleet(peers: &[Peer], base: &Path) -> Vec<(u64, f64, f64)> {
    let mut running = Vec::new();
    for peer in peers {
        let mut sups = Vec::new();
        for i in 0..FLEET {
            let dir = service(base, &format!("fleet-{}-{i}", peer.name), "sleep");
            sups.push((start(peer, &dir), dir));
        }
        running.push(sups);
    }
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<u64> = running.iter().map(|s| switches(s[0].0.id())).collect();
    std::thread::sleep(IDLE);
    let mut out = Vec::new();
    for (sups, before) in running.iter().zip(before) {
        let wakeups = switches(sups[0].0.id()) - before;
        let (mut pss, mut private) = (0.0, 0.0);
        for (child, _) in sups {
            let rollup = fs::read_to_string(format!("/proc/{}/smaps_rollup", child.id()))
                .unwrap_or_default();
            for l in rollup.lines() {
                let kb = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                if l.starts_with("Pss:") {
                    pss += kb;
                } else if l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:") {
                    private += kb;
                }
            }
        }
        out.push((wakeups, pss / FLEET as f64, private / FLEET as f64));
    }
    for sups in running {
        for (child, dir) in sups {
            stop(child, &dir);
        }
    }
    out
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    if argv0.ends_with("run") {
        child();
    }
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-supervise-{}", std::process::id()));
    fs::create_dir_all(&base).expect("bench dir");
    let peers = peers();
    let mut gap = Vec::new();
    let mut sig = Vec::new();
    for peer in &peers {
        eprintln!("{}: restart gap, signal latency...", peer.name);
        gap.push(restart_gap(peer, &base));
        if std::env::var_os("VIGIL_BENCH_GAP_ONLY").is_none() {
            sig.push(signal_latency(peer, &base));
        }
    }
    if std::env::var_os("VIGIL_BENCH_GAP_ONLY").is_some() {
        for (peer, (g, f)) in peers.iter().zip(&gap) {
            let (mut g, mut f) = (g.clone(), f.clone());
            g.sort_by(|a, b| a.total_cmp(b));
            f.sort_by(|a, b| a.total_cmp(b));
            println!("{}:\n  gaps {g:.0?}\n  floor {f:.0?}", peer.name);
        }
        return;
    }
    eprintln!(
        "fleet of {FLEET} per supervisor, idle {}s...",
        IDLE.as_secs()
    );
    let fleet = fleet(&peers, &base);
    let _ = fs::remove_dir_all(&base);

    let machine = format!(
        "{}, {} cores, Linux {}",
        fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name\t: "))
            .unwrap_or("unknown cpu"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "supervise, {date}, {machine}; service dirs on {}\n",
        base.display()
    );
    let mut header = String::from("| metric |");
    let mut rule = String::from("|---|");
    for p in &peers {
        header.push_str(&format!(" {} |", p.name));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    let row = |name: &str, values: Vec<String>| println!("| {name} | {} |", values.join(" | "));
    row(
        "restart gap, µs (median)",
        gap.iter()
            .map(|(g, _)| format!("{:.0}", median(g.clone())))
            .collect(),
    );
    row(
        "floor: bare spawn/wait loop at the same time, µs (median)",
        gap.iter()
            .map(|(_, f)| format!("{:.0}", median(f.clone())))
            .collect(),
    );
    row(
        "**restart gap / floor** (medians)",
        gap.iter()
            .map(|(g, f)| format!("**{:.2}x**", median(g.clone()) / median(f.clone())))
            .collect(),
    );
    row(
        "restart gap / floor (minimums)",
        gap.iter()
            .map(|(g, f)| format!("{:.2}x", min(g) / min(f)))
            .collect(),
    );
    row(
        "`t` to signal delivered, µs (median)",
        sig.iter().map(|s| format!("{s:.0}")).collect(),
    );
    row(
        &format!("wake-ups of an idle supervisor in {} s", IDLE.as_secs()),
        fleet.iter().map(|f| f.0.to_string()).collect(),
    );
    row(
        &format!("PSS per supervisor, KB ({FLEET} services)"),
        fleet.iter().map(|f| format!("{:.0}", f.1)).collect(),
    );
    row(
        "private per supervisor, KB",
        fleet.iter().map(|f| format!("{:.0}", f.2)).collect(),
    );
}
