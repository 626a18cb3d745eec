//! The real daemontools svc, svstat and svok driving our supervise: control bytes work, svstat
//! reads our status file as it reads daemontools' own (twin sandboxes, same steps, same lines),
//! and svok's exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::supervise::{alive, Supervised, SOON};
use crate::util::{bin, eventually, mask_digits, peer, run, text, Sandbox};

const LIMIT: Duration = Duration::from_secs(10);

struct Tools {
    svc: PathBuf,
    svstat: PathBuf,
    svok: PathBuf,
}

fn tools() -> Option<Tools> {
    Some(Tools {
        svc: peer("/usr/bin/svc")?,
        svstat: peer("/usr/bin/svstat")?,
        svok: peer("/usr/bin/svok")?,
    })
}

impl Tools {
    fn svc(&self, opts: &str, dir: &Path) {
        let out = run(Command::new(&self.svc).arg(opts).arg(dir), LIMIT);
        assert!(out.status.success(), "svc {opts}: {}", text(&out.stderr));
    }

    /// svstat's line for `dir`, the directory shown as DIR and digits masked.
    fn svstat(&self, dir: &Path) -> String {
        let out = run(Command::new(&self.svstat).arg(dir), LIMIT);
        let line = text(&mask_digits(&out.stdout));
        let masked_dir = text(&mask_digits(dir.as_os_str().as_encoded_bytes()));
        line.replacen(&masked_dir, "DIR", 1)
    }

    fn svok(&self, dir: &Path) -> Option<i32> {
        run(Command::new(&self.svok).arg(dir), LIMIT).status.code()
    }

    /// Waits until svstat on `dir` prints `expected`; panics with what it printed instead.
    fn expect(&self, dir: &Path, expected: &str) {
        let mut last = String::new();
        let ok = eventually(SOON, || {
            last = self.svstat(dir);
            last == expected
        });
        assert!(
            ok,
            "svstat {}: {last:?}, expected {expected:?}",
            dir.display()
        );
    }
}

/// Two sandboxes with the same service, one under our supervise and one under daemontools'.
fn twins(run_body: &str, down: bool) -> Option<(Tools, Vec<(Sandbox, Supervised)>)> {
    let tools = tools()?;
    let theirs = peer("/usr/bin/supervise")?;
    let mut pairs = Vec::new();
    for program in [bin("supervise"), theirs] {
        let sb = Sandbox::new();
        let dir = sb.service("svc", run_body);
        if down {
            sb.write("svc/down", "");
        }
        let sup = Supervised::start(&program, &dir);
        pairs.push((sb, sup));
    }
    Some((tools, pairs))
}

#[test]
fn svstat_reads_ours_as_daemontools_for_every_state() {
    // TERM is ignored, so `d` leaves it up with "want down"
    let Some((t, pairs)) = twins("trap '' TERM\nexec sleep 100", false) else {
        return;
    };
    let steps: [(&str, &str); 6] = [
        ("", "DIR: up (pid N) N seconds\n"),
        ("-p", "DIR: up (pid N) N seconds, paused\n"),
        ("-c", "DIR: up (pid N) N seconds\n"),
        ("-d", "DIR: up (pid N) N seconds, want down\n"),
        ("-k", "DIR: down N seconds, normally up\n"),
        ("-u", "DIR: up (pid N) N seconds\n"),
    ];
    for (opts, expected) in steps {
        for (_, sup) in &pairs {
            if !opts.is_empty() {
                t.svc(opts, &sup.dir);
            }
            t.expect(&sup.dir, expected);
        }
    }
    for (_, sup) in pairs {
        t.svc("-dkx", &sup.dir);
        let mut sup = sup;
        assert_eq!(sup.wait_exit(), 0);
    }
}

#[test]
fn svstat_reads_a_down_service_and_once_as_daemontools() {
    let Some((t, pairs)) = twins("exec sleep 100", true) else {
        return;
    };
    for (_, sup) in &pairs {
        t.expect(&sup.dir, "DIR: down N seconds\n");
        t.svc("-o", &sup.dir);
        t.expect(&sup.dir, "DIR: up (pid N) N seconds, normally down\n");
        t.svc("-k", &sup.dir);
        t.expect(&sup.dir, "DIR: down N seconds\n");
    }
    for (_, mut sup) in pairs {
        t.svc("-x", &sup.dir);
        assert_eq!(sup.wait_exit(), 0);
    }
}

#[test]
fn svstat_shows_backoff_as_want_up() {
    let Some(t) = tools() else {
        return;
    };
    let sb = Sandbox::new();
    sb.write("svc/backoff", "30000 60000");
    let dir = sb.service("svc", "exit 1");
    let sup = Supervised::start(&bin("supervise"), &dir);
    t.expect(&dir, "DIR: down N seconds, normally up, want up\n");
    assert_eq!(sup.stop(), 0);
}

#[test]
fn real_svc_controls_our_supervise() {
    let Some(t) = tools() else {
        return;
    };
    let sb = Sandbox::new();
    let mut body = String::new();
    for sig in ["HUP", "ALRM", "INT", "TERM"] {
        body.push_str(&format!("trap 'echo {sig} >> ../got' {sig}\n"));
    }
    body.push_str("echo ready > ../ready\nwhile :; do sleep 1 & wait $!; done");
    let dir = sb.service("svc", &body);
    let mut sup = Supervised::start(&bin("supervise"), &dir);
    let pid = sup.wait_up();
    assert!(eventually(SOON, || sb.join("ready").exists()));
    for (opt, sig) in [("-h", "HUP"), ("-a", "ALRM"), ("-i", "INT"), ("-t", "TERM")] {
        t.svc(opt, &dir);
        assert!(
            eventually(SOON, || std::fs::read_to_string(sb.join("got"))
                .unwrap_or_default()
                .lines()
                .any(|l| l == sig)),
            "svc {opt}"
        );
    }
    assert!(alive(pid as i32));
    t.svc("-dk", &dir);
    t.expect(&dir, "DIR: down N seconds, normally up\n");
    assert!(!alive(pid as i32));
    t.svc("-x", &dir);
    assert_eq!(sup.wait_exit(), 0);
}

#[test]
fn svok_exit_codes_follow_our_supervise() {
    let Some(t) = tools() else {
        return;
    };
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let sup = Supervised::start(&bin("supervise"), &dir);
    assert_eq!(t.svok(&dir), Some(0));
    assert_eq!(sup.stop(), 0);
    assert_eq!(t.svok(&dir), Some(100));
    assert_eq!(t.svstat(&dir), "DIR: supervise not running\n");
}

#[test]
fn ours_adopts_the_run_of_a_killed_daemontools_supervise() {
    let Some(theirs) = peer("/usr/bin/supervise") else {
        return;
    };
    let sb = Sandbox::new();
    let dir = sb.service("svc", "echo $$ >> ../starts\nexec sleep 100");
    let mut old = Supervised::start(&theirs, &dir);
    let pid = old.wait_up();
    assert!(eventually(SOON, || sb.join("starts").exists()));
    old.signal(nix::sys::signal::Signal::SIGKILL);
    old.wait_exit();
    assert!(alive(pid as i32));
    let ours = Supervised::start(&bin("supervise"), &dir);
    assert_eq!(ours.status().map(|s| s.pid), Some(pid), "adopted");
    let starts = || std::fs::read_to_string(sb.join("starts")).unwrap_or_default();
    assert_eq!(starts().lines().count(), 1, "no second copy");
    // d reaches it (TERM through the pidfd); it goes down and is not restarted
    ours.send(b"d");
    ours.wait_for("down", |s| s.pid == 0);
    assert!(!alive(pid as i32));
    assert_eq!(starts().lines().count(), 1);
    assert_eq!(ours.stop(), 0);
}
