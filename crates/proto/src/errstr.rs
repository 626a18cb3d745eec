//! daemontools' wording for system errors (src/error_str.c), so messages match byte for byte.
//!
//! compat: the table is searched in daemontools' order, so where Linux gives two names one
//! number (EAGAIN and EWOULDBLOCK) the first entry wins: "temporary failure".

use std::io;

/// daemontools' table, in its order; names this platform lacks are left out.
///
/// Only read at compile time: at run time the texts are one string ([`TEXT`]) and the entries
/// number and offsets ([`INDEX`]). A table of `&str` would be 88 pointers that a
/// position-independent binary relocates, dirtying 2 kB in every supervise at start-up
/// (docs/bench.md, "Memory per supervise"); offsets need no relocation.
const TABLE: &[(i32, &str)] = &[
    (0, "no error"),
    (libc::EINTR, "interrupted system call"),
    (libc::ENOMEM, "out of memory"),
    (libc::ENOENT, "file does not exist"),
    (libc::ETXTBSY, "text busy"),
    (libc::EIO, "input/output error"),
    (libc::EEXIST, "file already exists"),
    (libc::ETIMEDOUT, "timed out"),
    (libc::EINPROGRESS, "operation in progress"),
    (libc::EAGAIN, "temporary failure"),
    (libc::EWOULDBLOCK, "input/output would block"),
    (libc::EPIPE, "broken pipe"),
    (libc::EPERM, "permission denied"),
    (libc::EACCES, "access denied"),
    (libc::ENXIO, "device not configured"),
    (libc::EPROTO, "protocol error"),
    (libc::EISDIR, "is a directory"),
    (libc::ECONNREFUSED, "connection refused"),
    (libc::ENOTDIR, "not a directory"),
    (libc::ESRCH, "no such process"),
    (libc::E2BIG, "argument list too long"),
    (libc::ENOEXEC, "exec format error"),
    (libc::EBADF, "file descriptor not open"),
    (libc::ECHILD, "no child processes"),
    (libc::EDEADLK, "operation would cause deadlock"),
    (libc::EFAULT, "bad address"),
    (libc::ENOTBLK, "not a block device"),
    (libc::EBUSY, "device busy"),
    (libc::EXDEV, "cross-device link"),
    (libc::ENODEV, "device does not support operation"),
    (libc::EINVAL, "invalid argument"),
    (libc::ENFILE, "system cannot open more files"),
    (libc::EMFILE, "process cannot open more files"),
    (libc::ENOTTY, "not a tty"),
    (libc::EFBIG, "file too big"),
    (libc::ENOSPC, "out of disk space"),
    (libc::ESPIPE, "unseekable descriptor"),
    (libc::EROFS, "read-only file system"),
    (libc::EMLINK, "too many links"),
    (libc::EDOM, "input out of range"),
    (libc::ERANGE, "output out of range"),
    (libc::EALREADY, "operation already in progress"),
    (libc::ENOTSOCK, "not a socket"),
    (libc::EDESTADDRREQ, "destination address required"),
    (libc::EMSGSIZE, "message too long"),
    (libc::EPROTOTYPE, "incorrect protocol type"),
    (libc::ENOPROTOOPT, "protocol not available"),
    (libc::EPROTONOSUPPORT, "protocol not supported"),
    (libc::ESOCKTNOSUPPORT, "socket type not supported"),
    (libc::EOPNOTSUPP, "operation not supported"),
    (libc::EPFNOSUPPORT, "protocol family not supported"),
    (libc::EAFNOSUPPORT, "address family not supported"),
    (libc::EADDRINUSE, "address already used"),
    (libc::EADDRNOTAVAIL, "address not available"),
    (libc::ENETDOWN, "network down"),
    (libc::ENETUNREACH, "network unreachable"),
    (libc::ENETRESET, "network reset"),
    (libc::ECONNABORTED, "connection aborted"),
    (libc::ECONNRESET, "connection reset"),
    (libc::ENOBUFS, "out of buffer space"),
    (libc::EISCONN, "already connected"),
    (libc::ENOTCONN, "not connected"),
    (libc::ESHUTDOWN, "socket shut down"),
    (libc::ETOOMANYREFS, "too many references"),
    (libc::ELOOP, "symbolic link loop"),
    (libc::ENAMETOOLONG, "file name too long"),
    (libc::EHOSTDOWN, "host down"),
    (libc::EHOSTUNREACH, "host unreachable"),
    (libc::ENOTEMPTY, "directory not empty"),
    (libc::EUSERS, "too many users"),
    (libc::EDQUOT, "disk quota exceeded"),
    (libc::ESTALE, "stale NFS file handle"),
    (libc::EREMOTE, "too many levels of remote in path"),
    (libc::ENOLCK, "no locks available"),
    (libc::ENOSYS, "system call not available"),
    (libc::ENOSTR, "not a stream device"),
    (libc::ETIME, "timer expired"),
    (libc::ENOSR, "out of stream resources"),
    (libc::ENOMSG, "no message of desired type"),
    (libc::EBADMSG, "bad message type"),
    (libc::EIDRM, "identifier removed"),
    (libc::ENONET, "machine not on network"),
    (libc::ENOLINK, "link severed"),
    (libc::EADV, "advertise error"),
    (libc::ESRMNT, "srmount error"),
    (libc::ECOMM, "communication error"),
    (libc::EMULTIHOP, "multihop attempted"),
    (libc::EREMCHG, "remote address changed"),
];

const ENTRIES: usize = TABLE.len();

/// The byte length of all texts together.
const TEXT_LEN: usize = {
    let mut len = 0;
    let mut i = 0;
    while i < ENTRIES {
        len += TABLE[i].1.len();
        i += 1;
    }
    len
};

/// Every text of [`TABLE`], one after the other.
const TEXT_BYTES: [u8; TEXT_LEN] = {
    let mut text = [0u8; TEXT_LEN];
    let (mut at, mut i) = (0, 0);
    while i < ENTRIES {
        let entry = TABLE[i].1.as_bytes();
        let mut j = 0;
        while j < entry.len() {
            text[at] = entry[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    text
};

static TEXT: &str = match std::str::from_utf8(&TEXT_BYTES) {
    Ok(text) => text,
    Err(_) => panic!("the texts are ASCII"),
};

/// Per entry of [`TABLE`]: its errno, and where its text starts and ends in [`TEXT`].
static INDEX: [(i32, u16, u16); ENTRIES] = {
    let mut index = [(0, 0, 0); ENTRIES];
    let (mut at, mut i) = (0, 0);
    while i < ENTRIES {
        let end = at + TABLE[i].1.len();
        index[i] = (TABLE[i].0, at as u16, end as u16);
        at = end;
        i += 1;
    }
    index
};

/// daemontools' text for an errno value; "unknown error" where its table has none.
pub fn errstr(errno: i32) -> &'static str {
    INDEX
        .iter()
        .find(|(number, _, _)| *number == errno)
        .and_then(|&(_, start, end)| TEXT.get(usize::from(start)..usize::from(end)))
        .unwrap_or("unknown error")
}

/// daemontools' text for an I/O error: its errno where it has one, else the nearest errno.
pub fn io_errstr(error: &io::Error) -> &'static str {
    if let Some(errno) = error.raw_os_error() {
        return errstr(errno);
    }
    if let Some(why) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<crate::bounded::Refused>())
    {
        return why.reason();
    }
    let errno = match error.kind() {
        io::ErrorKind::NotFound => libc::ENOENT,
        io::ErrorKind::PermissionDenied => libc::EACCES,
        io::ErrorKind::AlreadyExists => libc::EEXIST,
        io::ErrorKind::WouldBlock => libc::EAGAIN,
        io::ErrorKind::InvalidInput => libc::EINVAL,
        io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        io::ErrorKind::Interrupted => libc::EINTR,
        io::ErrorKind::BrokenPipe => libc::EPIPE,
        io::ErrorKind::OutOfMemory => libc::ENOMEM,
        io::ErrorKind::UnexpectedEof => libc::EIO,
        _ => return "unknown error",
    };
    errstr(errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_entry_wins_for_shared_numbers() {
        assert_eq!(errstr(libc::EWOULDBLOCK), "temporary failure");
        assert_eq!(errstr(libc::EAGAIN), "temporary failure");
    }

    #[test]
    fn common_errors_read_as_daemontools() {
        assert_eq!(errstr(libc::ENOENT), "file does not exist");
        assert_eq!(errstr(libc::EACCES), "access denied");
        assert_eq!(errstr(libc::ELOOP), "symbolic link loop");
        assert_eq!(errstr(libc::ENXIO), "device not configured");
        assert_eq!(errstr(99999), "unknown error");
    }

    #[test]
    fn every_entry_reads_its_own_text() {
        // compat: where two names share a number the first entry's text is the answer.
        for (i, &(errno, text)) in TABLE.iter().enumerate() {
            if TABLE[..i].iter().all(|&(n, _)| n != errno) {
                assert_eq!(errstr(errno), text, "errno {errno}");
            }
        }
    }

    #[test]
    fn io_errors_without_errno_are_mapped() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(io_errstr(&e), "file does not exist");
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(io_errstr(&e), "access denied");
    }
}
