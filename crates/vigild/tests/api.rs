//! vigild's JSON API under /v1, over its unix socket with plain HTTP/1.1: the services, their
//! control with and without waiting, read-only refusal, bad input, and the event stream with
//! its resume by Last-Event-ID.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{bin, free_port, script, until, Guard};

struct Tree {
    scan: PathBuf,
    sock: PathBuf,
    vigild: Guard,
    _svscan: Guard,
    // Last: fields drop in order, so the services are stopped before their directory goes
    // (a logger whose directory vanished under it retries for ever).
    _dir: tempfile::TempDir,
}

impl Tree {
    fn new(read_only: bool) -> Tree {
        Tree::with(if read_only { &["--read-only"] } else { &[] })
    }

    /// A tree whose vigild gets `args` too.
    fn with(args: &[&str]) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let scan = dir.path().join("scan");
        fs::create_dir_all(scan.join("web/log")).unwrap();
        script(&scan.join("web/run"), "echo hello\nexec sleep 1000");
        script(
            &scan.join("web/log/run"),
            &format!("exec {} t ./main", bin("multilog").display()),
        );
        fs::create_dir_all(scan.join("db")).unwrap();
        script(&scan.join("db/run"), "exec sleep 1000");
        let svscan = common::svscan(&scan);
        let sock = dir.path().join("vigild.sock");
        let vigild = common::vigild_unix(&sock, &scan, args);
        let tree = Tree {
            _dir: dir,
            scan,
            sock,
            vigild,
            _svscan: svscan,
        };
        until("web and db up", || {
            let (_, body) = tree.http("GET", "/v1/services", &[]);
            body.matches("\"state\":\"up\"").count() >= 3
        });
        tree
    }

    fn http(&self, method: &str, path: &str, extra: &[(&str, &str)]) -> (u16, String) {
        common::unix_http(&self.sock, method, path, extra, b"")
    }

    /// Opens the event stream; the reader, once the stream's opening comment has arrived.
    fn events(&self, query: &str, last_id: Option<&str>) -> Stream {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut req = format!("GET /v1/events{query} HTTP/1.1\r\nHost: \r\n");
        if let Some(id) = last_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut stream = Stream {
            s,
            seen: String::new(),
        };
        stream.until(": vigild events");
        stream
    }

    fn pid(&self, name: &str) -> u64 {
        let (status, body) = self.http("GET", &format!("/v1/services/{name}"), &[]);
        assert_eq!(status, 200, "{body}");
        let at = body.find("\"pid\":").expect("pid field") + 6;
        body[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

struct Stream {
    s: UnixStream,
    seen: String,
}

impl Stream {
    /// Reads until `text` has arrived (bounded: 20 s).
    fn until(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !self.seen.contains(text) {
            assert!(
                Instant::now() < deadline,
                "{text:?} not within 20 s; got {}",
                self.seen
            );
            match self.s.read(&mut buf) {
                Ok(0) => panic!("stream closed before {text:?}: {}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
    }

    /// The `id:` of the last event received.
    fn last_id(&self) -> String {
        let at = self.seen.rfind("\nid: ").expect("an id") + 5;
        self.seen[at..].lines().next().unwrap().to_owned()
    }
}

#[test]
fn services_list_one_and_unknown() {
    let t = Tree::new(false);
    let (status, body) = t.http("GET", "/v1/services", &[]);
    assert_eq!(status, 200);
    let db = body.find("\"name\":\"db\"").expect("db listed");
    let web = body.find("\"name\":\"web\"").expect("web listed");
    let log = body.find("\"name\":\"web/log\"").expect("web/log listed");
    assert!(db < web && web < log, "{body}");
    // svstat --json's fields come with the name.
    for field in ["\"supervised\":", "\"pid\":", "\"state\":", "\"seconds\":"] {
        assert!(body.contains(field), "{field} in {body}");
    }
    let (status, body) = t.http("GET", "/v1/services/web%2Flog", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("{\"name\":\"web/log\""), "{body}");
    for bad in [
        "nope",
        "..",
        "%2E%2E",
        "web%2F..%2Fdb",
        ".vigild.sock",
        "web%2Flog%2Fmain",
    ] {
        let (status, body) = t.http("GET", &format!("/v1/services/{bad}"), &[]);
        assert_eq!(status, 404, "{bad}: {body}");
        assert!(body.starts_with("{\"error\":"), "{bad}: {body}");
    }
}

#[test]
fn commands_act_as_svc_and_wait() {
    let t = Tree::new(false);
    let before = t.pid("db");
    assert!(before > 0);
    let (status, body) = t.http(
        "POST",
        "/v1/services/db/down?wait=down&timeout_ms=10000",
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"pid\":null") || body.contains("\"state\":\"down\""),
        "{body}"
    );
    let (status, body) = t.http("POST", "/v1/services/db/up?wait=up&timeout_ms=10000", &[]);
    assert_eq!(status, 200, "{body}");
    let after = t.pid("db");
    assert!(after > 0 && after != before, "{before} -> {after}");
    // Signals by name, as svc sends them: KILL ends the run, supervise restarts it.
    let (status, body) = t.http("POST", "/v1/services/db/signal?name=KILL", &[]);
    assert_eq!(status, 200, "{body}");
    until("db restarted after KILL", || {
        let pid = t.pid("db");
        pid != 0 && pid != after
    });
    // A wait that cannot be met in time: 504, and a JSON error.
    let (status, body) = t.http("POST", "/v1/services/db/up?wait=down&timeout_ms=200", &[]);
    assert_eq!(status, 504, "{body}");
    assert!(body.starts_with("{\"error\":"));
    for (path, want) in [
        ("/v1/services/db/explode", 404),
        ("/v1/services/db/signal", 400),
        ("/v1/services/db/signal?name=SEGV", 400),
        ("/v1/services/db/up?wait=sideways", 400),
        ("/v1/services/db/up?timeout_ms=soon&wait=up", 400),
        ("/v1/services/nope/up", 404),
    ] {
        let (status, body) = t.http("POST", path, &[]);
        assert_eq!(status, want, "{path}: {body}");
        assert!(body.starts_with("{\"error\":"), "{path}: {body}");
    }
    let (status, body) = t.http("GET", "/v1/openapi.json", &[]);
    assert_eq!(status, 200);
    assert!(body.starts_with("{\n  \"openapi\": \"3.0.3\""), "{body}");
    // GET on a command is the wrong method.
    let (status, _) = t.http("GET", "/v1/services/db/up", &[]);
    assert_eq!(status, 405);
}

#[test]
fn read_only_refuses_every_command() {
    let t = Tree::new(true);
    let before = t.pid("db");
    let (status, body) = t.http("POST", "/v1/services/db/down", &[]);
    assert_eq!(status, 403, "{body}");
    let (_, who) = t.http("GET", "/v1/whoami", &[]);
    assert!(who.contains("\"read_only\":true"), "{who}");
    // Still up, same run.
    assert_eq!(t.pid("db"), before);
}

#[test]
fn event_stream_shows_restarts_and_resumes_from_last_event_id() {
    let t = Tree::new(false);
    let mut live = t.events("", None);
    let svc = |args: &[&str], name: &str| {
        let ok = Command::new(bin("svc"))
            .args(args)
            .arg(t.scan.join(name))
            .status()
            .unwrap();
        assert!(ok.success());
    };
    svc(&["-t"], "db");
    live.until("\"service\":\"db\",\"event\":\"up\"");
    assert!(
        live.seen.contains("\"service\":\"db\",\"event\":\"down\""),
        "{}",
        live.seen
    );
    let cursor = live.last_id();
    drop(live);

    // What happens while no client listens comes on resume.
    svc(&["-d"], "db");
    until("db down", || t.pid("db") == 0);
    let mut resumed = t.events("", Some(&cursor));
    resumed.until("\"service\":\"db\",\"event\":\"really_down\"");

    // A filtered stream sees its service only.
    let mut web = t.events("?service=web", None);
    svc(&["-u"], "db");
    svc(&["-t"], "web");
    web.until("\"service\":\"web\",\"event\":\"up\"");
    assert!(!web.seen.contains("\"service\":\"db\""), "{}", web.seen);

    let (status, _) = t.http("GET", "/v1/events", &[("Last-Event-ID", "garbage")]);
    assert_eq!(status, 400);
    let (status, _) = t.http("GET", "/v1/events?service=nope", &[]);
    assert_eq!(status, 404);
}

#[test]
fn usage_is_pushed_only_when_asked() {
    let t = Tree::new(false);
    let mut s = t.events("?usage=1", None);
    s.until("event: usage");
    s.until("\"memory_bytes\":");
    assert!(s.seen.contains("\"name\":\"db\""), "{}", s.seen);
}

/// One request over TCP; the status, the headers and the body.
fn tcp(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8(reply).expect("replies are UTF-8");
    let status = reply[9..12].parse().unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    (status, head.to_owned(), body.to_owned())
}

// base64 of "admin:s3cret" and "viewer:look".
const ADMIN: &str = "Basic YWRtaW46czNjcmV0";
const VIEWER: &str = "Basic dmlld2VyOmxvb2s=";

#[test]
fn tcp_needs_credentials_and_refuses_cross_site_and_read_only_changes() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tree::new(false);
    let auth = t.scan.parent().unwrap().join("auth");
    fs::write(&auth, "admin:s3cret\nviewer:look:ro\n").unwrap();

    // Readable by others: refused at start.
    fs::set_permissions(&auth, fs::Permissions::from_mode(0o644)).unwrap();
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_vigild"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--auth-file"])
        .arg(&auth)
        .arg(&t.scan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("vigild: fatal: ") && err.contains("group or others"),
        "{err}"
    );
    // No auth file, no --no-auth: refused.
    let out = Command::new(env!("CARGO_BIN_EXE_vigild"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg(&t.scan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");

    fs::set_permissions(&auth, fs::Permissions::from_mode(0o600)).unwrap();
    let vigild = Command::new(env!("CARGO_BIN_EXE_vigild"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--auth-file"])
        .arg(&auth)
        .arg(&t.scan)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _vigild = Guard(vigild);
    until("vigild on TCP", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    let (status, head, body) = tcp(port, "GET", "/v1/services", &[], "");
    assert_eq!(status, 401, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"vigil\""),
        "{head}"
    );
    let (status, _, _) = tcp(
        port,
        "GET",
        "/v1/services",
        &[("Authorization", "Basic YWRtaW46d3Jvbmc=")],
        "",
    );
    assert_eq!(status, 401);
    let (status, _, body) = tcp(port, "GET", "/v1/services", &[("Authorization", ADMIN)], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\":\"db\""));
    let (_, _, who) = tcp(port, "GET", "/v1/whoami", &[("Authorization", VIEWER)], "");
    assert!(
        who.contains("\"user\":\"viewer\"") && who.contains("\"read_only\":true"),
        "{who}"
    );

    // The read-only user reads but changes nothing, over JSON and XML-RPC.
    let before = t.pid("db");
    let (status, _, body) = tcp(
        port,
        "POST",
        "/v1/services/db/restart",
        &[("Authorization", VIEWER)],
        "",
    );
    assert_eq!(status, 403, "{body}");
    let stop = "<methodCall><methodName>supervisor.stopProcess</methodName><params><param><value>db</value></param></params></methodCall>";
    let (status, _, _) = tcp(port, "POST", "/RPC2", &[("Authorization", VIEWER)], stop);
    assert_eq!(status, 403);
    let state = "<methodCall><methodName>supervisor.getState</methodName></methodCall>";
    let (status, _, body) = tcp(port, "POST", "/RPC2", &[("Authorization", VIEWER)], state);
    assert_eq!(status, 200, "{body}");
    assert_eq!(t.pid("db"), before);

    // A page of another origin cannot make the admin's browser act; the same origin can.
    for origin in [
        "http://evil.example",
        &format!("http://127.0.0.1:{}", port + 1),
    ] {
        let (status, _, body) = tcp(
            port,
            "POST",
            "/v1/services/db/restart",
            &[("Authorization", ADMIN), ("Origin", origin)],
            "",
        );
        assert_eq!(status, 403, "{origin}: {body}");
    }
    assert_eq!(t.pid("db"), before);
    let same = format!("http://localhost:{port}");
    let (status, _, body) = tcp(
        port,
        "POST",
        "/v1/services/db/restart?wait=up&timeout_ms=10000",
        &[
            ("Authorization", ADMIN),
            ("Origin", &same),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        "",
    );
    assert_eq!(status, 200, "{body}");
    until("db restarted", || {
        let pid = t.pid("db");
        pid != 0 && pid != before
    });
}

#[test]
fn log_lines_with_times_and_followed_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan");
    fs::create_dir_all(scan.join("chat/log")).unwrap();
    // Prints a numbered line each time it gets HUP (so the test decides when), into a
    // logger that rotates at 4096 bytes (multilog's smallest size).
    script(
        &scan.join("chat/run"),
        "i=0\npad=$(printf '%0600d' 0)\ntrap 'i=$((i+1)); echo line-$i-padding$pad' HUP\necho started\nwhile :; do sleep 1 & wait $!; done",
    );
    script(
        &scan.join("chat/log/run"),
        &format!("exec {} t s4096 n5 ./main", bin("multilog").display()),
    );
    let _svscan = common::svscan(&scan);
    let sock = dir.path().join("v.sock");
    let _vigild = common::vigild_unix(&sock, &scan, &[]);
    let t = Tree {
        _dir: tempfile::tempdir().unwrap(),
        scan: scan.clone(),
        sock,
        vigild: Guard(Command::new("true").spawn().unwrap()),
        _svscan: Guard(Command::new("true").spawn().unwrap()),
    };
    until("started logged", || {
        let (status, body) = t.http("GET", "/v1/services/chat/log?lines=5", &[]);
        status == 200 && body.contains("\"text\":\"started\"")
    });
    let (_, body) = t.http("GET", "/v1/services/chat/log?lines=5", &[]);
    assert!(body.starts_with("{\"lines\":[{\"time\":\"20"), "{body}");

    let mut follow = {
        let mut s = UnixStream::connect(&t.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s.write_all(b"GET /v1/services/chat/log?follow=true HTTP/1.1\r\nHost: \r\n\r\n")
            .unwrap();
        let mut st = Stream {
            s,
            seen: String::new(),
        };
        st.until(": following");
        st
    };
    let hup = || {
        let ok = Command::new(bin("svc"))
            .arg("-h")
            .arg(scan.join("chat"))
            .status()
            .unwrap();
        assert!(ok.success());
    };
    // Enough lines to rotate `current` several times; each one arrives on the stream.
    for i in 1..=12 {
        hup();
        follow.until(&format!("\"text\":\"line-{i}-padding"));
    }
    let rotated = fs::read_dir(scan.join("chat/log/main"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('@')
        })
        .count();
    assert!(rotated > 0, "the log rotated");
    // And the last lines reach back into the rotated files.
    let (_, body) = t.http("GET", "/v1/services/chat/log?lines=12", &[]);
    assert!(
        body.contains("line-1-padding") && body.contains("line-12-padding"),
        "{body}"
    );
    let (status, _) = t.http("GET", "/v1/services/nope/log", &[]);
    assert_eq!(status, 404);
    let (status, _) = t.http("GET", "/v1/services/chat/log?lines=many", &[]);
    assert_eq!(status, 400);
}

/// promtool, Prometheus' own parser and linter; a missing one skips, except under CI=true.
fn promtool() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/promtool");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "promtool missing under CI=true (apt-get install prometheus)"
    );
    eprintln!("skipped: promtool not installed (Debian's prometheus package)");
    None
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let Some(promtool) = promtool() else {
        return;
    };
    let t = Tree::new(false);
    let (status, body) = t.http("GET", "/metrics", &[]);
    assert_eq!(status, 200);
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for series in [
        "vigil_service_up{name=\"db\"} 1",
        "vigil_service_up{name=\"web/log\"} 1",
        "vigil_service_state{name=\"db\",state=\"up\"} 1",
        "vigil_service_restarts_total{name=\"db\"} 0",
        "vigil_service_resident_memory_bytes{name=\"db\"} ",
        "vigild_services 3",
    ] {
        assert!(body.contains(series), "{series} in\n{body}");
    }
}

#[test]
fn prometheus_alert_rules_check_and_pass_their_tests() {
    let Some(promtool) = promtool() else {
        return;
    };
    let contrib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contrib/prometheus");
    for args in [
        vec![
            "check".into(),
            "rules".into(),
            contrib.join("vigil.rules.yml"),
        ],
        vec![
            "test".into(),
            "rules".into(),
            contrib.join("vigil.rules.test.yml"),
        ],
    ] {
        let out = Command::new(&promtool).args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn new_services_appear_and_the_stream_resumes_across_a_vigild_restart() {
    let mut t = Tree::new(false);
    let mut live = t.events("?service=db", None);
    let svc = |args: &[&str], scan: &PathBuf| {
        let ok = Command::new(bin("svc"))
            .args(args)
            .arg(scan.join("db"))
            .status()
            .unwrap();
        assert!(ok.success());
    };
    svc(&["-t"], &t.scan);
    live.until("\"service\":\"db\",\"event\":\"up\"");
    let cursor = live.last_id();
    drop(live);

    // vigild goes away; db restarts twice meanwhile; a new vigild replays what was missed.
    t.vigild.stop();
    svc(&["-t"], &t.scan);
    svc(&["-d"], &t.scan);
    until("db down", || {
        fs::read(t.scan.join("db/supervise/status"))
            .is_ok_and(|s| s.len() >= 16 && s[12..16] == [0, 0, 0, 0])
    });
    t.vigild = common::vigild_unix(&t.sock, &t.scan, &[]);
    let mut resumed = t.events("?service=db", Some(&cursor));
    resumed.until("\"event\":\"really_down\"");
    assert!(
        resumed.seen.matches("\"event\":\"up\"").count() >= 1,
        "{}",
        resumed.seen
    );

    // A service added to SCANDIR is served without a restart of vigild.
    fs::create_dir_all(t.scan.join("late")).unwrap();
    script(&t.scan.join("late/run"), "exec sleep 1000");
    until("late listed and up", || {
        let (status, body) = t.http("GET", "/v1/services/late", &[]);
        status == 200 && body.contains("\"state\":\"up\"")
    });
}

#[test]
fn an_open_stream_follows_services_added_after_it_connected() {
    let t = Tree::new(false);
    let mut live = t.events("", None);
    fs::create_dir_all(t.scan.join("late")).unwrap();
    script(&t.scan.join("late/run"), "exec sleep 1000");
    live.until("\"service\":\"late\",\"event\":\"up\"");
    // Its history before the stream connected is not replayed: the stream starts at the present.
    assert!(!live.seen.contains("\"service\":\"db\""), "{}", live.seen);
    // Still following it: a restart of the new service comes on the same stream.
    let ok = Command::new(bin("svc"))
        .arg("-t")
        .arg(t.scan.join("late"))
        .status()
        .unwrap();
    assert!(ok.success());
    live.until("\"service\":\"late\",\"event\":\"down\"");
}

/// Reads `s` until it closes or `limit` passes; what came, and whether it closed.
fn read_all(s: &mut UnixStream, limit: Duration) -> (String, bool) {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into_owned(), true)
            }
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

#[test]
fn slow_clients_time_out_big_heads_are_refused_and_connections_are_bounded() {
    let t = Tree::with(&["--client-timeout", "1", "--max-connections", "2"]);

    // A request head that never ends: the connection is closed after the client timeout.
    let mut slow = UnixStream::connect(&t.sock).unwrap();
    slow.write_all(b"GET /v1/serv").unwrap();
    let (got, closed) = read_all(&mut slow, Duration::from_secs(10));
    assert!(
        closed && got.is_empty(),
        "slow head: closed {closed}, got {got:?}"
    );
    drop(slow);

    // A body that never ends: 408.
    let mut slow = UnixStream::connect(&t.sock).unwrap();
    slow.write_all(b"POST /RPC2 HTTP/1.1\r\nHost: \r\nContent-Length: 100\r\n\r\n<?xml")
        .unwrap();
    let (got, _) = read_all(&mut slow, Duration::from_secs(10));
    assert!(got.starts_with("HTTP/1.1 408"), "slow body: {got:?}");
    drop(slow);

    // A head past 64 KiB: 431.
    let mut big = UnixStream::connect(&t.sock).unwrap();
    let head = format!(
        "GET /v1/services HTTP/1.1\r\nHost: \r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let _ = big.write_all(head.as_bytes());
    let (got, _) = read_all(&mut big, Duration::from_secs(10));
    assert!(got.starts_with("HTTP/1.1 431"), "big head: {got:?}");
    drop(big);

    // Two event streams hold both connections; a third request waits for one of them.
    let mut first = t.events("", None);
    let second = t.events("", None);
    let mut third = UnixStream::connect(&t.sock).unwrap();
    third
        .write_all(b"GET /v1/services HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n")
        .unwrap();
    let (got, _) = read_all(&mut third, Duration::from_millis(1500));
    assert!(got.is_empty(), "a third connection was served: {got:?}");
    drop(second);
    let (got, closed) = read_all(&mut third, Duration::from_secs(20));
    assert!(closed && got.starts_with("HTTP/1.1 200"), "third: {got:?}");

    // An idle event stream outlives the client timeout: it still gets events.
    let ok = Command::new(bin("svc"))
        .arg("-t")
        .arg(t.scan.join("db"))
        .status()
        .unwrap();
    assert!(ok.success());
    first.until("\"service\":\"db\",\"event\":\"up\"");
}
