//! A wait status, as waitpid gives it and as the status file's extension (`last_exit`) and
//! the journal (`status`) record it: decoded here and nowhere else.

/// How a run ended, from its wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastExit {
    /// It exited with this code.
    Code(u8),
    /// A signal killed it.
    Signal(i32),
    /// A wait status that is neither (a stopped or continued child: never recorded).
    Other(i32),
}

impl LastExit {
    /// Reads a wait status as waitpid gives it (`WIFEXITED`, `WIFSIGNALED`).
    ///
    /// ```
    /// use vigil_proto::exit::LastExit;
    ///
    /// assert_eq!(LastExit::from_wait_status(3 << 8), LastExit::Code(3));
    /// assert_eq!(LastExit::from_wait_status(libc::SIGTERM), LastExit::Signal(libc::SIGTERM));
    /// ```
    pub fn from_wait_status(status: i32) -> LastExit {
        let low = status & 0x7f;
        if low == 0 {
            LastExit::Code(((status >> 8) & 0xff) as u8)
        } else if low != 0x7f {
            LastExit::Signal(low)
        } else {
            LastExit::Other(status)
        }
    }

    /// runit's `finish` arguments: the exit code or -1, and the signal or 0.
    ///
    /// ```
    /// use vigil_proto::exit::LastExit;
    ///
    /// assert_eq!(LastExit::Code(3).finish_args(), (3, 0));
    /// assert_eq!(LastExit::Signal(9).finish_args(), (-1, 9));
    /// ```
    pub fn finish_args(self) -> (i32, i32) {
        match self {
            LastExit::Code(code) => (i32::from(code), 0),
            LastExit::Signal(signal) => (-1, signal),
            LastExit::Other(_) => (-1, 0),
        }
    }
}

/// Whether a wait status says the killed process dumped core (`WCOREDUMP`).
///
/// ```
/// assert!(vigil_proto::exit::core_dumped(libc::SIGSEGV | 0x80));
/// assert!(!vigil_proto::exit::core_dumped(libc::SIGTERM));
/// ```
pub fn core_dumped(status: i32) -> bool {
    matches!(LastExit::from_wait_status(status), LastExit::Signal(_)) && status & 0x80 != 0
}

/// Signal numbers and names without `SIG`, as `kill -l` lists them on Linux.
const SIGNAL_NAMES: &[(i32, &str)] = &[
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGILL, "ILL"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGABRT, "ABRT"),
    (libc::SIGBUS, "BUS"),
    (libc::SIGFPE, "FPE"),
    (libc::SIGKILL, "KILL"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGSEGV, "SEGV"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGPIPE, "PIPE"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGSTKFLT, "STKFLT"),
    (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGSTOP, "STOP"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGURG, "URG"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
    (libc::SIGSYS, "SYS"),
];

/// A signal's name without `SIG` (`TERM`), or its number for one this table lacks.
///
/// ```
/// assert_eq!(vigil_proto::exit::signal_name(libc::SIGTERM), "TERM");
/// assert_eq!(vigil_proto::exit::signal_name(64), "64");
/// ```
pub fn signal_name(signal: i32) -> String {
    SIGNAL_NAMES
        .iter()
        .find(|(n, _)| *n == signal)
        .map_or_else(|| signal.to_string(), |(_, name)| (*name).to_string())
}

/// The signal a setting names (`down-signal`, as s6-supervise reads it): a name with or
/// without `SIG`, in any case (`INT`, `SIGINT`, `sigint`), or a number from 1 to 64, with
/// surrounding whitespace and a final newline allowed; `None` for anything else.
///
/// ```
/// use vigil_proto::exit::signal_number;
/// assert_eq!(signal_number(b"SIGINT\n"), Some(libc::SIGINT));
/// assert_eq!(signal_number(b"quit"), Some(libc::SIGQUIT));
/// assert_eq!(signal_number(b"15"), Some(libc::SIGTERM));
/// assert_eq!(signal_number(b"SIGNOPE"), None);
/// ```
pub fn signal_number(text: &[u8]) -> Option<i32> {
    let text = text.trim_ascii();
    if !text.is_empty() && text.len() <= 2 && text.iter().all(u8::is_ascii_digit) {
        let n = text.iter().fold(0, |n, d| n * 10 + i32::from(d - b'0'));
        return (1..=64).contains(&n).then_some(n);
    }
    let name = match text.get(..3) {
        Some(head) if head.eq_ignore_ascii_case(b"SIG") => &text[3..],
        _ => text,
    };
    SIGNAL_NAMES
        .iter()
        .find(|(_, known)| known.as_bytes().eq_ignore_ascii_case(name))
        .map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_read_as_exit_or_signal() {
        assert_eq!(LastExit::from_wait_status(0), LastExit::Code(0));
        assert_eq!(LastExit::from_wait_status(3 << 8), LastExit::Code(3));
        assert_eq!(
            LastExit::from_wait_status(libc::SIGTERM),
            LastExit::Signal(15)
        );
        assert_eq!(LastExit::from_wait_status(0x80 | 9), LastExit::Signal(9));
        assert_eq!(LastExit::from_wait_status(0x137f), LastExit::Other(0x137f));
        assert_eq!(signal_name(libc::SIGTERM), "TERM");
        assert_eq!(signal_name(64), "64");
    }

    #[test]
    fn signal_numbers_from_names_and_digits() {
        for (text, want) in [
            (&b"INT"[..], Some(libc::SIGINT)),
            (b"SIGINT", Some(libc::SIGINT)),
            (b"sigquit\n", Some(libc::SIGQUIT)),
            (b" HUP ", Some(libc::SIGHUP)),
            (b"9", Some(libc::SIGKILL)),
            (b"64", Some(64)),
            (b"0", None),
            (b"65", None),
            (b"100", None),
            (b"", None),
            (b"SIG", None),
            (b"SIGSIGINT", None),
            (b"TERM INT", None),
            (b"\xff\xfe", None),
        ] {
            assert_eq!(
                signal_number(text),
                want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        for (n, name) in SIGNAL_NAMES {
            assert_eq!(signal_number(name.as_bytes()), Some(*n));
        }
    }

    /// The same answers as libc's macros, for every low byte and a few exit codes.
    #[test]
    fn agrees_with_libc_macros() {
        for high in [0, 1, 3, 0x7f, 0xff] {
            for low in 0..=0xff {
                let status = high << 8 | low;
                let ours = LastExit::from_wait_status(status);
                if libc::WIFEXITED(status) {
                    assert_eq!(ours, LastExit::Code(libc::WEXITSTATUS(status) as u8));
                } else if libc::WIFSIGNALED(status) {
                    assert_eq!(ours, LastExit::Signal(libc::WTERMSIG(status)));
                    assert_eq!(core_dumped(status), libc::WCOREDUMP(status));
                } else {
                    assert_eq!(ours, LastExit::Other(status));
                }
            }
        }
    }

    #[test]
    fn finish_args_follow_runit() {
        let args = |s| LastExit::from_wait_status(s).finish_args();
        assert_eq!(args(3 << 8), (3, 0));
        assert_eq!(args(libc::SIGKILL), (-1, 9));
        assert_eq!(args(libc::SIGSEGV | 0x80), (-1, libc::SIGSEGV));
        assert_eq!(args(0x137f), (-1, 0));
    }
}
