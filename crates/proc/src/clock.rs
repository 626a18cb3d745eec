//! The wall clock as C's `time()` reads it, for output that must match daemontools' to the
//! second.
//!
//! glibc's `time()` returns the kernel's coarse clock (the time of the last tick), which can
//! trail `clock_gettime(CLOCK_REALTIME)` (std's `SystemTime::now`) by a few milliseconds. Just
//! after a second begins, the two disagree on which second it is: daemontools' svstat, which
//! calls `time()`, prints "0 seconds" where the fine clock would give 1.

/// Unix seconds now, as `time()` returns them.
pub fn time_now() -> u64 {
    // SAFETY: time() with a null pointer only returns the time; it writes nothing.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    u64::try_from(now).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn never_ahead_of_the_fine_clock_and_at_most_a_tick_behind() {
        for _ in 0..1000 {
            let coarse = time_now();
            let fine = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!(coarse <= fine && fine - coarse <= 1, "{coarse} {fine}");
        }
    }
}
