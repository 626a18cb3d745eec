//! SIGTERM and SIGALRM as events: blocked, and read from vigil-proc's signalfd in the one poll
//! of the main loop, so a signal never interrupts a write half-way. (The processor child gets
//! an empty mask back from std's spawn; the finisher thread inherits the blocked mask.)

use std::io;
use std::os::fd::BorrowedFd;

use nix::sys::signal::Signal;

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
    inner: vigil_proc::signals::Signals,
}

impl Signals {
    /// Blocks SIGTERM and SIGALRM and opens a signalfd for them.
    pub fn catch() -> io::Result<Signals> {
        let inner = vigil_proc::signals::Signals::block(&[Signal::SIGTERM, Signal::SIGALRM])?;
        Ok(Signals { inner })
    }

    /// Reads every pending signal into `asked`.
    pub fn drain(&mut self, asked: &mut Asked) {
        while let Ok(Some(signo)) = self.inner.pending() {
            match Signal::try_from(signo) {
                Ok(Signal::SIGTERM) => asked.exit = true,
                Ok(Signal::SIGALRM) => asked.rotate = true,
                _ => {}
            }
        }
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }
}
