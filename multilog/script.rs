//! Parsing a multilog script: each argument is one action, told by its first byte.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use vigil_proto::msg::Fail;

/// daemontools' default size cap (`s`) for `dir` actions.
pub const DEFAULT_SIZE_BYTES: u64 = 99_999;
/// daemontools' default number of log files (`n`).
pub const DEFAULT_NUM: u64 = 10;

/// One per-line action, in script order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+pattern`: select the line if the pattern matches.
    Select(Vec<u8>),
    /// `-pattern`: deselect the line if the pattern matches.
    Deselect(Vec<u8>),
    /// `e`: the line's first 200 bytes to stderr.
    Alert,
    /// `=file`: the line's first 1000 bytes, padded with newlines, replace the status file
    /// (index into `Script::status_files`).
    Status(usize),
    /// `dir`: the line goes to this log directory (index into `Script::dirs`).
    Dir(usize),
}

/// A `dir` action with the `s`, `n` and `!` settings in force where it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSpec {
    /// The directory as typed.
    pub path: Vec<u8>,
    /// Size cap, 4096..=16777215.
    pub size_bytes: u64,
    /// Number of log files kept (old ones and `current`), at least 2.
    pub num: u64,
    /// The processor command, if any.
    pub processor: Option<Vec<u8>>,
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// `t` came first: each line gets a TAI64N label.
    pub timestamp: bool,
    /// The per-line actions in order.
    pub actions: Vec<Action>,
    /// The log directories, in script order.
    pub dirs: Vec<DirSpec>,
    /// The status files, as typed.
    pub status_files: Vec<Vec<u8>>,
}

impl Script {
    /// True if no action can deselect a line or needs its first 1000 bytes: every line goes
    /// to every directory, untouched (the usual `t s... n... ./main`).
    pub fn selects_all(&self) -> bool {
        self.actions.iter().all(|a| matches!(a, Action::Dir(_)))
    }
}

/// The usage line: daemontools' multilog has none of its own (it ignores what it does not
/// know), so this is the man page's synopsis.
pub const USAGE: &str = "multilog script";

/// Parses the arguments.
pub fn parse(args: &[OsString]) -> Result<Script, Fail> {
    let mut script = Script::default();
    let mut size_bytes = DEFAULT_SIZE_BYTES;
    let mut num = DEFAULT_NUM;
    let mut processor = None;
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.as_bytes();
        let Some((&first, rest)) = arg.split_first() else {
            return Err(Fail::usage(USAGE));
        };
        match first {
            b't' if i == 0 => script.timestamp = true,
            b'+' => script.actions.push(Action::Select(rest.to_vec())),
            b'-' => script.actions.push(Action::Deselect(rest.to_vec())),
            b'e' => script.actions.push(Action::Alert),
            b'=' => {
                script
                    .actions
                    .push(Action::Status(script.status_files.len()));
                script.status_files.push(rest.to_vec());
            }
            b's' => size_bytes = scan_ulong(rest).clamp(4096, 16_777_215),
            b'n' => num = scan_ulong(rest).max(2),
            b'!' => processor = Some(rest.to_vec()),
            b'.' | b'/' => {
                script.actions.push(Action::Dir(script.dirs.len()));
                script.dirs.push(DirSpec {
                    path: arg.to_vec(),
                    size_bytes,
                    num,
                    processor: processor.clone(),
                });
            }
            // NEW: daemontools silently ignores an action it does not know (a typo such as
            // `S1000000` or a `t` that is not first); vigil refuses it before reading input.
            _ => return Err(Fail::usage(USAGE)),
        }
    }
    Ok(script)
}

/// daemontools' scan_ulong: the leading decimal digits (none is 0), wrapping like C.
fn scan_ulong(digits: &[u8]) -> u64 {
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, d| {
            n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Script, Fail> {
        parse(&words.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn settings_apply_to_the_dirs_after_them() {
        let s = parse_words(&["t", "s5000", "./a", "n3", "!gzip", "/b", "s1x", "./c"]).unwrap();
        assert!(s.timestamp);
        assert_eq!(s.dirs[0].size_bytes, 5000);
        assert_eq!(s.dirs[0].num, 10);
        assert_eq!(s.dirs[0].processor, None);
        assert_eq!(s.dirs[1].num, 3);
        assert_eq!(s.dirs[1].processor, Some(b"gzip".to_vec()));
        assert_eq!(s.dirs[2].size_bytes, 4096);
    }

    #[test]
    fn caps_are_clamped_as_daemontools() {
        let s = parse_words(&["s99999999", "n0", "./a"]).unwrap();
        assert_eq!(s.dirs[0].size_bytes, 16_777_215);
        assert_eq!(s.dirs[0].num, 2);
        let s = parse_words(&["s", "n", "./a"]).unwrap();
        assert_eq!((s.dirs[0].size_bytes, s.dirs[0].num), (4096, 2));
    }

    #[test]
    fn unknown_actions_are_usage_errors() {
        for bad in [&["x"][..], &["./a", "t"], &[""], &["S100"]] {
            let f = parse_words(bad).unwrap_err();
            assert_eq!(f.code, 100);
            assert_eq!(f.text, b"usage: multilog script".to_vec());
        }
    }

    #[test]
    fn only_dir_actions_select_all() {
        assert!(parse_words(&["t", "./a"]).unwrap().selects_all());
        assert!(!parse_words(&["-x*", "./a"]).unwrap().selects_all());
        assert!(!parse_words(&["e", "./a"]).unwrap().selects_all());
    }
}
