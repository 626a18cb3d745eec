//! Where `current` is cut: a model of daemontools' write path, so files end exactly where
//! daemontools' end for the same input.
//!
//! daemontools puts each line's head (up to 1000 bytes) into a 512-byte buffer with
//! buffer_put, the rest of a long line and the newline byte by byte, and flushes the buffer
//! before each 1024-byte read of input. Each flush goes through c_write(), which cuts at the
//! size cap, and, within 2000 bytes of it, at the last newline of the chunk, then rotates.
//! vigil keeps the bytes in one vector and only moves a cursor through this model; the bytes
//! reach the file in one write(2) per block.

use std::io::{self, Write};

use crate::logdir::LogDir;
use crate::pause;

/// daemontools' multilog buffer per log directory (`char buf[512]`).
const BUFFER_BYTES: usize = 512;
/// buffer_put writes a long put directly in pieces of at most this (BUFFER_OUTSIZE).
const DIRECT_BYTES: usize = 8192;
/// Write gathered bytes once this many are past the model, even in the middle of a block.
const FLUSH_AT_BYTES: usize = 1 << 20;

impl LogDir {
    fn buffered(&self) -> usize {
        self.pending.len() - self.cut
    }

    /// A line's head, as daemontools' buffer_put.
    pub fn put_head(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > BUFFER_BYTES - self.buffered() {
            self.drain_buffer();
            for part in parts {
                self.pending.extend_from_slice(part);
            }
            let mut left = len;
            while left > BUFFER_BYTES {
                let n = left.min(DIRECT_BYTES);
                self.c_write(n);
                left -= n;
            }
        } else {
            for part in parts {
                self.pending.extend_from_slice(part);
            }
        }
        self.write_early();
    }

    /// Bytes put one at a time (a long line's tail, the newline), as daemontools' PUTC.
    pub fn put_tail(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.buffered() == BUFFER_BYTES {
                self.drain_buffer();
            }
            let take = (BUFFER_BYTES - self.buffered()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        self.write_early();
    }

    /// daemontools' buffer_flush: the buffer goes through c_write.
    pub fn drain_buffer(&mut self) {
        let n = self.buffered();
        if n > 0 {
            self.c_write(n);
        }
    }

    /// daemontools' c_write over the next `n` bytes, called again and again as allwrite does.
    fn c_write(&mut self, mut n: usize) {
        let threshold = self.size_bytes - 2000;
        while n > 0 {
            if self.bytes >= self.size_bytes {
                self.rotate();
            }
            let room = usize::try_from(self.size_bytes - self.bytes).unwrap_or(usize::MAX);
            let mut len = n.min(room);
            if self.bytes + len as u64 >= threshold {
                if let Some(at) = memchr::memrchr(b'\n', &self.pending[self.cut..self.cut + len]) {
                    len = at + 1;
                }
            }
            self.cut += len;
            self.bytes += len as u64;
            n -= len;
            if self.bytes >= threshold && self.pending[self.cut - 1] == b'\n' {
                self.rotate();
            }
        }
    }

    fn write_early(&mut self) {
        if self.cut >= FLUSH_AT_BYTES {
            self.write_out();
        }
    }

    /// Writes to `current` what the model has passed; on failure warns, pauses and retries.
    pub fn write_out(&mut self) {
        let mut done = 0;
        let what = self.at("current");
        while done < self.cut {
            let chunk = &self.pending[done..self.cut];
            let current = &mut self.current;
            done += pause::retry(&[b"write to ", &what], || match current.write(chunk) {
                Ok(0) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
                other => other,
            });
        }
        self.pending.drain(..self.cut);
        self.cut = 0;
    }

    /// Writes what has gathered; with `all`, the model's buffer too (daemontools flushes it
    /// before each read, and from a pipe nothing may wait in memory).
    pub fn flush(&mut self, all: bool) {
        if all {
            self.drain_buffer();
        }
        self.write_out();
    }
}
