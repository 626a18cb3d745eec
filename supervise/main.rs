//! supervise: starts and watches one service (daemontools' supervise, with restarts at the
//! fork/exec floor, crash backoff, finish, stops that finish, and adoption after a crash).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::process::ExitCode;

use vigil_proto::msg;

mod adopt;
mod cgroup;
mod config;
mod events;
mod limits;
mod logcopy;
mod ready;
mod service;
mod state;

// The control fuzz target's body (fuzz/control.rs), run over its seeds by `cargo test`.
#[cfg(test)]
#[path = "../fuzz/control.rs"]
mod fuzz_control;

// Lean start-up: std's stack-guard set-up reads /proc/self/maps through a malloc'd FILE, the
// one heap page supervise would otherwise keep (see docs/bench.md, "Memory per supervise").
vigil_proc::main!(main);

fn main() -> ExitCode {
    // argv in place, no Vec: supervise then never allocates while it runs a plain service,
    // and keeps no heap page (docs/bench.md, "Memory per supervise"). One operand is all it
    // takes; a second one only matters as a usage error.
    let mut args = vigil_proc::entry::args().skip(1);
    msg::finish("supervise", service::run([args.next(), args.next()]))
}
