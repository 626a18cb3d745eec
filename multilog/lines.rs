//! The line engine: cuts input into lines, runs the script's actions on each, and hands the
//! selected lines to the log directories.
//!
//! It works on whole blocks: one clock read per block (every line in it had arrived by then),
//! memchr for line ends, and the directories gather lines for one write per block. A line's
//! actions see its first 1000 bytes (the TAI64N label included), as daemontools'; the whole
//! line, however long, goes to the selected directories. It also tells the directories where
//! daemontools' 1 KB reads would have fallen (input offsets), for their cut model.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use vigil_proto::tai::Tai64n;

use crate::logdir::{Found, LogDir};
use crate::pattern;
use crate::pause::retry;
use crate::script::{Action, Script};

/// Bytes of a line that patterns, `e` and `=` see (daemontools' line[1000]).
pub const HEAD_BYTES: usize = 1000;
/// Bytes of a line that `e` prints before `...`.
const ALERT_BYTES: usize = 200;
/// A status file holds the line's head padded with newlines to this size.
const STATUS_BYTES: usize = HEAD_BYTES + 1;
/// daemontools reads input this much at a time, flushing its log buffers before each read.
const READ_BYTES: u64 = 1024;
/// `@` + 24 hex digits + space.
const STAMP_BYTES: usize = 26;

/// How to treat input that ends in the middle of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Leave the unfinished line: more of it will come.
    Lines,
    /// Take the unfinished line now and stream it (a line longer than the buffer).
    Stream,
    /// End of input: the unfinished line gets a newline.
    End,
}

/// A `=file` action's file and the head it must hold after this block.
struct StatusFile {
    name: Vec<u8>,
    file: File,
    latest: Option<[u8; STATUS_BYTES]>,
}

/// The script at work on a stream of input.
pub struct Lines {
    timestamp: bool,
    actions: Vec<Action>,
    selects_all: bool,
    /// The log directories, in script order.
    pub dirs: Vec<LogDir>,
    status: Vec<StatusFile>,
    /// A line's beginning went out and the rest is still to come.
    in_line: bool,
    /// The directories that take the line in progress.
    chosen: Vec<bool>,
    head: Vec<u8>,
    alerts: Vec<u8>,
    /// Input offset of the next byte to feed (where daemontools' 1 KB reads fall).
    offset: u64,
}

impl Lines {
    /// Sets the script to work; `found` says which directories' `current` a killed multilog
    /// left mid-line (the first input line completes those).
    pub fn new(script: &Script, dirs: Vec<(LogDir, Found)>, status: Vec<(Vec<u8>, File)>) -> Lines {
        let chosen: Vec<bool> = dirs.iter().map(|(_, f)| *f == Found::MidLine).collect();
        Lines {
            timestamp: script.timestamp,
            actions: script.actions.clone(),
            selects_all: script.selects_all(),
            in_line: chosen.iter().any(|&c| c),
            chosen,
            dirs: dirs.into_iter().map(|(d, _)| d).collect(),
            status: status
                .into_iter()
                .map(|(name, file)| StatusFile {
                    name,
                    file,
                    latest: None,
                })
                .collect(),
            head: Vec::with_capacity(HEAD_BYTES),
            alerts: Vec::new(),
            offset: 0,
        }
    }

    /// True between lines (nothing of an unfinished line has gone out).
    pub fn at_line_start(&self) -> bool {
        !self.in_line
    }

    /// Works through `input`; returns how many bytes of it are dealt with (gathered for the
    /// directories). With `Feed::Lines` an unfinished last line is left for the next call; the
    /// next call's input must start with it.
    pub fn feed(&mut self, input: &[u8], feed: Feed) -> usize {
        let used = self.feed_at(input, feed, self.offset);
        self.offset += used as u64;
        used
    }

    fn feed_at(&mut self, input: &[u8], feed: Feed, offset: u64) -> usize {
        let mut stamp = [b' '; STAMP_BYTES];
        let stamp: &[u8] = if self.timestamp {
            stamp[..25].copy_from_slice(&Tai64n::now().to_hex());
            &stamp
        } else {
            &[]
        };
        let mut start = 0;
        if self.in_line {
            match memchr::memchr(b'\n', input) {
                Some(end) => {
                    self.tail(&input[..=end], offset);
                    self.in_line = false;
                    start = end + 1;
                }
                None => {
                    self.tail(input, offset);
                    if feed == Feed::End {
                        // The read that met the end of input flushed first.
                        self.drain_all();
                        self.put_tail_chosen(b"\n");
                        self.in_line = false;
                    }
                    return input.len();
                }
            }
        }
        let base = start;
        for end in memchr::memchr_iter(b'\n', &input[base..]) {
            let end = base + end;
            self.line(stamp, &input[start..=end], offset + start as u64);
            start = end + 1;
        }
        let rest = &input[start..];
        if rest.is_empty() {
            return input.len();
        }
        let at = offset + start as u64;
        match feed {
            Feed::Lines => start,
            Feed::Stream => {
                let h = self.head(stamp, rest, at);
                self.tail(&rest[h..], at + h as u64);
                self.in_line = true;
                input.len()
            }
            Feed::End => {
                // The read that met the end of input flushed first: before the head if the
                // line is short, after the tail if not.
                if stamp.len() + rest.len() < HEAD_BYTES {
                    self.drain_all();
                }
                let h = self.head(stamp, rest, at);
                self.tail(&rest[h..], at + h as u64);
                self.drain_all();
                self.put_tail_chosen(b"\n");
                input.len()
            }
        }
    }

    /// A whole line, its newline included, that starts at input offset `at`.
    fn line(&mut self, stamp: &[u8], line: &[u8], at: u64) {
        let h = self.head(stamp, &line[..line.len() - 1], at);
        if h == line.len() - 1 && stamp.len() + h < HEAD_BYTES {
            // compat: daemontools read this newline while gathering the head (head() saw
            // its offset); it is put after the head.
            for (dir, &chosen) in self.dirs.iter_mut().zip(&self.chosen) {
                if chosen {
                    dir.put_tail(b"\n");
                }
            }
        } else {
            self.tail(&line[h..], at + h as u64);
        }
    }

    /// Takes the head of a line starting at offset `at` (its first bytes up to 1000 with the
    /// label), decides where the line goes and puts the head there; returns how many bytes of
    /// `body` the head took. daemontools reads the head before putting it, so buffers are
    /// flushed first if a 1024-byte read boundary falls within (newline included if short).
    fn head(&mut self, stamp: &[u8], body: &[u8], at: u64) -> usize {
        let h = body.len().min(HEAD_BYTES - stamp.len());
        let short = stamp.len() + body.len() < HEAD_BYTES;
        if next_read(at) < at + h as u64 + u64::from(short) {
            self.drain_all();
        }
        self.decide(stamp, body);
        for (dir, &chosen) in self.dirs.iter_mut().zip(&self.chosen) {
            if chosen {
                dir.put_head(&[stamp, &body[..h]]);
            }
        }
        h
    }

    /// Bytes of a line after its head, starting at input offset `at`, put one by one as
    /// daemontools does, with the buffers flushed at each 1024-byte read boundary.
    fn tail(&mut self, mut bytes: &[u8], mut at: u64) {
        loop {
            let boundary = next_read(at);
            let before = usize::try_from(boundary - at).unwrap_or(usize::MAX);
            if before >= bytes.len() {
                self.put_tail_chosen(bytes);
                return;
            }
            // The bytes before the boundary, the flush, then the byte read at the boundary.
            let (now, later) = bytes.split_at(before);
            self.put_tail_chosen(now);
            self.drain_all();
            let (first, later) = later.split_at(1);
            self.put_tail_chosen(first);
            bytes = later;
            at = boundary + 1;
        }
    }

    fn put_tail_chosen(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        for (dir, &chosen) in self.dirs.iter_mut().zip(&self.chosen) {
            if chosen {
                dir.put_tail(bytes);
            }
        }
    }

    /// daemontools' flush of every directory's buffer before a read.
    fn drain_all(&mut self) {
        for dir in &mut self.dirs {
            dir.drain_buffer();
        }
    }

    /// Runs the actions on the line's head; leaves in `chosen` the directories that take it.
    fn decide(&mut self, stamp: &[u8], body: &[u8]) {
        if self.selects_all {
            self.chosen.fill(true);
            return;
        }
        self.head.clear();
        self.head.extend_from_slice(stamp);
        let room = HEAD_BYTES - self.head.len();
        self.head.extend_from_slice(&body[..body.len().min(room)]);
        let head = &self.head[..];
        let mut selected = true;
        for action in &self.actions {
            match action {
                Action::Select(p) => {
                    if !selected && pattern::matches(p, head) {
                        selected = true;
                    }
                }
                Action::Deselect(p) => {
                    if selected && pattern::matches(p, head) {
                        selected = false;
                    }
                }
                Action::Alert => {
                    if selected {
                        if head.len() > ALERT_BYTES {
                            self.alerts.extend_from_slice(&head[..ALERT_BYTES]);
                            self.alerts.extend_from_slice(b"...\n");
                        } else {
                            self.alerts.extend_from_slice(head);
                            self.alerts.push(b'\n');
                        }
                    }
                }
                Action::Status(k) => {
                    if selected {
                        let mut padded = [b'\n'; STATUS_BYTES];
                        padded[..head.len()].copy_from_slice(head);
                        self.status[*k].latest = Some(padded);
                    }
                }
                Action::Dir(j) => self.chosen[*j] = selected,
            }
        }
    }

    /// Writes what this block produced: alerts, status files, then the directories. With
    /// `all`, nothing stays in memory (from a pipe, bytes leave it only once written).
    pub fn flush(&mut self, all: bool) {
        if !self.alerts.is_empty() {
            // compat: daemontools ignores errors writing alerts to stderr.
            let _ = std::io::stderr().lock().write_all(&self.alerts);
            self.alerts.clear();
        }
        for status in &mut self.status {
            if let Some(latest) = status.latest.take() {
                let file = &status.file;
                retry(&[b"write ", &status.name], || file.write_all_at(&latest, 0));
            }
        }
        for dir in &mut self.dirs {
            dir.flush(all);
        }
    }

    /// SIGALRM: every directory with something in `current` rotates now.
    pub fn rotate_all(&mut self) {
        self.drain_all();
        for dir in &mut self.dirs {
            if dir.bytes() > 0 {
                dir.rotate_now();
            }
        }
    }

    /// End of input or SIGTERM: everything written, each `current` on disk and finished.
    pub fn quit(&mut self) {
        self.flush(true);
        for dir in &mut self.dirs {
            dir.quit();
        }
    }
}

/// The first offset at or after `at` where daemontools reads again (never offset 0: its
/// first read has nothing to flush before it).
fn next_read(at: u64) -> u64 {
    at.div_ceil(READ_BYTES).max(1) * READ_BYTES
}
