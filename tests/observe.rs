//! svwait, svwatch and supervise's events (issue 6).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::observe::{listeners, unread, wakeups};
use crate::util::procfs::sleeps_in_poll;
use crate::util::{cmd, peer, run, text, Sandbox, Spawned};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn svwait_usage_is_exit_100() {
    let out = run(&mut cmd("svwait"), LIMIT);
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        text(&out.stderr),
        "svwait: usage: svwait [ -u | -U | -d | -D | -r | -R ] [ -a | -o ] [ -s ] [ -t timeout ] \
         dir...\n"
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
    // -s: no supervise runs there yet; wait for one.
    let out = run(
        cmd("svwait").args(["-s", "-u", "-t", "300"]).arg(&dir),
        LIMIT,
    );
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

/// Issue 15 item 7: without `-s`, svwait on a directory no supervise runs on fails at once
/// (it used to wait forever), and makes nothing there.
#[test]
fn svwait_fails_at_once_without_a_supervise_unless_s() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let start = Instant::now();
    let out = run(cmd("svwait").args(["-u", "-t", "5000"]).arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(111), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "svwait: fatal: unable to wait on {}: supervise not running\n",
            dir.display()
        )
    );
    assert!(start.elapsed() < Duration::from_secs(4), "it waited");
    assert!(!dir.join("event").exists(), "it made event/");
    // A supervise that ran and exited: the same.
    let s = supervise(&dir);
    s.wait_up();
    assert_eq!(s.stop(), 0);
    let out = run(cmd("svwait").arg("-U").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(111), "{}", text(&out.stderr));
    // -s waits for one to start.
    let mut waiter = svwait_bg(&["-s", "-U", "-t", "8000"], &dir);
    assert!(
        eventually(LIMIT, || listeners(&dir) == 1),
        "svwait -s subscribed"
    );
    let _s = supervise(&dir);
    assert_eq!(exit_code(&mut waiter), Some(0));
}

/// Issue 15 item 3: `svwait -r`/`-R` wait for a run started after the call, so
/// `svc -t X; svwait -R X` no longer returns at once on the old, ready run.
#[test]
fn svwait_r_waits_for_a_restart_after_now() {
    let sb = Sandbox::new();
    let (dir, s) = sleeper(&sb);
    let old = s.wait_up();
    for flag in ["-r", "-R"] {
        let out = run(cmd("svwait").args([flag, "-t", "300"]).arg(&dir), LIMIT);
        assert_eq!(out.status.code(), Some(99), "{flag} on a run already up");
    }
    let mut r = svwait_bg(&["-r", "-t", "8000"], &dir);
    let mut big_r = svwait_bg(&["-R", "-t", "8000"], &dir);
    assert!(
        eventually(LIMIT, || listeners(&dir) == 2),
        "both subscribed"
    );
    s.send(b"t");
    assert_eq!(exit_code(&mut r), Some(0));
    assert_eq!(exit_code(&mut big_r), Some(0));
    let new = s
        .wait_for("a new run", |st| st.pid != 0 && st.pid != old)
        .pid;
    assert_ne!(new, old);
}

#[test]
fn svwait_sleeps_without_waking() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let waiter = Spawned::start(cmd("svwait").args(["-s", "-U", "-t", "5000"]).arg(&dir));
    // Positive first: svwait subscribed and sleeps in poll.
    assert!(
        eventually(LIMIT, || listeners(&dir) == 1
            && sleeps_in_poll(waiter.pid())),
        "svwait did not subscribe and sleep"
    );
    let before = wakeups(waiter.pid()).expect("svwait runs");
    std::thread::sleep(Duration::from_secs(2));
    let after = wakeups(waiter.pid()).expect("svwait still runs");
    assert_eq!(before, after, "svwait woke up while nothing happened");
    assert!(sleeps_in_poll(waiter.pid()), "svwait no longer waits");
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

// --- with our supervise ---

use std::fs::{self, File};
use std::path::Path;

use vigil_proto::status::State;

use crate::util::eventually;
use crate::util::observe::json_field;
use crate::util::supervise::{lines, Supervised};

fn supervise(dir: &Path) -> Supervised {
    Supervised::start(&crate::util::bin("supervise"), dir)
}

/// A service that sleeps, up under our supervise.
fn sleeper(sb: &Sandbox) -> (std::path::PathBuf, Supervised) {
    let dir = sb.service("svc", "exec sleep 100");
    let s = supervise(&dir);
    s.wait_up();
    (dir, s)
}

/// svwait with `args` on `dir`, in the background (its own process group).
fn svwait_bg(args: &[&str], dir: &Path) -> Spawned {
    Spawned::start(cmd("svwait").args(args).arg(dir))
}

fn exit_code(waiter: &mut Spawned) -> Option<i32> {
    waiter.wait_timeout(LIMIT).and_then(|s| s.code())
}

/// A run that waits for the file `go` in its directory, then runs `then`.
const WAIT_FOR_GO: &str = "while [ ! -e go ]; do sleep 0.02; done";

#[test]
fn readiness_by_notification_fd() {
    let sb = Sandbox::new();
    let dir = sb.service(
        "svc",
        &format!("{WAIT_FOR_GO}\necho ready >&5\nexec sleep 100"),
    );
    sb.write("svc/notification-fd", "5\n");
    let s = supervise(&dir);
    s.wait_up();
    let ext = s.status().and_then(|st| st.ext).expect("extension");
    assert_eq!((ext.state, ext.ready_at), (State::Starting, None));
    let out = run(cmd("svwait").args(["-U", "-t", "300"]).arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(99), "not ready yet");
    let long = text(&run(cmd("svstat").arg("-l").arg(&dir), LIMIT).stdout);
    assert!(
        long.contains("starting") && !long.contains("ready"),
        "{long}"
    );
    let out = run(cmd("svwait").args(["-u", "-t", "5000"]).arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0), "up, though not ready");
    let mut waiter = svwait_bg(&["-U"], &dir);
    sb.write("svc/go", "");
    assert_eq!(exit_code(&mut waiter), Some(0));
    let ext = s
        .wait_for("ready", |st| st.ext.is_some_and(|e| e.ready_at.is_some()))
        .ext;
    assert_eq!(ext.map(|e| e.state), Some(State::Up));
    let json = text(&run(cmd("svstat").arg("--json").arg(&dir), LIMIT).stdout);
    assert_eq!(json_field(&json, "ready"), Some("true"), "{json}");
}

/// A python3 run that blocks USR1, waits for it (`svc -1`), then sends `READY=1` to
/// NOTIFY_SOCKET (an abstract name, `@...`) and sleeps.
const PY_NOTIFY_ON_USR1: &str = "import os, signal, socket
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
addr = os.environ[\"NOTIFY_SOCKET\"]
if addr.startswith(\"@\"):
    addr = \"\\0\" + addr[1:]
signal.sigwait({signal.SIGUSR1})
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b\"STATUS=warm\\n\", addr)
s.sendto(b\"STATUS=hot\\nREADY=1\\n\", addr)
while True:
    signal.pause()
";

/// True once `pid` blocks USR1 or waits for it in sigwait (which unblocks it while it waits):
/// the python run is ready for `svc -1`.
fn blocks_usr1(pid: i32) -> bool {
    let blocked = crate::util::procfs::status_field(pid, "SigBlk")
        .and_then(|mask| u64::from_str_radix(&mask, 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGUSR1 - 1)) != 0);
    let waiting = fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|text| {
        text.split_whitespace()
            .next()
            .and_then(|nr| nr.parse().ok())
            == Some(libc::SYS_rt_sigtimedwait)
    });
    blocked || waiting
}

/// NOTIFY_SOCKET as the run `pid` got it.
fn notify_socket_of(pid: i32) -> String {
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("environ");
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(b"NOTIFY_SOCKET="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("NOTIFY_SOCKET in the run's environment")
}

/// Sends `datagram` to NOTIFY_SOCKET (`@name`: abstract; else a path) from this process.
fn send_notify(address: &str, datagram: &[u8]) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let addr = match address.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name).expect("name"),
        None => SocketAddr::from_pathname(address).expect("path"),
    };
    let client = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    client.send_to_addr(datagram, &addr).expect("send");
}

/// supervise on `dir` (whose run is `PY_NOTIFY_ON_USR1`) with `notify-socket`; it and the
/// run's pid once python waits for USR1.
fn notifier(sb: &Sandbox, dir: &Path) -> (Supervised, i32) {
    sb.write("svc/notify-socket", "");
    let s = supervise(dir);
    let pid = s.wait_up() as i32;
    assert!(
        eventually(LIMIT, || blocks_usr1(pid)),
        "python started: {}",
        s.stderr()
    );
    (s, pid)
}

#[test]
fn readiness_by_notify_socket() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", &format!("exec python3 -c '{}'", PY_NOTIFY_ON_USR1));
    let (s, pid) = notifier(&sb, &dir);
    let address = notify_socket_of(pid);
    assert!(
        address.starts_with("@vigil-notify/") && address.len() == 46,
        "{address}"
    );
    let out = run(cmd("svwait").args(["-U", "-t", "300"]).arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(99), "not ready yet");
    let mut waiter = svwait_bg(&["-U", "-t", "8000"], &dir);
    let out = run(cmd("svc").arg("-1").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(exit_code(&mut waiter), Some(0));
    s.wait_for("ready", |st| {
        st.ext
            .is_some_and(|e| e.state == State::Up && e.ready_at.is_some())
    });
}

/// Issue 15 item 2: a run that drops privileges (this build's setuidgid, to `nobody`) can
/// still say it is ready on NOTIFY_SOCKET, and a process outside the run's tree that sends
/// `READY=1` is refused with a warning naming its pid.
#[test]
fn readiness_after_setuidgid_and_strangers_refused_issue_15() {
    if !nix::unistd::geteuid().is_root() {
        // setuidgid needs root; CI runs as root.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: needs root for setuidgid"
        );
        eprintln!("skipped: not root, setuidgid cannot drop to nobody");
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.service(
        "svc",
        &format!(
            "exec {} nobody python3 -c '{}'",
            crate::util::bin("setuidgid").display(),
            PY_NOTIFY_ON_USR1
        ),
    );
    let (s, pid) = notifier(&sb, &dir);
    let uid = crate::util::procfs::status_field(pid, "Uid").expect("Uid");
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody");
    assert_eq!(
        uid.split_whitespace().next(),
        Some(nobody.uid.as_raw().to_string().as_str()),
        "the run dropped to nobody"
    );
    let address = notify_socket_of(pid);
    // A stranger (this test process, root, not of the run's tree) says READY=1: refused.
    send_notify(&address, b"READY=1\n");
    let warning = format!(
        "supervise: warning: refused a notification for {} from pid {}: not a process of the \
         service\n",
        dir.display(),
        std::process::id()
    );
    assert!(
        eventually(LIMIT, || s.stderr().contains(&warning)),
        "no warning: {}",
        s.stderr()
    );
    let st = s.status().expect("status");
    assert_eq!(st.ext.map(|e| e.state), Some(State::Starting), "not ready");
    assert_eq!(st.ext.and_then(|e| e.ready_at), None);
    // The run itself, as nobody: ready.
    let out = run(cmd("svc").arg("-1").arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(0));
    s.wait_for("ready", |st| {
        st.ext
            .is_some_and(|e| e.state == State::Up && e.ready_at.is_some())
    });
    assert_eq!(s.stderr().matches("refused").count(), 1, "{}", s.stderr());
}

/// Issue 15 item 2: `ready-timeout` warns once when the run has not said it is ready in time,
/// and supervise then sleeps without a deadline again.
#[test]
fn ready_timeout_warns_once_issue_15() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    sb.write("svc/notify-socket", "");
    sb.write("svc/ready-timeout", "300\n");
    let s = supervise(&dir);
    let pid = s.wait_up();
    let warning = format!(
        "supervise: warning: {}/run (pid {pid}) has not said it is ready within ready-timeout \
         (300 ms)\n",
        dir.display()
    );
    assert!(
        eventually(LIMIT, || s.stderr().contains(&warning)),
        "no warning: {}",
        s.stderr()
    );
    assert!(
        eventually(LIMIT, || crate::util::procfs::sleeps_without_deadline(
            s.pid()
        )),
        "supervise keeps a deadline after the warning"
    );
    assert_eq!(s.stderr().matches(&warning).count(), 1, "{}", s.stderr());
    let st = s.status().expect("status");
    assert_eq!(st.ext.map(|e| e.state), Some(State::Starting));
}

#[test]
fn svwait_up_down_and_really_down_with_and_without_timeout() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    sb.write("svc/down", "");
    // finish takes a while: -d is reached before it ends, -D after.
    sb.script("svc/finish", "#!/bin/sh\nsleep 1\necho done > finished\n");
    let s = supervise(&dir);
    let out = run(cmd("svwait").args(["-u", "-t", "200"]).arg(&dir), LIMIT);
    assert_eq!(out.status.code(), Some(99));
    let mut up = svwait_bg(&["-u"], &dir);
    assert!(
        eventually(LIMIT, || listeners(&dir) == 1),
        "svwait -u subscribed"
    );
    s.send(b"u");
    assert_eq!(exit_code(&mut up), Some(0));
    for flag in ["-d", "-D"] {
        let out = run(cmd("svwait").args([flag, "-t", "200"]).arg(&dir), LIMIT);
        assert_eq!(out.status.code(), Some(99), "{flag} while up");
    }
    let mut down = svwait_bg(&["-d"], &dir);
    let mut down_t = svwait_bg(&["-d", "-t", "8000"], &dir);
    let mut really = svwait_bg(&["-D"], &dir);
    let mut really_t = svwait_bg(&["-D", "-t", "8000"], &dir);
    assert!(
        eventually(LIMIT, || listeners(&dir) == 4),
        "four svwait subscribed"
    );
    s.send(b"d");
    assert_eq!(exit_code(&mut down), Some(0));
    assert_eq!(exit_code(&mut down_t), Some(0));
    assert!(!dir.join("finished").exists(), "-d returned after finish");
    assert_eq!(exit_code(&mut really), Some(0));
    assert_eq!(exit_code(&mut really_t), Some(0));
    assert!(
        dir.join("finished").exists(),
        "-D returned before finish ended"
    );
}

#[test]
fn svwait_exits_102_when_supervise_exits_and_o_takes_one() {
    let sb = Sandbox::new();
    let a = sb.service("a", "exec sleep 100");
    let b = sb.service("b", "exec sleep 100");
    sb.write("a/down", "");
    sb.write("b/down", "");
    let sa = supervise(&a);
    let sbv = supervise(&b);
    let mut one = Spawned::start(cmd("svwait").args(["-u", "-o"]).arg(&a).arg(&b));
    let mut all = Spawned::start(cmd("svwait").args(["-u", "-a"]).arg(&a).arg(&b));
    assert!(
        eventually(LIMIT, || listeners(&a) == 2
            && listeners(&b) == 2
            && sleeps_in_poll(all.pid())),
        "both svwait subscribed"
    );
    let woken = wakeups(all.pid()).expect("svwait -a runs");
    sbv.send(b"u");
    assert_eq!(exit_code(&mut one), Some(0));
    // Positive first: -a woke for b's `u`, read its FIFO empty and sleeps again; only then
    // does "still waiting" say it decided to wait for a.
    let fifo = std::fs::read_dir(b.join("event"))
        .expect("event dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"ftrig1"))
        })
        .expect("svwait -a's FIFO");
    assert!(
        eventually(LIMIT, || wakeups(all.pid()).is_some_and(|w| w > woken)
            && unread(&fifo) == Some(0)
            && sleeps_in_poll(all.pid())),
        "svwait -a did not take b's event"
    );
    assert!(
        all.child.try_wait().expect("try_wait").is_none(),
        "-a needs both"
    );
    assert_eq!(sa.stop(), 0);
    assert_eq!(exit_code(&mut all), Some(102));
}

#[test]
fn listener_sees_every_event_of_100_restarts_coalesced() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exit 1");
    // No quick-exit threshold: every exit restarts at once, no backoff.
    sb.write("svc/backoff", "1 1 0\n");
    sb.script(
        "svc/notify",
        "#!/bin/sh\necho \"$VIGIL_FIRST_SEQ $VIGIL_SEQ $VIGIL_EVENTS $1 $2\" >> notified\n",
    );
    let s = supervise(&dir);
    s.wait_for("100 restarts", |st| {
        st.ext.is_some_and(|e| e.restarts >= 100)
    });
    s.send(b"d");
    let last_seq = s
        .wait_for("down", |st| st.ext.is_some_and(|e| e.state == State::Down))
        .ext
        .expect("ext")
        .seq;
    let notified = dir.join("notified");
    assert!(
        eventually(LIMIT, || {
            lines(&notified)
                .last()
                .is_some_and(|l| l.split(' ').nth(1) == Some(&last_seq.to_string()))
        }),
        "listener did not catch up to {last_seq}: {:?}",
        lines(&notified).last()
    );
    let restarts = s.status().and_then(|st| st.ext).expect("ext").restarts;
    let mut next = 1;
    let mut letters = String::new();
    let batches = lines(&notified);
    for line in &batches {
        let f: Vec<&str> = line.split(' ').collect();
        let (first, last): (u64, u64) = (f[0].parse().expect("first"), f[1].parse().expect("seq"));
        assert_eq!(first, next, "batches must be consecutive: {line}");
        assert_eq!(f[2].len() as u64, last - first + 1, "{line}");
        assert_eq!(f[4], f[1], "argument 2 is the sequence number");
        letters.push_str(f[2]);
        next = last + 1;
    }
    assert_eq!(next, last_seq + 1);
    let count = |c| letters.chars().filter(|&l| l == c).count() as u32;
    // Every start and every exit of run, none missed, none twice.
    assert_eq!(count('u'), restarts + 1);
    assert_eq!(count('d'), restarts + 1);
    assert_eq!(count('s'), 1);
    // The journal keeps the last 256; svwatch says what it no longer has.
    assert!(last_seq > 256, "{last_seq} events");
    let out = run(
        cmd("svwatch")
            .args(["--no-follow", "--since", "0"])
            .arg(&dir),
        LIMIT,
    );
    let replay = text(&out.stdout);
    let first = replay.lines().next().expect("a first line");
    assert_eq!(json_field(first, "event"), Some("\"lost\""), "{first}");
    assert_eq!(json_field(first, "first"), Some("1"));
    assert_eq!(
        json_field(first, "last"),
        Some(&*(last_seq - 256).to_string())
    );
    assert_eq!(replay.lines().count(), 257);
    // Coalesced: fewer runs of the listener than events.
    assert!(
        batches.len() < letters.len(),
        "{} runs for {} events",
        batches.len(),
        letters.len()
    );
}

#[test]
fn svwatch_follows_across_a_supervise_restart() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let out = sb.join("watch.out");
    let s = supervise(&dir);
    let _watch = Spawned::start(
        cmd("svwatch")
            .arg("--since")
            .arg("0")
            .arg(&dir)
            .stdout(File::create(&out).expect("out")),
    );
    let has = |event: &str, n: usize| {
        let event = format!("\"{event}\"");
        lines(&out)
            .iter()
            .filter(|l| json_field(l, "event") == Some(&event))
            .count()
            >= n
    };
    assert!(eventually(LIMIT, || has("ready", 1)), "{:?}", lines(&out));
    assert_eq!(s.stop(), 0);
    assert!(eventually(LIMIT, || has("exit", 1)), "{:?}", lines(&out));
    let s2 = supervise(&dir);
    s2.wait_up();
    assert!(eventually(LIMIT, || has("ready", 2)), "{:?}", lines(&out));
    let all = lines(&out);
    let words: Vec<&str> = all.iter().filter_map(|l| json_field(l, "event")).collect();
    assert_eq!(
        words,
        [
            "\"start\"",
            "\"up\"",
            "\"ready\"",
            "\"down\"",
            "\"really_down\"",
            "\"exit\"",
            "\"start\"",
            "\"up\"",
            "\"ready\""
        ]
    );
    for (i, line) in all.iter().enumerate() {
        assert_eq!(
            json_field(line, "seq"),
            Some(&*(i + 1).to_string()),
            "{line}"
        );
        assert_eq!(
            json_field(line, "service"),
            Some(&*format!("\"{}\"", dir.display()))
        );
        assert!(json_field(line, "time").is_some_and(|t| t.ends_with("Z\"")));
    }
    let down = &all[3];
    assert_eq!(json_field(down, "signal"), Some("15"), "{down}");
}

#[test]
fn svwatch_replays_since_and_from_a_cursor() {
    let sb = Sandbox::new();
    let (dir, s) = sleeper(&sb);
    s.send(b"d");
    s.wait_for("down", |st| st.ext.is_some_and(|e| e.state == State::Down));
    let out = run(
        cmd("svwatch")
            .args(["--no-follow", "--since", "3"])
            .arg(&dir),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let words: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| json_field(l, "event").map(str::to_owned))
        .collect();
    assert_eq!(words, ["\"down\"", "\"really_down\""]);
    let cursor = sb.join("cursor");
    let resume = || {
        run(
            cmd("svwatch")
                .arg("--no-follow")
                .arg("--cursor")
                .arg(&cursor)
                .arg(&dir),
            LIMIT,
        )
    };
    let once = resume();
    assert_eq!(text(&once.stdout).lines().count(), 5);
    assert_eq!(
        fs::read_to_string(&cursor).expect("cursor"),
        format!("5 {}\n", dir.display())
    );
    s.send(b"u");
    s.wait_up();
    assert!(eventually(LIMIT, || s
        .status()
        .and_then(|st| st.ext)
        .is_some_and(|e| e.seq == 7)));
    let again = resume();
    let seqs: Vec<String> = text(&again.stdout)
        .lines()
        .filter_map(|l| json_field(l, "seq").map(str::to_owned))
        .collect();
    assert_eq!(seqs, ["6", "7"]);
}

/// Issue #12 item 6: a service directory whose name holds a newline (or a `%`) resumes from
/// its cursor like any other.
#[test]
fn svwatch_cursor_keeps_names_with_newlines() {
    let sb = Sandbox::new();
    let dir = sb.service("odd\nname%0A", "exec sleep 100");
    let s = supervise(&dir);
    s.wait_up();
    let cursor = sb.join("cursor");
    let resume = || {
        run(
            cmd("svwatch")
                .arg("--no-follow")
                .arg("--cursor")
                .arg(&cursor)
                .arg(&dir),
            LIMIT,
        )
    };
    let once = resume();
    assert_eq!(once.status.code(), Some(0), "{}", text(&once.stderr));
    assert!(
        text(&once.stdout).contains("\"event\":\"up\""),
        "{}",
        text(&once.stdout)
    );
    let saved = fs::read(&cursor).expect("cursor");
    assert_eq!(
        saved.iter().filter(|&&b| b == b'\n').count(),
        1,
        "one line per service"
    );
    // Nothing new: nothing printed, and the file is read back as it was written.
    let again = resume();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");
    s.send(b"d");
    s.wait_for("down", |st| st.ext.is_some_and(|e| e.state == State::Down));
    let later = resume();
    let words: Vec<String> = text(&later.stdout)
        .lines()
        .filter_map(|l| json_field(l, "event").map(str::to_owned))
        .collect();
    assert_eq!(words, ["\"down\"", "\"really_down\""]);
}

/// Issue #12 item 7: a journal whose numbers reach the top of u64 (crafted) neither stops
/// supervise nor silences svwatch: supervise starts the journal anew at 1, and a follower that
/// had seen the high numbers starts over.
#[test]
fn journal_numbers_near_the_top_start_over_and_followers_go_on() {
    use vigil_proto::event::Event;
    use vigil_proto::journal::{Journal, Record};
    let sb = Sandbox::new();
    let dir = sb.service("edge", "exec sleep 100");
    fs::create_dir_all(dir.join("supervise")).expect("supervise/");
    {
        let mut journal = Journal::open(dir.as_os_str()).expect("journal");
        for seq in [u64::MAX - 2, u64::MAX - 1] {
            let mut r = Record::new(Event::Up, 7);
            r.seq = seq;
            journal.write(&r).expect("record");
        }
    }
    // A follower that has seen the highest numbers, started before supervise.
    let out = sb.join("watch.out");
    let _watch = Spawned::start(
        cmd("svwatch")
            .args(["--since", &(u64::MAX - 1).to_string()])
            .arg(&dir)
            .stdout(File::create(&out).expect("out")),
    );
    assert!(eventually(LIMIT, || listeners(&dir) == 1));
    let s = supervise(&dir);
    s.wait_up();
    s.send(b"d");
    s.wait_for("down", |st| st.ext.is_some_and(|e| e.state == State::Down));
    s.send(b"u");
    s.wait_up();
    assert!(
        eventually(LIMIT, || lines(&out)
            .iter()
            .filter(|l| l.contains("\"event\":\"up\""))
            .count()
            >= 2),
        "svwatch fell silent: {:?}",
        lines(&out)
    );
    let all = lines(&out);
    let first = all
        .iter()
        .find(|l| l.contains("\"event\":\"start\""))
        .expect("start");
    assert_eq!(json_field(first, "seq"), Some("1"), "{all:?}");
}

#[test]
fn no_wakeups_while_idle_with_listeners_attached() {
    let sb = Sandbox::new();
    let (dir, s) = sleeper(&sb);
    let out = sb.join("watch.out");
    let watch = Spawned::start(
        cmd("svwatch")
            .arg(&dir)
            .stdout(File::create(&out).expect("out")),
    );
    let wait = Spawned::start(cmd("svwait").arg("-d").arg(&dir));
    assert!(eventually(LIMIT, || fs::read_dir(dir.join("event"))
        .is_ok_and(|d| d.count() == 2)));
    // Events reach both, then quiet.
    s.send(b"p");
    s.send(b"c");
    assert!(eventually(LIMIT, || lines(&out)
        .iter()
        .any(|l| l.contains("\"continue\""))));
    let pids = [s.pid(), watch.pid(), wait.pid()];
    // Positive first: all three are back asleep in poll after the events.
    assert!(
        eventually(LIMIT, || pids.iter().all(|&p| sleeps_in_poll(p))),
        "supervise, svwatch, svwait did not go back to sleep"
    );
    let before: Vec<Option<u64>> = pids.iter().map(|&p| wakeups(p)).collect();
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<Option<u64>> = pids.iter().map(|&p| wakeups(p)).collect();
    assert!(before.iter().all(Option::is_some));
    assert_eq!(before, after, "supervise, svwatch, svwait woke while idle");
}

#[test]
fn listener_gets_each_events_own_variables_issue_15() {
    // A crash and its restart are one batch `d D u U` (or split, by timing): each event's
    // own variables are there, numbered, not only the newest's (`VIGIL_LETTER=U`).
    let sb = Sandbox::new();
    let dir = sb.service(
        "svc",
        "echo $$ >> ../starts\n[ -e crashed ] && exec sleep 100\ntouch crashed\nexit 3",
    );
    sb.write("svc/backoff", "1 1 0\n");
    sb.script(
        "svc/notify",
        "#!/bin/sh\ni=1\nwhile [ \"$i\" -le \"${VIGIL_COUNT:-0}\" ]; do\n\
         eval \"echo \\\"\\$VIGIL_SEQ_$i \\$VIGIL_LETTER_$i \\${VIGIL_PID_$i:-0} \\${VIGIL_EXITCODE_$i:--}\\\"\" >> notified\n\
         i=$((i + 1))\ndone\n",
    );
    let s = supervise(&dir);
    let notified = dir.join("notified");
    assert!(
        eventually(LIMIT, || lines(&notified).len() >= 7),
        "{:?}; stderr: {}",
        lines(&notified),
        s.stderr()
    );
    let got = lines(&notified);
    let starts = lines(&sb.join("starts"));
    let (first, second) = (&starts[0], &starts[1]);
    assert_eq!(
        got[..7],
        [
            format!("1 s {} -", s.pid()),
            format!("2 u {first} -"),
            format!("3 U {first} -"),
            format!("4 d {first} 3"),
            "5 D 0 -".to_string(),
            format!("6 u {second} -"),
            format!("7 U {second} -"),
        ],
        "{got:?}"
    );
}

#[test]
fn a_listener_that_hangs_is_killed_and_the_queue_goes_on() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    sb.write("svc/notify-timeout", "200\n");
    // The first run (for `s`) hangs; the next ones return at once.
    sb.script(
        "svc/notify",
        "#!/bin/sh\necho \"$VIGIL_EVENTS\" >> notified\n[ \"$VIGIL_EVENT\" = start ] && exec sleep 100\nexit 0\n",
    );
    let s = supervise(&dir);
    s.wait_up();
    let notified = dir.join("notified");
    assert!(
        eventually(LIMIT, || lines(&notified).len() >= 2),
        "{:?}",
        lines(&notified)
    );
    assert_eq!(lines(&notified), ["s", "uU"]);
    let sleepers = sb
        .processes()
        .into_iter()
        .filter(|&p| {
            fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with("sleep\x00100"))
        })
        .count();
    assert_eq!(
        sleepers, 1,
        "only the service sleeps: the hung listener was killed"
    );
}

#[test]
fn example_listener_reports_a_crash() {
    let sb = Sandbox::new();
    let dir = sb.service(
        "svc",
        "[ -e crashed ] && exec sleep 100\ntouch crashed\nexit 3",
    );
    // Through Sandbox::script, not fs::copy: a file this process wrote can be held open by a
    // child another test thread forks, and supervise's exec of it would fail (ETXTBSY).
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/notify/notify");
    sb.script(
        "svc/notify",
        &fs::read_to_string(example).expect("read example"),
    );
    sb.write("svc/backoff", "1 1 0\n");
    // The example finds svwatch on PATH.
    let bin_dir = crate::util::bin("svwatch")
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let err = sb.join("svc.err");
    let _sup = Spawned::start(
        cmd("supervise")
            .arg(&dir)
            .env("PATH", path)
            .stderr(File::create(&err).expect("stderr")),
    );
    assert!(
        eventually(LIMIT, || fs::read_to_string(&err).is_ok_and(|e| e
            .contains("crashed")
            && e.contains("\"exitcode\":3"))),
        "{}",
        fs::read_to_string(&err).unwrap_or_default()
    );
}

#[test]
fn s6_ftrig_wait_hears_vigil_events() {
    let Some(ftrig_wait) = peer("/usr/bin/s6-ftrig-wait") else {
        return;
    };
    let sb = Sandbox::new();
    let (dir, s) = sleeper(&sb);
    fs::create_dir_all(dir.join("event")).expect("event dir");
    let mut waiter = Spawned::start(
        Command::new(ftrig_wait)
            .args(["-t", "8000"])
            .arg(dir.join("event"))
            .arg("d"),
    );
    assert!(eventually(LIMIT, || fs::read_dir(dir.join("event"))
        .is_ok_and(|d| d.count() == 1)));
    s.send(b"k");
    assert_eq!(exit_code(&mut waiter), Some(0));
}

#[test]
fn svwatch_removes_its_fifo_when_terminated() {
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let mut watch = Spawned::start(cmd("svwatch").arg(&dir).stdout(std::process::Stdio::null()));
    let fifos = || fs::read_dir(dir.join("event")).map_or(0, |d| d.count());
    assert!(eventually(LIMIT, || fifos() == 1));
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(exit_code(&mut watch), Some(0));
    assert_eq!(fifos(), 0);
}

#[test]
fn svwait_removes_its_fifo_and_dies_of_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new();
    let dir = sb.service("svc", "exec sleep 100");
    let mut waiter = Spawned::start(cmd("svwait").args(["-s", "-u"]).arg(&dir));
    let fifos = || fs::read_dir(dir.join("event")).map_or(0, |d| d.count());
    assert!(eventually(LIMIT, || fifos() == 1));
    waiter.signal(nix::sys::signal::Signal::SIGTERM);
    let status = waiter.wait_timeout(LIMIT).expect("svwait ended");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert_eq!(fifos(), 0);
}

/// Issue 12, item 1: a member of a listener group plants links in `event/`; supervise (root)
/// writes into none of them and removes them, while real subscribers hear the event.
#[test]
fn event_fifos_planted_links_are_never_written_issue_12() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let sb = Sandbox::new();
    let (dir, s) = sleeper(&sb);
    let other = sb.service("other", "exec sleep 100");
    let o = supervise(&other);
    let other_pid = o.wait_up();
    let secret = sb.write("shadow", "root:secret\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
    let event = dir.join("event");
    fs::create_dir_all(&event).expect("event dir");
    symlink(&secret, event.join("ftrig1:shadow")).expect("symlink");
    symlink(other.join("supervise/control"), event.join("ftrig1:ctl")).expect("symlink");
    // Listeners' FIFOs in place: a listener makes it under a hidden name, then renames it.
    let count = || {
        fs::read_dir(&event).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().as_encoded_bytes().starts_with(b"ftrig1"))
            })
            .count()
        })
    };
    let mut waiter = svwait_bg(&["-d", "-t", "8000"], &dir);
    let out = sb.join("watch.out");
    let _watch = Spawned::start(
        cmd("svwatch")
            .arg(&dir)
            .stdout(File::create(&out).expect("out")),
    );
    let mut listeners = 2;
    let ftrig = peer("/usr/bin/s6-ftrig-wait").map(|p| {
        listeners += 1;
        Spawned::start(Command::new(p).args(["-t", "8000"]).arg(&event).arg("d"))
    });
    assert!(eventually(LIMIT, || count() == 2 + listeners));
    s.send(b"k");
    assert_eq!(exit_code(&mut waiter), Some(0));
    if let Some(mut ftrig) = ftrig {
        assert_eq!(exit_code(&mut ftrig), Some(0));
    }
    assert!(
        eventually(LIMIT, || lines(&out)
            .iter()
            .any(|l| json_field(l, "event") == Some("\"down\""))),
        "{:?}",
        lines(&out)
    );
    // supervise owns event/: the links are gone, the svwatch FIFO stays.
    assert!(
        eventually(LIMIT, || count() == 1),
        "{:?}",
        fs::read_dir(&event).map(|d| d.count())
    );
    assert_eq!(fs::read(&secret).expect("read"), b"root:secret\n");
    let status = o.status().expect("other's status");
    assert_eq!(
        (status.pid, status.want),
        (other_pid, vigil_proto::status::Want::Up)
    );
    assert!(s.stderr().is_empty(), "{}", s.stderr());
}

/// Issue 15 item 8: `svwatch SCANDIR` follows every service in it, and services that appear
/// later (their journal from its start); it makes nothing in the scan directory itself (it
/// used to make `SCANDIR/event/` and print nothing).
#[test]
fn svwatch_on_a_scan_directory_follows_services_as_they_come() {
    let sb = Sandbox::new();
    let scan = sb.join("scan");
    let a = sb.service("scan/a", "exec sleep 100");
    sb.service("stage/b", "exec sleep 100");
    let sa = supervise(&a);
    sa.wait_up();
    let out = sb.join("watch.out");
    let _watch = Spawned::start(
        cmd("svwatch")
            .arg(&scan)
            .stdout(File::create(&out).expect("out")),
    );
    assert!(eventually(LIMIT, || listeners(&a) == 1), "a not followed");
    let said = |service: &Path, event: &str| {
        let service = format!("\"service\":\"{}\"", service.display());
        let event = format!("\"event\":\"{event}\"");
        lines(&out)
            .iter()
            .any(|l| l.contains(&service) && l.contains(&event))
    };
    sa.send(b"t");
    assert!(eventually(LIMIT, || said(&a, "down")), "{:?}", lines(&out));
    let b = scan.join("b");
    fs::rename(sb.join("stage/b"), &b).expect("mv b in");
    assert!(eventually(LIMIT, || listeners(&b) == 1), "b not followed");
    let sbv = supervise(&b);
    sbv.wait_up();
    assert!(
        eventually(LIMIT, || said(&b, "start") && said(&b, "up")),
        "{:?}",
        lines(&out)
    );
    let mut made: Vec<_> = fs::read_dir(&scan)
        .expect("ls scan")
        .map(|e| e.expect("entry").file_name())
        // (the test's supervise writes its stderr to DIR.err beside DIR)
        .filter(|n| !n.as_encoded_bytes().ends_with(b".err"))
        .collect();
    made.sort();
    assert_eq!(
        made,
        ["a", "b"],
        "svwatch made something in the scan directory"
    );
}
