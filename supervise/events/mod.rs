//! What supervise tells the world beyond its status file (docs/events.md): events into the
//! journal and the FIFOs of `event/`, readiness of the run, and the `notify` listener program.
//!
//! Kept apart from the loop in service.rs, which calls it at a few points: when it starts
//! `run` ([`Observer::spawn_run`]), around each status write ([`Observer::before_write`],
//! [`Observer::after_write`]), when a readiness descriptor or a deadline wakes it, when it
//! reaps a child, and before it exits. No thread, no allocation per event beyond the FIFO
//! directory listing; the listener's batch is allocated only when `notify` exists.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use vigil_proc::kill;
use vigil_proc::spawn::{self, Extra};
use vigil_proto::msg;
use vigil_proto::status::Status;
use vigil_proto::{fifodir, journal};

use crate::config;
use crate::ready::{self, Heard, NotifyPipe, NotifySocket};
use crate::state::Readiness;

mod announce;
mod listener;

use announce::Announcer;
use listener::Listener;

const PROG: &str = "supervise";

/// The decimal digits of `n`, written into `buf` (no allocation).
pub fn decimal(n: i32, buf: &mut [u8; 12]) -> &[u8] {
    let mut cursor = io::Cursor::new(&mut buf[..]);
    // 11 characters at most for an i32: always fits.
    let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{n}"));
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    &buf[..len]
}

/// supervise's events, readiness channels and listener.
pub struct Observer<'a> {
    /// The service directory as supervise was given it (messages, VIGIL_SERVICE).
    dir: &'a [u8],
    announcer: Announcer,
    listener: Listener,
    pipe: Option<NotifyPipe>,
    socket: Option<NotifySocket>,
    /// `NOTIFY_SOCKET=...` for run, while the socket is bound.
    socket_env: Option<CString>,
}

impl<'a> Observer<'a> {
    /// Opens the journal; supervise is already in the service directory `dir`.
    pub fn new(dir: &'a [u8]) -> Observer<'a> {
        // The status file's last number, should the journal be gone.
        let last = vigil_proto::status::read_decoded(OsStr::new("."));
        let (announcer, error) = Announcer::open(OsStr::new("."), last.as_ref());
        if let Some(e) = error {
            msg::warn_unable(PROG, &e, &[b"open ", dir, b"/", journal::EVENTS.as_bytes()]);
        }
        Observer {
            dir,
            announcer,
            listener: Listener::default(),
            pipe: None,
            socket: None,
            socket_env: None,
        }
    }

    /// Binds the notify socket if `notify-socket` asks for it and it is not bound yet.
    fn bind_socket(&mut self) {
        if self.socket.is_some() || !ready::wants_notify_socket(OsStr::new(".")) {
            return;
        }
        match NotifySocket::bind() {
            Ok(socket) => {
                let mut env = b"NOTIFY_SOCKET=".to_vec();
                env.extend_from_slice(socket.name());
                self.socket_env = CString::new(env).ok();
                self.socket = Some(socket);
            }
            Err(e) => msg::warn_unable(PROG, &e, &[b"bind a notify socket for ", self.dir]),
        }
    }

    /// A pipe for `notification-fd`, if the file names a descriptor: supervise's read end
    /// and the write end with the number it must have in the child.
    fn notification_pipe(&self) -> Option<(NotifyPipe, OwnedFd, i32)> {
        let number = match ready::notification_fd(OsStr::new(".")) {
            Ok(n) => {
                config::settled(ready::NOTIFICATION_FD);
                n?
            }
            Err(e) => {
                config::warn_once(self.dir, ready::NOTIFICATION_FD, config::reason(&e));
                return None;
            }
        };
        let made = NotifyPipe::new().and_then(|(pipe, write)| {
            // dup2 onto itself would keep close-on-exec: give the write end another number.
            let write = if write.as_raw_fd() == number {
                write.try_clone()?
            } else {
                write
            };
            Ok((pipe, write, number))
        });
        match made {
            Ok(made) => Some(made),
            Err(e) => {
                msg::warn_unable(PROG, &e, &[b"create a notification pipe for ", self.dir]);
                None
            }
        }
    }

    /// Spawns `./run` with its readiness channel: the pipe at the `notification-fd` number,
    /// NOTIFY_SOCKET for `notify-socket`. Its pid, and `Waiting` if it has a channel to say
    /// it is ready on.
    /// NEW: `into`, the service's cgroup (supervise/cgroup.rs) to create it in.
    pub fn spawn_run(&mut self, into: Option<spawn::Cgroups>) -> io::Result<(i32, Readiness)> {
        self.bind_socket();
        let pipe = self.notification_pipe();
        let env_entry: Option<&CStr> = self.socket_env.as_deref();
        let env: &[&CStr] = match &env_entry {
            Some(entry) => std::slice::from_ref(entry),
            None => &[],
        };
        let extra = Extra {
            fd: pipe.as_ref().map(|(_, write, n)| (write.as_fd(), *n)),
            env,
        };
        let started = match into {
            Some(into) => spawn::spawn_in(c"./run", &[c"./run"], &extra, &into),
            None => spawn::spawn_with(c"./run", &[c"./run"], &extra),
        };
        let readiness = match pipe.is_some() || self.socket.is_some() {
            true => Readiness::Waiting,
            false => Readiness::Ready,
        };
        // Our copy of the write end closes here: the run holds the only one.
        self.pipe = pipe.filter(|_| started.is_ok()).map(|(pipe, _, _)| pipe);
        started.map(|pid| (pid, readiness))
    }

    /// Before the status file is written: readiness and the event number into `status`,
    /// the events into the journal.
    pub fn before_write(&mut self, status: &mut Status) {
        if let Some(e) = self.announcer.record(status) {
            msg::warn_unable(
                PROG,
                &e,
                &[b"write ", self.dir, b"/", journal::EVENTS.as_bytes()],
            );
        }
    }

    /// An event no status change shows (a limit breach), published with the next status
    /// write.
    pub fn note(&mut self, event: vigil_proto::event::Event, pid: u32) {
        self.announcer.note(event, pid);
    }

    /// A limit breach, with the limit and the value measured when the sample gave them.
    pub fn note_limit(&mut self, pid: u32, limit: Option<journal::Limit>) {
        self.announcer.note_limit(pid, limit);
    }

    /// After the status file is written: the letters into the FIFOs, the events to the
    /// listener.
    pub fn after_write(&mut self) {
        if let Err(e) = self.announcer.publish(Path::new(fifodir::EVENT)) {
            msg::warn_unable(
                PROG,
                &e,
                &[b"read ", self.dir, b"/", fifodir::EVENT.as_bytes()],
            );
        }
        self.queue_for_listener();
    }

    fn queue_for_listener(&mut self) {
        let runnable = nix::unistd::access(listener::NOTIFY, nix::unistd::AccessFlags::X_OK);
        if runnable.is_err() {
            return;
        }
        for record in self.announcer.recent() {
            self.listener.add(record);
        }
        self.run_listener();
    }

    /// Starts `./notify` for the queued events if none runs.
    fn run_listener(&mut self) {
        let Some(batch) = self.listener.due() else {
            return;
        };
        let [word, seq] = batch.args();
        let env = batch.env(OsStr::from_bytes(self.dir));
        let env: Vec<&CStr> = env.iter().map(CString::as_c_str).collect();
        let extra = Extra {
            fd: None,
            env: &env,
        };
        match spawn::spawn_with(c"./notify", &[c"./notify", &word, &seq], &extra) {
            Ok(pid) => {
                let limit = match listener::timeout(OsStr::new(".")) {
                    Ok(limit) => {
                        config::settled(listener::NOTIFY_TIMEOUT);
                        limit
                    }
                    Err(e) => {
                        let why = config::reason(&e);
                        config::warn_once(self.dir, listener::NOTIFY_TIMEOUT, why);
                        Some(listener::DEFAULT_TIMEOUT)
                    }
                };
                self.listener
                    .started(pid, limit.map(|t| Instant::now() + t));
            }
            Err(e) => msg::warn_unable(PROG, &e, &[b"start ", self.dir, b"/notify"]),
        }
    }

    /// The descriptors that tell readiness, to poll with the others.
    pub fn fds(&self) -> [Option<BorrowedFd<'_>>; 2] {
        [
            self.pipe.as_ref().map(NotifyPipe::fd),
            self.socket.as_ref().map(NotifySocket::fd),
        ]
    }

    /// One of [`Observer::fds`] was readable: true if the run (`run`: its pid, if one runs)
    /// said it is ready (news or not: the state table decides). A notification from a process
    /// outside the run's tree is refused with a warning naming its pid.
    pub fn readable(&mut self, run: Option<i32>) -> bool {
        let mut ready = false;
        if let Some(pipe) = &mut self.pipe {
            match pipe.read() {
                Ok(Heard::Pending) => {}
                Ok(Heard::Ready) => {
                    ready = true;
                    self.pipe = None;
                }
                Ok(Heard::Closed) | Err(_) => self.pipe = None,
            }
        }
        if let Some(socket) = &mut self.socket {
            if let Ok(news) = socket.read(run) {
                ready |= news.heard == Heard::Ready;
                if let Some(pid) = news.refused {
                    let mut digits = [0u8; 12];
                    msg::warn(
                        PROG,
                        &[
                            b"refused a notification for ",
                            self.dir,
                            b" from pid ",
                            decimal(pid, &mut digits),
                            b": not a process of the service",
                        ],
                    );
                }
            }
        }
        ready
    }

    /// When the listener must be killed, if one runs with a time limit.
    pub fn deadline(&self) -> Option<Instant> {
        self.listener.deadline()
    }

    /// Kills an overdue listener (its whole process group).
    pub fn on_time(&mut self, now: Instant) {
        if let Some(pid) = self.listener.overdue(now) {
            let _ = kill::signal_group(pid, libc::SIGKILL);
        }
    }

    /// A child was reaped: true if it was the listener (then the next batch starts).
    pub fn reaped(&mut self, pid: i32) -> bool {
        if !self.listener.exited(pid) {
            return false;
        }
        self.run_listener();
        true
    }

    /// supervise is exiting: the `x` event, and the listener for it if none runs (not
    /// waited for).
    pub fn exit(&mut self) {
        if let Some(e) = self.announcer.exit(Path::new(fifodir::EVENT)) {
            msg::warn_unable(PROG, &e, &[b"announce the exit of ", self.dir]);
        }
        self.queue_for_listener();
    }
}
