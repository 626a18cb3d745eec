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
    service(&scan, "flap", "exit 3");
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
