//! An automatically rotated log directory: opening and locking it, recovering what a previous
//! multilog left, and finishing `current` at the end.
//!
//! Lines are gathered in memory and written with one write(2) per input block; where `current`
//! is cut is in `cuts.rs`, rotation in `rotate.rs`, the off-loop finishing in `finisher.rs`.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use vigil_proto::msg::Fail;

use crate::finisher::Finisher;
use crate::pause;
use crate::script::DirSpec;

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
    /// Bytes in `current` as daemontools counts them: written through its buffer model (see
    /// `cuts.rs`), whether or not they have reached the file yet.
    pub(crate) bytes: u64,
    /// Bytes gathered for `current`: `[..cut]` are past the buffer model, `[cut..]` are in
    /// its 512-byte buffer.
    pub(crate) pending: Vec<u8>,
    pub(crate) cut: usize,
    /// The worker that finishes full files (started at the first rotation).
    pub(crate) finisher: Option<Finisher>,
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
            bytes: 0,
            pending: Vec::new(),
            cut: 0,
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
                self.bytes = meta.len();
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
        self.bytes = mid_line.unwrap_or(0);
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

    /// End of input: `current` written, safely on disk, and marked finished (mode 744).
    pub fn quit(&mut self) {
        self.flush(true);
        if let Some(finisher) = &mut self.finisher {
            finisher.wait();
        }
        let current = &self.current;
        pause::retry(&[b"write ", &self.at("current"), b" to disk"], || {
            current.sync_all()
        });
        pause::retry(&[b"set mode of ", &self.at("current")], || {
            current.set_permissions(Permissions::from_mode(0o744))
        });
    }
}

/// How many bytes of the file of `len` bytes follow its last newline (0: it ends with one, or
/// is empty; unreadable counts as 0).
fn unfinished_tail(path: &Path, len: u64) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    const CHUNK: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return 0;
    };
    let mut end = len;
    let mut chunk = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let part = &mut chunk[..(end - start) as usize];
        if file.seek(SeekFrom::Start(start)).is_err() || file.read_exact(part).is_err() {
            return 0;
        }
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return len - (start + i as u64 + 1);
        }
        end = start;
    }
    len
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
