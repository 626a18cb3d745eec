//! svc: sends control bytes to the supervise of each service directory (daemontools' svc).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use vigil_client::service::{SendError, Service};
use vigil_proto::control::{self, Control};
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail, EXIT_USAGE};

const PROG: &str = "svc";

/// svc's options are the control bytes: daemontools' ones, then vigil's NEW q 1 2 w (as s6
/// and runit have them), from the control table.
const OPTIONS: &str = control::LETTERS;

/// compat: daemontools prints this line without the `svc: ` prefix after sgetopt's
/// `svc: illegal option -- z`: `svc options: u up, d down, ...`, one entry per control, in
/// the table's order (vigil's NEW ones after daemontools').
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
    line
}

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish(PROG, run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut getopt = Getopt::new(args, OPTIONS);
    // compat: each option byte once, in the order first given (`-udu` sends "ud").
    let mut bytes = Vec::with_capacity(OPTIONS.len());
    for opt in getopt.by_ref() {
        match opt {
            Ok(Opt::Flag(byte)) => {
                if !bytes.contains(&byte) {
                    bytes.push(byte);
                }
            }
            Ok(Opt::Arg(byte, _)) => {
                return Err(Fail::internal(msg::cat(&[
                    b"option takes no argument: ",
                    &[byte],
                ])))
            }
            Err(problem) => {
                msg::write_line(&[&problem.line(PROG)]);
                msg::write_line(&[&usage()]);
                return Err(Fail::silent(EXIT_USAGE));
            }
        }
    }
    for dir in getopt.rest() {
        control(dir, &bytes);
    }
    // compat: daemontools' svc exits 0 whatever happened to each directory.
    Ok(ExitCode::SUCCESS)
}

/// Sends `bytes` to one directory; a failure is a warning and svc goes on to the next.
fn control(dir: &OsString, bytes: &[u8]) {
    let name = dir.as_bytes();
    let service = match Service::at(dir) {
        Ok(service) => service,
        Err(e) => return msg::warn_unable(PROG, &e, &[b"chdir to ", name]),
    };
    match service.send(bytes) {
        Ok(()) => {}
        Err(SendError::NotRunning) => msg::warn(
            PROG,
            &[b"unable to control ", name, b": supervise not running"],
        ),
        Err(SendError::Open(e)) => msg::warn_unable(PROG, &e, &[b"control ", name]),
        // compat: daemontools' wording for a failed write.
        Err(SendError::Write(e)) => {
            let reason = vigil_proto::errstr::io_errstr(&e).as_bytes();
            msg::warn(PROG, &[b"error writing commands to ", name, b": ", reason])
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
a alarm, i interrupt, t term, k kill, q quit, 1 usr1, 2 usr2, w winch"
        );
        assert_eq!(OPTIONS.len(), 15);
    }
}
