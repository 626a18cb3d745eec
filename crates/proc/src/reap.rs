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

/// Decodes a wait status into runit's `finish` arguments: (exit code or -1, signal or 0).
pub fn exit_and_signal(status: i32) -> (i32, i32) {
    if libc::WIFEXITED(status) {
        (libc::WEXITSTATUS(status), 0)
    } else if libc::WIFSIGNALED(status) {
        (-1, libc::WTERMSIG(status))
    } else {
        (-1, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_and_signal_follow_runit() {
        assert_eq!(exit_and_signal(3 << 8), (3, 0));
        assert_eq!(exit_and_signal(libc::SIGKILL), (-1, 9));
        assert_eq!(exit_and_signal(libc::SIGSEGV | 0x80), (-1, libc::SIGSEGV));
    }
}
