//! Option parsing as daemontools' sgetopt: clustered flags (`-ud`), option arguments attached or
//! separate (`-m5` / `-m 5`), `--` and a lone `-` end the options, and the same complaint lines
//! (`svc: illegal option -- z`, `prog: option requires an argument -- m`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// One parsed option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opt<'a> {
    /// A flag that takes no argument.
    Flag(u8),
    /// An option and its argument.
    Arg(u8, &'a OsStr),
}

/// What sgetopt complains about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The byte is not an option of this program.
    Illegal(u8),
    /// The option takes an argument and none followed.
    MissingArgument(u8),
}

impl Problem {
    /// The line daemontools' sgetopt prints on stderr, without the newline.
    pub fn line(&self, prog: &str) -> Vec<u8> {
        let (what, byte) = match *self {
            Problem::Illegal(b) => (&b": illegal option -- "[..], b),
            Problem::MissingArgument(b) => (&b": option requires an argument -- "[..], b),
        };
        crate::msg::cat(&[prog.as_bytes(), what, &[byte]])
    }
}

/// An sgetopt parser over the arguments after the program name.
///
/// `spec` is getopt's string: each option byte, followed by `:` when it takes an argument.
pub struct Getopt<'a> {
    args: &'a [OsString],
    spec: &'static [u8],
    index: usize,
    pos: usize,
    done: bool,
}

impl<'a> Getopt<'a> {
    /// Starts parsing `args` (without the program name) against `spec`.
    pub fn new(args: &'a [OsString], spec: &'static str) -> Self {
        Getopt {
            args,
            spec: spec.as_bytes(),
            index: 0,
            pos: 0,
            done: false,
        }
    }

    /// The arguments left once options are done (valid after `next` returned `None`).
    pub fn rest(&self) -> &'a [OsString] {
        &self.args[self.index.min(self.args.len())..]
    }

    fn takes_argument(&self, byte: u8) -> Option<bool> {
        let at = self.spec.iter().position(|&b| b == byte && b != b':')?;
        Some(self.spec.get(at + 1) == Some(&b':'))
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Result<Opt<'a>, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut word = self.args.get(self.index)?.as_bytes();
        if self.pos > 0 && self.pos >= word.len() {
            self.index += 1;
            self.pos = 0;
            word = self.args.get(self.index)?.as_bytes();
        }
        if self.pos == 0 {
            // compat: sgetopt stops at the first non-option, at "-" (kept) and at "--" (dropped).
            if word.first() != Some(&b'-') || word.len() == 1 {
                self.done = true;
                return None;
            }
            if word[1] == b'-' {
                self.index += 1;
                self.done = true;
                return None;
            }
            self.pos = 1;
        }
        let byte = word[self.pos];
        self.pos += 1;
        match self.takes_argument(byte) {
            None => Some(Err(Problem::Illegal(byte))),
            Some(false) => Some(Ok(Opt::Flag(byte))),
            Some(true) => {
                let attached = &word[self.pos..];
                self.index += 1;
                self.pos = 0;
                if !attached.is_empty() {
                    return Some(Ok(Opt::Arg(byte, OsStr::from_bytes(attached))));
                }
                match self.args.get(self.index) {
                    Some(next) => {
                        self.index += 1;
                        Some(Ok(Opt::Arg(byte, next.as_os_str())))
                    }
                    None => Some(Err(Problem::MissingArgument(byte))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn clustered_flags_then_operands() {
        let a = args(&["-ud", "-x", "svc1", "-k"]);
        let mut g = Getopt::new(&a, "udx");
        let got: Vec<_> = g.by_ref().collect();
        assert_eq!(
            got,
            vec![
                Ok(Opt::Flag(b'u')),
                Ok(Opt::Flag(b'd')),
                Ok(Opt::Flag(b'x'))
            ]
        );
        assert_eq!(g.rest(), &a[2..]);
    }

    #[test]
    fn arguments_attached_or_separate() {
        let a = args(&["-m5", "-t", "7", "prog"]);
        let mut g = Getopt::new(&a, "m:t:");
        assert_eq!(g.next(), Some(Ok(Opt::Arg(b'm', OsStr::new("5")))));
        assert_eq!(g.next(), Some(Ok(Opt::Arg(b't', OsStr::new("7")))));
        assert_eq!(g.next(), None);
        assert_eq!(g.rest(), &a[3..]);
    }

    #[test]
    fn double_dash_ends_and_is_dropped_single_dash_is_kept() {
        let a = args(&["-u", "--", "-d"]);
        let mut g = Getopt::new(&a, "ud");
        assert_eq!(g.by_ref().count(), 1);
        assert_eq!(g.rest(), &a[2..]);
        let a = args(&["-", "x"]);
        let mut g = Getopt::new(&a, "ud");
        assert_eq!(g.next(), None);
        assert_eq!(g.rest(), &a[..]);
    }

    #[test]
    fn problems_read_as_sgetopt() {
        let a = args(&["-z"]);
        let mut g = Getopt::new(&a, "ud");
        let p = g.next().unwrap().unwrap_err();
        assert_eq!(p.line("svc"), b"svc: illegal option -- z".to_vec());
        let a = args(&["-m"]);
        let mut g = Getopt::new(&a, "m:");
        let p = g.next().unwrap().unwrap_err();
        assert_eq!(
            p.line("softlimit"),
            b"softlimit: option requires an argument -- m".to_vec()
        );
    }

    #[test]
    fn colon_is_never_an_option() {
        let a = args(&["-:"]);
        let mut g = Getopt::new(&a, "m:");
        assert_eq!(g.next(), Some(Err(Problem::Illegal(b':'))));
    }
}
