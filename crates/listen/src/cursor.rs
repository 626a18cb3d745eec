//! The cursor file: where a listener resumes after a restart (`-c FILE`).
//!
//! Text, one item a line, rewritten whole (FILE.new, then rename) after every event the
//! listener acknowledged:
//!
//! ```text
//! vigil-listen cursor 1
//! serial 12
//! poolserial 12
//! time 1700000000
//! service SEQ STATE TRIES PID QUICK NAME
//! ```
//!
//! `time` is when it was written (unix seconds): a service the cursor does not know yet gets the
//! events its journal recorded since then. STATE is supervisord's state code of the last event
//! sent for the service, QUICK 0 or 1 ([`Track`]), NAME the service directory below the scan
//! directory with `%`, newline and carriage return written `%XX` (as svwatch's cursor does).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use vigil_client::supervisord::ProcState;
use vigil_proto::paths;

use crate::mapping::Track;

const HEAD: &str = "vigil-listen cursor 1";
/// A cursor larger than this is not ours: bounded read.
const MAX_LEN: u64 = 16 << 20;

/// Where the listener is: its serials and, per service, the last record handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next event's `serial`.
    pub serial: u64,
    /// The next event's `poolserial`.
    pub poolserial: u64,
    /// When the file was written (unix seconds), if it was read from one.
    pub time: Option<u64>,
    /// Per service directory: the last sequence number handled and the track after it.
    pub services: BTreeMap<OsString, (u64, Track)>,
}

const STATES: [ProcState; 8] = [
    ProcState::Stopped,
    ProcState::Starting,
    ProcState::Running,
    ProcState::Backoff,
    ProcState::Stopping,
    ProcState::Exited,
    ProcState::Fatal,
    ProcState::Unknown,
];

fn bad() -> io::Error {
    io::Error::from(io::ErrorKind::InvalidData)
}

impl Cursor {
    /// Reads FILE; `Ok(None)` when there is none (a first start).
    pub fn load(path: &Path) -> io::Result<Option<Cursor>> {
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut text = Vec::new();
        file.take(MAX_LEN + 1).read_to_end(&mut text)?;
        if text.len() as u64 > MAX_LEN {
            return Err(bad());
        }
        Cursor::decode(&text).map(Some).ok_or_else(bad)
    }

    fn decode(text: &[u8]) -> Option<Cursor> {
        let mut lines = text.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        if lines.next()? != HEAD.as_bytes() {
            return None;
        }
        let mut c = Cursor::default();
        for line in lines {
            let mut words = line.splitn(7, |&b| b == b' ');
            let key = words.next()?;
            let mut num =
                || -> Option<u64> { std::str::from_utf8(words.next()?).ok()?.parse().ok() };
            match key {
                b"serial" => c.serial = num()?,
                b"poolserial" => c.poolserial = num()?,
                b"time" => c.time = Some(num()?),
                b"service" => {
                    let seq = num()?;
                    let code = num()?;
                    let state = *STATES.iter().find(|s| s.code() as u64 == code)?;
                    let tries = u32::try_from(num()?).ok()?;
                    let pid = u32::try_from(num()?).ok()?;
                    let quick = num()? == 1;
                    let name = paths::unescape_line(words.next()?)?;
                    let track = Track {
                        state,
                        tries,
                        pid,
                        quick,
                    };
                    c.services.insert(OsString::from_vec(name), (seq, track));
                }
                _ => return None,
            }
        }
        Some(c)
    }

    /// Writes FILE anew, stamped with `now` (unix seconds).
    pub fn save(&self, path: &Path, now: u64) -> io::Result<()> {
        let mut text = format!(
            "{HEAD}\nserial {}\npoolserial {}\ntime {now}\n",
            self.serial, self.poolserial
        )
        .into_bytes();
        for (name, (seq, t)) in &self.services {
            text.extend_from_slice(
                format!(
                    "service {seq} {} {} {} {} ",
                    t.state.code(),
                    t.tries,
                    t.pid,
                    u8::from(t.quick)
                )
                .as_bytes(),
            );
            paths::escape_line(name.as_bytes(), &mut text);
            text.push(b'\n');
        }
        let mut new: PathBuf = path.to_path_buf();
        new.as_mut_os_string().push(".new");
        fs::write(&new, &text)?;
        fs::rename(&new, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_odd_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cursor");
        assert_eq!(Cursor::load(&path).expect("load"), None);
        let mut c = Cursor {
            serial: 7,
            poolserial: 5,
            ..Cursor::default()
        };
        let track = Track {
            state: ProcState::Backoff,
            tries: 3,
            pid: 42,
            quick: true,
        };
        c.services.insert(OsString::from("we b%\n/log"), (9, track));
        c.services
            .insert(OsString::from("db"), (1, Track::new(ProcState::Running)));
        c.save(&path, 1_700_000_000).expect("save");
        let back = Cursor::load(&path).expect("load").expect("some");
        c.time = Some(1_700_000_000);
        assert_eq!(back, c);
    }

    #[test]
    fn garbage_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cursor");
        for text in [
            "",
            "hello\n",
            "vigil-listen cursor 1\nservice 1 20\n",
            "vigil-listen cursor 1\nserial x\n",
        ] {
            fs::write(&path, text).expect("write");
            assert!(Cursor::load(&path).is_err(), "{text:?}");
        }
    }
}
