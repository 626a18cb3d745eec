//! vigil-listen against the real svscan, supervise and vigild of this build: an echo listener
//! sees every event type with supervisord's payloads and consecutive serials across a restart;
//! superlance's crashmail, memmon, httpok and fatalmailbatch (2.0.0, from the virtual
//! environment .ci/run makes) work unchanged (issue #18).

#[path = "../../vigild/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, script, svscan, Guard};

/// The Python that runs the test's own listener scripts and the SMTP sink.
const PYTHON: &str = "/usr/bin/python3";

/// Polls `cond` every 50 ms until it is true or `limit` passed; its last value.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn svc(flag: &str, dir: &Path) {
    let st = Command::new(bin("svc"))
        .arg(flag)
        .arg(dir)
        .status()
        .expect("svc");
    assert!(st.success(), "svc {flag} {}", dir.display());
}

/// The pid supervise shows for `dir` (0 when down).
fn pid(dir: &Path) -> u32 {
    let out = Command::new(bin("svstat"))
        .arg(dir)
        .output()
        .expect("svstat");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split("(pid ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// A service `name` under `scan` running `body` (a `#!/bin/sh` script).
fn service(scan: &Path, name: &str, body: &str) -> PathBuf {
    let dir = scan.join(name);
    fs::create_dir_all(&dir).unwrap();
    script(&dir.join("run"), body);
    dir
}

/// vigil-listen started by the test, in its own process group, stopped by its [`Guard`].
fn listen(cwd: &Path, args: &[&str], stderr: &Path) -> Guard {
    let err = fs::File::create(stderr).unwrap();
    let child = Command::new(bin("vigil-listen"))
        .args(args)
        .current_dir(cwd)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("vigil-listen");
    Guard(child)
}

/// The echo listener: each event as `HEADER|PAYLOAD` on a line of `out`, then `OK`.
const ECHO: &str = r#"
import sys
out = open(sys.argv[1], 'a')
while True:
    sys.stdout.write('READY\n'); sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        break
    headers = dict(x.split(':') for x in line.split())
    payload = sys.stdin.read(int(headers['len']))
    out.write(line.rstrip('\n') + '|' + payload + '\n'); out.flush()
    sys.stdout.write('RESULT 2\nOK'); sys.stdout.flush()
"#;

/// One echoed event: header fields and payload fields.
#[derive(Debug, Clone)]
struct Echoed {
    line: String,
    head: BTreeMap<String, String>,
    body: BTreeMap<String, String>,
}

fn fields(text: &str) -> BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|w| w.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn echoed(path: &Path) -> Vec<Echoed> {
    read(path)
        .lines()
        .filter_map(|l| {
            let (h, b) = l.split_once('|')?;
            Some(Echoed {
                line: l.to_owned(),
                head: fields(h),
                body: fields(b),
            })
        })
        .collect()
}

fn has(events: &[Echoed], name: &str, process: &str) -> bool {
    events.iter().any(|e| {
        e.head["eventname"] == name
            && e.body.get("processname").map(String::as_str) == Some(process)
    })
}

#[test]
fn echo_listener_gets_every_event_with_consecutive_serials_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("scan");
    fs::create_dir(&scan).unwrap();
    let web = service(&scan, "web", "exec sleep 1000");
    // Exits at once, wanted up: quick deaths, BACKOFF with tries.
    // Down until the listener runs (a backoff already under way could take seconds to end).
    let flap = service(&scan, "flap", "exit 3");
    fs::write(flap.join("down"), "").unwrap();
    // Cannot start at all (its interpreter is missing): FATAL, once.
    let broken = scan.join("broken");
    fs::create_dir(&broken).unwrap();
    fs::write(broken.join("run"), "#!/nonexistent/interpreter\n").unwrap();
    fs::set_permissions(
        broken.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    fs::write(broken.join("down"), "").unwrap();
    // Down until `svc -o`; then a clean exit is an expected one.
    let once = service(&scan, "once", "sleep 0.2; exit 0");
    fs::write(once.join("down"), "").unwrap();
    fs::write(tmp.path().join("echo.py"), ECHO).unwrap();
    let out = tmp.path().join("events");
    let _scan = svscan(&scan);
    assert!(
        eventually(Duration::from_secs(10), || pid(&web) != 0),
        "web never came up"
    );
    let scan_s = scan.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let args = ["-n", "echo", scan_s, "--", PYTHON, "echo.py", out_s];
    let mut listener = listen(tmp.path(), &args, &tmp.path().join("stderr1"));
    let wait = |name: &str, process: &str, secs: u64| {
        assert!(
            eventually(Duration::from_secs(secs), || has(
                &echoed(&out),
                name,
                process
            )),
            "no {name} for {process}:\n{}",
            read(&out)
        );
    };
    assert!(eventually(Duration::from_secs(10), || read(&out)
        .contains("SUPERVISOR_STATE_CHANGE_RUNNING")));
    svc("-u", &flap);
    wait("PROCESS_STATE_BACKOFF", "flap", 10);
    svc("-u", &broken);
    wait("PROCESS_STATE_FATAL", "broken", 10);
    let old = pid(&web);
    svc("-k", &web);
    wait("PROCESS_STATE_EXITED", "web", 5);
    wait("PROCESS_STATE_RUNNING", "web", 5);
    assert!(eventually(Duration::from_secs(5), || pid(&web) != 0
        && pid(&web) != old));
    let second = pid(&web);
    svc("-d", &web);
    wait("PROCESS_STATE_STOPPED", "web", 5);
    svc("-o", &once);
    wait("PROCESS_STATE_EXITED", "once", 5);
    assert!(eventually(Duration::from_secs(7), || read(&out)
        .contains("eventname:TICK_5")));

    // vigil-listen dies; the service changes meanwhile; the new one resumes from the cursor.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(listener.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    listener.stop();
    svc("-u", &web);
    assert!(eventually(Duration::from_secs(5), || pid(&web) != 0));
    let third = pid(&web);
    // A service that appears while the listener is away is followed from the journal too.
    service(&scan, "late", "exec sleep 1000");
    assert!(eventually(Duration::from_secs(10), || pid(
        &scan.join("late")
    ) != 0));
    let _listener = listen(tmp.path(), &args, &tmp.path().join("stderr2"));
    assert!(
        eventually(Duration::from_secs(10), || {
            let ev = echoed(&out);
            ev.iter().any(|e| {
                e.body.get("pid") == Some(&third.to_string())
                    && e.head["eventname"] == "PROCESS_STATE_RUNNING"
            }) && has(&ev, "PROCESS_STATE_RUNNING", "late")
        }),
        "the restart lost events:\n{}",
        read(&out)
    );

    let ev = echoed(&out);
    // Serials and pool serials: from 0, one more each event; a restart may send the event
    // that was in flight once more (it is then the same line).
    let mut expect = 0u64;
    let mut prev: Option<&Echoed> = None;
    for e in &ev {
        let serial: u64 = e.head["serial"].parse().unwrap();
        let poolserial: u64 = e.head["poolserial"].parse().unwrap();
        if serial + 1 == expect {
            assert_eq!(
                prev.map(|p| &p.line),
                Some(&e.line),
                "only the event in flight repeats"
            );
            continue;
        }
        assert_eq!(serial, expect, "serials:\n{}", read(&out));
        assert_eq!(poolserial, expect, "no -e: every event is this pool's");
        expect += 1;
        prev = Some(e);
    }
    for e in &ev {
        assert_eq!(e.head["ver"], "3.0");
        assert_eq!(e.head["server"], "vigil");
        assert_eq!(e.head["pool"], "echo");
        let payload = e.line.split_once('|').unwrap().1;
        assert_eq!(
            e.head["len"],
            payload.len().to_string(),
            "len counts the payload: {}",
            e.line
        );
    }
    let find = |name: &str, process: &str| {
        ev.iter()
            .find(|e| {
                e.head["eventname"] == name
                    && e.body.get("processname").map(String::as_str) == Some(process)
            })
            .unwrap_or_else(|| panic!("no {name} for {process}:\n{}", read(&out)))
            .clone()
    };
    let keys = |e: &Echoed| e.body.keys().cloned().collect::<Vec<_>>().join(",");
    // The payloads, field by field as supervisord's events.py writes them.
    let exited = find("PROCESS_STATE_EXITED", "web");
    assert_eq!(
        keys(&exited),
        "expected,from_state,groupname,pid,processname"
    );
    assert_eq!(
        (
            exited.body["expected"].as_str(),
            exited.body["from_state"].as_str()
        ),
        ("0", "RUNNING")
    );
    assert_eq!(exited.body["pid"], old.to_string());
    assert_eq!(exited.body["groupname"], "web");
    let starting = find("PROCESS_STATE_STARTING", "web");
    assert_eq!(keys(&starting), "from_state,groupname,processname,tries");
    let running = find("PROCESS_STATE_RUNNING", "web");
    assert_eq!(keys(&running), "from_state,groupname,pid,processname");
    assert_eq!(running.body["from_state"], "STARTING");
    let stopping = find("PROCESS_STATE_STOPPING", "web");
    assert_eq!(stopping.body["pid"], second.to_string());
    let stopped = find("PROCESS_STATE_STOPPED", "web");
    assert_eq!(
        (
            stopped.body["pid"].as_str(),
            stopped.body["from_state"].as_str()
        ),
        (second.to_string().as_str(), "STOPPING")
    );
    let backoff = find("PROCESS_STATE_BACKOFF", "flap");
    assert_eq!(keys(&backoff), "from_state,groupname,processname,tries");
    assert_eq!(backoff.body["tries"], "1");
    let fatal = find("PROCESS_STATE_FATAL", "broken");
    assert_eq!(keys(&fatal), "from_state,groupname,processname");
    assert_eq!(
        ev.iter()
            .filter(|e| e.head["eventname"] == "PROCESS_STATE_FATAL")
            .count(),
        1,
        "FATAL once for a run that cannot start"
    );
    let once_exit = find("PROCESS_STATE_EXITED", "once");
    assert_eq!(once_exit.body["expected"], "1", "svc -o, exit 0: expected");
    let tick = ev
        .iter()
        .find(|e| e.head["eventname"] == "TICK_5")
        .expect("TICK_5");
    let when: u64 = tick.body["when"].parse().unwrap();
    assert_eq!(when % 5, 0, "ticks are aligned to the clock");
    let running_events = ev
        .iter()
        .filter(|e| e.head["eventname"] == "SUPERVISOR_STATE_CHANGE_RUNNING");
    assert!(running_events.clone().all(|e| e.line.ends_with("len:0|")));
    assert_eq!(running_events.count(), 2, "one at each start");
}

/// superlance's virtual environment (.ci/run makes it; VIGIL_SUPERLANCE overrides): its `bin/`.
fn superlance() -> Option<PathBuf> {
    let venv = PathBuf::from(
        std::env::var_os("VIGIL_SUPERLANCE").unwrap_or_else(|| "/opt/superlance-venv".into()),
    );
    let bin = venv.join("bin");
    if bin.join("crashmail").exists() && bin.join("memmon").exists() {
        return Some(bin);
    }
    let why = format!(
        "superlance is not installed in {} (.ci/run makes the virtual environment)",
        venv.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

/// A scan directory under svscan with vigild on its default socket, and a listener service
/// `listener` running `vigil-listen ARGS SCAN -- PROG...` with superlance on its PATH.
struct Tree {
    // Dropped in this order: vigild, then svscan (which stops the services and the listener),
    // then the directory.
    _vigild: Guard,
    _svscan: Guard,
    scan: PathBuf,
    tmp: tempfile::TempDir,
}

impl Tree {
    fn new(services: &[(&str, &str)]) -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let scan = tmp.path().join("scan");
        fs::create_dir(&scan).unwrap();
        for (name, body) in services {
            service(&scan, name, body);
        }
        let svscan = svscan(&scan);
        let vigild = Command::new(bin("vigild"))
            .arg(&scan)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vigild");
        let tree = Tree {
            scan,
            _svscan: svscan,
            _vigild: Guard(vigild),
            tmp,
        };
        assert!(
            eventually(Duration::from_secs(10), || tree
                .scan
                .join(".vigild.sock")
                .exists()),
            "vigild never listened"
        );
        tree
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Starts the listener service; returns once vigil-listen has taken the present (its
    /// cursor file exists).
    fn listener(&self, superlance: &Path, events: &str, prog: &str) {
        let dir = self.tmp.path().join("listener");
        fs::create_dir(&dir).unwrap();
        let body = format!(
            "PATH={}:$PATH\nexport PATH\nexec 2>>{}\nexec {} -e {events} {} -- {prog}",
            superlance.display(),
            self.path("listener.err").display(),
            bin("vigil-listen").display(),
            self.scan.display()
        );
        script(&dir.join("run"), &body);
        // In the scan directory, as it would run: svscan starts it, supervise restarts it.
        std::os::unix::fs::symlink(&dir, self.scan.join("listener")).unwrap();
        assert!(
            eventually(Duration::from_secs(15), || dir
                .join("vigil-listen.cursor")
                .exists()),
            "the listener never started: {}",
            read(&self.path("listener.err"))
        );
    }
}

#[test]
fn a_listener_that_writes_garbage_is_reported_and_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("scan");
    fs::create_dir(&scan).unwrap();
    // Garbage instead of READY, then it would sleep: vigil-listen must not wait for it.
    let started = Instant::now();
    let out = Command::new(bin("vigil-listen"))
        .arg(&scan)
        .args(["--", "/bin/sh", "-c", "echo hello; exec sleep 30"])
        .current_dir(tmp.path())
        .process_group(0)
        .output()
        .expect("vigil-listen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(111), "{stderr}");
    assert!(
        stderr
            .contains("vigil-listen: warning: the listener wrote \"hello\\n\" where READY was due"),
        "{stderr}"
    );
    assert!(
        stderr.contains("vigil-listen: fatal: listener /bin/sh was killed by signal 15"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited for the listener"
    );
}

#[test]
fn unknown_events_and_missing_programs_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(bin("vigil-listen"))
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = tmp.path().to_str().unwrap();
    let (code, err) = run(&["-e", "TICK_7", dir, "--", "cat"]);
    assert_eq!(code, Some(100), "{err}");
    assert!(err.contains("unknown event TICK_7"), "{err}");
    let (code, err) = run(&[dir, "--", "/nonexistent/listener"]);
    assert_eq!(code, Some(111), "{err}");
    assert!(
        err.starts_with(
            "vigil-listen: fatal: unable to start /nonexistent/listener: file does not exist"
        ),
        "{err}"
    );
}

#[test]
fn crashmail_mails_a_kill_9_within_two_seconds_and_not_a_stop() {
    let Some(superlance) = superlance() else {
        return;
    };
    let tree = Tree::new(&[("web", "exec sleep 1000"), ("zz", "exec sleep 1000")]);
    let web = tree.scan.join("web");
    let zz = tree.scan.join("zz");
    assert!(eventually(Duration::from_secs(10), || pid(&web) != 0 && pid(&zz) != 0));
    let mail = tree.path("mail");
    let prog = format!("crashmail -a -m root -s 'cat >> {}'", mail.display());
    tree.listener(&superlance, "PROCESS_STATE_EXITED", &prog);
    // Give the Python listener its start: the kill must be answered within 2 s of itself.
    std::thread::sleep(Duration::from_secs(1));
    let old = pid(&web);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed = Instant::now();
    assert!(
        eventually(Duration::from_secs(2), || read(&mail).contains(&format!(
            "Process web in group web exited unexpectedly (pid {old})"
        ))),
        "no mail within 2 s of kill -9:\n{}\n{}",
        read(&mail),
        read(&tree.path("listener.err"))
    );
    eprintln!("crashmail: mail {:?} after kill -9", killed.elapsed());
    assert!(eventually(Duration::from_secs(5), || pid(&web) != 0));
    // svc -d is a stop asked for: no mail. Then a crash of zz proves the listener went past it.
    svc("-d", &web);
    assert!(eventually(Duration::from_secs(5), || pid(&web) == 0));
    let zz_pid = pid(&zz);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(zz_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || read(&mail)
            .contains("Process zz in group zz exited unexpectedly")),
        "no mail for zz:\n{}",
        read(&tree.path("listener.err"))
    );
    assert_eq!(
        read(&mail).matches("Process web").count(),
        1,
        "svc -d mailed:\n{}",
        read(&mail)
    );
}

#[test]
fn memmon_restarts_a_service_past_its_limit_through_xmlrpc() {
    let Some(superlance) = superlance() else {
        return;
    };
    let grow = format!("exec {PYTHON} -c \"import time; x = b'x' * (40 << 20); time.sleep(1000)\"");
    let tree = Tree::new(&[("web", &grow)]);
    let web = tree.scan.join("web");
    assert!(eventually(Duration::from_secs(10), || pid(&web) != 0));
    let old = pid(&web);
    let prog = format!(
        "memmon -p web=20MB -m root -s 'cat >> {}'",
        tree.path("mail").display()
    );
    tree.listener(&superlance, "TICK_5", &prog);
    // Two ticks (5 s each) from the listener's start, and the restart itself.
    assert!(
        eventually(Duration::from_secs(13), || {
            let now = pid(&web);
            now != 0 && now != old
        }),
        "memmon did not restart web (pid {old}):\n{}",
        read(&tree.path("listener.err"))
    );
    assert!(
        read(&tree.path("listener.err")).contains("Restarting web:web"),
        "{}",
        read(&tree.path("listener.err"))
    );
    // Its mail needs getProcessInfo's `now` and `start` (an uptime under its limit).
    assert!(
        eventually(Duration::from_secs(5), || read(&tree.path("mail"))
            .contains("restarted the process named web:web")),
        "no mail from memmon:\n{}",
        read(&tree.path("listener.err"))
    );
}

#[test]
fn httpok_restarts_a_server_that_stops_answering() {
    let Some(superlance) = superlance() else {
        return;
    };
    let port = common::free_port();
    let serve = format!("exec {PYTHON} -m http.server --bind 127.0.0.1 {port}");
    let tree = Tree::new(&[("web", &serve)]);
    let web = tree.scan.join("web");
    assert!(
        eventually(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "the server never listened"
    );
    let prog = format!("httpok -p web -t 2 http://127.0.0.1:{port}/");
    tree.listener(&superlance, "TICK_5", &prog);
    let old = pid(&web);
    // Stopped (SIGSTOP): the kernel still accepts connections, nothing answers.
    svc("-p", &web);
    assert!(
        eventually(Duration::from_secs(20), || {
            let now = pid(&web);
            now != 0 && now != old
        }),
        "httpok did not restart web:\n{}",
        read(&tree.path("listener.err"))
    );
    // httpok names it as supervisord does (`web`, its group having the same name), once
    // startProcess has answered.
    assert!(
        eventually(Duration::from_secs(5), || read(&tree.path("listener.err"))
            .contains("web restarted")),
        "{}",
        read(&tree.path("listener.err"))
    );
}

/// A tiny SMTP server on loopback: every message's data appended to `argv[2]`.
const SMTP_SINK: &str = r#"
import socketserver, sys
out = sys.argv[2]
class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b'220 sink\r\n')
        data = None
        for line in self.rfile:
            if data is not None:
                if line in (b'.\r\n', b'.\n'):
                    with open(out, 'ab') as f:
                        f.write(b''.join(data) + b'\n.\n')
                    data = None
                    self.wfile.write(b'250 ok\r\n')
                else:
                    data.append(line)
                continue
            verb = line.split(b' ')[0].strip().upper()
            if verb == b'DATA':
                data = []
                self.wfile.write(b'354 go on\r\n')
            elif verb == b'QUIT':
                self.wfile.write(b'221 bye\r\n')
                return
            else:
                self.wfile.write(b'250 ok\r\n')
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(('127.0.0.1', int(sys.argv[1])), Handler).serve_forever()
"#;

#[test]
fn fatalmailbatch_reports_a_service_that_cannot_start() {
    let Some(superlance) = superlance() else {
        return;
    };
    let tree = Tree::new(&[]);
    // Its interpreter is missing: supervise cannot start it at all. Down until the listener runs.
    let broken = tree.scan.join("broken");
    fs::create_dir(&broken).unwrap();
    fs::write(broken.join("down"), "").unwrap();
    fs::write(broken.join("run"), "#!/nonexistent/interpreter\n").unwrap();
    fs::set_permissions(
        broken.join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = common::free_port();
    let mail = tree.path("mail");
    fs::write(tree.path("sink.py"), SMTP_SINK).unwrap();
    let sink = Command::new(PYTHON)
        .arg(tree.path("sink.py"))
        .arg(port.to_string())
        .arg(&mail)
        .process_group(0)
        .stdout(Stdio::null())
        .spawn()
        .expect("smtp sink");
    let _sink = Guard(sink);
    assert!(eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    assert!(eventually(Duration::from_secs(10), || Path::new(
        &broken.join("supervise/status")
    )
    .exists()));
    let prog = format!(
        "fatalmailbatch -t ops@example.org -f vigil@example.org -H 127.0.0.1:{port} -e TICK_5 -i 0.05"
    );
    tree.listener(&superlance, "PROCESS_STATE,TICK_5", &prog);
    svc("-u", &broken);
    assert!(
        eventually(Duration::from_secs(15), || read(&mail)
            .contains("Process broken:broken failed to start too many times")),
        "no mail:\n{}\n{}",
        read(&mail),
        read(&tree.path("listener.err"))
    );
    assert!(
        read(&mail).contains("To: ops@example.org"),
        "{}",
        read(&mail)
    );
}
