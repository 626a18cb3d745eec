//! svscan side by side with daemontools' svscan, runit's runsvdir and s6's s6-svscan, each with
//! its own supervisor (supervise, runsv, s6-supervise), in one run, on service directories on
//! the disk file system (not tmpfs):
//! - pick-up latency: a service renamed into a running scan directory, until its `run` runs;
//! - time to bring 500 services up, from the scanner's start until every `run` has run;
//! - memory (PSS) of the scanner and its supervisors, per service, with 500 services;
//! - idle wake-ups of the scanner and of all supervisors over 10 s with 500 services up.
//!
//! Prints a Markdown table with the date and machine; copy it into docs/bench.md.
//!
//! `VIGIL_BENCH_SVSCAN_LARGE=5000 cargo bench --bench svscan`: vigil's svscan alone with that
//! many services (daemontools' svscan refuses past 1,000): time until every `run` ran, idle
//! wake-ups of svscan and of all supervise processes, one `svstat` of every service, private
//! memory per supervise, and the time from SIGTERM until svscan exited (issue 15).

mod util;
use util::machine;

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

const SERVICES: usize = 500;
const IDLE: Duration = Duration::from_secs(10);

struct Suite {
    name: &'static str,
    scanner: PathBuf,
    args: &'static [&'static str],
    /// The supervisor's process name, to find the tree under the scanner.
    supervisor: &'static str,
    /// Pick-up trials (a peer that scans every 5 s takes seconds per trial).
    trials: usize,
    /// Random wait before each trial, up to this many ms.
    phase_ms: u64,
}

fn suites() -> Vec<Suite> {
    let mut all = vec![Suite {
        name: "vigil svscan",
        scanner: PathBuf::from(env!("CARGO_BIN_EXE_svscan")),
        args: &[],
        supervisor: "supervise",
        trials: 30,
        phase_ms: 200,
    }];
    let peers = [
        (
            "daemontools svscan",
            "/usr/bin/svscan",
            &[][..],
            "supervise",
        ),
        ("runit runsvdir", "/usr/bin/runsvdir", &[][..], "runsv"),
        // -t5000: rescan every 5 s as daemontools does (s6-svscan never rescans by default).
        (
            "s6-svscan -t5000",
            "/usr/bin/s6-svscan",
            &["-t5000"][..],
            "s6-supervise",
        ),
    ];
    for (name, path, args, supervisor) in peers {
        if Path::new(path).exists() {
            all.push(Suite {
                name,
                scanner: PathBuf::from(path),
                args,
                supervisor,
                trials: 6,
                phase_ms: 5000,
            });
        } else {
            eprintln!("skipped: {path} is not installed");
        }
    }
    all
}

/// A FIFO every service's `run` writes one byte to when it runs; held open read-write here so
/// writers never block and the bench reads at its pace.
struct Beacon {
    path: PathBuf,
    file: File,
}

impl Beacon {
    fn new(path: PathBuf) -> Beacon {
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open fifo");
        Beacon { path, file }
    }

    /// Waits for `n` bytes; false on timeout.
    fn wait(&mut self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut got = 0;
        let mut buf = [0u8; 512];
        while got < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32 + 1)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
            if nix::poll::poll(&mut fds, ms).unwrap_or(0) == 0 {
                continue;
            }
            let want = (n - got).min(buf.len());
            got += self.file.read(&mut buf[..want]).unwrap_or(0);
        }
        true
    }
}

fn service(dir: &Path, beacon: &Path) {
    fs::create_dir_all(dir).expect("mkdir");
    let run = dir.join("run");
    fs::write(
        &run,
        format!(
            "#!/bin/sh\nprintf x > {}\nexec sleep 100000\n",
            beacon.display()
        ),
    )
    .expect("run");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A scanner as a boot script would start it: without the LD_LIBRARY_PATH cargo sets for
/// benches, which every supervisor would inherit (and ld.so, or a static glibc, parse).
fn start(suite: &Suite, scan: &Path) -> Child {
    Command::new(&suite.scanner)
        .args(suite.args)
        .arg(scan)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start scanner")
}

/// Kills the scanner's process group and every process working below `base`, by pid.
fn stop(mut child: Child, base: &Path) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
    for _ in 0..3 {
        for pid in processes_under(base) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn processes_under(dir: &Path) -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|pid| {
                    fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(dir))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn status_field(pid: i32, file: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Median pick-up latency in ms over the suite's trials.
fn pick_up(suite: &Suite, base: &Path) -> f64 {
    let scan = base.join("scan");
    let stage = base.join("stage");
    fs::create_dir_all(&scan).expect("scan");
    fs::create_dir_all(&stage).expect("stage");
    let mut beacon = Beacon::new(base.join("beacon"));
    let child = start(suite, &scan);
    std::thread::sleep(Duration::from_millis(500));
    let mut times = Vec::new();
    let mut phase: u64 = 12345;
    for i in 0..suite.trials {
        let dir = stage.join(format!("p{i}"));
        service(&dir, &beacon.path);
        // A random phase against the peers' 5 s periodic scans at each trial (right after a
        // pick-up, the next scan is a whole period away).
        phase = phase
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis((phase >> 33) % suite.phase_ms));
        let t0 = Instant::now();
        fs::rename(&dir, scan.join(format!("p{i}"))).expect("rename");
        if !beacon.wait(1, Duration::from_secs(15)) {
            eprintln!("{}: trial {i} not picked up in 15 s", suite.name);
            continue;
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    stop(child, base);
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

struct Tree {
    up_s: f64,
    scanner_pss_kb: u64,
    pss_kb_per_service: f64,
    scanner_wakeups: u64,
    supervisor_wakeups: u64,
}

fn tree(suite: &Suite, base: &Path) -> Tree {
    let scan = base.join("scan");
    fs::create_dir_all(&scan).expect("scan");
    let mut beacon = Beacon::new(base.join("beacon"));
    for i in 0..SERVICES {
        service(&scan.join(format!("s{i:03}")), &beacon.path);
    }
    let t0 = Instant::now();
    let child = start(suite, &scan);
    let all = beacon.wait(SERVICES, Duration::from_secs(120));
    let up_s = t0.elapsed().as_secs_f64();
    if !all {
        eprintln!("{}: not all {SERVICES} services up in 120 s", suite.name);
    }
    std::thread::sleep(Duration::from_secs(2));
    let scanner = child.id() as i32;
    let sups: Vec<i32> = children(scanner)
        .into_iter()
        .filter(|&p| comm(p) == suite.supervisor)
        .collect();
    if sups.len() != SERVICES {
        eprintln!("{}: {} supervisors running", suite.name, sups.len());
    }
    let tree: Vec<i32> = std::iter::once(scanner)
        .chain(sups.iter().copied())
        .collect();
    let pss: u64 = tree
        .iter()
        .filter_map(|&p| status_field(p, "smaps_rollup", "Pss"))
        .sum();
    let scanner_pss_kb = status_field(scanner, "smaps_rollup", "Pss").unwrap_or(0);
    let wake = |p: i32| status_field(p, "status", "voluntary_ctxt_switches").unwrap_or(0);
    let scan_before = wake(scanner);
    let sups_before: u64 = sups.iter().map(|&p| wake(p)).sum();
    std::thread::sleep(IDLE);
    let scanner_wakeups = wake(scanner) - scan_before;
    let supervisor_wakeups = sups.iter().map(|&p| wake(p)).sum::<u64>() - sups_before;
    stop(child, base);
    Tree {
        up_s,
        scanner_pss_kb,
        pss_kb_per_service: pss as f64 / SERVICES as f64,
        scanner_wakeups,
        supervisor_wakeups,
    }
}

/// How long the large tree is watched idle: three of the 5 s rescans svscan used to do.
const LARGE_IDLE: Duration = Duration::from_secs(15);

/// `VIGIL_BENCH_SVSCAN_LARGE=N`: vigil's svscan with `n` services, one table.
fn large(n: usize, root: &Path) {
    let scan = root.join("scan");
    fs::create_dir_all(&scan).expect("scan");
    let mut beacon = Beacon::new(root.join("beacon"));
    let names: Vec<PathBuf> = (0..n).map(|i| scan.join(format!("s{i:05}"))).collect();
    for dir in &names {
        service(dir, &beacon.path);
    }
    let suite = &suites()[0];
    let t0 = Instant::now();
    let mut child = start(suite, &scan);
    let all = beacon.wait(n, Duration::from_secs(300));
    let up_s = t0.elapsed().as_secs_f64();
    if !all {
        eprintln!("not all {n} services up in 300 s");
    }
    std::thread::sleep(Duration::from_secs(3));
    let scanner = child.id() as i32;
    let sups: Vec<i32> = children(scanner)
        .into_iter()
        .filter(|&p| comm(p) == "supervise")
        .collect();
    let wake = |p: i32| status_field(p, "status", "voluntary_ctxt_switches").unwrap_or(0);
    let scan_before = wake(scanner);
    let sups_before: u64 = sups.iter().map(|&p| wake(p)).sum();
    std::thread::sleep(LARGE_IDLE);
    let scanner_wakeups = wake(scanner) - scan_before;
    let supervisor_wakeups = sups.iter().map(|&p| wake(p)).sum::<u64>() - sups_before;
    let private: f64 = sups
        .iter()
        .map(|&p| util::pss_and_private_kb(p as u32).1)
        .sum::<f64>()
        / sups.len().max(1) as f64;
    let svstat = PathBuf::from(env!("CARGO_BIN_EXE_svstat"));
    let mut svstat_times = Vec::new();
    let mut lines_up = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(&svstat)
            .args(&names)
            .stderr(Stdio::null())
            .output()
            .expect("svstat");
        svstat_times.push(t.elapsed());
        lines_up = out
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| l.windows(7).any(|w| w == b": up (p"))
            .count();
    }
    let svstat_ms = util::median(svstat_times).as_secs_f64() * 1000.0;
    let t = Instant::now();
    let _ = kill(Pid::from_raw(scanner), Signal::SIGTERM);
    let _ = child.wait();
    let down_s = t.elapsed().as_secs_f64();
    let left = processes_under(root).len();
    stop(child, root);
    println!(
        "vigil svscan, {n} services ({}; {}; load average {}):\n",
        util::date_utc(),
        machine(),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?")
    );
    println!("| services | all up | supervise running | svscan wake-ups / {}s idle | supervise wake-ups / {}s idle (all) | svstat of all (median of 5) | up in svstat | private memory per supervise | SIGTERM to svscan exited | processes left |", LARGE_IDLE.as_secs(), LARGE_IDLE.as_secs());
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {up_s:.2} s | {} | {scanner_wakeups} | {supervisor_wakeups} | {svstat_ms:.0} ms | {lines_up} | {private:.0} KB | {down_s:.2} s | {left} |",
        sups.len()
    );
}

fn main() {
    if let Some(n) = std::env::var("VIGIL_BENCH_SVSCAN_LARGE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-svscan-large");
        let _ = fs::remove_dir_all(&root);
        large(n, &root);
        let _ = fs::remove_dir_all(&root);
        return;
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-svscan");
    let _ = fs::remove_dir_all(&root);
    let mut rows = Vec::new();
    for suite in suites() {
        eprintln!("{}: pick-up...", suite.name);
        let base = root.join(suite.name.replace(' ', "-")).join("pickup");
        let pick = pick_up(&suite, &base);
        eprintln!("{}: {SERVICES} services...", suite.name);
        let base = root.join(suite.name.replace(' ', "-")).join("tree");
        let t = tree(&suite, &base);
        rows.push((suite.name, pick, t));
    }
    let _ = fs::remove_dir_all(&root);
    let date = util::date_utc();
    println!("svscan and peers ({date}; {}):\n", machine());
    println!("| scanner | pick-up median | ratio | {SERVICES} services up | ratio | scanner PSS | PSS per service (scanner + supervisors) | ratio | scanner wake-ups / {}s idle | supervisor wake-ups / {}s idle (all {SERVICES}) |", IDLE.as_secs(), IDLE.as_secs());
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let (_, base_pick, base) = &rows[0];
    let (base_pick, base_up, base_pss) = (*base_pick, base.up_s, base.pss_kb_per_service);
    for (name, pick, t) in &rows {
        println!(
            "| {name} | {pick:.1} ms | {:.1} | {:.2} s | {:.2} | {} KB | {:.0} KB | {:.2} | {} | {} |",
            pick / base_pick,
            t.up_s,
            t.up_s / base_up,
            t.scanner_pss_kb,
            t.pss_kb_per_service,
            t.pss_kb_per_service / base_pss,
            t.scanner_wakeups,
            t.supervisor_wakeups,
        );
    }
}
