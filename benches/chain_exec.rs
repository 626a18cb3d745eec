//! The cost of the chain-loading helpers: each one running `true`, and a whole run-script chain,
//! vigil's beside daemontools' (/usr/bin), one process after another.
//!
//! Prints a Markdown table (median wall time per run, ours and theirs interleaved run by run so
//! a load change on the shared machine hits both alike, and the ratio); copy it into
//! docs/bench.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 300;

fn ours(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_envdir"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    dir.join(name)
}

fn theirs(name: &str) -> PathBuf {
    PathBuf::from("/usr/bin").join(name)
}

/// The argument lists of one case, each word either a helper (resolved per side) or literal.
enum Word {
    Helper(&'static str),
    Lit(&'static str),
}
use Word::{Helper as H, Lit as L};

fn command(words: &[Word], side: fn(&str) -> PathBuf, dir: &Path) -> Command {
    let resolve = |w: &Word| match w {
        H(name) => side(name).into_os_string(),
        L(text) => (*text).into(),
    };
    let mut cmd = Command::new(resolve(&words[0]));
    cmd.args(words[1..].iter().map(resolve))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Wall time of one run (spawn, run, wait).
fn time_one(words: &[Word], side: fn(&str) -> PathBuf, dir: &Path) -> Duration {
    let start = Instant::now();
    let status = command(words, side, dir).status().expect("run");
    let took = start.elapsed();
    assert!(status.success(), "a benchmark run failed");
    took
}

/// Median time per run of ours and theirs, alternating one run of each.
fn measure(words: &[Word], dir: &Path) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
    for _ in 0..RUNS {
        a.push(time_one(words, ours, dir));
        b.push(time_one(words, theirs, dir));
    }
    (median(a), median(b))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn shell(cmd: &str) -> String {
    Command::new("/bin/sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    if !theirs("envdir").exists() {
        eprintln!("daemontools is not installed: nothing to compare with");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..10 {
        std::fs::create_dir_all(dir.path().join("env")).expect("mkdir");
        std::fs::write(
            dir.path().join(format!("env/VAR{i}")),
            format!("value {i}\n"),
        )
        .expect("write");
    }
    let root = nix::unistd::geteuid().is_root();
    let mut cases: Vec<(&str, Vec<Word>)> = vec![
        ("/bin/true alone (baseline)", vec![L("/bin/true")]),
        (
            "envdir (10 files) true",
            vec![H("envdir"), L("env"), L("true")],
        ),
        (
            "envuidgid root true",
            vec![H("envuidgid"), L("root"), L("true")],
        ),
        (
            "softlimit -m 10^9 true",
            vec![H("softlimit"), L("-m"), L("1000000000"), L("true")],
        ),
        (
            "setlock lock true",
            vec![H("setlock"), L("lock"), L("true")],
        ),
        ("pgrphack true", vec![H("pgrphack"), L("true")]),
        ("fghack true", vec![H("fghack"), L("true")]),
        (
            "envdir softlimit setlock pgrphack true",
            vec![
                H("envdir"),
                L("env"),
                H("softlimit"),
                L("-o"),
                L("="),
                H("setlock"),
                L("lock"),
                H("pgrphack"),
                L("true"),
            ],
        ),
    ];
    if root {
        cases.push((
            "setuidgid nobody true",
            vec![H("setuidgid"), L("nobody"), L("true")],
        ));
    }
    println!(
        "Chain-loading helpers, {} ({}, {} cores), median of {RUNS} runs, ours and theirs \
         interleaved:\n",
        shell("date -u +%Y-%m-%d"),
        shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        shell("nproc"),
    );
    println!("| run | vigil | daemontools | vigil / daemontools |");
    println!("|---|---|---|---|");
    for (name, words) in &cases {
        let (ours_t, theirs_t) = measure(words, dir.path());
        println!(
            "| `{name}` | {:.0} µs | {:.0} µs | {:.2} |",
            ours_t.as_secs_f64() * 1e6,
            theirs_t.as_secs_f64() * 1e6,
            ours_t.as_secs_f64() / theirs_t.as_secs_f64()
        );
    }
}
