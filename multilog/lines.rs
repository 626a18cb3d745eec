//! The line engine: cuts input into lines, runs the script's actions on each, and hands the
//! selected lines to the log directories.
//!
//! It works on whole blocks: one clock read per block (every line in it had arrived by then),
//! memchr for line ends, and the directories gather lines for one write per block. A line's
//! actions see its first 1000 bytes (the TAI64N label included), as daemontools'; the whole
//! line, however long, goes to the selected directories.

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
        }
    }

    /// True between lines (nothing of an unfinished line has gone out).
    pub fn at_line_start(&self) -> bool {
        !self.in_line
    }

    /// Works through `input`; returns how many bytes of it are dealt with (gathered for the
    /// directories). With `Feed::Lines` an unfinished last line is left for the next call.
    pub fn feed(&mut self, input: &[u8], feed: Feed) -> usize {
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
                    self.put_chosen(&[&input[..=end]]);
                    self.in_line = false;
                    start = end + 1;
                }
                None => {
                    self.put_chosen(&[input]);
                    if feed == Feed::End {
                        self.put_chosen(&[b"\n"]);
                        self.in_line = false;
                    }
                    return input.len();
                }
            }
        }
        let base = start;
        for end in memchr::memchr_iter(b'\n', &input[base..]) {
            let end = base + end;
            self.line(stamp, &input[start..end]);
            start = end + 1;
        }
        let rest = &input[start..];
        if rest.is_empty() {
            return input.len();
        }
        match feed {
            Feed::Lines => start,
            Feed::Stream => {
                self.decide(stamp, rest);
                self.put_chosen(&[stamp, rest]);
                self.in_line = true;
                input.len()
            }
            Feed::End => {
                self.line(stamp, rest);
                input.len()
            }
        }
    }

    fn line(&mut self, stamp: &[u8], body: &[u8]) {
        if self.selects_all {
            for dir in &mut self.dirs {
                dir.put(&[stamp, body, b"\n"]);
            }
            return;
        }
        self.decide(stamp, body);
        self.put_chosen(&[stamp, body, b"\n"]);
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

    fn put_chosen(&mut self, parts: &[&[u8]]) {
        for (dir, &chosen) in self.dirs.iter_mut().zip(&self.chosen) {
            if chosen {
                dir.put(parts);
            }
        }
    }

    /// Writes what this block produced: alerts, status files, then the directories.
    pub fn flush(&mut self) {
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
            dir.flush();
        }
    }

    /// SIGALRM: every directory with something in `current` rotates now.
    pub fn rotate_all(&mut self) {
        for dir in &mut self.dirs {
            if dir.bytes > 0 {
                dir.rotate();
            }
        }
    }

    /// End of input or SIGTERM: everything written, each `current` on disk and finished.
    pub fn quit(&mut self) {
        self.flush();
        for dir in &mut self.dirs {
            dir.quit();
        }
    }
}
