//! The control bytes written to `supervise/control`, and how a client sends them.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;

use crate::paths;

/// One command to supervise: daemontools' bytes, plus s6/runit's `q`, `1`, `2`, `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    /// `u`: want the service up; start it, restart it when it dies.
    Up,
    /// `d`: want it down; TERM then CONT, no restart.
    Down,
    /// `o`: run it once; start it if down, no restart.
    Once,
    /// `p`: send STOP (pause).
    Pause,
    /// `c`: send CONT (continue).
    Continue,
    /// `h`: send HUP.
    Hangup,
    /// `a`: send ALRM.
    Alarm,
    /// `i`: send INT.
    Interrupt,
    /// `t`: send TERM.
    Terminate,
    /// `k`: send KILL.
    Kill,
    /// `x`: exit supervise once the service is down.
    Exit,
    /// NEW `q`: send QUIT.
    Quit,
    /// NEW `1`: send USR1.
    User1,
    /// NEW `2`: send USR2.
    User2,
    /// NEW `w`: send WINCH.
    Winch,
}

impl Control {
    /// Every control, in the order svc lists its options.
    pub const ALL: [Control; 15] = [
        Control::Up,
        Control::Down,
        Control::Once,
        Control::Pause,
        Control::Continue,
        Control::Hangup,
        Control::Alarm,
        Control::Interrupt,
        Control::Terminate,
        Control::Kill,
        Control::Exit,
        Control::Quit,
        Control::User1,
        Control::User2,
        Control::Winch,
    ];

    /// The control a byte stands for; `None` for bytes supervise ignores.
    pub fn from_byte(byte: u8) -> Option<Control> {
        Control::ALL.iter().copied().find(|c| c.byte() == byte)
    }

    /// The byte written to the FIFO.
    pub fn byte(self) -> u8 {
        match self {
            Control::Up => b'u',
            Control::Down => b'd',
            Control::Once => b'o',
            Control::Pause => b'p',
            Control::Continue => b'c',
            Control::Hangup => b'h',
            Control::Alarm => b'a',
            Control::Interrupt => b'i',
            Control::Terminate => b't',
            Control::Kill => b'k',
            Control::Exit => b'x',
            Control::Quit => b'q',
            Control::User1 => b'1',
            Control::User2 => b'2',
            Control::Winch => b'w',
        }
    }

    /// The signal this control sends to the service, for the signal-only controls.
    pub fn signal(self) -> Option<i32> {
        match self {
            Control::Pause => Some(libc::SIGSTOP),
            Control::Continue => Some(libc::SIGCONT),
            Control::Hangup => Some(libc::SIGHUP),
            Control::Alarm => Some(libc::SIGALRM),
            Control::Interrupt => Some(libc::SIGINT),
            Control::Terminate => Some(libc::SIGTERM),
            Control::Kill => Some(libc::SIGKILL),
            Control::Quit => Some(libc::SIGQUIT),
            Control::User1 => Some(libc::SIGUSR1),
            Control::User2 => Some(libc::SIGUSR2),
            Control::Winch => Some(libc::SIGWINCH),
            Control::Up | Control::Down | Control::Once | Control::Exit => None,
        }
    }
}

/// Writes `bytes` to `dir/supervise/control`, opened without blocking.
///
/// With no supervise reading the FIFO the open fails with ENXIO ("device not configured"),
/// which callers report as "supervise not running" (see [`is_not_running`]).
pub fn send(dir: &OsStr, bytes: &[u8]) -> io::Result<()> {
    let mut fifo = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(paths::join(dir, paths::CONTROL))?;
    fifo.write_all(bytes)
}

/// True when an open of `supervise/control` or `supervise/ok` failed because no supervise
/// holds the read end (ENXIO).
pub fn is_not_running(error: &io::Error) -> bool {
    error.raw_os_error() == Some(libc::ENXIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for c in Control::ALL {
            assert_eq!(Control::from_byte(c.byte()), Some(c));
        }
        assert_eq!(Control::from_byte(b'z'), None);
        assert_eq!(Control::from_byte(0), None);
    }
}
