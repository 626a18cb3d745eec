//! setlock: runs a program holding an exclusive lock on a file, as daemontools' setlock does;
//! the program inherits the locked descriptor, so the lock lasts as long as it runs.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod chain;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::fcntl::{open, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};

const USAGE: &str = "setlock [ -nNxX ] file program [ arg ... ]";

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("setlock", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut wait = true;
    let mut quiet = false;
    let mut opts = Getopt::new(args, "nNxX");
    for opt in opts.by_ref() {
        match opt {
            Ok(Opt::Flag(b'n')) => wait = false,
            Ok(Opt::Flag(b'N')) => wait = true,
            Ok(Opt::Flag(b'x')) => quiet = true,
            Ok(Opt::Flag(b'X')) => quiet = false,
            Ok(_) => return Err(Fail::usage(USAGE)),
            Err(problem) => {
                // compat: sgetopt's complaint, then the usage line.
                msg::write_line(&[&problem.line("setlock")]);
                return Err(Fail::usage(USAGE));
            }
        }
    }
    let [file, child @ ..] = opts.rest() else {
        return Err(Fail::usage(USAGE));
    };
    if child.is_empty() {
        return Err(Fail::usage(USAGE));
    }
    let program = chain::program(child)?;
    // -x: exit 0 quietly when the file cannot be opened or locked.
    let give_up = |fail: Fail| if quiet { Fail::silent(0) } else { fail };
    // compat: daemontools' open_append: created 0600, never truncated, O_NONBLOCK kept on the
    // descriptor the program inherits (so no close-on-exec).
    let fd = open(
        file.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_APPEND | OFlag::O_CREAT,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| give_up(Fail::unable(&e.into(), &[b"open ", file.as_bytes()])))?;
    let how = if wait {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockExclusiveNonblock
    };
    let lock = Flock::lock(fd, how)
        .map_err(|(_, e)| give_up(Fail::unable(&e.into(), &[b"lock ", file.as_bytes()])))?;
    // The lock must outlive this process image: dropping the guard would unlock it before exec.
    std::mem::forget(lock);
    Err(chain::exec(program))
}
