//! svwait, svwatch and supervise's events (issue 6).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::observe::wakeups;
use crate::util::{cmd, peer, run, text, Sandbox, Spawned};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn svwait_usage_is_exit_100() {
    let out = run(&mut cmd("svwait"), LIMIT);
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        text(&out.stderr),
        "svwait: usage: svwait [ -u | -U | -d | -D ] [ -a | -o ] [ -t timeout ] dir...\n"
    );
    let out = run(cmd("svwait").args(["-z", "x"]), LIMIT);
    assert_eq!(out.status.code(), Some(100));
    assert!(text(&out.stderr).starts_with("svwait: illegal option -- z\n"));
}

#[test]
fn svwait_times_out_with_99_and_removes_its_fifo() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let start = Instant::now();
    let out = run(cmd("svwait").args(["-u", "-t", "300"]).arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(99), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "svwait: fatal: timed out\n");
    assert!(start.elapsed() >= Duration::from_millis(300));
    let left: Vec<_> = std::fs::read_dir(dir.join("event"))
        .expect("event dir")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn svwait_on_a_missing_directory_fails_111() {
    let sb = Sandbox::new();
    let out = run(cmd("svwait").arg(sb.join("nope")), LIMIT);
    assert_eq!(out.status.code(), Some(111));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "svwait: fatal: unable to subscribe to {}/event: file does not exist",
            sb.join("nope").display()
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn svwait_sleeps_without_waking() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let waiter = Spawned::start(cmd("svwait").args(["-U", "-t", "5000"]).arg(&dir));
    std::thread::sleep(Duration::from_millis(300));
    let before = wakeups(waiter.pid()).expect("svwait runs");
    std::thread::sleep(Duration::from_secs(2));
    let after = wakeups(waiter.pid()).expect("svwait still runs");
    assert_eq!(before, after, "svwait woke up while nothing happened");
}

#[test]
fn svwait_reads_daemontools_status() {
    let Some(supervise) = peer("/usr/bin/supervise") else {
        return;
    };
    let sb = Sandbox::new();
    let up = sb.service("up", "exec sleep 100");
    let down = sb.service("down", "exec sleep 100");
    sb.write("down/down", "");
    let _a = Spawned::start(Command::new(&supervise).arg(&up));
    let _b = Spawned::start(Command::new(&supervise).arg(&down));
    assert!(crate::util::eventually(LIMIT, || {
        [&up, &down]
            .iter()
            .all(|d| d.join("supervise/status").exists())
    }));
    assert!(crate::util::eventually(LIMIT, || {
        std::fs::read(up.join("supervise/status"))
            .is_ok_and(|b| b.len() == 18 && b[12..16] != [0; 4])
    }));
    let out = run(cmd("svwait").args(["-u", "-t", "5000"]).arg(&up), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(cmd("svwait").args(["-D", "-t", "5000"]).arg(&down), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // -o: one of them is enough; -a (the default) needs both.
    let out = run(
        cmd("svwait")
            .args(["-d", "-o", "-t", "5000"])
            .arg(&up)
            .arg(&down),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(
        cmd("svwait").args(["-d", "-t", "300"]).arg(&up).arg(&down),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(99), "{}", text(&out.stderr));
}

#[test]
fn svwatch_usage_and_empty_journal() {
    let out = run(&mut cmd("svwatch"), LIMIT);
    assert_eq!(out.status.code(), Some(100));
    assert!(
        text(&out.stderr).contains("Usage: svwatch"),
        "{}",
        text(&out.stderr)
    );
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let out = run(cmd("svwatch").arg("--no-follow").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}
