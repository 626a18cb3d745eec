//! Event latency: from a control byte written to `supervise/control` to the event's letter read
//! from a listener's FIFO in `DIR/event/`, for vigil's supervise and s6-supervise (the only
//! peer that publishes events; daemontools and runit tell nobody). The same listener (vigil's
//! `Subscription`, whose FIFO names are s6's form) serves both. Service dirs live on the disk
//! (target/tmp). Then the wake-ups, over 10 s with the service up and idle, of the supervisor
//! and two listeners (vigil: svwait -d and svwatch; s6: s6-svwait -d and -D). Prints a
//! Markdown table of medians and ratios with the date and machine.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_client::follow::wait_readable;
use vigil_client::subscription::Subscription;

mod util;
use util::{machine, median};

const ROUNDS: usize = 20;

fn service(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("event")).expect("mkdir");
    fs::write(dir.join("run"), "#!/bin/sh\nexec sleep 1000\n").expect("run");
    fs::set_permissions(dir.join("run"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(dir.join("down"), "").expect("down");
    dir
}

fn control(dir: &Path, byte: u8) {
    let mut fifo = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("supervise/control"))
        .expect("control");
    fifo.write_all(&[byte]).expect("write control");
}

/// Blocks until `letter` comes through the subscription; the time it took since `start`.
fn until_letter(sub: &mut Subscription, letter: u8, start: Instant) -> Duration {
    let mut letters = Vec::new();
    loop {
        sub.drain(&mut letters).expect("drain");
        if letters.contains(&letter) {
            return start.elapsed();
        }
        let ready = wait_readable(&[sub.fd()], Some(Instant::now() + Duration::from_secs(5)))
            .expect("poll");
        assert!(!ready.is_empty(), "no '{}' within 5 s", letter as char);
    }
}

const IDLE: Duration = Duration::from_secs(10);

/// voluntary_ctxt_switches of a process: how often it slept and woke.
fn wakeups(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Median latencies of `u` (after `svc -u`) and `d` (after `svc -d`), then the wake-ups of
/// the supervisor and of `listeners` (programs given the service directory) attached to the
/// service, up and idle, over [`IDLE`].
fn measure(supervise: &Path, dir: &Path, listeners: &[&[&str]]) -> (Duration, Duration, u64) {
    let mut child: Child = Command::new(supervise)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("supervise");
    let started = Instant::now();
    while OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("supervise/control"))
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "supervise did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut sub = Subscription::new(dir.as_os_str()).expect("subscribe");
    let (mut ups, mut downs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        control(dir, b'u');
        ups.push(until_letter(&mut sub, b'u', t));
        let t = Instant::now();
        control(dir, b'd');
        downs.push(until_letter(&mut sub, b'd', t));
    }
    let t = Instant::now();
    control(dir, b'u');
    until_letter(&mut sub, b'u', t);
    let mut attached: Vec<Child> = listeners
        .iter()
        .map(|argv| {
            Command::new(argv[0])
                .args(&argv[1..])
                .arg(dir)
                .stdout(Stdio::null())
                .spawn()
                .expect("listener")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let pids: Vec<u32> = std::iter::once(child.id())
        .chain(attached.iter().map(Child::id))
        .collect();
    let before: u64 = pids.iter().map(|&p| wakeups(p)).sum();
    std::thread::sleep(IDLE);
    let after: u64 = pids.iter().map(|&p| wakeups(p)).sum();
    for l in &mut attached {
        let _ = l.kill();
        let _ = l.wait();
    }
    control(dir, b'd');
    control(dir, b'x');
    let _ = child.kill();
    let _ = child.wait();
    (median(ups), median(downs), after - before)
}

fn main() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-events");
    fs::create_dir_all(&base).expect("base");
    let (svwait, svwatch) = (env!("CARGO_BIN_EXE_svwait"), env!("CARGO_BIN_EXE_svwatch"));
    let ours = measure(
        Path::new(env!("CARGO_BIN_EXE_supervise")),
        &service(&base, "vigil"),
        &[&[svwait, "-d"], &[svwatch]],
    );
    let date = util::date_utc();
    println!("Event latency, control byte to letter in a listener's FIFO; median of {ROUNDS}.");
    println!("{date}, {}\n", machine());
    let s6 = Path::new("/usr/bin/s6-supervise");
    let peer = s6.exists().then(|| {
        measure(
            s6,
            &service(&base, "s6"),
            &[&["/usr/bin/s6-svwait", "-d"], &["/usr/bin/s6-svwait", "-D"]],
        )
    });
    println!("| event | vigil supervise | s6-supervise | vigil / s6 |");
    println!("|-------|-----------------|--------------|------------|");
    for (name, ours, theirs) in [
        ("`u` after `svc -u`", ours.0, peer.map(|p| p.0)),
        ("`d` after `svc -d`", ours.1, peer.map(|p| p.1)),
    ] {
        match theirs {
            Some(t) => println!(
                "| {name} | {ours:.2?} | {t:.2?} | {:.2} |",
                ours.as_secs_f64() / t.as_secs_f64()
            ),
            None => println!("| {name} | {ours:.2?} | (not installed) | |"),
        }
    }
    let idle = format!(
        "wake-ups in {} s idle: supervisor + 2 listeners",
        IDLE.as_secs()
    );
    match peer {
        Some(p) => println!("| {idle} | {} | {} | |", ours.2, p.2),
        None => println!("| {idle} | {} | (not installed) | |", ours.2),
    }
    let _ = fs::remove_dir_all(&base);
}
