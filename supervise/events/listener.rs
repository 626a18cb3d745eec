//! `DIR/notify`: the listener program supervise runs on events, and what it is given.
//!
//! If `DIR/notify` is executable, supervise runs it after events, asynchronously (supervision
//! never waits for it), at most one at a time per service, in its own session, in DIR, with
//! supervise's stdout and stderr:
//!
//! - **Coalescing**: events that happen while the listener runs are queued; when it exits, it
//!   is run once more for all of them. So each run covers a batch of consecutive events,
//!   `VIGIL_FIRST_SEQ..=VIGIL_SEQ`, and every event is covered by exactly one run (as long as
//!   supervise runs: a batch still queued when supervise exits is not delivered).
//! - **Arguments**: `./notify WORD SEQ`: the newest event of the batch (see docs/events.md).
//! - **Environment**, beside supervise's own: `VIGIL_SERVICE` (DIR as supervise was given it),
//!   the newest event's variables ([`event_vars`]: `VIGIL_EVENT` (word), `VIGIL_LETTER`,
//!   `VIGIL_SEQ`, `VIGIL_TIME` (RFC 3339), `VIGIL_PID`, `VIGIL_STATUS` and `VIGIL_EXITCODE` or
//!   `VIGIL_SIGNAL`, `VIGIL_UNTIL`, `VIGIL_LIMIT` and `VIGIL_VALUE`, each when the event has
//!   it), `VIGIL_FIRST_SEQ` (first event of the batch), `VIGIL_EVENTS` (the letters of the
//!   batch in order), and NEW (issue 15 item 9) every event's own variables, numbered from 1,
//!   oldest first: `VIGIL_COUNT` events, `VIGIL_EVENT_1`, `VIGIL_SEQ_1` ... `VIGIL_EVENT_N`
//!   (the last [`MAX_LETTERS`] of a longer batch; the journal's bound too).
//! - **Timeout**: a listener still running after `DIR/notify-timeout` ms (default 10000; 0: no
//!   limit) is killed (KILL to its process group); the queue then goes on.

use std::ffi::{CString, OsStr};
use std::io;
use std::time::{Duration, Instant};

use vigil_proto::event::Event;
use vigil_proto::exit::LastExit;
use vigil_proto::journal::Record;
use vigil_proto::{paths, rfc3339};

/// The listener program in the service directory.
pub const NOTIFY: &str = "notify";
/// Its time limit in ms.
pub const NOTIFY_TIMEOUT: &str = "notify-timeout";
/// The default time limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Letters kept in `VIGIL_EVENTS` (the journal's bound: older ones are gone from it anyway).
pub const MAX_LETTERS: usize = 256;

/// Events for one run of the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Sequence number of the first event.
    pub first_seq: u64,
    /// The events, oldest first (at most [`MAX_LETTERS`], the newest); never empty.
    pub events: Vec<Record>,
}

impl Batch {
    /// The newest event.
    pub fn last(&self) -> &Record {
        // invariant: a batch is made with its first event and only grows.
        self.events.last().expect("a batch has an event")
    }

    /// `WORD SEQ` after `./notify`.
    pub fn args(&self) -> [CString; 2] {
        [
            cstring(word(self.last()).as_bytes()),
            cstring(self.last().seq.to_string().as_bytes()),
        ]
    }

    /// The `VIGIL_*` variables, `NAME=value`: the newest event's unnumbered, then every
    /// event's numbered from 1 (oldest first).
    pub fn env(&self, service: &OsStr) -> Vec<CString> {
        use std::os::unix::ffi::OsStrExt;
        let letters: Vec<u8> = self.events.iter().map(|r| r.letter).collect();
        let mut vars: Vec<Vec<u8>> = vec![
            [b"VIGIL_SERVICE=", service.as_bytes()].concat(),
            format!("VIGIL_FIRST_SEQ={}", self.first_seq).into_bytes(),
            [&b"VIGIL_EVENTS="[..], &letters].concat(),
            format!("VIGIL_COUNT={}", self.events.len()).into_bytes(),
        ];
        event_vars(self.last(), "", &mut vars);
        for (i, r) in self.events.iter().enumerate() {
            event_vars(r, &format!("_{}", i + 1), &mut vars);
        }
        vars.into_iter().map(|v| cstring(&v)).collect()
    }
}

/// One event's variables, each name followed by `suffix` (`""`, or `_N` for the Nth event of
/// the batch): `VIGIL_EVENT`, `VIGIL_LETTER`, `VIGIL_SEQ`, `VIGIL_TIME`, and when the event
/// has them `VIGIL_PID`, `VIGIL_STATUS` with `VIGIL_EXITCODE` or `VIGIL_SIGNAL`, `VIGIL_UNTIL`
/// (a backoff's end, RFC 3339), `VIGIL_LIMIT` and `VIGIL_VALUE` (a limit breach: `memory`,
/// `cpu`, `files` or `threads`, and the value measured in the limit's unit).
pub fn event_vars(r: &Record, suffix: &str, vars: &mut Vec<Vec<u8>>) {
    vars.push(format!("VIGIL_EVENT{suffix}={}", word(r)).into_bytes());
    vars.push([format!("VIGIL_LETTER{suffix}=").as_bytes(), &[r.letter]].concat());
    vars.push(format!("VIGIL_SEQ{suffix}={}", r.seq).into_bytes());
    vars.push(format!("VIGIL_TIME{suffix}={}", rfc3339::format(&r.time)).into_bytes());
    if r.pid != 0 {
        vars.push(format!("VIGIL_PID{suffix}={}", r.pid).into_bytes());
    }
    if let Some(status) = r.status {
        vars.push(format!("VIGIL_STATUS{suffix}={status}").into_bytes());
        match LastExit::from_wait_status(status) {
            LastExit::Code(code) => {
                vars.push(format!("VIGIL_EXITCODE{suffix}={code}").into_bytes())
            }
            LastExit::Signal(signal) => {
                vars.push(format!("VIGIL_SIGNAL{suffix}={signal}").into_bytes())
            }
            LastExit::Other(_) => {}
        }
    }
    if let Some(until) = r.until {
        vars.push(format!("VIGIL_UNTIL{suffix}={}", rfc3339::format(&until)).into_bytes());
    }
    if let Some(limit) = r.limit {
        vars.push(format!("VIGIL_LIMIT{suffix}={}", limit.kind.word()).into_bytes());
        vars.push(format!("VIGIL_VALUE{suffix}={}", limit.value).into_bytes());
    }
}

fn word(r: &Record) -> &'static str {
    r.event().map_or("unknown", Event::word)
}

/// A C string of bytes that hold no NUL (a NUL, which no path or number here has, ends it).
fn cstring(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).expect("no NUL before end")
}

/// Reads `dir/notify-timeout` (ms; 0: none): `Ok(None)` for no limit, the default when the
/// file is missing; an error for a file that cannot be read (through [`vigil_proto::bounded`]: a
/// FIFO, a device or a link is refused at once) and `InvalidData` for a value that does not
/// parse. The caller warns and uses [`DEFAULT_TIMEOUT`].
// Never inlined: its 4 KiB buffer stays a leaf frame, off the path to posix_spawn, so no
// supervise keeps more stack pages for it (docs/bench.md, "Memory per supervise").
#[inline(never)]
pub fn timeout(dir: &OsStr) -> io::Result<Option<Duration>> {
    let mut buf = [0u8; vigil_proto::bounded::SETTING_MAX];
    let path = paths::join(dir, NOTIFY_TIMEOUT);
    let Some(text) = vigil_proto::bounded::read(
        std::path::Path::new(&path),
        vigil_proto::bounded::Links::Refuse,
        &mut buf,
    )?
    else {
        return Ok(Some(DEFAULT_TIMEOUT));
    };
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    match std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(0) => Ok(None),
        Some(ms) => Ok(Some(Duration::from_millis(ms))),
        None => Err(io::Error::from(io::ErrorKind::InvalidData)),
    }
}

/// supervise's bookkeeping of its listener: the one running, the events queued for the next.
#[derive(Debug, Default)]
pub struct Listener {
    running: Option<(i32, Option<Instant>)>,
    queued: Option<Batch>,
}

impl Listener {
    /// Queues an event for the next run.
    pub fn add(&mut self, record: &Record) {
        match &mut self.queued {
            Some(batch) => {
                if batch.events.len() == MAX_LETTERS {
                    batch.events.remove(0);
                }
                batch.events.push(*record);
            }
            None => {
                self.queued = Some(Batch {
                    first_seq: record.seq,
                    events: vec![*record],
                })
            }
        }
    }

    /// The batch to run the listener for now: some when none runs and events are queued.
    pub fn due(&mut self) -> Option<Batch> {
        if self.running.is_some() {
            return None;
        }
        self.queued.take()
    }

    /// The listener was started for the batch [`Listener::due`] gave.
    pub fn started(&mut self, pid: i32, kill_at: Option<Instant>) {
        self.running = Some((pid, kill_at));
    }

    /// A child exited: true if it was the listener (then the next batch may be due).
    pub fn exited(&mut self, pid: i32) -> bool {
        if self.running.is_some_and(|(p, _)| p == pid) {
            self.running = None;
            return true;
        }
        false
    }

    /// When the running listener is to be killed.
    pub fn deadline(&self) -> Option<Instant> {
        self.running.and_then(|(_, at)| at)
    }

    /// The listener's pid if its time is up (once: the deadline is then cleared; it is
    /// reaped as usual).
    pub fn overdue(&mut self, now: Instant) -> Option<i32> {
        match &mut self.running {
            Some((pid, at)) if at.is_some_and(|at| now >= at) => {
                *at = None;
                Some(*pid)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::journal::Limit;
    use vigil_proto::status::BreachKind;
    use vigil_proto::tai::Tai64n;

    fn letters(batch: &Batch) -> Vec<u8> {
        batch.events.iter().map(|r| r.letter).collect()
    }

    fn record(seq: u64, event: Event) -> Record {
        Record {
            seq,
            letter: event.letter(),
            time: Tai64n::from_unix(1_700_000_000, 0),
            pid: 0,
            status: None,
            until: None,
            cause: vigil_proto::journal::Cause::None,
            limit: None,
        }
    }

    #[test]
    fn events_while_it_runs_are_coalesced_into_the_next_run() {
        let mut l = Listener::default();
        l.add(&record(1, Event::Start));
        let first = l.due().expect("due");
        assert_eq!(
            (first.first_seq, first.last().seq, letters(&first)),
            (1, 1, b"s".to_vec())
        );
        let t0 = Instant::now();
        l.started(100, Some(t0 + Duration::from_secs(1)));
        for (seq, e) in [(2, Event::Up), (3, Event::Ready), (4, Event::Down)] {
            l.add(&record(seq, e));
            assert_eq!(l.due(), None, "one at a time");
        }
        assert!(!l.exited(99));
        assert_eq!(l.overdue(t0), None);
        assert_eq!(l.overdue(t0 + Duration::from_secs(1)), Some(100));
        assert_eq!(l.overdue(t0 + Duration::from_secs(2)), None, "killed once");
        assert!(l.exited(100));
        let next = l.due().expect("due");
        assert_eq!(
            (next.first_seq, next.last().seq, letters(&next)),
            (2, 4, b"uUd".to_vec())
        );
        assert_eq!(l.due(), None);
    }

    #[test]
    fn arguments_and_environment() {
        let mut up = record(5, Event::Up);
        up.pid = 42;
        let mut limit = record(6, Event::Limit);
        limit.pid = 42;
        limit.limit = Some(Limit {
            kind: BreachKind::Memory,
            value: 150_000_000,
        });
        let mut down = record(7, Event::Down);
        down.pid = 42;
        down.status = Some(9); // killed by KILL
        let mut backoff = record(8, Event::Backoff);
        backoff.until = Some(Tai64n::from_unix(1_700_000_001, 0));
        let batch = Batch {
            first_seq: 5,
            events: vec![up, limit, down, backoff],
        };
        assert_eq!(batch.args(), [c"backoff".to_owned(), c"8".to_owned()]);
        let env: Vec<String> = batch
            .env(OsStr::new("/service/web"))
            .into_iter()
            .map(|c| c.into_string().expect("utf8"))
            .collect();
        for want in [
            "VIGIL_SERVICE=/service/web",
            "VIGIL_EVENT=backoff",
            "VIGIL_LETTER=b",
            "VIGIL_SEQ=8",
            "VIGIL_UNTIL=2023-11-14T22:13:21.000000000Z",
            "VIGIL_FIRST_SEQ=5",
            "VIGIL_EVENTS=uldb",
            "VIGIL_COUNT=4",
            // Every event's own variables (issue 15 item 9: a batch `dDuU` saw only `U`'s).
            "VIGIL_EVENT_1=up",
            "VIGIL_PID_1=42",
            "VIGIL_EVENT_2=limit",
            "VIGIL_LIMIT_2=memory",
            "VIGIL_VALUE_2=150000000",
            "VIGIL_SEQ_3=7",
            "VIGIL_LETTER_3=d",
            "VIGIL_STATUS_3=9",
            "VIGIL_SIGNAL_3=9",
            "VIGIL_TIME_3=2023-11-14T22:13:20.000000000Z",
            "VIGIL_EVENT_4=backoff",
            "VIGIL_UNTIL_4=2023-11-14T22:13:21.000000000Z",
        ] {
            assert!(env.iter().any(|e| e == want), "{want} not in {env:?}");
        }
        for absent in [
            "VIGIL_PID=",
            "VIGIL_STATUS_1=",
            "VIGIL_LIMIT_3=",
            "VIGIL_EVENT_5=",
        ] {
            assert!(
                !env.iter().any(|e| e.starts_with(absent)),
                "{absent} in {env:?}"
            );
        }
    }

    #[test]
    fn timeout_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        let read = |os| timeout(os).map_err(|e| e.kind());
        assert_eq!(read(os), Ok(Some(DEFAULT_TIMEOUT)));
        std::fs::write(dir.path().join(NOTIFY_TIMEOUT), "250\n").expect("write");
        assert_eq!(read(os), Ok(Some(Duration::from_millis(250))));
        std::fs::write(dir.path().join(NOTIFY_TIMEOUT), "0").expect("write");
        assert_eq!(read(os), Ok(None));
        std::fs::write(dir.path().join(NOTIFY_TIMEOUT), "soon").expect("write");
        assert_eq!(read(os), Err(io::ErrorKind::InvalidData));
    }
}
