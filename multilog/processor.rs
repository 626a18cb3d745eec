//! The `!processor` protocol: after `current` becomes `previous`, `sh -c PROCESSOR` runs in the
//! log directory with `previous` on stdin, `processed` on stdout, `state` on fd 4 and `newstate`
//! on fd 5; its output becomes the next `.s` file and `newstate` the next `state`.

use std::fs::{self, File, Permissions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use vigil_proto::msg;

use crate::files::{append_file, truncate_file};
use crate::pause::{self, retry, warn_and_pause};

/// Runs the processor in the log directory at `dir` (`name` as the user typed it, for
/// messages) until it exits 0, pausing 5 s after each failure; then makes its output and new
/// state safe on disk, as daemontools' fullcurrent() does.
pub fn process(dir: &Path, name: &[u8], processor: &[u8]) {
    let at = |file: &[u8]| msg::cat(&[name, b"/", file]);
    loop {
        match run_once(dir, processor) {
            Err(e) => {
                let what = [b"run " as &[u8], processor, b" in ", name, b", pausing"];
                msg::warn_unable("multilog", &e, &what);
                std::thread::sleep(pause::PAUSE);
            }
            Ok(status) if status.signal().is_some() => {
                warn_and_pause(&[b"processor crashed in ", name, b", pausing"]);
            }
            Ok(status) if status.code() == Some(0) => break,
            Ok(_) => warn_and_pause(&[b"processor failed in ", name, b", pausing"]),
        }
    }
    let processed = dir.join("processed");
    let file = retry(&[b"create ", &at(b"processed")], || {
        append_file(&processed, 0o600)
    });
    retry(&[b"write ", &at(b"processed"), b" to disk"], || {
        file.sync_all()
    });
    retry(&[b"set mode of ", &at(b"processed")], || {
        file.set_permissions(Permissions::from_mode(0o744))
    });
    drop(file);
    let newstate = dir.join("newstate");
    let file = retry(&[b"create ", &at(b"newstate")], || {
        append_file(&newstate, 0o600)
    });
    retry(&[b"write ", &at(b"newstate"), b" to disk"], || {
        file.sync_all()
    });
    drop(file);
    let previous = dir.join("previous");
    retry(&[b"remove ", &at(b"previous")], || {
        fs::remove_file(&previous)
    });
    let state = dir.join("state");
    retry(&[b"rename newstate to state in directory ", name], || {
        fs::rename(&newstate, &state)
    });
}

fn run_once(dir: &Path, processor: &[u8]) -> std::io::Result<std::process::ExitStatus> {
    let previous = File::open(dir.join("previous"))?;
    let processed = truncate_file(&dir.join("processed"))?;
    let state = File::open(dir.join("state"))?;
    let newstate = truncate_file(&dir.join("newstate"))?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(std::ffi::OsStr::from_bytes(processor))
        .current_dir(dir)
        .stdin(Stdio::from(previous))
        .stdout(Stdio::from(processed));
    // The child gets an empty signal mask and SIGPIPE at default from std's spawn (checked by
    // the processor test); fds 4 and 5 are mapped after stdio is set up.
    vigil_proc::fdmap::map_fds(&mut cmd, &[(&state, 4), (&newstate, 5)]);
    cmd.status()
}
