//! supervise: starts and watches one service (daemontools' supervise, with restarts at the
//! fork/exec floor, crash backoff, finish, stops that finish, and adoption after a crash).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::ffi::OsString;
use std::process::ExitCode;

use vigil_proto::msg;

mod adopt;
mod config;
mod observe;
mod service;
mod state;

// Lean start-up: std's stack-guard set-up reads /proc/self/maps through a malloc'd FILE, the
// one heap page supervise would otherwise keep (see docs/bench.md, "Memory per supervise").
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("supervise", service::run(&args))
}
