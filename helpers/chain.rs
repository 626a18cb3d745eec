//! What every chain-loader does last: run the child, or say why it could not.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use vigil_proc::exec::Program;
use vigil_proto::msg::Fail;

/// The child `argv` (non-empty) with this process's environment.
pub fn program(argv: &[OsString]) -> Result<Program, Fail> {
    Program::new(argv)
        .map_err(|e| unable_to_run(&e, argv.first().map_or(&[][..], |a| a.as_bytes())))
}

/// Replaces this process with `program`; returns the failure to report if it could not.
pub fn exec(program: Program) -> Fail {
    let name = program.name().as_bytes().to_vec();
    let error = program.exec();
    unable_to_run(&error, &name)
}

/// `prog: fatal: unable to run NAME: REASON`, exit 111.
pub fn unable_to_run(error: &std::io::Error, name: &[u8]) -> Fail {
    Fail::unable(error, &[b"run ", name])
}
