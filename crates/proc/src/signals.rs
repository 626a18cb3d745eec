//! Signals as readable data: the chosen signals are blocked and read from a signalfd, so the
//! one poll of a supervisor wakes for them like for any descriptor (no handler, no race).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Blocked signals, delivered through a non-blocking, close-on-exec signalfd.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks `signals` in this (single-threaded) process and opens a signalfd for them.
    /// Children started with [`crate::spawn::spawn`] get an empty mask again.
    pub fn block(signals: &[Signal]) -> io::Result<Signals> {
        let mut set = SigSet::empty();
        for &s in signals {
            set.add(s);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Lets the next pending signal through, so the process dies of it as it would have had it
    /// not blocked it (svwait and `svc -W` remove their FIFOs first). Returns if it did not
    /// die of it (a signal whose default is to go on) or none was pending.
    pub fn die_of_pending(&mut self) {
        if let Ok(Some(signo)) = self.pending() {
            if let Ok(signal) = Signal::try_from(signo) {
                let _ = nix::sys::signal::sigprocmask(
                    SigmaskHow::SIG_UNBLOCK,
                    Some(&SigSet::from(signal)),
                    None,
                );
                let _ = nix::sys::signal::raise(signal);
            }
        }
    }

    /// The next pending signal's number, or `None` when none is pending.
    pub fn pending(&mut self) -> io::Result<Option<i32>> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Ok(Some(info.ssi_signo as i32)),
            Ok(None) => Ok(None),
            Err(nix::errno::Errno::EINTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
