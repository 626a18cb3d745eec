//! `supervise/lock`: the exclusive lock a running supervise holds.
//!
//! compat: Debian's daemontools takes it with flock(LOCK_EX|LOCK_NB) (lock_exnb with HASFLOCK),
//! so a vigil supervise and a daemontools supervise on the same directory exclude each other.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

/// A held lock; released when dropped (or when the process dies).
pub struct Lock {
    _held: Flock<File>,
}

/// Opens `path` for appending (creating it, mode 0600, as daemontools' open_append) and takes
/// an exclusive lock without waiting. A lock held elsewhere gives EAGAIN ("temporary failure").
pub fn acquire(path: impl AsRef<Path>) -> io::Result<Lock> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(Lock { _held: held }),
        Err((_, errno)) => Err(errno.into()),
    }
}

/// True if some process holds the lock on `path` (tries to take it and lets it go).
pub fn is_held(path: impl AsRef<Path>) -> io::Result<bool> {
    match acquire(path) {
        Ok(_) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_a_temporary_failure() {
        let dir = std::env::temp_dir().join(format!("vigil-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("lock");
        let held = acquire(&path).expect("first");
        let err = acquire(&path).err().expect("second must fail");
        assert_eq!(crate::errstr::io_errstr(&err), "temporary failure");
        assert!(is_held(&path).expect("probe"));
        drop(held);
        assert!(!is_held(&path).expect("probe"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
