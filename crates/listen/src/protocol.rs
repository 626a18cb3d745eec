//! supervisord's event listener protocol, the listener's side as vigil-listen reads it
//! (supervisor/dispatchers.py, PEventListenerDispatcher; supervisor/childutils.py).
//!
//! The listener writes `READY\n`; it gets one header line and the payload; it answers
//! `RESULT N\n` and N bytes, `OK` (done) or anything else (`FAIL`: send it again); then
//! `READY\n` again. Anything else is garbage: supervisord marks the listener UNKNOWN,
//! vigil-listen reports it and stops it.

/// Where the listener is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for `READY\n` (supervisord's ACKNOWLEDGED).
    Acknowledged,
    /// Ready for an event; it must write nothing now.
    Ready,
    /// An event was sent; waiting for its `RESULT`.
    Busy,
}

/// What the bytes read so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    /// Not enough bytes yet.
    More,
    /// `READY\n`.
    Ready,
    /// A whole `RESULT`: its data (`OK`, `FAIL`, ...).
    Result(Vec<u8>),
    /// Bytes that are not what the protocol allows now (the first few of them).
    Garbage(Vec<u8>),
}

const READY: &[u8] = b"READY\n";
const RESULT: &[u8] = b"RESULT ";
/// A result line longer than this is garbage (supervisord's are a few bytes).
const MAX_LINE: usize = 32;
/// A result's data longer than this is garbage: bounded reads of what a program writes.
const MAX_RESULT: usize = 4096;

fn garbage(buf: &mut Vec<u8>) -> Said {
    let shown = buf[..buf.len().min(64)].to_vec();
    buf.clear();
    Said::Garbage(shown)
}

/// Reads one message off the front of `buf` in `phase`, removing what it used.
pub fn parse(phase: Phase, buf: &mut Vec<u8>) -> Said {
    if buf.is_empty() {
        return Said::More;
    }
    match phase {
        Phase::Acknowledged => {
            if buf.starts_with(READY) {
                buf.drain(..READY.len());
                Said::Ready
            } else if READY.starts_with(buf) {
                Said::More
            } else {
                garbage(buf)
            }
        }
        // compat: supervisord is strict here too: output while READY makes the listener UNKNOWN.
        Phase::Ready => garbage(buf),
        Phase::Busy => {
            let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                let prefix = buf.len().min(RESULT.len());
                return if buf.len() > MAX_LINE || buf[..prefix] != RESULT[..prefix] {
                    garbage(buf)
                } else {
                    Said::More
                };
            };
            let len = buf[..nl]
                .strip_prefix(RESULT)
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.trim().parse::<usize>().ok())
                .filter(|&n| n <= MAX_RESULT);
            let Some(len) = len else {
                return garbage(buf);
            };
            if buf.len() < nl + 1 + len {
                return Said::More;
            }
            let data = buf[nl + 1..nl + 1 + len].to_vec();
            buf.drain(..nl + 1 + len);
            Said::Result(data)
        }
    }
}

/// One event as the listener reads it: supervisord's header line and the payload.
pub fn envelope(serial: u64, pool: &str, poolserial: u64, name: &str, payload: &str) -> String {
    // compat: process.py's _eventEnvelope; `server` is supervisord's identifier, vigil's here.
    format!(
        "ver:3.0 server:vigil serial:{serial} pool:{pool} poolserial:{poolserial} \
         eventname:{name} len:{}\n{payload}",
        payload.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_then_result_in_pieces() {
        let mut buf = b"REA".to_vec();
        assert_eq!(parse(Phase::Acknowledged, &mut buf), Said::More);
        buf.extend_from_slice(b"DY\nRESULT 2\nO");
        assert_eq!(parse(Phase::Acknowledged, &mut buf), Said::Ready);
        assert_eq!(parse(Phase::Busy, &mut buf), Said::More);
        buf.extend_from_slice(b"KREADY\n");
        assert_eq!(parse(Phase::Busy, &mut buf), Said::Result(b"OK".to_vec()));
        assert_eq!(parse(Phase::Acknowledged, &mut buf), Said::Ready);
        assert!(buf.is_empty());
    }

    #[test]
    fn garbage_is_garbage_in_every_phase() {
        for (phase, bytes) in [
            (Phase::Acknowledged, &b"hello\n"[..]),
            (Phase::Ready, b"READY\n"),
            (Phase::Busy, b"RESULT x\nOK"),
            (Phase::Busy, b"OK\n"),
            (Phase::Busy, b"RESULT 99999999\n"),
            (Phase::Busy, &[b'R'; 40]),
        ] {
            let mut buf = bytes.to_vec();
            assert!(
                matches!(parse(phase, &mut buf), Said::Garbage(_)),
                "{phase:?} {bytes:?}"
            );
        }
    }

    #[test]
    fn the_header_is_supervisords() {
        assert_eq!(
            envelope(0, "crashmail", 0, "TICK_5", "when:1700000000"),
            "ver:3.0 server:vigil serial:0 pool:crashmail poolserial:0 eventname:TICK_5 len:15\nwhen:1700000000"
        );
    }
}
