//! Starting a supervise: `supervise NAME` in the scan directory, or `supervise log` in NAME,
//! with the log pipe's end as stdout or stdin.
//!
//! std's spawn gives the child an empty signal mask and SIGPIPE at its default, and every
//! descriptor svscan holds is close-on-exec, so a supervise inherits only stdin, stdout and
//! stderr. To be unified with vigil-proc's `spawn` once that lands.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::unistd::Pid;

/// How svscan runs supervise: the one next to its own executable if there is one (so a vigil
/// svscan never starts another suite's supervise by accident), else `supervise` from PATH.
pub struct Supervise {
    program: OsString,
}

impl Supervise {
    /// Finds supervise once, at start.
    pub fn locate() -> Supervise {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("supervise")))
            .filter(|path| is_executable(path));
        Supervise {
            program: beside.map_or_else(|| OsString::from("supervise"), PathBuf::into_os_string),
        }
    }

    /// Starts `supervise NAME`, its stdout the log pipe when there is one.
    pub fn start_main(&self, name: &OsStr, stdout: Option<BorrowedFd<'_>>) -> io::Result<Pid> {
        let mut cmd = self.command();
        cmd.arg(name);
        if let Some(fd) = stdout {
            cmd.stdout(Stdio::from(fd.try_clone_to_owned()?));
        }
        spawn(cmd)
    }

    /// Starts `supervise log` in NAME (as daemontools: `ps` shows `supervise log`), its stdin
    /// the log pipe.
    pub fn start_log(&self, name: &OsStr, stdin: BorrowedFd<'_>) -> io::Result<Pid> {
        let mut cmd = self.command();
        cmd.arg("log")
            .current_dir(name)
            .stdin(Stdio::from(stdin.try_clone_to_owned()?));
        spawn(cmd)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        // Each supervise leads a process group of its own: a Ctrl-C at svscan's terminal (or
        // a signal to svscan's group) reaches svscan alone, which stops the services in order,
        // main before logger. Were the supervise processes in svscan's group, each would stop
        // its own service at once and a logger could exit before the last lines reached it.
        cmd.arg0("supervise").process_group(0);
        cmd
    }
}

fn spawn(mut cmd: Command) -> io::Result<Pid> {
    // The Child is dropped without waiting: svscan reaps every child with waitpid(-1).
    let child = cmd.spawn()?;
    Ok(Pid::from_raw(child.id() as i32))
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
