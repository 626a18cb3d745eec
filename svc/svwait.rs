//! svwait: blocks until one or all services reach a state (s6-svwait's interface), without
//! polling: it sleeps on its own FIFO in each `DIR/event/` and reads the journal when woken.
#![forbid(unsafe_code)]
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vigil_client::goal::{self, Goal, Outcome, WaitError};
use vigil_client::scandir::is_service_dir;
use vigil_client::Service;
use vigil_proc::signals::Signals;
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};
use vigil_proto::{fifodir, journal, paths};

const USAGE: &str =
    "svwait [ -u | -U | -d | -D | -r | -R ] [ -a | -o ] [ -s ] [ -t timeout ] dir...";
/// s6-svwait: the timeout passed.
const EXIT_TIMEOUT: u8 = 99;
/// s6-svwait: a supervise exited while we waited on its service.
const EXIT_SUPERVISE_GONE: u8 = 102;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("svwait", run(&args))
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
    let mut supervise_may_start = false;
    let mut opts = Getopt::new(args, "uUdDrRaost:");
    for opt in opts.by_ref() {
        match opt {
            Ok(Opt::Flag(b'u')) => goal = Goal::Up,
            Ok(Opt::Flag(b'U')) => goal = Goal::Ready,
            Ok(Opt::Flag(b'd')) => goal = Goal::Down,
            Ok(Opt::Flag(b'D')) => goal = Goal::ReallyDown,
            Ok(Opt::Flag(b'r')) => goal = Goal::Restarted,
            Ok(Opt::Flag(b'R')) => goal = Goal::RestartedReady,
            Ok(Opt::Flag(b's')) => supervise_may_start = true,
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
    for dir in dirs {
        if !supervise_may_start {
            supervised(dir)?;
        } else if !is_service_dir(dir) {
            // Its FIFO goes into DIR/event/: never made in what is no service directory.
            return Err(Fail::fatal(&[
                b"unable to wait on ",
                dir.as_bytes(),
                b": not a service directory",
            ]));
        }
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let failed = |i: &usize, what: &[u8], tail: &str, e: &io::Error| {
        Fail::unable(e, &[what, paths::join(&dirs[*i], tail).as_bytes()])
    };
    // TERM, INT and HUP end the wait through the poll, so the FIFOs are removed; then the
    // signal is let through and svwait dies of it, as it would have.
    let mut signals = Signals::block(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
        .map_err(|e| Fail::unable(&e, &[b"block signals"]))?;
    // (the FIFOs are gone once wait_or_stop returns: its followers are dropped)
    match goal::wait_or_stop(dirs, goal, all, deadline, Some(signals.fd())) {
        Ok(Outcome::Stopped) => {
            // Let the signal through: svwait dies of it as it would have unblocked; should
            // it survive (a signal it does not die of), exit 111.
            signals.die_of_pending();
            Err(Fail::silent(msg::EXIT_FAILURE))
        }
        Ok(Outcome::Reached) => Ok(ExitCode::SUCCESS),
        Ok(Outcome::TimedOut) => Err(Fail::raw("fatal: timed out", EXIT_TIMEOUT)),
        Ok(Outcome::SuperviseGone(i)) => Err(Fail::raw(
            msg::cat(&[b"fatal: supervise exited on ", dirs[i].as_bytes()]),
            EXIT_SUPERVISE_GONE,
        )),
        Err(WaitError::Subscribe(i, e)) => Err(failed(&i, b"subscribe to ", fifodir::EVENT, &e)),
        Err(WaitError::Status(i, e)) => Err(failed(&i, b"read ", paths::STATUS, &e)),
        Err(WaitError::Journal(i, e)) => Err(failed(&i, b"read ", journal::EVENTS, &e)),
        Err(WaitError::Poll(e)) => Err(Fail::unable(&e, &[b"wait for events"])),
    }
}

/// Fails unless a supervise runs on `dir` (without `-s`, svwait does not wait for one to
/// start: a typo or a service svscan has not picked up would make it wait forever).
fn supervised(dir: &OsString) -> Result<(), Fail> {
    // compat: the message svwait gave when it could not subscribe to a missing directory.
    let service = Service::at(dir).map_err(|e| {
        let event = paths::join(dir, fifodir::EVENT);
        Fail::unable(&e, &[b"subscribe to ", event.as_bytes()])
    })?;
    let not_running = || {
        Fail::fatal(&[
            b"unable to wait on ",
            dir.as_bytes(),
            b": supervise not running",
        ])
    };
    match service.is_supervised() {
        Ok(true) => Ok(()),
        Ok(false) => Err(not_running()),
        // No supervise/ (or no supervise/ok in it): none ever ran here.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_running()),
        Err(e) => Err(Fail::unable(
            &e,
            &[b"open ", paths::join(dir, paths::OK).as_bytes()],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn usage_errors() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(run(&args(&[])).map_err(|f| f.code), Err(100));
        assert_eq!(run(&args(&["-t", "x", "d"])).map_err(|f| f.code), Err(100));
        assert_eq!(run(&args(&["-z", "d"])).map_err(|f| f.code), Err(100));
        assert_eq!(parse_timeout(OsStr::new("0")), Ok(None));
    }
}
