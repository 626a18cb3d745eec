//! NEW: resource limits. While the service directory has a limit file (`max-memory`,
//! `max-cpu`, `max-files`, `max-threads`; see docs/limits.md), supervise samples `run`'s
//! processes from /proc every `limit-interval` and acts on a breach as `on-limit` says.
//! Without a limit file there is no sampling deadline at all: supervise stays asleep.
//!
//! The limit files are read when `run` starts, at each control command and at each sample.
//! Whether a sample passes a limit is [`breach::Detector`]'s decision, what to do then is the
//! state machine's (`Input::Breach`, state.rs); this file only schedules samples and reads
//! /proc.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use vigil_proto::journal::Limit;
use vigil_proto::msg;
use vigil_proto::status::{BreachKind, BreachRecord};
use vigil_proto::tai::Tai64n;
use vigil_usage::{Reader, Usage};

mod breach;
mod files;

use breach::{Breach, Detector, Sample};
pub use files::{parse_memory, MAX_MEMORY};
pub use files::{Action, RESTART_KILL_AFTER};
use files::{LimitFiles, Limits};

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
    /// The breaches so far, for the status file.
    pub record: BreachRecord,
    /// NEW: the memory the service's cgroup is charged, read by the loop before a sample is
    /// due (supervise/cgroup.rs); it replaces the /proc sum of resident memory.
    pub cgroup_memory: Option<u64>,
    /// The limits the last sample passed and what it measured, in the order [`Monitor::due`]
    /// counted them: for the events (issue 15 item 9).
    pub passed: [Option<Limit>; 4],
}

impl Monitor {
    /// A monitor that watches nothing yet.
    pub fn new() -> Monitor {
        Monitor::default()
    }

    /// When the loop must wake for the next sample; `None` without limit files.
    pub fn deadline(&self) -> Option<Instant> {
        self.next
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

    /// The deadline passed: samples if a sample is due. Returns how many limits the sample
    /// passed (each recorded in `record` and reported) and what `on-limit` says to do.
    pub fn due(&mut self, dir: &[u8], now: Instant) -> (usize, Action) {
        let none = (0, Action::Notify);
        let (Some(next), Some(pid)) = (self.next, self.pid) else {
            return none;
        };
        if now < next {
            return none;
        }
        self.limits = load(&mut self.files, dir);
        if !self.limits.any() {
            self.next = None;
            return none;
        }
        self.next = Some(now + self.limits.interval);
        let Some(mut usage) = self.usage(pid) else {
            return none; // gone between the exit and its reaping
        };
        if let Some(bytes) = self.cgroup_memory.take() {
            usage.memory_bytes = bytes;
        }
        let sample = Sample {
            at: now,
            cpu: usage.cpu,
            memory_bytes: usage.memory_bytes,
            threads: u64::from(usage.threads),
            files: usage.files.map(u64::from),
        };
        let breaches = self.detector.feed(&self.limits, &sample);
        let wall = Tai64n::now();
        self.passed = [None; 4];
        for (slot, breach) in self.passed.iter_mut().zip(&breaches) {
            *slot = Some(Limit {
                kind: breach.kind,
                value: breach.measured,
            });
        }
        for breach in &breaches {
            self.record.add(wall, breach.kind);
            report(dir, breach, self.limits.action);
        }
        (breaches.len(), self.limits.action)
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
