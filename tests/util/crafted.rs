//! Crafted service directories: `supervise/` as a running supervise leaves it (status file,
//! `ok` and `control` FIFOs), with the FIFOs' read ends held by the test process itself so
//! clients see a "running" supervise without one being started.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;
use vigil_proto::status::{BackoffCause, Extension, State, Status, Want};
use vigil_proto::tai::Tai64n;

use super::Sandbox;

/// A service directory with a `supervise/` but no supervise.
pub struct Crafted {
    /// The service directory.
    pub dir: PathBuf,
    ok: Option<File>,
    control: Option<File>,
}

fn open_read_end(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .expect("open FIFO read end")
}

impl Crafted {
    /// `sandbox/name/supervise/` with the FIFOs `ok` and `control`; `running` holds their read
    /// ends open, as a live supervise does.
    pub fn new(sandbox: &Sandbox, name: &str, running: bool) -> Crafted {
        let dir = sandbox.join(name);
        let sup = dir.join("supervise");
        fs::create_dir_all(&sup).expect("mkdir supervise");
        for fifo in ["ok", "control"] {
            nix::unistd::mkfifo(&sup.join(fifo), Mode::from_bits_truncate(0o600)).expect("mkfifo");
        }
        let (ok, control) = if running {
            (
                Some(open_read_end(&sup.join("ok"))),
                Some(open_read_end(&sup.join("control"))),
            )
        } else {
            (None, None)
        };
        Crafted { dir, ok, control }
    }

    /// Writes `supervise/status`.
    pub fn status(self, status: &Status) -> Crafted {
        self.status_bytes(&status.encode())
    }

    /// Writes `supervise/status` with exactly these bytes.
    pub fn status_bytes(self, bytes: &[u8]) -> Crafted {
        fs::write(self.dir.join("supervise/status"), bytes).expect("write status");
        self
    }

    /// Creates the `down` file (the service is normally down).
    pub fn down_file(self) -> Crafted {
        fs::write(self.dir.join("down"), b"").expect("write down");
        self
    }

    /// The bytes written to `supervise/control` since the last call.
    pub fn sent(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let fifo = self.control.as_mut().expect("a running crafted service");
        let mut buf = [0; 256];
        loop {
            match fifo.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read control FIFO: {e}"),
            }
        }
        bytes
    }

    /// Fills the `control` FIFO to capacity with `z` bytes (the read end must be held);
    /// returns how many were written.
    pub fn fill_control(&self) -> usize {
        let mut fifo = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.dir.join("supervise/control"))
            .expect("open control for writing");
        let chunk = [b'z'; 4096];
        let mut total = 0;
        loop {
            match fifo.write(&chunk) {
                Ok(n) => total += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return total,
                Err(e) => panic!("fill control FIFO: {e}"),
            }
        }
    }

    /// Closes the read ends: clients now see "supervise not running".
    pub fn stop(&mut self) {
        self.ok = None;
        self.control = None;
    }
}

/// A status `secs_ago` seconds old (daemontools' part only).
pub fn status(pid: u32, secs_ago: u64, paused: bool, want: Want) -> Status {
    let now = Tai64n::now();
    Status {
        when: Tai64n {
            secs: now.secs - secs_ago,
            nanos: now.nanos,
        },
        pid,
        paused,
        want,
        ext: None,
    }
}

/// vigil's extension in `state`, with nothing else recorded.
pub fn extension(state: State) -> Extension {
    Extension {
        state,
        backoff_cause: BackoffCause::None,
        failures: 0,
        restarts: 0,
        last_exit: None,
        backoff_until: None,
        ready_at: None,
        seq: 0,
    }
}
