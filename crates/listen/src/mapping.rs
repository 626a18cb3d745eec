//! From a service's journal records to supervisord's events (docs/listen.md).
//!
//! supervisord's process states come from vigil-client's mapping ([`ProcState`]); this module
//! adds what a status alone does not say and a listener needs: the transition (`from_state`),
//! `tries` (quick deaths in a row), `expected`, and the pid of a stopped run. Each journal
//! record gives at most one event, so a cursor of sequence numbers resumes exactly.

use vigil_client::supervisord::ProcState;
use vigil_proto::exit::LastExit;
use vigil_proto::journal::{Cause, Record};

/// The events vigil-listen sends, by supervisord's names (supervisor/events.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `PROCESS_STATE_STARTING`: `u`.
    Starting,
    /// `PROCESS_STATE_RUNNING`: `U`.
    Running,
    /// `PROCESS_STATE_BACKOFF`: `b` after a quick exit.
    Backoff,
    /// `PROCESS_STATE_STOPPING`: `d` of a run supervise was stopping.
    Stopping,
    /// `PROCESS_STATE_EXITED`: any other `d`.
    Exited,
    /// `PROCESS_STATE_STOPPED`: `D` after a stop.
    Stopped,
    /// `PROCESS_STATE_FATAL`: `b` after a failed start, once per run of failures.
    Fatal,
    /// `TICK_5`.
    Tick5,
    /// `TICK_60`.
    Tick60,
    /// `TICK_3600`.
    Tick3600,
    /// `SUPERVISOR_STATE_CHANGE_RUNNING`: vigil-listen started.
    SupervisorRunning,
}

/// Every kind, for `-e` and the default subscription.
pub const ALL: [Kind; 11] = [
    Kind::Starting,
    Kind::Running,
    Kind::Backoff,
    Kind::Stopping,
    Kind::Exited,
    Kind::Stopped,
    Kind::Fatal,
    Kind::Tick5,
    Kind::Tick60,
    Kind::Tick3600,
    Kind::SupervisorRunning,
];

/// supervisord's event names that vigil never produces (no process communication or log
/// events, no groups added at runtime): accepted by `-e`, so a listener's usual
/// configuration works, and never sent.
pub const NEVER: [&str; 9] = [
    "PROCESS_STATE_UNKNOWN",
    "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_LOG",
    "PROCESS_LOG_STDOUT",
    "PROCESS_LOG_STDERR",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
];

impl Kind {
    /// The event's name in the header (`eventname:`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Starting => "PROCESS_STATE_STARTING",
            Kind::Running => "PROCESS_STATE_RUNNING",
            Kind::Backoff => "PROCESS_STATE_BACKOFF",
            Kind::Stopping => "PROCESS_STATE_STOPPING",
            Kind::Exited => "PROCESS_STATE_EXITED",
            Kind::Stopped => "PROCESS_STATE_STOPPED",
            Kind::Fatal => "PROCESS_STATE_FATAL",
            Kind::Tick5 => "TICK_5",
            Kind::Tick60 => "TICK_60",
            Kind::Tick3600 => "TICK_3600",
            Kind::SupervisorRunning => "SUPERVISOR_STATE_CHANGE_RUNNING",
        }
    }

    /// Its abstract parent, which a subscription may name instead (`PROCESS_STATE`, `TICK`,
    /// `SUPERVISOR_STATE_CHANGE`); `EVENT` is the parent of all.
    pub fn parent(self) -> &'static str {
        match self {
            Kind::Tick5 | Kind::Tick60 | Kind::Tick3600 => "TICK",
            Kind::SupervisorRunning => "SUPERVISOR_STATE_CHANGE",
            _ => "PROCESS_STATE",
        }
    }

    /// Whether the subscription name `name` takes this kind.
    pub fn matches(self, name: &str) -> bool {
        name == self.name() || name == self.parent() || name == "EVENT"
    }

    /// The period of a tick, in seconds.
    pub fn period(self) -> Option<u64> {
        match self {
            Kind::Tick5 => Some(5),
            Kind::Tick60 => Some(60),
            Kind::Tick3600 => Some(3600),
            _ => None,
        }
    }
}

/// Whether `name` is an event name `-e` accepts.
pub fn known(name: &str) -> bool {
    name == "EVENT" || NEVER.contains(&name) || ALL.iter().any(|k| k.matches(name))
}

/// What the listener remembers of one process between two records: enough to say where a
/// transition came from. Kept in the cursor file beside the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    /// The state of the last event sent (or the state found at the first look).
    pub state: ProcState,
    /// Quick deaths in a row (supervisord's `backoff`, the `tries` of STARTING and BACKOFF).
    pub tries: u32,
    /// The pid of the run last seen up: STOPPED names it, as supervisord's does.
    pub pid: u32,
    /// A quick-exit backoff followed the last death: the next start continues the count.
    pub quick: bool,
}

impl Track {
    /// A process first seen in `state`.
    pub fn new(state: ProcState) -> Track {
        Track {
            state,
            tries: 0,
            pid: 0,
            quick: false,
        }
    }
}

/// supervisord's process and group name of a service directory under the scan directory:
/// `web` is `web` of group `web`, `web/log` is `log` of group `web` (as vigild names them).
/// Bytes other than printable ASCII, and ` `, `:` and `%`, are written `%XX`, so the payload
/// is ASCII (its `len` counts characters) and splits as childutils.get_headers splits it.
pub fn names(dir: &[u8]) -> (String, String) {
    let (group, name) = match dir.strip_suffix(b"/log") {
        Some(group) => (group, &b"log"[..]),
        None => (dir, dir),
    };
    (ascii(name), ascii(group))
}

fn ascii(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && b != b':' && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The event a journal record gives, with its payload, and the track after it; `None` for
/// records supervisord has no event for (`s`, `f`, `p`, `c`, `l`, `x`, a `D` not after a stop).
/// `process` and `group` are from [`names`].
pub fn on_record(
    track: &mut Track,
    process: &str,
    group: &str,
    r: &Record,
) -> Option<(Kind, String)> {
    let from = track.state;
    let head = |extra: &str| {
        let mut p = format!(
            "processname:{process} groupname:{group} from_state:{}",
            from.name()
        );
        if !extra.is_empty() {
            p.push(' ');
            p.push_str(extra);
        }
        p
    };
    let (kind, state, payload) = match r.letter {
        b'u' => {
            if !track.quick {
                track.tries = 0;
            }
            track.quick = false;
            track.pid = r.pid;
            let payload = head(&format!("tries:{}", track.tries));
            (Kind::Starting, ProcState::Starting, payload)
        }
        b'U' => {
            track.pid = r.pid;
            (
                Kind::Running,
                ProcState::Running,
                head(&format!("pid:{}", r.pid)),
            )
        }
        b'd' if r.cause == Cause::Stopped => {
            track.tries = 0;
            track.quick = false;
            track.pid = r.pid;
            (
                Kind::Stopping,
                ProcState::Stopping,
                head(&format!("pid:{}", r.pid)),
            )
        }
        b'd' => {
            // compat: supervisord's `expected` says whether the exit was one it was told to
            // expect; here, a run started with `svc -o` that exits 0 (docs/listen.md).
            let clean = r
                .status
                .is_some_and(|s| LastExit::from_wait_status(s) == LastExit::Code(0));
            let expected = r.cause == Cause::Unwanted && clean;
            track.quick = false;
            track.pid = r.pid;
            let payload = head(&format!("expected:{} pid:{}", u8::from(expected), r.pid));
            (Kind::Exited, ProcState::Exited, payload)
        }
        b'D' if from == ProcState::Stopping => (
            Kind::Stopped,
            ProcState::Stopped,
            head(&format!("pid:{}", track.pid)),
        ),
        b'b' if r.cause == Cause::StartFailed => {
            if from == ProcState::Fatal {
                return None;
            }
            (Kind::Fatal, ProcState::Fatal, head(""))
        }
        b'b' => {
            track.tries = track.tries.saturating_add(1);
            track.quick = true;
            let payload = head(&format!("tries:{}", track.tries));
            (Kind::Backoff, ProcState::Backoff, payload)
        }
        _ => return None,
    };
    track.state = state;
    Some((kind, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::tai::Tai64n;

    fn rec(letter: u8, pid: u32, status: Option<i32>, cause: Cause) -> Record {
        Record {
            seq: 1,
            letter,
            time: Tai64n::from_unix(1_700_000_000, 0),
            pid,
            status,
            until: None,
            limit: None,
            cause,
        }
    }

    fn run(track: &mut Track, records: &[Record]) -> Vec<String> {
        records
            .iter()
            .filter_map(|r| on_record(track, "web", "web", r))
            .map(|(k, p)| format!("{} {p}", k.name()))
            .collect()
    }

    #[test]
    fn a_start_a_crash_and_a_restart() {
        let mut t = Track::new(ProcState::Stopped);
        let got = run(
            &mut t,
            &[
                rec(b'u', 10, None, Cause::None),
                rec(b'U', 10, None, Cause::None),
                rec(b'd', 10, Some(9), Cause::None),
                rec(b'D', 0, None, Cause::None),
                rec(b'u', 11, None, Cause::None),
            ],
        );
        assert_eq!(
            got,
            [
                "PROCESS_STATE_STARTING processname:web groupname:web from_state:STOPPED tries:0",
                "PROCESS_STATE_RUNNING processname:web groupname:web from_state:STARTING pid:10",
                "PROCESS_STATE_EXITED processname:web groupname:web from_state:RUNNING expected:0 pid:10",
                "PROCESS_STATE_STARTING processname:web groupname:web from_state:EXITED tries:0",
            ]
        );
    }

    #[test]
    fn a_stop_gives_stopping_then_stopped_with_the_old_pid() {
        let mut t = Track::new(ProcState::Running);
        let got = run(
            &mut t,
            &[
                rec(b'd', 10, Some(15), Cause::Stopped),
                rec(b'D', 0, None, Cause::None),
            ],
        );
        assert_eq!(
            got,
            [
                "PROCESS_STATE_STOPPING processname:web groupname:web from_state:RUNNING pid:10",
                "PROCESS_STATE_STOPPED processname:web groupname:web from_state:STOPPING pid:10",
            ]
        );
    }

    #[test]
    fn quick_deaths_count_tries_and_a_failed_start_is_fatal_once() {
        let mut t = Track::new(ProcState::Running);
        let quick = [
            rec(b'd', 10, Some(256), Cause::None),
            rec(b'D', 0, None, Cause::None),
            rec(b'b', 0, None, Cause::QuickExit),
            rec(b'u', 11, None, Cause::None),
            rec(b'U', 11, None, Cause::None),
        ];
        let got = run(&mut t, &[&quick[..], &quick[..]].concat());
        assert_eq!(
            got[1],
            "PROCESS_STATE_BACKOFF processname:web groupname:web from_state:EXITED tries:1"
        );
        assert_eq!(
            got[2],
            "PROCESS_STATE_STARTING processname:web groupname:web from_state:BACKOFF tries:1"
        );
        assert_eq!(
            got[5],
            "PROCESS_STATE_BACKOFF processname:web groupname:web from_state:EXITED tries:2"
        );
        // A death after a run that was not quick starts the count over.
        let got = run(
            &mut t,
            &[
                rec(b'd', 11, Some(256), Cause::None),
                rec(b'u', 12, None, Cause::None),
            ],
        );
        assert!(got[1].ends_with("tries:0"), "{got:?}");
        let failed = rec(b'b', 0, None, Cause::StartFailed);
        let got = run(
            &mut t,
            &[rec(b'd', 12, Some(256), Cause::None), failed, failed],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            "PROCESS_STATE_FATAL processname:web groupname:web from_state:EXITED"
        );
    }

    #[test]
    fn only_a_clean_exit_after_svc_o_is_expected() {
        let exit = |status, cause| {
            let mut t = Track::new(ProcState::Running);
            run(&mut t, &[rec(b'd', 7, Some(status), cause)]).remove(0)
        };
        assert!(exit(0, Cause::Unwanted).contains("expected:1 pid:7"));
        assert!(exit(256, Cause::Unwanted).contains("expected:0"));
        assert!(exit(0, Cause::None).contains("expected:0"));
        assert!(exit(9, Cause::None).contains("expected:0"));
    }

    #[test]
    fn names_are_supervisords_and_ascii() {
        assert_eq!(names(b"web"), ("web".into(), "web".into()));
        assert_eq!(names(b"web/log"), ("log".into(), "web".into()));
        assert_eq!(names("a b:é".as_bytes()).0, "a%20b%3A%C3%A9");
    }

    #[test]
    fn subscriptions_take_parents_and_everything() {
        assert!(Kind::Exited.matches("PROCESS_STATE"));
        assert!(Kind::Tick60.matches("TICK"));
        assert!(Kind::Tick60.matches("EVENT"));
        assert!(!Kind::Tick60.matches("TICK_5"));
        assert!(known("PROCESS_LOG") && known("TICK_3600") && !known("TICK_7"));
    }
}
