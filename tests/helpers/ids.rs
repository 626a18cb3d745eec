//! setuidgid and envuidgid beside daemontools': to `nobody` as root (issue 5).

use super::{is_root, same};
use crate::util::{text, Sandbox};

#[test]
fn setuidgid_nobody_drops_uid_gid_and_groups() {
    if !is_root() {
        eprintln!("skipped: setuidgid to nobody needs root");
        return;
    }
    let sb = Sandbox::new();
    let out = same("setuidgid", |c| {
        c.args(["nobody", "sh", "-c", "id -u; id -g; id -G"])
            .current_dir(sb.path());
    });
    if let Some(out) = out {
        let ids: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_ne!(ids[0], "0");
        assert_ne!(ids[1], "0");
        assert_eq!(ids[2], ids[1], "supplementary groups are the gid alone");
    }
}

#[test]
fn envuidgid_sets_uid_and_gid_in_daemontools_order() {
    let sb = Sandbox::new();
    same("envuidgid", |c| {
        c.env_clear()
            .env("UID", "old")
            .env("A", "1")
            .env("GID", "old")
            .args(["nobody", "/usr/bin/env"])
            .current_dir(sb.path());
    });
}

#[test]
fn unknown_account_matches_daemontools() {
    let sb = Sandbox::new();
    for prog in ["setuidgid", "envuidgid"] {
        let out = same(prog, |c| {
            c.args(["vigil-no-such-user", "true"])
                .current_dir(sb.path());
        });
        if let Some(out) = out {
            assert_eq!(out.status.code(), Some(111));
        }
    }
}

#[test]
fn setuidgid_without_privilege_fails_on_setgid() {
    if !is_root() {
        let sb = Sandbox::new();
        same("setuidgid", |c| {
            c.args(["root", "true"]).current_dir(sb.path());
        });
        return;
    }
    // As root: drop to nobody first, then ask for root back.
    let sb = Sandbox::new();
    let again = format!("{} root true", crate::util::bin("setuidgid").display());
    let out = crate::util::run(
        crate::util::cmd("setuidgid")
            .args(["nobody", "sh", "-c", &again])
            .current_dir(sb.path()),
        super::LIMIT,
    );
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        text(&out.stderr),
        "setuidgid: fatal: unable to setgid: permission denied\n"
    );
}
