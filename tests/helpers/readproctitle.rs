//! readproctitle beside daemontools': the same bytes show in /proc/PID/cmdline (issue 5).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{self, Spawned};

/// What `prog` shows in its command line after reading `input`, then its exit code at EOF.
fn title_after(program: Command, input: &[u8]) -> (Vec<u8>, Option<i32>) {
    let mut program = program;
    program
        .args(["service", "errors:", &".".repeat(40)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut spawned = Spawned::start(&mut program);
    let mut stdin = spawned.child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write");
    stdin.write_all(b"END").expect("write");
    let cmdline = format!("/proc/{}/cmdline", spawned.pid());
    let mut seen = Vec::new();
    let shown = util::eventually(Duration::from_secs(5), || {
        seen = std::fs::read(&cmdline).unwrap_or_default();
        seen.ends_with(b"END\0")
    });
    assert!(shown, "title never showed the input: {}", util::text(&seen));
    drop(stdin);
    let status = spawned
        .wait_timeout(Duration::from_secs(5))
        .expect("exit at EOF");
    // The arguments after argv[0], which differs between the two programs' paths.
    let args = seen
        .iter()
        .position(|&b| b == 0)
        .map_or(seen.clone(), |at| seen[at + 1..].to_vec());
    (args, status.code())
}

#[test]
fn title_shows_the_last_bytes_as_daemontools() {
    let Some(theirs) = util::peer("/usr/bin/readproctitle") else {
        return;
    };
    for input in [
        &b"hello\0world\n"[..],
        b"x",
        b"supervise: warning: unable to open x/supervise/lock: file does not exist\nmore\n",
    ] {
        let ours = title_after(util::cmd("readproctitle"), input);
        let theirs = title_after(Command::new(&theirs), input);
        assert_eq!(util::text(&ours.0), util::text(&theirs.0));
        assert_eq!(ours.1, Some(0));
        assert_eq!(theirs.1, Some(0));
    }
}

#[test]
fn title_scrolls_without_daemontools() {
    let (title, code) = title_after(util::cmd("readproctitle"), b"abc\0def");
    let want = format!("service\0errors:\0...{}abcdefEND\0", ".".repeat(28));
    assert_eq!(util::text(&title), want);
    assert_eq!(code, Some(0));
}
