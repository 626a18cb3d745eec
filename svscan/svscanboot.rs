//! svscanboot: starts `svscan /service` at boot with its output going to `readproctitle service
//! errors: ....` (daemontools' svscanboot, a sh script there), so the last error lines show in
//! `ps`. Without a readproctitle, svscan's output goes to svscanboot's stderr.
//!
//! svscan replaces svscanboot (same pid), so an init system or a container runtime that signals
//! svscanboot's pid reaches svscan and its clean shutdown.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use nix::fcntl::OFlag;
use vigil_client::Service;
use vigil_proto::msg::{self, Fail};
use vigil_proto::paths;

const PROG: &str = "svscanboot";

/// compat: daemontools' svscanboot PATH (its man page), after the directory of vigil's own
/// programs so vigil's svscan, supervise and readproctitle come first.
const PATH_TAIL: &str =
    "/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";
/// compat: daemontools gives readproctitle 400 dots to overwrite.
const DOTS: usize = 400;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish(PROG, run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    if args.len() > 1 {
        return Err(Fail::usage("svscanboot [ dir ]"));
    }
    let dir = args
        .first()
        .cloned()
        .unwrap_or_else(|| OsString::from("/service"));
    let own_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let mut path = OsString::new();
    if let Some(own) = &own_dir {
        path.push(own);
        path.push(":");
    }
    path.push(PATH_TAIL);

    stop_leftovers(&dir);

    let svscan = find("svscan", own_dir.as_deref(), &path);
    let mut cmd = Command::new(&svscan);
    cmd.arg0("svscan")
        .arg(&dir)
        .env_clear()
        .env("PATH", &path)
        .stdin(Stdio::null());
    match find_existing("readproctitle", own_dir.as_deref(), &path) {
        Some(readproctitle) => {
            let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
                .map_err(|e| Fail::unable(&e.into(), &[b"create pipe"]))?;
            let mut title = Command::new(&readproctitle);
            title
                .arg0("readproctitle")
                .args(["service", "errors:", &".".repeat(DOTS)])
                .env_clear()
                .env("PATH", &path)
                .stdin(Stdio::from(read))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Reaped by svscan, which takes over this pid and reaps every child.
            title.spawn().map_err(|e| {
                Fail::unable(&e, &[b"start ", readproctitle.as_os_str().as_bytes()])
            })?;
            drop(title);
            let err: OwnedFd = write
                .try_clone()
                .map_err(|e| Fail::unable(&e, &[b"duplicate descriptor"]))?;
            cmd.stdout(Stdio::from(write)).stderr(Stdio::from(err));
        }
        None => {
            // No readproctitle: stdout joins stderr, as `2>&1` would.
            let err = std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::inherit());
            cmd.stdout(err);
        }
    }
    let e = cmd.exec();
    Err(Fail::unable(
        &e,
        &[b"start ", svscan.as_os_str().as_bytes()],
    ))
}

/// compat: daemontools' svscanboot first runs `svc -dx /service/* /service/*/log`, so the
/// supervise processes of an earlier svscanboot go away before the new svscan starts its own.
fn stop_leftovers(dir: &OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        let mut service = dir.as_bytes().to_vec();
        service.push(b'/');
        service.extend_from_slice(name.as_bytes());
        let service = OsString::from_vec(service);
        for dir in [service.clone(), paths::join(&service, paths::LOG)] {
            let _ = Service::at(dir).map(|s| s.try_send(b"dx"));
        }
    }
}

/// `name` in vigil's own directory, else in `path`, else the bare name (exec reports it).
fn find(name: &str, own: Option<&Path>, path: &OsStr) -> PathBuf {
    find_existing(name, own, path).unwrap_or_else(|| PathBuf::from(name))
}

fn find_existing(name: &str, own: Option<&Path>, path: &OsStr) -> Option<PathBuf> {
    let beside = own.map(|dir| dir.join(name));
    beside
        .into_iter()
        .chain(std::env::split_paths(path).map(|dir| dir.join(name)))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
