//! Where `current` is cut: a model of daemontools' write path, so files end exactly where
//! daemontools' end for the same input. Pure: it holds the bytes gathered for one log
//! directory and says where in them each `current` ends; the directory writes and rotates.
//!
//! daemontools puts each line's head (up to 1000 bytes) into a 512-byte buffer with
//! buffer_put, the rest of a long line and the newline byte by byte, and flushes the buffer
//! before each 1024-byte read of input. Each flush goes through c_write(), which cuts at the
//! size cap, and, within 2000 bytes of it, at the last newline of the chunk, then rotates.
//! vigil keeps the bytes in one vector and only moves a cursor through this model; the bytes
//! reach the file in one write(2) per block.

/// daemontools' multilog buffer per log directory (`char buf[512]`).
const BUFFER_BYTES: usize = 512;
/// buffer_put writes a long put directly in pieces of at most this (BUFFER_OUTSIZE).
const DIRECT_BYTES: usize = 8192;
/// c_write cuts at the last newline of a chunk once `current` is this close to its cap.
const NEWLINE_ZONE_BYTES: u64 = 2000;

/// The bytes gathered for one log directory and where daemontools would have cut them.
#[derive(Debug)]
pub struct Cut {
    /// The `s` cap of the directory.
    size_bytes: u64,
    /// Bytes in `current` as daemontools counts them: written through its buffer model,
    /// whether or not they have reached the file yet.
    bytes: u64,
    /// Bytes gathered: `[..passed]` are past the buffer model, `[passed..]` are in its
    /// 512-byte buffer.
    pending: Vec<u8>,
    passed: usize,
    /// Offsets in `pending[..passed]`, ascending, where a `current` is full: the bytes before
    /// go into it, then it rotates.
    ends: Vec<usize>,
}

impl Cut {
    /// An empty model for a directory capped at `size_bytes` (at least 4096, as the script
    /// parser enforces) whose `current` holds `bytes` already.
    pub fn new(size_bytes: u64, bytes: u64) -> Cut {
        Cut {
            size_bytes,
            bytes,
            pending: Vec::new(),
            passed: 0,
            ends: Vec::new(),
        }
    }

    /// Bytes in `current` as daemontools counts them.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes past the buffer model, waiting to be written.
    pub fn passed(&self) -> usize {
        self.passed
    }

    fn buffered(&self) -> usize {
        self.pending.len() - self.passed
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
    }

    /// daemontools' buffer_flush: the buffer goes through c_write.
    pub fn drain_buffer(&mut self) {
        let n = self.buffered();
        if n > 0 {
            self.c_write(n);
        }
    }

    /// `current` ends after what has passed the model (SIGALRM; the caller drains first).
    pub fn end_here(&mut self) {
        self.ends.push(self.passed);
        self.bytes = 0;
    }

    /// daemontools' c_write over the next `n` bytes, called again and again as allwrite does.
    fn c_write(&mut self, mut n: usize) {
        let threshold = self.size_bytes - NEWLINE_ZONE_BYTES;
        while n > 0 {
            if self.bytes >= self.size_bytes {
                self.end_here();
            }
            let room = usize::try_from(self.size_bytes - self.bytes).unwrap_or(usize::MAX);
            let mut len = n.min(room);
            if self.bytes + len as u64 >= threshold {
                let chunk = &self.pending[self.passed..self.passed + len];
                if let Some(at) = memchr::memrchr(b'\n', chunk) {
                    len = at + 1;
                }
            }
            self.passed += len;
            self.bytes += len as u64;
            n -= len;
            if self.bytes >= threshold && self.pending[self.passed - 1] == b'\n' {
                self.end_here();
            }
        }
    }

    /// Offsets in [`Cut::gathered`], ascending and within [`Cut::passed`], where a `current`
    /// is full: the bytes before go into it, then it rotates.
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// The bytes gathered; `[..passed()]` are ready to be written.
    pub fn gathered(&self) -> &[u8] {
        &self.pending
    }

    /// Forgets what passed the model and the ends in it, once written.
    pub fn forget_passed(&mut self) {
        self.pending.drain(..self.passed);
        self.passed = 0;
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::Cut;

    /// daemontools' minimum `s` cap, the one its tests use.
    const SIZE: u64 = 4096;

    /// A short line as multilog puts it: the head with buffer_put, the newline with PUTC.
    fn line(cut: &mut Cut, byte: u8, len: usize) {
        cut.put_head(&[&vec![byte; len - 1]]);
        cut.put_tail(b"\n");
    }

    #[test]
    fn short_lines_pass_the_model_a_buffer_at_a_time() {
        let mut cut = Cut::new(SIZE, 0);
        for _ in 0..5 {
            line(&mut cut, b'a', 100);
        }
        // 500 bytes fit the 512-byte buffer: nothing has been written.
        assert_eq!((cut.passed(), cut.bytes()), (0, 0));
        line(&mut cut, b'a', 100);
        // The sixth head does not fit: the buffer was flushed before it.
        assert_eq!((cut.passed(), cut.bytes()), (500, 500));
        assert!(cut.ends().is_empty());
    }

    #[test]
    fn current_ends_after_the_flush_that_reaches_2000_bytes_of_the_cap() {
        let mut cut = Cut::new(SIZE, 0);
        for _ in 0..31 {
            line(&mut cut, b'a', 100);
        }
        // Flushes of 500 bytes: 2000 is short of 4096 - 2000, the flush to 2500 ends on a
        // newline within the zone, so current rotates at 2500 bytes; the 31st head flushed
        // the next 500 into the new one.
        assert_eq!(cut.ends(), &[2500]);
        assert_eq!(cut.bytes(), 500);
        assert_eq!(cut.passed(), 3000);
    }

    #[test]
    fn within_2000_bytes_of_the_cap_a_flush_is_cut_after_its_last_newline() {
        let mut cut = Cut::new(SIZE, 2000);
        line(&mut cut, b'a', 300);
        cut.put_head(&[&[b'b'; 150]]);
        cut.drain_buffer();
        assert_eq!(cut.ends(), &[300]);
        // The unfinished 150 bytes went on into the next current.
        assert_eq!((cut.passed(), cut.bytes()), (450, 150));
    }

    #[test]
    fn a_line_without_newline_is_cut_at_the_cap_exactly() {
        let mut cut = Cut::new(SIZE, 0);
        // A long head goes around the buffer, its tail byte by byte through it.
        cut.put_head(&[&[b'x'; 1000]]);
        assert_eq!(cut.passed(), 1000);
        cut.put_tail(&[b'x'; 9000]);
        cut.drain_buffer();
        assert_eq!(cut.ends(), &[4096, 8192]);
        assert_eq!(cut.bytes(), 10_000 - 8192);
        assert_eq!(cut.gathered().len(), 10_000);
    }

    #[test]
    fn a_full_current_left_by_the_last_run_ends_before_any_new_byte() {
        let mut cut = Cut::new(SIZE, SIZE);
        line(&mut cut, b'a', 10);
        cut.drain_buffer();
        assert_eq!(cut.ends(), &[0]);
        assert_eq!(cut.bytes(), 10);
    }

    #[test]
    fn end_here_cuts_after_what_passed_and_forget_passed_keeps_the_buffer() {
        let mut cut = Cut::new(SIZE, 0);
        line(&mut cut, b'a', 10);
        cut.drain_buffer();
        line(&mut cut, b'b', 10);
        cut.end_here();
        assert_eq!(cut.ends(), &[10]);
        assert_eq!(cut.bytes(), 0);
        cut.forget_passed();
        assert!(cut.ends().is_empty());
        // The second line is still in the model's buffer, not yet past it.
        assert_eq!((cut.passed(), cut.gathered()), (0, &b"bbbbbbbbb\n"[..]));
    }
}
