//! supervise: starts and watches one service (daemontools' supervise, with restarts at the
//! fork/exec floor, crash backoff, finish, stops that finish, and adoption after a crash).
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::process::ExitCode;

use vigil_proto::msg;

mod adopt;
mod config;
mod monitor;
mod observe;
mod service;
mod state;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("supervise", service::run(&args))
}
