//! The descriptor limit: two per log pipe, so thousands of logged services outgrow the usual
//! soft limit of 1024. On EMFILE svscan raises its soft limit towards the hard one and tries
//! again, rather than leaving services down. At the hard limit, a reserve of descriptors held
//! from the start is let go for the one spawn that needs it (a supervise to restart), then taken
//! again: new services may wait for room, a running one always gets its supervise back.

use std::fs::File;
use std::io;
use std::sync::Mutex;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// What starting a supervise needs beyond what svscan holds: the pipe std uses to report a
/// failed exec, and the copy of the log pipe's end for the child (rounded up).
const RESERVE: usize = 4;

/// The reserve: descriptors on /dev/null, held until a spawn needs room.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// Takes the reserve (at start, and again after each use); what cannot be had now is taken
/// later.
pub fn reserve() {
    let Ok(mut held) = HELD.lock() else {
        return;
    };
    while held.len() < RESERVE {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(_) => break,
        }
    }
}

/// Runs `op`; if it fails with EMFILE, raises the soft limit and runs it again; if that is not
/// possible, lets the reserve go for one more try (`spare` true: a supervise to start).
pub fn retry<T>(spare: bool, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    match op() {
        Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
            if raise() {
                return op();
            }
            if !spare {
                return Err(e);
            }
            if let Ok(mut held) = HELD.lock() {
                held.clear();
            }
            let again = op();
            reserve();
            again
        }
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
