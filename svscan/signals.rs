//! The signals svscan acts on, read through vigil-proc's signalfd so they wake the one poll of
//! the loop. Blocked signals are never discarded, not even for process 1 (the kernel drops only
//! signals left at their default disposition), so this works as a container's init too.

use std::io;
use std::os::fd::BorrowedFd;

use nix::sys::signal::Signal;

/// What arrived since the last drain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    /// SIGCHLD: some child exited.
    pub child: bool,
    /// SIGHUP or SIGALRM: rescan now, stopping removed services.
    pub rescan: bool,
    /// SIGTERM or SIGINT: bring everything down and exit.
    pub stop: bool,
}

/// svscan's signals, blocked and readable from a descriptor.
pub struct Signals(vigil_proc::signals::Signals);

impl Signals {
    /// Blocks SIGCHLD, SIGHUP, SIGALRM, SIGTERM and SIGINT and opens their signalfd.
    pub fn install() -> io::Result<Signals> {
        vigil_proc::signals::Signals::block(&[
            Signal::SIGCHLD,
            Signal::SIGHUP,
            Signal::SIGALRM,
            Signal::SIGTERM,
            Signal::SIGINT,
        ])
        .map(Signals)
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.fd()
    }

    /// Reads every pending signal.
    pub fn drain(&mut self) -> Caught {
        let mut caught = Caught::default();
        while let Ok(Some(signo)) = self.0.pending() {
            match signo {
                libc::SIGCHLD => caught.child = true,
                libc::SIGHUP | libc::SIGALRM => caught.rescan = true,
                libc::SIGTERM | libc::SIGINT => caught.stop = true,
                _ => {}
            }
        }
        caught
    }
}
