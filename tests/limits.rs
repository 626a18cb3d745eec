//! Resource limits (issue 7): supervise samples a service only while it has a limit file, and
//! acts on a breach as `on-limit` says. Windows and intervals are short so each test takes a
//! few seconds; the bounds are loose (the machine is shared).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use vigil_proto::status::{self, Want};
use vigil_proto::status::{BreachKind, BreachRecord as Record};

use crate::util::observe::{json_field, wakeups};
use crate::util::supervise::{alive, lines, Supervised};
use crate::util::{bin, eventually, procfs, Sandbox};

const LIMIT: Duration = Duration::from_secs(15);

fn ours(dir: &Path) -> Supervised {
    Supervised::start(&bin("supervise"), dir)
}

/// The breach fields of the status file.
fn record(dir: &Path) -> Option<Record> {
    Record::read_from(&status::read(dir.as_os_str()).ok()?)
}

/// Waits until the status records `n` breaches; the record.
fn wait_breaches(sup: &Supervised, n: u32) -> Record {
    let mut last = None;
    let ok = eventually(LIMIT, || {
        last = record(&sup.dir);
        last.is_some_and(|r| r.count >= n)
    });
    assert!(
        ok,
        "{n} breaches expected, record {last:?}; stderr: {}",
        sup.stderr()
    );
    last.expect("record")
}

/// Waits until supervise has woken `n` more times: with a limit file and nothing else
/// happening, each wake-up is a sample, so `n` samples ran (a test that then asserts nothing
/// happened fails when the code is wrong, not when it is slow).
fn wait_samples(sup: &Supervised, n: u64) {
    let start = wakeups(sup.pid()).unwrap_or(0);
    assert!(
        eventually(LIMIT, || wakeups(sup.pid()).unwrap_or(0) >= start + n),
        "supervise took no {n} samples; stderr: {}",
        sup.stderr()
    );
}

/// Pids of the processes named `comm` running in `dir` (the sandbox).
fn named(sb: &Sandbox, comm: &str) -> Vec<i32> {
    sb.processes()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

#[test]
fn a_spinner_is_restarted_after_its_cpu_window() {
    let sb = Sandbox::new();
    let dir = sb.service("spin", "exec sh -c 'while :; do :; done'");
    // 20%: a spinner gets that much of a core even while the other tests load the machine.
    sb.write("spin/max-cpu", "20 2\n");
    sb.write("spin/limit-interval", "250\n");
    let sup = ours(&dir);
    let first = sup.wait_up();
    let seen_up = Instant::now();
    let ok = eventually(LIMIT, || {
        sup.status().is_some_and(|s| s.pid != 0 && s.pid != first)
    });
    let restarted_after = seen_up.elapsed();
    assert!(ok, "not restarted; stderr: {}", sup.stderr());
    // Not before its 2 s window (less a little: the start was seen late), and within a loose
    // bound of the window's end (one interval when the machine is idle).
    assert!(
        restarted_after >= Duration::from_millis(1500),
        "{restarted_after:?}"
    );
    assert!(
        restarted_after < Duration::from_secs(8),
        "{restarted_after:?}"
    );
    let r = wait_breaches(&sup, 1);
    assert_eq!(r.last.map(|(_, kind)| kind), Some(BreachKind::Cpu));
    assert!(
        sup.stderr().contains("spin: max-cpu passed: "),
        "{}",
        sup.stderr()
    );
    assert!(!alive(first as i32));
}

#[test]
fn a_service_under_its_limits_is_never_touched() {
    let sb = Sandbox::new();
    let dir = sb.service("calm", "exec sleep 100");
    sb.write("calm/max-cpu", "50 1\n");
    sb.write("calm/max-memory", "500M\n");
    sb.write("calm/max-threads", "10\n");
    sb.write("calm/max-files", "100\n");
    sb.write("calm/limit-interval", "100\n");
    let sup = ours(&dir);
    let pid = sup.wait_up();
    // Twenty samples and two whole windows.
    wait_samples(&sup, 20);
    let status = sup.status().expect("status");
    assert_eq!(status.pid, pid);
    assert_eq!(record(&dir), Some(Record::default()), "{}", sup.stderr());
    assert_eq!(sup.stderr(), "");
}

#[test]
fn a_memory_hog_child_is_restarted_and_gone() {
    let sb = Sandbox::new();
    // run (sh) starts `tail`, which holds 64 MB; after a restart it only sleeps.
    let dir = sb.service(
        "hog",
        "echo $$ >> ../starts\n\
         if [ -e ../hogged ]; then exec sleep 100; fi\n\
         touch ../hogged\n\
         (head -c 64M /dev/zero; exec sleep 100) | tail -c 60M > /dev/null",
    );
    sb.write("hog/max-memory", "24M\n");
    sb.write("hog/limit-interval", "200\n");
    let sup = ours(&dir);
    let first = sup.wait_up();
    let mut hog = Vec::new();
    assert!(eventually(LIMIT, || {
        hog = named(&sb, "tail");
        !hog.is_empty()
    }));
    let r = wait_breaches(&sup, 1);
    assert_eq!(r.last.map(|(_, kind)| kind), Some(BreachKind::Memory));
    sup.wait_for("restarted", |s| s.pid != 0 && s.pid != first);
    // The child that held the memory is gone, not orphaned.
    assert!(
        eventually(LIMIT, || hog.iter().all(|&p| !alive(p))),
        "hog {hog:?} outlived the restart"
    );
    assert!(named(&sb, "tail").is_empty());
    assert!(eventually(LIMIT, || lines(&sb.join("starts")).len() == 2));
    assert!(
        sup.stderr().contains("hog: max-memory passed: "),
        "{}",
        sup.stderr()
    );
}

/// A service over a tiny memory cap (any process passes 1 KB) with `on-limit` set to
/// `action`; its supervise, once up.
fn over_the_cap(sb: &Sandbox, action: &str, run: &str) -> (Supervised, u32) {
    let dir = sb.service("svc", run);
    sb.write("svc/max-memory", "1K\n");
    sb.write("svc/limit-interval", "150\n");
    sb.write("svc/on-limit", action);
    let sup = ours(&dir);
    let pid = sup.wait_up();
    (sup, pid)
}

#[test]
fn on_limit_stop_takes_the_service_down() {
    let sb = Sandbox::new();
    let (sup, pid) = over_the_cap(&sb, "stop\n", "exec sleep 100");
    let status = sup.wait_for("down", |s| s.pid == 0 && s.want == Want::Down);
    assert_eq!(status.want, Want::Down);
    assert!(eventually(LIMIT, || !alive(pid as i32)));
    assert_eq!(wait_breaches(&sup, 1).count, 1);
    // Down it stays.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sup.status().map(|s| s.pid), Some(0));
}

#[test]
fn on_limit_signal_sends_it_and_nothing_else() {
    let sb = Sandbox::new();
    let (sup, pid) = over_the_cap(
        &sb,
        "signal USR1\n",
        "trap 'echo usr1 >> ../got' USR1\nwhile :; do sleep 0.05; done",
    );
    assert!(
        eventually(LIMIT, || !lines(&sb.join("got")).is_empty()),
        "no USR1; stderr: {}",
        sup.stderr()
    );
    // Reported once while it stays over: one signal, one breach, same pid.
    wait_samples(&sup, 4);
    assert_eq!(lines(&sb.join("got")), ["usr1"]);
    assert_eq!(record(&sup.dir).map(|r| r.count), Some(1));
    assert_eq!(sup.status().map(|s| s.pid), Some(pid));
}

#[test]
fn on_limit_notify_records_the_breach_only() {
    let sb = Sandbox::new();
    sb.script(
        "svc/notify",
        "#!/bin/sh\nenv | grep -E '^VIGIL_(LIMIT|VALUE)' >> limits.env\nexit 0\n",
    );
    let (sup, pid) = over_the_cap(&sb, "notify\n", "exec sleep 100");
    let r = wait_breaches(&sup, 1);
    assert_eq!(r.last.map(|(_, kind)| kind), Some(BreachKind::Memory));
    wait_samples(&sup, 3);
    assert_eq!(sup.status().map(|s| s.pid), Some(pid));
    assert!(alive(pid as i32));
    assert!(sup.stderr().contains("; notify"), "{}", sup.stderr());
    // An event on the same channels as the others: `l`, `limit` in svwatch.
    let out = crate::util::run(
        crate::util::cmd("svwatch")
            .current_dir(sb.path())
            .args(["--no-follow", "svc"]),
        LIMIT,
    );
    let events = crate::util::text(&out.stdout);
    let limit: Vec<&str> = events
        .lines()
        .filter(|l| json_field(l, "event") == Some("\"limit\""))
        .collect();
    assert_eq!(limit.len(), 1, "{events}");
    assert_eq!(json_field(limit[0], "letter"), Some("\"l\""));
    assert_eq!(json_field(limit[0], "pid"), Some(pid.to_string().as_str()));
    // NEW (issue 15 item 9): which limit, and what was measured in its unit (bytes).
    assert_eq!(json_field(limit[0], "kind"), Some("\"memory\""), "{events}");
    let value: u64 = json_field(limit[0], "value")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value: {events}"));
    assert!(value > 1024, "{value} is not above the 1K cap");
    // The listener is told the same (numbered, as every event of its batch).
    assert!(
        eventually(LIMIT, || lines(&sb.join("svc/limits.env"))
            .iter()
            .any(|l| l.starts_with("VIGIL_LIMIT_") && l.ends_with("=memory"))),
        "{:?}",
        lines(&sb.join("svc/limits.env"))
    );
    assert!(lines(&sb.join("svc/limits.env"))
        .iter()
        .any(|l| l.starts_with("VIGIL_VALUE_") && l.ends_with(&format!("={value}"))));
    // svtop shows it too.
    let out = crate::util::run(
        crate::util::cmd("svtop")
            .current_dir(sb.path())
            .args(["-n", "1", "svc"]),
        LIMIT,
    );
    let view = crate::util::text(&out.stdout);
    let row = view.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("svc ") && row.ends_with(" 1 memory"),
        "{view}"
    );
}

#[test]
fn a_bad_limit_file_is_reported_once_per_change_and_ignored() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    sb.write("svc/max-cpu", "ninety 300\n");
    sb.write("svc/max-memory", "-5M\n");
    let sup = ours(&dir);
    let pid = sup.wait_up();
    let warnings = || {
        sup.stderr()
            .lines()
            .filter(|l| l.contains("warning"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        eventually(LIMIT, || warnings().len() == 2),
        "{:?}",
        warnings()
    );
    let d = dir.display();
    assert!(warnings().contains(&format!(
        "supervise: warning: {d}/max-cpu: not a number: \"ninety\"; ignored"
    )));
    assert!(warnings().contains(&format!(
        "supervise: warning: {d}/max-memory: negative value \"-5\"; ignored"
    )));
    // Control commands re-read the files: no repeat while they do not change. Without valid
    // limits nothing else wakes supervise: once it woke and sleeps again, it read them all.
    let before = wakeups(sup.pid()).unwrap_or(0);
    for _ in 0..3 {
        sup.send(b"c");
    }
    assert!(eventually(LIMIT, || {
        wakeups(sup.pid()).unwrap_or(0) > before && procfs::sleeps_in_poll(sup.pid())
    }));
    assert_eq!(warnings().len(), 2);
    // Another bad value: one more warning.
    sb.write("svc/max-cpu", "90\n");
    sup.send(b"c");
    assert!(
        eventually(LIMIT, || warnings().len() == 3),
        "{:?}",
        warnings()
    );
    assert!(warnings()[2].ends_with("max-cpu: expected PERCENT SECONDS, got \"90\"; ignored"));
    assert_eq!(sup.status().map(|s| s.pid), Some(pid));
}

#[test]
fn services_without_limits_cost_no_wakeups() {
    // 200 services (issue 7); each supervise must sleep through the whole idle period.
    const SERVICES: usize = 200;
    let sb = Sandbox::new();
    let sups: Vec<Supervised> = (0..SERVICES)
        .map(|i| ours(&sb.service(&format!("s{i}"), "exec sleep 100")))
        .collect();
    for sup in &sups {
        sup.wait_up();
    }
    // And one with a limit, which must wake: the measure can see wake-ups.
    let limited = sb.service("limited", "exec sleep 100");
    sb.write("limited/max-memory", "1G\n");
    sb.write("limited/limit-interval", "100\n");
    let limited = ours(&limited);
    limited.wait_up();
    std::thread::sleep(Duration::from_millis(300));
    let before: Vec<u64> = sups.iter().map(|s| wakeups(s.pid()).unwrap_or(0)).collect();
    let limited_before = wakeups(limited.pid()).unwrap_or(0);
    std::thread::sleep(Duration::from_secs(2));
    let woke: Vec<usize> = sups
        .iter()
        .zip(&before)
        .enumerate()
        .filter(|(_, (s, &b))| wakeups(s.pid()).unwrap_or(0) != b)
        .map(|(i, _)| i)
        .collect();
    assert!(woke.is_empty(), "services without limits woke: {woke:?}");
    assert!(wakeups(limited.pid()).unwrap_or(0) >= limited_before + 10);
}

#[test]
fn svstat_shows_usage_and_breaches() {
    let sb = Sandbox::new();
    let (sup, pid) = over_the_cap(&sb, "notify\n", "exec sleep 100");
    wait_breaches(&sup, 1);
    let svstat = |args: &[&str]| {
        let out = crate::util::run(
            crate::util::cmd("svstat").current_dir(sb.path()).args(args),
            LIMIT,
        );
        assert!(out.status.success());
        crate::util::text(&out.stdout)
    };
    let long = svstat(&["-l", "svc"]);
    assert!(long.starts_with(&format!("svc: up (pid {pid}) ")), "{long}");
    assert!(long.contains("; state up, restarts 0, "), "{long}");
    assert!(long.contains(", cpu "), "{long}");
    assert!(long.contains("%, memory "), "{long}");
    assert!(long.contains(", breaches 1 (last memory "), "{long}");
    let json = svstat(&["--json", "svc"]);
    let field = |key: &str| json_field(&json, key).unwrap_or_default();
    assert!(field("cpu_percent").parse::<f64>().is_ok(), "{json}");
    assert!(
        field("memory_bytes").parse::<u64>().is_ok_and(|m| m > 1024),
        "{json}"
    );
    assert_eq!(field("breaches"), "1", "{json}");
    assert!(
        json.contains("\"last_breach\":{\"kind\":\"memory\",\"seconds\":"),
        "{json}"
    );
    // Plain svstat stays daemontools' line.
    let plain = svstat(&["svc"]);
    assert!(!plain.contains("breach") && !plain.contains(';'), "{plain}");
}

#[test]
fn a_restart_that_ignores_term_is_killed_after_timeout_kill() {
    let sb = Sandbox::new();
    // The whole group ignores TERM: only the KILL after timeout-kill (400 ms) ends it.
    sb.write("svc/timeout-kill", "400\n");
    let (sup, pid) = over_the_cap(
        &sb,
        "restart\n",
        "echo $$ >> ../starts\ntrap '' TERM\nwhile :; do sleep 0.05; done",
    );
    let restarted = sup.wait_for("restarted", |s| s.pid != 0 && s.pid != pid);
    assert!(!alive(pid as i32));
    assert!(
        restarted.ext.is_some_and(|e| e.last_exit == Some(9)),
        "{restarted:?}"
    );
    // The new run writes its line a moment after its pid is announced.
    assert!(eventually(LIMIT, || lines(&sb.join("starts")).len() >= 2));
}

#[test]
fn a_limit_file_added_later_counts_from_the_next_control_command() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let sup = ours(&dir);
    let pid = sup.wait_up();
    // supervise reads the limit files at the loop turn after the one whose status shows the
    // run up: once it sleeps in poll again, it has, and files written now are new to it.
    assert!(eventually(LIMIT, || procfs::sleeps_in_poll(sup.pid())));
    sb.write("svc/on-limit", "notify\n");
    sb.write("svc/limit-interval", "100\n");
    sb.write("svc/max-memory", "1K\n");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(record(&dir).map(|r| r.count), Some(0), "no sampling yet");
    sup.send(b"c");
    assert_eq!(wait_breaches(&sup, 1).count, 1);
    // Removed: the next sample sees none, and supervise sleeps again.
    fs::remove_file(sb.join("svc/max-memory")).expect("rm");
    // (the sample that sees the file gone may come late under load)
    let quiet = || {
        let before = wakeups(sup.pid());
        std::thread::sleep(Duration::from_millis(600));
        wakeups(sup.pid()) == before
    };
    assert!(eventually(LIMIT, quiet), "supervise still samples");
    assert_eq!(record(&dir).map(|r| r.count), Some(1));
    assert_eq!(sup.status().map(|s| s.pid), Some(pid));
}

#[test]
fn files_and_threads_caps_count_the_whole_service() {
    let sb = Sandbox::new();
    // Three processes of one thread each: 3 threads > 2.
    let threads = sb.service("threads", "sleep 100 &\nsleep 100 &\nwait");
    sb.write("threads/max-threads", "2\n");
    // sleep holds at least stdin, stdout, stderr: 3 files > 2.
    let files = sb.service("files", "exec sleep 100");
    sb.write("files/max-files", "2\n");
    for name in ["threads", "files"] {
        sb.write(format!("{name}/on-limit"), "notify\n");
        sb.write(format!("{name}/limit-interval"), "150\n");
    }
    let (threads, files) = (ours(&threads), ours(&files));
    for (sup, kind) in [(&threads, BreachKind::Threads), (&files, BreachKind::Files)] {
        sup.wait_up();
        let r = wait_breaches(sup, 1);
        assert_eq!(r.last.map(|(_, k)| k), Some(kind), "{}", sup.stderr());
    }
}

#[test]
fn an_adopted_runs_past_cpu_is_not_a_breach() {
    let sb = Sandbox::new();
    // Spins about a second, then sleeps: its CPU time stays behind it.
    let dir = sb.service(
        "svc",
        "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done\nexec sleep 100",
    );
    let mut first = ours(&dir);
    let pid = first.wait_up();
    assert!(eventually(LIMIT, || fs::read_to_string(format!(
        "/proc/{pid}/comm"
    ))
    .is_ok_and(|c| c.trim() == "sleep")));
    first.signal(nix::sys::signal::Signal::SIGKILL);
    first.wait_exit();
    sb.write("svc/max-cpu", "50 1\n");
    sb.write("svc/limit-interval", "100\n");
    let second = ours(&dir);
    assert_eq!(second.status().map(|s| s.pid), Some(pid), "adopted");
    // A whole window and more of samples.
    wait_samples(&second, 15);
    assert_eq!(
        record(&dir).map(|r| r.count),
        Some(0),
        "{}",
        second.stderr()
    );
    assert_eq!(second.status().map(|s| s.pid), Some(pid));
}
