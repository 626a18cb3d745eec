//! Watching the scan directory with inotify, so a service that appears (mkdir, rename in,
//! symlink) starts at once instead of at the next periodic scan; and watching a service
//! directory made in place until its `run` is there.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use vigil_proto::paths;

/// What changed in the scan directory since the last drain.
#[derive(Debug, Default)]
pub struct Changes {
    /// Names to look at: created or moved in, or a watched service directory that changed.
    pub added: Vec<OsString>,
    /// Something was deleted or moved out: a removal scan is due.
    pub removed: bool,
    /// The kernel dropped events: scan everything.
    pub overflow: bool,
    /// The watch on the scan directory is gone (the directory was removed or unmounted) or
    /// inotify failed: it reports nothing more, and svscan must rescan periodically.
    pub lost: bool,
}

/// The inotify instance: the scan directory, plus service directories not yet ready.
pub struct Watcher {
    inotify: Inotify,
    scan: WatchDescriptor,
    waiting: HashMap<WatchDescriptor, OsString>,
}

impl Watcher {
    /// Watches the scan directory (the current directory).
    pub fn new() -> io::Result<Watcher> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let scan = inotify.add_watch(
            ".",
            AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_ONLYDIR,
        )?;
        Ok(Watcher {
            inotify,
            scan,
            waiting: HashMap::new(),
        })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Watches service directory `name` (and its `log`, when `log` is) until it is ready;
    /// false when a watch could not be added (the inotify watch limit): then only a periodic
    /// scan finds it ready.
    pub fn wait_for(&mut self, name: &OsStr, log: bool) -> bool {
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_ONLYDIR;
        let mut watched = true;
        match self.inotify.add_watch(name, flags) {
            Ok(wd) => {
                self.waiting.insert(wd, name.to_os_string());
            }
            Err(_) => watched = false,
        }
        if log {
            match self
                .inotify
                .add_watch(paths::join(name, paths::LOG).as_os_str(), flags)
            {
                Ok(wd) => {
                    self.waiting.insert(wd, name.to_os_string());
                }
                Err(_) => watched = false,
            }
        }
        watched
    }

    /// Stops watching service directory `name` (it started, or went away).
    pub fn forget(&mut self, name: &OsStr) {
        let wds: Vec<WatchDescriptor> = self
            .waiting
            .iter()
            .filter(|(_, n)| n.as_os_str() == name)
            .map(|(wd, _)| *wd)
            .collect();
        for wd in wds {
            self.waiting.remove(&wd);
            let _ = self.inotify.rm_watch(wd);
        }
    }

    /// Reads every pending event.
    pub fn drain(&mut self) -> Changes {
        let mut changes = Changes::default();
        loop {
            let events = match self.inotify.read_events() {
                Ok(events) if !events.is_empty() => events,
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    changes.lost = true;
                    break;
                }
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    changes.overflow = true;
                } else if event.wd == self.scan && event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    changes.lost = true;
                } else if event.wd == self.scan {
                    if event
                        .mask
                        .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
                    {
                        changes.removed = true;
                    } else if let Some(name) = event.name {
                        changes.added.push(name);
                    }
                } else if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.waiting.remove(&event.wd);
                } else if let Some(name) = self.waiting.get(&event.wd) {
                    changes.added.push(name.clone());
                }
            }
        }
        changes
    }
}
