//! What vigild's integration tests share: the workspace's programs, scripts, and processes
//! that are stopped whatever happens.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A program of the workspace (svscan, multilog, svc, vigild, vigil-listen), built beside the
/// test: the test's executable is `target/PROFILE/deps/NAME-HASH`, the programs are one up.
/// (Not `env!("CARGO_BIN_EXE_vigild")`, so that vigil-listen's tests share this module.)
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// Writes an executable `#!/bin/sh` script.
pub fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A process stopped (TERM, then KILL after 20 s) by [`Guard::stop`] or when dropped, so
/// nothing is left behind when an assertion fails. svscan stops its supervise and services
/// on TERM, supervisord its programs.
pub struct Guard(pub Child);

impl Guard {
    /// Stops the process and reaps it.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let pid = Pid::from_raw(self.0.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(pid, Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The workspace's svscan on `scan` (its supervise found on PATH beside it), in its own
/// process group.
pub fn svscan(scan: &Path) -> Guard {
    let path = format!(
        "{}:{}",
        bin("svscan").parent().expect("target dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new(bin("svscan"))
        .arg(scan)
        .env("PATH", path)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("svscan");
    Guard(child)
}

/// A loopback TCP port free a moment ago, for a listener of the test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// Waits until `check` holds (bounded: 20 s, then the test fails naming `what`).
pub fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// This build's vigild serving `scan` on `unix:SOCK` with `extra` options, once it answers.
pub fn vigild_unix(sock: &Path, scan: &Path, extra: &[&str]) -> Guard {
    let child = Command::new(bin("vigild"))
        .arg("--listen")
        .arg(format!("unix:{}", sock.display()))
        .args(extra)
        .arg(scan)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vigild");
    let guard = Guard(child);
    until("vigild answers", || {
        std::os::unix::net::UnixStream::connect(sock).is_ok()
    });
    guard
}

/// One HTTP/1.1 request over the unix socket `sock` (`headers`, then `body` with its
/// Content-Length): the reply's status and body (bodies here are not chunked).
pub fn unix_http(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: \r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut req = req.into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8(reply).expect("replies are UTF-8");
    let status = reply[9..12].parse().unwrap();
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}
