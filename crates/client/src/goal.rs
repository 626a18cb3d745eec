//! Waiting until services reach a state, without polling: what `svwait` does, as a library.
//!
//! Each service gets a [`Follower`] (a FIFO in `DIR/event/`, then the journal); the status file
//! says whether the state is reached already; after that the state counts as reached when its
//! event happens (so waiting for `down` returns after a crash even if the run restarted at
//! once). One poll sleeps on all the FIFOs.

use std::ffi::OsStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use crate::follow::{self, Follower, Item};
use vigil_proto::event::Event;
use vigil_proto::journal;
use vigil_proto::status::{self, State, Status};

/// A state to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// `run` is running (event `u`).
    Up,
    /// Running and ready (event `U`).
    Ready,
    /// `run` is not running (event `d`).
    Down,
    /// Not running and `finish` done (event `D`).
    ReallyDown,
    /// NEW: a run started after the wait began (event `u` after now), whatever the status
    /// said then: what `svc -t -Wr` and `svwait -r` wait for after a restart.
    Restarted,
    /// NEW: a run started after the wait began and is ready (event `U` after such a `u`).
    RestartedReady,
}

impl Goal {
    /// The event that reaches the goal.
    pub fn event(self) -> Event {
        match self {
            Goal::Up => Event::Up,
            Goal::Ready => Event::Ready,
            Goal::Down => Event::Down,
            Goal::ReallyDown => Event::ReallyDown,
            Goal::Restarted => Event::Up,
            Goal::RestartedReady => Event::Ready,
        }
    }

    /// Whether only events after the wait began count (never the status at its start).
    pub fn after_now(self) -> bool {
        matches!(self, Goal::Restarted | Goal::RestartedReady)
    }

    /// Whether a status says the goal is reached. A daemontools status file (no extension)
    /// knows only the pid: ready counts as up, really down as down. A status never reaches
    /// [`Goal::Restarted`] or [`Goal::RestartedReady`]: only an event after now does.
    ///
    /// ```
    /// use vigil_client::goal::Goal;
    /// use vigil_proto::status::{Status, Want};
    /// use vigil_proto::tai::Tai64n;
    ///
    /// // daemontools' supervise writes no extension: a pid means up, and ready.
    /// let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// assert!(Goal::Up.reached_by(&up) && Goal::Ready.reached_by(&up));
    /// assert!(!Goal::Down.reached_by(&up));
    /// ```
    pub fn reached_by(self, status: &Status) -> bool {
        if self.after_now() {
            return false;
        }
        let Some(ext) = status.ext else {
            return (status.pid != 0) == matches!(self, Goal::Up | Goal::Ready);
        };
        let running = matches!(ext.state, State::Starting | State::Up | State::Stopping);
        match self {
            Goal::Up => running,
            Goal::Ready => running && ext.state != State::Starting && ext.ready_at.is_some(),
            Goal::Down => !running,
            Goal::ReallyDown => matches!(ext.state, State::Down | State::Backoff),
            Goal::Restarted | Goal::RestartedReady => false,
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The goal was reached (by all, or by one, as asked).
    Reached,
    /// The deadline passed first.
    TimedOut,
    /// The supervise of this service (its index) exited before it got there (event `x`).
    SuperviseGone(usize),
    /// The `stop` descriptor of [`wait_or_stop`] became readable (a signal, for svwait).
    Stopped,
}

/// Which of [`wait`]'s steps failed, with the service's index, for messages.
#[derive(Debug)]
pub enum WaitError {
    /// Making the FIFO in `DIR/event/`.
    Subscribe(usize, io::Error),
    /// Reading `DIR/supervise/status`.
    Status(usize, io::Error),
    /// Reading `DIR/supervise/events`.
    Journal(usize, io::Error),
    /// The poll itself.
    Poll(io::Error),
}

impl From<WaitError> for io::Error {
    fn from(e: WaitError) -> io::Error {
        match e {
            WaitError::Subscribe(_, e)
            | WaitError::Status(_, e)
            | WaitError::Journal(_, e)
            | WaitError::Poll(e) => e,
        }
    }
}

struct Target {
    follower: Follower,
    reached: bool,
    /// [`Goal::RestartedReady`]: a run started after now (its `U` then counts).
    restarted: bool,
    /// Its supervise exited and has not started again.
    gone: bool,
    /// The sequence number of a goal event the journal holds but the status file may not
    /// show yet: supervise journals an event, then writes the status, then the letters. The
    /// goal counts once the status shows it, so that what a caller reads next (svstat,
    /// vigild's reply) agrees with the wait.
    settle: Option<u64>,
}

/// The status of `dir`, `None` when there is none yet (no supervise ran there) or it does not
/// decode (then the events decide).
fn status_of(dir: &OsStr) -> io::Result<Option<Status>> {
    match status::read(dir) {
        Ok(bytes) => Ok(Status::decode(&bytes).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Target {
    fn new(i: usize, dir: &OsStr, goal: Goal) -> Result<Target, WaitError> {
        let follower = Follower::new(dir, None).map_err(|e| WaitError::Subscribe(i, e))?;
        let status = status_of(dir).map_err(|e| WaitError::Status(i, e))?;
        let reached = status.is_some_and(|s| goal.reached_by(&s));
        // supervise journals an event before it writes the status that shows it: the
        // follower may start after an event the status read just now does not show yet (its
        // letter, when it comes, brings nothing new). The events after the status's own
        // sequence number are what the status misses.
        // (An after-now goal counts no event from before the subscription.)
        let behind = status
            .and_then(|s| s.ext)
            .map(|e| e.seq)
            .filter(|_| !goal.after_now());
        let mut settle = None;
        if let Some(seq) = behind.filter(|seq| !reached && *seq < follower.last_seq()) {
            let missed = journal::read_since(dir, seq).map_err(|e| WaitError::Journal(i, e))?;
            settle = missed
                .records
                .iter()
                .filter(|r| r.event() == Some(goal.event()))
                .map(|r| r.seq)
                .max();
        }
        let mut target = Target {
            follower,
            reached,
            restarted: false,
            gone: false,
            settle,
        };
        target.check_settle(i)?;
        Ok(target)
    }

    /// Counts the goal event waiting to settle once the status file shows it (or shows no
    /// event numbers at all).
    fn check_settle(&mut self, i: usize) -> Result<(), WaitError> {
        let Some(seq) = self.settle else {
            return Ok(());
        };
        let status = status_of(self.follower.dir()).map_err(|e| WaitError::Status(i, e))?;
        if status.and_then(|s| s.ext).is_none_or(|e| e.seq >= seq) {
            self.reached = true;
            self.settle = None;
        }
        Ok(())
    }

    fn update(&mut self, i: usize, goal: Goal) -> Result<(), WaitError> {
        let items = self.follower.take().map_err(|e| WaitError::Journal(i, e))?;
        let mut lost = false;
        let mut hit = None;
        for item in items {
            match item {
                Item::Event(record) => match record.event() {
                    Some(Event::Up) if goal == Goal::RestartedReady => self.restarted = true,
                    Some(Event::Ready) if goal == Goal::RestartedReady && self.restarted => {
                        hit = Some(record.seq)
                    }
                    Some(Event::Ready) if goal == Goal::RestartedReady => {}
                    Some(e) if e == goal.event() => hit = Some(record.seq),
                    Some(Event::Exit) => self.gone = true,
                    Some(Event::Start) => self.gone = false,
                    _ => {}
                },
                Item::Lost { .. } => lost = true,
            }
        }
        if let Some(seq) = hit {
            self.settle = Some(self.settle.map_or(seq, |s| s.max(seq)));
        }
        self.check_settle(i)?;
        if lost && !self.reached {
            // Events after now were dropped from the journal: more than it keeps happened
            // since the wait began, a start among them, so an after-now goal is judged as
            // its plain one.
            let now_goal = match goal {
                Goal::Restarted => Goal::Up,
                Goal::RestartedReady => Goal::Ready,
                other => other,
            };
            let dir = self.follower.dir();
            self.reached = status_of(dir)
                .map_err(|e| WaitError::Status(i, e))?
                .is_some_and(|s| now_goal.reached_by(&s));
        }
        Ok(())
    }
}

/// Waits until all of `dirs` (or, with `all` false, one of them) reach `goal`, or `deadline`
/// passes. A supervise need not run yet: one may start. With `all`, the wait ends with
/// [`Outcome::SuperviseGone`] as soon as the supervise of a service not there yet exits;
/// without, once that happened to every service not there yet.
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_client::goal::{self, Goal, Outcome};
///
/// # fn main() -> std::io::Result<()> {
/// # let tmp = tempfile::tempdir()?;
/// // No supervise ever ran on these: nothing happens before the deadline.
/// let dirs = [tmp.path().join("a"), tmp.path().join("b")];
/// # for d in &dirs { std::fs::create_dir(d)?; }
/// let deadline = Some(Instant::now() + Duration::from_millis(20));
/// assert_eq!(goal::wait(&dirs, Goal::Up, true, deadline)?, Outcome::TimedOut);
/// # Ok(())
/// # }
/// ```
pub fn wait<D: AsRef<OsStr>>(
    dirs: &[D],
    goal: Goal,
    all: bool,
    deadline: Option<Instant>,
) -> Result<Outcome, WaitError> {
    wait_or_stop(dirs, goal, all, deadline, None)
}

/// [`wait`], which also ends, with [`Outcome::Stopped`], when `stop` becomes readable (svwait
/// passes its signalfd, so a signal removes the FIFOs on the way out).
pub fn wait_or_stop<D: AsRef<OsStr>>(
    dirs: &[D],
    goal: Goal,
    all: bool,
    deadline: Option<Instant>,
    stop: Option<BorrowedFd<'_>>,
) -> Result<Outcome, WaitError> {
    let mut waiter = Waiter::new(goal);
    for dir in dirs {
        waiter.add(dir.as_ref())?;
    }
    waiter.wait(all, deadline, stop)
}

/// A wait in two steps, subscribe then wait, so that something can be done in between
/// without missing what it causes: `svc -t -Wr` subscribes to every service, sends `t`, then
/// waits, and a restart quicker than svc cannot fall between the write and the subscription.
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_client::goal::{Goal, Outcome, Waiter};
///
/// # fn main() -> std::io::Result<()> {
/// # let tmp = tempfile::tempdir()?;
/// let mut waiter = Waiter::new(Goal::Restarted);
/// waiter.add(tmp.path().as_os_str())?; // its FIFO is in DIR/event/ from now on
/// // ... send the control bytes here ...
/// let soon = Some(Instant::now() + Duration::from_millis(20));
/// assert_eq!(waiter.wait(true, soon, None)?, Outcome::TimedOut); // nothing restarted it
/// # Ok(())
/// # }
/// ```
pub struct Waiter {
    goal: Goal,
    targets: Vec<Target>,
}

impl Waiter {
    /// A wait for `goal` on no service yet.
    pub fn new(goal: Goal) -> Waiter {
        Waiter {
            goal,
            targets: Vec::new(),
        }
    }

    /// Subscribes to `dir` (a FIFO in `dir/event/`) and reads its status, which may say the
    /// goal is reached already. Its index in [`WaitError`] and [`Outcome::SuperviseGone`] is
    /// the number of services added before it.
    pub fn add(&mut self, dir: &OsStr) -> Result<(), WaitError> {
        let target = Target::new(self.targets.len(), dir, self.goal)?;
        self.targets.push(target);
        Ok(())
    }

    /// Unsubscribes from the service added last (its FIFO is removed), when what was to be
    /// done to it failed.
    pub fn pop(&mut self) {
        self.targets.pop();
    }

    /// How many services are waited on.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether no service is waited on.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Waits until all the services (or, with `all` false, one of them) reach the goal,
    /// `deadline` passes, or `stop` becomes readable. A supervise need not run yet: one may
    /// start. With `all`, the wait ends with [`Outcome::SuperviseGone`] as soon as the
    /// supervise of a service not there yet exits; without, once that happened to every
    /// service not there yet.
    pub fn wait(
        &mut self,
        all: bool,
        deadline: Option<Instant>,
        stop: Option<BorrowedFd<'_>>,
    ) -> Result<Outcome, WaitError> {
        let goal = self.goal;
        let targets = &mut self.targets;
        loop {
            let reached = targets.iter().filter(|t| t.reached).count();
            if (all && reached == targets.len()) || (!all && reached > 0) {
                return Ok(Outcome::Reached);
            }
            let mut waiting = targets.iter().enumerate().filter(|(_, t)| !t.reached);
            let gone = if all || waiting.clone().all(|(_, t)| t.gone) {
                waiting.find(|(_, t)| t.gone).map(|(i, _)| i)
            } else {
                None
            };
            if let Some(i) = gone {
                return Ok(Outcome::SuperviseGone(i));
            }
            // The stop descriptor, if any, goes last: the indexes of the targets stay theirs.
            let fds: Vec<_> = targets
                .iter()
                .map(|t| t.follower.fd())
                .chain(stop)
                .collect();
            let ready = follow::wait_readable(&fds, deadline).map_err(WaitError::Poll)?;
            if ready.is_empty() {
                return Ok(Outcome::TimedOut);
            }
            for i in ready {
                if i == targets.len() {
                    return Ok(Outcome::Stopped);
                }
                targets[i].update(i, goal)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::status::{BackoffCause, Extension, Want};
    use vigil_proto::tai::Tai64n;

    fn status(pid: u32, state: Option<State>, ready: bool) -> Status {
        Status {
            when: Tai64n::from_unix(1, 0),
            pid,
            paused: false,
            want: Want::Up,
            ext: state.map(|state| Extension {
                state,
                backoff_cause: BackoffCause::None,
                failures: 0,
                restarts: 0,
                last_exit: None,
                backoff_until: None,
                ready_at: ready.then(|| Tai64n::from_unix(2, 0)),
                seq: 0,
            }),
        }
    }

    #[test]
    fn goals_by_status() {
        let starting = status(5, Some(State::Starting), false);
        let ready = status(5, Some(State::Up), true);
        let finishing = status(0, Some(State::Finishing), false);
        let down = status(0, Some(State::Down), false);
        assert!(Goal::Up.reached_by(&starting) && !Goal::Ready.reached_by(&starting));
        assert!(Goal::Ready.reached_by(&ready));
        assert!(Goal::Down.reached_by(&finishing) && !Goal::ReallyDown.reached_by(&finishing));
        assert!(Goal::ReallyDown.reached_by(&down));
        // daemontools' supervise: only the pid.
        assert!(Goal::Ready.reached_by(&status(5, None, false)));
        assert!(Goal::ReallyDown.reached_by(&status(0, None, false)));
        assert!(!Goal::Down.reached_by(&status(5, None, false)));
    }

    #[test]
    fn a_wait_times_out_on_a_quiet_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outcome = wait(
            &[dir.path()],
            Goal::Up,
            true,
            Some(Instant::now() + std::time::Duration::from_millis(30)),
        );
        assert_eq!(outcome.ok(), Some(Outcome::TimedOut));
    }

    /// supervise journals `U`, then writes the status that shows it, then the letters: a
    /// svwait that starts in between reads the journal with `U` in it and the status without.
    /// It must still see readiness when the status shows it (it used to wait for a letter that
    /// brought nothing new: timed out), but not before (vigild's reply to `?wait=`, or a
    /// svstat right after svwait, would show the old state).
    #[test]
    fn an_event_journaled_before_its_status_is_written_counts_once_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        let mut journal = journal::Journal::open(os).expect("journal");
        journal
            .append(journal::Record::new(Event::Start, 1))
            .1
            .expect("s");
        let (up, r) = journal.append(journal::Record::new(Event::Up, 5));
        r.expect("u");
        let mut starting = status(5, Some(State::Starting), false);
        if let Some(ext) = &mut starting.ext {
            ext.seq = up;
        }
        status::write(os, &starting).expect("status");
        let (ready_seq, r) = journal.append(journal::Record::new(Event::Ready, 5));
        r.expect("U");
        let soon = || Some(Instant::now() + std::time::Duration::from_millis(50));
        let mut waiter = Waiter::new(Goal::Ready);
        waiter.add(os).expect("add");
        // The status does not show it yet: not reached.
        assert_eq!(
            waiter.wait(true, soon(), None).ok(),
            Some(Outcome::TimedOut)
        );
        // The status is written, then the letter: reached.
        let mut ready = status(5, Some(State::Up), true);
        if let Some(ext) = &mut ready.ext {
            ext.seq = ready_seq;
        }
        status::write(os, &ready).expect("status");
        vigil_proto::fifodir::publish(&dir.path().join("event"), b"U").expect("publish");
        assert_eq!(waiter.wait(true, soon(), None).ok(), Some(Outcome::Reached));
        // A wait that starts after the status was written sees it at once.
        let outcome = wait(&[os], Goal::Ready, true, soon());
        assert_eq!(outcome.ok(), Some(Outcome::Reached));
        // Only the goal's own event counts: nothing says this run went down.
        let outcome = wait(&[os], Goal::Down, true, soon());
        assert_eq!(outcome.ok(), Some(Outcome::TimedOut));
    }

    /// After-now goals: nothing before the subscription counts, neither the status nor the
    /// journal; a `U` counts for RestartedReady only after a `u` that came after now.
    #[test]
    fn after_now_goals_count_only_new_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        std::fs::create_dir(dir.path().join("supervise")).expect("mkdir");
        let mut journal = journal::Journal::open(os).expect("journal");
        let (seq, r) = journal.append(journal::Record::new(Event::Up, 5));
        r.expect("u");
        let mut up = status(5, Some(State::Up), true);
        if let Some(ext) = &mut up.ext {
            ext.seq = seq;
        }
        status::write(os, &up).expect("status");
        let soon = || Some(Instant::now() + std::time::Duration::from_millis(50));
        for goal in [Goal::Restarted, Goal::RestartedReady] {
            assert!(!goal.reached_by(&up));
            let mut waiter = Waiter::new(goal);
            waiter.add(os).expect("add");
            assert_eq!(
                waiter.wait(true, soon(), None).ok(),
                Some(Outcome::TimedOut)
            );
        }
        // As supervise does: the journal, then the status that shows the event, then the
        // letter.
        let publish = |journal: &mut journal::Journal, event: Event| {
            let (seq, r) = journal.append(journal::Record::new(event, 6));
            r.expect("append");
            let mut now = up;
            if let Some(ext) = &mut now.ext {
                ext.seq = seq;
            }
            status::write(os, &now).expect("status");
            vigil_proto::fifodir::publish(&dir.path().join("event"), &[event.letter()])
                .expect("publish");
        };
        // A U alone (readiness of the old run) is not a restart.
        let mut ready = Waiter::new(Goal::RestartedReady);
        ready.add(os).expect("add");
        let mut restarted = Waiter::new(Goal::Restarted);
        restarted.add(os).expect("add");
        publish(&mut journal, Event::Ready);
        assert_eq!(ready.wait(true, soon(), None).ok(), Some(Outcome::TimedOut));
        publish(&mut journal, Event::Down);
        publish(&mut journal, Event::Up);
        assert_eq!(
            restarted.wait(true, soon(), None).ok(),
            Some(Outcome::Reached)
        );
        assert_eq!(ready.wait(true, soon(), None).ok(), Some(Outcome::TimedOut));
        publish(&mut journal, Event::Ready);
        assert_eq!(ready.wait(true, soon(), None).ok(), Some(Outcome::Reached));
    }
}
