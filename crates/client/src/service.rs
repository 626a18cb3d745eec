//! The control library: a client's view of one service directory.
//!
//! What daemontools' `svc`, `svstat` and `svok` do to a service directory, as calls:
//! [`Service::at`] enters the directory (where daemontools' clients `chdir`),
//! [`Service::is_supervised`] asks whether a supervise holds `supervise/ok` open,
//! [`Service::is_normally_up`] looks for the `down` file, [`Service::status`] reads
//! `supervise/status`, and [`Service::send`] writes control bytes to `supervise/control`.
//! NEW: [`Service::wait`] waits for a state and [`Service::subscribe`] follows the events
//! (docs/events.md).
//!
//! The directory is opened once (`O_PATH`) and every file is then opened relative to it, so a
//! `Service` never changes the process's working directory and keeps naming the same directory
//! even if its path is renamed meanwhile, just as a client that chdir'd into it would.
//!
//! ```
//! use vigil_client::service::Service;
//! use vigil_proto::control::Control;
//!
//! # use vigil_proto::status::{self, Status, Want};
//! # use vigil_proto::{fifo, tai::Tai64n};
//! # fn main() -> std::io::Result<()> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("web");
//! # std::fs::create_dir_all(dir.join("supervise"))?;
//! # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
//! # status::write(dir.as_os_str(), &up)?;
//! # // What supervise holds open: the read ends of supervise/ok and supervise/control.
//! # fifo::make(dir.join("supervise/ok"), 0o600)?;
//! # fifo::make(dir.join("supervise/control"), 0o600)?;
//! # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
//! # let mut control = fifo::open_read(dir.join("supervise/control"))?;
//! let web = Service::at(&dir)?; // "/service/web"
//! if web.is_supervised()? {
//!     web.send(&[Control::Terminate.byte()]).map_err(std::io::Error::from)?;
//!     let status = web.status().map_err(std::io::Error::from)?;
//!     println!("pid {}", status.pid);
//! }
//! # let mut got = [0; 8];
//! # assert_eq!(fifo::read_pending(&mut control, &mut got)?, 1);
//! # assert_eq!(got[0], b't');
//! # Ok(())
//! # }
//! ```

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{fcntl, openat, FcntlArg, OFlag};
use nix::sys::stat::{fstatat, Mode};
use nix::unistd::{faccessat, AccessFlags};

use vigil_proto::paths;
use vigil_proto::status::{Status, DAEMONTOOLS_LEN};

/// One service directory, entered.
#[derive(Debug)]
pub struct Service {
    dir: OsString,
    fd: OwnedFd,
}

/// Why [`Service::status`] failed, worded as daemontools' svstat words it.
#[derive(Debug)]
pub enum StatusError {
    /// `supervise/status` could not be opened.
    Open(io::Error),
    /// Reading it failed.
    Read(io::Error),
    /// It holds fewer than daemontools' 18 bytes.
    BadFormat,
}

impl fmt::Display for StatusError {
    /// `unable to open supervise/status: file does not exist`, `unable to read
    /// supervise/status: bad format`: svstat's text after `DIR: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use vigil_proto::errstr::io_errstr;
        match self {
            StatusError::Open(e) => write!(f, "unable to open supervise/status: {}", io_errstr(e)),
            StatusError::Read(e) => write!(f, "unable to read supervise/status: {}", io_errstr(e)),
            StatusError::BadFormat => f.write_str("unable to read supervise/status: bad format"),
        }
    }
}

impl std::error::Error for StatusError {}

impl From<StatusError> for io::Error {
    fn from(e: StatusError) -> io::Error {
        match e {
            StatusError::Open(e) | StatusError::Read(e) => e,
            StatusError::BadFormat => io::Error::new(io::ErrorKind::InvalidData, "bad format"),
        }
    }
}

/// Why [`Service::send`] failed.
#[derive(Debug)]
pub enum SendError {
    /// No supervise holds `supervise/control` open (ENXIO).
    NotRunning,
    /// `supervise/control` could not be opened for another reason.
    Open(io::Error),
    /// Writing the bytes failed (EPIPE if supervise went away after the open).
    Write(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use vigil_proto::errstr::io_errstr;
        match self {
            SendError::NotRunning => f.write_str("supervise not running"),
            SendError::Open(e) => write!(f, "unable to open supervise/control: {}", io_errstr(e)),
            SendError::Write(e) => write!(f, "unable to write supervise/control: {}", io_errstr(e)),
        }
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for io::Error {
    fn from(e: SendError) -> io::Error {
        match e {
            SendError::NotRunning => io::Error::from_raw_os_error(libc::ENXIO),
            SendError::Open(e) | SendError::Write(e) => e,
        }
    }
}

fn to_io(errno: Errno) -> io::Error {
    io::Error::from(errno)
}

impl Service {
    /// Enters the service directory `dir`.
    ///
    /// Fails as `chdir(dir)` would (daemontools' clients chdir first): "file does not exist",
    /// "not a directory", "access denied" when the directory cannot be searched.
    pub fn at(dir: impl AsRef<OsStr>) -> io::Result<Service> {
        let dir = dir.as_ref();
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(to_io)?;
        // compat: chdir needs search permission on the directory itself; O_PATH does not.
        faccessat(&fd, ".", AccessFlags::X_OK, nix::fcntl::AtFlags::AT_EACCESS).map_err(to_io)?;
        Ok(Service {
            dir: dir.to_owned(),
            fd,
        })
    }

    /// The directory as the caller named it (for messages: daemontools prints it as typed).
    pub fn dir(&self) -> &OsStr {
        &self.dir
    }

    fn open(&self, tail: &str, flags: OFlag) -> io::Result<File> {
        let fd = openat(
            &self.fd,
            tail,
            flags | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(to_io)?;
        Ok(File::from(fd))
    }

    /// Whether a supervise runs on this directory: `supervise/ok` opened for writing without
    /// blocking succeeds only while some process holds its read end.
    ///
    /// `Ok(false)` when nobody does (ENXIO); any other failure, a missing `supervise/`
    /// included, is an `Err` for the caller to word (svok exits 100 on a missing one, svstat
    /// reports it).
    ///
    /// ```
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let running = vigil_client::Service::at(&dir)?.is_supervised()?;
    /// assert!(running); // svok exits 0
    /// drop(_ok);
    /// assert!(!vigil_client::Service::at(&dir)?.is_supervised()?); // and now 100
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_supervised(&self) -> io::Result<bool> {
        match self.open(paths::OK, OFlag::O_WRONLY) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the service is normally up: true unless a `down` file exists (stat'd, so a
    /// symbolic link to nothing means up, as in daemontools).
    pub fn is_normally_up(&self) -> io::Result<bool> {
        match fstatat(&self.fd, paths::DOWN, nix::fcntl::AtFlags::empty()) {
            Ok(_) => Ok(false),
            Err(Errno::ENOENT) => Ok(true),
            Err(e) => Err(to_io(e)),
        }
    }

    /// The raw bytes of `supervise/status` (at most a few hundred).
    pub fn status_bytes(&self) -> Result<Vec<u8>, StatusError> {
        // compat: daemontools opens it with O_NDELAY, so even a FIFO put there never blocks.
        let file = self
            .open(paths::STATUS, OFlag::O_RDONLY)
            .map_err(StatusError::Open)?;
        // Room for the whole file with its extension: one read and the one that says EOF,
        // not a read per growth step (vigild reads 500 of these per status request).
        let mut bytes = Vec::with_capacity(512);
        file.take(4096)
            .read_to_end(&mut bytes)
            .map_err(StatusError::Read)?;
        Ok(bytes)
    }

    /// Reads `supervise/status`.
    ///
    /// Only daemontools' 18 bytes must be sound: an extension that does not decode (a newer,
    /// incompatible vigil, or garbage) leaves [`Status::ext`] `None`, as daemontools' svstat
    /// never looks past byte 18.
    ///
    /// ```
    /// use vigil_client::service::Service;
    /// use vigil_proto::status::State;
    ///
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let status = Service::at(&dir)?.status()?;
    /// let backoff = status.ext.is_some_and(|e| e.state == State::Backoff);
    /// println!("pid {} backoff {backoff}", status.pid);
    /// # assert_eq!((status.pid, backoff), (42, false));
    /// # Ok(())
    /// # }
    /// ```
    pub fn status(&self) -> Result<Status, StatusError> {
        decode_lenient(&self.status_bytes()?)
    }

    /// Writes `bytes` (control bytes, see [`vigil_proto::control::Control`]) to
    /// `supervise/control` in one write, as daemontools' svc does: the FIFO is opened without
    /// blocking (so a missing supervise is reported, not waited for), then switched back to
    /// blocking for the write. With no bytes the FIFO is still opened: that alone reports
    /// whether a supervise is there.
    ///
    /// ```
    /// use vigil_client::service::{SendError, Service};
    /// use vigil_proto::control::Control;
    ///
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let bytes: Vec<u8> = [Control::Down, Control::Exit].map(Control::byte).to_vec();
    /// match Service::at(&dir)?.send(&bytes) {
    ///     Ok(()) => {}
    ///     Err(SendError::NotRunning) => eprintln!("supervise not running"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # let mut got = [0; 8];
    /// # assert_eq!(fifo::read_pending(&mut control, &mut got)?, 2);
    /// # assert_eq!(&got[..2], b"dx");
    /// # drop(control);
    /// # assert!(matches!(Service::at(&dir)?.send(b"u"), Err(SendError::NotRunning)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn send(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.write_control(bytes, true)
    }

    /// [`Service::send`] that never blocks: when the FIFO is full (a supervise that has not
    /// read 64 KiB of control bytes, stopped or stuck), the write fails with `EAGAIN` instead
    /// of waiting. svscan tells its supervise processes to stop this way.
    ///
    /// ```
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let web = vigil_client::Service::at(&dir)?;
    /// if web.try_send(b"dx").is_err() {
    ///     eprintln!("supervise of web not told");
    /// }
    /// # let mut got = [0; 8];
    /// # assert_eq!(fifo::read_pending(&mut control, &mut got)?, 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn try_send(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.write_control(bytes, false)
    }

    /// The one place control bytes are written: opens `supervise/control` without blocking
    /// (ENXIO: no supervise), then writes them in one write, blocking or not.
    fn write_control(&self, bytes: &[u8], block: bool) -> Result<(), SendError> {
        let mut fifo =
            self.open(paths::CONTROL, OFlag::O_WRONLY)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ENXIO) => SendError::NotRunning,
                    _ => SendError::Open(e),
                })?;
        if bytes.is_empty() {
            return Ok(());
        }
        if block {
            fcntl(&fifo, FcntlArg::F_SETFL(OFlag::empty()))
                .map_err(|e| SendError::Write(to_io(e)))?;
        }
        fifo.write_all(bytes).map_err(SendError::Write)
    }

    /// Subscribes to the service's events (docs/events.md): a FIFO in `DIR/event/` that
    /// supervise writes into, and the journal read after the last event seen. With `since`,
    /// the kept events after that sequence number come first. It survives supervise
    /// restarts; dropping it removes the FIFO.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use vigil_client::follow::Item;
    /// use vigil_client::service::Service;
    /// # use vigil_proto::{event::Event, fifodir, journal};
    ///
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let mut events = Service::at(&dir)?.subscribe(None)?;
    /// # // supervise announces `u`: the journal first, then the letter.
    /// # journal::Journal::open(dir.as_os_str())?.append(journal::Record::new(Event::Up, 42)).1?;
    /// # fifodir::publish(&dir.join("event"), b"u")?;
    /// // Blocks without polling until supervise publishes something (here: at most a second).
    /// for item in events.next(Some(Instant::now() + Duration::from_secs(1)))? {
    ///     if let Item::Event(record) = item {
    ///         let word = record.event().map_or("unknown", |e| e.word());
    ///         println!("{} {} pid {}", record.seq, word, record.pid);
    /// #       assert_eq!((record.seq, word), (1, "up"));
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscribe(&self, since: Option<u64>) -> io::Result<crate::follow::Follower> {
        crate::follow::Follower::new(&self.dir, since)
    }

    /// Waits until the service reaches `goal` or `timeout` passes (`None`: no limit), as
    /// `svwait` does, without polling.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_client::goal::{Goal, Outcome};
    /// use vigil_client::service::Service;
    /// use vigil_proto::control::Control;
    ///
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let web = Service::at(&dir)?;
    /// web.send(&[Control::Up.byte()]).map_err(std::io::Error::from)?;
    /// match web.wait(Goal::Up, Some(Duration::from_secs(30)))? {
    ///     Outcome::Reached => println!("web is up"),
    ///     Outcome::TimedOut => eprintln!("web is not up after 30 s"),
    ///     Outcome::SuperviseGone(_) => eprintln!("supervise of web exited"),
    ///     Outcome::Stopped => unreachable!("no stop descriptor given"),
    /// }
    /// # assert_eq!(web.wait(Goal::Down, Some(Duration::from_millis(10)))?, Outcome::TimedOut);
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait(
        &self,
        goal: crate::goal::Goal,
        timeout: Option<std::time::Duration>,
    ) -> io::Result<crate::goal::Outcome> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        Ok(crate::goal::wait(&[&self.dir], goal, true, deadline)?)
    }
}

/// Decodes a status file's bytes as [`Service::status`] does: daemontools' 18 bytes must be
/// there; a bad extension is dropped rather than failing the whole read.
///
/// ```
/// use vigil_client::service::decode_lenient;
///
/// // daemontools' 18 bytes: no extension; fewer is "bad format".
/// let mut bytes = [0u8; 18];
/// bytes[12] = 42; // pid, little-endian
/// assert_eq!(decode_lenient(&bytes).map(|s| (s.pid, s.ext)).ok(), Some((42, None)));
/// assert!(decode_lenient(&bytes[..17]).is_err());
/// ```
pub fn decode_lenient(bytes: &[u8]) -> Result<Status, StatusError> {
    if bytes.len() < DAEMONTOOLS_LEN {
        return Err(StatusError::BadFormat);
    }
    match Status::decode(bytes) {
        Ok(status) => Ok(status),
        Err(_) => Status::decode(&bytes[..DAEMONTOOLS_LEN]).map_err(|_| StatusError::BadFormat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::status::{BackoffCause, Extension, State, Want};
    use vigil_proto::tai::Tai64n;

    fn sample(ext: bool) -> Status {
        Status {
            when: Tai64n::from_unix(1_700_000_000, 0),
            pid: 42,
            paused: false,
            want: Want::Up,
            ext: ext.then_some(Extension {
                state: State::Up,
                backoff_cause: BackoffCause::None,
                failures: 0,
                restarts: 2,
                last_exit: Some(15),
                backoff_until: None,
                ready_at: None,
                seq: 0,
            }),
        }
    }

    #[test]
    fn bad_extension_keeps_daemontools_part() {
        let mut bytes = sample(true).encode();
        bytes[20] = 99; // unknown extension version
        assert_eq!(decode_lenient(&bytes).unwrap(), sample(false));
        assert_eq!(
            decode_lenient(&sample(true).encode()).unwrap(),
            sample(true)
        );
    }

    #[test]
    fn short_file_is_bad_format() {
        assert!(matches!(
            decode_lenient(&[0; 17]),
            Err(StatusError::BadFormat)
        ));
        assert_eq!(
            StatusError::BadFormat.to_string(),
            "unable to read supervise/status: bad format"
        );
    }

    #[test]
    fn missing_directory_fails_as_chdir() {
        let e = Service::at("/nonexistent/vigil-test").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        let e = Service::at("/etc/passwd").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
    }
}
