//! fghack: stays until every copy of its pipe is closed, then exits with the child's code
//! (issue 5).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::same;
use crate::util::{self, Sandbox, Spawned};

#[test]
fn waits_for_the_background_daemon_then_exits_with_the_childs_code() {
    let sb = Sandbox::new();
    let mut fghack = Spawned::start(
        util::cmd("fghack")
            .args(["sh", "-c", "sleep 30 & echo $!; exit 7"])
            .current_dir(sb.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let stdout = fghack.child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let daemon: i32 = line.trim().parse().expect("pid of the daemon");
    // Loose bound: the shell has exited, but its daemon still holds the pipe.
    std::thread::sleep(Duration::from_millis(200));
    assert!(fghack.child.try_wait().expect("try_wait").is_none());
    kill(Pid::from_raw(daemon), Signal::SIGKILL).expect("kill the daemon");
    let status = fghack
        .wait_timeout(Duration::from_secs(10))
        .expect("fghack exits once the pipe is closed");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn child_holds_31_copies_of_the_pipe() {
    let sb = Sandbox::new();
    let out = same("fghack", |c| {
        c.args(["sh", "-c", "ls -l /proc/$$/fd > fds"])
            .current_dir(sb.path());
    });
    if out.is_none() {
        return;
    }
    // The most copies of one pipe the child held (its stdout and stderr are other pipes).
    let fds = util::text(&std::fs::read(sb.join("fds")).expect("fds"));
    let mut counts = std::collections::HashMap::new();
    for target in fds.lines().filter_map(|l| l.split("-> ").nth(1)) {
        *counts.entry(target.to_string()).or_insert(0) += 1;
    }
    let most = counts
        .iter()
        .filter(|(t, _)| t.starts_with("pipe:"))
        .map(|(_, n)| *n)
        .max();
    assert_eq!(most, Some(31), "{fds}");
}

#[test]
fn crash_and_exit_codes_match_daemontools() {
    let sb = Sandbox::new();
    for script in [
        "kill -9 $$",
        "exit 0",
        "exit 100",
        "echo out; echo err >&2; exit 3",
    ] {
        same("fghack", |c| {
            c.args(["sh", "-c", script]).current_dir(sb.path());
        });
    }
}
