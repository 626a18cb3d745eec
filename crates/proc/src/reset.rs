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
        for signal in 1..=libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
        reset_reserved();
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// Resets the signals glibc keeps for itself (32 and 33, below SIGRTMIN), which its sigaction
/// refuses: a parent that ignored them (seen under a test harness) would hand that on through
/// exec. Raw rt_sigaction reaches them.
#[cfg(target_os = "linux")]
fn reset_reserved() {
    // The kernel's struct sigaction (handler, flags, restorer, mask) all zero is SIG_DFL.
    let default = [0u64; 4];
    for signal in 32..libc::SIGRTMIN() {
        // SAFETY: rt_sigaction reads a zeroed kernel sigaction (SIG_DFL, no flags, empty mask)
        // from a live local and writes nothing (old action NULL); the set size is the 64-bit
        // mask of x86_64 and aarch64. A raw syscall is async-signal-safe.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn reset_reserved() {}
