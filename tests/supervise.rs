//! supervise: the real binary on service directories in a sandbox.

use std::fs;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vigil_proto::status::{BackoffCause, State, Want};

use crate::util::supervise::{alive, lines, no_lasting_zombies, Supervised, SOON};
use crate::util::{bin, cmd, eventually, peer, procfs, run, text, Sandbox};

const LIMIT: Duration = Duration::from_secs(10);

/// A run that records its pid and start time (ns) in `starts`, then stays up.
/// Waits until supervise has woken since its wake-up count was `before` and sleeps in poll
/// again: it has handled everything sent before that count was read.
fn handled(sup: &Supervised, before: u64) {
    assert!(
        eventually(LIMIT, || {
            procfs::wakeups(sup.pid()).unwrap_or(0) > before && procfs::sleeps_in_poll(sup.pid())
        }),
        "supervise did not wake for it or did not go back to sleep; stderr: {}",
        sup.stderr()
    );
}

const RECORD_AND_SLEEP: &str = "echo $$ $(date +%s%N) >> ../starts\nexec sleep 100";

fn ours(dir: &std::path::Path) -> Supervised {
    Supervised::start(&bin("supervise"), dir)
}

/// Waits until `n` starts are recorded; their pids.
fn wait_starts(sb: &Sandbox, n: usize) -> Vec<u32> {
    assert!(
        eventually(SOON, || start_pids(sb).len() >= n),
        "{n} starts expected, got {:?}",
        start_pids(sb)
    );
    start_pids(sb)
}

fn start_pids(sb: &Sandbox) -> Vec<u32> {
    lines(&sb.join("starts"))
        .iter()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

fn start_times_ms(sb: &Sandbox) -> Vec<u64> {
    lines(&sb.join("starts"))
        .iter()
        .filter_map(|l| l.split(' ').nth(1)?.parse::<u64>().ok())
        .map(|ns| ns / 1_000_000)
        .collect()
}

#[test]
fn usage_matches_daemontools() {
    for args in [&[][..], &["a", "b"][..]] {
        let out = run(cmd("supervise").args(args), LIMIT);
        assert_eq!(out.status.code(), Some(100));
        assert_eq!(text(&out.stderr), "supervise: usage: supervise dir\n");
        if let Some(theirs) = peer("/usr/bin/supervise") {
            let them = run(std::process::Command::new(theirs).args(args), LIMIT);
            assert_eq!(them.status.code(), out.status.code());
            assert_eq!(them.stderr, out.stderr);
        }
    }
}

#[test]
fn missing_dir_is_fatal_like_daemontools() {
    let sb = Sandbox::new();
    let dir = sb.join("nope");
    let out = run(cmd("supervise").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        text(&out.stderr),
        format!(
            "supervise: fatal: unable to chdir to {}: file does not exist\n",
            dir.display()
        )
    );
}

#[test]
fn starts_run_and_announces_it_up() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let sup = ours(&dir);
    let pid = sup.wait_up();
    assert_eq!(wait_starts(&sb, 1), [pid]);
    let st = sup.status().expect("status");
    assert_eq!(st.want, Want::Up);
    assert!(!st.paused);
    let ext = st.ext.expect("vigil extension");
    assert_eq!(ext.state, State::Up);
    assert_eq!(ext.restarts, 0);
    let meta = fs::metadata(dir.join("supervise")).expect("supervise/");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    // supervise's own descriptors (lock, FIFOs, signalfd) are close-on-exec
    let private = |pid: i32| {
        fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd dir")
            .filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
            .filter(|t| {
                t.starts_with(dir.join("supervise")) || t.to_string_lossy().contains("signalfd")
            })
            .count()
    };
    assert_eq!(
        private(sup.pid()),
        6,
        "lock, control (2 ends), ok, signalfd, events journal in supervise"
    );
    assert_eq!(private(pid as i32), 0, "none in run");
    // the run is in its own session: its process group is its pid
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    assert_eq!(fields[2], pid.to_string(), "pgrp");
    assert_eq!(fields[3], pid.to_string(), "session");
    // and nothing blocked or ignored: SIGPIPE kills it
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:\t"))
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .expect("SigIgn");
    // signals 1-31 (SIGPIPE among them) at their default; glibc keeps 32 and 33 for itself
    assert_eq!(ignored & 0x7fff_ffff, 0, "{status}");
    assert_eq!(sup.stop(), 0);
    assert!(!alive(pid as i32));
}

#[test]
fn down_file_starts_down_until_up() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    sb.write("svc/down", "");
    let sup = ours(&dir);
    let st = sup.status().expect("status");
    assert_eq!((st.pid, st.want), (0, Want::Down));
    assert_eq!(st.ext.map(|e| e.state), Some(State::Down));
    assert!(start_pids(&sb).is_empty());
    sup.send(b"u");
    let pid = sup.wait_up();
    assert_eq!(sup.status().map(|s| s.want), Some(Want::Up));
    assert_eq!(wait_starts(&sb, 1), [pid]);
    assert_eq!(sup.stop(), 0);
}

#[test]
fn signal_bytes_reach_the_service() {
    let sb = Sandbox::new();
    let mut body = String::new();
    for sig in [
        "HUP", "ALRM", "INT", "TERM", "QUIT", "USR1", "USR2", "WINCH",
    ] {
        body.push_str(&format!("trap 'echo {sig} >> ../got' {sig}\n"));
    }
    body.push_str("echo $$ >> ../starts\nwhile :; do sleep 1 & wait $!; done");
    let dir = sb.service("svc", &body);
    let sup = ours(&dir);
    sup.wait_up();
    wait_starts(&sb, 1); // the traps are set
    for (byte, sig) in [
        (b'h', "HUP"),
        (b'a', "ALRM"),
        (b'i', "INT"),
        (b't', "TERM"),
        (b'q', "QUIT"),
        (b'1', "USR1"),
        (b'2', "USR2"),
        (b'w', "WINCH"),
    ] {
        sup.send(&[byte]);
        assert!(
            eventually(SOON, || lines(&sb.join("got")).iter().any(|l| l == sig)),
            "{} did not deliver {sig}",
            byte as char
        );
    }
    assert_eq!(
        start_pids(&sb).len(),
        1,
        "trapped signals must not restart it"
    );
    sup.send(b"dk");
    assert_eq!(sup.stop(), 0);
}

#[test]
fn pause_continue_kill_down_once_exit() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "50 100 50");
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let mut sup = ours(&dir);
    let pid = sup.wait_up();
    let state = |pid: u32| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    };
    sup.send(b"p");
    sup.wait_for("paused", |s| s.paused);
    assert!(eventually(SOON, || state(pid) == "T"), "not stopped");
    sup.send(b"c");
    sup.wait_for("continued", |s| !s.paused);
    assert!(eventually(SOON, || state(pid) == "S"), "not continued");
    // k: killed, restarted (want up)
    sup.send(b"k");
    let second = sup
        .wait_for("restarted", |s| s.pid != 0 && s.pid != pid)
        .pid;
    wait_starts(&sb, 2);
    let ext = sup.status().and_then(|s| s.ext).expect("ext");
    assert_eq!(ext.restarts, 1);
    // d: TERM then CONT, down, no restart
    sup.send(b"d");
    let st = sup.wait_for("down", |s| s.pid == 0);
    assert_eq!(st.want, Want::Down);
    assert_eq!(st.ext.map(|e| e.state), Some(State::Down));
    assert_eq!(st.ext.and_then(|e| e.last_exit), Some(libc::SIGTERM));
    assert!(!alive(second as i32));
    // o: once, and no restart after it dies
    sup.send(b"o");
    let third = sup.wait_for("once", |s| s.pid != 0).pid;
    assert_eq!(sup.status().map(|s| s.want), Some(Want::Nothing));
    wait_starts(&sb, 3);
    sup.send(b"k");
    sup.wait_for("once is not restarted", |s| s.pid == 0);
    // Back in poll after announcing it down: a restart would have come first.
    assert!(eventually(LIMIT, || procfs::sleeps_in_poll(sup.pid())));
    assert_eq!(wait_starts(&sb, 3), [pid, second, third]);
    // x: exit once down
    sup.send(b"x");
    assert_eq!(sup.wait_exit(), 0);
}

#[test]
fn exit_byte_waits_for_the_service_to_go_down() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let mut sup = ours(&dir);
    let pid = sup.wait_up();
    // The run records itself before it gets the TERM below (else `starts` stays empty).
    wait_starts(&sb, 1);
    let before = procfs::wakeups(sup.pid()).unwrap_or(0);
    sup.send(b"x");
    handled(&sup, before);
    assert!(sup.running());
    assert!(alive(pid as i32));
    sup.send(b"t");
    assert_eq!(sup.wait_exit(), 0);
    assert_eq!(wait_starts(&sb, 1), [pid], "x: no restart");
}

#[test]
fn restarts_at_once_after_a_long_run() {
    let sb = Sandbox::new();
    // runs of 300 ms count as long here (quick threshold 100 ms)
    sb.write("svc/backoff", "5000 5000 100");
    let dir = sb.service("svc", "echo $$ $(date +%s%N) >> ../starts\nexec sleep 0.3");
    let sup = ours(&dir);
    sup.wait_for("three restarts", |s| s.ext.is_some_and(|e| e.restarts >= 3));
    let times = start_times_ms(&sb);
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        // 300 ms of run plus a restart gap far below the 5 s backoff
        assert!(
            (300..1500).contains(&gap),
            "start-to-start {gap} ms: {times:?}"
        );
    }
    assert_eq!(
        sup.status().and_then(|s| s.ext).and_then(|e| e.last_exit),
        Some(0)
    );
    assert!(no_lasting_zombies(sup.pid()));
    assert_eq!(sup.stop(), 0);
}

#[test]
fn quick_exits_back_off_doubling_to_the_cap() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "200 800");
    let dir = sb.service("svc", "echo $$ $(date +%s%N) >> ../starts\nexit 1");
    let sup = ours(&dir);
    let st = sup.wait_for("backoff", |s| {
        s.ext.is_some_and(|e| e.state == State::Backoff)
    });
    let ext = st.ext.expect("ext");
    assert_eq!(ext.backoff_cause, BackoffCause::QuickExit);
    assert!(ext.backoff_until.is_some());
    assert_eq!(ext.last_exit, Some(1 << 8));
    assert!(eventually(LIMIT, || start_times_ms(&sb).len() >= 6));
    let times = start_times_ms(&sb);
    let gaps: Vec<u64> = times.windows(2).map(|p| p[1] - p[0]).collect();
    for (gap, nominal) in gaps.iter().zip([200u64, 400, 800, 800, 800]) {
        // never early; late only by scheduling (a loaded machine: generous, yet below the
        // next doubling, 1600 ms, so the cap shows)
        assert!(
            *gap >= nominal && *gap < nominal * 9 / 8 + 600,
            "gaps {gaps:?}"
        );
    }
    assert!(no_lasting_zombies(sup.pid()));
    assert_eq!(sup.stop(), 0);
}

#[test]
fn operator_restarts_do_not_count_as_crashes_issue_15() {
    // Three `svc -t`, each right after a start, then a crash of the run's own: a first
    // failure (the first step, 2 s here), not the fourth (16 s; 8.6 s with the defaults in
    // the issue).
    let sb = Sandbox::new();
    sb.write("svc/backoff", "2000 60000 1000");
    let dir = sb.service(
        "svc",
        "echo $$ $(date +%s%N) >> ../starts\n\
         [ $(wc -l < ../starts) -eq 4 ] && exit 1\n\
         exec sleep 100",
    );
    let sup = ours(&dir);
    for n in 1..=3 {
        let pids = wait_starts(&sb, n);
        sup.wait_for("up", |s| s.pid == pids[n - 1]);
        let out = run(cmd("svc").arg("-t").arg(&dir), LIMIT);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    // The fourth run crashes: a backoff of the first step, and svstat -l says so.
    let st = sup.wait_for("backoff", |s| {
        s.ext.is_some_and(|e| e.state == State::Backoff)
    });
    assert_eq!(st.ext.map(|e| e.failures), Some(1), "{st:?}");
    let out = run(cmd("svstat").arg("-l").arg(&dir), LIMIT);
    let line = text(&out.stdout);
    assert!(
        line.contains("; state backoff (quick exit, failures 1, next start in "),
        "{line}"
    );
    assert!(
        eventually(Duration::from_secs(6), || start_pids(&sb).len() >= 5),
        "no fifth start; stderr: {}",
        sup.stderr()
    );
    let times = start_times_ms(&sb);
    let gap = times[4] - times[3];
    assert!(
        (2000..4000).contains(&gap),
        "gap {gap} ms; starts {times:?}"
    );
    assert_eq!(sup.stop(), 0);
}

#[test]
fn up_during_backoff_starts_at_once() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "30000 60000");
    let dir = sb.service("svc", "echo $$ >> ../starts\nexit 1");
    let sup = ours(&dir);
    sup.wait_for("backoff", |s| {
        s.ext.is_some_and(|e| e.state == State::Backoff)
    });
    let t = Instant::now();
    sup.send(b"u");
    assert!(eventually(SOON, || start_pids(&sb).len() == 2));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(sup.stop(), 0);
}

#[test]
fn missing_or_unexecutable_run_warns_and_backs_off() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.join("svc")).expect("mkdir");
    sb.write("svc/backoff", "100 200");
    let dir = sb.join("svc");
    let sup = ours(&dir);
    let st = sup.wait_for("start failed", |s| {
        s.ext
            .is_some_and(|e| e.backoff_cause == BackoffCause::StartFailed)
    });
    assert_eq!(st.pid, 0);
    let expected = format!(
        "supervise: warning: unable to start {}/run: file does not exist",
        dir.display()
    );
    // Three tries, one warning: once per reason, not at every try (issue 15 item 6).
    sup.wait_for("three failures", |s| s.ext.is_some_and(|e| e.failures >= 3));
    assert_eq!(
        sup.stderr().lines().collect::<Vec<_>>(),
        [expected.as_str()]
    );
    // not a tight loop: about one attempt per 100-200 ms
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        sup.status()
            .and_then(|s| s.ext)
            .is_some_and(|e| e.failures < 10),
        "{}",
        sup.stderr()
    );
    // not executable: access denied
    sb.write("svc/run", "#!/bin/sh\nexec sleep 100\n");
    assert!(eventually(SOON, || sup
        .stderr()
        .contains("run: access denied")));
    // made executable: it starts at the next attempt
    sb.script("svc/run", "#!/bin/sh\nexec sleep 100\n");
    sup.wait_up();
    assert_eq!(sup.stop(), 0);
}

#[test]
fn finish_gets_exit_code_and_signal_before_the_restart() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "50 100 50");
    sb.script("svc/finish", "#!/bin/sh\necho \"$@\" >> ../finished\n");
    let dir = sb.service(
        "svc",
        "echo $$ >> ../starts\nif [ ! -e ../once ]; then touch ../once; exit 3; fi\nexec sleep 100",
    );
    let sup = ours(&dir);
    assert!(eventually(SOON, || lines(&sb.join("finished")) == ["3 0"]));
    let pid = wait_starts(&sb, 2)[1];
    sup.wait_for("second run up", |s| s.pid == pid);
    sup.send(b"k");
    assert!(eventually(SOON, || lines(&sb.join("finished")).len() == 2));
    assert_eq!(lines(&sb.join("finished"))[1], "-1 9");
    sup.wait_for("restarted", |s| s.pid != 0 && s.pid != pid);
    assert!(no_lasting_zombies(sup.pid()));
    assert_eq!(sup.stop(), 0);
}

#[test]
fn finish_that_hangs_is_killed_after_timeout_finish() {
    let sb = Sandbox::new();
    sb.write("svc/timeout-finish", "500");
    sb.script(
        "svc/finish",
        "#!/bin/sh\necho $$ >> ../finishers\nexec sleep 100\n",
    );
    let dir = sb.service("svc", "echo $$ >> ../starts\nsleep 1.1\nexit 0");
    let sup = ours(&dir);
    let st = sup.wait_for("finishing", |s| {
        s.ext.is_some_and(|e| e.state == State::Finishing)
    });
    assert_eq!(st.pid, 0);
    assert!(eventually(SOON, || !lines(&sb.join("finishers")).is_empty()));
    let finisher: i32 = lines(&sb.join("finishers"))[0].parse().expect("pid");
    // killed after 500 ms, then run starts again
    assert!(eventually(SOON, || start_pids(&sb).len() >= 2));
    assert!(eventually(SOON, || !alive(finisher)));
    assert_eq!(sup.stop(), 0);
}

#[test]
fn second_supervise_fails_on_lock() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let sup = ours(&dir);
    wait_starts(&sb, 1);
    let expected = format!(
        "supervise: fatal: unable to acquire {}/supervise/lock: temporary failure\n",
        dir.display()
    );
    let out = run(cmd("supervise").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(text(&out.stderr), expected);
    if let Some(theirs) = peer("/usr/bin/supervise") {
        // theirs against ours: the same lock
        let them = run(std::process::Command::new(&theirs).arg(&dir), LIMIT);
        assert_eq!(them.status.code(), Some(111));
        assert_eq!(text(&them.stderr), expected);
        assert_eq!(sup.stop(), 0);
        // ours against theirs
        let sb2 = Sandbox::new();
        let dir2 = sb2.service("svc", "exec sleep 100");
        let theirs = Supervised::start(&theirs, &dir2);
        let out = run(cmd("supervise").arg(&dir2), LIMIT);
        assert_eq!(out.status.code(), Some(111));
        assert_eq!(
            text(&out.stderr),
            format!(
                "supervise: fatal: unable to acquire {}/supervise/lock: temporary failure\n",
                dir2.display()
            )
        );
        assert_eq!(theirs.stop(), 0);
    } else {
        assert_eq!(sup.stop(), 0);
    }
    assert_eq!(wait_starts(&sb, 1).len(), 1);
}

#[test]
fn sigterm_to_supervise_takes_the_service_down_then_exits() {
    for signal in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        let sb = Sandbox::new();
        let dir = sb.service("svc", RECORD_AND_SLEEP);
        let mut sup = ours(&dir);
        let pid = sup.wait_up();
        sup.signal(signal);
        assert_eq!(sup.wait_exit(), 0, "{signal:?}");
        assert!(eventually(SOON, || !alive(pid as i32)), "{signal:?}");
        let st = sup.status().expect("status");
        assert_eq!((st.pid, st.want), (0, Want::Down));
        assert!(
            sb.processes().is_empty(),
            "{signal:?}: left {:?}",
            sb.processes()
        );
    }
}

#[test]
fn malformed_control_bytes_are_ignored() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    sb.write("svc/down", "");
    let sup = ours(&dir);
    let garbage: Vec<u8> = (0u8..=255)
        .filter(|b| vigil_proto::control::Control::from_byte(*b).is_none())
        .collect();
    assert!(eventually(LIMIT, || procfs::sleeps_in_poll(sup.pid())));
    let before = procfs::wakeups(sup.pid()).unwrap_or(0);
    sup.send(&garbage);
    sup.send(&[0xff; 100]);
    handled(&sup, before);
    let st = sup.status().expect("status");
    assert_eq!((st.pid, st.want), (0, Want::Down));
    sup.send(b"zz\nu\0");
    sup.wait_up();
    assert_eq!(sup.stop(), 0);
}

#[test]
fn adopts_the_run_after_supervise_is_killed() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let mut first = ours(&dir);
    let pid = first.wait_up();
    wait_starts(&sb, 1);
    let when = first.status().expect("status").when;
    first.signal(Signal::SIGKILL);
    first.wait_exit();
    assert!(alive(pid as i32), "the run outlives a SIGKILLed supervise");
    let second = ours(&dir);
    let st = second.status().expect("status");
    assert_eq!(st.pid, pid, "adopted, not restarted");
    assert_eq!(st.when, when, "uptime continues");
    assert!(eventually(LIMIT, || procfs::sleeps_in_poll(second.pid())));
    assert_eq!(wait_starts(&sb, 1), [pid], "never a second copy");
    // signals reach it; its exit restarts the service
    second.send(b"k");
    let next = second
        .wait_for("restarted", |s| s.pid != 0 && s.pid != pid)
        .pid;
    assert_eq!(wait_starts(&sb, 2), [pid, next]);
    assert_eq!(second.stop(), 0);
    assert!(!alive(next as i32));
}

#[test]
fn a_reused_pid_is_not_adopted() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let mut first = ours(&dir);
    let pid = first.wait_up();
    first.signal(Signal::SIGKILL);
    first.wait_exit();
    // the recorded pid now belongs to no process of this service: make the file say it
    // started long ago, so the live run (started later) must not be taken for it
    let mut st = first.status().expect("status");
    st.when = vigil_proto::tai::Tai64n::from_unix(1_000_000_000, 0);
    vigil_proto::status::write(dir.as_os_str(), &st).expect("write");
    let second = ours(&dir);
    let next = second
        .wait_for("fresh start", |s| s.pid != 0 && s.pid != pid)
        .pid;
    assert_ne!(next, pid);
    assert_eq!(second.stop(), 0);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL).ok();
}

#[test]
fn strays_of_a_dead_run_are_stopped() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "5000 5000 100");
    // a child that ignores TERM, left behind when run exits
    let dir = sb.service(
        "svc",
        "echo $$ >> ../starts\n(trap '' TERM; exec sleep 100) & echo $! >> ../strays\nsleep 0.3\nexit 0",
    );
    let sup = ours(&dir);
    assert!(eventually(SOON, || start_pids(&sb).len() >= 2));
    let stray: i32 = lines(&sb.join("strays"))[0].parse().expect("pid");
    // TERM is ignored: KILL comes after the grace period
    assert!(eventually(SOON, || !alive(stray)), "stray {stray} survived");
    assert!(no_lasting_zombies(sup.pid()), "strays reaped");
    assert_eq!(sup.stop(), 0);
}

#[test]
fn keep_strays_opts_out_of_stray_cleanup() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "5000 5000 100");
    sb.write("svc/keep-strays", "");
    let dir = sb.service(
        "svc",
        "echo $$ >> ../starts\n(exec sleep 100) & echo $! >> ../strays\nsleep 0.3\nexit 0",
    );
    let sup = ours(&dir);
    assert!(eventually(SOON, || start_pids(&sb).len() >= 2));
    let stray: i32 = lines(&sb.join("strays"))[0].parse().expect("pid");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alive(stray), "keep-strays: left alone");
    assert_eq!(sup.stop(), 0);
}

#[test]
fn timeout_kill_ends_a_stop_that_never_finishes() {
    let sb = Sandbox::new();
    sb.write("svc/timeout-kill", "200");
    let dir = sb.service(
        "svc",
        "trap '' TERM\necho $$ >> ../starts\nwhile :; do sleep 1 & wait $!; done",
    );
    let sup = ours(&dir);
    let pid = sup.wait_up();
    // The trap is set once the script has written its pid: a TERM before that would kill it.
    assert!(eventually(SOON, || !start_pids(&sb).is_empty()));
    sup.send(b"d");
    let st = sup.wait_for("killed", |s| s.pid == 0);
    assert_eq!(st.ext.and_then(|e| e.last_exit), Some(libc::SIGKILL));
    assert!(!alive(pid as i32));
    assert!(
        eventually(SOON, || sb.processes().len() == 1),
        "only supervise left"
    );
    assert_eq!(sup.stop(), 0);
}

#[test]
fn without_timeout_kill_a_stop_waits_as_daemontools() {
    let sb = Sandbox::new();
    let dir = sb.service(
        "svc",
        "trap '' TERM\necho $$ >> ../starts\nwhile :; do sleep 1 & wait $!; done",
    );
    let sup = ours(&dir);
    let pid = sup.wait_up();
    wait_starts(&sb, 1); // the trap is set
    sup.send(b"d");
    let st = sup.wait_for("stopping", |s| {
        s.ext.is_some_and(|e| e.state == State::Stopping)
    });
    assert_eq!((st.pid, st.want), (pid, Want::Down));
    // Without timeout-kill no KILL is due: supervise waits with no deadline at all.
    assert!(
        eventually(LIMIT, || procfs::sleeps_without_deadline(sup.pid())),
        "a deadline is set while stopping"
    );
    assert!(alive(pid as i32));
    sup.send(b"k");
    sup.wait_for("down", |s| s.pid == 0);
    assert_eq!(sup.stop(), 0);
}

#[test]
fn vanished_service_dir_warns_and_backs_off() {
    let sb = Sandbox::new();
    sb.write("svc/backoff", "100 200 500");
    let dir = sb.service("svc", "echo $$ >> ../starts\nexec sleep 0.2");
    let mut sup = ours(&dir);
    wait_starts(&sb, 1);
    fs::remove_dir_all(&dir).expect("rm -rf DIR");
    let expected = format!(
        "supervise: warning: unable to start {}/run: file does not exist",
        dir.display()
    );
    assert!(
        eventually(SOON, || sup.stderr().contains(&expected)),
        "{}",
        sup.stderr()
    );
    // backs off (no tight loop) and stays alive
    std::thread::sleep(Duration::from_millis(500));
    assert!(sup.stderr().lines().count() < 10, "{}", sup.stderr());
    assert!(sup.running());
    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit(), 0);
}

#[test]
fn supervise_dir_matches_daemontools() {
    let Some(theirs) = peer("/usr/bin/supervise") else {
        return;
    };
    let listing = |program: &std::path::Path| {
        let sb = Sandbox::new();
        let dir = sb.service("svc", "exec sleep 100");
        let sup = Supervised::start(program, &dir);
        sup.wait_up();
        use std::os::unix::fs::MetadataExt;
        let mut entries: Vec<(String, u32)> = fs::read_dir(dir.join("supervise"))
            .expect("supervise/")
            .map(|e| {
                let e = e.expect("entry");
                let mode = e.metadata().expect("stat").mode();
                (e.file_name().to_string_lossy().into_owned(), mode)
            })
            // NEW in vigil, not daemontools': the event journal (docs/events.md) and the
            // service's cgroup (docs/cgroups.md).
            .filter(|(name, _)| name != "events" && name != "cgroup")
            .collect();
        entries.sort();
        let top = fs::metadata(dir.join("supervise")).expect("stat").mode();
        assert_eq!(sup.stop(), 0);
        (top, entries)
    };
    assert_eq!(listing(&bin("supervise")), listing(&theirs));
}

#[test]
fn idle_supervise_never_wakes() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let sup = ours(&dir);
    sup.wait_up();
    wait_starts(&sb, 1);
    let switches = || {
        fs::read_to_string(format!("/proc/{}/status", sup.pid()))
            .expect("status")
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>()
    };
    std::thread::sleep(Duration::from_millis(200)); // let start-up work settle
    let before = switches();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(switches(), before, "supervise woke while idle");
    assert_eq!(sup.stop(), 0);
}

/// Issue 12, item 8: `svc -d` queued while supervise is stopped, then the run dies: on SIGCONT
/// the `d` is applied before the exit, so the service is not started again (and then killed).
#[test]
fn down_queued_while_stopped_is_applied_before_the_exit_issue_12() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    // No run is a quick exit: the exit alone would restart the service at once.
    sb.write("svc/backoff", "1000 60000 0\n");
    let s = ours(&dir);
    let pid = s.wait_up();
    assert_eq!(wait_starts(&sb, 1), [pid]);
    s.signal(Signal::SIGSTOP);
    assert!(eventually(LIMIT, || crate::util::procfs::state(s.pid()) == Some('T')));
    s.send(b"d");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM)
        .expect("kill run");
    // The run is dead, waiting for its stopped parent to reap it.
    assert!(eventually(LIMIT, || crate::util::procfs::state(pid as i32)
        == Some('Z')));
    s.signal(Signal::SIGCONT);
    let status = s.wait_for("down", |st| st.pid == 0 && st.want == Want::Down);
    assert_eq!(status.want, Want::Down);
    // The same poll brought the exit and the `d`: no second start (which the `d` then kills
    // before its shell records it) is in the journal.
    let starts = || {
        let out = run(cmd("svwatch").arg("--no-follow").arg(&dir), LIMIT);
        text(&out.stdout).matches("\"event\":\"up\"").count()
    };
    assert_eq!(starts(), 1, "started again: {}", s.stderr());
    assert_eq!(s.stop(), 0);
    assert_eq!(start_pids(&sb), [pid]);
    assert_eq!(starts(), 1);
}

/// Issue 12, item 2: FIFOs and links to `/dev/zero` or to a root-only file as settings: each
/// is one warning naming it and counts as absent; supervise neither blocks nor grows nor reads
/// through the link, the service starts and `svc` works.
#[test]
fn bad_setting_files_are_warned_once_and_ignored_issue_12() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    sb.script("svc/notify", "#!/bin/sh\nexit 0\n");
    let secret = sb.write("shadow", "root:secret-hash:19000\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
    let fifos = [
        "backoff",
        "notification-fd",
        "notify-timeout",
        "limit-interval",
        "on-limit",
    ];
    for name in fifos {
        nix::unistd::mkfifo(&dir.join(name), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    }
    let zeros = [
        "max-memory",
        "timeout-kill",
        "timeout-finish",
        "max-threads",
    ];
    for name in zeros {
        symlink("/dev/zero", dir.join(name)).expect("symlink");
    }
    symlink(&secret, dir.join("max-cpu")).expect("symlink");
    sb.write("svc/max-files", "x".repeat(5000));
    let s = ours(&dir);
    let pid = s.wait_up();
    s.send(b"d");
    s.wait_for("down", |st| st.pid == 0 && st.want == Want::Down);
    s.send(b"u");
    let again = s.wait_up();
    assert_ne!(pid, again);
    let rss_kb: u64 = crate::util::procfs::status_field(s.pid(), "VmRSS")
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .expect("VmRSS");
    assert!(rss_kb < 20_000, "supervise grew to {rss_kb} kB");
    let d = dir.display();
    let expect = |name: &str, reason: &str| -> String {
        match name {
            n if n.starts_with("max-") || n == "on-limit" || n == "limit-interval" => {
                format!("supervise: warning: {d}/{name}: unable to read: {reason}; ignored")
            }
            _ => format!("supervise: warning: unable to read {d}/{name}: {reason}"),
        }
    };
    let mut wanted: Vec<String> = fifos
        .iter()
        .map(|n| expect(n, "not a regular file"))
        .chain(
            zeros
                .iter()
                .chain(&["max-cpu"])
                .map(|n| expect(n, "is a symbolic link")),
        )
        .chain([expect("max-files", "file too big")])
        .collect();
    // notify-timeout is read when `notify` runs, after the first event.
    assert!(
        eventually(LIMIT, || s.stderr().lines().count() >= wanted.len()),
        "{}",
        s.stderr()
    );
    let mut got: Vec<String> = s.stderr().lines().map(str::to_owned).collect();
    got.sort();
    wanted.sort();
    assert_eq!(got, wanted);
    assert!(!s.stderr().contains("secret"));
    assert_eq!(s.stop(), 0);
}

/// Issue 12, item 2: a bad value in a regular setting file is one warning naming the file (a
/// `notify-timeout` of garbage was silently replaced by the default), and the default holds.
#[test]
fn bad_setting_values_are_warned_once_issue_12() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    sb.script("svc/notify", "#!/bin/sh\nexit 0\n");
    sb.write("svc/notify-timeout", "soon\n");
    sb.write("svc/notification-fd", "two\n");
    sb.write("svc/backoff", "1 2 3 4\n");
    let s = ours(&dir);
    let pid = s.wait_up();
    s.send(b"k");
    s.wait_for("restarted", |st| st.pid != 0 && st.pid != pid);
    let d = dir.display();
    let mut wanted: Vec<String> = ["backoff", "notification-fd", "notify-timeout"]
        .iter()
        .map(|n| format!("supervise: warning: unable to read {d}/{n}: bad format"))
        .collect();
    assert!(
        eventually(LIMIT, || s.stderr().lines().count() >= wanted.len()),
        "{}",
        s.stderr()
    );
    let mut got: Vec<String> = s.stderr().lines().map(str::to_owned).collect();
    got.sort();
    wanted.sort();
    assert_eq!(got, wanted);
    let err = dir.with_extension("err");
    assert_eq!(s.stop(), 0);
    assert_eq!(
        fs::read_to_string(err).expect("stderr").lines().count(),
        wanted.len()
    );
}

/// Issue 12, item 2: a FIFO where `supervise/status` belongs (read at start, to adopt a run a
/// killed supervise left) neither blocks supervise nor keeps the service from starting. (The
/// test never opens the FIFO itself: it waits for supervise to replace it with a file.)
#[test]
fn a_fifo_as_the_old_status_file_does_not_block_start_issue_12() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    fs::create_dir(dir.join("supervise")).expect("mkdir");
    let status = dir.join("supervise/status");
    nix::unistd::mkfifo(&status, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let mut sup = crate::util::Spawned::start(
        cmd("supervise")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    assert!(
        eventually(LIMIT, || fs::symlink_metadata(&status)
            .is_ok_and(|m| m.is_file())),
        "supervise/status is still a FIFO: supervise blocked on it"
    );
    assert!(eventually(LIMIT, || fs::read(&status)
        .ok()
        .and_then(|b| vigil_proto::status::Status::decode(&b).ok())
        .is_some_and(|st| st.pid != 0)));
    let out = run(cmd("svc").arg("-dx").arg(&dir), LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exit = sup.wait_timeout(LIMIT).expect("supervise exits");
    assert_eq!(exit.code(), Some(0));
}

/// A run that ignores TERM and leaves on INT (postgres' fast shutdown), recording it.
const TERM_IGNORED_INT_EXITS: &str = "trap '' TERM\ntrap 'echo int >> ../got; exit 0' INT\n\
echo $$ >> ../starts\nwhile :; do sleep 1 & wait $!; done";

/// Issue 15 item 5: `down-signal` replaces TERM for `svc -d` (and `svc -dx`).
#[test]
fn down_signal_replaces_term_for_svc_d_issue_15() {
    let sb = Sandbox::new();
    sb.write("svc/down-signal", "SIGINT\n");
    let dir = sb.service("svc", TERM_IGNORED_INT_EXITS);
    let sup = ours(&dir);
    let pid = sup.wait_up();
    wait_starts(&sb, 1);
    let out = run(cmd("svc").arg("-d").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let st = sup.wait_for("down on INT", |s| s.pid == 0);
    assert_eq!(
        st.ext.and_then(|e| e.last_exit),
        Some(0),
        "exited, not killed"
    );
    assert_eq!(lines(&sb.join("got")), ["int"]);
    assert!(!alive(pid as i32));
    // The name without SIG works too, and -dx stops it the same way.
    sb.write("svc/down-signal", "INT");
    sup.send(b"u");
    let pid = sup.wait_for("up again", |s| s.pid != 0 && s.pid != pid).pid;
    wait_starts(&sb, 2);
    let out = run(cmd("svc").arg("-dx").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut sup = sup;
    assert_eq!(sup.wait_exit(), 0);
    assert_eq!(lines(&sb.join("got")), ["int", "int"]);
    assert!(!alive(pid as i32));
    assert!(!sup.stderr().contains("warning"), "{}", sup.stderr());
}

/// Issue 15 item 5: a `down-signal` that names no signal is a warning, and TERM is sent;
/// `timeout-kill` still follows a down-signal the service ignores.
#[test]
fn bad_down_signal_warns_and_terms_and_timeout_kill_follows_issue_15() {
    let sb = Sandbox::new();
    sb.write("svc/down-signal", "SIGNOPE\n");
    let dir = sb.service(
        "svc",
        "trap 'echo term >> ../got; exit 0' TERM\necho $$ >> ../starts\n\
         while :; do sleep 1 & wait $!; done",
    );
    let sup = ours(&dir);
    sup.wait_up();
    wait_starts(&sb, 1);
    sup.send(b"d");
    sup.wait_for("down on TERM", |s| s.pid == 0);
    assert_eq!(lines(&sb.join("got")), ["term"]);
    let warning = format!(
        "supervise: warning: unable to read {}/down-signal: unknown signal, TERM used\n",
        dir.display()
    );
    assert_eq!(
        sup.stderr().matches(&warning).count(),
        1,
        "{}",
        sup.stderr()
    );
    // A signal the run ignores: timeout-kill ends it with KILL.
    sb.write("svc/down-signal", "USR1");
    sb.write("svc/timeout-kill", "300");
    fs::write(
        dir.join("run"),
        "#!/bin/sh\ntrap '' USR1\necho $$ >> ../starts\nwhile :; do sleep 1 & wait $!; done\n",
    )
    .expect("rewrite run");
    sup.send(b"u");
    wait_starts(&sb, 2);
    sup.wait_for("up again", |s| s.pid != 0);
    sup.send(b"d");
    let st = sup.wait_for("killed", |s| {
        s.pid == 0 && s.ext.is_some_and(|e| e.last_exit.is_some())
    });
    assert_eq!(st.ext.and_then(|e| e.last_exit), Some(libc::SIGKILL));
    assert_eq!(sup.stop(), 0);
}

/// A daemon of redis' and postgres' shape: `cd /`, then it holds a TCP port on loopback (a
/// second copy fails to bind and exits 1) and records its pid in `started`.
fn port_daemon(sb: &Sandbox, port: u16) -> std::path::PathBuf {
    let started = sb.join("started");
    sb.service(
        "db",
        &format!(
            "cd /\nexec python3 -c '\n\
import os, signal, socket, sys\n\
s = socket.socket()\n\
try:\n    s.bind((\"127.0.0.1\", {port}))\n\
except OSError as e:\n    sys.stderr.write(\"db: bind: %s\\n\" % e); sys.exit(1)\n\
s.listen(1)\n\
open(sys.argv[1], \"a\").write(\"%d\\n\" % os.getpid())\n\
while True: signal.pause()\n' {}",
            started.display()
        ),
    )
}

/// The daemons `port_daemon` recorded; dropped, kills those still running it (they left the
/// sandbox with `cd /`, so the Sandbox's clean-up by working directory misses them).
struct Daemons(std::path::PathBuf);

impl Daemons {
    fn pids(&self) -> Vec<i32> {
        lines(&self.0)
            .iter()
            .filter_map(|l| l.parse().ok())
            .collect()
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        let mark = self.0.as_os_str().as_encoded_bytes().to_vec();
        for pid in self.pids() {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.windows(mark.len()).any(|w| w == mark) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address").port()
}

/// Issue 15 item 1: a daemon that changed directory (redis, postgres) is adopted after a
/// SIGKILLed supervise, by its pid and kernel start time: no second copy fails on the port
/// and crash-loops while the first runs unsupervised.
#[test]
fn a_daemon_that_chdirs_is_adopted_by_start_time_issue_15() {
    let sb = Sandbox::new();
    let port = free_port();
    let dir = port_daemon(&sb, port);
    let daemons = Daemons(sb.join("started"));
    let mut first = ours(&dir);
    let pid = first.wait_up();
    assert!(
        eventually(LIMIT, || daemons.pids() == [pid as i32]),
        "listening"
    );
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).expect("cwd");
    assert_eq!(
        cwd,
        std::path::Path::new("/"),
        "the daemon left its directory"
    );
    let bytes = vigil_proto::status::read(dir.as_os_str()).expect("status");
    let recorded = vigil_proto::status::RunIdentity::read_from(&bytes).expect("identity");
    let ticks = procfs::start_ticks(pid as i32).expect("start time");
    assert_eq!(recorded.start_ticks, ticks, "start time in the status file");
    eprintln!(
        "run {pid} (cwd {}) holds 127.0.0.1:{port}, start time {ticks} ticks",
        cwd.display()
    );

    let first_pid = first.pid();
    first.signal(Signal::SIGKILL);
    first.wait_exit();
    assert!(alive(pid as i32), "the run outlives a SIGKILLed supervise");
    eprintln!("supervise {first_pid} killed with SIGKILL; run {pid} alive");
    let second = ours(&dir);
    assert!(eventually(LIMIT, || procfs::sleeps_in_poll(second.pid())));
    let st = second.status().expect("status");
    eprintln!(
        "new supervise {}: status pid {}, state {:?}",
        second.pid(),
        st.pid,
        st.ext.map(|e| e.state)
    );
    assert_eq!(st.pid, pid, "adopted, not restarted: {}", second.stderr());
    assert_eq!(st.ext.map(|e| e.state), Some(State::Up));
    let out = run(cmd("svstat").arg(&dir), LIMIT);
    eprintln!("svstat: {}", text(&out.stdout).trim_end());
    assert_eq!(daemons.pids(), [pid as i32], "never a second copy");
    assert_eq!(second.status().map(|s| s.pid), Some(pid));
    assert!(!second.stderr().contains("bind"), "{}", second.stderr());
    // The adopted run is the service: svc -d stops it, and it is not restarted.
    let out = run(cmd("svc").arg("-d").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0));
    second.wait_for("down", |s| s.pid == 0);
    assert!(!alive(pid as i32));
    eprintln!(
        "svc -d: run {pid} stopped; starts recorded: {:?}",
        daemons.pids()
    );
    assert_eq!(daemons.pids(), [pid as i32]);
    assert_eq!(second.stop(), 0);
}

/// Issue 15 item 1: a recorded start time that differs from the live process's is not this
/// service's run (a reused pid), even in the service directory, started before the file's time.
#[test]
fn a_run_whose_start_time_differs_from_the_record_is_not_adopted_issue_15() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", RECORD_AND_SLEEP);
    let mut first = ours(&dir);
    let pid = first.wait_up();
    wait_starts(&sb, 1);
    first.signal(Signal::SIGKILL);
    first.wait_exit();
    let mut bytes = vigil_proto::status::read(dir.as_os_str()).expect("status");
    let recorded = vigil_proto::status::RunIdentity::read_from(&bytes).expect("identity");
    bytes[84..92].copy_from_slice(&(recorded.start_ticks + 1).to_le_bytes());
    fs::write(dir.join("supervise/status"), &bytes).expect("rewrite status");
    let second = ours(&dir);
    let next = second
        .wait_for("fresh start", |s| s.pid != 0 && s.pid != pid)
        .pid;
    assert_eq!(wait_starts(&sb, 2), [pid, next]);
    assert_eq!(second.stop(), 0);
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
}
