//! Handing a child extra file descriptors at fixed numbers (multilog's processor reads its
//! state on fd 4 and writes the new state on fd 5).
//!
//! std's `Command` sets up fds 0-2 only. `map_fds` adds a `pre_exec` step that places each
//! source fd at its target number with close-on-exec cleared. It runs after std has set up
//! stdio, emptied the signal mask and put SIGPIPE back to default (std does both in the child
//! before the `pre_exec` closures; vigil's tests check the child's `/proc/self/status`).

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child see each `(source, target)` pair's source open at fd `target`.
///
/// The sources must stay open until the child is spawned (they are borrowed only to read their
/// numbers). Sources may collide with targets: every source is first copied above all targets.
pub fn map_fds(cmd: &mut Command, pairs: &[(&dyn AsFd, RawFd)]) {
    let mut plan: Vec<(RawFd, RawFd, RawFd)> = pairs
        .iter()
        .map(|(source, target)| (source.as_fd().as_raw_fd(), *target, -1))
        .collect();
    let above = plan.iter().map(|p| p.1).max().unwrap_or(2) + 1;
    let step = move || {
        for entry in plan.iter_mut() {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) only creates a new descriptor; it is
            // async-signal-safe and touches no memory of ours. Runs in the forked child.
            let copy = unsafe { libc::fcntl(entry.0, libc::F_DUPFD_CLOEXEC, above) };
            if copy == -1 {
                return Err(std::io::Error::last_os_error());
            }
            entry.2 = copy;
        }
        for entry in plan.iter() {
            // SAFETY: dup2 onto a target number is async-signal-safe; the copy is ours (made
            // above) and the target is free to replace in the child. dup2 clears
            // close-on-exec on the target; the close-on-exec copy vanishes at exec.
            if unsafe { libc::dup2(entry.2, entry.1) } == -1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure makes only async-signal-safe calls (fcntl, dup2), allocates nothing
    // (the plan is allocated before fork and only mutated in place), and takes no locks.
    unsafe {
        cmd.pre_exec(step);
    }
}
