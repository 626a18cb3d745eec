//! envdir: runs a program with its environment changed by the files of a directory, as
//! daemontools' envdir does: each file names a variable, its first line is the value, an empty
//! file removes the variable.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

mod chain;
mod envdir_value;

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

use envdir_value::VALUE_MAX;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, fchdir};
use vigil_proto::bounded::{self, Links};
use vigil_proto::msg::{self, Fail, EXIT_FAILURE};

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("envdir", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let [dir, child @ ..] = args else {
        return Err(usage());
    };
    if child.is_empty() {
        return Err(usage());
    }
    let mut program = chain::program(child)?;
    let dir_bytes = dir.as_bytes();
    // compat: daemontools reads the files from inside dir, so its errors (and which of
    // "switch to directory" and "read directory" a permission problem gives) are chdir's and
    // opendir's. The way back is an O_PATH descriptor, which needs no read permission on the
    // starting directory (daemontools' needs it).
    let start = open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Fail::unable(&e.into(), &[b"switch to current directory"]))?;
    chdir(dir.as_os_str())
        .map_err(|e| Fail::unable(&e.into(), &[b"switch to directory ", dir_bytes]))?;
    let unable_list = |e: &io::Error| Fail::unable(e, &[b"read directory ", dir_bytes]);
    let mut buf = vec![0u8; VALUE_MAX + 1];
    for entry in std::fs::read_dir(".").map_err(|e| unable_list(&e))? {
        let entry = entry.map_err(|e| unable_list(&e))?;
        let name = entry.file_name();
        let name = name.as_bytes();
        // compat: daemontools skips every name starting with a dot.
        if name.first() == Some(&b'.') {
            continue;
        }
        let value = first_line(Path::new(OsStr::from_bytes(name)), &mut buf)
            .map_err(|e| Fail::unable(&e, &[b"read ", dir_bytes, b"/", name]))?;
        program.set_env(name, value.as_deref());
    }
    fchdir(&start).map_err(|e| Fail::unable(&e.into(), &[b"switch to starting directory"]))?;
    Err(chain::exec(program))
}

/// compat: daemontools' envdir exits 111, not 100, on a usage error.
fn usage() -> Fail {
    Fail::raw("usage: envdir dir child", EXIT_FAILURE)
}

/// The value a file gives its variable ([`envdir_value::value`]); a file that vanished (or a
/// dangling symlink) counts as empty. Only the first line is read, through
/// [`vigil_proto::bounded`] into `buf` ([`VALUE_MAX`] + 1 bytes, room for the newline): anything
/// but a regular file (a FIFO, `/dev/zero`) is an error at once, and so is a first line longer
/// than [`VALUE_MAX`] (`file too big`).
fn first_line(path: &Path, buf: &mut [u8]) -> io::Result<Option<Vec<u8>>> {
    let Some(head) = bounded::read_head(path, Links::Follow, buf)? else {
        return Ok(None);
    };
    envdir_value::value(&buf[..head.len], head.whole)
}
