//! Running a program as daemontools' `pathexec` does: PATH search without a shell, environment
//! changes applied the way `pathexec_env` applies them, and a clean signal state for the child.
//!
//! A chain-loader (envdir, setlock, softlimit, ...) builds a [`Program`], changes its environment,
//! then calls [`Program::exec`], which replaces the process; fghack calls [`Program::spawn`].

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::marker::PhantomData;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, read, write, ForkResult, Pid};

use crate::reset::reset_signals;

/// A program to run: its arguments, the environment it will get and the paths to try.
///
/// Everything exec needs is built here, before any fork, so the child of [`Program::spawn`]
/// never allocates.
#[derive(Debug, Clone)]
pub struct Program {
    argv: Vec<CString>,
    env: Vec<Vec<u8>>,
    search_path: Option<OsString>,
}

impl Program {
    /// The program `argv[0]` with arguments `argv[1..]` and this process's environment.
    ///
    /// compat: PATH is read now, from this process's environment, as daemontools' pathexec_run
    /// reads `environ`: a PATH set later with [`Program::set_env`] reaches the child but is not
    /// where the child is looked for.
    pub fn new(argv: &[OsString]) -> io::Result<Program> {
        if argv.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let argv = argv
            .iter()
            .map(|a| c_string(a.as_bytes().to_vec()))
            .collect::<io::Result<Vec<_>>>()?;
        let env = std::env::vars_os()
            .map(|(k, v)| {
                let mut entry = k.into_vec();
                entry.push(b'=');
                entry.extend_from_slice(v.as_bytes());
                entry
            })
            .collect();
        Ok(Program {
            argv,
            env,
            search_path: std::env::var_os("PATH"),
        })
    }

    /// Sets `name` to `value`, or removes it when `value` is `None`, as daemontools'
    /// pathexec_env does.
    ///
    /// compat: the name ends at its first `=` (a name `A=B` with value `v` replaces `A` with
    /// `A=B=v`), and the replaced entry's slot is filled by the last entry, so the child sees
    /// its environment in the order daemontools gives it.
    pub fn set_env(&mut self, name: &[u8], value: Option<&[u8]>) {
        let mut entry = name.to_vec();
        if let Some(value) = value {
            entry.push(b'=');
            entry.extend_from_slice(value);
        }
        let split = entry.iter().position(|&b| b == b'=').unwrap_or(entry.len());
        let key = &entry[..split];
        if let Some(at) = self
            .env
            .iter()
            .position(|e| e.starts_with(key) && e.get(split) == Some(&b'='))
        {
            self.env.swap_remove(at);
        }
        if split < entry.len() {
            self.env.push(entry);
        }
    }

    /// The program's name as the user gave it (`argv[0]`), for messages.
    pub fn name(&self) -> &OsStr {
        OsStr::from_bytes(self.argv[0].as_bytes())
    }

    /// Replaces this process with the program; returns only on failure, with the most
    /// informative error of the PATH search.
    ///
    /// The signal dispositions are reset and the mask emptied first, so the program starts
    /// as if from a fresh shell (a Rust program ignores SIGPIPE, which exec would hand on).
    pub fn exec(self) -> io::Error {
        let prepared = match Prepared::new(&self) {
            Ok(p) => p,
            Err(e) => return e,
        };
        reset_signals();
        io::Error::from(prepared.exec())
    }

    /// Starts the program in a child process, with a clean signal state; its pid once exec
    /// succeeded, or the error exec gave (the child is then reaped).
    ///
    /// File descriptors without close-on-exec are inherited, as with fork and exec.
    pub fn spawn(self) -> Result<Pid, SpawnError> {
        let prepared = Prepared::new(&self).map_err(SpawnError::Exec)?;
        let (report_r, report_w) =
            pipe2(OFlag::O_CLOEXEC).map_err(|e| SpawnError::Fork(e.into()))?;
        // SAFETY: the child runs only async-signal-safe calls (sigaction, sigprocmask, execve,
        // write, _exit) on memory prepared before the fork, so it is sound even if the parent
        // has other threads.
        match unsafe { fork() }.map_err(|e| SpawnError::Fork(e.into()))? {
            ForkResult::Child => {
                drop(report_r);
                reset_signals();
                let errno = prepared.exec() as i32;
                let _ = write(&report_w, &errno.to_ne_bytes());
                // SAFETY: _exit ends the child at once, running no destructor or atexit handler
                // of the parent's copy.
                unsafe { libc::_exit(111) }
            }
            ForkResult::Parent { child } => {
                drop(report_w);
                let mut buf = [0u8; 4];
                let mut got = 0;
                while got < buf.len() {
                    match read(&report_r, &mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(Errno::EINTR) => continue,
                        Err(e) => return Err(SpawnError::Fork(e.into())),
                    }
                }
                if got < buf.len() {
                    return Ok(child); // the report pipe closed on a successful exec
                }
                let _ = waitpid(child, None);
                let errno = i32::from_ne_bytes(buf);
                Err(SpawnError::Exec(io::Error::from_raw_os_error(errno)))
            }
        }
    }
}

/// Why [`Program::spawn`] failed.
#[derive(Debug)]
pub enum SpawnError {
    /// No child could be created.
    Fork(io::Error),
    /// The child could not run the program (the error of the PATH search).
    Exec(io::Error),
}

/// The pointer arrays execve takes, over strings owned by the [`Program`] they came from.
struct Prepared<'a> {
    candidates: Vec<CString>,
    searched: bool,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    _program: PhantomData<&'a Program>,
}

impl<'a> Prepared<'a> {
    fn new(program: &'a Program) -> io::Result<Prepared<'a>> {
        let file = program.argv[0].as_bytes();
        let searched = !file.contains(&b'/');
        let candidates = if searched {
            // compat: daemontools' default PATH when none is set.
            let path = program
                .search_path
                .as_deref()
                .map_or(&b"/bin:/usr/bin"[..], OsStrExt::as_bytes);
            path.split(|&b| b == b':')
                .map(|dir| {
                    // compat: an empty PATH entry is the current directory.
                    let dir = if dir.is_empty() { &b"."[..] } else { dir };
                    c_string([dir, b"/", file].concat())
                })
                .collect::<io::Result<Vec<_>>>()?
        } else {
            vec![program.argv[0].clone()]
        };
        let env = program
            .env
            .iter()
            .map(|e| c_string(e.clone()))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Prepared {
            candidates,
            searched,
            argv: null_terminated(&program.argv),
            envp: null_terminated(&env),
            _env: env,
            _program: PhantomData,
        })
    }

    /// Tries each candidate; returns the error to report if none could be run.
    ///
    /// compat: as daemontools' pathexec_run, a missing file moves on to the next entry, an
    /// access, permission or is-a-directory error is remembered and the search goes on, any
    /// other error stops it; the remembered error wins over a later "file does not exist".
    fn exec(&self) -> Errno {
        let mut saved = None;
        let mut last = Errno::ENOENT;
        for candidate in &self.candidates {
            // SAFETY: candidate is NUL-terminated; argv and envp are NULL-terminated arrays of
            // pointers into CStrings that `self` (and the Program it borrows from) keeps alive.
            unsafe { libc::execve(candidate.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
            last = Errno::last();
            if !self.searched {
                return last;
            }
            if last != Errno::ENOENT {
                saved = Some(last);
                if !matches!(last, Errno::EACCES | Errno::EPERM | Errno::EISDIR) {
                    return last;
                }
            }
        }
        saved.unwrap_or(last)
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(env: &[&str]) -> Program {
        Program {
            argv: vec![CString::new("x").unwrap()],
            env: env.iter().map(|e| e.as_bytes().to_vec()).collect(),
            search_path: None,
        }
    }

    fn env_of(p: &Program) -> Vec<String> {
        p.env
            .iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn set_env_replaces_in_daemontools_order() {
        let mut p = program(&["HOME=/root", "FOO=1", "B=old"]);
        p.set_env(b"HOME", None);
        p.set_env(b"B=C", Some(b"v"));
        p.set_env(b"A", Some(b"hello"));
        assert_eq!(env_of(&p), ["FOO=1", "B=C=v", "A=hello"]);
    }

    #[test]
    fn set_env_needs_the_whole_name() {
        let mut p = program(&["FOOBAR=1", "FO=2"]);
        p.set_env(b"FOO", Some(b"3"));
        assert_eq!(env_of(&p), ["FOOBAR=1", "FO=2", "FOO=3"]);
    }

    #[test]
    fn search_candidates_follow_path() {
        let mut p = program(&[]);
        p.search_path = Some(OsString::from("/a::/b"));
        let prepared = Prepared::new(&p).unwrap();
        let got: Vec<_> = prepared.candidates.iter().map(|c| c.as_bytes()).collect();
        assert_eq!(got, [&b"/a/x"[..], b"./x", b"/b/x"]);
        p.search_path = None;
        let prepared = Prepared::new(&p).unwrap();
        assert_eq!(prepared.candidates.len(), 2);
    }
}
