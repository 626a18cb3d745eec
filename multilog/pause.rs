//! The warn-pause-retry loop multilog uses for every failure after it starts reading input.
//!
//! daemontools never drops data once it has started: it prints a warning, sleeps 5 seconds and
//! tries again. Writing back-pressures the service through the pipe meanwhile, as intended.

use std::io;
use std::time::Duration;

use vigil_proto::msg;

/// How long multilog waits before retrying a failed step (daemontools' deepsleep(5)).
pub const PAUSE: Duration = Duration::from_secs(5);

/// Repeats `step` until it succeeds; after each failure prints
/// `multilog: warning: unable to WHAT, pausing: REASON` and sleeps [`PAUSE`].
pub fn retry<T>(what: &[&[u8]], mut step: impl FnMut() -> io::Result<T>) -> T {
    loop {
        match step() {
            Ok(value) => return value,
            Err(e) => {
                let mut parts = what.to_vec();
                parts.push(b", pausing");
                msg::warn_unable("multilog", &e, &parts);
                std::thread::sleep(PAUSE);
            }
        }
    }
}

/// Prints `multilog: warning: TEXT` and sleeps [`PAUSE`] (failures with no errno behind them).
pub fn warn_and_pause(parts: &[&[u8]]) {
    msg::warn("multilog", parts);
    std::thread::sleep(PAUSE);
}
