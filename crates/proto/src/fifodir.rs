//! `DIR/event/`: a directory of FIFOs, one per listener, that supervise writes event letters
//! into (s6's fifodir model).
//!
//! A listener makes its own FIFO in the directory, keeps it open for reading and blocks on it;
//! supervise writes each event's letter into every FIFO whose name begins with `ftrig1` (s6's
//! prefix and name form: s6-ftrig-wait works on a vigil event directory, and s6-supervise
//! writes into a vigil [`Subscription`]; benches/events.rs uses both). The write never blocks
//! supervise:
//!
//! - each FIFO is opened write-only and non-blocking: a FIFO with no reader fails with ENXIO; it
//!   was left by a listener that died, and supervise removes it;
//! - a full FIFO (a listener that stopped reading 64 KiB of letters ago) fails with EAGAIN; the
//!   letter is dropped for that listener alone, who still finds the event in the journal;
//! - a reader that closes between open and write gives EPIPE (SIGPIPE is ignored in vigil's
//!   programs), and is skipped.
//!
//! A listener creates its FIFO under a name that does not begin with `ftrig1`, opens it, then
//! renames it into place, so supervise never sees it readerless and never removes a live one.
//! The listener also holds a write end of its own FIFO, so that between two supervises the FIFO
//! never reads as end-of-file (which would wake poll forever).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::paths;
use crate::tai::Tai64n;

/// The event directory's name in the service directory.
pub const EVENT: &str = "event";
/// The prefix of a listener's FIFO name (s6's FTRIG1_PREFIX).
pub const PREFIX: &[u8] = b"ftrig1";

/// What one [`publish`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// FIFOs the letters went into.
    pub written: usize,
    /// Full FIFOs the letters were dropped for.
    pub full: usize,
    /// FIFOs without a reader, removed.
    pub removed: usize,
    /// Entries with a listener's name that are not a listener's FIFO (a symbolic link, a
    /// regular file, a hard link to another FIFO): never written into; removed when supervise
    /// owns the directory.
    pub refused: usize,
}

/// Writes `letters` into every listener FIFO of the directory `eventdir`, never blocking.
///
/// A missing directory means no listeners. Errors on single FIFOs are counted, never
/// returned: one broken listener must not keep the others from their events.
///
/// The directory may be writable by a group of listeners (mode 3730), so an entry is written
/// only if it is a FIFO with one link, opened with `O_NOFOLLOW` and checked with `fstat` after
/// the open: a listener must not make root's supervise write into `/etc/shadow` or into
/// another service's `supervise/control` (issue 12).
pub fn publish(eventdir: &Path, letters: &[u8]) -> io::Result<Published> {
    let mut done = Published::default();
    let entries = match fs::read_dir(eventdir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(e),
    };
    let mut owned = None;
    for entry in entries.flatten() {
        if !entry.file_name().as_bytes().starts_with(PREFIX) {
            continue;
        }
        let path = entry.path();
        // d_type first: anything but a FIFO is not even opened (opening a device can act).
        let fifo = entry.file_type().is_ok_and(|t| t.is_fifo());
        let opened = if fifo {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
        } else {
            Err(io::Error::from_raw_os_error(libc::ELOOP))
        };
        let opened = opened.and_then(|file| match file.metadata() {
            Ok(meta) if meta.file_type().is_fifo() && meta.nlink() == 1 => Ok(file),
            Ok(_) => Err(io::Error::from_raw_os_error(libc::ELOOP)),
            Err(e) => Err(e),
        });
        match opened {
            Ok(mut fifo) => match fifo.write(letters) {
                Ok(_) => done.written += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => done.full += 1,
                Err(_) => {}
            },
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                if fs::remove_file(&path).is_ok() {
                    done.removed += 1;
                }
            }
            // Not a listener's FIFO (ELOOP stands for every such case above).
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                done.refused += 1;
                let owned = *owned.get_or_insert_with(|| {
                    fs::symlink_metadata(eventdir)
                        .is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw())
                });
                if owned {
                    let _ = fs::remove_file(&path);
                }
            }
            Err(_) => {}
        }
    }
    Ok(done)
}

/// Creates `dir/event` (mode 0700, or as the umask allows) if it is missing.
pub fn make(dir: &OsStr) -> io::Result<PathBuf> {
    let path = PathBuf::from(paths::join(dir, EVENT));
    match fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(path),
        Err(e) => Err(e),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique FIFO name as s6 forms it: `ftrig1:@` TAI64N `:` six characters.
fn fifo_name() -> Vec<u8> {
    const CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut name = b"ftrig1:".to_vec();
    name.extend_from_slice(&Tai64n::now().to_hex());
    name.push(b':');
    let mut n = (std::process::id() << 10) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    for _ in 0..6 {
        name.push(CHARS[(n & 63) as usize]);
        n >>= 6;
    }
    name
}

/// A listener's FIFO in `DIR/event/`; removed when dropped.
#[derive(Debug)]
pub struct Subscription {
    path: PathBuf,
    reader: File,
    _writer: File,
}

impl Subscription {
    /// Makes `dir/event` if needed and a FIFO in it that supervise will write letters into.
    pub fn new(dir: &OsStr) -> io::Result<Subscription> {
        let eventdir = make(dir)?;
        let name = fifo_name();
        let mut hidden = b".".to_vec();
        hidden.extend_from_slice(&name);
        let hidden = eventdir.join(OsStr::from_bytes(&hidden));
        let path = eventdir.join(OsStr::from_bytes(&name));
        nix::unistd::mkfifo(
            &hidden,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .map_err(io::Error::from)?;
        let opened = open_pair(&hidden).and_then(|pair| {
            fs::rename(&hidden, &path)?;
            Ok(pair)
        });
        match opened {
            Ok((reader, writer)) => Ok(Subscription {
                path,
                reader,
                _writer: writer,
            }),
            Err(e) => {
                let _ = fs::remove_file(&hidden);
                Err(e)
            }
        }
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read end, to poll on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads every letter waiting, without blocking; appends them to `letters`.
    pub fn drain(&mut self, letters: &mut Vec<u8>) -> io::Result<()> {
        let mut buf = [0u8; 512];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => letters.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn open_pair(path: &Path) -> io::Result<(File, File)> {
    let reader = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let writer = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    Ok((reader, writer))
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reaches_every_listener_and_removes_dead_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        let mut a = Subscription::new(os).expect("subscribe");
        let mut b = Subscription::new(os).expect("subscribe");
        assert_ne!(a.path(), b.path());
        let eventdir = dir.path().join(EVENT);
        // A FIFO left by a listener that died: no reader.
        let dead = eventdir.join("ftrig1:dead");
        nix::unistd::mkfifo(&dead, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        // Other names are not listeners.
        fs::write(eventdir.join("README"), "x").expect("write");
        let done = publish(&eventdir, b"u").expect("publish");
        assert_eq!(
            done,
            Published {
                written: 2,
                full: 0,
                removed: 1,
                refused: 0,
            }
        );
        assert!(!dead.exists());
        assert!(eventdir.join("README").exists());
        publish(&eventdir, b"dD").expect("publish");
        for sub in [&mut a, &mut b] {
            let mut letters = Vec::new();
            sub.drain(&mut letters).expect("drain");
            assert_eq!(letters, b"udD");
        }
    }

    #[test]
    fn a_full_fifo_never_blocks_the_publisher() {
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        let mut sub = Subscription::new(os).expect("subscribe");
        let eventdir = dir.path().join(EVENT);
        let chunk = [b'u'; 4096];
        let mut full = 0;
        for _ in 0..64 {
            full += publish(&eventdir, &chunk).expect("publish").full;
        }
        // A pipe holds 64 KiB by default: at least one of 64 x 4 KiB was refused.
        assert!(full > 0);
        let mut letters = Vec::new();
        sub.drain(&mut letters).expect("drain");
        assert!(!letters.is_empty() && letters.len() < 64 * 4096);
    }

    #[test]
    fn no_event_directory_means_no_listeners() {
        let dir = tempfile::tempdir().expect("tempdir");
        let done = publish(&dir.path().join(EVENT), b"u").expect("publish");
        assert_eq!(done, Published::default());
    }

    #[test]
    fn dropping_a_subscription_removes_its_fifo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = Subscription::new(dir.path().as_os_str()).expect("subscribe");
        let path = sub.path().to_path_buf();
        assert!(path.exists());
        assert!(path
            .file_name()
            .expect("name")
            .as_bytes()
            .starts_with(PREFIX));
        drop(sub);
        assert!(!path.exists());
    }

    #[test]
    fn publish_writes_only_into_fifos_issue_12() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        let mut sub = Subscription::new(os).expect("subscribe");
        let eventdir = dir.path().join(EVENT);
        // A root-owned 0600 file outside, a link to it, a regular file and a hard link to a
        // FIFO (another service's control FIFO) under listeners' names.
        let secret = dir.path().join("shadow");
        fs::write(&secret, "secret\n").expect("write");
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::symlink(&secret, eventdir.join("ftrig1:link")).expect("symlink");
        fs::write(eventdir.join("ftrig1:file"), "").expect("write");
        let control = dir.path().join("control");
        nix::unistd::mkfifo(&control, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let _reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&control)
            .expect("open control");
        fs::hard_link(&control, eventdir.join("ftrig1:hard")).expect("link");
        let done = publish(&eventdir, b"dx").expect("publish");
        assert_eq!((done.written, done.refused), (1, 3), "{done:?}");
        assert_eq!(fs::read(&secret).expect("read"), b"secret\n");
        assert!(fs::read(eventdir.join("ftrig1:file")).map_or(true, |b| b.is_empty()));
        let mut control_bytes = Vec::new();
        let _ = (&_reader).read_to_end(&mut control_bytes);
        assert_eq!(control_bytes, b"");
        // supervise owns the directory: what is not a listener's FIFO is gone.
        let left: Vec<_> = fs::read_dir(&eventdir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, [sub.path().file_name().expect("name").to_owned()]);
        let mut letters = Vec::new();
        sub.drain(&mut letters).expect("drain");
        assert_eq!(letters, b"dx");
    }
}
