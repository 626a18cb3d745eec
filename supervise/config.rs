//! The service directory's override files, read when supervise starts, at each start of `run`
//! and at each control command (so an edit takes effect without restarting supervise).
//!
//! | file             | contents                       | default                         |
//! |------------------|--------------------------------|---------------------------------|
//! | `backoff`        | `FIRST MAX [QUICK]`, in ms     | `1000 60000 1000`               |
//! | `timeout-kill`   | ms after `d` before KILL       | none (as daemontools)           |
//! | `timeout-finish` | ms before `finish` is KILLed   | 5000; 0 means no limit (as s6)  |
//! | `keep-strays`    | (exists)                       | leftovers of `run` are stopped   |
//! | `down-signal`    | a signal name (`INT`, `SIGQUIT`) | TERM: what `d` sends (as s6)    |
//! | `ready-timeout`  | ms the run may take to be ready | none; 0 means none: then a warning |
//!
//! Each is read through [`vigil_proto::bounded`]: a regular file of at most 4 KiB, never
//! through a symbolic link, never blocking. A bad file or value is one warning (again only once
//! it changed, see [`warn_once`]) and counts as absent.

use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use vigil_proto::bounded::{self, Links};
use vigil_proto::errstr::io_errstr;
use vigil_proto::msg;

use crate::state::Config;

/// Overrides the backoff: first delay, longest delay and quick-exit threshold, in ms.
pub const BACKOFF: &str = "backoff";
/// After `d`, KILL the service's process group if it has not exited within this many ms.
pub const TIMEOUT_KILL: &str = "timeout-kill";
/// KILL `finish` if it runs longer than this many ms.
pub const TIMEOUT_FINISH: &str = "timeout-finish";
/// The signal `d` (and a stop of supervise) sends instead of TERM, as s6-supervise reads it.
pub const DOWN_SIGNAL: &str = "down-signal";
/// Warn if a run that notifies readiness has not within this many ms of its start.
pub const READY_TIMEOUT: &str = "ready-timeout";
/// If this file exists, processes `run` leaves behind in its process group are not stopped.
pub const KEEP_STRAYS: &str = "keep-strays";

/// Reads the override files of the current directory (the service directory); a malformed file
/// is reported with `dir` and ignored.
pub fn read(dir: &[u8]) -> Config {
    let mut config = Config::default();
    let mut buf = [0u8; bounded::SETTING_MAX];
    if let Some(numbers) = numbers(dir, BACKOFF, &mut buf) {
        match numbers.as_slice() {
            [first, max] | [first, max, _] if *first > 0 && max >= first => {
                config.backoff_first = Duration::from_millis(*first);
                config.backoff_max = Duration::from_millis(*max);
                if let [_, _, quick] = numbers.as_slice() {
                    config.quick = Duration::from_millis(*quick);
                }
                settled(BACKOFF);
            }
            _ => warn_once(dir, BACKOFF, BAD_FORMAT),
        }
    }
    if let Some(numbers) = numbers(dir, TIMEOUT_KILL, &mut buf) {
        match numbers.as_slice() {
            [0] => config.timeout_kill = None,
            [ms] => config.timeout_kill = Some(Duration::from_millis(*ms)),
            _ => warn_once(dir, TIMEOUT_KILL, BAD_FORMAT),
        }
        if let [_] = numbers.as_slice() {
            settled(TIMEOUT_KILL);
        }
    }
    if let Some(numbers) = numbers(dir, TIMEOUT_FINISH, &mut buf) {
        match numbers.as_slice() {
            [0] => config.timeout_finish = None,
            [ms] => config.timeout_finish = Some(Duration::from_millis(*ms)),
            _ => warn_once(dir, TIMEOUT_FINISH, BAD_FORMAT),
        }
        if let [_] = numbers.as_slice() {
            settled(TIMEOUT_FINISH);
        }
    }
    if let Some(numbers) = numbers(dir, READY_TIMEOUT, &mut buf) {
        match numbers.as_slice() {
            [0] => config.ready_timeout = None,
            [ms] => config.ready_timeout = Some(Duration::from_millis(*ms)),
            _ => warn_once(dir, READY_TIMEOUT, BAD_FORMAT),
        }
        if let [_] = numbers.as_slice() {
            settled(READY_TIMEOUT);
        }
    }
    match bounded::read(Path::new(DOWN_SIGNAL), Links::Refuse, &mut buf) {
        Ok(Some(text)) => match vigil_proto::exit::signal_number(text) {
            Some(signal) => {
                config.down_signal = signal;
                settled(DOWN_SIGNAL);
            }
            // TERM stays: a stop must stop something even with a typo in the file.
            None => warn_once(dir, DOWN_SIGNAL, UNKNOWN_SIGNAL),
        },
        Ok(None) => settled(DOWN_SIGNAL),
        Err(e) => warn_once(dir, DOWN_SIGNAL, reason(&e)),
    }
    config
}

/// The reason given for a `down-signal` that names no signal.
pub const UNKNOWN_SIGNAL: &str = "unknown signal, TERM used";

/// The reason given for a value that does not parse.
pub const BAD_FORMAT: &str = "bad format";

/// The last reason warned about, per file: a bad file is reported once, not at every start of
/// `run` and every control byte, and again once it reads fine or its problem changes.
static WARNED: Mutex<Vec<(&str, &str)>> = Mutex::new(Vec::new());

/// `supervise: warning: unable to read DIR/NAME: REASON`, unless the last warning about `name`
/// gave the same reason.
pub fn warn_once(dir: &[u8], name: &'static str, reason: &'static str) {
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match warned.iter_mut().find(|(file, _)| *file == name) {
        Some((_, last)) if *last == reason => return,
        Some((_, last)) => *last = reason,
        None => warned.push((name, reason)),
    }
    msg::warn(
        "supervise",
        &[
            b"unable to read ",
            dir,
            b"/",
            name.as_bytes(),
            b": ",
            reason.as_bytes(),
        ],
    );
}

/// The reason a read of a setting failed, as [`warn_once`] words it.
pub fn reason(error: &io::Error) -> &'static str {
    // A bare InvalidData is a value that does not parse (vigil_proto's readers of settings).
    if error.kind() == io::ErrorKind::InvalidData && error.get_ref().is_none() {
        BAD_FORMAT
    } else {
        io_errstr(error)
    }
}

/// `name` read fine (or is absent): a later problem with it is worth a warning again.
pub fn settled(name: &'static str) {
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    warned.retain(|(file, _)| *file != name);
}

/// The whitespace-separated decimal numbers of file `name` (at most 3), `None` if it does not
/// exist or cannot be read (warned); an empty list if it is not just numbers.
fn numbers(dir: &[u8], name: &'static str, buf: &mut [u8]) -> Option<Numbers> {
    match bounded::read(Path::new(name), Links::Refuse, buf) {
        Ok(Some(text)) => Some(parse(text)),
        Ok(None) => {
            settled(name);
            None
        }
        Err(e) => {
            warn_once(dir, name, reason(&e));
            None
        }
    }
}

/// Up to three numbers; more, or anything else, is an empty (malformed) list.
#[derive(Debug, Default, PartialEq, Eq)]
struct Numbers {
    values: [u64; 3],
    len: usize,
}

impl Numbers {
    fn as_slice(&self) -> &[u64] {
        &self.values[..self.len]
    }
}

fn parse(text: &[u8]) -> Numbers {
    let mut out = Numbers::default();
    for word in text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        let value = std::str::from_utf8(word)
            .ok()
            .and_then(|w| w.parse::<u64>().ok());
        match value {
            Some(v) if out.len < 3 => {
                out.values[out.len] = v;
                out.len += 1;
            }
            Some(_) | None => return Numbers::default(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_rejects_garbage() {
        assert_eq!(parse(b"100 400\n").as_slice(), &[100, 400]);
        assert_eq!(parse(b" 1\t2 3 ").as_slice(), &[1, 2, 3]);
        assert_eq!(parse(b"1 2 3 4").as_slice(), &[] as &[u64]);
        assert_eq!(parse(b"12ms").as_slice(), &[] as &[u64]);
        assert_eq!(parse(b"-5").as_slice(), &[] as &[u64]);
        assert_eq!(parse(b"").as_slice(), &[] as &[u64]);
    }
}
