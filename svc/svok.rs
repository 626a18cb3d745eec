//! svok: exits 0 if a supervise runs on DIR, 100 if not (daemontools' svok).
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use vigil_client::service::Service;
use vigil_proto::msg::{self, Fail, EXIT_USAGE};

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("svok", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    // compat: daemontools' svok looks at its first argument only and ignores the rest.
    let dir = args.first().ok_or_else(|| Fail::usage("svok dir"))?;
    let name = dir.as_bytes();
    let service = Service::at(dir).map_err(|e| Fail::unable(&e, &[b"chdir to ", name]))?;
    match service.is_supervised() {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(EXIT_USAGE)), // daemontools: 100 = not running
        // compat: a missing supervise/ok (never supervised) also means "not running".
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(ExitCode::from(EXIT_USAGE)),
        Err(e) => Err(Fail::unable(&e, &[b"open ", name, b"/supervise/ok"])),
    }
}
