//! A lean entry point for short-lived programs (svok, envdir, setuidgid, ...).
//!
//! Before `fn main`, std's runtime places a stack-overflow guard for the main thread: glibc's
//! pthread_getattr_np reads /proc/self/maps, then std maps an alternate signal stack and installs
//! SIGSEGV and SIGBUS handlers, and unmaps the stack again at exit. That is 18 of the 66 system
//! calls of `svok DIR` and about 0.1 ms per run, paid by every chain-loader in a run script and
//! every svc/svstat in a shell loop. A program that uses [`main!`] is `#![no_main]`: glibc calls
//! the C `main` the macro defines, which does only the two steps of std's set-up whose absence a
//! user could observe (fds 0-2 open, SIGPIPE ignored), runs the program's `fn main`, and flushes
//! stdout as std's exit path does. What is lost is std's "thread 'main' has overflowed its stack"
//! message: a stack overflow is a plain SIGSEGV, as in daemontools' C programs.
//!
//! `std::env::args_os()` needs no set-up: on glibc std captures argv in an `.init_array` hook
//! (hence Linux with glibc only; elsewhere the binaries keep std's `main`).
//! Long-running programs (supervise) keep std's ordinary `fn main`: start-up is paid once there.

use std::ffi::c_int;
use std::io::Write;
use std::process::ExitCode;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Defines the process entry point: `vigil_proc::main!(main);` beside `fn main() -> ExitCode`,
/// in a binary whose root has
/// `#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]`.
///
/// Skips std's stack-overflow guard set-up (see the module doc). Under `cfg(test)` the binary
/// keeps std's entry so its unit-test harness still builds, and so it does off glibc on Linux:
/// there std has no `.init_array` hook and `args_os()` would be empty without its runtime.
/// The symbol attribute lives here, in the one crate allowed `unsafe`, so the binaries stay
/// `#![forbid(unsafe_code)]`.
#[macro_export]
macro_rules! main {
    ($body:path) => {
        // SAFETY: exactly one C `main` per binary: the binary is `no_main` under this same
        // cfg, so rustc emits none, and this macro is invoked once at its root. glibc calls it with the
        // C signature declared here; the arguments are unused (std reads argv itself).
        #[cfg(all(not(test), target_os = "linux", target_env = "gnu"))]
        #[export_name = "main"]
        extern "C" fn vigil_c_main(
            _argc: ::std::ffi::c_int,
            _argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            $crate::entry::run($body)
        }
    };
}

/// Runs a program's `main` in place of std's runtime: opens /dev/null on a closed fd 0, 1 or 2,
/// ignores SIGPIPE (both as std does), calls `body`, flushes stdout, and returns the exit code
/// for glibc's `exit`. Called by [`main!`]; not meant to be called directly.
pub fn run(body: fn() -> ExitCode) -> c_int {
    open_standard_fds();
    ignore_sigpipe();
    let code = body();
    // std flushes its stdout buffer at exit; a partial last line would be lost otherwise.
    let _ = std::io::stdout().flush();
    exit_status(code)
}

/// ExitCode has no stable accessor for its number (`exit_process` is unstable); it compares
/// (Rust 1.83, hence the workspace's rust-version), and every code our programs return was made
/// from a u8, so one of the 256 matches.
fn exit_status(code: ExitCode) -> c_int {
    (0..=u8::MAX)
        .find(|&n| ExitCode::from(n) == code)
        .map_or(1, c_int::from)
}

/// As std: a program started with fd 0, 1 or 2 closed would otherwise hand out that number to
/// the next file it opens, and its messages (or an exec'd child's input) would go there.
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfd structs of a live local array, whose length
    // is passed; a zero timeout returns at once. A closed fd is reported as POLLNVAL, not an error.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    if r < 0 {
        return; // EINTR or ENOMEM at start-up: nothing to repair that we can see
    }
    for pollfd in fds {
        if pollfd.revents & libc::POLLNVAL != 0 {
            // open gives the lowest free number, which is this one (lower ones are open by now).
            // Not close-on-exec (std's File would be): a chain-loader's child inherits it.
            let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR, Mode::empty());
            if let Ok(null) = null {
                std::mem::forget(null); // it is the program's fd 0, 1 or 2 from now on
            }
        }
    }
}

/// As std: a write to a closed pipe returns EPIPE (reported as an error) instead of killing the
/// program. Children get SIGPIPE back at its default through [`crate::reset`].
fn ignore_sigpipe() {
    // SAFETY: setting a disposition to SIG_IGN installs no handler and touches no memory; this
    // runs before the program's code, single-threaded.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_is_the_code_made() {
        for n in [0u8, 1, 100, 111, 255] {
            assert_eq!(exit_status(ExitCode::from(n)), c_int::from(n));
        }
        assert_eq!(exit_status(ExitCode::SUCCESS), 0);
        assert_eq!(exit_status(ExitCode::FAILURE), 1);
    }
}
