//! setuidgid: runs a program as an account (its uid, its gid, no other groups), as daemontools'
//! setuidgid does.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod account;
mod chain;

use std::ffi::OsString;
use std::process::ExitCode;

use vigil_proc::ids::{become_account, Step};
use vigil_proto::msg::{self, Fail};

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("setuidgid", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let (account, child) = account::account_and_child(args, "setuidgid account child")?;
    let program = chain::program(child)?;
    become_account(account).map_err(|(step, e)| match step {
        Step::Gid => Fail::unable(&e, &[b"setgid"]),
        Step::Uid => Fail::unable(&e, &[b"setuid"]),
    })?;
    Err(chain::exec(program))
}
