//! The loop: one poll on the signalfd and the inotify descriptor, with the earliest deadline as
//! its timeout; then drain signals, reap, read changes, act. An idle tree has no deadline at
//! all: inotify reports every new or removed entry and SIGCHLD every supervise that died. The
//! periodic rescan (5 s, daemontools' period) is armed only while inotify cannot be trusted to
//! report what is pending: it is unavailable or its watch on the scan directory is gone, a
//! service directory could not be watched, or an entry was warned about (a dangling link, a
//! `log` that is a file: their fix happens where inotify does not look). A queue overflow
//! rescans at once; SIGHUP and SIGALRM rescan on demand, as in daemontools.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use vigil_client::Service;
use vigil_proto::msg::{self, Fail};

use crate::fdlimit;
use crate::logpipe::LogPipe;
use crate::scan::{self, Entry, Key, Look};
use crate::signals::Signals;
use crate::spawn::Supervise;
use crate::table::{Fate, ScannedService, Side, Supervisor, Table};
use crate::timers::{Timer, Timers};
use crate::watch::Watcher;
use crate::PROG;

/// The rescan period while inotify cannot be trusted (daemontools' 5 s).
const RESCAN: Duration = Duration::from_secs(5);
/// How long a name that was deleted or moved out may take to come back before its service is
/// stopped (a `mv` out and back in does not bounce it).
const REMOVAL_GRACE: Duration = Duration::from_millis(500);
/// A supervise that exits sooner than this after its start is restarted this long after its
/// start, not at once: one start a second at most, never a tight loop.
pub const MIN_RUN: Duration = Duration::from_secs(1);
/// The longest svscan waits before it looks again at a directory another supervise holds.
const ELSEWHERE_MAX: Duration = Duration::from_secs(60);

/// svscan's whole state.
pub struct Tree {
    pub(crate) table: Table,
    pub(crate) timers: Timers,
    pub(crate) supervise: Supervise,
    pub(crate) signals: Signals,
    pub(crate) watcher: Option<Watcher>,
    /// The next periodic rescan: `None` while inotify reports everything (issue 15 item 10).
    pub(crate) next_rescan: Option<Instant>,
    pub(crate) removal_at: Option<Instant>,
    /// Shutting down: when the services still running are killed.
    pub(crate) kill_at: Option<Instant>,
    /// Shutting down and killed: when svscan exits whatever is left.
    pub(crate) give_up_at: Option<Instant>,
}

impl Tree {
    /// A tree with nothing started yet; watching the current directory if inotify allows.
    pub fn new(signals: Signals) -> Tree {
        let watcher = match Watcher::new() {
            Ok(w) => Some(w),
            Err(e) => {
                msg::warn_unable(PROG, &e, &[b"watch directory"]);
                None
            }
        };
        Tree {
            table: Table::default(),
            timers: Timers::default(),
            supervise: Supervise::locate(),
            signals,
            watcher,
            next_rescan: None,
            removal_at: None,
            kill_at: None,
            give_up_at: None,
        }
    }

    /// Runs until a shutdown finishes.
    pub fn run(mut self) -> Result<ExitCode, Fail> {
        self.scan_all(false);
        loop {
            self.wait();
            let now = Instant::now();
            let caught = self.signals.drain();
            if caught.child {
                // Every child: supervise processes and, as process 1 or a subreaper, orphans.
                while let Some((pid, _status)) = vigil_proc::reap::reap_one() {
                    self.exited(Pid::from_raw(pid), now);
                }
            }
            if caught.stop && self.kill_at.is_none() {
                self.shut_down(now);
            }
            if self.kill_at.is_none() {
                self.watch_changes(now);
                if caught.rescan
                    || self.next_rescan.is_some_and(|at| at <= now)
                    || self.removal_at.is_some_and(|at| at <= now)
                {
                    self.scan_all(true);
                }
            }
            for timer in self.timers.due(now) {
                self.fire(timer, now);
            }
            if let Some(at) = self.kill_at {
                if self.table.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
                if now >= at && self.give_up_at.is_none() {
                    self.kill_all(now);
                }
                if self.give_up_at.is_some_and(|at| now >= at) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
    }

    /// Sleeps in one poll until a signal, a change in the directory or the earliest deadline.
    fn wait(&self) {
        let deadline = [
            self.next_rescan.filter(|_| self.kill_at.is_none()),
            self.removal_at,
            self.kill_at.filter(|_| self.give_up_at.is_none()),
            self.give_up_at,
            self.timers.next(),
        ]
        .into_iter()
        .flatten()
        .min();
        let watcher = self.watcher.as_ref().map(Watcher::fd);
        // A failed poll: the loop drains what it can and waits again.
        let _ = vigil_proc::wait::readable([Some(self.signals.fd()), watcher], deadline);
    }

    /// Acts on what inotify reported.
    fn watch_changes(&mut self, now: Instant) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let changes = watcher.drain();
        if changes.lost {
            // Nothing more will come from it: fall back to daemontools' periodic rescan.
            self.watcher = None;
            self.distrust(now);
        }
        if changes.overflow {
            self.scan_all(false);
        }
        for name in changes.added {
            match scan::look(&name) {
                Look::Service(entry) => self.found(entry, now),
                Look::Unsure => self.distrust(now),
                Look::Ignore => {}
            }
        }
        if changes.removed && self.removal_at.is_none() {
            self.removal_at = Some(now + REMOVAL_GRACE);
        }
    }

    /// Something inotify will not report may change: rescan within [`RESCAN`].
    fn distrust(&mut self, now: Instant) {
        self.next_rescan.get_or_insert(now + RESCAN);
    }

    /// Scans the whole directory: starts what is new; with `remove`, stops what is gone.
    fn scan_all(&mut self, remove: bool) {
        let now = Instant::now();
        // Trusted again unless this scan meets something inotify does not report.
        self.next_rescan = None;
        if self.watcher.is_none() {
            self.distrust(now);
        }
        if remove {
            self.removal_at = None;
        }
        for service in self.table.services_mut() {
            service.seen = false;
        }
        let names = match scan::names() {
            Ok(names) => names,
            Err(e) => {
                // compat: daemontools' wording; nothing is stopped on a failed read.
                msg::warn_unable(PROG, &e, &[b"read directory"]);
                return;
            }
        };
        for name in names {
            match scan::look(&name) {
                Look::Service(entry) => self.found(entry, now),
                Look::Unsure => self.distrust(now),
                Look::Ignore => {}
            }
        }
        if remove {
            for key in self.table.keys() {
                let gone = self
                    .table
                    .get(&key)
                    .is_some_and(|s| !s.seen && s.fate == Fate::Active);
                if gone {
                    self.stop(key, now);
                }
            }
        }
    }

    /// A service directory was found: start it if it is new and ready.
    fn found(&mut self, entry: Entry, now: Instant) {
        if let Some(service) = self.table.get_mut(&entry.key) {
            service.seen = true;
            match service.fate {
                Fate::Stopping => service.reappeared = true,
                // Renamed: a restarted supervise must be given the name that exists now.
                Fate::Active if service.name != entry.name => {
                    service.dir = absolute(&entry.name);
                    service.name = entry.name;
                }
                Fate::Active => {}
            }
            return;
        }
        let entry = if entry.ready {
            entry
        } else {
            scan::warn_unready(&entry);
            let Some(w) = self.watcher.as_mut() else {
                return;
            };
            // Watch first, then look again: a `run` made ready in between is not missed.
            if !w.wait_for(&entry.name, entry.log) {
                self.distrust(now);
            }
            match scan::look(&entry.name) {
                Look::Service(again) if again.ready && again.key == entry.key => again,
                Look::Unsure => return self.distrust(now),
                Look::Service(_) | Look::Ignore => return,
            }
        };
        if let Some(w) = self.watcher.as_mut() {
            w.forget(&entry.name);
        }
        scan::settled(&entry.name);
        let pipe = if entry.log {
            match LogPipe::create() {
                Ok(pipe) => Some(pipe),
                Err(e) => {
                    msg::warn_unable(PROG, &e, &[b"create pipe for ", entry.name.as_bytes()]);
                    return;
                }
            }
        } else {
            None
        };
        let dir = absolute(&entry.name);
        let service = ScannedService::new(entry.name, dir, pipe, now);
        self.table.insert(entry.key, service);
        self.start_missing(entry.key, now);
    }

    /// Starts whichever of the service's supervise processes is not running.
    pub(crate) fn start_missing(&mut self, key: Key, now: Instant) {
        let Some(service) = self.table.get(&key) else {
            return;
        };
        if service.fate != Fate::Active {
            return;
        }
        let mut started = Vec::new();
        let mut failed = false;
        let mut look_again = None;
        let name = service.name.as_os_str();
        let main_free = held_elsewhere(&service.main, &service.dir, &mut look_again);
        let log_free = service
            .log
            .as_ref()
            .is_none_or(|log| held_elsewhere(log, &service.dir.join("log"), &mut look_again));
        if service.main.pid.is_none() && main_free {
            let stdout = service.pipe.as_ref().and_then(LogPipe::write_end);
            match fdlimit::retry(true, || self.supervise.start_main(name, stdout)) {
                Ok(pid) => started.push((Side::Main, pid)),
                Err(e) => failed |= spawn_failed(&e, name.as_bytes()),
            }
        }
        if let (Some(log), Some(pipe)) = (&service.log, &service.pipe) {
            if log.pid.is_none() && log_free {
                match fdlimit::retry(true, || self.supervise.start_log(name, pipe.read_end())) {
                    Ok(pid) => started.push((Side::Log, pid)),
                    Err(e) => {
                        let what = paths_join(name, "log");
                        failed |= spawn_failed(&e, &what);
                    }
                }
            }
        }
        for (side, pid) in started {
            self.table.started(key, side, pid, now);
        }
        if let Some(service) = self.table.get_mut(&key) {
            let sides = [Some(&mut service.main), service.log.as_mut()];
            for sup in sides.into_iter().flatten() {
                if sup.pid.is_some() {
                    sup.elsewhere = None;
                } else if let Some(wait) = sup.elsewhere.as_mut() {
                    *wait = (*wait * 2).min(ELSEWHERE_MAX);
                }
            }
        }
        if let Some(wait) = look_again {
            self.timers.at(now + wait, Timer::Retry(key));
        } else if failed {
            self.timers.at(now + MIN_RUN, Timer::Retry(key));
        }
    }

    /// A child exited: restart a supervise of an active service, move a stopping one along;
    /// an orphan that is no supervise was reaped and is forgotten.
    fn exited(&mut self, pid: Pid, now: Instant) {
        let Some((key, side)) = self.table.exited(pid) else {
            return;
        };
        let Some(service) = self.table.get_mut(&key) else {
            return;
        };
        match service.fate {
            Fate::Active => {
                let started = service
                    .side_mut(side)
                    .map_or(now, |supervisor| supervisor.started);
                let dir = match side {
                    Side::Main => service.dir.clone(),
                    Side::Log => service.dir.join("log"),
                };
                let quick = now.duration_since(started) < MIN_RUN;
                // A supervise that exits at once because another holds the directory (one a
                // SIGKILLed svscan left behind): the service is supervised; leave it to that
                // one, say so once, and look again later, backing off (issue #12).
                if quick && Service::at(&dir).is_ok_and(|s| s.is_supervised().unwrap_or(false)) {
                    if let Some(sup) = service.side_mut(side) {
                        if sup.elsewhere.is_none() {
                            msg::warn(
                                PROG,
                                &[
                                    dir.as_os_str().as_bytes(),
                                    b" is supervised by another supervise: leaving it to that one",
                                ],
                            );
                            sup.elsewhere = Some(MIN_RUN);
                        }
                        let wait = sup.elsewhere.unwrap_or(MIN_RUN);
                        self.timers.at(now + wait, Timer::Retry(key));
                    }
                    return;
                }
                if !quick {
                    self.start_missing(key, now);
                } else {
                    self.timers.at(started + MIN_RUN, Timer::Retry(key));
                }
            }
            Fate::Stopping => self.advance(key, now),
        }
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Retry(key) => self.start_missing(key, now),
            Timer::Drain(key) => self.drained(key),
        }
    }

    /// A stopping service is fully gone: forget it, and look at its name again if it came
    /// back meanwhile.
    pub(crate) fn forget(&mut self, key: Key, now: Instant) {
        if let Some(service) = self.table.remove(&key) {
            if service.reappeared && self.kill_at.is_none() {
                if let Look::Service(entry) = scan::look(&service.name) {
                    self.found(entry, now);
                }
            }
        }
    }
}

/// Whether svscan may start this supervise: not when another supervise still holds the
/// directory, in which case `look_again` gets the earliest time to look again.
fn held_elsewhere(sup: &Supervisor, dir: &Path, look_again: &mut Option<Duration>) -> bool {
    let Some(wait) = sup.elsewhere else {
        return true;
    };
    if sup.pid.is_some() {
        return true;
    }
    let held = Service::at(dir).is_ok_and(|s| s.is_supervised().unwrap_or(false));
    if held {
        *look_again = Some(look_again.map_or(wait, |w| w.min(wait)));
    }
    !held
}

/// The service directory's absolute path, symbolic links resolved, so its control FIFO stays
/// reachable after the entry in the scan directory is removed.
fn absolute(name: &OsStr) -> PathBuf {
    std::fs::canonicalize(name)
        .unwrap_or_else(|_| std::env::current_dir().unwrap_or_default().join(name))
}

/// Warns about a failed start; true (retry later) in every case.
fn spawn_failed(e: &std::io::Error, what: &[u8]) -> bool {
    // compat: daemontools says "fork for" when fork fails, "start supervise" when exec does.
    let verb: &[u8] = match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ENOMEM) => b"fork for ",
        _ => b"start supervise ",
    };
    msg::warn_unable(PROG, e, &[verb, what]);
    true
}

fn paths_join(name: &OsStr, tail: &str) -> Vec<u8> {
    vigil_proto::paths::join(name, tail).as_bytes().to_vec()
}
