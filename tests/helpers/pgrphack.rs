//! pgrphack: the child leads a new session and process group (issue 5).

use super::same;
use crate::util::{text, Sandbox};

#[test]
fn child_leads_its_own_session_and_group() {
    let sb = Sandbox::new();
    // Not a group leader itself (util::run makes its child one, and setsid refuses a leader).
    let script = format!(
        "{} cat /proc/self/stat",
        crate::util::bin("pgrphack").display()
    );
    let out = crate::util::run(
        std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .current_dir(sb.path()),
        super::LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stat = text(&out.stdout);
    let after = &stat[stat.rfind(')').expect("comm") + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let pid = stat.split_whitespace().next().expect("pid");
    // Fields 5 and 6 of proc(5): process group and session.
    assert_eq!(fields[2], pid, "pgrp");
    assert_eq!(fields[3], pid, "session");
}

#[test]
fn exit_code_is_the_childs() {
    let sb = Sandbox::new();
    let out = same("pgrphack", |c| {
        c.args(["sh", "-c", "exit 7"]).current_dir(sb.path());
    });
    if let Some(out) = out {
        assert_eq!(out.status.code(), Some(7));
    }
}
