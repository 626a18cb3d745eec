//! The service table: one entry per service directory svscan looks after, and which supervise
//! process belongs to which.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::logpipe::LogPipe;
use crate::scan::Key;

/// Which of a service's two supervise processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `supervise NAME`.
    Main,
    /// `supervise log`, run in NAME.
    Log,
}

/// What svscan has told a supervise while stopping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// Nothing yet.
    Nothing,
    /// `x`: exit once the service is down (a logger, left to drain its pipe).
    Exit,
    /// `dx`: bring the service down, then exit.
    DownExit,
}

/// One supervise process of a service.
#[derive(Debug)]
pub struct Supervisor {
    /// Its pid while it runs.
    pub pid: Option<Pid>,
    /// When it was last started.
    pub started: Instant,
    /// What svscan told it while stopping.
    pub told: Told,
    /// Another supervise holds the directory (one a killed svscan left running): svscan
    /// leaves the service to it and looks again after this long, doubling up to a minute.
    pub elsewhere: Option<Duration>,
}

impl Supervisor {
    fn new(now: Instant) -> Supervisor {
        Supervisor {
            pid: None,
            started: now,
            told: Told::Nothing,
            elsewhere: None,
        }
    }
}

/// Whether svscan wants the service running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Its directory is there: keep a supervise on it.
    Active,
    /// Its directory went away or svscan is shutting down: bring it down, then forget it.
    Stopping,
}

/// A service directory svscan looks after: its supervise processes and the pipe between them.
pub struct ScannedService {
    /// Its name in the scan directory when it was found.
    pub name: OsString,
    /// Its directory by absolute path, to reach its control FIFO after the name is gone (a
    /// removed symlink leaves the directory it pointed to).
    pub dir: PathBuf,
    /// `supervise NAME`.
    pub main: Supervisor,
    /// `supervise log`, when the service has a `log` directory.
    pub log: Option<Supervisor>,
    /// The pipe from the service to its logger.
    pub pipe: Option<LogPipe>,
    /// Running, or going away.
    pub fate: Fate,
    /// Found by the scan in progress (services not found are stopped).
    pub seen: bool,
    /// Found again while stopping: look at its name again once it is gone.
    pub reappeared: bool,
}

impl ScannedService {
    /// A service not yet started.
    pub fn new(
        name: OsString,
        dir: PathBuf,
        pipe: Option<LogPipe>,
        now: Instant,
    ) -> ScannedService {
        let log = pipe.as_ref().map(|_| Supervisor::new(now));
        ScannedService {
            name,
            dir,
            main: Supervisor::new(now),
            log,
            pipe,
            fate: Fate::Active,
            seen: true,
            reappeared: false,
        }
    }

    /// One of its supervise processes.
    pub fn side_mut(&mut self, side: Side) -> Option<&mut Supervisor> {
        match side {
            Side::Main => Some(&mut self.main),
            Side::Log => self.log.as_mut(),
        }
    }
}

/// Every service, and an index from supervise pid to its service.
#[derive(Default)]
pub struct Table {
    services: HashMap<Key, ScannedService>,
    pids: HashMap<Pid, (Key, Side)>,
}

impl Table {
    /// The service with this identity.
    pub fn get(&self, key: &Key) -> Option<&ScannedService> {
        self.services.get(key)
    }

    /// The service with this identity, to change.
    pub fn get_mut(&mut self, key: &Key) -> Option<&mut ScannedService> {
        self.services.get_mut(key)
    }

    /// Adds a service.
    pub fn insert(&mut self, key: Key, service: ScannedService) {
        self.services.insert(key, service);
    }

    /// Forgets a service (its pipe closes).
    pub fn remove(&mut self, key: &Key) -> Option<ScannedService> {
        self.services.remove(key)
    }

    /// Every identity, to iterate while changing the table.
    pub fn keys(&self) -> Vec<Key> {
        self.services.keys().copied().collect()
    }

    /// Every service, to change.
    pub fn services_mut(&mut self) -> impl Iterator<Item = &mut ScannedService> {
        self.services.values_mut()
    }

    /// True when no service is left.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Records that `pid` is this service's supervise on `side`.
    pub fn started(&mut self, key: Key, side: Side, pid: Pid, now: Instant) {
        if let Some(sup) = self.services.get_mut(&key).and_then(|s| s.side_mut(side)) {
            sup.pid = Some(pid);
            sup.started = now;
            self.pids.insert(pid, (key, side));
        }
    }

    /// Records that `pid` exited; whose supervise it was, if it was one.
    pub fn exited(&mut self, pid: Pid) -> Option<(Key, Side)> {
        let (key, side) = self.pids.remove(&pid)?;
        if let Some(sup) = self.services.get_mut(&key).and_then(|s| s.side_mut(side)) {
            sup.pid = None;
        }
        Some((key, side))
    }
}
