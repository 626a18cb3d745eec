//! supervise's announcing of events: from two consecutive status snapshots to event records in
//! the journal and letters in the FIFOs of `DIR/event/`.
//!
//! supervise rewrites its status file at every change; the events are what changed between the
//! previous status it wrote and the new one ([`between`], pure and table-tested). So the only
//! hooks supervise needs are: [`Announcer::record`] before it writes the status (which also
//! fills in readiness and the sequence number), [`Announcer::publish`] after, and
//! [`Announcer::exit`] before it exits. A restart with no announce in between (the new child is
//! started before the status is written) still gives `d`, `D`, `u`: the pid changed.
//!
//! Readiness is the state table's (state.rs): it publishes `U` ([`Announcer::note`]) when the
//! run is ready, and the announcer records the time in the status (`ready_at`) until the run
//! changes.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use vigil_proto::event::Event;
use vigil_proto::fifodir;
use vigil_proto::journal::{Cause, Journal, Limit, Record};
use vigil_proto::status::{BackoffCause, State, Status, Want};
use vigil_proto::tai::Tai64n;

/// At most this many events come out of one status change.
pub const MAX_EVENTS: usize = 12;

/// Events between two snapshots, in the order they happened; on the stack.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    items: [Option<Record>; MAX_EVENTS],
    len: usize,
}

impl Changes {
    fn push(&mut self, event: Event, pid: u32, now: Tai64n) -> &mut Record {
        // invariant: between() pushes at most 7 events (d f D b u U p/c).
        let slot = &mut self.items[self.len.min(MAX_EVENTS - 1)];
        self.len = (self.len + 1).min(MAX_EVENTS);
        slot.insert(Record {
            seq: 0,
            letter: event.letter(),
            time: now,
            pid,
            status: None,
            until: None,
            cause: Cause::None,
            limit: None,
        })
    }

    /// The events, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Record> + '_ {
        self.items[..self.len].iter().flatten()
    }

    /// Their letters, in order.
    #[cfg(test)]
    pub fn letters(&self) -> Vec<u8> {
        self.iter().map(|r| r.letter).collect()
    }
}

fn state(s: &Status) -> Option<State> {
    s.ext.map(|e| e.state)
}

/// What happened between the status `prev` (none: supervise just started) and `next`, at
/// `now`. Readiness (`U`) is the announcer's, not derived here.
pub fn between(prev: Option<&Status>, next: &Status, supervise_pid: u32, now: Tai64n) -> Changes {
    let mut out = Changes::default();
    let Some(prev) = prev else {
        out.push(Event::Start, supervise_pid, now);
        if next.pid != 0 {
            // A run left by a previous supervise, adopted.
            out.push(Event::Up, next.pid, now);
        }
        return out;
    };
    let finishing = |s: &Status| state(s) == Some(State::Finishing);
    let died = prev.pid != 0 && prev.pid != next.pid;
    let started = next.pid != 0 && next.pid != prev.pid;
    let last_exit = next.ext.and_then(|e| e.last_exit);
    if died {
        let down = out.push(Event::Down, prev.pid, now);
        down.status = last_exit;
        // A stop shows as `stopping` before the run dies; a run that ends while not wanted up
        // was started with `svc -o` (the only other way to be up without want `u`).
        down.cause = if state(prev) == Some(State::Stopping) {
            Cause::Stopped
        } else if prev.want != Want::Up {
            Cause::Unwanted
        } else {
            Cause::None
        };
    }
    if finishing(next) && !finishing(prev) {
        out.push(Event::Finish, 0, now).status = last_exit;
    }
    if (died || finishing(prev)) && !finishing(next) {
        out.push(Event::ReallyDown, 0, now);
    }
    // Not when only the end moved: supervise recomputes it from a monotonic deadline at
    // each status write, so it shifts by nanoseconds.
    if state(next) == Some(State::Backoff) && state(prev) != Some(State::Backoff) {
        let backoff = out.push(Event::Backoff, 0, now);
        backoff.until = next.ext.and_then(|e| e.backoff_until);
        backoff.cause = match next.ext.map(|e| e.backoff_cause) {
            Some(BackoffCause::StartFailed) => Cause::StartFailed,
            Some(BackoffCause::QuickExit) => Cause::QuickExit,
            Some(BackoffCause::None) | None => Cause::None,
        };
    }
    if started {
        out.push(Event::Up, next.pid, now);
    }
    if next.pid != 0 && prev.paused != next.paused {
        let e = if next.paused {
            Event::Pause
        } else {
            Event::Continue
        };
        out.push(e, next.pid, now);
    }
    out
}

/// supervise's announcer: the journal, the last status announced, readiness, and the letters
/// waiting to be published.
#[derive(Debug)]
pub struct Announcer {
    journal: Option<Journal>,
    last_seq: u64,
    prev: Option<Status>,
    /// When the run shown became ready (its `U`).
    ready_at: Option<Tai64n>,
    /// Letters recorded and not yet published: a fixed array, not a Vec, so supervise keeps
    /// no heap page for it (docs/bench.md, "Memory per supervise"). A record adds at most
    /// MAX_EVENTS and each is published before the next.
    pending: [u8; 2 * MAX_EVENTS],
    pending_len: usize,
    /// The numbered events of the last record or exit, for the listener program.
    recent: Changes,
    supervise_pid: u32,
    /// Events no status change shows (limit breaches), for the next record.
    noted: Changes,
}

impl Announcer {
    /// Opens the journal of the service directory `dir` (`.` once supervise is in it). A
    /// journal that cannot be opened is returned as an error beside a working announcer:
    /// events still go to the FIFOs, numbered on from `last_status`'s sequence number.
    pub fn open(dir: &OsStr, last_status: Option<&Status>) -> (Announcer, Option<io::Error>) {
        let from_status = last_status.and_then(|s| s.ext).map_or(0, |e| e.seq);
        let (journal, error) = match Journal::open(dir) {
            Ok(j) => (Some(j), None),
            Err(e) => (None, Some(e)),
        };
        let last_seq = journal
            .as_ref()
            .map_or(0, Journal::last_seq)
            .max(from_status);
        let announcer = Announcer {
            journal,
            last_seq,
            prev: None,
            ready_at: None,
            pending: [0; 2 * MAX_EVENTS],
            pending_len: 0,
            recent: Changes::default(),
            supervise_pid: std::process::id(),
            noted: Changes::default(),
        };
        (announcer, error)
    }

    /// The sequence number of the last event.
    #[cfg(test)]
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Before the status is written: works out the events since the previous status, adds
    /// the events noted since ([`Announcer::note`]), sets readiness (`ready_at`) and the last
    /// sequence number in `status`, and writes the events into the journal. The letters wait
    /// for [`Announcer::publish`]. Returns the first journal write error, if any.
    pub fn record(&mut self, status: &mut Status) -> Option<io::Error> {
        let now = Tai64n::now();
        let mut changes = between(self.prev.as_ref(), status, self.supervise_pid, now);
        if status.pid == 0 || changes.iter().any(|r| r.letter == Event::Up.letter()) {
            // No run, or a new one: not ready (yet).
            self.ready_at = None;
        }
        for noted in std::mem::take(&mut self.noted).iter() {
            match noted.event().unwrap_or(Event::Limit) {
                // Ready as of this status, which shows it.
                Event::Ready => {
                    self.ready_at = Some(now);
                    changes.push(Event::Ready, noted.pid, now);
                }
                event => {
                    changes.push(event, noted.pid, noted.time).limit = noted.limit;
                }
            }
        }
        if let Some(ext) = &mut status.ext {
            ext.ready_at = self.ready_at;
        }
        let error = self.journal_all(&changes);
        if let Some(ext) = &mut status.ext {
            ext.seq = self.last_seq;
        }
        self.prev = Some(*status);
        error
    }

    /// An event that no status change shows (readiness `U`, a resource-limit breach `l`),
    /// about `pid`: recorded and published with the next status write, after what that write
    /// changes.
    pub fn note(&mut self, event: Event, pid: u32) {
        self.noted.push(event, pid, Tai64n::now());
    }

    /// A limit breach (`l`) about `pid`, with the limit and the value measured, as
    /// [`Announcer::note`].
    pub fn note_limit(&mut self, pid: u32, limit: Option<Limit>) {
        self.noted.push(Event::Limit, pid, Tai64n::now()).limit = limit;
    }

    /// The events (numbered) of the last [`Announcer::record`] or [`Announcer::exit`].
    pub fn recent(&self) -> impl Iterator<Item = &Record> + '_ {
        self.recent.iter()
    }

    fn journal_all(&mut self, changes: &Changes) -> Option<io::Error> {
        let mut error = None;
        self.recent = changes.clone();
        for record in self.recent.items.iter_mut().flatten() {
            self.last_seq += 1;
            record.seq = self.last_seq;
            let record = *record;
            if let Some(journal) = &mut self.journal {
                if let Err(e) = journal.write(&record) {
                    error.get_or_insert(e);
                }
            }
            // Full only if publish was skipped: the FIFOs then miss the later letters (the
            // journal has them).
            if let Some(slot) = self.pending.get_mut(self.pending_len) {
                *slot = record.letter;
                self.pending_len += 1;
            }
        }
        error
    }

    /// After the status is written: writes the waiting letters into every FIFO of `eventdir`
    /// (`event`), never blocking (see [`fifodir::publish`]).
    pub fn publish(&mut self, eventdir: &Path) -> io::Result<()> {
        if self.pending_len == 0 {
            return Ok(());
        }
        let result = fifodir::publish(eventdir, &self.pending[..self.pending_len]);
        self.pending_len = 0;
        result.map(|_| ())
    }

    /// supervise is exiting: records `x` and publishes it with whatever is waiting.
    pub fn exit(&mut self, eventdir: &Path) -> Option<io::Error> {
        let mut changes = Changes::default();
        changes.push(Event::Exit, self.supervise_pid, Tai64n::now());
        let error = self.journal_all(&changes);
        self.publish(eventdir).err().or(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::status::Extension;

    fn snap(pid: u32, state: State) -> Status {
        Status {
            when: Tai64n::from_unix(1, 0),
            pid,
            paused: false,
            want: Want::Up,
            ext: Some(Extension {
                state,
                backoff_cause: BackoffCause::None,
                failures: 0,
                restarts: 0,
                last_exit: Some(256),
                backoff_until: (state == State::Backoff).then(|| Tai64n::from_unix(9, 0)),
                ready_at: None,
                seq: 0,
            }),
        }
    }

    fn letters(prev: Option<&Status>, next: &Status) -> String {
        String::from_utf8(between(prev, next, 1, Tai64n::from_unix(5, 0)).letters()).expect("ascii")
    }

    #[test]
    fn down_and_backoff_say_why() {
        let cause = |prev: &Status, next: &Status, letter: u8| {
            between(Some(prev), next, 1, Tai64n::from_unix(5, 0))
                .iter()
                .find(|r| r.letter == letter)
                .map(|r| r.cause)
        };
        let up = snap(10, State::Up);
        let down = snap(0, State::Down);
        // A crash of a run wanted up: nothing asked for it.
        assert_eq!(cause(&up, &snap(11, State::Up), b'd'), Some(Cause::None));
        // svc -d: stopping, then the death.
        let mut stopping = snap(10, State::Stopping);
        stopping.want = Want::Down;
        assert_eq!(cause(&stopping, &down, b'd'), Some(Cause::Stopped));
        // svc -o: the run ends on its own, not to be restarted.
        let mut once = up;
        once.want = Want::Nothing;
        assert_eq!(cause(&once, &down, b'd'), Some(Cause::Unwanted));
        let mut quick = snap(0, State::Backoff);
        let mut failed = quick;
        if let (Some(q), Some(f)) = (&mut quick.ext, &mut failed.ext) {
            q.backoff_cause = BackoffCause::QuickExit;
            f.backoff_cause = BackoffCause::StartFailed;
        }
        assert_eq!(cause(&up, &quick, b'b'), Some(Cause::QuickExit));
        assert_eq!(cause(&down, &failed, b'b'), Some(Cause::StartFailed));
        assert_eq!(cause(&down, &up, b'u'), Some(Cause::None));
    }

    #[test]
    fn transitions_give_the_documented_letters() {
        use State::*;
        let up_a = snap(10, Up);
        let up_b = snap(11, Up);
        let down = snap(0, Down);
        let finishing = snap(0, Finishing);
        let backoff = snap(0, Backoff);
        let stopping = snap(10, Stopping);
        let mut paused = up_a;
        paused.paused = true;
        let table: &[(Option<&Status>, &Status, &str)] = &[
            (None, &down, "s"),
            (None, &up_a, "su"),
            (Some(&down), &up_a, "u"),
            (Some(&up_a), &up_b, "dDu"),
            (Some(&up_a), &finishing, "df"),
            (Some(&finishing), &up_b, "Du"),
            (Some(&finishing), &down, "D"),
            (Some(&up_a), &backoff, "dDb"),
            (Some(&backoff), &up_b, "u"),
            (Some(&up_a), &stopping, ""),
            (Some(&stopping), &down, "dD"),
            (Some(&up_a), &paused, "p"),
            (Some(&paused), &up_a, "c"),
            (Some(&up_a), &up_a, ""),
        ];
        for (prev, next, want) in table {
            assert_eq!(&letters(*prev, next), want, "{prev:?} -> {next:?}");
        }
    }

    #[test]
    fn down_carries_the_dead_pid_and_status_backoff_its_end() {
        let changes = between(
            Some(&snap(10, State::Up)),
            &snap(0, State::Backoff),
            1,
            Tai64n::from_unix(5, 0),
        );
        let all: Vec<&Record> = changes.iter().collect();
        assert_eq!((all[0].pid, all[0].status), (10, Some(256)));
        assert_eq!(all[2].until, Some(Tai64n::from_unix(9, 0)));
    }

    fn service() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        dir
    }

    #[test]
    fn readiness_is_recorded_with_the_status_that_shows_it() {
        let dir = service();
        let (mut a, error) = Announcer::open(dir.path().as_os_str(), None);
        assert!(error.is_none());
        let mut s = snap(0, State::Down);
        a.record(&mut s);
        // A run that notifies: up, shown starting (the table's word), not ready.
        let mut s = snap(10, State::Starting);
        a.record(&mut s);
        let ext = s.ext.expect("ext");
        assert_eq!((ext.ready_at, ext.seq), (None, 2));
        a.note(Event::Ready, 10);
        let mut s = snap(10, State::Up);
        a.record(&mut s);
        let ext = s.ext.expect("ext");
        assert!(ext.ready_at.is_some());
        assert_eq!(ext.seq, 3);
        assert_eq!(&a.pending[..a.pending_len], b"suU");
        // A new run without a protocol: ready in the status that shows it up.
        a.note(Event::Ready, 11);
        let mut s = snap(11, State::Up);
        a.record(&mut s);
        assert_eq!(&a.pending[3..a.pending_len], b"dDuU");
        let recent: Vec<(u64, u8)> = a.recent().map(|r| (r.seq, r.letter)).collect();
        assert_eq!(recent, [(4, b'd'), (5, b'D'), (6, b'u'), (7, b'U')]);
        let ready_at = s.ext.and_then(|e| e.ready_at);
        assert_eq!(a.recent().last().map(|r| Some(r.time)), Some(ready_at));
        let journal = vigil_proto::journal::read(dir.path().as_os_str()).expect("journal");
        assert_eq!(journal.len(), 7);
        assert_eq!(journal.last().map(|r| (r.seq, r.letter)), Some((7, b'U')));
        // Gone: not ready any more.
        let mut s = snap(0, State::Down);
        a.record(&mut s);
        assert_eq!(s.ext.and_then(|e| e.ready_at), None);
    }

    #[test]
    fn numbering_goes_on_after_a_restart_and_publish_clears() {
        let dir = service();
        let os = dir.path().as_os_str();
        let (mut a, _) = Announcer::open(os, None);
        let mut s = snap(0, State::Down);
        a.record(&mut s);
        let eventdir = dir.path().join(fifodir::EVENT);
        a.publish(&eventdir).expect("publish");
        assert_eq!(a.pending_len, 0);
        assert!(a.exit(&eventdir).is_none());
        let (b, _) = Announcer::open(os, None);
        assert_eq!(b.last_seq(), 2);
        // A journal removed: numbering goes on from the status file's.
        std::fs::remove_file(dir.path().join(vigil_proto::journal::EVENTS)).expect("rm");
        let mut s = snap(0, State::Down);
        if let Some(ext) = &mut s.ext {
            ext.seq = 40;
        }
        let (c, _) = Announcer::open(os, Some(&s));
        assert_eq!(c.last_seq(), 40);
    }
}
