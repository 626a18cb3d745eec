//! svwait: blocks until one or all services reach a state (s6-svwait's interface), without
//! polling: it sleeps on its own FIFO in each `DIR/event/` and reads the journal when woken.
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vigil_proto::event::Event;
use vigil_proto::follow::{self, Follower, Item};
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};
use vigil_proto::status::{self, State, Status};
use vigil_proto::{fifodir, journal, paths};

const USAGE: &str = "svwait [ -u | -U | -d | -D ] [ -a | -o ] [ -t timeout ] dir...";
/// s6-svwait: the timeout passed.
const EXIT_TIMEOUT: u8 = 99;
/// s6-svwait: a supervise exited while we waited on its service.
const EXIT_SUPERVISE_GONE: u8 = 102;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("svwait", run(&args))
}

/// The state waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// `-u`: `run` is running.
    Up,
    /// `-U`: running and ready.
    Ready,
    /// `-d`: `run` is not running.
    Down,
    /// `-D`: not running and `finish` done.
    ReallyDown,
}

impl Goal {
    /// The event that reaches the goal.
    fn event(self) -> Event {
        match self {
            Goal::Up => Event::Up,
            Goal::Ready => Event::Ready,
            Goal::Down => Event::Down,
            Goal::ReallyDown => Event::ReallyDown,
        }
    }

    /// Whether a status file says the goal is reached already. A daemontools status file
    /// (no extension) knows only the pid: ready counts as up, really down as down.
    fn reached_by(self, status: &Status) -> bool {
        let Some(ext) = status.ext else {
            return (status.pid != 0) == matches!(self, Goal::Up | Goal::Ready);
        };
        let running = matches!(ext.state, State::Starting | State::Up | State::Stopping);
        match self {
            Goal::Up => running,
            Goal::Ready => running && ext.state != State::Starting && ext.ready_at.is_some(),
            Goal::Down => !running,
            Goal::ReallyDown => matches!(ext.state, State::Down | State::Backoff),
        }
    }
}

struct Target {
    follower: Follower,
    reached: bool,
    /// Its supervise exited and has not started again.
    gone: bool,
}

fn status_of(dir: &OsStr) -> Result<Option<Status>, Fail> {
    match status::read(dir) {
        Ok(bytes) => Ok(Status::decode(&bytes).ok()),
        // No supervise has run there yet: nothing is reached; one may start.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Fail::unable(
            &e,
            &[b"read ", paths::join(dir, paths::STATUS).as_bytes()],
        )),
    }
}

impl Target {
    fn new(dir: &OsStr, goal: Goal) -> Result<Target, Fail> {
        let follower = Follower::new(dir, None).map_err(|e| {
            Fail::unable(
                &e,
                &[
                    b"subscribe to ",
                    paths::join(dir, fifodir::EVENT).as_bytes(),
                ],
            )
        })?;
        let reached = status_of(dir)?.is_some_and(|s| goal.reached_by(&s));
        Ok(Target {
            follower,
            reached,
            gone: false,
        })
    }

    /// Reads what happened since the last look.
    fn update(&mut self, goal: Goal) -> Result<(), Fail> {
        let dir = self.follower.dir().to_os_string();
        let items = self.follower.take().map_err(|e| {
            Fail::unable(
                &e,
                &[b"read ", paths::join(&dir, journal::EVENTS).as_bytes()],
            )
        })?;
        let mut lost = false;
        for item in items {
            match item {
                Item::Event(record) => match record.event() {
                    Some(e) if e == goal.event() => self.reached = true,
                    Some(Event::Exit) => self.gone = true,
                    Some(Event::Start) => self.gone = false,
                    _ => {}
                },
                Item::Lost { .. } => lost = true,
            }
        }
        if lost && !self.reached {
            self.reached = status_of(&dir)?.is_some_and(|s| goal.reached_by(&s));
        }
        Ok(())
    }
}

fn parse_timeout(arg: &OsStr) -> Result<Option<Duration>, Fail> {
    let ms: u64 = std::str::from_utf8(arg.as_bytes())
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Fail::usage(USAGE))?;
    // s6-svwait: -t 0 (the default) waits forever.
    Ok((ms != 0).then(|| Duration::from_millis(ms)))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut goal = Goal::Up;
    let mut all = true;
    let mut timeout = None;
    let mut opts = Getopt::new(args, "uUdDaot:");
    for opt in opts.by_ref() {
        match opt {
            Ok(Opt::Flag(b'u')) => goal = Goal::Up,
            Ok(Opt::Flag(b'U')) => goal = Goal::Ready,
            Ok(Opt::Flag(b'd')) => goal = Goal::Down,
            Ok(Opt::Flag(b'D')) => goal = Goal::ReallyDown,
            Ok(Opt::Flag(b'a')) => all = true,
            Ok(Opt::Flag(b'o')) => all = false,
            Ok(Opt::Arg(b't', ms)) => timeout = parse_timeout(ms)?,
            Ok(_) => return Err(Fail::usage(USAGE)),
            Err(problem) => {
                msg::write_line(&[&problem.line("svwait")]);
                return Err(Fail::usage(USAGE));
            }
        }
    }
    let dirs = opts.rest();
    if dirs.is_empty() {
        return Err(Fail::usage(USAGE));
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut targets = dirs
        .iter()
        .map(|dir| Target::new(dir, goal))
        .collect::<Result<Vec<_>, _>>()?;
    loop {
        let reached = targets.iter().filter(|t| t.reached).count();
        if (all && reached == targets.len()) || (!all && reached > 0) {
            return Ok(ExitCode::SUCCESS);
        }
        // -a: any supervise gone before its service got there; -o: all of them gone.
        let waiting: Vec<&Target> = targets.iter().filter(|t| !t.reached).collect();
        let gone = if all || waiting.iter().all(|t| t.gone) {
            waiting.iter().find(|t| t.gone)
        } else {
            None
        };
        if let Some(t) = gone {
            return Err(Fail::raw(
                msg::cat(&[b"fatal: supervise exited on ", t.follower.dir().as_bytes()]),
                EXIT_SUPERVISE_GONE,
            ));
        }
        let fds: Vec<_> = targets.iter().map(|t| t.follower.fd()).collect();
        let ready = follow::wait_readable(&fds, deadline)
            .map_err(|e| Fail::unable(&e, &[b"wait for events"]))?;
        if ready.is_empty() {
            return Err(Fail::raw("fatal: timed out", EXIT_TIMEOUT));
        }
        for i in ready {
            targets[i].update(goal)?;
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
    fn usage_errors() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(run(&args(&[])).map_err(|f| f.code), Err(100));
        assert_eq!(run(&args(&["-t", "x", "d"])).map_err(|f| f.code), Err(100));
        assert_eq!(run(&args(&["-z", "d"])).map_err(|f| f.code), Err(100));
        assert_eq!(parse_timeout(OsStr::new("0")), Ok(None));
    }
}
