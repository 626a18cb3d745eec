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
use vigil_proc::signals::Signals;
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};
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

/// Lets the signal that stopped the wait through, so svwait dies of it as it would have
/// unblocked; should it survive (a signal it does not die of), exit 111.
fn die_of_signal(signals: &mut Signals) -> Fail {
    use nix::sys::signal::{raise, sigprocmask, SigSet, SigmaskHow};
    if let Ok(Some(signo)) = signals.pending() {
        if let Ok(signal) = Signal::try_from(signo) {
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&SigSet::from(signal)), None);
            let _ = raise(signal);
        }
    }
    Fail::silent(msg::EXIT_FAILURE)
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
    let failed = |i: &usize, what: &[u8], tail: &str, e: &io::Error| {
        Fail::unable(e, &[what, paths::join(&dirs[*i], tail).as_bytes()])
    };
    // TERM, INT and HUP end the wait through the poll, so the FIFOs are removed; then the
    // signal is let through and svwait dies of it, as it would have.
    let mut signals = Signals::block(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
        .map_err(|e| Fail::unable(&e, &[b"block signals"]))?;
    // (the FIFOs are gone once wait_or_stop returns: its followers are dropped)
    match goal::wait_or_stop(dirs, goal, all, deadline, Some(signals.fd())) {
        Ok(Outcome::Stopped) => Err(die_of_signal(&mut signals)),
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
