//! Starting a child: posix_spawn (glibc's clone-vfork, reporting exec errors to the parent) in
//! a new session, every signal at its default, nothing blocked.
//!
//! A supervisor blocks the signals it reads through signalfd and Rust ignores SIGPIPE; exec would
//! pass both on, so the child resets every disposition and empties its mask. Its own session
//! (setsid) makes it the leader of a process group, so a signal can reach everything it started.
//! Standard input, output and error are inherited; every other descriptor vigil opens is
//! close-on-exec (std and nix open with O_CLOEXEC).

use std::ffi::CStr;
use std::io;
use std::os::raw::c_char;

extern "C" {
    static environ: *const *mut c_char;
}

/// The most arguments (argv[0] included) [`spawn`] passes; argv lives on the stack.
pub const MAX_ARGS: usize = 7;

/// Starts `path` with `args` (argv[0] first) in a new session with a clean signal state; the
/// child's pid, or why it could not start (a missing or non-executable program is reported here,
/// not by the child's exit).
pub fn spawn(path: &CStr, args: &[&CStr]) -> io::Result<i32> {
    if args.len() > MAX_ARGS {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    let mut argv: [*mut c_char; MAX_ARGS + 1] = [std::ptr::null_mut(); MAX_ARGS + 1];
    for (slot, arg) in argv.iter_mut().zip(args) {
        *slot = arg.as_ptr().cast_mut();
    }
    // SAFETY: attr and the signal sets are initialised by their init calls before use and
    // destroyed once; argv is a null-terminated array of pointers to NUL-terminated strings that
    // outlive the call; environ is the process environment, valid for the call (supervise has
    // one thread, so nothing changes it meanwhile); pid is written by posix_spawn.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let r = libc::posix_spawnattr_init(&mut attr);
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let flags = libc::POSIX_SPAWN_SETSID as libc::c_int
            | libc::POSIX_SPAWN_SETSIGDEF
            | libc::POSIX_SPAWN_SETSIGMASK;
        libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short);
        libc::posix_spawnattr_setsigdefault(&mut attr, &all);
        libc::posix_spawnattr_setsigmask(&mut attr, &none);
        let mut pid: libc::pid_t = 0;
        let r = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            std::ptr::null(),
            &attr,
            argv.as_ptr(),
            environ,
        );
        libc::posix_spawnattr_destroy(&mut attr);
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(pid)
    }
}
