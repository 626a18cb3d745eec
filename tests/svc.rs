//! svc: the bytes it writes, its warnings and exit codes, against /usr/bin/svc on twin crafted
//! directories; and our svc/svstat/svok driving daemontools' real supervise.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::crafted::Crafted;
use crate::util::procfs::blocked_in_write;
use crate::util::{bin, cmd, eventually, peer, run, text, Sandbox, Spawned};

const LIMIT: Duration = Duration::from_secs(10);

fn svc_in(program: &Path, cwd: &Path, args: &[&str]) -> Output {
    run(Command::new(program).args(args).current_dir(cwd), LIMIT)
}

/// A sandbox with `a` and `b` running, `stopped` not, a directory without `supervise/`, a
/// plain file; `missing` does not exist.
fn twin() -> (Sandbox, Vec<Crafted>) {
    let sb = Sandbox::new();
    let held = vec![
        Crafted::new(&sb, "a", true),
        Crafted::new(&sb, "b", true),
        Crafted::new(&sb, "stopped", false),
    ];
    std::fs::create_dir(sb.join("no-supervise")).expect("mkdir");
    sb.write("file", b"");
    (sb, held)
}

#[test]
fn writes_each_option_once_in_order() {
    let (sb, mut held) = twin();
    let out = svc_in(&bin("svc"), sb.path(), &["-udu", "-t", "-ut", "a", "b"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    assert_eq!(held[0].sent(), b"udt");
    assert_eq!(held[1].sent(), b"udt");
}

#[test]
fn every_control_byte_is_sent_including_new_ones() {
    let (sb, mut held) = twin();
    let out = svc_in(&bin("svc"), sb.path(), &["-udopchaitkxq12w", "a"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(held[0].sent(), b"udopchaitkxq12w");
    let out = svc_in(&bin("svc"), sb.path(), &["-q", "-1", "-2", "-w", "-q", "a"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    assert_eq!(held[0].sent(), b"q12w");
}

#[test]
fn no_options_only_checks_and_sends_nothing() {
    let (sb, mut held) = twin();
    let out = svc_in(&bin("svc"), sb.path(), &["a", "stopped"]);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        text(&out.stderr),
        "svc: warning: unable to control stopped: supervise not running\n"
    );
    assert_eq!(held[0].sent(), b"");
}

#[test]
fn warns_and_goes_on_to_the_next_directory() {
    let (sb, mut held) = twin();
    let args = ["-k", "missing", "stopped", "no-supervise", "file", "b"];
    let out = svc_in(&bin("svc"), sb.path(), &args);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        text(&out.stderr),
        "svc: warning: unable to chdir to missing: file does not exist\n\
         svc: warning: unable to control stopped: supervise not running\n\
         svc: warning: unable to control no-supervise: file does not exist\n\
         svc: warning: unable to chdir to file: not a directory\n"
    );
    assert_eq!(held[1].sent(), b"k");
}

/// Issue 15 item 7: a directory that could not be controlled makes the status 111 (runit's
/// sv, s6-svc), after the others were controlled; `VIGIL_COMPAT=daemontools` gives 0.
#[test]
fn exits_111_when_a_directory_was_not_controlled() {
    let (sb, mut held) = twin();
    let out = svc_in(&bin("svc"), sb.path(), &["-h", "a", "b"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    assert_eq!(
        (held[0].sent(), held[1].sent()),
        (b"h".to_vec(), b"h".to_vec())
    );
    for bad in ["missing", "stopped", "no-supervise", "file"] {
        let out = svc_in(&bin("svc"), sb.path(), &["-h", "a", bad, "b"]);
        assert_eq!(out.status.code(), Some(111), "{bad}: {}", text(&out.stderr));
        assert_eq!(
            (held[0].sent(), held[1].sent()),
            (b"h".to_vec(), b"h".to_vec())
        );
        let compat = run(
            cmd("svc")
                .args(["-h", bad])
                .current_dir(sb.path())
                .env("VIGIL_COMPAT", "daemontools"),
            LIMIT,
        );
        assert_eq!(compat.status.code(), Some(0), "{bad}");
        assert_eq!(compat.stderr, out.stderr);
    }
}

#[test]
fn illegal_option_prints_usage_and_sends_nothing() {
    let (sb, mut held) = twin();
    let out = svc_in(&bin("svc"), sb.path(), &["-uz", "a"]);
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        text(&out.stderr),
        "svc: illegal option -- z\nsvc options: u up, d down, o once, x exit, p pause, \
         c continue, h hup, a alarm, i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2, \
         w winch, W uUdDrR wait, T ms timeout\n"
    );
    assert_eq!(held[0].sent(), b"");
}

#[test]
fn waits_for_room_in_a_full_fifo_as_daemontools() {
    // daemontools opens without blocking, then writes blocking: a busy supervise delays svc,
    // it does not make it fail with "temporary failure".
    let (sb, mut held) = twin();
    let filled = held[0].fill_control();
    let mut svc = Spawned::start(
        cmd("svc")
            .args(["-u", "a"])
            .current_dir(sb.path())
            .stderr(std::process::Stdio::piped()),
    );
    // Positive first: svc sleeps in write(2) on the full FIFO (a svc that failed or gave up
    // is never seen there).
    assert!(
        eventually(LIMIT, || blocked_in_write(svc.pid())),
        "svc did not block writing"
    );
    assert!(
        svc.child.try_wait().expect("try_wait").is_none(),
        "svc did not wait"
    );
    let mut got = held[0].sent();
    let status = svc
        .wait_timeout(LIMIT)
        .expect("svc exits once there is room");
    assert!(status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(svc.child.stderr.as_mut().expect("piped"), &mut stderr)
        .expect("stderr");
    assert_eq!(stderr, "");
    assert!(eventually(LIMIT, || {
        got.extend(held[0].sent());
        got.len() == filled + 1
    }));
    assert_eq!(got.last(), Some(&b'u'));
}

/// The NEW options appended to daemontools' usage line.
const NEW_USAGE_TAIL: &str = ", q quit, 1 usr1, 2 usr2, w winch, W uUdDrR wait, T ms timeout";

#[test]
fn same_as_daemontools_svc() {
    let Some(peer) = peer("/usr/bin/svc") else {
        return;
    };
    let cases: &[&[&str]] = &[
        &["-udopchaitkx", "a"],
        &[
            "-u",
            "-d",
            "-u",
            "a",
            "b",
            "stopped",
            "no-supervise",
            "file",
            "missing",
            "a/",
        ],
        &["-xkt", "-h", "--", "a", "-u"],
        &["a", "-u", "b"],
        &["-", "a"],
        &["a"],
        &["-u"],
        &[],
        &["-z", "a"],
        &["-uz", "a"],
    ];
    for args in cases {
        let (ours_sb, mut ours_held) = twin();
        let (theirs_sb, mut theirs_held) = twin();
        // Ours exits 111 where a directory was not controlled; the compat setting gives
        // daemontools' 0 (issue 15 item 7).
        let ours = run(
            Command::new(bin("svc"))
                .args(*args)
                .current_dir(ours_sb.path())
                .env("VIGIL_COMPAT", "daemontools"),
            LIMIT,
        );
        let theirs = svc_in(&peer, theirs_sb.path(), args);
        assert_eq!(ours.status.code(), theirs.status.code(), "svc {args:?}");
        assert_eq!(ours.stdout, theirs.stdout, "svc {args:?}");
        assert_eq!(
            text(&ours.stderr).replace(NEW_USAGE_TAIL, ""),
            text(&theirs.stderr),
            "svc {args:?}"
        );
        for (o, t) in ours_held.iter_mut().zip(theirs_held.iter_mut()).take(2) {
            assert_eq!(text(&o.sent()), text(&t.sent()), "svc {args:?}");
        }
    }
}

/// Our svc, svstat and svok against daemontools' real supervise running a real service.
#[test]
fn drives_daemontools_supervise() {
    let (Some(supervise), Some(real_svstat)) =
        (peer("/usr/bin/supervise"), peer("/usr/bin/svstat"))
    else {
        return;
    };
    let sb = Sandbox::new();
    sb.service("s", "exec sleep 1000");
    let mut sup = Spawned::start(
        Command::new(supervise)
            .arg("s")
            .current_dir(sb.path())
            .stdin(std::process::Stdio::null()),
    );
    let in_sb = |prog: &str, args: &[&str]| run(cmd(prog).args(args).current_dir(sb.path()), LIMIT);
    let svstat = || text(&in_sb("svstat", &["s"]).stdout);
    let both_svstat = || {
        let before = svstat();
        let theirs = text(
            &run(
                Command::new(&real_svstat).arg("s").current_dir(sb.path()),
                LIMIT,
            )
            .stdout,
        );
        let after = svstat();
        assert!(
            theirs == before || theirs == after,
            "ours {before:?} theirs {theirs:?}"
        );
        after
    };
    let limit = Duration::from_secs(5);
    assert!(eventually(limit, || in_sb("svok", &["s"]).status.code() == Some(0)));
    assert!(eventually(limit, || svstat().starts_with("s: up (pid ")));
    let first = both_svstat();

    assert_eq!(in_sb("svc", &["-p", "s"]).status.code(), Some(0));
    assert!(eventually(limit, || svstat().contains(", paused")));
    both_svstat();
    in_sb("svc", &["-c", "s"]);
    assert!(eventually(limit, || !svstat().contains(", paused")));

    // TERM: supervise restarts it (after its one-second pause), with a new pid.
    let pid = |line: &str| line.split(['(', ')']).nth(1).map(str::to_owned);
    in_sb("svc", &["-t", "s"]);
    assert!(eventually(limit, || {
        let now = svstat();
        now.starts_with("s: up (pid ") && pid(&now) != pid(&first)
    }));

    in_sb("svc", &["-d", "s"]);
    assert!(eventually(limit, || svstat().starts_with("s: down ")));
    let down = both_svstat();
    assert!(down.ends_with(", normally up\n"), "{down}");
    in_sb("svc", &["-o", "s"]);
    assert!(eventually(limit, || svstat().starts_with("s: up (pid ")));
    in_sb("svc", &["-u", "s"]);
    in_sb("svc", &["-d", "s"]);
    assert!(eventually(limit, || svstat().starts_with("s: down ")));
    in_sb("svc", &["-u", "s"]);
    assert!(eventually(limit, || svstat().starts_with("s: up (pid ")));
    both_svstat();

    let out = in_sb("svc", &["-dx", "s"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    assert!(
        sup.wait_timeout(limit).is_some(),
        "supervise did not exit on -dx"
    );
    assert_eq!(in_sb("svok", &["s"]).status.code(), Some(100));
    assert_eq!(svstat(), "s: supervise not running\n");
    let out = in_sb("svc", &["-u", "s"]);
    assert_eq!(
        text(&out.stderr),
        "svc: warning: unable to control s: supervise not running\n"
    );
}

/// Our svc's signal options reach a service under daemontools' real supervise.
#[test]
fn signals_reach_a_service_under_daemontools_supervise() {
    let Some(supervise) = peer("/usr/bin/supervise") else {
        return;
    };
    let sb = Sandbox::new();
    sb.service(
        "s",
        "for sig in HUP ALRM INT; do trap \"echo $sig >> signals\" $sig; done\n\
         trap 'echo TERM >> signals; exit 0' TERM\n\
         echo started >> signals\n\
         while :; do sleep 1 & wait $!; done",
    );
    let _sup = Spawned::start(
        Command::new(supervise)
            .arg("s")
            .current_dir(sb.path())
            .stdin(std::process::Stdio::null()),
    );
    let signals = || std::fs::read_to_string(sb.join("s/signals")).unwrap_or_default();
    let limit = Duration::from_secs(5);
    assert!(eventually(limit, || signals() == "started\n"));
    let svc = |opt: &str| {
        let out = run(cmd("svc").args([opt, "s"]).current_dir(sb.path()), LIMIT);
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (Some(0), String::new())
        );
    };
    let mut expect = String::from("started\n");
    for (opt, name) in [("-h", "HUP"), ("-a", "ALRM"), ("-i", "INT")] {
        svc(opt);
        expect += &format!("{name}\n");
        assert!(
            eventually(limit, || signals() == expect),
            "{opt}: {:?}",
            signals()
        );
    }
    svc("-dx");
    expect += "TERM\n";
    assert!(eventually(limit, || signals() == expect), "{:?}", signals());
}

/// Issue 15 item 3: `svc -W goal` waits, as s6-svc's `-w`: subscribed before the control
/// byte is written, so `-t -Wr` returns once a new run is up (before, `svc -t; svwait -U`
/// returned at once on the old run); `-W` alone only waits; `-T` bounds it (99).
#[test]
fn w_waits_for_a_restart_and_for_states() {
    use crate::util::observe::listeners;
    use crate::util::supervise::Supervised;
    use vigil_proto::event::Event;
    let sb = Sandbox::new();
    let dir = sb.service("s", "exec sleep 100");
    sb.script("s/finish", "#!/bin/sh\nsleep 0.5\necho done > finished\n");
    let sup = Supervised::start(&bin("supervise"), &dir);
    let old = sup.wait_up();
    let svc = |args: &[&str]| run(cmd("svc").args(args).arg(&dir), LIMIT);
    let ups = || {
        vigil_proto::journal::read(dir.as_os_str())
            .expect("journal")
            .into_iter()
            .filter(|r| r.event() == Some(Event::Up))
            .map(|r| r.pid)
            .collect::<Vec<_>>()
    };
    let out = svc(&["-Wu"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    let before = ups().len();
    let start = std::time::Instant::now();
    let out = svc(&["-t", "-Wr", "-T", "8000"]);
    let took = start.elapsed();
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    // When svc returned, supervise had journalled the new run's start.
    let now = ups();
    assert_eq!(now.len(), before + 1, "{now:?}");
    assert_ne!(now.last(), Some(&old));
    eprintln!("svc -t -Wr took {took:?}");
    let out = svc(&["-tWR"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ups().len(), before + 2);
    // A goal not reached: 99 at the timeout.
    let out = svc(&["-Wd", "-T", "300"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(99), "svc: fatal: timed out\n".to_string())
    );
    // -W alone waits for what another svc does.
    let mut waiter = Spawned::start(cmd("svc").args(["-WD"]).arg(&dir));
    assert!(
        eventually(LIMIT, || listeners(&dir) == 1),
        "svc -WD subscribed"
    );
    assert!(waiter.child.try_wait().expect("try_wait").is_none());
    assert_eq!(svc(&["-d"]).status.code(), Some(0));
    let status = waiter.wait_timeout(LIMIT).expect("svc -WD returned");
    assert_eq!(status.code(), Some(0));
    assert!(
        dir.join("finished").exists(),
        "-WD returned before finish ended"
    );
    assert_eq!(listeners(&dir), 0, "FIFOs left behind");
    let out = svc(&["-u", "-WU"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A bad goal is a usage error; nothing is sent.
    let out = svc(&["-d", "-Wx"]);
    assert_eq!(out.status.code(), Some(100));
    assert!(text(&out.stderr).starts_with("svc: bad wait goal -- x\nsvc options: "));
}

/// Issue 15 items 3 and 7: `-W` on a directory without a supervise warns, makes nothing
/// there, waits for the others, and exits 111.
#[test]
fn w_on_a_directory_without_supervise_makes_nothing_and_exits_111() {
    let (sb, mut held) = twin();
    let out = svc_in(
        &bin("svc"),
        sb.path(),
        &["-h", "-Wu", "-T", "5000", "stopped", "no-supervise"],
    );
    assert_eq!(out.status.code(), Some(111), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "svc: warning: unable to control stopped: supervise not running\n\
         svc: warning: unable to control no-supervise: file does not exist\n"
    );
    assert!(!sb.join("stopped/event").exists() && !sb.join("no-supervise/event").exists());
    assert_eq!(held[0].sent(), b"");
}
