//! An automatically rotated log directory: opening and locking it, recovering what a previous
//! multilog left, and finishing `current` at the end.
//!
//! Lines are gathered in memory and written with one write(2) per input block; where `current`
//! is cut is decided in `cut.rs`. Rotation here follows daemontools' fullcurrent(), finish()
//! and filesfit() step for step: `current` safely on disk, renamed `previous`, processed or
//! not, linked to an `@<tai64n>.s` name, and the oldest `@` files removed to keep fewer than
//! NUM of them; without a processor the last steps are done off the loop (`finisher.rs`).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use vigil_proto::msg::Fail;
use vigil_proto::tai::Tai64n;

use crate::cut::Cut;
use crate::files::{append_file, files_fit, truncate_file, unfinished_tail};
use crate::finisher::Finisher;
use crate::pause::{self, retry};
use crate::processor;
use crate::script::DirSpec;

/// Write gathered bytes once this many are past the cut model, even in the middle of a block.
const FLUSH_AT_BYTES: usize = 1 << 20;

/// What `restart` found in `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A finished `current` (mode 744) or none: multilog goes on appending.
    Clean,
    /// A `current` a killed multilog left in the middle of a line: the first line of input
    /// completes it.
    MidLine,
}

/// One `dir` action's log directory while multilog runs.
pub struct LogDir {
    /// The directory as the user typed it, for messages.
    pub name: Vec<u8>,
    /// The directory's path (relative to the starting directory, which multilog never leaves).
    pub path: PathBuf,
    /// The `s` cap in force for this directory.
    pub size_bytes: u64,
    /// The `n` cap in force for this directory.
    pub num: u64,
    /// The `!` processor in force for this directory.
    pub processor: Option<Vec<u8>>,
    current: File,
    /// The bytes gathered for `current` and where daemontools would cut them.
    cut: Cut,
    /// The worker that finishes full files (started at the first rotation).
    finisher: Option<Finisher>,
    _lock: Flock<File>,
}

impl LogDir {
    /// Creates (mode 700), locks and recovers the directory as daemontools' restart() does.
    /// `unconsumed_below`: input is a pipe, where an unfinished last line of `current` shorter
    /// than this was never taken out of it (see [`LogDir::restart`]).
    pub fn open(spec: &DirSpec, unconsumed_below: Option<usize>) -> Result<(LogDir, Found), Fail> {
        let name = spec.path.clone();
        let path = PathBuf::from(OsStr::from_bytes(&name));
        let _ = fs::DirBuilder::new().mode(0o700).create(&path);
        let opened = File::open(&path).and_then(|f| {
            if f.metadata()?.is_dir() {
                Ok(f)
            } else {
                Err(io::Error::from_raw_os_error(libc::ENOTDIR))
            }
        });
        if let Err(e) = opened {
            return Err(Fail::unable(&e, &[b"open directory ", &name]));
        }
        let lock = append_file(&path.join("lock"), 0o600)
            .and_then(|f| {
                Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e.into())
            })
            .map_err(|e| Fail::unable(&e, &[b"lock directory ", &name]))?;
        let mut dir = LogDir {
            name,
            path,
            size_bytes: spec.size_bytes,
            num: spec.num,
            processor: spec.processor.clone(),
            current: File::open("/dev/null").map_err(|e| Fail::unable(&e, &[b"open /dev/null"]))?,
            cut: Cut::new(spec.size_bytes, 0),
            finisher: None,
            _lock: lock,
        };
        let found = dir.restart(unconsumed_below)?;
        Ok((dir, found))
    }

    /// `DIR/NAME` as daemontools prints it.
    pub fn at(&self, file: &str) -> Vec<u8> {
        vigil_proto::msg::cat(&[&self.name, b"/", file.as_bytes()])
    }

    /// The path of a file in the directory.
    pub fn file(&self, file: &str) -> PathBuf {
        self.path.join(file)
    }

    /// From a pipe, bytes leave it only once written, and only whole lines do, but for a line
    /// too long to wait for (streamed in pieces of at least `unconsumed_below` bytes). So an
    /// unfinished last line shorter than that is one a SIGKILL cut in the middle of its write
    /// (a write is cut at a page boundary): the pipe still holds it whole, from the start of
    /// the block, and it is cut off here (continued, the block replayed from the pipe would be
    /// joined to its first half: a torn line).
    fn restart(&mut self, unconsumed_below: Option<usize>) -> Result<Found, Fail> {
        let current = self.file("current");
        let mut mid_line = None;
        match fs::metadata(&current) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Fail::unable(&e, &[b"stat ", &self.at("current")])),
            Ok(meta) if meta.permissions().mode() & 0o100 != 0 => {
                self.append_current(&current)?;
                self.cut = Cut::new(self.size_bytes, meta.len());
                return Ok(Found::Clean);
            }
            Ok(meta) => {
                let tail = unfinished_tail(&current, meta.len());
                if tail > 0 && unconsumed_below.is_some_and(|below| tail < below as u64) {
                    let cut = OpenOptions::new()
                        .write(true)
                        .open(&current)
                        .and_then(|f| f.set_len(meta.len() - tail));
                    cut.map_err(|e| Fail::unable(&e, &[b"truncate ", &self.at("current")]))?;
                } else if tail > 0 {
                    mid_line = Some(meta.len());
                }
            }
        }
        self.recover(mid_line)
    }

    /// daemontools' restart after a crash: set aside what the processor left, then `current`
    /// as an unprocessed `.u` file, and start an empty `current` and `state`. NEW: a
    /// `current` of `mid_line` bytes that a killed multilog left in the middle of a line is
    /// continued instead, so the rest of that line (still in the pipe) joins its first half.
    fn recover(&mut self, mid_line: Option<u64>) -> Result<Found, Fail> {
        let _ = fs::remove_file(self.file("state"));
        let _ = fs::remove_file(self.file("newstate"));
        let processed = match fs::metadata(self.file("processed")) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(Fail::unable(&e, &[b"stat ", &self.at("processed")])),
            Ok(meta) => meta.permissions().mode() & 0o100 != 0,
        };
        if processed {
            let _ = fs::remove_file(self.file("previous"));
            self.finish("processed", b's');
        } else {
            let _ = fs::remove_file(self.file("processed"));
            self.finish("previous", b'u');
        }
        if mid_line.is_none() {
            self.finish("current", b'u');
        }
        truncate_file(&self.file("state"))
            .map_err(|e| Fail::unable(&e, &[b"write to ", &self.at("state")]))?;
        let current = self.file("current");
        self.append_current(&current)?;
        self.cut = Cut::new(self.size_bytes, mid_line.unwrap_or(0));
        Ok(match mid_line {
            Some(_) => Found::MidLine,
            None => Found::Clean,
        })
    }

    fn append_current(&mut self, current: &Path) -> Result<(), Fail> {
        let file = append_file(current, 0o600)
            .map_err(|e| Fail::unable(&e, &[b"append to ", &self.at("current")]))?;
        file.set_permissions(Permissions::from_mode(0o644))
            .map_err(|e| Fail::unable(&e, &[b"set mode of ", &self.at("current")]))?;
        self.current = file;
        Ok(())
    }

    /// Bytes in `current` as daemontools counts them (written or still gathered).
    pub fn bytes(&self) -> u64 {
        self.cut.bytes()
    }

    /// A line's head, as daemontools' buffer_put (see `cut.rs`).
    pub fn put_head(&mut self, parts: &[&[u8]]) {
        self.cut.put_head(parts);
        self.write_early();
    }

    /// Bytes put one at a time (a long line's tail, the newline), as daemontools' PUTC.
    pub fn put_tail(&mut self, data: &[u8]) {
        self.cut.put_tail(data);
        self.write_early();
    }

    /// daemontools' buffer_flush: the model's buffer goes through its c_write.
    pub fn drain_buffer(&mut self) {
        self.cut.drain_buffer();
    }

    fn write_early(&mut self) {
        if self.cut.passed() >= FLUSH_AT_BYTES {
            self.write_out();
        }
    }

    /// Writes what has gathered; with `all`, the model's buffer too (daemontools flushes it
    /// before each read, and from a pipe nothing may wait in memory).
    pub fn flush(&mut self, all: bool) {
        if all {
            self.drain_buffer();
        }
        self.write_out();
    }

    /// SIGALRM: `current` ends now, with what has passed the model, and a new one starts.
    pub fn rotate_now(&mut self) {
        self.cut.end_here();
        self.write_out();
    }

    /// Writes to `current` what the model has passed, rotating where it says a file is full.
    fn write_out(&mut self) {
        let mut done = 0;
        for i in 0..self.cut.ends().len() {
            let end = self.cut.ends()[i];
            self.write_current(done, end);
            self.rotate();
            done = end;
        }
        self.write_current(done, self.cut.passed());
        self.cut.forget_passed();
    }

    /// Writes gathered bytes `from..to` to `current`; on failure warns, pauses and retries.
    fn write_current(&mut self, mut from: usize, to: usize) {
        let what = self.at("current");
        while from < to {
            let chunk = &self.cut.gathered()[from..to];
            let current = &mut self.current;
            from += retry(&[b"write to ", &what], || match current.write(chunk) {
                Ok(0) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
                other => other,
            });
        }
    }

    /// End of input: `current` written, safely on disk, and marked finished (mode 744).
    pub fn quit(&mut self) {
        self.flush(true);
        if let Some(finisher) = &mut self.finisher {
            finisher.wait();
        }
        let current = &self.current;
        retry(&[b"write ", &self.at("current"), b" to disk"], || {
            current.sync_all()
        });
        retry(&[b"set mode of ", &self.at("current")], || {
            current.set_permissions(Permissions::from_mode(0o744))
        });
    }

    /// Ends `current` (written up to where it is full) and starts a new one.
    fn rotate(&mut self) {
        if self.processor.is_some() {
            self.rotate_with_processor();
            return;
        }
        // NEW: the full file becomes `@<now>.u` at once; the finisher makes it safe on disk
        // and `.s` while input goes on into the new current.
        let name = loop {
            let mut name = Tai64n::now().to_hex().to_vec();
            name.extend_from_slice(b".u");
            if !self.path.join(std::ffi::OsStr::from_bytes(&name)).exists() {
                break name;
            }
        };
        let (from, to) = (
            self.file("current"),
            self.path.join(std::ffi::OsStr::from_bytes(&name)),
        );
        retry(
            &[b"rename current to ", &name, b" in directory ", &self.name],
            || fs::rename(&from, &to),
        );
        let full = self.open_new_current();
        if self.finisher.is_none() {
            let started = retry(&[b"start a thread for ", &self.name], || {
                Finisher::start(self.path.clone(), self.name.clone(), self.num)
            });
            self.finisher = Some(started);
        }
        if let Some(finisher) = &self.finisher {
            finisher.hand_over(full, name);
        }
    }

    /// Opens a new, empty `current` (mode 644); returns the full one.
    fn open_new_current(&mut self) -> File {
        let path = self.file("current");
        let new = retry(&[b"create ", &self.at("current")], || {
            append_file(&path, 0o600)
        });
        let full = std::mem::replace(&mut self.current, new);
        let current = &self.current;
        retry(&[b"set mode of ", &self.at("current")], || {
            current.set_permissions(Permissions::from_mode(0o644))
        });
        full
    }

    /// daemontools' fullcurrent: `current` safely on disk, renamed `previous`, processed into
    /// `processed`, which becomes the `.s` file.
    fn rotate_with_processor(&mut self) {
        let current = &self.current;
        retry(&[b"write ", &self.at("current"), b" to disk"], || {
            current.sync_all()
        });
        let (from, to) = (self.file("current"), self.file("previous"));
        retry(
            &[b"rename current to previous in directory ", &self.name],
            || fs::rename(&from, &to),
        );
        drop(self.open_new_current());
        let previous = self.file("previous");
        retry(&[b"set mode of ", &self.at("previous")], || {
            fs::set_permissions(&previous, Permissions::from_mode(0o744))
        });
        match self.processor.clone() {
            None => self.finish("previous", b's'),
            Some(processor) => {
                processor::process(&self.path, &self.name, &processor);
                self.finish("processed", b's');
            }
        }
    }

    /// Gives `file` an `@<now>.CODE` name (unless it already has a second link), removes the
    /// old name, and prunes old files (daemontools' finish).
    fn finish(&mut self, file: &str, code: u8) {
        let path = self.file(file);
        let meta = retry(&[b"stat ", &self.at(file)], || match fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        });
        let Some(meta) = meta else {
            return;
        };
        if meta.nlink() == 1 {
            loop {
                let mut name = Tai64n::now().to_hex().to_vec();
                name.extend_from_slice(&[b'.', code]);
                let target = self.path.join(std::ffi::OsStr::from_bytes(&name));
                match fs::hard_link(&path, &target) {
                    Ok(()) => break,
                    Err(e) => {
                        let what = [b"link to " as &[u8], &self.name, b"/", &name, b", pausing"];
                        vigil_proto::msg::warn_unable("multilog", &e, &what);
                        std::thread::sleep(pause::PAUSE);
                    }
                }
            }
        }
        retry(&[b"remove ", &self.at(file)], || fs::remove_file(&path));
        while !retry(&[b"read ", &self.name], || files_fit(&self.path, self.num)) {}
    }
}
