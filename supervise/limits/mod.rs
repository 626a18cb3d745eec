//! NEW: resource limits. While the service directory has a limit file (`max-memory`,
//! `max-cpu`, `max-files`, `max-threads`; see docs/limits.md), supervise samples `run`'s
//! processes from /proc every `limit-interval` and acts on a breach as `on-limit` says.
//! Without a limit file there is no sampling deadline at all: supervise stays asleep.
//!
//! The limit files are read when `run` starts, at each control command and at each sample.
//! The decisions are [`breach::Detector`]'s; this file only schedules samples,
//! reads /proc and turns breaches into what the loop must do.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use vigil_proto::status::{BreachKind, BreachRecord};
use vigil_proto::msg;
use vigil_proto::tai::Tai64n;
use vigil_usage::{Reader, Usage};

mod breach;
mod files;

use breach::{Breach, Detector, Sample};
use files::{Action, LimitFiles, Limits, RESTART_KILL_AFTER};

/// What the loop must do about the limits now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Todo {
    /// A limit was passed (recorded in `record`): announce it, publish it.
    Breached(Breach),
    /// TERM then CONT to the process group (`on-limit restart`); a KILL follows if it lingers.
    Restart(i32),
    /// As `svc -d`.
    Stop,
    /// This signal to the process group.
    Signal(i32, i32),
    /// KILL the process group of a restart that did not finish in time.
    Kill(i32),
}

/// The sampling of one service.
#[derive(Debug, Default)]
pub struct Monitor {
    files: LimitFiles,
    limits: Limits,
    detector: Detector,
    reader: Option<Reader>,
    /// The run being watched.
    pid: Option<i32>,
    /// The next sample; `None` while no limit file exists or nothing runs.
    next: Option<Instant>,
    /// A restart under way: the old run's group and when to KILL it.
    kill_at: Option<(i32, Instant)>,
    /// The breaches so far, for the status file.
    pub record: BreachRecord,
}

impl Monitor {
    /// A monitor that watches nothing yet.
    pub fn new() -> Monitor {
        Monitor::default()
    }

    /// When the loop must wake for the limits; `None` without limit files.
    pub fn deadline(&self) -> Option<Instant> {
        crate::events::earliest(self.next, self.kill_at.map(|(_, at)| at))
    }

    /// Follows the run supervise shows (call after each round of inputs): a new pid starts a
    /// fresh detector and re-reads the limit files; no pid stops the sampling.
    pub fn track(&mut self, pid: Option<i32>, dir: &[u8], now: Instant) {
        if pid == self.pid {
            return;
        }
        self.pid = pid;
        // Nothing allocated while there are no limits: the detector starts with sampling.
        self.detector = Detector::new();
        self.next = None;
        // A restart's old group is gone or is supervise's strays cleanup's now.
        self.kill_at = None;
        if pid.is_some() {
            self.reload(dir, now);
        }
    }

    /// Re-reads the limit files (at a control command): sampling starts or stops with them.
    pub fn reload(&mut self, dir: &[u8], now: Instant) {
        self.limits = load(&mut self.files, dir);
        self.next = match (self.pid, self.limits.any(), self.next) {
            (Some(_), true, Some(next)) => Some(next),
            (Some(pid), true, None) => {
                // The first window starts now, from what the run has used so far: nearly
                // nothing for a fresh start; an adopted run's past, or its use before the
                // limit file appeared, does not count.
                let used = self.usage(pid).map_or(Duration::ZERO, |u| u.cpu);
                self.detector.begin(now, used);
                Some(now + self.limits.interval)
            }
            (None, _, _) | (_, false, _) => None,
        };
    }

    /// What the run `pid` and its processes use now; `None` if they are gone.
    fn usage(&mut self, pid: i32) -> Option<Usage> {
        let reader = self.reader.get_or_insert_with(|| {
            let mut reader = Reader::new();
            // supervise is a child subreaper: the service's orphans become its children.
            reader.set_reaper(std::process::id() as i32);
            reader
        });
        Some(reader.tree(pid, self.limits.files.is_some())).filter(|u| u.processes > 0)
    }

    /// The deadline passed: sample if a sample is due, and say what to do.
    pub fn due(&mut self, dir: &[u8], timeout_kill: Option<Duration>, now: Instant) -> Vec<Todo> {
        let mut todo = Vec::new();
        if let Some((group, at)) = self.kill_at {
            if now >= at {
                self.kill_at = None;
                // Only if that run is still the one shown: else it has gone already.
                if self.pid == Some(group) {
                    todo.push(Todo::Kill(group));
                }
            }
        }
        let (Some(next), Some(pid)) = (self.next, self.pid) else {
            return todo;
        };
        if now < next {
            return todo;
        }
        self.limits = load(&mut self.files, dir);
        if !self.limits.any() {
            self.next = None;
            return todo;
        }
        self.next = Some(now + self.limits.interval);
        let Some(usage) = self.usage(pid) else {
            return todo; // gone between the exit and its reaping
        };
        let sample = Sample {
            at: now,
            cpu: usage.cpu,
            memory_bytes: usage.memory_bytes,
            threads: u64::from(usage.threads),
            files: usage.files.map(u64::from),
        };
        let breaches = self.detector.feed(&self.limits, &sample);
        if breaches.is_empty() {
            return todo;
        }
        let wall = Tai64n::now();
        for breach in breaches {
            self.record.add(wall, breach.kind);
            report(dir, &breach, self.limits.action);
            todo.push(Todo::Breached(breach));
        }
        match self.limits.action {
            Action::Restart if self.kill_at.is_none() => {
                let after = timeout_kill.unwrap_or(RESTART_KILL_AFTER);
                self.kill_at = Some((pid, now + after));
                todo.push(Todo::Restart(pid));
            }
            Action::Restart => {} // already restarting
            Action::Stop => todo.push(Todo::Stop),
            Action::Signal(signal) => todo.push(Todo::Signal(pid, signal as i32)),
            Action::Notify => {}
        }
        todo
    }
}

/// The limit files of `dir`, each problem reported once per change of its file.
fn load(files: &mut LimitFiles, dir: &[u8]) -> Limits {
    let (limits, problems) = files.load(OsStr::new("."));
    for problem in problems {
        msg::warn("supervise", &[&problem.line(OsStr::from_bytes(dir))]);
    }
    limits
}

/// `supervise: warning: DIR: max-memory passed: 150000000 > 104857600 bytes; restart`.
fn report(dir: &[u8], breach: &Breach, action: Action) {
    let (file, unit) = match breach.kind {
        BreachKind::Memory => ("max-memory", " bytes"),
        BreachKind::Cpu => ("max-cpu", "%"),
        BreachKind::Files => ("max-files", " files"),
        BreachKind::Threads => ("max-threads", " threads"),
    };
    let text = format!(
        ": {file} passed: {}{unit} > {}{unit}; {}",
        breach.measured,
        breach.limit,
        action.word()
    );
    msg::warn("supervise", &[dir, text.as_bytes()]);
}
