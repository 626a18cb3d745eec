//! The main loop: input blocks into the line engine, signals between blocks, one sleep.

use crate::lines::{Feed, Lines};
use crate::pipe::{Peeked, Pipe};
use crate::plain::Plain;
use crate::signals::{Asked, Signals};

/// Handles what the signals asked for between blocks; true if multilog should stop now.
fn between_blocks(lines: &mut Lines, signals: &mut Signals, asked: &mut Asked) -> bool {
    signals.drain(asked);
    if asked.rotate && lines.at_line_start() {
        lines.rotate_all();
        asked.rotate = false;
    }
    asked.exit && lines.at_line_start()
}

/// Runs until the end of a pipe or SIGTERM. Bytes leave the pipe only once written; on SIGTERM
/// an unfinished line stays in the pipe for the next multilog.
pub fn pipe(lines: &mut Lines, signals: &mut Signals, mut input: Pipe) {
    let mut asked = Asked::default();
    let mut armed = false;
    let mut waited_for = 0;
    loop {
        if between_blocks(lines, signals, &mut asked) {
            return;
        }
        let peeked = match input.peek() {
            Ok(p) => p,
            Err(e) => {
                // Not expected once the first tee worked; daemontools takes a read error as
                // the end of input.
                vigil_proto::msg::warn_unable("multilog", &e, &[b"read standard input"]);
                Peeked::End
            }
        };
        let n = match peeked {
            Peeked::End => {
                lines.feed(&[], Feed::End);
                return;
            }
            Peeked::Empty => {
                input.wait_bytes(signals.fd());
                continue;
            }
            Peeked::Bytes(n) => n,
        };
        if armed && n <= waited_for && !input.writers_gone() {
            // Nothing new since the unfinished line was seen: sleep until the pipe is written.
            input.wait_more(signals.fd());
            armed = false;
            continue;
        }
        let data = &input.buf[..n];
        let mut used = lines.feed(data, Feed::Lines);
        if used == 0 {
            if n >= input.stream_at() {
                used = lines.feed(data, Feed::Stream);
            } else if input.writers_gone() {
                // The last writer left: what the pipe holds now is all there will be.
                used = lines.feed(data, Feed::End);
            } else {
                input.arm();
                armed = true;
                waited_for = n;
                continue;
            }
        }
        armed = false;
        // From a pipe nothing may wait in memory: it leaves the pipe only once written.
        lines.flush(true);
        if let Err(e) = input.consume(used) {
            vigil_proto::msg::warn_unable("multilog", &e, &[b"read standard input"]);
            return;
        }
    }
}

/// Runs until the end of any other input or SIGTERM (after which it reads a byte at a time to
/// the end of the line in progress, as daemontools, leaving stdin right after it).
pub fn plain(lines: &mut Lines, signals: &mut Signals, mut input: Plain) {
    let mut asked = Asked::default();
    loop {
        if between_blocks(lines, signals, &mut asked) && input.filled == 0 {
            return;
        }
        if input.wait(signals.fd()) {
            continue;
        }
        let most = if asked.exit { 1 } else { usize::MAX };
        if !input.read(most) {
            lines.feed(&input.buf[..input.filled], Feed::End);
            return;
        }
        let data = &input.buf[..input.filled];
        let mut used = lines.feed(data, Feed::Lines);
        if used == 0 && input.full() {
            used = lines.feed(data, Feed::Stream);
        }
        // From a file, daemontools' 512-byte buffer (modelled) waits for the next read, which
        // never blocks; from anything else the next read may wait, so everything goes out.
        lines.flush(!input.regular);
        input.consume(used);
    }
}
