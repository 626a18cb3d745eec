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
