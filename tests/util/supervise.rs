//! Helpers for tests that run a supervise (ours or daemontools') on a service directory.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use vigil_proto::status::{self, Status};

use super::{eventually, Spawned};

/// Writes control bytes to the supervise of `dir` without blocking (svc's path, not svc).
fn send(dir: &Path, bytes: &[u8]) -> Result<(), vigil_client::service::SendError> {
    let service = vigil_client::Service::at(dir).map_err(vigil_client::service::SendError::Open)?;
    service.try_send(bytes)
}

/// How long a test waits for something supervise should do at once.
pub const SOON: Duration = Duration::from_secs(5);

/// A supervise running on a service directory; stderr goes to `DIR.err` beside it. Dropped, it
/// and its group are killed (the Sandbox kills the services by cwd).
pub struct Supervised {
    /// The supervise process; `None` once reaped (see `Drop`).
    proc: Option<Spawned>,
    /// The service directory.
    pub dir: PathBuf,
    err: PathBuf,
}

impl Supervised {
    /// Starts `program` (ours or /usr/bin/supervise) on `dir` and waits until its status file
    /// exists and its control FIFO has a reader.
    pub fn start(program: &Path, dir: &Path) -> Supervised {
        Supervised::start_env(program, dir, &[])
    }

    /// [`Supervised::start`] with these variables added to its environment.
    pub fn start_env(program: &Path, dir: &Path, env: &[(&str, &str)]) -> Supervised {
        let err = dir.with_extension("err");
        let proc = Spawned::start(
            Command::new(program)
                .envs(env.iter().copied())
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&err).expect("stderr file")),
        );
        let s = Supervised {
            proc: Some(proc),
            dir: dir.to_path_buf(),
            err,
        };
        assert!(
            eventually(SOON, || s.status().is_some() && send(dir, b"").is_ok()),
            "supervise did not come up on {}: {}",
            dir.display(),
            s.stderr()
        );
        s
    }

    /// The status file, decoded, if it is there.
    pub fn status(&self) -> Option<Status> {
        let bytes = status::read(self.dir.as_os_str()).ok()?;
        Status::decode(&bytes).ok()
    }

    /// Waits until the status satisfies `cond`; the status then (panics after `SOON`).
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&Status) -> bool) -> Status {
        let mut last = None;
        let ok = eventually(SOON, || {
            last = self.status();
            last.as_ref().is_some_and(&mut cond)
        });
        assert!(
            ok,
            "{what}: status stayed {last:?}; stderr: {}",
            self.stderr()
        );
        last.expect("status")
    }

    /// Waits until the service runs; its pid.
    pub fn wait_up(&self) -> u32 {
        self.wait_for("up", |s| s.pid != 0).pid
    }

    /// Sends control bytes through the FIFO.
    pub fn send(&self, bytes: &[u8]) {
        send(&self.dir, bytes).expect("send control bytes");
    }

    /// What supervise wrote on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn proc(&self) -> &Spawned {
        self.proc.as_ref().expect("supervise not yet reaped")
    }

    /// The supervise process's pid.
    pub fn pid(&self) -> i32 {
        self.proc().pid()
    }

    /// Sends a signal to supervise itself.
    pub fn signal(&self, signal: Signal) {
        self.proc().signal(signal);
    }

    /// True while supervise has not exited.
    pub fn running(&mut self) -> bool {
        let proc = self.proc.as_mut().expect("supervise not yet reaped");
        if let Ok(None) = proc.child.try_wait() {
            return true;
        }
        std::mem::forget(self.proc.take()); // reaped: see Drop
        false
    }

    /// Tells supervise to take the service down and exit (`dx`); its exit code.
    pub fn stop(mut self) -> i32 {
        let _ = send(&self.dir, b"dx");
        self.wait_exit()
    }

    /// Waits for supervise to exit; its exit code (panics if it does not within `SOON`).
    pub fn wait_exit(&mut self) -> i32 {
        let proc = self.proc.as_mut().expect("supervise not yet reaped");
        let Some(status) = proc.wait_timeout(SOON) else {
            panic!("supervise did not exit; stderr: {}", self.stderr());
        };
        // reaped: never killpg its pid again (see Drop); nothing is left to release
        std::mem::forget(self.proc.take());
        status.code().unwrap_or(-1)
    }
}

impl Drop for Supervised {
    /// A supervise still running is killed with its group (`Spawned`'s drop). One already
    /// reaped is not: its pid, and so that group id, may belong to another test's process by
    /// now (pid_max is 32768 here and the suite starts thousands of processes; a service's run
    /// leads a group of its own). What it left in the sandbox, the Sandbox kills by cwd.
    fn drop(&mut self) {
        drop(self.proc.take());
    }
}

/// Pids of the zombie children of `parent`.
pub fn zombies_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut f = rest.split_ascii_whitespace();
            f.next() == Some("Z") && f.next().and_then(|p| p.parse().ok()) == Some(parent)
        })
        .collect()
}

/// True if no zombie child of `parent` lasts: a child that just exited may be a zombie for
/// the moment supervise takes to wake and reap it, so each one seen must be gone soon after.
pub fn no_lasting_zombies(parent: i32) -> bool {
    let seen = zombies_of(parent);
    eventually(SOON, || {
        let now = zombies_of(parent);
        seen.iter().all(|z| !now.contains(z))
    })
}

/// True while a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .is_some_and(|i| !stat[i + 1..].trim_start().starts_with('Z'))
    })
}

/// The lines of a file the service appends to (empty if missing).
pub fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
