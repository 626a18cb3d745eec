//! Reading the scan directory: which entries are services, and whether they are ready.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use vigil_proto::msg;
use vigil_proto::paths;

use crate::PROG;

/// A service's identity: device and inode of its directory (as daemontools), so a rename or a
/// second symlink to the same directory is the same service.
pub type Key = (u64, u64);

/// What an entry of the scan directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// A service directory.
    Service(Entry),
    /// Not a service: a dot name, not a directory.
    Ignore,
    /// Not a service for now: a problem warned about (a dangling link, a `log` that is a
    /// file, a failed stat). Its fix may happen where inotify does not look (the link's
    /// target, inside the directory), so svscan looks again at a periodic rescan while any
    /// entry is in this state.
    Unsure,
}

/// A service directory found in the scan directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the scan directory.
    pub name: OsString,
    /// Its identity.
    pub key: Key,
    /// It has a `log` directory: svscan runs a second supervise there and a pipe between.
    pub log: bool,
    /// Its `run` (and `log/run` when `log` exists) are there and executable: it can start. A directory just
    /// made in place is not yet, and is watched until it is.
    pub ready: bool,
}

/// The names in the scan directory (`.`), in directory order.
pub fn names() -> io::Result<Vec<OsString>> {
    fs::read_dir(".")?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect()
}

/// Looks at one name of the scan directory, warning (as daemontools) about what cannot be
/// looked at; the caller tries again at a later scan.
pub fn look(name: &OsStr) -> Look {
    if name.as_bytes().first() == Some(&b'.') {
        return Look::Ignore;
    }
    let meta = match fs::metadata(name) {
        Ok(meta) => meta,
        Err(e) => {
            msg::warn_unable(PROG, &e, &[b"stat ", name.as_bytes()]);
            return Look::Unsure;
        }
    };
    if !meta.is_dir() {
        return Look::Ignore;
    }
    let key = (meta.dev(), meta.ino());
    let log_dir = paths::join(name, paths::LOG);
    let log = match fs::metadata(&log_dir) {
        Ok(meta) if meta.is_dir() => true,
        Ok(_) => {
            // A logger that cannot start: starting the service alone would send its output
            // to svscan's stdout for good, so wait until `log` is fixed.
            let e = io::Error::from_raw_os_error(libc::ENOTDIR);
            msg::warn_unable(PROG, &e, &[b"start supervise ", log_dir.as_bytes()]);
            return Look::Unsure;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            msg::warn_unable(PROG, &e, &[b"stat ", log_dir.as_bytes()]);
            return Look::Unsure;
        }
    };
    let ready = executable(&paths::join(name, paths::RUN))
        && (!log || executable(&paths::join(&log_dir, paths::RUN)));
    Look::Service(Entry {
        name: name.to_os_string(),
        key,
        log,
        ready,
    })
}

/// `run` is there and executable: a `run` still being written (created, filled, then made
/// executable) is not started half-done.
fn executable(path: &OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// The warning last given per service directory that is not ready: once per change, not at
/// every scan (issue 15 item 6).
static WARNED: Mutex<Vec<(OsString, Vec<u8>)>> = Mutex::new(Vec::new());

/// NEW: a service directory that is not ready because its `run` (or `log/run`) is there but
/// not executable is a warning, `svscan: warning: unable to start supervise NAME: NAME/run is
/// not executable`, given again only when the problem changes. A `run` that does not exist yet
/// (a directory being made) is no warning.
pub fn warn_unready(entry: &Entry) {
    let name = entry.name.as_bytes();
    let run = paths::join(&entry.name, paths::RUN);
    let log_run = paths::join(&paths::join(&entry.name, paths::LOG), paths::RUN);
    let problem = [Some(run), entry.log.then_some(log_run)]
        .into_iter()
        .flatten()
        .find(|path| fs::metadata(path).is_ok() && !executable(path))
        .map(|path| msg::cat(&[path.as_bytes(), b" is not executable"]));
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let last = warned.iter().position(|(n, _)| n == &entry.name);
    match (problem, last) {
        (Some(problem), Some(i)) if warned[i].1 == problem => {}
        (Some(problem), last) => {
            msg::warn(
                PROG,
                &[b"unable to start supervise ", name, b": ", &problem],
            );
            match last {
                Some(i) => warned[i].1 = problem,
                None => warned.push((entry.name.clone(), problem)),
            }
        }
        (None, Some(i)) => {
            warned.swap_remove(i);
        }
        (None, None) => {}
    }
}

/// Service directory `name` is ready (or gone): a later problem with it is warned about again.
pub fn settled(name: &OsStr) {
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    warned.retain(|(n, _)| n != name);
}
