//! Handing a child a clean signal state.
//!
//! A Rust program starts with SIGPIPE ignored, and a supervisor blocks or catches signals for its
//! own loop; exec keeps ignored dispositions and the mask. A service must start with every signal
//! at its default and nothing blocked, or it will (for one) never die of a broken pipe.

/// Sets every catchable signal to its default disposition and empties the signal mask.
///
/// Only async-signal-safe calls (sigaction, sigprocmask): safe to call between fork and exec.
pub fn reset_signals() {
    // SAFETY: sigaction with SIG_DFL and a zeroed sigaction is valid for any signal number;
    // numbers the kernel refuses (SIGKILL, SIGSTOP, unused real-time ones) just return EINVAL.
    // sigprocmask with an empty set only changes this thread's mask. Both are async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut action.sa_mask);
        for signal in 1..libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}
