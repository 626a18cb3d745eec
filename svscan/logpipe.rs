//! The pipe from a service to its logger: created by svscan and held open, both ends, for as
//! long as the service exists, so a restart of either side finds the bytes still in it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;

use crate::fdlimit;

/// Both ends of a service's log pipe; the write end is closed once the service is gone, so
/// the logger reads to end of file and exits by itself.
pub struct LogPipe {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl LogPipe {
    /// A new close-on-exec pipe (past the descriptor limit: see [`fdlimit`]).
    pub fn create() -> io::Result<LogPipe> {
        let (read, write) = fdlimit::retry(false, || {
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)
        })?;
        Ok(LogPipe {
            read,
            write: Some(write),
        })
    }

    /// The end the logger reads (its stdin).
    pub fn read_end(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// The end the service writes (its stdout), while the service exists.
    pub fn write_end(&self) -> Option<BorrowedFd<'_>> {
        self.write.as_ref().map(|fd| fd.as_fd())
    }

    /// Closes svscan's write end: once the service's processes are gone too, the logger sees
    /// end of file after the last byte.
    pub fn close_write(&mut self) {
        self.write = None;
    }
}
