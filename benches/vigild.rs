//! vigild beside supervisord 4.2.5 (Debian 12's package, extracted in /opt/supervisor by
//! .ci/run), each with 500 services / programs (`sleep`), in one run:
//! - idle wake-ups over 10 s (context switches of every thread) and resident memory;
//! - requests per second: `GET /v1/services` and XML-RPC `getAllProcessInfo` on vigild,
//!   `getAllProcessInfo` on supervisord, one connection per request, for 5 s each;
//! - event latency: `svc -t` until the event reaches an SSE client of `/v1/events`;
//!   `supervisorctl restart` against each (python's start included, both sides).
//!
//! Prints a Markdown table with the date and machine; copy it into docs/bench.md.
//! `cargo bench --bench vigild`.

mod util;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVICES: usize = 500;

fn supervisor_root() -> Option<PathBuf> {
    let root = PathBuf::from(
        std::env::var_os("VIGIL_SUPERVISOR").unwrap_or_else(|| "/opt/supervisor".into()),
    );
    root.join("usr/bin/supervisord").exists().then_some(root)
}

/// vigild, built (release) beside the root package's programs.
fn vigild() -> PathBuf {
    let svscan = PathBuf::from(env!("CARGO_BIN_EXE_svscan"));
    let dir = svscan.parent().expect("target dir").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile = if dir.ends_with("release") {
        vec!["--release"]
    } else {
        vec![]
    };
    let ok = Command::new(cargo)
        .args(["build", "-q", "-p", "vigild", "--bin", "vigild"])
        .args(profile)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cargo build -p vigild failed");
    dir.join("vigild")
}

struct Killed(Child, bool);

impl Drop for Killed {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        let target = if self.1 { -pid } else { pid };
        let _ = Command::new("kill")
            .args(["-TERM", "--", &target.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &target.to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Context switches of each thread of `pid`, by thread id.
fn switches(pid: u32) -> std::collections::HashMap<String, u64> {
    let mut threads = std::collections::HashMap::new();
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let count = status
            .lines()
            .filter_map(|line| {
                line.strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            })
            .map(|v| v.trim().parse::<u64>().unwrap_or(0))
            .sum();
        threads.insert(task.file_name().to_string_lossy().into_owned(), count);
    }
    threads
}

/// Wake-ups between two [`switches`]: each thread's new switches, and one for each thread
/// that exited meanwhile (it woke to exit).
fn wakeups(
    before: &std::collections::HashMap<String, u64>,
    after: &std::collections::HashMap<String, u64>,
) -> u64 {
    let grown: u64 = after
        .iter()
        .map(|(tid, n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    let gone = before
        .keys()
        .filter(|tid| !after.contains_key(*tid))
        .count() as u64;
    grown + gone
}

fn rss_kb(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 request on its own connection; the reply's status and body length.
fn request(port: u16, method: &str, path: &str, body: &str) -> (u16, usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let status = reply
        .get(9..12)
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, reply.len())
}

/// Requests per second over `secs`, and the size of one reply; `None` if the server does not
/// serve it (a vigild without the JSON API).
fn rate(port: u16, method: &str, path: &str, body: &str, secs: u64) -> Option<(f64, usize)> {
    let (status, size) = request(port, method, path, body);
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "{method} {path} on port {port}");
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(secs) {
        request(port, method, path, body);
        n += 1;
    }
    Some((f64::from(n) / start.elapsed().as_secs_f64(), size))
}

const GET_ALL: &str = "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getAllProcessInfo</methodName>\n<params>\n</params>\n</methodCall>\n";

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Until `check` holds, at most `secs`.
fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not after {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn supervisorctl(root: &Path, url: &str, args: &[&str]) -> std::process::Output {
    Command::new("/usr/bin/python3")
        .arg(root.join("usr/bin/supervisorctl"))
        .args(["-s", url])
        .args(args)
        .env("PYTHONPATH", root.join("usr/lib/python3/dist-packages"))
        .stdin(Stdio::null())
        .output()
        .expect("python3")
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `svc -t` on `service` until its first event reaches an SSE client of `/v1/events`, 30
/// times: the median and the 99th percentile.
fn event_latency(port: u16, svc: &Path, service: &Path) -> (Duration, Duration) {
    let name = service.file_name().expect("a service").to_string_lossy();
    let mut sse = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!(
        "GET /v1/events?service={name} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    );
    sse.write_all(req.as_bytes()).unwrap();
    sse.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut reader = BufReader::new(sse);
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("SSE headers");
        if line == "\r\n" {
            break;
        }
    }
    let drain = |reader: &mut BufReader<TcpStream>| {
        let mut l = String::new();
        while reader.read_line(&mut l).is_ok_and(|n| n > 0) {
            l.clear();
        }
    };
    drain(&mut reader);
    // The stream may answer before it follows every service: wait for a first event. Each
    // `svc -t` comes 1.5 s after the last, so supervise never counts a quick exit (backoff).
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    'warm: loop {
        assert!(Instant::now() < deadline, "no event on /v1/events in 30 s");
        let ok = Command::new(svc).arg("-t").arg(service).status().unwrap();
        assert!(ok.success());
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(_) if line.starts_with("data:") => break 'warm,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    drain(&mut reader);
    let mut latencies = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        let ok = Command::new(svc).arg("-t").arg(service).status().unwrap();
        assert!(ok.success());
        let timeout = Some(Duration::from_secs(5));
        reader.get_ref().set_read_timeout(timeout).unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("an event within 5 s");
            if line.starts_with("data:") {
                break;
            }
        }
        latencies.push(start.elapsed());
        let timeout = Some(Duration::from_millis(1500));
        reader.get_ref().set_read_timeout(timeout).unwrap();
        drain(&mut reader);
    }
    (util::median(latencies.clone()), percentile(latencies, 0.99))
}

fn main() {
    let Some(root) = supervisor_root() else {
        let why = "supervisor's package is not extracted in /opt/supervisor (.ci/run does it)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}");
        }
        eprintln!("skipped: {why}");
        return;
    };
    let vigild = vigild();
    let bindir = PathBuf::from(env!("CARGO_BIN_EXE_svscan"))
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = tempfile::tempdir().unwrap();

    // vigil: svscan with 500 services, vigild on TCP without auth (loopback).
    let scan = dir.path().join("scan");
    for i in 0..SERVICES {
        let s = scan.join(format!("svc{i}"));
        fs::create_dir_all(&s).unwrap();
        script(&s.join("run"), "exec sleep 100000");
    }
    let path = format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let _svscan = Killed(
        Command::new(env!("CARGO_BIN_EXE_svscan"))
            .arg(&scan)
            .env("PATH", &path)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        false,
    );
    let vport = free_port();
    let vg = Killed(
        Command::new(&vigild)
            .args(["--listen", &format!("127.0.0.1:{vport}"), "--no-auth"])
            .arg(&scan)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        false,
    );

    // supervisord: 500 programs, inet server without auth.
    let sdir = dir.path().join("supervisord");
    fs::create_dir_all(&sdir).unwrap();
    let sport = free_port();
    let mut conf = format!(
        "[inet_http_server]\nport=127.0.0.1:{sport}\n[supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\nchildlogdir={d}\nnodaemon=true\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        d = sdir.display()
    );
    for i in 0..SERVICES {
        conf.push_str(&format!(
            "[program:svc{i}]\ncommand=sleep 100000\nstartsecs=1\n"
        ));
    }
    fs::write(sdir.join("supervisord.conf"), conf).unwrap();
    let sd = Killed(
        Command::new("/usr/bin/python3")
            .arg(root.join("usr/bin/supervisord"))
            .arg("-c")
            .arg(sdir.join("supervisord.conf"))
            .env("PYTHONPATH", root.join("usr/lib/python3/dist-packages"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        false,
    );

    // Everything up: 500 RUNNING on both.
    let running = |port: u16| {
        let mut s = match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => s,
            Err(_) => return false,
        };
        let req = format!("POST /RPC2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{GET_ALL}", GET_ALL.len());
        let _ = s.write_all(req.as_bytes());
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply.matches("<string>RUNNING</string>").count() == SERVICES
    };
    until(120, "vigil's 500 services RUNNING", || running(vport));
    until(180, "supervisord's 500 programs RUNNING", || running(sport));
    // Let both settle after the start: tokio's blocking threads, used by the calls above,
    // exit after 10 idle seconds.
    std::thread::sleep(Duration::from_secs(12));

    // Idle: 10 s side by side.
    let (v0, s0) = (switches(vg.0.id()), switches(sd.0.id()));
    std::thread::sleep(Duration::from_secs(10));
    let (v_wake, s_wake) = (
        wakeups(&v0, &switches(vg.0.id())),
        wakeups(&s0, &switches(sd.0.id())),
    );
    let (v_rss, s_rss) = (rss_kb(vg.0.id()), rss_kb(sd.0.id()));

    // Status of 500.
    let v_json = rate(vport, "GET", "/v1/services", "", 5);
    let (v_rpc, v_rpc_size) = rate(vport, "POST", "/RPC2", GET_ALL, 5).expect("vigild's /RPC2");
    let (s_rpc, s_rpc_size) =
        rate(sport, "POST", "/RPC2", GET_ALL, 5).expect("supervisord's /RPC2");
    // After the load, vigild's memory again.
    let v_rss_after = rss_kb(vg.0.id());

    // Event latency: svc -t svc0 until the first event of svc0 on /v1/events.
    let sse = (request(vport, "GET", "/v1/services/svc0", "").0 != 404)
        .then(|| event_latency(vport, &bindir.join("svc"), &scan.join("svc0")));

    // supervisorctl restart, 5 times each.
    let restart = |url: &str| {
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            let out = supervisorctl(&root, url, &["restart", "svc1"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            times.push(start.elapsed());
        }
        util::median(times)
    };
    let v_restart = restart(&format!("http://127.0.0.1:{vport}"));
    let s_restart = restart(&format!("http://127.0.0.1:{sport}"));

    println!(
        "vigild beside supervisord 4.2.5, {SERVICES} services ({}; {})\n",
        util::date_utc(),
        util::machine()
    );
    println!("| measure | vigild | supervisord |");
    println!("|---|---|---|");
    println!("| idle wake-ups in 10 s | {v_wake} | {s_wake} |");
    println!(
        "| resident memory, idle | {:.1} MB | {:.1} MB |",
        v_rss as f64 / 1024.0,
        s_rss as f64 / 1024.0
    );
    println!(
        "| resident memory, after the request runs | {:.1} MB | |",
        v_rss_after as f64 / 1024.0
    );
    let na = || "not served by this vigild".to_string();
    println!(
        "| `GET /v1/services`, requests/s | {} | |",
        v_json.map_or_else(na, |(r, size)| format!("{r:.0} ({} KB reply)", size / 1024))
    );
    println!(
        "| XML-RPC `getAllProcessInfo`, requests/s | {v_rpc:.0} ({} KB reply) | {s_rpc:.1} ({} KB reply) |",
        v_rpc_size / 1024,
        s_rpc_size / 1024
    );
    println!(
        "| `svc -t` to the SSE event, median / p99 | {} | |",
        sse.map_or_else(na, |(p50, p99)| format!("{} / {}", ms(p50), ms(p99)))
    );
    println!(
        "| `supervisorctl restart`, median of 5 | {} | {} |",
        ms(v_restart),
        ms(s_restart)
    );
}
