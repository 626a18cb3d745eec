//! Reaping: every child that exits is collected at once, known supervise processes and orphans
//! reparented to svscan (as process 1 or a child subreaper) alike, so no zombie stays.

use std::io;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Makes svscan the reaper of every orphan among its descendants (PR_SET_CHILD_SUBREAPER), as
/// process 1 is in a container.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// Collects every child that has exited, without blocking; the pids, in the order reaped.
pub fn reap_all() -> Vec<Pid> {
    let mut gone = Vec::new();
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => break,
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    gone.push(pid);
                }
            }
            Err(Errno::EINTR) => continue,
            // ECHILD: no child left; anything else cannot be retried usefully here.
            Err(_) => break,
        }
    }
    gone
}
