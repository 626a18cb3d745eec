//! The event vocabulary: one letter per change supervise announces.
//!
//! supervise writes each letter into every FIFO of `DIR/event/` (see [`crate::fifodir`]) and
//! records the event, with its sequence number, time, pid and wait status, in the journal
//! `DIR/supervise/events` (see [`crate::journal`]). The letters are s6's where s6 has the event,
//! so `s6-ftrig-wait DIR/event U` waits for readiness of a vigil service:
//!
//! | letter | word          | when                                                          |
//! |--------|---------------|---------------------------------------------------------------|
//! | `s`    | `start`       | supervise started on the directory (pid: supervise's)        |
//! | `u`    | `up`          | `run` was spawned (pid: the service's)                         |
//! | `U`    | `ready`       | the service is ready (readiness protocol, or at once without) |
//! | `d`    | `down`        | `run` exited (pid: the dead one; status: its wait status)     |
//! | `f`    | `finish`      | `finish` was started after an exit (pid: finish's)            |
//! | `D`    | `really_down` | down and `finish` done (or no `finish`): the service is idle |
//! | `b`    | `backoff`     | a restart is delayed (until: when the next start is due)      |
//! | `p`    | `pause`       | the service was sent STOP (`svc -p`)                           |
//! | `c`    | `continue`    | the service was sent CONT (`svc -c`)                           |
//! | `x`    | `exit`        | supervise is exiting (pid: supervise's)                        |
//! | `l`    | `limit`       | a resource limit was passed (pid: the run's; see docs/limits.md) |
//!
//! The full description, with the journal format, is in docs/events.md; keep both in step.

/// One change supervise announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `s`: supervise started on the directory.
    Start,
    /// `u`: `run` was spawned.
    Up,
    /// `U`: the service declared itself ready (or has no readiness protocol and was spawned).
    Ready,
    /// `d`: `run` exited.
    Down,
    /// `f`: `finish` was started.
    Finish,
    /// `D`: `run` is down and `finish` is done.
    ReallyDown,
    /// `b`: the next start is delayed (crash backoff, failed start).
    Backoff,
    /// `p`: the service was paused.
    Pause,
    /// `c`: the service was continued.
    Continue,
    /// `x`: supervise is exiting.
    Exit,
    /// `l`: the service passed one of its resource limits (the kind is in the status file).
    Limit,
}

impl Event {
    /// Every event, in the order of the table above.
    pub const ALL: [Event; 11] = [
        Event::Start,
        Event::Up,
        Event::Ready,
        Event::Down,
        Event::Finish,
        Event::ReallyDown,
        Event::Backoff,
        Event::Pause,
        Event::Continue,
        Event::Exit,
        Event::Limit,
    ];

    /// The byte written into the FIFOs and the journal.
    pub fn letter(self) -> u8 {
        match self {
            Event::Start => b's',
            Event::Up => b'u',
            Event::Ready => b'U',
            Event::Down => b'd',
            Event::Finish => b'f',
            Event::ReallyDown => b'D',
            Event::Backoff => b'b',
            Event::Pause => b'p',
            Event::Continue => b'c',
            Event::Exit => b'x',
            Event::Limit => b'l',
        }
    }

    /// The event a letter stands for; `None` for letters this version does not know (a
    /// reader skips them, so a newer supervise may add letters).
    pub fn from_letter(letter: u8) -> Option<Event> {
        Event::ALL.iter().copied().find(|e| e.letter() == letter)
    }

    /// The word `svwatch` prints and `DIR/notify` receives.
    pub fn word(self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Up => "up",
            Event::Ready => "ready",
            Event::Down => "down",
            Event::Finish => "finish",
            Event::ReallyDown => "really_down",
            Event::Backoff => "backoff",
            Event::Pause => "pause",
            Event::Continue => "continue",
            Event::Exit => "exit",
            Event::Limit => "limit",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_words_are_distinct_and_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::from_letter(e.letter()), Some(e));
            assert_eq!(
                Event::ALL.iter().filter(|o| o.word() == e.word()).count(),
                1
            );
        }
        assert_eq!(Event::from_letter(b'z'), None);
    }

    #[test]
    fn letters_are_s6s_where_s6_has_them() {
        let s6 = [
            (Event::Start, b's'),
            (Event::Up, b'u'),
            (Event::Ready, b'U'),
            (Event::Down, b'd'),
            (Event::ReallyDown, b'D'),
            (Event::Exit, b'x'),
        ];
        for (e, letter) in s6 {
            assert_eq!(e.letter(), letter);
        }
    }
}
