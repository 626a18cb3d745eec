//! Readiness: how a service tells supervise it is ready, by either of two protocols.
//!
//! - s6's: if `DIR/notification-fd` holds a number N (a line of decimal digits), supervise gives
//!   `run` the write end of a pipe as its file descriptor N. The first newline written to it
//!   means "ready"; supervise then closes its end (later writes get EPIPE, harmlessly). If the
//!   service closes the pipe without a newline it stays "up, not ready".
//! - systemd's: if `DIR/notify-socket` exists, supervise binds a datagram socket at
//!   `DIR/supervise/notify` and gives `run` its absolute path in `NOTIFY_SOCKET`. A datagram
//!   with a line `READY=1` means "ready" (sd_notify(3)); other lines are ignored.
//!
//! Until the notification the state is "starting" (up, not ready); a service with neither file
//! is ready as soon as it is spawned. The time of readiness goes into the status file
//! (`ready_at`) and the `U` event into the journal and the FIFOs.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use vigil_proto::paths;

/// The file naming the service's notification descriptor.
pub const NOTIFICATION_FD: &str = "notification-fd";
/// The file asking for systemd's NOTIFY_SOCKET protocol.
pub const NOTIFY_SOCKET_FILE: &str = "notify-socket";
/// The datagram socket supervise binds for the systemd protocol.
pub const NOTIFY_SOCKET: &str = "supervise/notify";

/// Reads `dir/notification-fd`: `Ok(None)` when the file is missing, the number when it is
/// a line of digits (3 or more: 0, 1 and 2 are the service's stdio), `InvalidData` otherwise.
/// Read through [`vigil_proto::bounded`]: a FIFO, a device or a link there is an error, at once.
// Never inlined: its 4 KiB buffer stays a leaf frame, off the path to posix_spawn, so no
// supervise keeps more stack pages for it (docs/bench.md, "Memory per supervise").
#[inline(never)]
pub fn notification_fd(dir: &OsStr) -> io::Result<Option<i32>> {
    let mut buf = [0u8; vigil_proto::bounded::SETTING_MAX];
    let path = paths::under(dir, NOTIFICATION_FD);
    let Some(text) = vigil_proto::bounded::read(
        Path::new(&path),
        vigil_proto::bounded::Links::Refuse,
        &mut buf,
    )?
    else {
        return Ok(None);
    };
    parse_fd(text)
        .map(Some)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

fn parse_fd(text: &[u8]) -> Option<i32> {
    let digits = text.strip_suffix(b"\n").unwrap_or(text);
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    (n >= 3).then_some(n)
}

/// True when `dir/notify-socket` exists: the service speaks systemd's protocol.
pub fn wants_notify_socket(dir: &OsStr) -> bool {
    fs::symlink_metadata(paths::under(dir, NOTIFY_SOCKET_FILE)).is_ok()
}

/// What a look at a readiness channel found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The service said it is ready.
    Ready,
    /// Nothing decisive yet; keep listening.
    Pending,
    /// The service closed the channel without a notification: stop listening.
    Closed,
}

/// supervise's end of a notification-fd pipe.
#[derive(Debug)]
pub struct NotifyPipe {
    reader: File,
}

impl NotifyPipe {
    /// A pipe: supervise's read end (non-blocking, close-on-exec) and the write end to hand to
    /// the child at fd N (close-on-exec here; the spawner dups it into place).
    pub fn new() -> io::Result<(NotifyPipe, OwnedFd)> {
        let (reader, writer) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
        Ok((
            NotifyPipe {
                reader: File::from(reader),
            },
            writer,
        ))
    }

    /// The read end, to poll on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads what the service wrote; `Ready` at the first newline (what follows it is
    /// ignored), `Closed` at end of file without one. The caller drops the pipe after either.
    pub fn read(&mut self) -> io::Result<Heard> {
        let mut buf = [0u8; 512];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return Ok(Heard::Closed),
                Ok(n) if buf[..n].contains(&b'\n') => return Ok(Heard::Ready),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Heard::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// supervise's systemd-style notification socket.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds a datagram socket at `path` (the absolute path of `DIR/supervise/notify`: the
    /// service gets it in NOTIFY_SOCKET, and sd_notify wants an absolute path), removing a
    /// stale socket a previous supervise left. Non-blocking, close-on-exec.
    pub fn bind(path: &Path) -> io::Result<NotifySocket> {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let socket = UnixDatagram::bind(path)?;
        socket.set_nonblocking(true)?;
        Ok(NotifySocket {
            socket,
            path: path.to_path_buf(),
        })
    }

    /// The path to give the service in NOTIFY_SOCKET.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The socket, to poll on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Reads every datagram waiting; `Ready` if one of them holds `READY=1`.
    ///
    /// Never inlined: its 4 kB buffer would otherwise sit in the frame of supervise's loop,
    /// and every call below the loop would touch a stack page more, in every supervise
    /// (docs/bench.md, "Memory per supervise").
    #[inline(never)]
    pub fn read(&mut self) -> io::Result<Heard> {
        let mut buf = [0u8; 4096];
        let mut seen = Heard::Pending;
        loop {
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    if says_ready(&buf[..n]) {
                        seen = Heard::Ready;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(seen),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// True if an sd_notify datagram (newline-separated `KEY=VALUE` lines) holds `READY=1`.
pub fn says_ready(datagram: &[u8]) -> bool {
    datagram
        .split(|&b| b == b'\n')
        .any(|line| line == b"READY=1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn notification_fd_file_is_a_number_from_3() {
        assert_eq!(parse_fd(b"3\n"), Some(3));
        assert_eq!(parse_fd(b"42"), Some(42));
        assert_eq!(parse_fd(b"1\n"), None);
        assert_eq!(parse_fd(b""), None);
        assert_eq!(parse_fd(b" 4"), None);
        assert_eq!(parse_fd(b"99999999999"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        assert_eq!(notification_fd(os).expect("missing"), None);
        fs::write(dir.path().join(NOTIFICATION_FD), "5\n").expect("write");
        assert_eq!(notification_fd(os).expect("read"), Some(5));
        fs::write(dir.path().join(NOTIFICATION_FD), "five\n").expect("write");
        assert_eq!(
            notification_fd(os).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidData)
        );
    }

    #[test]
    fn first_newline_on_the_pipe_is_readiness() {
        let (mut pipe, writer) = NotifyPipe::new().expect("pipe");
        let mut writer = File::from(writer);
        assert_eq!(pipe.read().expect("read"), Heard::Pending);
        writer.write_all(b"almost").expect("write");
        assert_eq!(pipe.read().expect("read"), Heard::Pending);
        writer.write_all(b" there\nmore").expect("write");
        assert_eq!(pipe.read().expect("read"), Heard::Ready);
    }

    #[test]
    fn pipe_closed_without_newline_is_not_ready() {
        let (mut pipe, writer) = NotifyPipe::new().expect("pipe");
        let mut writer = File::from(writer);
        writer.write_all(b"no newline").expect("write");
        drop(writer);
        assert_eq!(pipe.read().expect("read"), Heard::Closed);
    }

    #[test]
    fn ready_1_datagram_is_readiness() {
        assert!(says_ready(b"READY=1"));
        assert!(says_ready(b"STATUS=warming up\nREADY=1\n"));
        assert!(!says_ready(b"READY=0"));
        assert!(!says_ready(b"XREADY=1"));
        let dir = tempfile::tempdir().expect("tempdir");
        let socket_path = dir.path().join("notify");
        // A socket file left by a supervise that was killed is replaced.
        drop(UnixDatagram::bind(&socket_path).expect("stale"));
        let mut socket = NotifySocket::bind(&socket_path).expect("bind");
        let client = UnixDatagram::unbound().expect("client");
        assert_eq!(socket.read().expect("read"), Heard::Pending);
        client
            .send_to(b"STATUS=loading", &socket_path)
            .expect("send");
        assert_eq!(socket.read().expect("read"), Heard::Pending);
        client.send_to(b"READY=1\n", &socket_path).expect("send");
        assert_eq!(socket.read().expect("read"), Heard::Ready);
    }
}
