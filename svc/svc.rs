//! svc: sends control bytes to the supervise of each service directory (daemontools' svc).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use vigil_client::goal::{Goal, Outcome, WaitError, Waiter};
use vigil_client::service::{SendError, Service};
use vigil_proc::signals::Signals;
use vigil_proto::control::Control;
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail, EXIT_USAGE};
use vigil_proto::{fifodir, journal, paths};

const PROG: &str = "svc";

/// svc's options: the control bytes (daemontools' ones, then vigil's NEW q 1 2 w, as s6 and
/// runit have them, from the control table), then NEW `-W goal` (wait, s6-svc's `-w`, which
/// is WINCH here) and `-T ms` (its timeout).
const OPTIONS: &str = "udoxpchaitkq12wW:T:";

/// s6-svc: the `-T` timeout passed before the goal was reached.
const EXIT_TIMEOUT: u8 = 99;
/// As svwait: the supervise of a service waited on exited first.
const EXIT_SUPERVISE_GONE: u8 = 102;

/// compat: with `VIGIL_COMPAT=daemontools` in the environment svc exits 0 whatever happened to
/// each directory, as daemontools' svc does (its differential tests set it); otherwise a
/// directory that could not be controlled makes the exit status 111 (runit's sv, s6-svc).
const COMPAT_VAR: &str = "VIGIL_COMPAT";

/// compat: daemontools prints this line without the `svc: ` prefix after sgetopt's
/// `svc: illegal option -- z`: `svc options: u up, d down, ...`, one entry per control, in
/// the table's order (vigil's NEW ones after daemontools'), then the NEW wait options.
fn usage() -> Vec<u8> {
    let mut line = b"svc options: ".to_vec();
    for (i, c) in Control::ALL.iter().enumerate() {
        if i > 0 {
            line.extend_from_slice(b", ");
        }
        line.push(c.byte());
        line.push(b' ');
        line.extend_from_slice(c.word().as_bytes());
    }
    line.extend_from_slice(b", W uUdDrR wait, T ms timeout");
    line
}

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish(PROG, run(&args))
}

/// The goal of `-W letter`: s6-svc's `-w` letters.
fn goal(letter: &[u8]) -> Option<Goal> {
    match letter {
        b"u" => Some(Goal::Up),
        b"U" => Some(Goal::Ready),
        b"d" => Some(Goal::Down),
        b"D" => Some(Goal::ReallyDown),
        b"r" => Some(Goal::Restarted),
        b"R" => Some(Goal::RestartedReady),
        _ => None,
    }
}

/// Milliseconds, digits only; 0 waits forever (as svwait's `-t`).
fn timeout(arg: &[u8]) -> Option<Option<Duration>> {
    let ms: u64 = std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()?;
    Some((ms != 0).then(|| Duration::from_millis(ms)))
}

fn bad_usage(problem: &[u8]) -> Fail {
    msg::write_line(&[problem]);
    msg::write_line(&[&usage()]);
    Fail::silent(EXIT_USAGE)
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut getopt = Getopt::new(args, OPTIONS);
    // compat: each option byte once, in the order first given (`-udu` sends "ud").
    let mut bytes = Vec::with_capacity(OPTIONS.len());
    let mut wait = None;
    let mut limit = None;
    for opt in getopt.by_ref() {
        match opt {
            Ok(Opt::Flag(byte)) => {
                if !bytes.contains(&byte) {
                    bytes.push(byte);
                }
            }
            Ok(Opt::Arg(b'W', letter)) => {
                wait = Some(goal(letter.as_bytes()).ok_or_else(|| {
                    bad_usage(&msg::cat(&[b"svc: bad wait goal -- ", letter.as_bytes()]))
                })?);
            }
            Ok(Opt::Arg(b'T', ms)) => {
                limit = timeout(ms.as_bytes()).ok_or_else(|| {
                    bad_usage(&msg::cat(&[b"svc: bad timeout -- ", ms.as_bytes()]))
                })?;
            }
            Ok(Opt::Arg(byte, _)) => {
                return Err(Fail::internal(msg::cat(&[
                    b"option takes no argument: ",
                    &[byte],
                ])))
            }
            Err(problem) => return Err(bad_usage(&problem.line(PROG))),
        }
    }
    let dirs = getopt.rest();
    let compat = std::env::var_os(COMPAT_VAR).is_some_and(|v| v == "daemontools");
    let mut failed = false;
    let Some(goal) = wait else {
        for dir in dirs {
            failed |= control(dir, &bytes, None).is_err();
        }
        return Ok(status(failed, compat));
    };
    // TERM, INT and HUP end the wait through the poll, so the FIFOs are removed; blocked
    // before the first FIFO exists.
    let mut signals = Signals::block(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
        .map_err(|e| Fail::unable(&e, &[b"block signals"]))?;
    let deadline = limit.map(|t| Instant::now() + t);
    let mut waiter = Waiter::new(goal);
    let mut waited = Vec::with_capacity(dirs.len());
    for dir in dirs {
        match control(dir, &bytes, Some(&mut waiter)) {
            Ok(()) => waited.push(dir),
            Err(()) => failed = true,
        }
    }
    let outcome = waiter.wait(true, deadline, Some(signals.fd()));
    drop(waiter); // the FIFOs go before svc exits, whatever the outcome
    match outcome {
        Ok(Outcome::Reached) => Ok(status(failed, compat)),
        Ok(Outcome::TimedOut) => Err(Fail::raw("fatal: timed out", EXIT_TIMEOUT)),
        Ok(Outcome::SuperviseGone(i)) => Err(Fail::raw(
            msg::cat(&[b"fatal: supervise exited on ", waited[i].as_bytes()]),
            EXIT_SUPERVISE_GONE,
        )),
        Ok(Outcome::Stopped) => {
            signals.die_of_pending();
            Err(Fail::silent(msg::EXIT_FAILURE))
        }
        Err(WaitError::Journal(i, e)) => Err(Fail::unable(
            &e,
            &[b"read ", paths::join(waited[i], journal::EVENTS).as_bytes()],
        )),
        Err(e) => Err(Fail::unable(&e.into(), &[b"wait for events"])),
    }
}

/// 0, or 111 when a directory could not be controlled (0 under `VIGIL_COMPAT=daemontools`).
fn status(failed: bool, compat: bool) -> ExitCode {
    if failed && !compat {
        ExitCode::from(msg::EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Sends `bytes` to one directory; a failure is a warning and svc goes on to the next. With a
/// `waiter`, the directory is subscribed to first (a supervise must run there), so nothing
/// the bytes cause can happen before svc listens.
fn control(dir: &OsString, bytes: &[u8], waiter: Option<&mut Waiter>) -> Result<(), ()> {
    let name = dir.as_bytes();
    let unable = |e: &std::io::Error, what: &[&[u8]]| {
        msg::warn_unable(PROG, e, what);
        Err(())
    };
    let not_running = || {
        msg::warn(
            PROG,
            &[b"unable to control ", name, b": supervise not running"],
        );
        Err(())
    };
    let service = match Service::at(dir) {
        Ok(service) => service,
        Err(e) => return unable(&e, &[b"chdir to ", name]),
    };
    let subscribed = match waiter {
        None => None,
        // Only a supervised directory gets a FIFO: nothing is made in any other.
        Some(waiter) => match service.is_supervised() {
            Ok(true) => match waiter.add(dir) {
                Ok(()) => Some(waiter),
                Err(e) => {
                    let event = paths::join(dir, fifodir::EVENT);
                    return unable(&e.into(), &[b"subscribe to ", event.as_bytes()]);
                }
            },
            Ok(false) => return not_running(),
            Err(e) => return unable(&e, &[b"control ", name]),
        },
    };
    let sent = service.send(bytes);
    if sent.is_err() {
        if let Some(waiter) = subscribed {
            waiter.pop();
        }
    }
    match sent {
        Ok(()) => Ok(()),
        Err(SendError::NotRunning) => not_running(),
        Err(SendError::Open(e)) => unable(&e, &[b"control ", name]),
        // compat: daemontools' wording for a failed write.
        Err(SendError::Write(e)) => {
            let reason = vigil_proto::errstr::io_errstr(&e).as_bytes();
            msg::warn(PROG, &[b"error writing commands to ", name, b": ", reason]);
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// daemontools' usage line, then vigil's NEW controls.
    #[test]
    fn usage_line_from_the_control_table() {
        assert_eq!(
            usage(),
            b"svc options: u up, d down, o once, x exit, p pause, c continue, h hup, \
a alarm, i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2, w winch, \
W uUdDrR wait, T ms timeout"
        );
        assert!(OPTIONS.starts_with(vigil_proto::control::LETTERS));
        assert_eq!(vigil_proto::control::LETTERS.len(), 15);
    }
}
