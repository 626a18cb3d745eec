//! envdir's rule for the value of one entry, apart from the reading (fuzz/targets.rs runs it).

use std::io;

/// The longest first line a file may hold: Linux's limit on one environment string
/// (MAX_ARG_STRLEN, 32 pages), past which the child could not be started anyway.
pub const VALUE_MAX: usize = 128 * 1024;

/// The value the beginning `head` of a file gives its variable (`whole`: `head` is the whole
/// file): `None` for an empty file (remove the variable), else its first line without trailing
/// spaces and tabs, NULs turned into newlines; `file too big` (EFBIG) for a first line longer
/// than [`VALUE_MAX`].
pub fn value(head: &[u8], whole: bool) -> io::Result<Option<Vec<u8>>> {
    match head.iter().position(|&b| b == b'\n') {
        Some(end) if end <= VALUE_MAX => Ok(Some(clean(head[..end].to_vec()))),
        Some(_) => Err(io::Error::from_raw_os_error(libc::EFBIG)),
        None if !whole || head.len() > VALUE_MAX => Err(io::Error::from_raw_os_error(libc::EFBIG)),
        None => Ok((!head.is_empty()).then(|| clean(head.to_vec()))),
    }
}

/// Trailing spaces and tabs go; NULs (which an environment cannot hold) become newlines.
fn clean(mut line: Vec<u8>) -> Vec<u8> {
    while matches!(line.last(), Some(b' ' | b'\t')) {
        line.pop();
    }
    for b in &mut line {
        if *b == 0 {
            *b = b'\n';
        }
    }
    line
}
