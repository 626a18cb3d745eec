//! The control bytes written to `supervise/control` (a client sends them with
//! `vigil_client::Service::send`).

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

/// The control table: each control's byte, the word svc's usage line gives it, and the signal
/// it sends the service (for the signal-only ones), in the order svc lists its options.
/// Adding a control is a variant above, a row here and its handler in supervise's state.rs;
/// svc's options and usage line follow from this table.
const TABLE: [(Control, u8, &str, Option<i32>); 15] = [
    (Control::Up, b'u', "up", None),
    (Control::Down, b'd', "down", None),
    (Control::Once, b'o', "once", None),
    (Control::Exit, b'x', "exit", None),
    (Control::Pause, b'p', "pause", Some(libc::SIGSTOP)),
    (Control::Continue, b'c', "continue", Some(libc::SIGCONT)),
    (Control::Hangup, b'h', "hup", Some(libc::SIGHUP)),
    (Control::Alarm, b'a', "alarm", Some(libc::SIGALRM)),
    (Control::Interrupt, b'i', "interrupt", Some(libc::SIGINT)),
    (Control::Terminate, b't', "term", Some(libc::SIGTERM)),
    (Control::Kill, b'k', "kill", Some(libc::SIGKILL)),
    (Control::Quit, b'q', "quit", Some(libc::SIGQUIT)),
    (Control::User1, b'1', "usr1", Some(libc::SIGUSR1)),
    (Control::User2, b'2', "usr2", Some(libc::SIGUSR2)),
    (Control::Winch, b'w', "winch", Some(libc::SIGWINCH)),
];

/// Every control byte, in the table's order: svc's option letters.
///
/// ```
/// assert_eq!(vigil_proto::control::LETTERS, "udoxpchaitkq12w");
/// ```
pub const LETTERS: &str = {
    const BYTES: [u8; TABLE.len()] = {
        let mut bytes = [0; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            bytes[i] = TABLE[i].1;
            i += 1;
        }
        bytes
    };
    match std::str::from_utf8(&BYTES) {
        Ok(letters) => letters,
        Err(_) => panic!("control bytes are ASCII"),
    }
};

impl Control {
    /// Every control, in the order svc lists its options.
    pub const ALL: [Control; TABLE.len()] = {
        let mut all = [Control::Up; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].0;
            i += 1;
        }
        all
    };

    fn row(self) -> &'static (Control, u8, &'static str, Option<i32>) {
        // Every variant has its row (the table test checks it); Up's is the first.
        TABLE.iter().find(|row| row.0 == self).unwrap_or(&TABLE[0])
    }

    /// The control a byte stands for; `None` for bytes supervise ignores.
    ///
    /// ```
    /// use vigil_proto::control::Control;
    ///
    /// assert_eq!(Control::from_byte(b't'), Some(Control::Terminate));
    /// assert_eq!(Control::from_byte(b'z'), None);
    /// ```
    pub fn from_byte(byte: u8) -> Option<Control> {
        TABLE.iter().find(|row| row.1 == byte).map(|row| row.0)
    }

    /// The byte written to the FIFO.
    pub fn byte(self) -> u8 {
        self.row().1
    }

    /// The word svc's usage line gives the control (`term` for `t`).
    pub fn word(self) -> &'static str {
        self.row().2
    }

    /// The signal this control sends to the service, for the signal-only controls.
    ///
    /// ```
    /// use vigil_proto::control::Control;
    ///
    /// assert_eq!(Control::Winch.signal(), Some(libc::SIGWINCH));
    /// assert_eq!(Control::Down.signal(), None);
    /// ```
    pub fn signal(self) -> Option<i32> {
        self.row().3
    }
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

    #[test]
    fn the_table_has_one_row_per_control_and_byte() {
        for (i, c) in Control::ALL.iter().enumerate() {
            assert_eq!(TABLE.iter().filter(|row| row.0 == *c).count(), 1, "{c:?}");
            assert_eq!(c.row(), &TABLE[i]);
            assert_eq!(
                TABLE.iter().filter(|row| row.1 == c.byte()).count(),
                1,
                "{c:?}"
            );
        }
        // daemontools' bytes and their signals.
        assert_eq!(Control::Terminate.signal(), Some(libc::SIGTERM));
        assert_eq!(Control::Pause.signal(), Some(libc::SIGSTOP));
        assert_eq!(Control::Kill.byte(), b'k');
    }
}
