//! envdir beside daemontools' envdir: values, removals and errors (issue 5).

use std::os::unix::fs::symlink;
use std::process::Command;

use super::{ours, same};
use crate::util::{text, Sandbox};

/// A clean environment so both runs start from the same variables.
fn env_of(c: &mut Command, sb: &Sandbox) {
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/root")
        .env("KEEP", "1")
        .env("B", "old")
        .env("SPACES", "x")
        .current_dir(sb.path());
}

#[test]
fn values_follow_daemontools_rules() {
    let sb = Sandbox::new();
    sb.write("e/SPACES", "hello  \t \nsecond line\n"); // first line, trailing blanks gone
    sb.write("e/HOME", ""); // empty file: removed
    sb.write("e/NUL", b"x\0y  ".as_slice()); // NUL becomes newline
    sb.write("e/B=C", "v"); // daemontools: replaces B with B=C=v
    sb.write("e/BLANK", "\n"); // set, to the empty string
    sb.write("e/.hidden", "dot files are skipped");
    sb.write("e/NOEOL", "no newline at the end");
    sb.write("e/LONG", format!("{}\nrest", "y".repeat(700))); // longer than one read
    let out = same("envdir", |c| {
        env_of(c, &sb);
        c.args(["e", "env"]);
    });
    if let Some(out) = out {
        let env = text(&out.stdout);
        assert!(env.contains("SPACES=hello\n"), "{env}");
        assert!(env.contains("NUL=x\ny\n"), "{env}");
        assert!(env.contains("BLANK=\n"), "{env}");
        assert!(!env.contains("HOME="), "{env}");
        assert!(!env.contains("hidden"), "{env}");
    }
}

#[test]
fn path_from_the_directory_reaches_the_child_but_not_the_search() {
    let sb = Sandbox::new();
    sb.write("e/PATH", "/nonexistent");
    same("envdir", |c| {
        env_of(c, &sb);
        c.args(["e", "env"]);
    });
}

#[test]
fn errors_match_daemontools() {
    let sb = Sandbox::new();
    sb.write("plainfile", "");
    sb.write("withdir/A", "a");
    std::fs::create_dir(sb.join("withdir/SUB")).expect("mkdir");
    sb.write("loop/A", "a");
    symlink("L2", sb.join("loop/L1")).expect("symlink");
    symlink("L1", sb.join("loop/L2")).expect("symlink");
    for dir in ["missing", "plainfile", "withdir", "loop", "plainfile/"] {
        let out = same("envdir", |c| {
            env_of(c, &sb);
            c.args([dir, "env"]);
        });
        if let Some(out) = out {
            assert_eq!(out.status.code(), Some(111), "{dir}");
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn unreadable_file_is_fatal() {
    if super::is_root() {
        eprintln!("skipped: root reads a file of mode 000");
        return;
    }
    let sb = Sandbox::new();
    let file = sb.write("e/SECRET", "x");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o000))
        .expect("chmod");
    same("envdir", |c| {
        env_of(c, &sb);
        c.args(["e", "env"]);
    });
}

#[test]
fn dangling_symlink_removes_the_variable() {
    // vigil: daemontools hands such a variable the previous file's value (a stale buffer).
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("e")).expect("mkdir");
    symlink("nowhere", sb.join("e/HOME")).expect("symlink");
    let out = ours("envdir", |c| {
        env_of(c, &sb);
        c.args(["e", "env"]);
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("HOME="));
    assert!(text(&out.stdout).contains("KEEP=1"));
}
