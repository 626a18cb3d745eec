//! svok: 0 when a supervise runs, 100 when not, 111 on errors; against /usr/bin/svok.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::crafted::Crafted;
use crate::util::{bin, peer, run, text, Sandbox};

const LIMIT: Duration = Duration::from_secs(10);

fn svok(program: &Path, cwd: &Path, args: &[&str]) -> Output {
    run(Command::new(program).args(args).current_dir(cwd), LIMIT)
}

/// Every case: (arguments, exit code, stderr).
const CASES: &[(&[&str], i32, &str)] = &[
    (&["running"], 0, ""),
    (&["running/"], 0, ""),
    (&["running", "missing"], 0, ""),
    (&["stopped"], 100, ""),
    (&["no-supervise"], 100, ""),
    (
        &["supervise-is-file"],
        111,
        "svok: fatal: unable to open supervise-is-file/supervise/ok: not a directory\n",
    ),
    (
        &["missing"],
        111,
        "svok: fatal: unable to chdir to missing: file does not exist\n",
    ),
    (
        &["file"],
        111,
        "svok: fatal: unable to chdir to file: not a directory\n",
    ),
    (&[], 100, "svok: usage: svok dir\n"),
];

fn sandbox() -> (Sandbox, Vec<Crafted>) {
    let sb = Sandbox::new();
    let held = vec![
        Crafted::new(&sb, "running", true),
        Crafted::new(&sb, "stopped", false),
    ];
    std::fs::create_dir(sb.join("no-supervise")).expect("mkdir");
    sb.write("supervise-is-file/supervise", b"");
    sb.write("file", b"");
    (sb, held)
}

#[test]
fn exit_codes_and_messages() {
    let (sb, _held) = sandbox();
    for (args, code, stderr) in CASES {
        let out = svok(&bin("svok"), sb.path(), args);
        assert_eq!(out.status.code(), Some(*code), "svok {args:?}");
        assert_eq!(text(&out.stderr), *stderr, "svok {args:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn same_as_daemontools_svok() {
    let Some(peer) = peer("/usr/bin/svok") else {
        return;
    };
    let (sb, _held) = sandbox();
    for (args, _, _) in CASES {
        let ours = svok(&bin("svok"), sb.path(), args);
        let theirs = svok(&peer, sb.path(), args);
        assert_eq!(ours.status.code(), theirs.status.code(), "svok {args:?}");
        assert_eq!(text(&ours.stderr), text(&theirs.stderr), "svok {args:?}");
        assert_eq!(ours.stdout, theirs.stdout);
    }
}

#[test]
fn sees_supervise_go_away() {
    let sb = Sandbox::new();
    let mut c = Crafted::new(&sb, "s", true);
    assert_eq!(svok(&bin("svok"), sb.path(), &["s"]).status.code(), Some(0));
    c.stop();
    assert_eq!(
        svok(&bin("svok"), sb.path(), &["s"]).status.code(),
        Some(100)
    );
}
