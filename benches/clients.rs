//! Client latency: one run of svc, svstat and svok (vigil's and daemontools') on crafted service
//! directories, median wall time over many runs, ours and the peer interleaved in one run.
//! Prints a Markdown table of ratios (ours / daemontools) with the date and machine.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::stat::Mode;
use vigil_proto::status::{Status, Want};
use vigil_proto::tai::Tai64n;

mod util;
use util::{machine, median};

const RUNS: usize = 300;
const DIRS: usize = 20;

/// A service directory whose supervise/ FIFOs' read ends this process holds ("running").
fn craft(base: &Path, name: &str) -> (PathBuf, [File; 2]) {
    let sup = base.join(name).join("supervise");
    fs::create_dir_all(&sup).expect("mkdir");
    let mut ends = Vec::new();
    for fifo in ["ok", "control"] {
        nix::unistd::mkfifo(&sup.join(fifo), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        ends.push(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(sup.join(fifo))
                .expect("open"),
        );
    }
    let status = Status {
        when: Tai64n::now(),
        pid: 4242,
        paused: false,
        want: Want::Up,
        ext: None,
    };
    vigil_proto::status::write(base.join(name).as_os_str(), &status).expect("status");
    let control = ends.pop().expect("control");
    let ok = ends.pop().expect("ok");
    (base.join(name), [ok, control])
}

fn time_one(program: &Path, args: &[&str], cwd: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    let took = start.elapsed();
    assert!(status.code().is_some(), "{program:?} was killed");
    took
}

fn main() {
    let base = tempfile::Builder::new()
        .prefix("bench-clients")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tmp");
    let mut held = Vec::new();
    let mut names = Vec::new();
    for i in 0..DIRS {
        let name = format!("s{i}");
        held.push(craft(base.path(), &name));
        names.push(name);
    }
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("svok", "svok DIR", vec!["s0"]),
        ("svc", "svc -t DIR", vec!["-t", "s0"]),
        ("svstat", "svstat DIR", vec!["s0"]),
        ("svstat", "svstat 20 DIRs", all.clone()),
    ];
    let date = util::date_utc();
    println!(
        "Client latency, median of {RUNS} runs ({date}; {}):\n",
        machine()
    );
    println!("| command | vigil | daemontools | ratio |");
    println!("|---|---|---|---|");
    let mut drain = [0u8; 4096];
    for (prog, label, args) in cases {
        let ours = PathBuf::from(match prog {
            "svok" => env!("CARGO_BIN_EXE_svok"),
            "svc" => env!("CARGO_BIN_EXE_svc"),
            _ => env!("CARGO_BIN_EXE_svstat"),
        });
        let peer = PathBuf::from(format!("/usr/bin/{prog}"));
        if !peer.exists() {
            println!("| {label} | skipped: {} missing | | |", peer.display());
            continue;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            a.push(time_one(&ours, &args, base.path()));
            b.push(time_one(&peer, &args, base.path()));
            // Keep the control FIFO from filling up.
            let _ = held[0].1[1].read(&mut drain);
        }
        let (a, b) = (median(a), median(b));
        println!(
            "| `{label}` | {:.0} µs | {:.0} µs | {:.2} |",
            a.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}
