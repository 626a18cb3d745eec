//! envuidgid: runs a program with `UID` and `GID` set to an account's ids, as daemontools'
//! envuidgid does (for programs that drop privileges themselves, such as multilog's users).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod account;
mod chain;

use std::ffi::OsString;
use std::process::ExitCode;

use vigil_proto::msg::{self, Fail};

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("envuidgid", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let (account, child) = account::account_and_child(args, "envuidgid account child")?;
    let mut program = chain::program(child)?;
    // compat: daemontools sets GID first, then UID (the order the child's environment shows).
    program.set_env(b"GID", Some(account.gid.to_string().as_bytes()));
    program.set_env(b"UID", Some(account.uid.to_string().as_bytes()));
    Err(chain::exec(program))
}
