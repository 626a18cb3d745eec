//! The loop of tai64n and tai64nlocal: read a block of stdin, turn it into output, write that
//! before the next read (so a reader sees each line as soon as it came), until end of input.

use std::io::{self, Read, Write};

/// Runs `convert(block, output)` on each block read from stdin; output is written and
/// flushed after each block. Returns at end of input, or the first read or write error.
pub fn filter(mut convert: impl FnMut(&[u8], &mut Vec<u8>)) -> io::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut input = vec![0u8; 64 * 1024];
    let mut output = Vec::with_capacity(128 * 1024);
    loop {
        let n = match stdin.read(&mut input) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        convert(&input[..n], &mut output);
        stdout.write_all(&output)?;
        stdout.flush()?;
        output.clear();
    }
}
