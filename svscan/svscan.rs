//! svscan: keeps a supervise running on every service directory in DIR (daemontools' svscan),
//! with log pipes that survive restarts of either side, new services picked up at once through
//! inotify, removed services stopped, a clean shutdown on SIGTERM, and orphan reaping as a
//! subreaper or process 1.
#![forbid(unsafe_code)]

mod fdlimit;
mod logpipe;
mod scan;
mod signals;
mod spawn;
mod stop;
mod table;
mod timers;
mod tree;
mod watch;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use vigil_proto::getopt::{Getopt, Opt};
use vigil_proto::msg::{self, Fail};

use crate::tree::Tree;

/// The program name in messages.
pub const PROG: &str = "svscan";

const USAGE: &str = "svscan [ -s ] [ dir ]";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish(PROG, run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let mut subreaper = false;
    let mut opts = Getopt::new(args, "s");
    for opt in opts.by_ref() {
        match opt {
            Ok(Opt::Flag(b's')) => subreaper = true,
            Ok(_) => return Err(Fail::usage(USAGE)),
            Err(problem) => {
                msg::write_line(&[&problem.line(PROG)]);
                return Err(Fail::usage(USAGE));
            }
        }
    }
    if let Some(dir) = opts.rest().first() {
        std::env::set_current_dir(dir)
            .map_err(|e| Fail::unable(&e, &[b"chdir to ", dir.as_bytes()]))?;
    }
    if subreaper {
        vigil_proc::reap::become_subreaper()
            .map_err(|e| Fail::unable(&e, &[b"become a subreaper"]))?;
    }
    let signals = signals::Signals::install().map_err(|e| Fail::unable(&e, &[b"catch signals"]))?;
    // Room to restart a supervise even at the descriptor limit (issue #12).
    fdlimit::reserve();
    Tree::new(signals).run()
}
