//! supervise on its cgroup path and on its process-group path (`no-cgroup`), beside
//! daemontools' supervise, runit's runsv and s6's s6-supervise (issue 14):
//!
//! - restart gap without leftovers: a `run` that holds 1.1 s and exits; exit to next start,
//!   median of the restarts, against a bare spawn/wait loop run at the same time (the floor);
//! - restart gap with leftovers: the same `run` forks a child that stays (30 s) before it
//!   exits; the gap, and how often that child was still alive when the next `run` started;
//! - `d` to down with 100 descendants: a `run` that forks 100 children and waits; time from `d`
//!   written to the supervisor's status saying down, and how many descendants are left then;
//! - idle wake-ups of 200 supervise on the cgroup path over 10 s, and cgroups left after they
//!   exit.
//!
//! `cargo bench --bench cgroup` (as root, on a machine with a writable cgroup2 hierarchy);
//! prints a Markdown table for docs/bench.md. Service directories live under target/.

mod util;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, ForkResult, Pid};

const HOLD: Duration = Duration::from_millis(1100);
const RESTARTS: usize = 8;
const DESCENDANTS: usize = 100;
const STOPS: usize = 5;
const IDLE_FLEET: usize = 200;
/// How often the bench looks at a file it waits for.
const POLL: Duration = Duration::from_micros(500);

fn now_ns() -> u64 {
    util::now_ns()
}

fn append(path: &str, line: &str) {
    util::append(path, line)
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
}

/// A child that sleeps `secs` and exits (the default TERM kills it).
fn leave_child(secs: u64) -> i32 {
    // SAFETY (of the fork): this process is the single-threaded `run`; the child only sleeps
    // and exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            std::thread::sleep(Duration::from_secs(secs));
            std::process::exit(0)
        }
        ForkResult::Parent { child } => child.as_raw(),
    }
}

/// Started as a service's `./run`: the `mode` file says what to do.
fn child() -> ! {
    let start = now_ns();
    let mode = fs::read_to_string("mode").unwrap_or_default();
    match mode.trim() {
        "hold" => {
            std::thread::sleep(HOLD);
            append("times", &format!("{start} {}\n", now_ns()));
        }
        "leftover" => {
            // Was the previous run's leftover still there when this one started?
            if let Some(pid) = fs::read_to_string("leftover")
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            {
                append("alive", if alive(pid) { "1\n" } else { "0\n" });
            }
            std::thread::sleep(HOLD);
            let pid = leave_child(30);
            fs::write("leftover", pid.to_string()).expect("leftover");
            append("times", &format!("{start} {}\n", now_ns()));
        }
        "tree" => {
            let pids: Vec<String> = (0..DESCENDANTS)
                .map(|_| leave_child(3600).to_string())
                .collect();
            fs::write("tree.new", pids.join("\n")).expect("tree");
            fs::rename("tree.new", "tree").expect("tree");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        _ => std::thread::sleep(Duration::from_secs(3600)),
    }
    std::process::exit(0)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    VigilCgroup,
    VigilGroup,
    Daemontools,
    Runit,
    S6,
}

struct Peer {
    name: &'static str,
    kind: Kind,
    program: PathBuf,
}

fn peers() -> Vec<Peer> {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_supervise"));
    let mut all = vec![
        Peer {
            name: "vigil, cgroup",
            kind: Kind::VigilCgroup,
            program: ours.clone(),
        },
        Peer {
            name: "vigil, process group",
            kind: Kind::VigilGroup,
            program: ours,
        },
    ];
    for (name, kind, path) in [
        ("daemontools", Kind::Daemontools, "/usr/bin/supervise"),
        ("runit", Kind::Runit, "/usr/bin/runsv"),
        ("s6", Kind::S6, "/usr/bin/s6-supervise"),
    ] {
        if Path::new(path).exists() {
            all.push(Peer {
                name,
                kind,
                program: PathBuf::from(path),
            });
        } else {
            eprintln!("skipped {name}: {path} is not installed");
        }
    }
    all
}

fn service(base: &Path, name: &str, mode: &str, peer: &Peer) -> PathBuf {
    let dir = base.join(name);
    fs::create_dir_all(&dir).expect("mkdir");
    symlink(std::env::current_exe().expect("exe"), dir.join("run")).expect("symlink");
    fs::write(dir.join("mode"), mode).expect("mode");
    if peer.kind == Kind::VigilGroup {
        fs::write(dir.join("no-cgroup"), "").expect("no-cgroup");
    }
    dir
}

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

fn send(dir: &Path, bytes: &[u8]) -> bool {
    vigil_client::Service::at(dir).is_ok_and(|s| s.try_send(bytes).is_ok())
}

/// Restart gaps (µs) for `mode`, the floor's measured at the same time, and for `leftover`
/// the share of starts that found the previous leftover alive.
fn restart_gap(peer: &Peer, base: &Path, mode: &str) -> (Vec<f64>, Vec<f64>, f64) {
    let tag = format!("{mode}-{}", peer.name.replace([' ', ','], ""));
    let dir = service(base, &format!("gap-{tag}"), mode, peer);
    let floor_peer = Peer {
        name: "floor",
        kind: Kind::Daemontools,
        program: PathBuf::new(),
    };
    let floor_dir = service(base, &format!("floor-{tag}"), "hold", &floor_peer);
    let sup = start(peer, &dir);
    std::thread::sleep(HOLD / 2);
    let floor = std::thread::spawn(move || util::spawn_wait_floor(&floor_dir, RESTARTS));
    util::wait_for(HOLD * (RESTARTS as u32 + 6), POLL, || {
        util::number_lines(&dir.join("times")).len() > RESTARTS
    });
    util::stop_supervisor(sup, &dir);
    let floor_gaps = floor.join().expect("floor thread");
    let alive = util::number_lines(&dir.join("alive"));
    let share =
        alive.iter().filter(|l| l.first() == Some(&1)).count() as f64 / alive.len().max(1) as f64;
    (
        util::restart_gaps(&util::number_lines(&dir.join("times"))),
        floor_gaps,
        share,
    )
}

/// Whether the supervisor's status says the service is down.
fn is_down(peer: &Peer, dir: &Path) -> bool {
    match peer.kind {
        Kind::VigilCgroup | Kind::VigilGroup => {
            let Ok(bytes) = vigil_proto::status::read(dir.as_os_str()) else {
                return false;
            };
            vigil_proto::status::Status::decode(&bytes).is_ok_and(|s| {
                s.pid == 0
                    && s.ext
                        .is_some_and(|e| e.state == vigil_proto::status::State::Down)
            })
        }
        Kind::Daemontools => vigil_proto::status::read(dir.as_os_str())
            .ok()
            .and_then(|b| vigil_proto::status::Status::decode(&b).ok())
            .is_some_and(|s| s.pid == 0),
        Kind::Runit => {
            fs::read_to_string(dir.join("supervise/stat")).is_ok_and(|s| s.starts_with("down"))
        }
        // s6's status file is its own format: s6-svstat reads it.
        Kind::S6 => Command::new("/usr/bin/s6-svstat")
            .args(["-o", "up"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"false")),
    }
}

/// Time (ms) from `d` to down with DESCENDANTS children, and descendants alive at that moment.
fn stop_tree(peer: &Peer, base: &Path) -> (Vec<f64>, Vec<f64>) {
    let mut took = Vec::new();
    let mut left = Vec::new();
    for i in 0..STOPS {
        let tag = format!("tree{i}-{}", peer.name.replace([' ', ','], ""));
        let dir = service(base, &tag, "tree", peer);
        let sup = start(peer, &dir);
        if !util::wait_for(Duration::from_secs(10), POLL, || dir.join("tree").exists()) {
            util::stop_supervisor(sup, &dir);
            continue;
        }
        // daemontools ignores control for a second after each start.
        std::thread::sleep(Duration::from_millis(1200));
        let pids: Vec<i32> = fs::read_to_string(dir.join("tree"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect();
        let sent = Instant::now();
        send(&dir, b"d");
        if util::wait_for(Duration::from_secs(10), POLL, || is_down(peer, &dir)) {
            took.push(sent.elapsed().as_secs_f64() * 1000.0);
            left.push(pids.iter().filter(|&&p| alive(p)).count() as f64);
        }
        util::stop_supervisor(sup, &dir);
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    (took, left)
}

/// 200 supervise on the cgroup path: context switches of all of them over 10 s of idle, and
/// the cgroups left once they have exited.
fn idle_fleet(base: &Path) -> (u64, usize) {
    let peer = Peer {
        name: "vigil, cgroup",
        kind: Kind::VigilCgroup,
        program: PathBuf::from(env!("CARGO_BIN_EXE_supervise")),
    };
    let mut sups = Vec::new();
    for i in 0..IDLE_FLEET {
        let dir = service(base, &format!("idle-{i}"), "sleep", &peer);
        sups.push((start(&peer, &dir), dir));
    }
    util::wait_for(Duration::from_secs(60), POLL, || {
        sups.iter()
            .all(|(_, d)| d.join("supervise/cgroup").exists())
    });
    std::thread::sleep(Duration::from_secs(2));
    let cgroups: Vec<PathBuf> = sups
        .iter()
        .filter_map(|(_, d)| fs::read_to_string(d.join("supervise/cgroup")).ok())
        .filter_map(|t| t.lines().next().map(PathBuf::from))
        .collect();
    let switches = |pid: u32| -> u64 {
        fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    };
    let before: u64 = sups.iter().map(|(c, _)| switches(c.id())).sum();
    std::thread::sleep(Duration::from_secs(10));
    let after: u64 = sups.iter().map(|(c, _)| switches(c.id())).sum();
    for (child, dir) in sups {
        util::stop_supervisor(child, &dir);
    }
    let left = cgroups.iter().filter(|c| c.exists()).count();
    (after - before, left)
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    if argv0.ends_with("run") {
        child();
    }
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-cgroup-{}", std::process::id()));
    fs::create_dir_all(&base).expect("bench dir");
    let peers = peers();
    let mut plain = Vec::new();
    let mut leftover = Vec::new();
    let mut tree = Vec::new();
    for peer in &peers {
        eprintln!("{}: restart gaps, stop of 100 descendants...", peer.name);
        plain.push(restart_gap(peer, &base, "hold"));
        leftover.push(restart_gap(peer, &base, "leftover"));
        tree.push(stop_tree(peer, &base));
    }
    eprintln!("{IDLE_FLEET} supervise on the cgroup path, idle 10 s...");
    let (woke, left) = idle_fleet(&base);
    // Leftovers the peers do not stop (30 s sleepers): gone with their directories' processes.
    let _ = fs::remove_dir_all(&base);

    println!(
        "cgroups, {}, {}; service dirs on {}\n",
        util::date_utc(),
        util::machine(),
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
        "restart gap, no leftovers, µs (median)",
        plain
            .iter()
            .map(|(g, _, _)| format!("{:.0}", util::median_f64(g.clone())))
            .collect(),
    );
    row(
        "floor at the same time, µs (median)",
        plain
            .iter()
            .map(|(_, f, _)| format!("{:.0}", util::median_f64(f.clone())))
            .collect(),
    );
    row(
        "**restart gap / floor**, no leftovers",
        plain
            .iter()
            .map(|(g, f, _)| {
                format!(
                    "**{:.2}x**",
                    util::median_f64(g.clone()) / util::median_f64(f.clone())
                )
            })
            .collect(),
    );
    row(
        "restart gap, with a leftover, µs (median)",
        leftover
            .iter()
            .map(|(g, _, _)| format!("{:.0}", util::median_f64(g.clone())))
            .collect(),
    );
    row(
        "restart gap / floor, with a leftover",
        leftover
            .iter()
            .map(|(g, f, _)| {
                format!(
                    "{:.2}x",
                    util::median_f64(g.clone()) / util::median_f64(f.clone())
                )
            })
            .collect(),
    );
    row(
        "starts beside the previous run's leftover",
        leftover
            .iter()
            .map(|(_, _, s)| format!("{:.0}%", s * 100.0))
            .collect(),
    );
    row(
        &format!("`d` to down, {DESCENDANTS} descendants, ms (median)"),
        tree.iter()
            .map(|(t, _)| format!("{:.1}", util::median_f64(t.clone())))
            .collect(),
    );
    row(
        "descendants still alive when down is reported (median)",
        tree.iter()
            .map(|(_, l)| format!("{:.0}", util::median_f64(l.clone())))
            .collect(),
    );
    println!(
        "\n{IDLE_FLEET} supervise on the cgroup path, idle 10 s: {woke} context switches in all; \
         cgroups left after they exited: {left}"
    );
}
