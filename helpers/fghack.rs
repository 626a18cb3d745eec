//! fghack: runs a program that puts itself in the background, and stays in the foreground until
//! it (and everything it started) is gone, as daemontools' fghack does.
//!
//! The program inherits many write ends of one pipe; a daemon closes a few of its descriptors
//! when it detaches, rarely all of them, so fghack waits for end of file on the read end.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

#[allow(dead_code)] // fghack spawns its child rather than exec it
mod chain;

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{dup, pipe2, read};
use vigil_proc::exec::SpawnError;
use vigil_proto::msg::{self, Fail};

/// compat: daemontools' child holds its pipe end and 30 copies.
const WRITE_ENDS: usize = 31;

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("fghack", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    if args.is_empty() {
        return Err(Fail::usage("fghack child"));
    }
    let program = chain::program(args)?;
    let unable_pipe = |e: Errno| Fail::unable(&e.into(), &[b"create pipe"]);
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(unable_pipe)?;
    // dup clears close-on-exec: the copies, not the original, reach the child.
    let copies = (0..WRITE_ENDS)
        .map(|_| dup(&write_end))
        .collect::<Result<Vec<OwnedFd>, _>>()
        .map_err(unable_pipe)?;
    drop(write_end);
    let name = program.name().to_owned();
    let pid = program.spawn().map_err(|e| match e {
        SpawnError::Fork(e) => Fail::unable(&e, &[b"fork"]),
        SpawnError::Exec(e) => chain::unable_to_run(&e, name.as_bytes()),
    })?;
    drop(copies);
    let mut sink = [0u8; 256];
    loop {
        match read(&read_end, &mut sink) {
            Ok(0) => break,
            Ok(_) | Err(Errno::EINTR) => continue,
            // compat: daemontools stops reading on any error, then waits for the child.
            Err(_) => break,
        }
    }
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => Ok(ExitCode::from(code as u8)),
        Ok(_) => Err(Fail::fatal(&[b"child crashed"])),
        Err(e) => Err(Fail::fatal(&[
            b"wait failed: ",
            vigil_proto::errstr::errstr(e as i32).as_bytes(),
        ])),
    }
}
