//! The `!processor` protocol: after `current` becomes `previous`, `sh -c PROCESSOR` runs in the
//! log directory with `previous` on stdin, `processed` on stdout, `state` on fd 4 and `newstate`
//! on fd 5; its output becomes the next `.s` file and `newstate` the next `state`.

use std::fs::{self, File, Permissions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use crate::logdir::{append_file, truncate_file, LogDir};
use crate::pause::{retry, warn_and_pause};

/// Runs the processor until it exits 0 (pausing 5 s after each failure), then makes its
/// output and new state safe on disk, as daemontools' fullcurrent() does.
pub fn process(dir: &mut LogDir, processor: &[u8]) {
    loop {
        match run_once(dir, processor) {
            Err(e) => {
                let what = [
                    b"run " as &[u8],
                    processor,
                    b" in ",
                    &dir.name,
                    b", pausing",
                ];
                vigil_proto::msg::warn_unable("multilog", &e, &what);
                std::thread::sleep(crate::pause::PAUSE);
            }
            Ok(status) if status.signal().is_some() => {
                warn_and_pause(&[b"processor crashed in ", &dir.name, b", pausing"]);
            }
            Ok(status) if status.code() == Some(0) => break,
            Ok(_) => warn_and_pause(&[b"processor failed in ", &dir.name, b", pausing"]),
        }
    }
    let processed = dir.file("processed");
    let file = retry(&[b"create ", &dir.at("processed")], || {
        append_file(&processed, 0o600)
    });
    retry(&[b"write ", &dir.at("processed"), b" to disk"], || {
        file.sync_all()
    });
    retry(&[b"set mode of ", &dir.at("processed")], || {
        file.set_permissions(Permissions::from_mode(0o744))
    });
    drop(file);
    let newstate = dir.file("newstate");
    let file = retry(&[b"create ", &dir.at("newstate")], || {
        append_file(&newstate, 0o600)
    });
    retry(&[b"write ", &dir.at("newstate"), b" to disk"], || {
        file.sync_all()
    });
    drop(file);
    let previous = dir.file("previous");
    retry(&[b"remove ", &dir.at("previous")], || {
        fs::remove_file(&previous)
    });
    let state = dir.file("state");
    retry(
        &[b"rename newstate to state in directory ", &dir.name],
        || fs::rename(&newstate, &state),
    );
}

fn run_once(dir: &LogDir, processor: &[u8]) -> std::io::Result<std::process::ExitStatus> {
    let previous = File::open(dir.file("previous"))?;
    let processed = truncate_file(&dir.file("processed"))?;
    let state = File::open(dir.file("state"))?;
    let newstate = truncate_file(&dir.file("newstate"))?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(std::ffi::OsStr::from_bytes(processor))
        .current_dir(&dir.path)
        .stdin(Stdio::from(previous))
        .stdout(Stdio::from(processed));
    // The child gets an empty signal mask and SIGPIPE at default from std's spawn (checked by
    // the processor test); fds 4 and 5 are mapped after stdio is set up.
    vigil_proc::fdmap::map_fds(&mut cmd, &[(&state, 4), (&newstate, 5)]);
    cmd.status()
}
