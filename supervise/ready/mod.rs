//! Readiness: how a service tells supervise it is ready, by either of two protocols.
//!
//! - s6's: if `DIR/notification-fd` holds a number N (a line of decimal digits), supervise gives
//!   `run` the write end of a pipe as its file descriptor N. The first newline written to it
//!   means "ready"; supervise then closes its end (later writes get EPIPE, harmlessly). If the
//!   service closes the pipe without a newline it stays "up, not ready".
//! - systemd's: if `DIR/notify-socket` exists, supervise binds a datagram socket in the abstract
//!   namespace under a random name and gives `run` that name in `NOTIFY_SOCKET`
//!   (`@vigil-notify/` and 32 hex digits: sd_notify's `@` for an abstract socket). A datagram
//!   with a line `READY=1` means "ready" (sd_notify(3)); other lines are ignored.
//!
//!   Why abstract: the service must reach the socket whatever user it runs as (postgres after
//!   `setuidgid postgres`), and `supervise/` is 0700 while the service directory may be too; an
//!   abstract socket has no file, so no permission and no path to make reachable, and nothing
//!   stale is left after a SIGKILL. Anyone who knows the name could send to it, so who sends is
//!   checked on each datagram: the kernel attaches the sender's pid (SO_PASSCRED,
//!   SCM_CREDENTIALS), and only the run and its descendants are heard ([`in_run_tree`], as
//!   systemd's `NotifyAccess=all` within the service); anything else is refused with a warning
//!   naming the sender's pid. The name is random (128 bits from /dev/urandom) and only the
//!   service's environment holds it, so no one can bind it first or guess it.
//!
//! Until the notification the state is "starting" (up, not ready); a service with neither file
//! is ready as soon as it is spawned. The time of readiness goes into the status file
//! (`ready_at`) and the `U` event into the journal and the FIFOs.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

use vigil_proc::creds::{self, Sender};
use vigil_proto::paths;

/// The file naming the service's notification descriptor.
pub const NOTIFICATION_FD: &str = "notification-fd";
/// The file asking for systemd's NOTIFY_SOCKET protocol.
pub const NOTIFY_SOCKET_FILE: &str = "notify-socket";
/// The prefix of the abstract name of the notify socket (after the `@` of NOTIFY_SOCKET).
pub const NOTIFY_PREFIX: &str = "vigil-notify/";
/// How many parents are followed up from a sender before it counts as a stranger: deeper
/// process trees than this under `run` are not heard.
pub const TREE_DEPTH: usize = 64;

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

/// supervise's systemd-style notification socket: abstract, named at random, hearing only the
/// run's processes.
#[derive(Debug)]
pub struct NotifySocket {
    socket: UnixDatagram,
    /// `@vigil-notify/` and 32 hex digits: NOTIFY_SOCKET's value.
    name: [u8; 46],
    /// The last sender refused, so a stranger that keeps sending is one warning.
    last_refused: Option<i32>,
}

/// What a look at the notify socket found: readiness, and a sender refused (for a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketNews {
    /// `Ready` if an accepted datagram held `READY=1`.
    pub heard: Heard,
    /// A sender not of the run's tree, first of a row (its pid; 0 when it came without
    /// credentials).
    pub refused: Option<i32>,
}

impl NotifySocket {
    /// Binds a datagram socket under a random abstract name; non-blocking, close-on-exec, with
    /// SO_PASSCRED so each datagram says who sent it.
    pub fn bind() -> io::Result<NotifySocket> {
        let mut random = [0u8; 16];
        File::open("/dev/urandom")?.read_exact(&mut random)?;
        let mut name = [0u8; 46];
        name[0] = b'@';
        name[1..14].copy_from_slice(NOTIFY_PREFIX.as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, byte) in random.iter().enumerate() {
            name[14 + 2 * i] = HEX[usize::from(byte >> 4)];
            name[15 + 2 * i] = HEX[usize::from(byte & 15)];
        }
        let address = SocketAddr::from_abstract_name(&name[1..])?;
        let socket = UnixDatagram::bind_addr(&address)?;
        socket.set_nonblocking(true)?;
        creds::pass_credentials(socket.as_fd())?;
        Ok(NotifySocket {
            socket,
            name,
            last_refused: None,
        })
    }

    /// What to give the service in NOTIFY_SOCKET: `@` and the abstract name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The socket, to poll on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Reads every datagram waiting: `Ready` if one from the run's tree (`run`: its pid, if
    /// one runs) holds `READY=1`; a sender from elsewhere is refused and named, once in a row.
    ///
    /// Never inlined: its 4 kB buffer would otherwise sit in the frame of supervise's loop,
    /// and every call below the loop would touch a stack page more, in every supervise
    /// (docs/bench.md, "Memory per supervise").
    #[inline(never)]
    pub fn read(&mut self, run: Option<i32>) -> io::Result<SocketNews> {
        let mut buf = [0u8; 4096];
        let mut news = SocketNews {
            heard: Heard::Pending,
            refused: None,
        };
        loop {
            match creds::recv_with_sender(self.socket.as_fd(), &mut buf) {
                Ok((n, sender)) => {
                    if !says_ready(&buf[..n]) {
                        // Only readiness is acted on: other lines need no check.
                        continue;
                    }
                    match sender.map(|s: Sender| s.pid) {
                        Some(pid) if run.is_some_and(|run| in_run_tree(pid, run)) => {
                            news.heard = Heard::Ready;
                            self.last_refused = None;
                        }
                        other => {
                            let pid = other.unwrap_or(0);
                            if self.last_refused != Some(pid) {
                                self.last_refused = Some(pid);
                                news.refused = Some(pid);
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(news),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// True if `pid` is the run (`run`) or one of its descendants: its chain of parents in /proc
/// reaches `run` within [`TREE_DEPTH`] steps. A process that has already gone (or been
/// reparented to supervise, its subreaper, after its parent died) is not. A later check of the
/// service's cgroup (issue 14) would go here, beside this one.
pub fn in_run_tree(pid: i32, run: i32) -> bool {
    let mut at = pid;
    for _ in 0..=TREE_DEPTH {
        if at == run {
            return true;
        }
        if at <= 1 {
            return false;
        }
        match vigil_usage::read_stat(at) {
            Some(stat) => at = stat.ppid,
            None => return false,
        }
    }
    false
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
    fn ready_1_datagram_is_readiness_from_the_run_tree_only() {
        assert!(says_ready(b"READY=1"));
        assert!(says_ready(b"STATUS=warming up\nREADY=1\n"));
        assert!(!says_ready(b"READY=0"));
        assert!(!says_ready(b"XREADY=1"));
        let mut socket = NotifySocket::bind().expect("bind");
        let name = socket.name().to_vec();
        assert!(name.starts_with(b"@vigil-notify/") && name.len() == 46);
        let address = SocketAddr::from_abstract_name(&name[1..]).expect("name");
        let client = UnixDatagram::unbound().expect("client");
        let me = std::process::id() as i32;
        assert_eq!(socket.read(Some(me)).expect("read").heard, Heard::Pending);
        client
            .send_to_addr(b"STATUS=loading", &address)
            .expect("send");
        assert_eq!(socket.read(Some(me)).expect("read").heard, Heard::Pending);
        client.send_to_addr(b"READY=1\n", &address).expect("send");
        let news = socket.read(Some(me)).expect("read");
        assert_eq!((news.heard, news.refused), (Heard::Ready, None));
        // From a process outside the run's tree (here the run is a child of ours): refused and
        // named, once in a row.
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("spawn sleep");
        let stranger = child.id() as i32;
        for round in 0..2 {
            client.send_to_addr(b"READY=1\n", &address).expect("send");
            let news = socket.read(Some(stranger)).expect("read");
            assert_eq!(news.heard, Heard::Pending);
            assert_eq!(news.refused, (round == 0).then_some(me));
        }
        let _ = child.kill();
        let _ = child.wait();
        client.send_to_addr(b"READY=1\n", &address).expect("send");
        assert_eq!(socket.read(None).expect("read").heard, Heard::Pending);
        // Another socket gets another name.
        let other = NotifySocket::bind().expect("bind");
        assert_ne!(other.name(), &name[..]);
    }

    #[test]
    fn the_run_tree_is_the_run_and_its_descendants() {
        let me = std::process::id() as i32;
        let parent = nix::unistd::getppid().as_raw();
        assert!(in_run_tree(me, me));
        assert!(in_run_tree(me, parent), "a child of the run");
        assert!(!in_run_tree(parent, me), "the run's parent");
        assert!(!in_run_tree(1, me));
        assert!(!in_run_tree(0, me));
        assert!(!in_run_tree(i32::MAX, me), "gone");
    }
}
