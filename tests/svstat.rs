//! svstat: daemontools' line for every state, byte for byte against /usr/bin/svstat on the same
//! crafted directories; NEW `-l` and `--json`.

use std::ffi::OsStr;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use vigil_proto::status::{BackoffCause, State, Want};
use vigil_proto::tai::Tai64n;

use crate::util::crafted::{extension, status, Crafted};
use crate::util::{cmd, peer, run, text, Sandbox};

const LIMIT: Duration = Duration::from_secs(10);

fn svstat_in(cwd: &Path, program: &Path, args: &[&str]) -> Output {
    run(Command::new(program).args(args).current_dir(cwd), LIMIT)
}

/// Ours, in `cwd`.
fn ours(cwd: &Path, args: &[&str]) -> Output {
    svstat_in(cwd, &crate::util::bin("svstat"), args)
}

/// Runs ours and daemontools' svstat on the same directories and asserts the same output.
/// Seconds come from the clock, so ours runs before and after the peer: each line of the
/// peer's must be ours with its seconds between the two runs' (under load a run can take
/// longer than a second, so a whole run cannot be expected to fall within one second).
fn same_as_daemontools(cwd: &Path, args: &[&str]) -> Option<Output> {
    let peer = peer("/usr/bin/svstat")?;
    let before = ours(cwd, args);
    let theirs = svstat_in(cwd, &peer, args);
    let after = ours(cwd, args);
    let (b, t, a) = (
        text(&before.stdout),
        text(&theirs.stdout),
        text(&after.stdout),
    );
    let lines = |s: &str| {
        s.split_inclusive('\n')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (bl, tl, al) = (lines(&b), lines(&t), lines(&a));
    let between = bl.len() == tl.len()
        && al.len() == tl.len()
        && (0..tl.len()).all(|i| seconds_between(&bl[i], &tl[i], &al[i]));
    assert!(
        between,
        "svstat {args:?}\n ours: {b}\ntheirs: {t}\n ours after: {a}"
    );
    assert_eq!(text(&after.stderr), text(&theirs.stderr));
    assert_eq!(after.status.code(), theirs.status.code());
    Some(after)
}

/// `line` split around the number before its " seconds": (before, number, after).
fn split_seconds(line: &str) -> Option<(&str, u64, &str)> {
    let end = line.find(" seconds")?;
    let start = line[..end].rfind(' ').map_or(0, |i| i + 1);
    let n = line[start..end].parse().ok()?;
    Some((&line[..start], n, &line[end..]))
}

/// Whether `mid` is `first` (and `last`) but for seconds from `first`'s to `last`'s.
fn seconds_between(first: &str, mid: &str, last: &str) -> bool {
    if mid == first || mid == last {
        return true;
    }
    match (
        split_seconds(first),
        split_seconds(mid),
        split_seconds(last),
    ) {
        (Some((p0, n0, s0)), Some((p1, n1, s1)), Some((p2, n2, s2))) => {
            (p0, s0) == (p1, s1) && (p1, s1) == (p2, s2) && n0 <= n1 && n1 <= n2
        }
        _ => false,
    }
}

/// A sandbox with a directory in every state daemontools' svstat tells apart.
fn every_state() -> (Sandbox, Vec<Crafted>) {
    let sb = Sandbox::new();
    let mut all = Vec::new();
    let add = |name: &str, running: bool| Crafted::new(&sb, name, running);
    all.push(add("up", true).status(&status(1234, 100, false, Want::Up)));
    all.push(
        add("up-normally-down", true)
            .down_file()
            .status(&status(77, 5, false, Want::Up)),
    );
    all.push(add("paused-want-down", true).status(&status(4_000_000, 3, true, Want::Down)));
    all.push(add("down-want-up", true).status(&status(0, 9, false, Want::Up)));
    all.push(
        add("down-want-down", true)
            .down_file()
            .status(&status(0, 12, false, Want::Down)),
    );
    all.push(
        add("down-normally-down-want-up", true)
            .down_file()
            .status(&status(0, 1, false, Want::Up)),
    );
    all.push(add("once", true).status(&status(55, 2, false, Want::Nothing)));
    let mut future = status(66, 0, false, Want::Up);
    future.when.secs += 1000;
    all.push(add("future", true).status(&future));
    let mut zero = status(0, 0, false, Want::Up);
    zero.when = Tai64n::ZERO;
    all.push(add("zero-time", true).status(&zero));
    let mut bytes = status(0, 4, false, Want::Down).encode();
    bytes[16] = 1; // paused without a pid: daemontools prints nothing for it
    bytes[17] = b'x'; // an unknown want byte
    all.push(add("odd-bytes", true).status_bytes(&bytes));
    let mut ext = status(99, 7, false, Want::Up);
    ext.ext = Some(extension(State::Up));
    all.push(add("vigil-extension", true).status(&ext));
    let mut bad_ext = ext.encode();
    bad_ext.truncate(30);
    all.push(add("truncated-extension", true).status_bytes(&bad_ext));
    all.push(add("short", true).status_bytes(&[0; 17]));
    all.push(add("empty", true).status_bytes(b""));
    all.push(add("no-status", true));
    all.push(add("status-is-dir", true));
    std::fs::create_dir(sb.join("status-is-dir/supervise/status")).expect("mkdir");
    all.push(add("not-running", false).status(&status(1, 1, false, Want::Up)));
    all.push(add("down-loop", true).status(&status(1, 1, false, Want::Up)));
    symlink("down", sb.join("down-loop/down")).expect("symlink");
    all.push(add("down-dangling", true).status(&status(0, 1, false, Want::Up)));
    symlink("nowhere", sb.join("down-dangling/down")).expect("symlink");
    std::fs::create_dir(sb.join("no-supervise")).expect("mkdir");
    sb.write("file", b"");
    (sb, all)
}

const NAMES: &[&str] = &[
    "up",
    "up-normally-down",
    "paused-want-down",
    "down-want-up",
    "down-want-down",
    "down-normally-down-want-up",
    "once",
    "future",
    "zero-time",
    "odd-bytes",
    "vigil-extension",
    "truncated-extension",
    "short",
    "empty",
    "no-status",
    "status-is-dir",
    "not-running",
    "down-loop",
    "down-dangling",
    "no-supervise",
    "file",
    "missing",
    "up/",
    "./up",
];

#[test]
fn every_state_reads_as_daemontools_svstat() {
    let (sb, _held) = every_state();
    // Deliberate difference: on a read error daemontools' svstat compares -1 with an unsigned
    // size, takes the read as whole and prints whatever its buffer held from the directory
    // before; vigil reports the error (see every_state_has_daemontools_text).
    let names: Vec<&str> = NAMES
        .iter()
        .copied()
        .filter(|n| *n != "status-is-dir")
        .collect();
    if let Some(out) = same_as_daemontools(sb.path(), &names) {
        assert_eq!(text(&out.stdout).lines().count(), names.len());
    }
}

#[test]
fn every_state_has_daemontools_text() {
    let crafted = std::time::Instant::now();
    let (sb, _held) = every_state();
    let out = ours(sb.path(), NAMES);
    // Seconds tick while the table is written and read (more than one under load).
    let ticks = crafted.elapsed().as_secs() + 1;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
    let got = text(&out.stdout);
    let lines: Vec<&str> = got.lines().collect();
    let expect = [
        "up: up (pid 1234) 100 seconds",
        "up-normally-down: up (pid 77) 5 seconds, normally down",
        "paused-want-down: up (pid 4000000) 3 seconds, paused, want down",
        "down-want-up: down 9 seconds, normally up, want up",
        "down-want-down: down 12 seconds",
        "down-normally-down-want-up: down 1 seconds, want up",
        "once: up (pid 55) 2 seconds",
        "future: up (pid 66) 0 seconds",
        "zero-time: down 4611686020000000000 seconds, normally up, want up",
        "odd-bytes: down 4 seconds, normally up",
        "vigil-extension: up (pid 99) 7 seconds",
        "truncated-extension: up (pid 99) 7 seconds",
        "short: unable to read supervise/status: bad format",
        "empty: unable to read supervise/status: bad format",
        "no-status: unable to open supervise/status: file does not exist",
        "status-is-dir: unable to read supervise/status: is a directory",
        "not-running: supervise not running",
        "down-loop: unable to stat down: symbolic link loop",
        "down-dangling: down 1 seconds, normally up, want up",
        "no-supervise: unable to open supervise/ok: file does not exist",
        "file: unable to chdir: not a directory",
        "missing: unable to chdir: file does not exist",
        "up/: up (pid 1234) 100 seconds",
        "./up: up (pid 1234) 100 seconds",
    ];
    assert_eq!(lines.len(), expect.len(), "{got}");
    for (line, want) in lines.iter().zip(expect) {
        if line.contains("4611686") {
            // The zero label: now - 0 through a double; only its magnitude is stable.
            assert!(line.starts_with("zero-time: down 46116860"), "{line}");
            assert!(line.ends_with(" seconds, normally up, want up"), "{line}");
            continue;
        }
        assert!(
            ticked_from(want, line, ticks),
            "got {line:?}, want {want:?}"
        );
    }
}

/// Whether `line` is `want`, its seconds (unless 0: a time in the future) up to `ticks` more.
fn ticked_from(want: &str, line: &str, ticks: u64) -> bool {
    match (split_seconds(want), split_seconds(line)) {
        (Some((p0, n0, s0)), Some((p1, n1, s1))) if n0 > 0 => {
            (p0, s0) == (p1, s1) && (n0..=n0 + ticks).contains(&n1)
        }
        _ => want == line,
    }
}

#[test]
fn no_arguments_print_nothing() {
    let sb = Sandbox::new();
    let out = ours(sb.path(), &[]);
    assert_eq!(
        (out.stdout.len(), out.stderr.len(), out.status.code()),
        (0, 0, Some(0))
    );
    same_as_daemontools(sb.path(), &[]);
}

#[test]
fn plain_output_ignores_vigil_extension_in_every_state() {
    let sb = Sandbox::new();
    let mut held = Vec::new();
    for (i, state) in [
        State::Down,
        State::Starting,
        State::Up,
        State::Backoff,
        State::Finishing,
        State::Stopping,
    ]
    .into_iter()
    .enumerate()
    {
        let c = Crafted::new(&sb, &format!("s{i}"), true);
        let mut s = status(
            if state == State::Down {
                0
            } else {
                10 + i as u32
            },
            3,
            false,
            Want::Up,
        );
        let mut e = extension(state);
        e.restarts = 4;
        e.last_exit = Some(1 << 8);
        s.ext = Some(e);
        held.push(c.status(&s));
    }
    let names = ["s0", "s1", "s2", "s3", "s4", "s5"];
    let out = ours(sb.path(), &names);
    assert!(
        !text(&out.stdout).contains("state"),
        "{}",
        text(&out.stdout)
    );
    same_as_daemontools(sb.path(), &names);
}

#[test]
fn long_adds_vigil_state_after_daemontools_line() {
    let sb = Sandbox::new();
    let mut s = status(0, 2, false, Want::Up);
    let mut e = extension(State::Backoff);
    e.backoff_cause = BackoffCause::QuickExit;
    e.failures = 4;
    e.restarts = 5;
    e.last_exit = Some(3 << 8);
    e.backoff_until = Some(Tai64n::now().add(Duration::from_millis(7500)));
    s.ext = Some(e);
    let _backoff = Crafted::new(&sb, "backoff", true).status(&s);
    let mut s = status(42, 30, false, Want::Up);
    let mut e = extension(State::Up);
    e.restarts = 1;
    e.last_exit = Some(libc::SIGKILL);
    let now = Tai64n::now();
    e.ready_at = Some(Tai64n {
        secs: now.secs - 29,
        nanos: now.nanos,
    });
    s.ext = Some(e);
    let _ready = Crafted::new(&sb, "ready", true).down_file().status(&s);
    let _plain = Crafted::new(&sb, "daemontools", true).status(&status(8, 1, false, Want::Up));
    let _gone = Crafted::new(&sb, "gone", false);

    let out = ours(
        sb.path(),
        &["-l", "backoff", "ready", "daemontools", "gone"],
    );
    let got = text(&out.stdout);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 4, "{got}");
    let backoff_ok = ["7", "8"].iter().any(|n| {
        [2, 3].iter().any(|s| {
            lines[0]
                == format!(
                    "backoff: down {s} seconds, normally up, want up; state backoff \
                     (quick exit, failures 4, next start in {n} seconds), restarts 5, last exit 3"
                )
        })
    });
    assert!(backoff_ok, "{}", lines[0]);
    assert!(
        [(30, 29), (31, 30)].iter().any(|(a, b)| lines[1]
            == format!(
                "ready: up (pid 42) {a} seconds, normally down; state up, restarts 1, \
                 last signal KILL, ready {b} seconds"
            )),
        "{}",
        lines[1]
    );
    assert!(
        [
            "daemontools: up (pid 8) 1 seconds",
            "daemontools: up (pid 8) 2 seconds"
        ]
        .contains(&lines[2]),
        "{}",
        lines[2]
    );
    // NEW (issue 15 item 6): what keeps it from starting.
    assert_eq!(lines[3], "gone: supervise not running; run missing");
}

#[test]
fn json_has_every_field() {
    let sb = Sandbox::new();
    let mut s = status(0, 0, false, Want::Up);
    s.when.secs += 100; // in the future: 0 seconds, stable
    let mut e = extension(State::Backoff);
    e.backoff_cause = BackoffCause::StartFailed;
    e.failures = 2;
    e.restarts = 2;
    e.last_exit = Some(libc::SIGTERM);
    e.backoff_until = Some(Tai64n::now().add(Duration::from_secs(3600)));
    s.ext = Some(e);
    let _b = Crafted::new(&sb, "back\"off", true).status(&s);
    let mut s = status(31, 0, true, Want::Down);
    s.when.secs += 100;
    let _d = Crafted::new(&sb, "dt", true).down_file().status(&s);
    let _g = Crafted::new(&sb, "gone", false);

    let out = ours(sb.path(), &["--json", "back\"off", "dt", "gone", "missing"]);
    assert_eq!(out.status.code(), Some(0));
    let got = text(&out.stdout);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 4, "{got}");
    let backoff = lines[0].replace(",\"seconds\":3600,", ",\"seconds\":3599,");
    assert_eq!(
        backoff,
        r#"{"service":"back\"off","supervised":true,"error":null,"up":false,"pid":null,"seconds":0,"normally":"up","paused":false,"want":"up","state":"backoff","restarts":2,"last_exit":{"code":null,"signal":"TERM","wait_status":15},"backoff":{"cause":"start failed","seconds":3599,"failures":2},"ready":false,"ready_seconds":null,"cpu_percent":null,"memory_bytes":null,"breaches":null,"last_breach":null,"cgroup":null,"run":"missing"}"#
    );
    assert_eq!(
        lines[1],
        r#"{"service":"dt","supervised":true,"error":null,"up":true,"pid":31,"seconds":0,"normally":"down","paused":true,"want":"down","state":null,"restarts":null,"last_exit":null,"backoff":null,"ready":null,"ready_seconds":null,"cpu_percent":null,"memory_bytes":null,"breaches":null,"last_breach":null,"cgroup":null,"run":null}"#
    );
    assert_eq!(
        lines[2],
        r#"{"service":"gone","supervised":false,"error":null,"up":null,"pid":null,"seconds":null,"normally":"up","paused":null,"want":null,"state":null,"restarts":null,"last_exit":null,"backoff":null,"ready":null,"ready_seconds":null,"cpu_percent":null,"memory_bytes":null,"breaches":null,"last_breach":null,"cgroup":null,"run":"missing"}"#
    );
    assert_eq!(
        lines[3],
        r#"{"service":"missing","supervised":null,"error":"unable to chdir: file does not exist","up":null,"pid":null,"seconds":null,"normally":null,"paused":null,"want":null,"state":null,"restarts":null,"last_exit":null,"backoff":null,"ready":null,"ready_seconds":null,"cpu_percent":null,"memory_bytes":null,"breaches":null,"last_breach":null,"cgroup":null,"run":null}"#
    );
}

#[test]
fn options_only_lead_and_double_dash_ends_them() {
    let sb = Sandbox::new();
    let _l = Crafted::new(&sb, "-l", true).status(&status(5, 0, false, Want::Up));
    // After a directory, `-l` is a directory again, as in daemontools.
    let out = ours(sb.path(), &["-l", "--", "-l", "-l"]);
    let got = text(&out.stdout);
    assert_eq!(got.lines().count(), 2, "{got}");
    assert!(
        got.lines().all(|l| l.starts_with("-l: up (pid 5) ")),
        "{got}"
    );
    let out = ours(sb.path(), &["--", "-l", "--json"]);
    let got = text(&out.stdout);
    assert!(got.starts_with("-l: up (pid 5) "), "{got}");
    assert!(
        got.ends_with("--json: unable to chdir: file does not exist\n"),
        "{got}"
    );
    let out = ours(sb.path(), &["-x"]);
    assert_eq!(
        text(&out.stdout),
        "-x: unable to chdir: file does not exist\n"
    );
}

#[test]
fn non_utf8_directory_names_print_as_given() {
    use std::os::unix::ffi::OsStrExt;
    let sb = Sandbox::new();
    let name = OsStr::from_bytes(b"caf\xe9");
    let out = run(cmd("svstat").arg(name).current_dir(sb.path()), LIMIT);
    assert_eq!(
        out.stdout,
        b"caf\xe9: unable to chdir: file does not exist\n"
    );
    let out = run(
        cmd("svstat").arg("--json").arg(name).current_dir(sb.path()),
        LIMIT,
    );
    assert!(text(&out.stdout).starts_with("{\"service\":\"caf\u{fffd}\","));
}

/// Issue #12 item 3: a status file whose times lie far in the future (found by fuzzing) made
/// `-l` and `--json` panic ("overflow when adding duration to instant", exit 134), losing the
/// lines of every other directory of the call.
#[test]
fn far_future_times_neither_panic_nor_lose_other_lines() {
    let sb = Sandbox::new();
    let _before = Crafted::new(&sb, "before", true).status(&status(0, 1, false, Want::Up));
    let mut s = status(0, 1, false, Want::Up);
    let mut e = extension(State::Backoff);
    e.backoff_until = Some(Tai64n {
        secs: u64::MAX,
        nanos: 999_999_999,
    });
    e.ready_at = Some(Tai64n {
        secs: u64::MAX,
        nanos: 0,
    });
    s.ext = Some(e);
    let _far = Crafted::new(&sb, "far", true).status(&s);
    // A pid that runs (this test's), a `when` at the end of time and a nanosecond field
    // beyond 10^9: the usage arithmetic must not overflow either.
    let mut s = status(std::process::id(), 0, false, Want::Up);
    s.when = Tai64n {
        secs: u64::MAX,
        nanos: u32::MAX,
    };
    s.ext = Some(extension(State::Up));
    let _end = Crafted::new(&sb, "end", true).status_bytes(&{
        let mut b = s.encode();
        b[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        b
    });
    let _after = Crafted::new(&sb, "after", true).status(&status(0, 1, false, Want::Up));
    for format in ["-l", "--json"] {
        let out = ours(sb.path(), &[format, "before", "far", "end", "after"]);
        let got = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {got}{}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{format}");
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), 4, "{format}: {got}");
        for (line, name) in lines.iter().zip(["before", "far", "end", "after"]) {
            assert!(
                line.starts_with(&format!("{name}: ")) || line.contains(&format!("\"{name}\"")),
                "{format}: {line}"
            );
        }
        if format == "-l" {
            assert!(
                lines[1].contains("; state backoff (next start in "),
                "{}",
                lines[1]
            );
        } else {
            assert!(
                lines[1].contains(r#""backoff":{"cause":null,"seconds":"#),
                "{}",
                lines[1]
            );
        }
    }
}

/// Issue #12 item 3: an extension cut short (a status file of 19 to 83 bytes whose extension
/// says it is longer) is reported on its directory's line in `-l` and `--json`; the plain
/// line stays daemontools' (which never reads past byte 18).
#[test]
fn truncated_extension_is_reported_on_its_line() {
    let sb = Sandbox::new();
    let mut s = status(0, 1, false, Want::Up);
    s.ext = Some(extension(State::Down));
    let full = s.encode();
    // With the breach record a limits-aware supervise appends: 84 bytes, N = 62.
    let mut limits = full.clone();
    limits[21] = 62;
    limits.resize(84, 0);
    let mut held = Vec::new();
    let mut names = Vec::new();
    for len in [19, 20, 21, 22, 40, 65] {
        let name = format!("cut{len}");
        held.push(Crafted::new(&sb, &name, true).status_bytes(&full[..len]));
        names.push(name);
    }
    for len in [66, 70, 83] {
        let name = format!("limits-cut{len}");
        held.push(Crafted::new(&sb, &name, true).status_bytes(&limits[..len]));
        names.push(name);
    }
    held.push(Crafted::new(&sb, "whole", true).status_bytes(&limits));
    names.push("whole".into());
    let args: Vec<&str> = names.iter().map(String::as_str).collect();

    let plain = text(&ours(sb.path(), &args).stdout);
    for line in plain.lines() {
        assert!(
            line.ends_with(": down 1 seconds, normally up, want up")
                || line.ends_with(": down 2 seconds, normally up, want up"),
            "{line}"
        );
    }
    let long = text(&ours(sb.path(), &[&["-l"], &args[..]].concat()).stdout);
    let json = text(&ours(sb.path(), &[&["--json"], &args[..]].concat()).stdout);
    let (long, json): (Vec<&str>, Vec<&str>) = (long.lines().collect(), json.lines().collect());
    assert_eq!(long.len(), names.len());
    assert_eq!(json.len(), names.len());
    for i in 0..names.len() {
        if names[i] == "whole" {
            assert!(long[i].contains("; state down, restarts 0"), "{}", long[i]);
            assert!(json[i].contains(r#""error":null"#), "{}", json[i]);
            continue;
        }
        assert!(
            long[i].ends_with(" want up; unable to read supervise/status: truncated extension"),
            "{}",
            long[i]
        );
        assert!(
            json[i].contains(
                r#""error":"unable to read supervise/status: truncated extension","up":false,"#
            ),
            "{}",
            json[i]
        );
        assert!(json[i].contains(r#""state":null"#), "{}", json[i]);
    }
}
