//! multilog: reads lines from stdin and appends the selected ones to automatically rotated
//! logs (daemontools' multilog), without losing a line when it is killed (NEW).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod cut;
mod files;
mod finisher;
mod lines;
mod logdir;
mod pattern;
mod pause;
mod pipe;
mod plain;
mod processor;
mod pump;
mod script;
mod signals;

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use vigil_proto::msg::{self, Fail};

use crate::files::append_file;
use crate::lines::Lines;
use crate::logdir::LogDir;

// Lean start-up (see vigil_proc::entry): one multilog runs per logged service, and std's
// main-thread guard set-up reads /proc/self/maps with glibc's fopen and sscanf, code and
// pages each multilog would keep (docs/bench.md, "Memory per supervise").
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("multilog", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let script = script::parse(args)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let mut signals =
        signals::Signals::catch().map_err(|e| Fail::unable(&e, &[b"catch signals"]))?;
    // daemontools opens every status file, then every directory, before reading any input.
    let mut status = Vec::new();
    for name in &script.status_files {
        let path = std::path::Path::new(OsStr::from_bytes(name));
        append_file(path, 0o600).map_err(|e| Fail::unable(&e, &[b"create ", name]))?;
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Fail::unable(&e, &[b"write ", name]))?;
        status.push((name.clone(), file));
    }
    // Leaked once: the reader lives as long as the process.
    let handle: &'static std::io::Stdin = Box::leak(Box::new(std::io::stdin()));
    let stdin: BorrowedFd<'static> = handle.as_fd();
    // (peeks only: nothing is read before the directories are open)
    let pipe = pipe::Pipe::open(stdin);
    let unconsumed_below = pipe.as_ref().map(pipe::Pipe::stream_at);
    let mut dirs = Vec::new();
    for spec in &script.dirs {
        dirs.push(LogDir::open(spec, unconsumed_below)?);
    }
    let mut lines = Lines::new(&script, dirs, status);
    match pipe {
        Some(input) => pump::pipe(&mut lines, &mut signals, input),
        None => pump::plain(&mut lines, &mut signals, plain::Plain::new(stdin)),
    }
    lines.quit();
    Ok(ExitCode::SUCCESS)
}
