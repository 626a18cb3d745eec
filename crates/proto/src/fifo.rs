//! The FIFOs of `supervise/`: `control` (commands in) and `ok` (open while supervise runs).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::stat::Mode;

/// Creates a FIFO with `mode`; one that already exists is fine (daemontools ignores the error
/// too, and the open that follows reports a real problem).
pub fn make(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    match nix::unistd::mkfifo(path.as_ref(), Mode::from_bits_truncate(mode)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens the read end without blocking (no writer needed), close-on-exec.
pub fn open_read(path: impl AsRef<Path>) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Opens a write end without blocking; fails with ENXIO when no reader has it open.
pub fn open_write(path: impl AsRef<Path>) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Reads what is pending on a non-blocking read end into `buf`: the bytes read, 0 when none.
pub fn read_pending(fifo: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match fifo.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bytes_pass_and_writer_needs_reader() {
        let dir = std::env::temp_dir().join(format!("vigil-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("control");
        make(&path, 0o600).expect("mkfifo");
        make(&path, 0o600).expect("exists is fine");
        let err = open_write(&path).expect_err("no reader");
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
        let mut r = open_read(&path).expect("read end");
        let mut buf = [0u8; 8];
        assert_eq!(read_pending(&mut r, &mut buf).expect("empty"), 0);
        open_write(&path)
            .expect("writer")
            .write_all(b"ux")
            .expect("write");
        assert_eq!(read_pending(&mut r, &mut buf).expect("read"), 2);
        assert_eq!(&buf[..2], b"ux");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
