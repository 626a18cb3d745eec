//! `DIR/event/`: a directory of FIFOs, one per listener, that supervise writes event letters
//! into (s6's fifodir model).
//!
//! A listener makes its own FIFO in the directory, keeps it open for reading and blocks on it;
//! supervise writes each event's letter into every FIFO whose name begins with `ftrig1` (s6's
//! prefix and name form: s6-ftrig-wait works on a vigil event directory, and s6-supervise
//! writes into a vigil listener's, `vigil_client::subscription::Subscription`; benches/events.rs
//! uses both). The write never blocks
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

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

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

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique FIFO name as s6 forms it: `ftrig1:@` TAI64N `:` six characters (a listener makes
/// its FIFO under this name with a `.` before it, then renames it to this).
pub fn fifo_name() -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io::Read;
    use std::path::PathBuf;

    /// A listener as the protocol has it: a FIFO under a [`fifo_name`] in `DIR/event/`, both
    /// ends held (vigil's own is `vigil_client::subscription::Subscription`).
    struct Listener {
        path: PathBuf,
        reader: File,
        _writer: File,
    }

    impl Listener {
        fn new(dir: &OsStr) -> Listener {
            let eventdir = Path::new(dir).join(EVENT);
            let _ = fs::create_dir(&eventdir);
            let path = eventdir.join(OsStr::from_bytes(&fifo_name()));
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
            let open = |read: bool| {
                OpenOptions::new()
                    .read(read)
                    .write(!read)
                    .custom_flags(libc::O_NONBLOCK)
                    .open(&path)
                    .expect("open")
            };
            let reader = open(true);
            Listener {
                _writer: open(false),
                reader,
                path,
            }
        }

        fn path(&self) -> &Path {
            &self.path
        }

        fn drain(&mut self, letters: &mut Vec<u8>) -> io::Result<()> {
            let mut buf = [0u8; 4096];
            loop {
                match self.reader.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => letters.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
    }

    #[test]
    fn fifo_names_are_s6s_and_unique() {
        let (a, b) = (fifo_name(), fifo_name());
        assert_ne!(a, b);
        assert!(a.starts_with(b"ftrig1:@") && a.starts_with(PREFIX));
        assert_eq!(a.len(), b"ftrig1:".len() + 25 + 1 + 6);
    }

    #[test]
    fn publish_reaches_every_listener_and_removes_dead_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        let mut a = Listener::new(os);
        let mut b = Listener::new(os);
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
        let mut sub = Listener::new(os);
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
    fn publish_writes_only_into_fifos_issue_12() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let os = dir.path().as_os_str();
        let mut sub = Listener::new(os);
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
