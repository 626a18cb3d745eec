//! Reading a pipe without taking bytes out of it until they are written (the no-loss input).
//!
//! `peek` copies what the pipe holds with tee(2) (through a private pipe) and leaves it there;
//! `consume` discards exactly the bytes the caller has written, with splice(2) into /dev/null.
//! A multilog SIGKILLed in between leaves those bytes in the pipe, and its successor on the
//! same pipe (svscan holds both ends) writes them again: a duplicate block, never a gap.
//!
//! An unfinished line stays in the pipe while it waits for its end. The pipe then polls
//! readable all the time, so the wait is on an inotify watch of the pipe (IN_MODIFY fires on
//! every write), armed before the re-check so no write is missed.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, splice, tee, FcntlArg, OFlag, SpliceFFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::unistd::pipe2;

/// The pipe size multilog asks for: larger blocks, fewer wake-ups (Linux's default maximum
/// for unprivileged users).
const WANT_PIPE_BYTES: i32 = 1 << 20;

/// What the pipe holds now.
pub enum Peeked {
    /// This many bytes, copied into the buffer.
    Bytes(usize),
    /// Nothing yet; writers remain.
    Empty,
    /// Nothing, and no writer is left: end of input.
    End,
}

/// Standard input as a pipe read without consuming.
pub struct Pipe {
    stdin: BorrowedFd<'static>,
    mirror_read: File,
    mirror_write: OwnedFd,
    null: File,
    watch: Option<Inotify>,
    /// The peeked bytes.
    pub buf: Vec<u8>,
}

impl Pipe {
    /// Sets up the peeking machinery if stdin is a pipe that tee(2) works on.
    pub fn open(stdin: BorrowedFd<'static>) -> Option<Pipe> {
        let stat = nix::sys::stat::fstat(stdin).ok()?;
        if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return None;
        }
        let (read, write) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).ok()?;
        let _ = fcntl(stdin, FcntlArg::F_SETPIPE_SZ(WANT_PIPE_BYTES));
        let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(WANT_PIPE_BYTES));
        let ours = fcntl(&write, FcntlArg::F_GETPIPE_SZ).ok()?;
        let theirs = fcntl(stdin, FcntlArg::F_GETPIPE_SZ).ok()?;
        let size = usize::try_from(ours.min(theirs)).ok()?;
        let null = OpenOptions::new().write(true).open("/dev/null").ok()?;
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|w| {
                let flags = AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CLOSE_WRITE;
                w.add_watch("/proc/self/fd/0", flags).is_ok()
            });
        let mut pipe = Pipe {
            stdin,
            mirror_read: File::from(read),
            mirror_write: write,
            null,
            watch,
            buf: vec![0; size],
        };
        match pipe.peek() {
            Err(_) => None,
            Ok(_) => Some(pipe),
        }
    }

    /// Bytes a still unfinished line may reach before it is streamed out in pieces: a quarter
    /// of the pipe, so a writer blocked on a full pipe can never wait on us. (Linux fills each
    /// page of a pipe to more than half on average whatever the sizes of the writes, so a
    /// full pipe always holds more than this.)
    pub fn stream_at(&self) -> usize {
        self.buf.len() / 4
    }

    /// Copies what the pipe holds (up to the buffer) without consuming it.
    pub fn peek(&mut self) -> io::Result<Peeked> {
        let n = loop {
            match tee(
                self.stdin,
                &self.mirror_write,
                self.buf.len(),
                SpliceFFlags::SPLICE_F_NONBLOCK,
            ) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Ok(Peeked::Empty),
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Ok(Peeked::End);
        }
        let mut got = 0;
        while got < n {
            match nix::unistd::read(&self.mirror_read, &mut self.buf[got..n]) {
                Ok(0) => return Err(io::Error::from_raw_os_error(libc::EIO)),
                Ok(r) => got += r,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Peeked::Bytes(n))
    }

    /// Takes the first `count` peeked bytes out of the pipe.
    pub fn consume(&mut self, mut count: usize) -> io::Result<()> {
        while count > 0 {
            match splice(
                self.stdin,
                None,
                &self.null,
                None,
                count,
                SpliceFFlags::empty(),
            ) {
                Ok(0) => return Err(io::Error::from_raw_os_error(libc::EIO)),
                Ok(n) => count -= n,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// True if no process holds the pipe open for writing any more.
    pub fn writers_gone(&self) -> bool {
        let mut fds = [PollFd::new(self.stdin, PollFlags::empty())];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLHUP))
    }

    /// Arms the wait for more bytes: forgets the writes seen so far. Peek again after this,
    /// then `wait_more` if nothing new came.
    pub fn arm(&mut self) {
        if let Some(watch) = &self.watch {
            while matches!(watch.read_events(), Ok(ref events) if !events.is_empty()) {}
        }
    }

    /// Sleeps until the pipe is written to (after `arm`), its last writer goes, or `also`
    /// is readable. Without inotify, wakes every 20 ms instead.
    pub fn wait_more(&self, also: BorrowedFd<'_>) {
        let mut fds = vec![
            PollFd::new(self.stdin, PollFlags::empty()),
            PollFd::new(also, PollFlags::POLLIN),
        ];
        let timeout = match &self.watch {
            Some(watch) => {
                fds.push(PollFd::new(watch.as_fd(), PollFlags::POLLIN));
                PollTimeout::NONE
            }
            None => PollTimeout::from(20u8),
        };
        let _ = poll(&mut fds, timeout);
    }

    /// Sleeps until the (empty) pipe has bytes or no writer, or `also` is readable.
    pub fn wait_bytes(&self, also: BorrowedFd<'_>) {
        let mut fds = [
            PollFd::new(self.stdin, PollFlags::POLLIN),
            PollFd::new(also, PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, PollTimeout::NONE);
    }
}
