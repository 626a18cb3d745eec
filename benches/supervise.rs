//! supervise against daemontools' supervise, runit's runsv and s6's s6-supervise, in one run:
//! restart gap (exit of run to exec of the next) against a bare spawn/wait loop, `t` control to
//! signal delivered, wake-ups while idle, and memory per supervise (20 services each).
//! Prints a Markdown table; copy it into docs/bench.md.
//!
//! `cargo bench --bench supervise`; `VIGIL_BENCH_MEMORY_ONLY=1 cargo bench --bench supervise`
//! measures memory alone (PSS and private from /proc/PID/smaps, summed per kind of mapping). Service directories live under target/ (a disk file system,
//! not tmpfs). The `run` of each service is this very binary (a symlink): started as `./run` it
//! records CLOCK_MONOTONIC at start and at exit in `times`.

mod util;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

/// How long each run stays up: above every supervisor's 1 s "quick exit" threshold, so all of
/// them restart at once rather than throttle.
const HOLD: Duration = Duration::from_millis(1100);
const RESTARTS: usize = 10;
const SIGNALS: usize = 20;
const IDLE: Duration = Duration::from_secs(10);
const FLEET: usize = 20;

fn now_ns() -> u64 {
    util::now_ns()
}

fn append(path: &str, line: &str) {
    util::append(path, line)
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

/// A supervisor as svscan would start it: without the LD_LIBRARY_PATH cargo sets for benches
/// (ld.so, and vigil's static glibc, would parse it at every start).
fn start(peer: &Peer, dir: &Path) -> Child {
    Command::new(&peer.program)
        .arg(dir)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn supervisor")
}

fn stop(sup: Child, dir: &Path) {
    util::stop_supervisor(sup, dir)
}

fn wait_for(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    util::wait_for(limit, Duration::from_millis(5), cond)
}

fn lines(path: &Path) -> Vec<Vec<u64>> {
    util::number_lines(path)
}

fn median(v: Vec<f64>) -> f64 {
    util::median_f64(v)
}

fn gaps(times: &[Vec<u64>]) -> Vec<f64> {
    util::restart_gaps(times)
}

fn floor(dir: &Path) -> Vec<f64> {
    util::spawn_wait_floor(dir, RESTARTS)
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
        if vigil_client::Service::at(&dir).map_or(true, |s| s.try_send(b"t").is_err()) {
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

/// Where a supervisor's memory is, per kind of mapping, from /proc/PID/smaps.
const MAPPINGS: [&str; 8] = [
    "binary: code (r-x)",
    "binary: read-only data, relocated data (r--)",
    "binary: data (rw-)",
    "[heap]",
    "[stack]",
    "other (anonymous: bss, TLS, libc's bss; other libraries)",
    "libc.so.6 (all)",
    "ld.so (all)",
];

/// One process's memory: per [`MAPPINGS`] entry, (PSS, private) in KB.
type Usage = [(f64, f64); MAPPINGS.len()];

/// The [`MAPPINGS`] index of an smaps header line (`ADDR PERMS OFFSET DEV INODE [PATH]`).
fn mapping_kind(header: &str, program: &Path) -> usize {
    let fields: Vec<&str> = header.split_whitespace().collect();
    let perms = fields.get(1).copied().unwrap_or("");
    let path = fields.get(5).copied().unwrap_or("");
    if Path::new(path) == program {
        match perms {
            p if p.contains('x') => 0,
            p if p.contains('w') => 2,
            _ => 1,
        }
    } else if path == "[heap]" {
        3
    } else if path == "[stack]" {
        4
    } else if path.contains("libc.so") {
        6
    } else if path.contains("ld-linux") {
        7
    } else {
        5
    }
}

fn usage(pid: u32, program: &Path) -> Usage {
    let mut out = [(0.0, 0.0); MAPPINGS.len()];
    let mut kind = 5;
    let smaps = fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    for l in smaps.lines() {
        let mut words = l.split_whitespace();
        let first = words.next().unwrap_or("");
        if !first.ends_with(':') {
            kind = mapping_kind(l, program);
            continue;
        }
        let kb = words
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        match first {
            "Pss:" => out[kind].0 += kb,
            "Private_Clean:" | "Private_Dirty:" => out[kind].1 += kb,
            _ => {}
        }
    }
    out
}

/// Per peer: wake-ups of one idle supervisor over IDLE, and its mean memory per mapping kind
/// with FLEET services.
fn fleet(peers: &[Peer], base: &Path, idle: Duration) -> Vec<(u64, Usage)> {
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
    std::thread::sleep(idle);
    let mut out = Vec::new();
    for ((sups, before), peer) in running.iter().zip(before).zip(peers) {
        let wakeups = switches(sups[0].0.id()) - before;
        let program = fs::canonicalize(&peer.program).unwrap_or_else(|_| peer.program.clone());
        let mut mean = [(0.0, 0.0); MAPPINGS.len()];
        for (child, _) in sups {
            for (sum, (pss, private)) in mean.iter_mut().zip(usage(child.id(), &program)) {
                sum.0 += pss / FLEET as f64;
                sum.1 += private / FLEET as f64;
            }
        }
        out.push((wakeups, mean));
    }
    for sups in running {
        for (child, dir) in sups {
            stop(child, &dir);
        }
    }
    out
}

fn total(usage: &Usage) -> (f64, f64) {
    usage
        .iter()
        .fold((0.0, 0.0), |(p, q), (pss, private)| (p + pss, q + private))
}

/// The machine and the time, for the tables' captions.
fn caption() -> String {
    let machine = util::machine();
    let date = util::date_utc();
    format!("{date}, {machine}")
}

fn header(peers: &[Peer], first: &str) {
    let mut header = format!("| {first} |");
    let mut rule = String::from("|---|");
    for p in peers {
        header.push_str(&format!(" {} |", p.name));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
}

fn row(name: &str, values: Vec<String>) {
    println!("| {name} | {} |", values.join(" | "));
}

/// `VIGIL_BENCH_MEMORY_ONLY=1`: memory per supervisor (and where it is), nothing else.
fn memory_only(peers: &[Peer], base: &Path) {
    eprintln!("fleet of {FLEET} per supervisor...");
    let fleet = fleet(peers, base, Duration::from_secs(1));
    println!(
        "supervise memory, {}; {FLEET} services per supervisor, each `run` sleeping; service dirs on {}\n",
        caption(),
        base.display()
    );
    header(peers, "per supervisor, KB");
    row(
        "**PSS**",
        fleet
            .iter()
            .map(|(_, u)| format!("**{:.1}**", total(u).0))
            .collect(),
    );
    row(
        "**private**",
        fleet
            .iter()
            .map(|(_, u)| format!("**{:.1}**", total(u).1))
            .collect(),
    );
    row(
        "PSS / daemontools' PSS",
        fleet
            .iter()
            .map(|(_, u)| {
                let theirs = peers
                    .iter()
                    .position(|p| p.name == "daemontools")
                    .map_or(f64::NAN, |i| total(&fleet[i].1).0);
                format!("{:.2}", total(u).0 / theirs)
            })
            .collect(),
    );
    println!();
    header(peers, "mapping: PSS / private, KB");
    for (i, name) in MAPPINGS.iter().enumerate() {
        row(
            name,
            fleet
                .iter()
                .map(|(_, u)| format!("{:.1} / {:.1}", u[i].0, u[i].1))
                .collect(),
        );
    }
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
    if std::env::var_os("VIGIL_BENCH_MEMORY_ONLY").is_some() {
        memory_only(&peers, &base);
        let _ = fs::remove_dir_all(&base);
        return;
    }
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
    let fleet = fleet(&peers, &base, IDLE);
    let _ = fs::remove_dir_all(&base);

    println!(
        "supervise, {}; service dirs on {}\n",
        caption(),
        base.display()
    );
    header(&peers, "metric");
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
        fleet
            .iter()
            .map(|f| format!("{:.0}", total(&f.1).0))
            .collect(),
    );
    row(
        "private per supervisor, KB",
        fleet
            .iter()
            .map(|f| format!("{:.0}", total(&f.1).1))
            .collect(),
    );
}
