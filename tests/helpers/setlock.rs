//! setlock beside daemontools' setlock: contention with -n/-N/-x/-X, and the file it opens
//! (issue 5).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::same;
use crate::util::{self, text, Sandbox, Spawned};

/// Holds `file`'s lock with this build's setlock until dropped.
fn hold(sb: &Sandbox, file: &str) -> Spawned {
    let mut holder = Spawned::start(
        util::cmd("setlock")
            .args([file, "sleep", "30"])
            .current_dir(sb.path())
            .stdin(Stdio::null()),
    );
    let path = sb.join(file);
    let locked = util::eventually(Duration::from_secs(5), || {
        let Ok(meta) = std::fs::metadata(&path) else {
            return false;
        };
        let needle = format!(":{} ", meta.ino());
        std::fs::read_to_string("/proc/locks")
            .is_ok_and(|locks| locks.lines().any(|l| l.contains(&needle)))
    });
    assert!(locked, "the holder never took the lock");
    assert!(holder.child.try_wait().expect("try_wait").is_none());
    holder
}

#[test]
fn contention_matches_daemontools() {
    let sb = Sandbox::new();
    let _holder = hold(&sb, "lock");
    for flags in [&["-n"][..], &["-nx"], &["-nxX"], &["-x", "-n"], &["-Nn"]] {
        let out = same("setlock", |c| {
            c.args(flags)
                .args(["lock", "echo", "ran"])
                .current_dir(sb.path());
        });
        if let Some(out) = out {
            assert!(out.stdout.is_empty(), "{flags:?}");
        }
    }
}

#[test]
fn daemontools_setlock_sees_our_lock_and_we_see_its() {
    let Some(theirs) = util::peer("/usr/bin/setlock") else {
        return;
    };
    let sb = Sandbox::new();
    let _ours = hold(&sb, "a");
    let out = util::run(
        Command::new(&theirs)
            .args(["-n", "a", "true"])
            .current_dir(sb.path()),
        super::LIMIT,
    );
    assert_eq!(out.status.code(), Some(111), "{}", text(&out.stderr));
    let _theirs = Spawned::start(
        Command::new(&theirs)
            .args(["b", "sleep", "30"])
            .current_dir(sb.path())
            .stdin(Stdio::null()),
    );
    let blocked = util::eventually(Duration::from_secs(5), || {
        let out = util::run(
            util::cmd("setlock")
                .args(["-n", "b", "true"])
                .current_dir(sb.path()),
            super::LIMIT,
        );
        out.status.code() == Some(111)
    });
    assert!(blocked, "our setlock -n never saw daemontools' lock");
}

#[test]
fn without_n_waits_for_the_lock() {
    let sb = Sandbox::new();
    let holder = hold(&sb, "lock");
    let mut waiter = Spawned::start(
        util::cmd("setlock")
            .args(["-nN", "lock", "sh", "-c", "echo got > got"])
            .current_dir(sb.path())
            .stdin(Stdio::null()),
    );
    // Loose bound: it must still be waiting while the holder runs.
    std::thread::sleep(Duration::from_millis(200));
    assert!(waiter.child.try_wait().expect("try_wait").is_none());
    assert!(!sb.join("got").exists());
    drop(holder);
    let status = waiter
        .wait_timeout(Duration::from_secs(10))
        .expect("waiter finished");
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(sb.join("got")).expect("got"),
        "got\n"
    );
}

#[test]
fn lock_file_is_created_0600_and_never_truncated() {
    let sb = Sandbox::new();
    sb.write("kept", "contents");
    let out = util::run(
        util::cmd("setlock")
            .args(["kept", "true"])
            .current_dir(sb.path()),
        super::LIMIT,
    );
    assert!(out.status.success());
    assert_eq!(std::fs::read(sb.join("kept")).expect("read"), b"contents");
    let out = util::run(
        util::cmd("setlock")
            .args(["new", "sh", "-c", "cat /proc/$$/fdinfo/3"])
            .current_dir(sb.path()),
        super::LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mode = std::fs::metadata(sb.join("new"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The child holds the locked descriptor: write-only, append, non-blocking (0106001 minus
    // O_LARGEFILE), as daemontools' open_append leaves it.
    let info = text(&out.stdout);
    let flags = info
        .lines()
        .find(|l| l.starts_with("flags:"))
        .expect("flags");
    let flags = u32::from_str_radix(flags["flags:".len()..].trim(), 8).expect("octal");
    assert_eq!(flags & 0o7777, 0o6001, "{info}");
    assert!(info.contains("FLOCK"), "{info}");
}

#[test]
fn open_failure_matches_daemontools() {
    let sb = Sandbox::new();
    for flags in [&[][..], &["-x"]] {
        same("setlock", |c| {
            c.args(flags)
                .args(["no/dir/lock", "true"])
                .current_dir(sb.path());
        });
    }
}
