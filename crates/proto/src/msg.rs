//! daemontools-style messages on stderr and the exit codes that go with them.
//!
//! Every message is one line, written with one write(2) so lines of concurrent programs never
//! interleave: `prog: fatal: unable to VERB OBJECT: REASON`, `prog: warning: ...`,
//! `prog: usage: ...`. Exit codes: 100 usage, 111 system failure, 101 internal error.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::OnceLock;

use crate::errstr::io_errstr;

/// Exit code for a usage error (daemontools).
pub const EXIT_USAGE: u8 = 100;
/// Exit code for a temporary or system failure (daemontools).
pub const EXIT_FAILURE: u8 = 111;
/// Exit code for "cannot happen" (s6): a bug in vigil, never a panic.
pub const EXIT_INTERNAL: u8 = 101;

/// Why a program stops: the text after `prog: ` and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// The message after `prog: `, without the newline; empty means exit silently.
    pub text: Vec<u8>,
    /// The process exit code.
    pub code: u8,
}

impl Fail {
    /// `prog: usage: TEXT`, exit 100.
    pub fn usage(text: impl AsRef<[u8]>) -> Fail {
        Fail {
            text: cat(&[b"usage: ", text.as_ref()]),
            code: EXIT_USAGE,
        }
    }

    /// `prog: fatal: unable to PARTS...: REASON`, exit 111; REASON in daemontools' words.
    pub fn unable(error: &io::Error, what: &[&[u8]]) -> Fail {
        let mut text = b"fatal: unable to ".to_vec();
        for part in what {
            text.extend_from_slice(part);
        }
        text.extend_from_slice(b": ");
        text.extend_from_slice(io_errstr(error).as_bytes());
        Fail {
            text,
            code: EXIT_FAILURE,
        }
    }

    /// `prog: fatal: PARTS...`, exit 111: a failure with no errno behind it.
    pub fn fatal(parts: &[&[u8]]) -> Fail {
        let mut text = b"fatal: ".to_vec();
        text.extend(parts.iter().flat_map(|p| p.iter().copied()));
        Fail {
            text,
            code: EXIT_FAILURE,
        }
    }

    /// `prog: TEXT` exactly as given, with the given exit code (for daemontools' odd lines, such
    /// as svc's `svc options: ...` usage, where the caller supplies the whole line).
    pub fn raw(text: impl AsRef<[u8]>, code: u8) -> Fail {
        Fail {
            text: text.as_ref().to_vec(),
            code,
        }
    }

    /// `prog: internal error: TEXT`, exit 101: an invariant broke; reported, never a panic.
    pub fn internal(text: impl AsRef<[u8]>) -> Fail {
        Fail {
            text: cat(&[b"internal error: ", text.as_ref()]),
            code: EXIT_INTERNAL,
        }
    }

    /// Exit with `code` and print nothing (setlock -x, svok's "not running").
    pub fn silent(code: u8) -> Fail {
        Fail {
            text: Vec::new(),
            code,
        }
    }
}

/// Joins byte pieces into one buffer.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// Writes one whole line to stderr in one write(2); errors writing stderr are ignored, as
/// daemontools ignores them (there is nowhere left to report them).
pub fn write_line(parts: &[&[u8]]) {
    let mut line = cat(parts);
    line.push(b'\n');
    let _ = io::stderr().lock().write_all(&line);
}

/// A second destination for warnings, set once by a program that has one (supervise: its
/// service's log pipe). It gets each warning without the `prog: ` prefix and newline.
static WARNINGS_ALSO: OnceLock<fn(&[u8])> = OnceLock::new();

/// From now on every [`warn`] and [`warn_unable`] line also goes to `copy` (given the text
/// after `prog: `, `warning: ...`, without the newline). Set at most once; a later call is
/// ignored.
pub fn copy_warnings_to(copy: fn(&[u8])) {
    let _ = WARNINGS_ALSO.set(copy);
}

fn warning(prog: &str, parts: &[&[u8]]) {
    let text = cat(parts);
    write_line(&[prog.as_bytes(), b": ", &text]);
    if let Some(copy) = WARNINGS_ALSO.get() {
        copy(&text);
    }
}

/// `prog: warning: PARTS...` on stderr; the program goes on.
pub fn warn(prog: &str, parts: &[&[u8]]) {
    let mut all: Vec<&[u8]> = vec![b"warning: "];
    all.extend_from_slice(parts);
    warning(prog, &all);
}

/// `prog: warning: unable to PARTS...: REASON` on stderr; the program goes on.
pub fn warn_unable(prog: &str, error: &io::Error, what: &[&[u8]]) {
    let mut all: Vec<&[u8]> = vec![b"warning: unable to "];
    all.extend_from_slice(what);
    all.push(b": ");
    all.push(io_errstr(error).as_bytes());
    warning(prog, &all);
}

/// Ends `main`: prints a failure's line as `prog: TEXT` and turns the result into an exit code.
pub fn finish(prog: &str, result: Result<ExitCode, Fail>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(fail) => {
            if !fail.text.is_empty() {
                write_line(&[prog.as_bytes(), b": ", &fail.text]);
            }
            ExitCode::from(fail.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unable_reads_as_daemontools() {
        let e = io::Error::from_raw_os_error(libc::EAGAIN);
        let f = Fail::unable(&e, &[b"acquire ", b"svc", b"/supervise/lock"]);
        assert_eq!(
            f.text,
            b"fatal: unable to acquire svc/supervise/lock: temporary failure".to_vec()
        );
        assert_eq!(f.code, 111);
    }

    #[test]
    fn usage_is_exit_100() {
        let f = Fail::usage("svok dir");
        assert_eq!(f.text, b"usage: svok dir".to_vec());
        assert_eq!(f.code, 100);
    }
}
