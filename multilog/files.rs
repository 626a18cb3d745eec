//! The file steps of a log directory that need nothing else of multilog: daemontools'
//! open_append and open_trunc, its filesfit (pruning old files), and finding where the last
//! line of a file is unfinished. A leaf: the directory, the finisher and the processor use it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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

/// True if fewer than `num` old files are left in `dir`; otherwise removes the oldest and
/// says false (daemontools' filesfit: the oldest is the least name of 25 bytes or more).
pub fn files_fit(dir: &Path, num: u64) -> io::Result<bool> {
    let mut count = 0u64;
    let mut oldest: Option<Vec<u8>> = None;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.as_bytes();
        if name.first() == Some(&b'@') && name.len() >= 25 {
            count += 1;
            if oldest.as_deref().is_none_or(|o| name < o) {
                oldest = Some(name.to_vec());
            }
        }
    }
    if count < num {
        return Ok(true);
    }
    let Some(oldest) = oldest else {
        return Ok(true);
    };
    // compat: daemontools removes the first entry that starts with the oldest's 25 bytes.
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.as_bytes().len() >= 25 && name.as_bytes().starts_with(&oldest[..25]) {
            let _ = fs::remove_file(entry.path());
            break;
        }
    }
    Ok(false)
}

/// How many bytes of the file of `len` bytes follow its last newline (0: it ends with one, or
/// is empty; unreadable counts as 0).
pub fn unfinished_tail(path: &Path, len: u64) -> u64 {
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
