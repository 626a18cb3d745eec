//! svwatch: a live stream of the events of many services, one JSON object per line (NEW).
//!
//! It sleeps on its own FIFO in each `DIR/event/` and prints what the journal recorded since the
//! last line: nothing is lost to a slow consumer (up to the journal's bound, and then a `lost`
//! line says what), `--since` or a cursor file replays what a consumer missed, and it goes on
//! across supervise restarts (same FIFO directory, journal numbering continued).
#![forbid(unsafe_code)]
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use nix::sys::signal::Signal;
use vigil_client::follow::{self, Follower, Item};
use vigil_client::scandir::{self, ScanDir};
use vigil_proc::signals::Signals;
use vigil_proto::journal;
use vigil_proto::msg::{self, Fail};
use vigil_proto::{fifodir, paths};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    msg::finish("svwatch", run(&args))
}

fn command() -> Command {
    Command::new("svwatch")
        .about("Prints the events of services as JSON lines, live, replaying what was missed")
        .arg(
            Arg::new("since")
                .long("since")
                .value_name("SEQ")
                .value_parser(clap::value_parser!(u64))
                .conflicts_with("cursor")
                .help("First print the kept events after sequence number SEQ (0: all kept)"),
        )
        .arg(
            Arg::new("cursor")
                .long("cursor")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Resume after the sequence numbers in FILE, and keep FILE up to date"),
        )
        .arg(
            Arg::new("no-follow")
                .long("no-follow")
                .action(ArgAction::SetTrue)
                .help("Print the events the journals keep (after --since/--cursor) and exit"),
        )
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .help("Service directories; a scan directory stands for every service in it, followed as they come and go")
                .required(true)
                .num_args(1..)
                .value_parser(clap::value_parser!(OsString)),
        )
}

/// One line for one item: its JSON object (`vigil_client::follow::Item::json`) and a newline.
fn line(service: &OsStr, item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    item.json(service).write(&mut out);
    out.push(b'\n');
    out
}

/// The cursor file: a line `SEQ DIR` per service, the last sequence number printed. DIR is
/// written with `%`, newline and carriage return as `%25`, `%0A`, `%0D`, so any name survives
/// (issue #12); other bytes are written as they are.
struct Cursor {
    path: PathBuf,
    seqs: Vec<(OsString, u64)>,
}

impl Cursor {
    fn load(path: PathBuf) -> Result<Cursor, Fail> {
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Fail::unable(&e, &[b"read ", path.as_os_str().as_bytes()])),
        };
        let mut seqs = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let parsed = line.iter().position(|&b| b == b' ').and_then(|sp| {
                let seq = std::str::from_utf8(&line[..sp]).ok()?.parse().ok()?;
                Some((
                    OsString::from_vec(paths::unescape_line(&line[sp + 1..])?),
                    seq,
                ))
            });
            match parsed {
                Some(entry) => seqs.push(entry),
                None => {
                    return Err(Fail::fatal(&[
                        b"unable to read ",
                        path.as_os_str().as_bytes(),
                        b": bad format",
                    ]))
                }
            }
        }
        Ok(Cursor { path, seqs })
    }

    fn get(&self, dir: &OsStr) -> Option<u64> {
        self.seqs.iter().find(|(d, _)| d == dir).map(|&(_, s)| s)
    }

    fn set(&mut self, dir: &OsStr, seq: u64) {
        match self.seqs.iter_mut().find(|(d, _)| d == dir) {
            Some(entry) => entry.1 = seq,
            None => self.seqs.push((dir.to_os_string(), seq)),
        }
    }

    /// Writes the file anew (FILE.new, then rename: a reader sees the old or the new one).
    fn save(&self) -> Result<(), Fail> {
        let mut text = Vec::new();
        for (dir, seq) in &self.seqs {
            text.extend_from_slice(seq.to_string().as_bytes());
            text.push(b' ');
            paths::escape_line(dir.as_bytes(), &mut text);
            text.push(b'\n');
        }
        let mut new = self.path.clone().into_os_string();
        new.push(".new");
        fs::write(&new, &text)
            .and_then(|()| fs::rename(&new, &self.path))
            .map_err(|e| Fail::unable(&e, &[b"write ", self.path.as_os_str().as_bytes()]))
    }
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if e.use_stderr() => {
            let _ = e.print();
            return Err(Fail::silent(msg::EXIT_USAGE));
        }
        Err(e) => {
            let _ = e.print();
            return Ok(ExitCode::SUCCESS);
        }
    };
    let since = matches.get_one::<u64>("since").copied();
    let mut cursor = match matches.get_one::<PathBuf>("cursor") {
        Some(path) => Some(Cursor::load(path.clone())?),
        None => None,
    };
    let follow = !matches.get_flag("no-follow");
    let dirs: Vec<&OsString> = matches
        .get_many::<OsString>("dir")
        .into_iter()
        .flatten()
        .collect();
    // TERM, INT and HUP end the watch through the poll, so the FIFOs are removed on the way out;
    // blocked before the first FIFO exists.
    let mut signals = Signals::block(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
        .map_err(|e| Fail::unable(&e, &[b"block signals"]))?;
    // With a cursor, a service it does not list yet is replayed from the start.
    let start = |cursor: &Option<Cursor>, dir: &OsStr| match cursor {
        Some(c) => Some(c.get(dir).unwrap_or(0)),
        None => since.or(if follow { None } else { Some(0) }),
    };
    let mut trees = Vec::new();
    let mut followers = Vec::with_capacity(dirs.len());
    for dir in &dirs {
        // NEW: a scan directory stands for every service in it (issue 15 item 8); nothing is
        // made in it.
        if is_scan_dir(dir) {
            let tree =
                ScanDir::open(dir).map_err(|e| Fail::unable(&e, &[b"watch ", dir.as_bytes()]))?;
            for service in tree.services() {
                let at = start(&cursor, &service);
                followers.push(subscribe(&service, at)?);
            }
            trees.push(tree);
        } else {
            followers.push(subscribe(dir, start(&cursor, dir))?);
        }
    }
    let mut out = io::stdout().lock();
    for follower in &mut followers {
        print_new(follower, &mut out, &mut cursor)?;
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let fds: Vec<_> = std::iter::once(signals.fd())
            .chain(trees.iter().map(ScanDir::fd))
            .chain(followers.iter().map(|f| f.fd()))
            .collect();
        let ready = follow::wait_readable(&fds, None)
            .map_err(|e| Fail::unable(&e, &[b"wait for events"]))?;
        if ready.first() == Some(&0) {
            let _ = signals.pending();
            return Ok(ExitCode::SUCCESS);
        }
        // The signal descriptor first, then the scan directories, then the followers.
        let first = 1 + trees.len();
        for &i in ready.iter().filter(|&&i| i >= first) {
            print_new(&mut followers[i - first], &mut out, &mut cursor)?;
        }
        for &i in ready.iter().filter(|&&i| i > 0 && i < first) {
            let tree = &mut trees[i - 1];
            let changes = tree
                .update()
                .map_err(|e| Fail::unable(&e, &[b"read directory ", tree.dir().as_bytes()]))?;
            for gone in &changes.removed {
                if let Some(at) = followers.iter().position(|f| f.dir() == gone.as_os_str()) {
                    // Its last events (supervise's exit) if they can still be read.
                    let _ = print_new(&mut followers[at], &mut out, &mut cursor);
                    followers.remove(at);
                }
            }
            for new in &changes.added {
                if followers.iter().any(|f| f.dir() == new.as_os_str()) {
                    continue;
                }
                // A service that appeared: everything its journal keeps is new.
                let at = start(&cursor, new).or(Some(0));
                let mut follower = subscribe(new, at)?;
                print_new(&mut follower, &mut out, &mut cursor)?;
                followers.push(follower);
            }
        }
    }
}

/// Whether `dir` is a scan directory: a directory that is not a service directory.
fn is_scan_dir(dir: &OsStr) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.is_dir()) && !scandir::is_service_dir(dir)
}

fn subscribe(dir: &OsStr, start: Option<u64>) -> Result<Follower, Fail> {
    Follower::new(dir, start).map_err(|e| {
        Fail::unable(
            &e,
            &[
                b"subscribe to ",
                paths::join(dir, fifodir::EVENT).as_bytes(),
            ],
        )
    })
}

/// Prints what happened to `follower`'s service since the last call, keeping the cursor.
fn print_new(
    follower: &mut Follower,
    out: &mut impl Write,
    cursor: &mut Option<Cursor>,
) -> Result<(), Fail> {
    let items = follower.take().map_err(|e| {
        Fail::unable(
            &e,
            &[
                b"read ",
                paths::join(follower.dir(), journal::EVENTS).as_bytes(),
            ],
        )
    })?;
    for item in &items {
        out.write_all(&line(follower.dir(), item))
            .and_then(|()| out.flush())
            .map_err(|e| Fail::unable(&e, &[b"write to stdout"]))?;
        if let (Some(c), Item::Event(r)) = (cursor.as_mut(), item) {
            c.set(follower.dir(), r.seq);
            c.save()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::journal::Record;
    use vigil_proto::tai::Tai64n;

    #[test]
    fn a_down_line_has_every_key() {
        let r = Record {
            seq: 9,
            letter: b'd',
            time: Tai64n::from_unix(1_700_000_000, 0),
            pid: 42,
            status: Some(256),
            until: None,
            cause: vigil_proto::journal::Cause::None,
            limit: None,
        };
        let text = String::from_utf8(line(OsStr::new("svc/a\"b"), &Item::Event(r))).expect("utf8");
        assert_eq!(
            text,
            "{\"service\":\"svc/a\\\"b\",\"event\":\"down\",\"letter\":\"d\",\"seq\":9,\"pid\":42,\
             \"status\":256,\"exitcode\":1,\"time\":\"2023-11-14T22:13:20.000000000Z\"}\n"
        );
    }

    #[test]
    fn lost_and_control_characters() {
        let text = String::from_utf8(line(
            OsStr::new("a\u{1}"),
            &Item::Lost { first: 3, last: 5 },
        ))
        .expect("utf8");
        assert_eq!(
            text,
            "{\"service\":\"a\\u0001\",\"event\":\"lost\",\"first\":3,\"last\":5}\n"
        );
        // Escaped as svstat --json escapes (one escaper for both).
        let text = line(OsStr::new("a\r\u{7f}"), &Item::Lost { first: 1, last: 1 });
        assert!(text.starts_with(b"{\"service\":\"a\\r\x7f\","));
    }
}
