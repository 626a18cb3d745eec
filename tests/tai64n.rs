//! tai64n and tai64nlocal: labels on every line, conversion compared with daemontools', and
//! vigil's `tai64nlocal -u`.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::util::{bin, peer, text, Sandbox, Spawned};

/// Runs `program` with stdin from `input` and the environment's TZ set; returns stdout.
fn filter(program: &Path, args: &[&str], tz: &str, input: &[u8]) -> (i32, Vec<u8>) {
    let sb = Sandbox::new();
    let input = sb.write("input", input);
    let output = sb.join("output");
    let mut spawned = Spawned::start(
        Command::new(program)
            .args(args)
            .env("TZ", tz)
            .stdin(File::open(&input).expect("input"))
            .stdout(File::create(&output).expect("output"))
            .stderr(Stdio::null()),
    );
    let status = spawned
        .wait_timeout(Duration::from_secs(20))
        .expect("filter finished");
    (
        status.code().unwrap_or(-1),
        std::fs::read(output).expect("output"),
    )
}

fn is_label(word: &str) -> bool {
    word.len() == 25
        && word.starts_with("@4000")
        && word[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn tai64n_labels_every_line_and_keeps_bytes() {
    let input = b"first\n\n\0binary \xff\nno newline";
    let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    let (code, out) = filter(&bin("tai64n"), &[], "UTC", input);
    assert_eq!(code, 0);
    let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    let bodies: Vec<&[u8]> = lines.iter().map(|l| &l[26..]).collect();
    assert_eq!(
        bodies,
        vec![&b"first"[..], b"", b"\0binary \xff", b"no newline"]
    );
    for line in &lines {
        let label = text(&line[..25]);
        assert!(is_label(&label), "{label:?}");
        assert_eq!(line[25], b' ');
        let secs = u64::from_str_radix(&label[1..17], 16).expect("hex") - (1 << 62) - 10;
        assert!(secs + 5 >= before.as_secs() && secs <= before.as_secs() + 60);
    }
}

#[test]
fn tai64nlocal_matches_daemontools_in_several_zones() {
    let Some(theirs) = peer("/usr/bin/tai64nlocal") else {
        return;
    };
    let input = b"@400000005f5e1000075bcd15 hello\n\
@400000006b06d8b414c530d0 summer? winter?\n\
@400000004b9d0b1e00000000\tDST edge in New York\n\
not a label @400000005f5e1000075bcd15\n\
\n\
@400000005f5e1000075bcd15\n\
@400000005f5e1000075bcd15z\n\
@40000000386d4380ffffffff big nanos\n\
@40000000386d43800000000a\n\
binary \0\xff\n\
@400000005f5e1000075bcd15 no newline";
    for tz in ["UTC", "America/New_York", "Asia/Kolkata", "EST5EDT"] {
        let ours = filter(&bin("tai64nlocal"), &[], tz, input);
        let theirs = filter(&theirs, &[], tz, input);
        assert_eq!(text(&ours.1), text(&theirs.1), "TZ={tz}");
        assert_eq!(ours.0, theirs.0);
    }
}

#[test]
fn tai64nlocal_u_prints_utc_rfc3339() {
    let input = b"@400000005f5e1000075bcd15 hello\nplain\n@4000000000000000000000000 epoch-\n";
    let (code, out) = filter(&bin("tai64nlocal"), &["-u"], "Asia/Kolkata", input);
    assert_eq!(code, 0);
    assert_eq!(
        text(&out),
        "2020-09-13T12:26:30.123456789Z hello\nplain\n@4000000000000000000000000 epoch-\n"
    );
}

#[test]
fn tai64nlocal_refuses_unknown_options() {
    let (code, _) = filter(&bin("tai64nlocal"), &["-x"], "UTC", b"");
    assert_eq!(code, 100);
}

#[test]
fn tai64n_then_tai64nlocal_gives_the_time_now() {
    let sb = Sandbox::new();
    let script = format!(
        "echo hi | {} | TZ=UTC {}",
        bin("tai64n").display(),
        bin("tai64nlocal").display()
    );
    let out = crate::util::run(
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path()),
        Duration::from_secs(20),
    );
    let line = text(&out.stdout);
    assert!(line.ends_with(" hi\n"), "{line:?}");
    let year: u32 = line[..4].parse().expect("year");
    assert!(year >= 2024, "{line:?}");
    assert_eq!(&line[4..5], "-");
    assert_eq!(line.len(), "2026-01-01 00:00:00.000000000 hi\n".len());
}
