//! An automatically rotated log directory: opening and locking it, recovering what a previous
//! multilog left, and appending selected lines to `current` under the size cap.
//!
//! Lines are gathered in memory and written with one write(2) per input block; the caller
//! decides when (see `flush`). Rotation itself is in `rotate.rs`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use vigil_proto::msg::Fail;

use crate::pause;
use crate::script::DirSpec;

/// Write what has gathered once it is this large, even in the middle of a block.
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
    pub(crate) current: File,
    /// Bytes in `current`, counting those gathered but not yet written.
    pub(crate) bytes: u64,
    pending: Vec<u8>,
    _lock: Flock<File>,
}

impl LogDir {
    /// Creates (mode 700), locks and recovers the directory as daemontools' restart() does.
    pub fn open(spec: &DirSpec) -> Result<(LogDir, Found), Fail> {
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
            bytes: 0,
            pending: Vec::new(),
            _lock: lock,
        };
        let found = dir.restart()?;
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

    fn restart(&mut self) -> Result<Found, Fail> {
        let current = self.file("current");
        match fs::metadata(&current) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Fail::unable(&e, &[b"stat ", &self.at("current")])),
            Ok(meta) => {
                let finished = meta.permissions().mode() & 0o100 != 0;
                // NEW: a current that a killed multilog left mid-line is continued, not set
                // aside, so the rest of that line (still in the pipe) joins its first half.
                if finished || ends_mid_line(&current, meta.len()) {
                    self.append_current(&current)?;
                    self.bytes = meta.len();
                    return Ok(if finished {
                        Found::Clean
                    } else {
                        Found::MidLine
                    });
                }
            }
        }
        self.recover()?;
        Ok(Found::Clean)
    }

    /// daemontools' restart after a crash: set aside what the processor left, then `current`
    /// as an unprocessed `.u` file, and start an empty `current` and `state`.
    pub fn recover(&mut self) -> Result<(), Fail> {
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
        self.finish("current", b'u');
        truncate_file(&self.file("state"))
            .map_err(|e| Fail::unable(&e, &[b"write to ", &self.at("state")]))?;
        let current = self.file("current");
        self.append_current(&current)?;
        self.bytes = 0;
        Ok(())
    }

    fn append_current(&mut self, current: &Path) -> Result<(), Fail> {
        let file = append_file(current, 0o600)
            .map_err(|e| Fail::unable(&e, &[b"append to ", &self.at("current")]))?;
        file.set_permissions(Permissions::from_mode(0o644))
            .map_err(|e| Fail::unable(&e, &[b"set mode of ", &self.at("current")]))?;
        self.current = file;
        Ok(())
    }

    /// Gathers `parts` (together at most one newline, at the very end) for `current`,
    /// rotating as daemontools does: at the first line end within 2000 bytes of the size cap,
    /// and at the cap itself, where a longer line is split and goes on in the next file.
    pub fn put(&mut self, parts: &[&[u8]]) {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let threshold = self.size_bytes - 2000;
        if self.bytes + (total as u64) < threshold {
            for part in parts {
                self.pending.extend_from_slice(part);
            }
            self.bytes += total as u64;
        } else {
            for part in parts {
                self.put_near_cap(part);
            }
        }
        if self.pending.len() >= FLUSH_AT_BYTES {
            self.flush();
        }
    }

    fn put_near_cap(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.bytes >= self.size_bytes {
                self.rotate();
            }
            let room = usize::try_from(self.size_bytes - self.bytes).unwrap_or(usize::MAX);
            let (now, rest) = data.split_at(room.min(data.len()));
            self.pending.extend_from_slice(now);
            self.bytes += now.len() as u64;
            data = rest;
            if now.last() == Some(&b'\n') && self.bytes >= self.size_bytes - 2000 {
                self.rotate();
            }
        }
    }

    /// Writes what has gathered to `current`; on failure warns, pauses and retries.
    pub fn flush(&mut self) {
        let mut done = 0;
        let what = self.at("current");
        while done < self.pending.len() {
            let chunk = &self.pending[done..];
            let current = &mut self.current;
            done += pause::retry(&[b"write to ", &what], || match current.write(chunk) {
                Ok(0) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
                other => other,
            });
        }
        self.pending.clear();
    }

    /// End of input: `current` written, safely on disk, and marked finished (mode 744).
    pub fn quit(&mut self) {
        self.flush();
        let current = &self.current;
        pause::retry(&[b"write ", &self.at("current"), b" to disk"], || {
            current.sync_all()
        });
        pause::retry(&[b"set mode of ", &self.at("current")], || {
            current.set_permissions(Permissions::from_mode(0o744))
        });
    }
}

/// True if the file's last byte is not a newline (and it is not empty).
fn ends_mid_line(path: &Path, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    if len == 0 {
        return false;
    }
    let mut last = [0u8; 1];
    match File::open(path).and_then(|f| f.read_exact_at(&mut last, len - 1)) {
        Ok(()) => last[0] != b'\n',
        Err(_) => false,
    }
}

/// daemontools' open_append: write-only, appending, created with `mode`.
pub fn append_file(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// daemontools' open_trunc: write-only, truncated, created with mode 644.
pub fn truncate_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}
