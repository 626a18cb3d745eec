//! The bodies of the fuzz targets: plain functions of the input bytes that panic when an
//! invariant breaks, and only then.
//!
//! `cargo +nightly fuzz run TARGET` (fuzz/fuzz_targets/TARGET.rs) runs them under libFuzzer;
//! tests/fuzz.rs runs them with every stable `cargo test`, over the seeds in fuzz/seeds/TARGET/
//! and a few thousand generated inputs. The modules they test are the programs' own source
//! files, included by path beside this one (`super::script` is multilog/script.rs, and so on).
//! The control target, which needs supervise's whole module tree, is control.rs.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use vigil_proto::journal::{self, Record};
use vigil_proto::rfc3339;
use vigil_proto::status::{BreachRecord, Status};
use vigil_proto::tai::Tai64n;

use super::envdir_value;
use super::pattern;
use super::script::{self, Action};

/// A target's body.
pub type Body = fn(&[u8]);

/// The names of the targets, as fuzz/fuzz_targets/ and fuzz/seeds/ call them, with their
/// bodies (control's is control.rs).
pub const TARGETS: [(&str, Body); 4] = [
    ("status", status),
    ("journal", journal),
    ("multilog_script", multilog_script),
    ("envdir_entry", envdir_entry),
];

/// A status file as svstat, svwait and supervise (adopting) read it: decoding never panics,
/// what decodes encodes to bytes that decode to the same, its times format.
pub fn status(data: &[u8]) {
    let breaches = BreachRecord::read_from(data);
    let Ok(status) = Status::decode(data) else {
        return;
    };
    let bytes = status.encode();
    let again = Status::decode(&bytes).expect("an encoded status decodes");
    assert_eq!(
        again.encode(),
        bytes,
        "encode(decode(encode(s))) != encode(s)"
    );
    assert_eq!(again.ext, status.ext);
    rfc3339::format(&status.when);
    if let Some(ext) = status.ext {
        for time in [ext.backoff_until, ext.ready_at].into_iter().flatten() {
            rfc3339::format(&time);
        }
    }
    if let (Some(record), true) = (breaches, status.ext.is_some()) {
        let mut with = bytes.clone();
        record.append_to(&mut with);
        assert_eq!(BreachRecord::read_from(&with), Some(record));
        assert_eq!(Status::decode(&with).map(|s| s.ext), Ok(status.ext));
    }
}

/// The events journal: any slot decodes or fails, never panics; a record that decodes
/// survives encoding; a record built from any fields survives the round trip; the
/// selection after a sequence number keeps order and counts the gap.
pub fn journal(data: &[u8]) {
    let mut records = Vec::new();
    for chunk in data.chunks(journal::RECORD_LEN) {
        if let Ok(record) = Record::decode(chunk) {
            assert_eq!(Record::decode(&record.encode()), Ok(record));
            rfc3339::format(&record.time);
            if let Some(until) = record.until {
                rfc3339::format(&until);
            }
            records.push(record);
        }
    }
    // Structure-aware: the bytes as the fields of a record (a checksum a fuzzer cannot guess).
    let mut field = [0u8; 64];
    field[..data.len().min(64)].copy_from_slice(&data[..data.len().min(64)]);
    let word = |at: usize| u64::from_le_bytes(field[at..at + 8].try_into().expect("8 bytes"));
    let nanos = (word(16) % 1_000_000_000) as u32;
    let built = Record {
        seq: word(0),
        letter: field[8],
        time: Tai64n {
            secs: word(24),
            nanos,
        },
        pid: word(32) as u32,
        status: (field[9] & 1 != 0).then_some(word(40) as i32),
        until: (field[9] & 2 != 0).then_some(Tai64n {
            secs: word(48),
            nanos,
        }),
        cause: vigil_proto::journal::Cause::from_code(field[11]),
        limit: vigil_proto::status::BreachKind::from_code(field[10] % 5).map(|kind| {
            vigil_proto::journal::Limit {
                kind,
                value: word(0) ^ word(40),
            }
        }),
    };
    let encoded = built.encode();
    if encoded.iter().any(|&b| b != 0) {
        assert_eq!(Record::decode(&encoded), Ok(built));
    }
    records.push(built);
    records.sort_by_key(|r| r.seq);
    // `after` below u64::MAX: the wrap of the sequence is issue 12 item 7's (journal.rs).
    let after = word(56).min(u64::MAX - 1);
    let since = journal::since(records.clone(), after);
    assert!(since.records.iter().all(|r| r.seq > after));
    assert!(since.records.windows(2).all(|w| w[0].seq <= w[1].seq));
    if let Some((first, last)) = since.lost {
        assert!(first <= last && first == after + 1);
    }
}

/// multilog's script parser and line patterns: `data` up to the first newline is the script
/// (arguments separated by NUL), the rest the lines. Parsing gives a script or a usage error;
/// a script's indices, sizes and counts hold; patterns match as daemontools' match.c does.
pub fn multilog_script(data: &[u8]) {
    let (head, tail) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let args: Vec<OsString> = head
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let Ok(parsed) = script::parse(&args) else {
        return;
    };
    for action in &parsed.actions {
        match action {
            Action::Dir(i) => assert!(*i < parsed.dirs.len()),
            Action::Status(i) => assert!(*i < parsed.status_files.len()),
            Action::Select(_) | Action::Deselect(_) | Action::Alert => {}
        }
    }
    for dir in &parsed.dirs {
        assert!((4096..=16_777_215).contains(&dir.size_bytes), "{dir:?}");
        assert!(dir.num >= 2, "{dir:?}");
    }
    for line in tail.split(|&b| b == b'\n').take(64) {
        for action in &parsed.actions {
            if let Action::Select(p) | Action::Deselect(p) = action {
                let hit = pattern::matches(p, line);
                if !p.contains(&b'*') {
                    assert_eq!(hit, p == line, "{p:?} against {line:?}");
                }
                // A literal prefix then a final star matches every line it begins.
                if let Some(prefix) = p.strip_suffix(b"*") {
                    if !prefix.contains(&b'*') && line.starts_with(prefix) {
                        assert!(hit, "{p:?} against {line:?}");
                    }
                }
            }
        }
    }
}

/// envdir's entries: `data` cut at each 0xff byte into entries, each a name length byte, the
/// name, then the file's bytes. A value never holds a NUL or ends in a blank, is at most
/// [`envdir_value::VALUE_MAX`] bytes, and setting it in a program's environment never panics.
pub fn envdir_entry(data: &[u8]) {
    let mut program = vigil_proc::exec::Program::new(&[OsString::from("true")])
        .expect("a program from one argument");
    for entry in data.split(|&b| b == 0xff).take(64) {
        let Some((&len, rest)) = entry.split_first() else {
            continue;
        };
        let (name, file) = rest.split_at(usize::from(len % 16).min(rest.len()));
        // What a directory can list: no NUL, no slash, not empty; envdir skips dot files.
        if name.is_empty() || name[0] == b'.' || name.contains(&0) || name.contains(&b'/') {
            continue;
        }
        // As envdir reads it: at most VALUE_MAX + 1 bytes, and whether that is the whole file.
        let cap = envdir_value::VALUE_MAX + 1;
        let head = &file[..file.len().min(cap)];
        let Ok(value) = envdir_value::value(head, file.len() <= cap) else {
            continue;
        };
        if let Some(v) = &value {
            assert!(!v.contains(&0), "{v:?}");
            assert!(!matches!(v.last(), Some(b' ' | b'\t')), "{v:?}");
            assert!(v.len() <= envdir_value::VALUE_MAX);
        }
        program.set_env(name, value.as_deref());
    }
}
