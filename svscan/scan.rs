//! Reading the scan directory: which entries are services, and whether they are ready.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

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
