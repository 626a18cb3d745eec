//! The service directory's override files, read when supervise starts, at each start of `run`
//! and at each control command (so an edit takes effect without restarting supervise).
//!
//! | file             | contents                       | default                         |
//! |------------------|--------------------------------|---------------------------------|
//! | `backoff`        | `FIRST MAX [QUICK]`, in ms     | `1000 60000 1000`               |
//! | `timeout-kill`   | ms after `d` before KILL       | none (as daemontools)           |
//! | `timeout-finish` | ms before `finish` is KILLed   | 5000; 0 means no limit (as s6)  |
//! | `keep-strays`    | (exists)                       | leftovers of `run` are stopped   |

use std::fs::File;
use std::io::{self, Read};
use std::time::Duration;

use vigil_proto::msg;

use crate::state::Config;

/// Overrides the backoff: first delay, longest delay and quick-exit threshold, in ms.
pub const BACKOFF: &str = "backoff";
/// After `d`, KILL the service's process group if it has not exited within this many ms.
pub const TIMEOUT_KILL: &str = "timeout-kill";
/// KILL `finish` if it runs longer than this many ms.
pub const TIMEOUT_FINISH: &str = "timeout-finish";
/// If this file exists, processes `run` leaves behind in its process group are not stopped.
pub const KEEP_STRAYS: &str = "keep-strays";

/// Reads the override files of the current directory (the service directory); a malformed file
/// is reported with `dir` and ignored.
pub fn read(dir: &[u8]) -> Config {
    let mut config = Config::default();
    let mut buf = [0u8; 64];
    if let Some(numbers) = numbers(dir, BACKOFF, &mut buf) {
        match numbers.as_slice() {
            [first, max] | [first, max, _] if *first > 0 && max >= first => {
                config.backoff_first = Duration::from_millis(*first);
                config.backoff_max = Duration::from_millis(*max);
                if let [_, _, quick] = numbers.as_slice() {
                    config.quick = Duration::from_millis(*quick);
                }
            }
            _ => bad_format(dir, BACKOFF),
        }
    }
    if let Some(numbers) = numbers(dir, TIMEOUT_KILL, &mut buf) {
        match numbers.as_slice() {
            [0] => config.timeout_kill = None,
            [ms] => config.timeout_kill = Some(Duration::from_millis(*ms)),
            _ => bad_format(dir, TIMEOUT_KILL),
        }
    }
    if let Some(numbers) = numbers(dir, TIMEOUT_FINISH, &mut buf) {
        match numbers.as_slice() {
            [0] => config.timeout_finish = None,
            [ms] => config.timeout_finish = Some(Duration::from_millis(*ms)),
            _ => bad_format(dir, TIMEOUT_FINISH),
        }
    }
    config
}

fn bad_format(dir: &[u8], name: &str) {
    msg::warn(
        "supervise",
        &[
            b"unable to read ",
            dir,
            b"/",
            name.as_bytes(),
            b": bad format",
        ],
    );
}

/// The whitespace-separated decimal numbers of file `name` (at most 3), `None` if it does not
/// exist; an empty list if it is not just numbers.
fn numbers(dir: &[u8], name: &str, buf: &mut [u8; 64]) -> Option<Numbers> {
    let len = match File::open(name).and_then(|mut f| f.read(buf)) {
        Ok(len) => len,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            msg::warn_unable("supervise", &e, &[b"read ", dir, b"/", name.as_bytes()]);
            return None;
        }
    };
    Some(parse(&buf[..len]))
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
