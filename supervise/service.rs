//! supervise's effects: the service directory, the FIFOs, the status file, children, signals,
//! and the one loop that sleeps in a single poll.

use std::ffi::{CStr, OsStr};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vigil_proc::kill::{self, PidFd};
use vigil_proc::signals::Signals;
use vigil_proc::{reap, spawn, wait};
use vigil_proto::control::Control;
use vigil_proto::event::Event;
use vigil_proto::exit::LastExit;
use vigil_proto::msg::{self, Fail};
use vigil_proto::status::{BackoffCause, Extension, RunIdentity, Status};
use vigil_proto::tai::Tai64n;
use vigil_proto::{fifo, lock, paths, status};

use crate::adopt;
use crate::cgroup::{self, Tree};
use crate::config;
use crate::events::Observer;
use crate::limits::{Action, Monitor};
use crate::logcopy;
use crate::state::{self, Effect, Exit, Input, Reach, Supervisor, Want};

const PROG: &str = "supervise";

/// How long an orphan left by a killed supervise gets between TERM and KILL, when it cannot be
/// adopted (no pidfd).
const ORPHAN_GRACE: Duration = Duration::from_secs(5);

/// supervise DIR: runs until told to exit (`x`, SIGTERM, SIGHUP, SIGINT) with the service down.
/// `args`: the first two operands.
pub fn run(args: [Option<&OsStr>; 2]) -> Result<ExitCode, Fail> {
    let [Some(dir), None] = args else {
        return Err(Fail::usage("supervise dir"));
    };
    let dir = dir.as_bytes();
    let signals = Signals::block(&[
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGINT,
    ])
    .map_err(|e| Fail::unable(&e, &[b"create signalfd for ", dir]))?;
    let logger = logcopy::logger_name(dir);
    std::env::set_current_dir(std::ffi::OsStr::from_bytes(dir))
        .map_err(|e| Fail::unable(&e, &[b"chdir to ", dir]))?;
    // From here on, messages name a logger's service (`hello/log`), and warnings also go into
    // the log pipe of a logged service (issue 15 item 6).
    let dir: &[u8] = logger.as_deref().unwrap_or(dir);
    logcopy::install();
    let want = match fs::metadata(paths::DOWN) {
        Ok(_) => Want::Down,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Want::Up,
        Err(e) => return Err(Fail::unable(&e, &[b"stat ", dir, b"/down"])),
    };
    // compat: daemontools ignores mkdir's error; the lock's open reports a real problem.
    let _ = fs::DirBuilder::new().mode(0o700).create(paths::SUPERVISE);
    let _lock = lock::acquire(paths::LOCK)
        .map_err(|e| Fail::unable(&e, &[b"acquire ", dir, b"/", paths::LOCK.as_bytes()]))?;
    let _ = fifo::make(paths::CONTROL, 0o600);
    let mut control = fifo::open_read(paths::CONTROL)
        .map_err(|e| Fail::unable(&e, &[b"read ", dir, b"/", paths::CONTROL.as_bytes()]))?;
    // A write end of our own, so the FIFO never reads end-of-file between clients.
    let _control_write = fifo::open_write(paths::CONTROL)
        .map_err(|e| Fail::unable(&e, &[b"write ", dir, b"/", paths::CONTROL.as_bytes()]))?;

    let mut service = Runner::new(dir);
    let mut sup = Supervisor::new(config::read(dir), want, seed());
    // NEW: a cgroup of its own where the hierarchy allows it (issue 14).
    service.tree = Tree::find(dir);
    if service.tree.is_some() {
        sup.reach = Reach::Cgroup;
    }
    let previous = status::read_previous(OsStr::new("."));
    let adopted = previous.and_then(|(old, recorded)| service.take_over(&old, recorded, &mut sup));
    service.announce(&sup);
    let _ = fifo::make(paths::OK, 0o600);
    let _ok = fifo::open_read(paths::OK)
        .map_err(|e| Fail::unable(&e, &[b"read ", dir, b"/", paths::OK.as_bytes()]))?;
    // Leftovers of the service become our children, so we reap them and see them go.
    if let Err(e) = reap::become_subreaper() {
        msg::warn_unable(PROG, &e, &[b"become subreaper for ", dir]);
    }
    service.adopted = adopted;
    // What an earlier run left in the cgroup, with no run to adopt, goes before the first start.
    let first = match (&service.tree, &service.adopted) {
        (Some(tree), None) if tree.populated() => sup.clear_leftovers(),
        (Some(_), _) | (None, _) => sup.boot(),
    };
    service.apply_all(&mut sup, first.as_slice());
    service.serve(&mut sup, signals, &mut control)?;
    service.announce(&sup);
    if let Some(tree) = &service.tree {
        tree.remove();
    }
    service.observer.exit();
    Ok(ExitCode::SUCCESS)
}

/// A seed for the backoff jitter: differs between supervise processes.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// What the loop acts on: the service directory, the run a previous supervise left, the
/// event observer and the limits monitor; it carries out the state table's effects.
/// (Not `vigil_client::Service`, a client's handle on a directory, nor svscan's
/// `ScannedService`.)
struct Runner<'a> {
    dir: &'a [u8],
    /// When the announced pid last changed (status bytes 0..12).
    when: Tai64n,
    announced_pid: u32,
    /// A run left by a previous supervise, watched through its pidfd.
    adopted: Option<PidFd>,
    /// This boot's id, read once: half of each run's identity.
    boot_id: Option<[u8; 16]>,
    /// The identity of the run (its pid, start time and boot), written into the status so a
    /// supervise after a SIGKILL knows it (adopt.rs).
    run_id: Option<(i32, RunIdentity)>,
    /// Events, readiness and the listener (issue 6).
    observer: Observer<'a>,
    /// NEW: resource limits; no deadline unless a limit file exists.
    monitor: Monitor,
    /// NEW: the service's cgroup; `None` on the process-group path.
    tree: Option<Tree>,
    /// The errno of the last failed start of `run` warned about; `None` once one succeeded.
    start_failed: Option<i32>,
    /// The limit and value of the breach being dispatched (for its `l` event).
    limit: Option<vigil_proto::journal::Limit>,
}

impl<'a> Runner<'a> {
    fn new(dir: &'a [u8]) -> Runner<'a> {
        Runner {
            dir,
            when: Tai64n::now(),
            announced_pid: 0,
            adopted: None,
            boot_id: adopt::boot_id(),
            run_id: None,
            observer: Observer::new(dir),
            monitor: Monitor::new(),
            tree: None,
            start_failed: None,
            limit: None,
        }
    }

    /// The previous supervise was killed with its run alive: adopt it (pidfd), or, where the
    /// kernel has no pidfd, stop it before starting a fresh one. Never a second copy.
    /// `recorded`: the run's identity as the old status file holds it (adopt.rs).
    fn take_over(
        &mut self,
        old: &Status,
        recorded: Option<RunIdentity>,
        sup: &mut Supervisor,
    ) -> Option<PidFd> {
        if old.pid == 0 || !adopt::is_our_run(old, recorded.as_ref(), self.boot_id) {
            return None;
        }
        let pid = old.pid as i32;
        match PidFd::open(pid) {
            Ok(pidfd) => {
                // The pidfd holds the process now: it must still be the one recognised.
                let live = adopt::identity(pid, self.boot_id);
                if recorded.is_some() && live != recorded {
                    return None;
                }
                self.run_id = live.map(|id| (pid, id));
                let adopted = sup.adopt(pid, Instant::now());
                self.apply_all(sup, adopted.as_slice());
                sup.paused = old.paused;
                sup.want = match old.want {
                    vigil_proto::status::Want::Down => Want::Down,
                    vigil_proto::status::Want::Up => Want::Up,
                    vigil_proto::status::Want::Nothing => Want::Once,
                };
                self.when = old.when;
                self.announced_pid = old.pid;
                Some(pidfd)
            }
            Err(e) => {
                msg::warn_unable(PROG, &e, &[b"watch the previous run of ", self.dir]);
                stop_orphan(pid);
                None
            }
        }
    }

    /// The loop: one poll, then drain signals, reap every child, read every control byte.
    fn serve(
        &mut self,
        sup: &mut Supervisor,
        mut signals: Signals,
        control: &mut File,
    ) -> Result<(), Fail> {
        let mut bytes = [0u8; 64];
        while !sup.finished() {
            self.monitor.track(sup.pid(), self.dir, Instant::now());
            let deadline = sup.deadline();
            let [ready_pipe, ready_socket] = self.observer.fds();
            let ([_, control_ready, adopted_gone, ready_a, ready_b], cgroup_changed) =
                wait::readable_or_changed(
                    [
                        Some(signals.fd()),
                        Some(std::os::fd::AsFd::as_fd(control)),
                        self.adopted.as_ref().map(PidFd::fd),
                        ready_pipe,
                        ready_socket,
                    ],
                    self.tree.as_ref().map(Tree::fd),
                    state::earliest(
                        state::earliest(deadline, self.observer.deadline()),
                        self.monitor.deadline(),
                    ),
                )
                .map_err(|e| Fail::unable(&e, &[b"wait for events in ", self.dir]))?;
            let mut terminate = false;
            while let Some(signo) = signals
                .pending()
                .map_err(|e| Fail::unable(&e, &[b"read signals in ", self.dir]))?
            {
                terminate |= signo != libc::SIGCHLD;
            }
            // Control bytes before exits: bytes queued while supervise could not run (stopped,
            // descheduled) were written before it saw the exit, so a `d` among them must hold
            // the restart back (issue 12: restarted, then the new copy killed).
            // Every byte queued (at most a pipe's 64 KiB), not the first 64 alone.
            let mut rounds = if control_ready { 1024 } else { 0 };
            let mut reloaded = false;
            while rounds > 0 {
                rounds -= 1;
                let n = fifo::read_pending(control, &mut bytes).map_err(|e| {
                    Fail::unable(&e, &[b"read ", self.dir, b"/", paths::CONTROL.as_bytes()])
                })?;
                if n > 0 && !reloaded {
                    reloaded = true;
                    sup.config = config::read(self.dir);
                    self.monitor.reload(self.dir, Instant::now());
                }
                // compat: daemontools ignores bytes it does not know.
                for c in bytes[..n].iter().filter_map(|&b| Control::from_byte(b)) {
                    self.dispatch(sup, Input::Control(c));
                }
                if n < bytes.len() {
                    rounds = 0;
                }
            }
            while let Some((pid, status)) = reap::reap_one() {
                if !self.observer.reaped(pid) {
                    self.dispatch(sup, Input::Exited(pid, Exit::Status(status)));
                }
            }
            if (ready_a || ready_b) && self.observer.readable(sup.pid()) {
                self.dispatch(sup, Input::Ready);
            }
            self.observer.on_time(Instant::now());
            if adopted_gone {
                if let Some(pidfd) = self.adopted.take() {
                    self.dispatch(sup, Input::Exited(pidfd.pid(), Exit::Unknown));
                }
            }
            if cgroup_changed {
                let populated = self.tree.as_ref().is_some_and(Tree::populated);
                self.dispatch(sup, Input::StraysLeft(populated));
            }
            if terminate {
                self.dispatch(sup, Input::Terminate);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.dispatch(sup, Input::Timeout);
            }
            if self.monitor.deadline().is_some_and(|d| Instant::now() >= d) {
                self.limits(sup);
            }
        }
        Ok(())
    }

    /// A limit sample is due: take it; each limit passed is an input of the state machine,
    /// the last with what `on-limit` says (see limits/).
    fn limits(&mut self, sup: &mut Supervisor) {
        self.monitor.cgroup_memory = self.tree.as_ref().and_then(Tree::memory_bytes);
        let (passed, action) = self.monitor.due(self.dir, Instant::now());
        for i in 0..passed {
            let action = if i + 1 == passed {
                action
            } else {
                Action::Notify
            };
            // What its `l` event carries, when the table publishes one.
            self.limit = self.monitor.passed.get(i).copied().flatten();
            self.dispatch(sup, Input::Breach(action));
            self.limit = None;
        }
    }

    fn dispatch(&mut self, sup: &mut Supervisor, input: Input) {
        let effects = sup.on(input, Instant::now());
        self.apply_all(sup, effects.as_slice());
    }

    fn apply_all(&mut self, sup: &mut Supervisor, effects: impl Iterator<Item = Effect>) {
        for effect in effects {
            if let Some(answer) = self.apply(sup, effect) {
                self.dispatch(sup, answer);
            }
        }
    }

    /// Does one effect; the answer the state machine waits for, if any.
    // Never inlined: the effects' buffers (bounded reads of the settings, 4 KiB each) would
    // otherwise sit in apply_all's frame, which recurses through dispatch for each answer,
    // and every supervise would keep those stack pages (docs/bench.md, "Memory per supervise").
    #[inline(never)]
    fn apply(&mut self, sup: &mut Supervisor, effect: Effect) -> Option<Input> {
        match effect {
            Effect::Start => {
                let into = match &mut self.tree {
                    Some(tree) => {
                        let (cap, limited) = memory_limit();
                        Some(tree.prepare(cap, limited))
                    }
                    None => None,
                };
                let started = self.observer.spawn_run(into);
                match &started {
                    Ok((pid, _)) => {
                        self.run_id = adopt::identity(*pid, self.boot_id).map(|id| (*pid, id));
                        self.start_failed = None;
                    }
                    // Once per reason, not at every try of the backoff (issue 15 item 6).
                    Err(e)
                        if self.start_failed != e.raw_os_error() || e.raw_os_error().is_none() =>
                    {
                        self.start_failed = e.raw_os_error();
                        msg::warn_unable(PROG, e, &[b"start ", self.dir, b"/run"]);
                    }
                    Err(_) => {}
                }
                sup.config = config::read(self.dir);
                Some(Input::Started(
                    started.map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)),
                ))
            }
            Effect::Finish(exit) => Some(Input::FinishStarted(self.finish(exit))),
            Effect::Signal(pid, sig) => {
                let _ = match &self.adopted {
                    Some(pidfd) if pidfd.pid() == pid => pidfd.signal(sig),
                    Some(_) | None => kill::signal(pid, sig),
                };
                None
            }
            Effect::SignalGroup(group, sig) => {
                let _ = kill::signal_group(group, sig);
                None
            }
            Effect::StopStrays(_) if sup.reach == Reach::Cgroup => {
                let tree = self.tree.as_ref()?;
                if fs::symlink_metadata(config::KEEP_STRAYS).is_ok() {
                    return Some(Input::StraysLeft(false));
                }
                tree.signal_all(libc::SIGTERM);
                tree.signal_all(libc::SIGCONT);
                Some(Input::StraysLeft(tree.populated()))
            }
            Effect::StopStrays(group) => {
                let keep = fs::symlink_metadata(config::KEEP_STRAYS).is_ok();
                let reached = !keep && kill::signal_group(group, libc::SIGTERM).is_ok();
                if reached {
                    let _ = kill::signal_group(group, libc::SIGCONT);
                }
                Some(Input::StraysLeft(reached))
            }
            Effect::ProbeStrays(_) if sup.reach == Reach::Cgroup => Some(Input::StraysLeft(
                self.tree.as_ref().is_some_and(Tree::populated),
            )),
            Effect::ProbeStrays(group) => Some(Input::StraysLeft(kill::group_exists(group))),
            Effect::SignalCgroup(sig) => {
                if let Some(tree) = &self.tree {
                    tree.signal_all(sig);
                }
                None
            }
            Effect::KillCgroup => {
                let tree = self.tree.as_ref()?;
                tree.kill_all();
                Some(Input::StraysLeft(tree.populated()))
            }
            Effect::Announce => {
                self.announce(sup);
                None
            }
            Effect::NotReady(pid) => {
                let ms = sup.config.ready_timeout.map_or(0, |t| t.as_millis());
                let ms = i32::try_from(ms).unwrap_or(i32::MAX);
                let (mut a, mut b) = ([0u8; 12], [0u8; 12]);
                msg::warn(
                    PROG,
                    &[
                        self.dir,
                        b"/run (pid ",
                        crate::events::decimal(pid, &mut a),
                        b") has not said it is ready within ready-timeout (",
                        crate::events::decimal(ms, &mut b),
                        b" ms)",
                    ],
                );
                None
            }
            Effect::Publish(event) => {
                match (sup.pid(), event) {
                    (Some(pid), Event::Limit) => self.observer.note_limit(pid as u32, self.limit),
                    (Some(pid), _) => self.observer.note(event, pid as u32),
                    (None, _) => {}
                }
                None
            }
        }
    }

    /// Starts `./finish EXITCODE SIGNAL` if it is executable (runit's arguments: the exit code
    /// or -1, the signal or 0; -1 -1 for an adopted run whose exit status is unknown).
    fn finish(&self, exit: Exit) -> Option<i32> {
        nix::unistd::access(paths::FINISH, nix::unistd::AccessFlags::X_OK).ok()?;
        let (code, signal) = match exit {
            Exit::Status(status) => LastExit::from_wait_status(status).finish_args(),
            Exit::Unknown => (-1, -1),
        };
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        let args = [c"./finish", decimal(code, &mut a), decimal(signal, &mut b)];
        match spawn::spawn(c"./finish", &args) {
            Ok(pid) => Some(pid),
            Err(e) => {
                msg::warn_unable(PROG, &e, &[b"start ", self.dir, b"/finish"]);
                None
            }
        }
    }

    /// Rewrites `supervise/status` atomically; a failure is a warning, retried at the next change.
    fn announce(&mut self, sup: &Supervisor) {
        let pid = sup.pid().map_or(0, |p| p as u32);
        if pid != self.announced_pid {
            self.when = Tai64n::now();
            self.announced_pid = pid;
        }
        let (cause, backoff_until) = match sup.backoff() {
            Some((cause, until)) => {
                let left = until.saturating_duration_since(Instant::now());
                (cause, Some(Tai64n::now().add(left)))
            }
            None => (BackoffCause::None, None),
        };
        let status = Status {
            when: self.when,
            pid,
            paused: sup.paused,
            want: match sup.want {
                Want::Up => status::Want::Up,
                Want::Down => status::Want::Down,
                Want::Once => status::Want::Nothing,
            },
            ext: Some(Extension {
                state: sup.word(),
                backoff_cause: cause,
                failures: sup.failures.min(255) as u8,
                restarts: sup.restarts,
                last_exit: sup.last_exit,
                backoff_until,
                ready_at: None,
                seq: 0,
            }),
        };
        let mut status = status;
        self.observer.before_write(&mut status);
        // In arrays, not Vecs: supervise keeps no heap page (docs/bench.md).
        let run = self
            .run_id
            .filter(|&(run, _)| pid != 0 && run as u32 == pid)
            .map(|(_, id)| id);
        let (bytes, len) = status.encode_with_run(&self.monitor.record, run.as_ref());
        self.write_status(&bytes[..len]);
        self.observer.after_write();
    }

    fn write_status(&self, bytes: &[u8]) {
        let new: &[u8] = paths::STATUS_NEW.as_bytes();
        let mut file = match File::create(paths::STATUS_NEW) {
            Ok(f) => f,
            Err(e) => return msg::warn_unable(PROG, &e, &[b"open ", self.dir, b"/", new]),
        };
        if let Err(e) = file.write_all(bytes) {
            return msg::warn_unable(PROG, &e, &[b"write ", self.dir, b"/", new]);
        }
        drop(file);
        if let Err(e) = fs::rename(paths::STATUS_NEW, paths::STATUS) {
            msg::warn_unable(PROG, &e, &[b"rename ", self.dir, b"/", new, b" to status"]);
        }
    }
}

/// The kernel memory cap to set (`memory-cap` and a valid `max-memory`), and whether the
/// service has a memory limit at all (then `run` joins a v1 memory cgroup, if there is one).
fn memory_limit() -> (Option<u64>, bool) {
    use crate::limits::{parse_memory, MAX_MEMORY};
    use vigil_proto::bounded::{self, Links};
    let mut buf = [0u8; bounded::SETTING_MAX];
    let max = match bounded::read(std::path::Path::new(MAX_MEMORY), Links::Refuse, &mut buf) {
        Ok(Some(text)) => Some(parse_memory(text).ok()),
        Ok(None) | Err(_) => None,
    };
    let cap_asked = fs::symlink_metadata(cgroup::MEMORY_CAP).is_ok();
    let cap = max.flatten().filter(|_| cap_asked);
    (cap, max.is_some() || cap_asked)
}

/// The decimal text of `n` as a C string in `buf`.
fn decimal(n: i32, buf: &mut [u8; 16]) -> &CStr {
    let mut cursor = io::Cursor::new(&mut buf[..]);
    // 11 characters at most for an i32, plus the NUL: always fits.
    let _ = write!(cursor, "{n}\0");
    CStr::from_bytes_until_nul(buf).unwrap_or(c"0")
}

/// Without pidfd the old run cannot be watched without polling: stop its whole group (TERM and
/// CONT, a bounded wait, then KILL) so the fresh start is the only copy.
fn stop_orphan(pid: i32) {
    let _ = kill::signal_group(pid, libc::SIGTERM);
    let _ = kill::signal_group(pid, libc::SIGCONT);
    let deadline = Instant::now() + ORPHAN_GRACE;
    while kill::signal(pid, 0).is_ok() && Instant::now() < deadline {
        // Only at start-up, only on kernels without pidfd_open (before 5.3).
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill::signal_group(pid, libc::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text() {
        let mut buf = [0u8; 16];
        assert_eq!(decimal(-1, &mut buf), c"-1");
        assert_eq!(decimal(i32::MIN, &mut buf), c"-2147483648");
        assert_eq!(decimal(0, &mut buf), c"0");
    }
}
