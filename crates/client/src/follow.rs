//! Following a service's events: a FIFO in `DIR/event/` to wake on, the journal to read.
//!
//! The FIFO's letters only wake the follower; what happened is read from the journal, after
//! the last sequence number seen. So a letter dropped for a full FIFO loses nothing, a late
//! follower replays what the journal keeps, and a supervise that restarts (same FIFO
//! directory, same journal, numbering continued) is followed without a gap.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use vigil_proto::exit::LastExit;
use vigil_proto::journal::{self, Record};
use vigil_proto::rfc3339;

use crate::json::Value;
use crate::subscription::Subscription;

/// One thing a follower learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event, in sequence order.
    Event(Record),
    /// Events that were wanted but are no longer in the journal (it keeps the last
    /// [`journal::SLOTS`]): sequence numbers `first..=last`.
    Lost {
        /// First missing sequence number.
        first: u64,
        /// Last missing sequence number.
        last: u64,
    },
}

impl Item {
    /// The item as one JSON object, as `svwatch` prints it (docs/man/svwatch.md):
    /// `{"service":..,"event":"down","letter":"d","seq":..,"pid":..,"status":..,"exitcode":..,
    /// "time":..}`, or `{"service":..,"event":"lost","first":..,"last":..}`. `exitcode` or
    /// `signal` come with a wait status that says which; `until` with a backoff; `kind` and
    /// `value` with a limit breach (`"kind":"memory","value":BYTES`).
    ///
    /// ```
    /// use std::ffi::OsStr;
    /// use vigil_client::follow::Item;
    ///
    /// let mut line = Vec::new();
    /// Item::Lost { first: 3, last: 5 }.json(OsStr::new("web")).write(&mut line);
    /// assert_eq!(line, br#"{"service":"web","event":"lost","first":3,"last":5}"#);
    /// ```
    pub fn json<'a>(&'a self, service: &'a OsStr) -> Value<'a> {
        use std::os::unix::ffi::OsStrExt;
        let mut fields = vec![("service", Value::Str(service.as_bytes()))];
        let r = match self {
            Item::Lost { first, last } => {
                fields.push(("event", Value::Str(b"lost")));
                fields.push(("first", Value::Unsigned(*first)));
                fields.push(("last", Value::Unsigned(*last)));
                return Value::Object(fields);
            }
            Item::Event(r) => r,
        };
        let word = r.event().map_or("unknown", |e| e.word());
        fields.push(("event", Value::Str(word.as_bytes())));
        fields.push(("letter", Value::Str(std::slice::from_ref(&r.letter))));
        fields.push(("seq", Value::Unsigned(r.seq)));
        let pid = (r.pid != 0).then_some(u64::from(r.pid));
        fields.push(("pid", Value::or_null(pid, Value::Unsigned)));
        fields.push((
            "status",
            Value::or_null(r.status, |s| Value::Signed(i64::from(s))),
        ));
        match r.status.map(LastExit::from_wait_status) {
            Some(LastExit::Code(code)) => {
                fields.push(("exitcode", Value::Unsigned(u64::from(code))))
            }
            Some(LastExit::Signal(signal)) => {
                fields.push(("signal", Value::Signed(i64::from(signal))))
            }
            Some(LastExit::Other(_)) | None => {}
        }
        fields.push(("time", Value::String(rfc3339::format(&r.time))));
        if let Some(until) = r.until {
            fields.push(("until", Value::String(rfc3339::format(&until))));
        }
        // NEW (issue 15 item 9): a limit event names the limit and what was measured.
        if let Some(limit) = r.limit {
            fields.push(("kind", Value::Str(limit.kind.word().as_bytes())));
            fields.push(("value", Value::Unsigned(limit.value)));
        }
        Value::Object(fields)
    }
}

/// A subscription to one service's events.
#[derive(Debug)]
pub struct Follower {
    dir: OsString,
    subscription: Subscription,
    last_seq: u64,
    letters: Vec<u8>,
}

impl Follower {
    /// Subscribes to `dir`'s events. With `since`, the events after that sequence number
    /// that the journal still keeps come first; without, only events from now on.
    ///
    /// The FIFO is made before the journal is read, so no event falls between the two.
    ///
    /// ```
    /// use vigil_client::follow::{Follower, Item};
    /// use vigil_proto::event::Event;
    /// use vigil_proto::journal::{Journal, Record};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().as_os_str();
    /// # std::fs::create_dir(tmp.path().join("supervise"))?;
    /// // Two events journalled before the follower came: `since` 0 replays both.
    /// let mut journal = Journal::open(dir)?;
    /// journal.append(Record::new(Event::Start, 7)).1?;
    /// journal.append(Record::new(Event::Up, 8)).1?;
    /// let mut follower = Follower::new(dir, Some(0))?;
    /// let items = follower.take()?;
    /// assert!(matches!(&items[..], [Item::Event(s), Item::Event(u)] if s.seq == 1 && u.seq == 2));
    /// assert_eq!(follower.last_seq(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(dir: &OsStr, since: Option<u64>) -> io::Result<Follower> {
        let subscription = Subscription::new(dir)?;
        let last_seq = match since {
            Some(seq) => seq,
            None => journal::read(dir)?.last().map_or(0, |r| r.seq),
        };
        Ok(Follower {
            dir: dir.to_os_string(),
            subscription,
            last_seq,
            letters: Vec::new(),
        })
    }

    /// The service directory, as given.
    pub fn dir(&self) -> &OsStr {
        &self.dir
    }

    /// The FIFO's read end: readable when supervise published something.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.subscription.fd()
    }

    /// The sequence number of the last event returned (or the starting point).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// What happened since the last call, without blocking: drains the FIFO, then reads the
    /// journal after the last sequence number seen.
    ///
    /// If the journal's numbers went backwards (the `supervise/` directory was made anew),
    /// the follower starts over at its beginning.
    pub fn take(&mut self) -> io::Result<Vec<Item>> {
        self.letters.clear();
        self.subscription.drain(&mut self.letters)?;
        let all = journal::read(&self.dir)?;
        let newest = all.last().map_or(0, |r| r.seq);
        if newest != 0 && newest < self.last_seq {
            self.last_seq = 0;
        }
        let since = journal::since(all, self.last_seq);
        let mut items = Vec::with_capacity(since.records.len() + 1);
        if let Some((first, last)) = since.lost {
            items.push(Item::Lost { first, last });
        }
        if let Some(r) = since.records.last() {
            self.last_seq = r.seq;
        }
        items.extend(since.records.into_iter().map(Item::Event));
        Ok(items)
    }

    /// Blocks until something happened or `deadline` passed (then an empty list).
    pub fn next(&mut self, deadline: Option<Instant>) -> io::Result<Vec<Item>> {
        loop {
            let items = self.take()?;
            if !items.is_empty() {
                return Ok(items);
            }
            if wait_readable(&[self.fd()], deadline)?.is_empty() {
                return Ok(Vec::new());
            }
        }
    }
}

/// Blocks in one poll until one of `fds` is readable (or hung up) or `deadline` passes;
/// returns the indexes of the ready ones, empty on timeout. Signals that interrupt the poll
/// restart it with the time left.
///
/// ```
/// use std::os::fd::AsFd;
/// use std::time::{Duration, Instant};
///
/// # fn main() -> std::io::Result<()> {
/// let (reader, _writer) = std::io::pipe()?;
/// let soon = Some(Instant::now() + Duration::from_millis(10));
/// assert!(vigil_client::follow::wait_readable(&[reader.as_fd()], soon)?.is_empty());
/// # Ok(())
/// # }
/// ```
pub fn wait_readable(fds: &[BorrowedFd<'_>], deadline: Option<Instant>) -> io::Result<Vec<usize>> {
    loop {
        let timeout = PollTimeout::try_from(vigil_proc::wait::poll_timeout(deadline))
            .unwrap_or(PollTimeout::NONE);
        let mut polled: Vec<PollFd<'_>> = fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        match nix::poll::poll(&mut polled, timeout) {
            Ok(0) => {
                if deadline.is_some_and(|at| Instant::now() >= at) {
                    return Ok(Vec::new());
                }
            }
            Ok(_) => {
                return Ok(polled
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect())
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vigil_proto::event::Event;
    use vigil_proto::fifodir;
    use vigil_proto::journal::Journal;

    fn service() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        dir
    }

    /// What supervise does per event: journal first, then the letter.
    fn announce(dir: &tempfile::TempDir, journal: &mut Journal, event: Event) {
        journal.append(Record::new(event, 7)).1.expect("journal");
        fifodir::publish(&dir.path().join(fifodir::EVENT), &[event.letter()]).expect("publish");
    }

    fn letters(items: &[Item]) -> Vec<u8> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Event(r) => Some(r.letter),
                Item::Lost { .. } => None,
            })
            .collect()
    }

    #[test]
    fn follower_sees_new_events_in_order_and_times_out_quietly() {
        let dir = service();
        let os = dir.path().as_os_str();
        let mut journal = Journal::open(os).expect("journal");
        announce(&dir, &mut journal, Event::Start);
        let mut follower = Follower::new(os, None).expect("follow");
        assert_eq!(follower.last_seq(), 1);
        announce(&dir, &mut journal, Event::Up);
        announce(&dir, &mut journal, Event::Ready);
        let items = follower.next(None).expect("next");
        assert_eq!(letters(&items), b"uU");
        assert_eq!(follower.last_seq(), 3);
        let start = Instant::now();
        let items = follower
            .next(Some(Instant::now() + Duration::from_millis(50)))
            .expect("next");
        assert!(items.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn since_replays_and_reports_what_the_journal_no_longer_keeps() {
        let dir = service();
        let os = dir.path().as_os_str();
        let mut journal = Journal::open(os).expect("journal");
        for _ in 0..journal::SLOTS + 5 {
            announce(&dir, &mut journal, Event::Up);
        }
        let mut follower = Follower::new(os, Some(2)).expect("follow");
        let items = follower.take().expect("take");
        assert_eq!(items[0], Item::Lost { first: 3, last: 5 });
        assert_eq!(items.len(), 1 + journal::SLOTS as usize);
        assert_eq!(follower.last_seq(), journal::SLOTS + 5);
    }

    #[test]
    fn a_new_journal_starts_the_follower_over() {
        let dir = service();
        let os = dir.path().as_os_str();
        let mut journal = Journal::open(os).expect("journal");
        for _ in 0..5 {
            announce(&dir, &mut journal, Event::Up);
        }
        let mut follower = Follower::new(os, None).expect("follow");
        std::fs::remove_file(dir.path().join(journal::EVENTS)).expect("rm");
        let mut journal = Journal::open(os).expect("journal");
        announce(&dir, &mut journal, Event::Start);
        let items = follower.next(None).expect("next");
        assert_eq!(letters(&items), b"s");
    }
}
