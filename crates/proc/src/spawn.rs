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
use std::os::fd::{AsRawFd, BorrowedFd};
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
    spawn_with(path, args, &Extra::default())
}

/// What a child gets beyond [`spawn`]'s: a descriptor at a given number, more environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extra<'a> {
    /// This descriptor as the child's descriptor number N (dup2 in the child, so it is open
    /// across exec); the number must differ from the descriptor's own.
    pub fd: Option<(BorrowedFd<'a>, i32)>,
    /// `NAME=value` entries added to the environment; an entry replaces one of the same name.
    pub env: &'a [&'a CStr],
}

/// `NAME=` of an environment entry `NAME=value` (the whole entry if it has no `=`).
fn env_name(entry: &[u8]) -> &[u8] {
    match entry.iter().position(|&b| b == b'=') {
        Some(i) => &entry[..=i],
        None => entry,
    }
}

/// The child's environment: the process's with `extra.env` added (null-terminated), or empty
/// when there is nothing to add (the child then gets `environ` itself): only when asked for,
/// so the plain start stays free of allocation.
fn environment(extra: &Extra<'_>) -> Vec<*mut c_char> {
    let mut envp: Vec<*mut c_char> = Vec::new();
    if !extra.env.is_empty() {
        // SAFETY: environ is the process environment, a null-terminated array of pointers to
        // NUL-terminated strings; supervise has one thread, so nothing changes it meanwhile.
        unsafe {
            let mut at = environ;
            while !(*at).is_null() {
                let entry = CStr::from_ptr(*at).to_bytes();
                let name = env_name(entry);
                if !extra.env.iter().any(|e| env_name(e.to_bytes()) == name) {
                    envp.push(*at);
                }
                at = at.add(1);
            }
        }
        envp.extend(extra.env.iter().map(|e| e.as_ptr().cast_mut()));
        envp.push(std::ptr::null_mut());
    }
    envp
}

/// [`spawn`], with a descriptor and environment entries for the child (readiness pipes,
/// NOTIFY_SOCKET, a listener's VIGIL_* variables).
pub fn spawn_with(path: &CStr, args: &[&CStr], extra: &Extra<'_>) -> io::Result<i32> {
    if args.len() > MAX_ARGS {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    let mut argv: [*mut c_char; MAX_ARGS + 1] = [std::ptr::null_mut(); MAX_ARGS + 1];
    for (slot, arg) in argv.iter_mut().zip(args) {
        *slot = arg.as_ptr().cast_mut();
    }
    let envp = environment(extra);
    // SAFETY: attr, the file actions and the signal sets are initialised by their init calls
    // before use and destroyed once; argv and envp are null-terminated arrays of pointers to
    // NUL-terminated strings that outlive the call; environ is the process environment, valid
    // for the call (supervise has one thread, so nothing changes it meanwhile); the descriptor
    // to dup is borrowed for the call; pid is written by posix_spawn.
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
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        if let Some((fd, number)) = extra.fd {
            libc::posix_spawn_file_actions_init(&mut actions);
            libc::posix_spawn_file_actions_adddup2(&mut actions, fd.as_raw_fd(), number);
        }
        let mut pid: libc::pid_t = 0;
        let r = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            if extra.fd.is_some() {
                &actions
            } else {
                std::ptr::null()
            },
            &attr,
            argv.as_ptr(),
            if envp.is_empty() {
                environ
            } else {
                envp.as_ptr()
            },
        );
        if extra.fd.is_some() {
            libc::posix_spawn_file_actions_destroy(&mut actions);
        }
        libc::posix_spawnattr_destroy(&mut attr);
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(pid)
    }
}

/// Where [`spawn_in`] starts a child: a cgroup v2 directory, and optionally the `cgroup.procs`
/// file of another hierarchy (a v1 controller) the child joins before it runs the program.
#[derive(Debug, Clone, Copy)]
pub struct Cgroups<'a> {
    /// An open cgroup v2 directory: the child is created in it (clone3's CLONE_INTO_CGROUP,
    /// Linux 5.7+), so nothing it starts, however early, is outside it.
    pub v2: BorrowedFd<'a>,
    /// A `cgroup.procs` file open for writing: the child writes `0` (itself) to it first.
    pub join: Option<BorrowedFd<'a>>,
}

/// clone3's CLONE_INTO_CGROUP (libc's constant is an `int` on this target, too narrow).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`spawn_with`], with the child created inside the cgroup `into.v2` (and joined to
/// `into.join`): fork-like clone3, then in the child a new session, the clean signal state, the
/// extra descriptor and exec, as posix_spawn does. An exec error comes back to the parent
/// through a close-on-exec pipe, so it is reported here as [`spawn`] reports it. Fails with the
/// kernel's error (ENOSYS before 5.3, EINVAL before 5.7 or for a v1 directory) without a child
/// left behind; the caller may then fall back to [`spawn_with`].
pub fn spawn_in(
    path: &CStr,
    args: &[&CStr],
    extra: &Extra<'_>,
    into: &Cgroups<'_>,
) -> io::Result<i32> {
    if args.len() > MAX_ARGS {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    let mut argv: [*const c_char; MAX_ARGS + 1] = [std::ptr::null(); MAX_ARGS + 1];
    for (slot, arg) in argv.iter_mut().zip(args) {
        *slot = arg.as_ptr();
    }
    let envp = environment(extra);
    let mut pipe = [-1 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = pipe;
    // SAFETY: clone_args is plain integers; zeroed is "no flags, nothing".
    let mut args3: libc::clone_args = unsafe { std::mem::zeroed() };
    args3.flags = libc::CLONE_VFORK as u64 | CLONE_INTO_CGROUP;
    args3.exit_signal = libc::SIGCHLD as u64;
    args3.cgroup = into.v2.as_raw_fd() as u64;
    // SAFETY: clone3 without CLONE_VM is a fork: the child gets a copy of this single-threaded
    // process and, until execve or _exit, calls only async-signal-safe functions (write,
    // setsid, sigaction, sigprocmask, dup2, execve, _exit) on memory prepared above (argv,
    // envp, the pipe). CLONE_VFORK holds the parent until the child has exec'd or exited.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args3 as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if pid == 0 {
        // SAFETY: in the child, see above.
        unsafe {
            if let Some(procs) = into.join {
                libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1);
            }
            libc::setsid();
            crate::reset::reset_signals();
            if let Some((fd, number)) = extra.fd {
                libc::dup2(fd.as_raw_fd(), number);
            }
            let env = if envp.is_empty() {
                environ.cast::<*const c_char>()
            } else {
                envp.as_ptr().cast::<*const c_char>()
            };
            libc::execve(path.as_ptr(), argv.as_ptr(), env);
            let errno = *libc::__errno_location();
            libc::write(write_end, (&errno as *const libc::c_int).cast(), 4);
            libc::_exit(127);
        }
    }
    let failed = if pid < 0 {
        Some(io::Error::last_os_error())
    } else {
        None
    };
    let mut errno: libc::c_int = 0;
    // SAFETY: our copy of the write end is closed, so the read ends at the child's exec (its
    // copy is close-on-exec) or after its 4 bytes and exit; errno is 4 writable bytes.
    let got = unsafe {
        libc::close(write_end);
        let got = if failed.is_none() {
            libc::read(read_end, (&mut errno as *mut libc::c_int).cast(), 4)
        } else {
            0
        };
        libc::close(read_end);
        got
    };
    if let Some(e) = failed {
        return Err(e);
    }
    if got == 4 {
        // SAFETY: waitpid on our own child that has exited (it wrote its errno first).
        unsafe {
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        return Err(io::Error::from_raw_os_error(errno));
    }
    Ok(pid as i32)
}
