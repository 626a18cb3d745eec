//! Collecting exited children, so no zombie stays.

use std::io;

/// One exited child, `(pid, wait status as waitpid gives it)`, or `None` when no child has
/// exited (or there are no children). Call until `None` after each SIGCHLD.
pub fn reap_one() -> Option<(i32, i32)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid writes the status into a valid c_int.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r > 0 {
            return Some((r, status));
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER), so a
/// service's leftover processes stay visible to, and are reaped by, its supervisor.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes one integer argument and touches no memory.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
