//! A listener's end of `DIR/event/` (s6's fifodir protocol, named in vigil_proto::fifodir):
//! its own FIFO there, made under a hidden name, opened at both ends, then renamed into place so
//! supervise never sees it without a reader; removed when dropped. [`crate::follow::Follower`]
//! wakes on it and reads the journal.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use vigil_proto::{fifodir, paths};

/// Creates `dir/event` (mode 0700, or as the umask allows) if it is missing.
fn make(dir: &OsStr) -> io::Result<PathBuf> {
    let path = PathBuf::from(paths::join(dir, fifodir::EVENT));
    match fs::DirBuilder::new().mode(0o700).create(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(path),
        Err(e) => Err(e),
    }
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
    ///
    /// ```
    /// use vigil_client::subscription::Subscription;
    /// use vigil_proto::fifodir;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// let mut sub = Subscription::new(tmp.path().as_os_str())?;
    /// fifodir::publish(&tmp.path().join(fifodir::EVENT), b"uU")?; // what supervise does
    /// let mut letters = Vec::new();
    /// sub.drain(&mut letters)?;
    /// assert_eq!(letters, b"uU");
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(dir: &OsStr) -> io::Result<Subscription> {
        let eventdir = make(dir)?;
        let name = fifodir::fifo_name();
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
    fn dropping_a_subscription_removes_its_fifo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = Subscription::new(dir.path().as_os_str()).expect("subscribe");
        let path = sub.path().to_path_buf();
        assert!(path.exists());
        assert!(path
            .file_name()
            .expect("name")
            .as_bytes()
            .starts_with(fifodir::PREFIX));
        drop(sub);
        assert!(!path.exists());
    }

    /// supervise's side (vigil_proto::fifodir::publish) reaches a subscription.
    #[test]
    fn letters_published_are_drained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sub = Subscription::new(dir.path().as_os_str()).expect("subscribe");
        let eventdir = dir.path().join(fifodir::EVENT);
        fifodir::publish(&eventdir, b"ud").expect("publish");
        fifodir::publish(&eventdir, b"D").expect("publish");
        let mut letters = Vec::new();
        sub.drain(&mut letters).expect("drain");
        assert_eq!(letters, b"udD");
    }
}
