//! vigild's XML-RPC endpoint and `/logtail` stream, driven over its unix socket with plain
//! HTTP/1.1: what a client other than supervisorctl may send (untyped values, no `<params>`,
//! multicall, garbage), what log text becomes, and `tail -f` across multilog's rotation.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{bin, script, until, Guard};

/// svscan and vigild on a scan directory; the guards stop vigild first, then svscan.
struct Tree {
    scan: PathBuf,
    sock: PathBuf,
    _vigild: Guard,
    _svscan: Guard,
    // Last: fields drop in order, so the services are stopped before their directory goes
    // (a logger whose directory vanished under it retries for ever).
    _dir: tempfile::TempDir,
}

impl Tree {
    fn new(services: &[(&str, &str, bool)]) -> Tree {
        Tree::with(services, |_| {})
    }

    /// As `new`, with `setup` run on the scan directory before svscan starts.
    fn with(services: &[(&str, &str, bool)], setup: impl FnOnce(&Path)) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let scan = dir.path().join("scan");
        for (name, run, logged) in services {
            fs::create_dir_all(scan.join(name)).unwrap();
            script(&scan.join(name).join("run"), run);
            if *logged {
                fs::create_dir_all(scan.join(name).join("log")).unwrap();
                script(
                    &scan.join(name).join("log/run"),
                    &format!("exec {} t ./main", bin("multilog").display()),
                );
            }
        }
        setup(&scan);
        let svscan = common::svscan(&scan);
        let sock = dir.path().join("vigild.sock");
        let vigild = common::vigild_unix(&sock, &scan, &[]);
        Tree {
            scan,
            sock,
            _vigild: vigild,
            _svscan: svscan,
            _dir: dir,
        }
    }

    /// One request; the reply's status line and body.
    fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        common::unix_http(
            &self.sock,
            method,
            path,
            &[("Content-Type", "text/xml")],
            body,
        )
    }

    fn call(&self, xml: &str) -> String {
        let (status, body) = self.http("POST", "/RPC2", xml.as_bytes());
        assert_eq!(status, 200, "{body}");
        body
    }

    fn svc(&self, args: &[&str], service: &str) {
        let ok = Command::new(bin("svc"))
            .args(args)
            .arg(self.scan.join(service))
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

fn call(method: &str, params: &str) -> String {
    format!("<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>")
}

#[test]
fn loose_calls_multicall_faults_and_bad_bodies() {
    let t = Tree::new(&[("web", "echo hello\nexec sleep 1000", true)]);
    until("web up", || {
        t.call(&call(
            "supervisor.getProcessInfo",
            "<param><value>web</value></param>",
        ))
        .contains("<string>RUNNING</string>")
    });

    // No <params> at all, and an untyped string parameter.
    let body = t.call("<methodCall><methodName>supervisor.getAPIVersion</methodName></methodCall>");
    assert!(body.contains("<string>3.0</string>"), "{body}");
    let body = t.call(&call(
        "supervisor.getProcessInfo",
        "<param><value>web:log</value></param>",
    ));
    for field in [
        "name",
        "group",
        "start",
        "stop",
        "now",
        "state",
        "statename",
        "spawnerr",
        "exitstatus",
        "logfile",
        "stdout_logfile",
        "stderr_logfile",
        "pid",
        "description",
    ] {
        assert!(
            body.contains(&format!("<name>{field}</name>")),
            "{field} missing: {body}"
        );
    }
    assert!(
        body.contains("<name>group</name>\n<value><string>web</string>"),
        "{body}"
    );

    // Faults, with supervisord's codes and words.
    for (xml, code, text) in [
        (
            call(
                "supervisor.getProcessInfo",
                "<param><value>../web</value></param>",
            ),
            10,
            "BAD_NAME: ../web",
        ),
        (
            call(
                "supervisor.getProcessInfo",
                "<param><value>/etc</value></param>",
            ),
            10,
            "BAD_NAME: /etc",
        ),
        (
            call(
                "supervisor.signalProcess",
                "<param><value>web</value></param><param><value>SEGV</value></param>",
            ),
            11,
            "BAD_SIGNAL: SEGV",
        ),
        (call("supervisor.noSuchMethod", ""), 1, "UNKNOWN_METHOD"),
        (
            call("supervisor.getProcessInfo", ""),
            2,
            "INCORRECT_PARAMETERS",
        ),
        (
            call(
                "supervisor.startProcess",
                "<param><value>web</value></param>",
            ),
            60,
            "ALREADY_STARTED: web",
        ),
        (
            call(
                "supervisor.clearProcessLogs",
                "<param><value>web</value></param>",
            ),
            30,
            "FAILED: web",
        ),
    ] {
        let body = t.call(&xml);
        assert!(body.contains("<fault>"), "{xml}: {body}");
        assert!(
            body.contains(&format!("<int>{code}</int>")),
            "{xml}: {body}"
        );
        assert!(
            body.contains(&format!("<string>{text}</string>")),
            "{xml}: {body}"
        );
    }

    // system.multicall: each value, or a fault struct; no nesting.
    let body = t.call(&call(
        "system.multicall",
        "<param><value><array><data>\
         <value><struct><member><name>methodName</name><value>supervisor.getAPIVersion</value></member></struct></value>\
         <value><struct><member><name>methodName</name><value>supervisor.getProcessInfo</value></member>\
           <member><name>params</name><value><array><data><value>nope</value></data></array></value></member></struct></value>\
         <value><struct><member><name>methodName</name><value>system.multicall</value></member></struct></value>\
         </data></array></value></param>",
    ));
    assert!(
        body.contains("<value><string>3.0</string></value>"),
        "{body}"
    );
    assert!(body.contains("<string>BAD_NAME: nope</string>"), "{body}");
    assert!(
        body.contains("Recursive system.multicall forbidden"),
        "{body}"
    );
    let body = t.call(&call("system.listMethods", ""));
    for m in [
        "supervisor.getAllProcessInfo",
        "supervisor.tailProcessStdoutLog",
        "system.multicall",
        "system.listMethods",
    ] {
        assert!(
            body.contains(&format!("<string>{m}</string>")),
            "{m}: {body}"
        );
    }

    // Bad bodies: 400, never a crash; an entity bomb is refused, not expanded.
    for bad in [
        &b"not xml"[..],
        b"<methodCall>",
        b"<?xml version='1.0'?><!DOCTYPE m [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]><methodCall><methodName>&b;</methodName></methodCall>",
        b"<methodCall><methodName>x</methodName><params><param><value><int>1e9</int></value></param></params></methodCall>",
        b"<methodCall><methodName>\xff\xfe</methodName></methodCall>",
    ] {
        let (status, _) = t.http("POST", "/RPC2", bad);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(bad));
    }
    let deep = format!(
        "<methodCall><methodName>m</methodName><params><param><value>{}x{}</value></param></params></methodCall>",
        "<array><data><value>".repeat(100),
        "</value></data></array>".repeat(100)
    );
    assert_eq!(t.http("POST", "/RPC2", deep.as_bytes()).0, 400);
    assert_eq!(t.http("GET", "/RPC2", b"").0, 405);
    // Still serving.
    assert!(t.call(&call("supervisor.getState", "")).contains("RUNNING"));
}

#[test]
fn log_text_is_valid_xml_whatever_the_service_prints() {
    // Control bytes, an escape sequence, invalid UTF-8, U+FFFE and U+FFFF, markup.
    let t = Tree::new(&[(
        "noisy",
        "printf 'a\\001b\\033[31mc\\377d\\357\\277\\276e\\357\\277\\277f<&>\\n'\nexec sleep 1000",
        true,
    )]);
    let read = call("supervisor.readProcessStdoutLog", "<param><value>noisy</value></param><param><value><int>0</int></value></param><param><value><int>0</int></value></param>");
    until("the line logged", || {
        t.call(&read).contains("f&lt;&amp;&gt;")
    });
    let body = t.call(&read);
    assert!(
        body.contains("<string>ab[31mc\u{FFFD}d\u{FFFD}e\u{FFFD}f&lt;&amp;&gt;\n</string>"),
        "{body:?}"
    );
    // The label multilog added is not served.
    assert!(!body.contains("@4000"), "{body}");
}

#[test]
fn logtail_follows_the_log_across_rotations() {
    let talk = "n=0\ntrap 'kill $! 2>/dev/null; n=$((n+1)); echo line $n' HUP\ntrap 'kill $! 2>/dev/null; exit' TERM\necho hello\nwhile :; do sleep 1000 & wait $!; done";
    let t = Tree::new(&[("talk", talk, true)]);
    let current = t.scan.join("talk/log/main/current");
    until("hello logged", || {
        fs::read_to_string(&current).is_ok_and(|s| s.contains("hello"))
    });

    assert_eq!(t.http("GET", "/logtail/nope/stdout", b"").0, 404);
    assert_eq!(t.http("GET", "/logtail/talk/stderr", b"").0, 404);
    assert_eq!(t.http("GET", "/logtail/talk:log/stdout", b"").0, 404);
    assert_eq!(t.http("GET", "/logtail/..%2Ftalk/stdout", b"").0, 404);

    let mut s = UnixStream::connect(&t.sock).unwrap();
    s.write_all(b"GET /logtail/talk/stdout HTTP/1.1\r\nHost: \r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let wait_for = |s: &mut UnixStream, got: &mut Vec<u8>, text: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(got).contains(text) {
            assert!(
                Instant::now() < deadline,
                "{text:?} not streamed: {}",
                String::from_utf8_lossy(got)
            );
            if let Ok(n) = s.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
    };
    wait_for(&mut s, &mut got, "hello\n");
    {
        let head = String::from_utf8_lossy(&got).to_string();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain;charset=utf-8"),
            "{head}"
        );
        assert!(!head.contains("@4000"), "labels are stripped: {head}");
    }
    t.svc(&["-h"], "talk");
    wait_for(&mut s, &mut got, "line 1\n");
    // multilog rotates on ALRM: current becomes @....s, a new current follows.
    let before = fs::metadata(&current)
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    t.svc(&["-a"], "talk/log");
    until("rotated", || {
        fs::metadata(&current).is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) != before)
    });
    t.svc(&["-h"], "talk");
    wait_for(&mut s, &mut got, "line 2\n");
    t.svc(&["-h"], "talk");
    wait_for(&mut s, &mut got, "line 3\n");
}

#[test]
fn start_waits_for_readiness_else_one_second_up() {
    let services = [
        ("plain", "exec sleep 1000", false),
        ("notifying", "sleep 2\necho >&3\nexec sleep 1000", false),
    ];
    let t = Tree::with(&services, |scan| {
        fs::write(scan.join("notifying/notification-fd"), "3\n").unwrap();
        for name in ["plain", "notifying"] {
            fs::write(scan.join(name).join("down"), "").unwrap();
        }
    });
    let info = |name: &str| {
        t.call(&call(
            "supervisor.getProcessInfo",
            &format!("<param><value>{name}</value></param>"),
        ))
    };
    until("both supervised", || {
        info("plain").contains("<string>STOPPED</string>")
            && info("notifying").contains("<string>STOPPED</string>")
    });

    let start = Instant::now();
    let body = t.call(&call(
        "supervisor.startProcess",
        "<param><value>plain</value></param>",
    ));
    assert!(body.contains("<boolean>1</boolean>"), "{body}");
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "answered before startsecs: {:?}",
        start.elapsed()
    );
    assert!(info("plain").contains("<string>RUNNING</string>"));

    // wait=false answers at once; the service is STARTING until it says it is ready.
    let start = Instant::now();
    let body = t.call(&call(
        "supervisor.startProcess",
        "<param><value>notifying</value></param><param><value><boolean>0</boolean></value></param>",
    ));
    assert!(body.contains("<boolean>1</boolean>"), "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    until("starting", || {
        info("notifying").contains("<string>STARTING</string>")
    });
    let body = t.call(&call(
        "supervisor.stopProcess",
        "<param><value>notifying</value></param>",
    ));
    assert!(body.contains("<boolean>1</boolean>"), "{body}");
    assert!(info("notifying").contains("<string>STOPPED</string>"));

    // With wait, the answer comes once the run said it is ready (2 s), not at 1 s.
    let start = Instant::now();
    let body = t.call(&call(
        "supervisor.startProcess",
        "<param><value>notifying</value></param>",
    ));
    assert!(body.contains("<boolean>1</boolean>"), "{body}");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "answered before ready: {:?}",
        start.elapsed()
    );
    assert!(info("notifying").contains("<string>RUNNING</string>"));
}

#[test]
fn start_all_waits_once_not_once_per_service() {
    let names: Vec<String> = (0..6).map(|i| format!("s{i}")).collect();
    let services: Vec<(&str, &str, bool)> = names
        .iter()
        .map(|n| (n.as_str(), "exec sleep 1000", false))
        .collect();
    let t = Tree::with(&services, |scan| {
        for n in &names {
            fs::write(scan.join(n).join("down"), "").unwrap();
        }
    });
    let all = call("supervisor.getAllProcessInfo", "");
    until("all supervised", || {
        t.call(&all).matches("<string>STOPPED</string>").count() == 6
    });

    let start = Instant::now();
    let body = t.call(&call("supervisor.startAllProcesses", ""));
    let took = start.elapsed();
    assert_eq!(body.matches("<int>80</int>").count(), 6, "{body}");
    // Each start waits for one second up; six in a row would take six (margin for a
    // loaded machine).
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(
        took < Duration::from_secs(4),
        "one wait per service: {took:?}"
    );
    assert_eq!(t.call(&all).matches("<string>RUNNING</string>").count(), 6);

    let start = Instant::now();
    let body = t.call(&call("supervisor.stopAllProcesses", ""));
    assert_eq!(body.matches("<int>80</int>").count(), 6, "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(t.call(&all).matches("<string>STOPPED</string>").count(), 6);
}
