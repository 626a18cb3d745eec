//! envdir beside daemontools' envdir: values, removals and errors (issue 5).

use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::{Command, Output};

use super::{ours, same};
use crate::util::{self, text, Sandbox};

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

/// Runs `envdir ARGS env` (ours, then daemontools') as `nobody`, from `cwd`.
fn as_nobody(sb: &Sandbox, cwd: &str, args: &[&str]) -> Vec<Output> {
    let mut sides = vec![util::bin("envdir")];
    sides.extend(util::peer("/usr/bin/envdir"));
    sides
        .iter()
        .map(|envdir| {
            let mut cmd = util::cmd("setuidgid");
            cmd.arg("nobody")
                .arg(envdir)
                .args(args)
                .arg("/usr/bin/env")
                .current_dir(sb.join(cwd));
            util::run(&mut cmd, super::LIMIT)
        })
        .collect()
}

fn chmod(path: impl AsRef<std::path::Path>, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn permission_errors_match_daemontools() {
    if !super::is_root() {
        eprintln!("skipped: needs root to run envdir as nobody");
        return;
    }
    let sb = Sandbox::new();
    chmod(sb.path(), 0o755);
    chmod(sb.write("secret/SECRET", "x"), 0o000);
    chmod(sb.write("unlistable/A", "a").parent().expect("dir"), 0o300);
    chmod(
        sb.write("unsearchable/A", "a").parent().expect("dir"),
        0o600,
    );
    for dir in ["secret", "unlistable", "unsearchable"] {
        let outs = as_nobody(&sb, ".", &[dir]);
        let ours = &outs[0];
        assert_eq!(
            ours.status.code(),
            Some(111),
            "{dir}: {}",
            text(&ours.stderr)
        );
        if let Some(theirs) = outs.get(1) {
            assert_eq!(
                (text(&ours.stderr), ours.status.code()),
                (text(&theirs.stderr), theirs.status.code()),
                "{dir}"
            );
        }
    }
}

#[test]
fn works_from_a_directory_it_cannot_read() {
    // vigil: daemontools needs to open the current directory for reading to come back to it.
    if !super::is_root() {
        eprintln!("skipped: needs root to run envdir as nobody");
        return;
    }
    let sb = Sandbox::new();
    chmod(sb.path(), 0o755);
    sb.write("e/VALUE", "from the dir");
    std::fs::create_dir(sb.join("cwd")).expect("mkdir");
    chmod(sb.join("cwd"), 0o311);
    let e = sb.join("e");
    let outs = as_nobody(&sb, "cwd", &[e.to_str().expect("utf-8 path")]);
    assert!(outs[0].status.success(), "{}", text(&outs[0].stderr));
    assert!(text(&outs[0].stdout).contains("VALUE=from the dir\n"));
    if let Some(theirs) = outs.get(1) {
        assert_eq!(
            text(&theirs.stderr),
            "envdir: fatal: unable to switch to current directory: access denied\n"
        );
    }
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

/// Issue 12, item 2: an entry that is not a regular file (a link to `/dev/zero`, a FIFO) or
/// whose first line passes 128 KiB is a fatal error naming it, at once: envdir neither reads
/// without end nor blocks. (Run under `softlimit -a` so the old endless read fails fast.)
#[test]
fn entries_that_are_not_regular_files_fail_at_once_issue_12() {
    let cases: [(&str, &str); 3] = [
        ("ZERO", "not a regular file"),
        ("FIFO", "not a regular file"),
        ("BIG", "file too big"),
    ];
    for (name, reason) in cases {
        let sb = Sandbox::new();
        sb.write("e/A", "a\n");
        match name {
            "ZERO" => symlink("/dev/zero", sb.join("e/ZERO")).expect("symlink"),
            "FIFO" => nix::unistd::mkfifo(&sb.join("e/FIFO"), nix::sys::stat::Mode::S_IRWXU)
                .expect("mkfifo"),
            _ => {
                sb.write("e/BIG", "v".repeat(128 * 1024 + 1));
            }
        }
        let start = std::time::Instant::now();
        let out = util::run(
            util::cmd("softlimit")
                .args(["-a", "300000000"])
                .arg(util::bin("envdir"))
                .args(["e", "env"])
                .current_dir(sb.path()),
            std::time::Duration::from_secs(3),
        );
        assert_eq!(
            (out.status.code(), text(&out.stderr)),
            (
                Some(111),
                format!("envdir: fatal: unable to read e/{name}: {reason}\n")
            ),
            "{name}"
        );
        assert!(out.stdout.is_empty());
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{name}"
        );
    }
    // A first line of 128 KiB is still read (exec takes it once `LONG=` fits as well).
    let sb = Sandbox::new();
    sb.write("e/LONG", format!("{}\nrest", "v".repeat(128 * 1024 - 100)));
    let out = util::run(
        util::cmd("envdir")
            .args(["e", "sh", "-c", "echo ${#LONG}"])
            .current_dir(sb.path()),
        std::time::Duration::from_secs(3),
    );
    assert_eq!(text(&out.stdout), "130972\n", "{}", text(&out.stderr));
    sb.write("e/LONG", "v".repeat(128 * 1024));
    let out = util::run(
        util::cmd("envdir")
            .args(["e", "true"])
            .current_dir(sb.path()),
        std::time::Duration::from_secs(3),
    );
    // Read whole, refused by exec: the limit is the kernel's, not a cut value.
    assert_eq!(out.status.code(), Some(111), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("unable to read"),
        "{}",
        text(&out.stderr)
    );
}
