//! Sending signals to a process, to a whole process group, and through a pidfd.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// kill(pid, sig).
pub fn signal(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory.
    check(unsafe { libc::kill(pid, sig) })
}

/// killpg(pgid, sig): every process of the group.
pub fn signal_group(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 1 {
        // never kill(-1) or kill(0): that would hit every process or our own group
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: killpg takes plain integers and touches no memory.
    check(unsafe { libc::killpg(pgid, sig) })
}

/// True while some process belongs to group `pgid` (EPERM counts: it exists).
pub fn group_exists(pgid: i32) -> bool {
    match signal_group(pgid, 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

/// A process handle that cannot be confused with a later process of the same pid: readable
/// when the process exits (Linux 5.3+).
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    /// pidfd_open(pid); fails with ENOSYS on older kernels, ESRCH if it is gone.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags; on success it returns a new descriptor that
        // we own (close-on-exec by default).
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: r is a fresh descriptor owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
        Ok(PidFd { fd, pid })
    }

    /// The pid it was opened for.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The descriptor to poll: readable once the process has exited.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// pidfd_send_signal: signals exactly this process, even if its pid was reused.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is valid while self lives; a null siginfo is allowed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        check(r as libc::c_int)
    }
}
