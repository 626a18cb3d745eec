//! The one reader of the small files a service directory holds: the settings supervise reads
//! (`backoff`, `timeout-kill`, `timeout-finish`, `notification-fd`, `notify-timeout`, the limit
//! files) and envdir's entries.
//!
//! Whoever can write a service directory must not be able to make root's supervise block, grow
//! or read another file through it (issue 12): a FIFO there would block a plain `open` forever,
//! a link to `/dev/zero` would be read until memory runs out. So a file is opened non-blocking
//! (a FIFO opens at once), without following a symbolic link where none is expected
//! ([`Links::Refuse`]; the directory itself may be a link, as daemontools users link whole
//! service directories), must be a regular file once open (`fstat`), and is read into the
//! caller's buffer, never past it: a file longer than the buffer is refused (or, for a caller
//! that wants only its beginning, reported as cut).
//!
//! A refusal is an [`io::Error`] whose reason [`crate::errstr::io_errstr`] words: `is a symbolic
//! link`, `not a regular file`, `is a directory`, `file too big`.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether the last component of the path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it (envdir: daemontools follows links, and a user runs envdir on their own files).
    Follow,
    /// Refuse it (`O_NOFOLLOW`): a setting of the service directory is the file itself.
    Refuse,
}

/// What a read put into the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes read, from the start of the buffer.
    pub len: usize,
    /// False when the file holds more than the buffer: only its beginning was read.
    pub whole: bool,
}

/// Why a file that exists is not read (the cases without an errno of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The last component is a symbolic link and [`Links::Refuse`] was asked.
    Link,
    /// A FIFO, a device, a socket: anything but a regular file or a directory.
    NotRegular,
}

impl Refused {
    /// The reason as messages word it.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Link => "is a symbolic link",
            Refused::NotRegular => "not a regular file",
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for Refused {}

fn refused(why: Refused) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Reads the beginning of the regular file at `path` into `buf`: `Ok(None)` if it does not
/// exist (a dangling link under [`Links::Follow`] included), else how much was read and
/// whether that is the whole file. Never blocks, never reads more than `buf.len() + 1` bytes.
pub fn read_head(path: &Path, links: Links, buf: &mut [u8]) -> io::Result<Option<Head>> {
    let nofollow = match links {
        Links::Follow => 0,
        Links::Refuse => libc::O_NOFOLLOW,
    };
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | nofollow)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refused(Refused::Link))
        }
        Err(e) => return Err(e),
    };
    let kind = file.metadata()?.file_type();
    if kind.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    }
    if !kind.is_file() {
        return Err(refused(Refused::NotRegular));
    }
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => return Ok(Some(Head { len, whole: true })),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut more = [0u8; 1];
    loop {
        match file.read(&mut more) {
            Ok(n) => return Ok(Some(Head { len, whole: n == 0 })),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads the whole regular file at `path` into `buf`: its bytes, `Ok(None)` if it does not
/// exist, `file too big` (EFBIG) if it holds more than `buf.len()` bytes.
pub fn read<'b>(path: &Path, links: Links, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
    match read_head(path, links, buf)? {
        None => Ok(None),
        Some(Head { len, whole: true }) => Ok(Some(&buf[..len])),
        Some(Head { whole: false, .. }) => Err(io::Error::from_raw_os_error(libc::EFBIG)),
    }
}

/// The cap for a file that holds a number or a word: 4 KiB.
pub const SETTING_MAX: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errstr::io_errstr;
    use std::fs;

    fn reason(r: io::Result<Option<&[u8]>>) -> &'static str {
        io_errstr(&r.expect_err("refused"))
    }

    #[test]
    fn reads_regular_files_up_to_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n");
        let mut buf = [0u8; 8];
        assert_eq!(read(&path, Links::Refuse, &mut buf).expect("absent"), None);
        fs::write(&path, "1000\n").expect("write");
        assert_eq!(
            read(&path, Links::Refuse, &mut buf).expect("read"),
            Some(&b"1000\n"[..])
        );
        fs::write(&path, "12345678").expect("write");
        assert_eq!(
            read(&path, Links::Refuse, &mut buf).expect("read"),
            Some(&b"12345678"[..])
        );
        fs::write(&path, "123456789").expect("write");
        assert_eq!(reason(read(&path, Links::Refuse, &mut buf)), "file too big");
        let head = read_head(&path, Links::Refuse, &mut buf).expect("head");
        assert_eq!(
            head,
            Some(Head {
                len: 8,
                whole: false
            })
        );
    }

    #[test]
    fn refuses_fifos_devices_links_and_directories_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buf = [0u8; 64];
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert_eq!(
            reason(read(&fifo, Links::Refuse, &mut buf)),
            "not a regular file"
        );
        assert_eq!(
            reason(read(&fifo, Links::Follow, &mut buf)),
            "not a regular file"
        );
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        assert_eq!(
            reason(read(&zero, Links::Refuse, &mut buf)),
            "is a symbolic link"
        );
        assert_eq!(
            reason(read(&zero, Links::Follow, &mut buf)),
            "not a regular file"
        );
        assert_eq!(
            reason(read(dir.path(), Links::Follow, &mut buf)),
            "is a directory"
        );
        let target = dir.path().join("target");
        fs::write(&target, "7").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert_eq!(
            reason(read(&link, Links::Refuse, &mut buf)),
            "is a symbolic link"
        );
        assert_eq!(
            read(&link, Links::Follow, &mut buf).expect("read"),
            Some(&b"7"[..])
        );
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("nowhere", &dangling).expect("symlink");
        assert_eq!(
            read(&dangling, Links::Follow, &mut buf).expect("read"),
            None
        );
    }
}
