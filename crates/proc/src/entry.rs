//! A lean entry point for short-lived programs (svok, envdir, setuidgid, ...) and supervise.
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
//! supervise uses it too, for memory rather than time: std's guard set-up reads /proc/self/maps
//! through glibc's `fopen`, which touches more of libc and dirties pages supervise keeps for as
//! long as it runs (6 to 10 kB PSS each with 20 services; docs/bench.md, "Memory per supervise").
//! The other long-running programs (svscan, multilog, readproctitle) keep std's `fn main`.

use std::ffi::{c_char, c_int, CStr, OsStr};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicIsize, AtomicPtr, Ordering};

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
            argc: ::std::ffi::c_int,
            argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            $crate::entry::run_with_argv($body, argc, argv)
        }
    };
}

/// argv as glibc passed it to the C `main`, for [`args`]; null until then.
static ARGV: AtomicPtr<*const c_char> = AtomicPtr::new(std::ptr::null_mut());
static ARGC: AtomicIsize = AtomicIsize::new(0);

/// [`run`], keeping the C `main`'s argv for [`args`]. Called by [`main!`].
pub fn run_with_argv(body: fn() -> ExitCode, argc: c_int, argv: *const *const c_char) -> c_int {
    ARGC.store(argc as isize, Ordering::Relaxed);
    ARGV.store(argv.cast_mut(), Ordering::Relaxed);
    run(body)
}

/// The program's arguments (argv[0] first) without copying them: std's `args_os()` copies
/// each into a heap string, and that one allocation keeps a heap page dirty in a supervise
/// that otherwise never allocates (docs/bench.md, "Memory per supervise"). Under std's own
/// entry (tests, other platforms) it leaks std's copies once instead.
pub fn args() -> impl Iterator<Item = &'static OsStr> {
    let argv = ARGV.load(Ordering::Relaxed).cast_const();
    let argc = if argv.is_null() {
        0
    } else {
        usize::try_from(ARGC.load(Ordering::Relaxed)).unwrap_or(0)
    };
    let copies = argv
        .is_null()
        .then(|| std::env::args_os().map(|a| &*Box::leak(a.into_boxed_os_str())));
    (0..argc)
        .map(move |i| {
            // SAFETY: argv is the C main's, which glibc keeps for the life of the process: an
            // array of argc pointers to NUL-terminated strings (nothing in vigil rewrites it),
            // and i < argc.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsStr::from_bytes(arg.to_bytes())
        })
        .chain(copies.into_iter().flatten())
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

extern "C" {
    #[link_name = "environ"]
    static ENVIRON: *const *const c_char;
}

/// The value of environment variable `name`, without copying it: std's `var_os` copies it
/// into a heap string (see [`args`] for why supervise avoids that).
pub fn env(name: &[u8]) -> Option<&'static OsStr> {
    // SAFETY: environ is the process environment, a null-terminated array of pointers to
    // NUL-terminated strings; supervise never changes its environment, so the strings live as
    // long as the process.
    unsafe {
        let mut at = ENVIRON;
        if at.is_null() {
            return None;
        }
        while !(*at).is_null() {
            let entry = CStr::from_ptr(*at).to_bytes();
            if entry.len() > name.len() && entry.starts_with(name) && entry[name.len()] == b'=' {
                return Some(OsStr::from_bytes(&entry[name.len() + 1..]));
            }
            at = at.add(1);
        }
    }
    None
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
