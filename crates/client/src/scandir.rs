//! A scan directory as a client sees it (svtop, svwatch): the service directories in it, kept
//! up to date through inotify, so a program given `/service` follows services as they appear
//! and disappear without polling.
//!
//! An entry is a service once it is a service directory ([`is_service_dir`]: it has `run` or
//! `supervise/`); its `log`, when that is one too, is a second service, as svscan runs a
//! supervise there. An entry made in place (`mkdir`, then `run`) is watched itself until it is
//! a service; a service is watched for a `log` made later. Nothing is ever created in the scan directory or in an entry that is not a
//! service: a listener's `event/` goes into service directories only.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use vigil_proto::paths;

/// Whether `dir` is a service directory: it has a `run` (of any kind, even not yet
/// executable) or a `supervise/` (a supervise ran there). A scan directory has neither.
///
/// ```
/// use vigil_client::scandir::is_service_dir;
///
/// # fn main() -> std::io::Result<()> {
/// # let tmp = tempfile::tempdir()?;
/// let scan = tmp.path();
/// std::fs::create_dir(scan.join("web"))?;
/// std::fs::write(scan.join("web/run"), "#!/bin/sh\nexec httpd\n")?;
/// assert!(is_service_dir(scan.join("web").as_os_str()));
/// assert!(!is_service_dir(scan.as_os_str()));
/// # Ok(())
/// # }
/// ```
pub fn is_service_dir(dir: &OsStr) -> bool {
    fs::symlink_metadata(paths::join(dir, paths::RUN)).is_ok()
        || fs::metadata(paths::join(dir, paths::SUPERVISE)).is_ok_and(|m| m.is_dir())
}

/// What a watch on a directory reports: entries made, removed or renamed (directories only).
fn entries() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_ONLYDIR
}

/// What changed in a scan directory since the last [`ScanDir::update`]: service paths
/// (`DIR/NAME`, `DIR/NAME/log`), in name order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Services that appeared.
    pub added: Vec<OsString>,
    /// Services that went away.
    pub removed: Vec<OsString>,
}

/// A scan directory, watched.
///
/// ```
/// use vigil_client::scandir::ScanDir;
///
/// # fn main() -> std::io::Result<()> {
/// # let tmp = tempfile::tempdir()?;
/// let scan = tmp.path().as_os_str();
/// let mut tree = ScanDir::open(scan)?;
/// assert!(tree.services().is_empty());
/// std::fs::create_dir(tmp.path().join("web"))?;
/// std::fs::write(tmp.path().join("web/run"), "")?;
/// // Readable once something changed; update() says what (without blocking).
/// let changes = tree.update()?;
/// assert_eq!(changes.added, [tmp.path().join("web").into_os_string()]);
/// assert_eq!(tree.services().len(), 1);
/// # Ok(())
/// # }
/// ```
pub struct ScanDir {
    dir: OsString,
    inotify: Inotify,
    /// The scan directory's own watch: any change in it counts.
    top: WatchDescriptor,
    /// Entries watched until they are services (made in place, `run` not there yet).
    pending: HashMap<WatchDescriptor, OsString>,
    services: BTreeSet<OsString>,
}

impl ScanDir {
    /// Watches `dir` and lists the services in it.
    pub fn open(dir: &OsStr) -> io::Result<ScanDir> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let top = inotify.add_watch(dir, entries())?;
        let mut tree = ScanDir {
            dir: dir.to_os_string(),
            inotify,
            top,
            pending: HashMap::new(),
            services: BTreeSet::new(),
        };
        tree.relist()?;
        Ok(tree)
    }

    /// The scan directory, as given.
    pub fn dir(&self) -> &OsStr {
        &self.dir
    }

    /// The descriptor to poll: readable when something changed.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// The services now, as `DIR/NAME` (and `DIR/NAME/log`), in name order.
    pub fn services(&self) -> Vec<OsString> {
        self.services.iter().cloned().collect()
    }

    /// Reads what inotify reported, without blocking; when anything changed, lists the
    /// directory again and returns the difference.
    pub fn update(&mut self) -> io::Result<Changes> {
        let mut changed = false;
        loop {
            match self.inotify.read_events() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for event in events {
                        // In the scan directory and in an entry waiting to be a service,
                        // anything counts; in a service, only its logger's directory.
                        let log = event.name.as_deref().map(OsStr::as_bytes)
                            == Some(paths::LOG.as_bytes());
                        changed |=
                            event.wd == self.top || self.pending.contains_key(&event.wd) || log;
                        if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                            self.pending.remove(&event.wd);
                        }
                    }
                }
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !changed {
            return Ok(Changes::default());
        }
        let before = std::mem::take(&mut self.services);
        self.relist()?;
        Ok(Changes {
            added: self.services.difference(&before).cloned().collect(),
            removed: before.difference(&self.services).cloned().collect(),
        })
    }

    /// Lists the directory: every entry that is a service (and its `log`), watching the
    /// directories that are not yet.
    fn relist(&mut self) -> io::Result<()> {
        let mut names: Vec<OsString> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .filter(|n| n.as_bytes().first() != Some(&b'.'))
            .collect();
        names.sort();
        let waiting: BTreeSet<OsString> = self.pending.values().cloned().collect();
        for name in names {
            // Joined byte for byte, as the user typed DIR (a trailing slash kept).
            let mut bytes = self.dir.as_bytes().to_vec();
            bytes.push(b'/');
            bytes.extend_from_slice(name.as_bytes());
            let path = OsString::from_vec(bytes);
            if !fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            if !is_service_dir(&path) {
                self.wait_for(path, &waiting);
                continue;
            }
            self.stop_waiting(&path);
            // A logger made later is a service too. A failure (the watch limit) only means
            // it is seen at the next change of the scan directory.
            let _ = self.inotify.add_watch(path.as_os_str(), entries());
            let log = paths::join(&path, paths::LOG);
            if is_service_dir(&log) {
                self.stop_waiting(&log);
                self.services.insert(log);
            } else if fs::metadata(&log).is_ok_and(|m| m.is_dir()) {
                self.wait_for(log, &waiting);
            }
            self.services.insert(path);
        }
        Ok(())
    }

    /// Watches `path`, a directory that is not a service yet, until it is one (`waiting`: those
    /// watched already).
    fn wait_for(&mut self, path: OsString, waiting: &BTreeSet<OsString>) {
        if waiting.contains(&path) {
            return;
        }
        let flags =
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        // A failure (the watch limit) only means this entry is seen at the next change of the
        // scan directory.
        if let Ok(wd) = self.inotify.add_watch(path.as_os_str(), flags) {
            self.pending.insert(wd, path);
        }
    }

    fn stop_waiting(&mut self, path: &OsStr) {
        let wds: Vec<WatchDescriptor> = self
            .pending
            .iter()
            .filter(|(_, p)| p.as_os_str() == path)
            .map(|(wd, _)| *wd)
            .collect();
        for wd in wds {
            self.pending.remove(&wd);
            let _ = self.inotify.rm_watch(wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_services_made_in_place_moved_and_removed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let scan = tmp.path();
        fs::create_dir_all(scan.join("a/log")).expect("mkdir");
        fs::write(scan.join("a/run"), "").expect("run");
        fs::write(scan.join("a/log/run"), "").expect("log/run");
        fs::write(scan.join("file"), "").expect("file");
        fs::create_dir(scan.join(".hidden")).expect("mkdir");
        let mut tree = ScanDir::open(scan.as_os_str()).expect("open");
        let a = scan.join("a").into_os_string();
        let a_log = scan.join("a/log").into_os_string();
        assert_eq!(tree.services(), [a.clone(), a_log.clone()]);
        assert_eq!(tree.update().expect("update"), Changes::default());
        // Made in place: not a service until `run` is there; nothing made in it.
        fs::create_dir(scan.join("b")).expect("mkdir b");
        assert_eq!(tree.update().expect("update"), Changes::default());
        fs::write(scan.join("b/run"), "").expect("b/run");
        let b = scan.join("b").into_os_string();
        assert_eq!(
            tree.update().expect("update").added,
            std::slice::from_ref(&b)
        );
        assert_eq!(
            fs::read_dir(scan.join("b")).expect("ls b").count(),
            1,
            "only run"
        );
        // A logger made later, in place: a service once its `run` is there.
        fs::create_dir(scan.join("b/log")).expect("mkdir b/log");
        assert_eq!(tree.update().expect("update"), Changes::default());
        fs::write(scan.join("b/log/run"), "").expect("b/log/run");
        let b_log = scan.join("b/log").into_os_string();
        assert_eq!(
            tree.update().expect("update").added,
            std::slice::from_ref(&b_log)
        );
        fs::rename(scan.join("a"), tmp.path().join(".gone")).expect("mv a out");
        let changes = tree.update().expect("update");
        assert_eq!(changes.removed, [a, a_log]);
        assert_eq!(tree.services(), [b, b_log]);
    }
}
