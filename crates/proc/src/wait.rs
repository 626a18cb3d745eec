//! The one place a supervisor sleeps: poll on a few descriptors until one is readable or an
//! optional deadline passes. No deadline means sleep until something happens (no tick).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

/// Waits until one of `fds` is readable (or hung up) or `deadline` passes; which ones are.
/// `None` entries are skipped. A signal interrupting the wait returns all false.
pub fn readable<const N: usize>(
    fds: [Option<BorrowedFd<'_>>; N],
    deadline: Option<Instant>,
) -> io::Result<[bool; N]> {
    let mut polls = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; N];
    for (p, fd) in polls.iter_mut().zip(fds) {
        if let Some(fd) = fd {
            p.fd = fd.as_raw_fd();
        }
    }
    let timeout = poll_timeout(deadline);
    // SAFETY: polls is a valid array of N pollfd structures for the duration of the call.
    let r = unsafe { libc::poll(polls.as_mut_ptr(), N as libc::nfds_t, timeout) };
    let mut ready = [false; N];
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(ready);
        }
        return Err(e);
    }
    for (flag, p) in ready.iter_mut().zip(&polls) {
        *flag = p.fd >= 0 && p.revents != 0;
    }
    Ok(ready)
}

/// [`readable`], plus one descriptor watched for an exceptional condition (POLLPRI, or
/// POLLERR) rather than for input: a cgroup's `cgroup.events`, which the kernel marks so when
/// its content changes (a kernfs file always polls readable, so POLLIN would never sleep).
/// At most 7 descriptors in `fds`.
pub fn readable_or_changed<const N: usize>(
    fds: [Option<BorrowedFd<'_>>; N],
    changed: Option<BorrowedFd<'_>>,
    deadline: Option<Instant>,
) -> io::Result<([bool; N], bool)> {
    const MAX: usize = 8;
    if N >= MAX {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut polls = [libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    }; MAX];
    for (p, fd) in polls.iter_mut().zip(fds) {
        if let Some(fd) = fd {
            p.fd = fd.as_raw_fd();
        }
    }
    if let Some(fd) = changed {
        polls[N] = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
    }
    let timeout = poll_timeout(deadline);
    // SAFETY: polls is a valid array of at least N + 1 pollfd structures for the call.
    let r = unsafe { libc::poll(polls.as_mut_ptr(), (N + 1) as libc::nfds_t, timeout) };
    let mut ready = [false; N];
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok((ready, false));
        }
        return Err(e);
    }
    for (flag, p) in ready.iter_mut().zip(&polls) {
        *flag = p.fd >= 0 && p.revents != 0;
    }
    let last = polls[N];
    let changed = last.fd >= 0 && last.revents & (libc::POLLPRI | libc::POLLERR) != 0;
    Ok((ready, changed))
}

/// poll's timeout for `deadline`: -1 (none) without one, else the milliseconds left, rounded
/// up. Every poll of vigil with a deadline takes its timeout from here.
pub fn poll_timeout(deadline: Option<Instant>) -> libc::c_int {
    deadline.map_or(-1, |d| {
        timeout_ms(d.saturating_duration_since(Instant::now()))
    })
}

/// Milliseconds for poll, rounded up so a wake-up never comes before the deadline (which would
/// spin until it passes).
fn timeout_ms(left: std::time::Duration) -> libc::c_int {
    let ms = left.as_nanos().div_ceil(1_000_000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeout_rounds_up() {
        assert_eq!(timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(timeout_ms(Duration::ZERO), 0);
        assert_eq!(timeout_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(timeout_ms(Duration::from_secs(u64::MAX)), libc::c_int::MAX);
    }

    #[test]
    fn past_deadline_returns_at_once() {
        let (r, _w) = std::io::pipe().expect("pipe");
        use std::os::fd::AsFd;
        let got = readable([Some(r.as_fd())], Some(Instant::now())).expect("poll");
        assert_eq!(got, [false]);
    }
}
