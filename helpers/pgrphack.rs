//! pgrphack: runs a program in a new session and process group, as daemontools' pgrphack does,
//! so signals sent to the caller's group do not reach it.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod chain;

use std::ffi::OsString;
use std::process::ExitCode;

use vigil_proto::msg::{self, Fail};

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("pgrphack", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    if args.is_empty() {
        return Err(Fail::usage("pgrphack child"));
    }
    let program = chain::program(args)?;
    // compat: daemontools ignores a failing setsid (a group leader already has its own group).
    let _ = nix::unistd::setsid();
    Err(chain::exec(program))
}
