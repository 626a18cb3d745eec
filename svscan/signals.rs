//! The signals svscan acts on, read from a signalfd so they wake the one poll of the loop.
//!
//! Blocked signals are never discarded, not even for process 1 (the kernel drops only signals
//! whose disposition is the default), so this works as a container's init too. Children start
//! with an empty mask: std's spawn empties it. To be unified with vigil-proc's `signals` once
//! that lands.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

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

/// The signalfd, with the signals it reads blocked.
pub struct Signals {
    fd: SignalFd,
}

const HANDLED: [Signal; 5] = [
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGINT,
];

impl Signals {
    /// Blocks the handled signals and opens a non-blocking, close-on-exec signalfd for them.
    pub fn install() -> io::Result<Signals> {
        let mut set = SigSet::empty();
        for signal in HANDLED {
            set.add(signal);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads every pending signal.
    pub fn drain(&mut self) -> Caught {
        let mut caught = Caught::default();
        while let Ok(Some(info)) = self.fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => caught.child = true,
                Ok(Signal::SIGHUP) | Ok(Signal::SIGALRM) => caught.rescan = true,
                Ok(Signal::SIGTERM) | Ok(Signal::SIGINT) => caught.stop = true,
                Ok(_) | Err(_) => {}
            }
        }
        caught
    }
}
