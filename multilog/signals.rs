//! SIGTERM and SIGALRM as events: blocked, and read from a signalfd in the one poll of the
//! main loop, so a signal never interrupts a write half-way. (Linux; the processor child gets
//! an empty mask back from std's spawn.)

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// What the signals received so far ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// SIGTERM: finish the line in progress, then exit.
    pub exit: bool,
    /// SIGALRM: rotate every log now (at the next line boundary).
    pub rotate: bool,
}

/// The blocked signals and the descriptor they arrive on.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks SIGTERM and SIGALRM and opens a signalfd for them.
    pub fn catch() -> nix::Result<Signals> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGALRM);
        mask.thread_block()?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// Reads every pending signal into `asked`.
    pub fn drain(&mut self, asked: &mut Asked) {
        while let Ok(Some(info)) = self.fd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM) => asked.exit = true,
                Ok(Signal::SIGALRM) => asked.rotate = true,
                _ => {}
            }
        }
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
