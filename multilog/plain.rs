//! Reading standard input that is not a pipe (a file, a socket, a terminal): plain reads into
//! a buffer that keeps an unfinished line for the next read.

use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The read buffer: large blocks, few system calls.
const BUFFER_BYTES: usize = 1 << 20;

/// Standard input read with read(2).
pub struct Plain {
    stdin: BorrowedFd<'static>,
    /// Bytes read and not yet dealt with (an unfinished line), at the front.
    pub buf: Vec<u8>,
    /// How many bytes of `buf` hold data.
    pub filled: usize,
    /// stdin is a regular file: reads never wait.
    pub regular: bool,
}

impl Plain {
    /// A reader of `stdin`.
    pub fn new(stdin: BorrowedFd<'static>) -> Plain {
        let regular =
            nix::sys::stat::fstat(stdin).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
        Plain {
            stdin,
            buf: vec![0; BUFFER_BYTES],
            filled: 0,
            regular,
        }
    }

    /// Sleeps until stdin or `also` is readable.
    pub fn wait(&self, also: BorrowedFd<'_>) -> bool {
        let mut fds = [
            PollFd::new(self.stdin, PollFlags::POLLIN),
            PollFd::new(also, PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, PollTimeout::NONE);
        fds[1].revents().is_some_and(|r| !r.is_empty())
            && fds[0].revents().is_none_or(|r| r.is_empty())
    }

    /// Reads at most `most` more bytes after those kept; false at end of input (daemontools
    /// takes a read error as the end, too).
    pub fn read(&mut self, most: usize) -> bool {
        let end = self.filled.saturating_add(most).min(self.buf.len());
        loop {
            match nix::unistd::read(self.stdin, &mut self.buf[self.filled..end]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.filled += n;
                    return true;
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    let mut fds = [PollFd::new(self.stdin, PollFlags::POLLIN)];
                    let _ = poll(&mut fds, PollTimeout::NONE);
                }
                Err(_) => return false,
            }
        }
    }

    /// Drops the first `used` bytes, keeping the rest at the front.
    pub fn consume(&mut self, used: usize) {
        self.buf.copy_within(used..self.filled, 0);
        self.filled -= used;
    }

    /// True if the buffer is full of one unfinished line.
    pub fn full(&self) -> bool {
        self.filled == self.buf.len()
    }
}
