//! The descriptor limit: two per log pipe, so thousands of logged services outgrow the usual
//! soft limit of 1024. On EMFILE svscan raises its soft limit towards the hard one and tries
//! again, rather than leaving services down.

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Runs `op`; if it fails with EMFILE and the soft limit could be raised, runs it once more.
pub fn retry<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match op() {
        Err(e) if e.raw_os_error() == Some(libc::EMFILE) && raise() => op(),
        other => other,
    }
}

/// Doubles the soft RLIMIT_NOFILE (at least to 1024), up to the hard limit; false if it cannot
/// grow. Children inherit the raised limit.
fn raise() -> bool {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return false;
    };
    if soft >= hard {
        return false;
    }
    let wanted = soft.saturating_mul(2).max(1024).min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok()
}
