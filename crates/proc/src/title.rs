//! A process title written over this process's own last argument, so `ps` and
//! `/proc/PID/cmdline` show it (readproctitle).
//!
//! The argument area is found from `/proc/self/stat` (its end, `arg_end`) and written through
//! `/proc/self/mem`: a write into this process's memory behind the compiler's back, which is why
//! it lives in vigil-proc beside the `unsafe` blocks rather than in the program.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

/// This process's last argument, in its own memory.
pub struct Title {
    mem: File,
    offset: u64,
    len: usize,
}

impl Title {
    /// Finds `last`, the process's last argument as the program received it, at the end of the
    /// argument area; `EINVAL` if the bytes there are not it followed by a NUL.
    pub fn open(last: &OsStr) -> io::Result<Title> {
        let len = last.as_bytes().len();
        let stat = std::fs::read("/proc/self/stat")?;
        let invalid = || io::Error::from_raw_os_error(libc::EINVAL);
        // Fields after the command name, which may itself hold spaces and parentheses.
        let after = stat
            .iter()
            .rposition(|&b| b == b')')
            .map(|at| &stat[at + 1..])
            .ok_or_else(invalid)?;
        let fields: Vec<&[u8]> = after
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .collect();
        // arg_end is field 49 of proc(5); `after` starts at field 3.
        let arg_end: u64 = fields
            .get(49 - 3)
            .and_then(|f| std::str::from_utf8(f).ok()?.trim().parse().ok())
            .ok_or_else(invalid)?;
        let offset = arg_end.checked_sub(len as u64 + 1).ok_or_else(invalid)?;
        let mem = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/self/mem")?;
        // Make sure the window is where the last argument is before writing over anything.
        let mut there = vec![0u8; len + 1];
        mem.read_exact_at(&mut there, offset)?;
        if there[..len] != *last.as_bytes() || there[len] != 0 {
            return Err(invalid());
        }
        Ok(Title { mem, offset, len })
    }

    /// Writes `window` over the argument (at most its length; the NUL after it stays).
    pub fn show(&mut self, window: &[u8]) -> io::Result<()> {
        let window = &window[..window.len().min(self.len)];
        // SAFETY: the bytes written are the kernel's copy of argv[last], checked above to hold
        // the argument, and no longer than it, so its final NUL and everything around it stay.
        // Rust holds no reference into that area: std reads argv only to copy it
        // (`args_os()` returns owned strings), so no value the program uses changes under it;
        // later calls of `args_os()` see the title, as C's argv would.
        self.mem.write_all_at(window, self.offset)
    }
}
