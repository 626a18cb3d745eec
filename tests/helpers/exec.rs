//! What every chain-loader shares: usage lines, and running the child as pathexec does.

use super::same;
use crate::util::Sandbox;

/// Each chain-loader's arguments up to (not including) the child.
const LOADERS: &[(&str, &[&str])] = &[
    ("envdir", &["env"]),
    ("envuidgid", &["root"]),
    ("setuidgid", &["root"]),
    ("softlimit", &["-o", "="]),
    ("setlock", &["lockfile"]),
    ("fghack", &[]),
    ("pgrphack", &[]),
];

fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("env")).expect("mkdir env");
    sb
}

#[test]
fn usage_lines_and_exit_codes_match_daemontools() {
    let sb = sandbox();
    let progs = LOADERS.iter().map(|(p, _)| *p).chain(["readproctitle"]);
    for prog in progs {
        for args in [&[][..], &["x"][..], &["-z", "x", "y"][..], &["-m"][..]] {
            same(prog, |c| {
                c.args(args).current_dir(sb.path());
            });
        }
    }
}

#[test]
fn missing_child_is_file_does_not_exist() {
    let sb = sandbox();
    for (prog, head) in LOADERS {
        if *prog == "setuidgid" && !super::is_root() {
            continue;
        }
        for child in ["vigil-no-such-program", "./no-such", "/no/such"] {
            let out = same(prog, |c| {
                c.args(*head).arg(child).current_dir(sb.path());
            });
            if let Some(out) = out {
                assert_eq!(out.status.code(), Some(111));
            }
        }
    }
}

#[test]
fn path_search_remembers_access_denied_and_goes_on() {
    let sb = sandbox();
    sb.write("a/prog", "#!/bin/sh\necho a\n"); // not executable: access denied
    sb.script("b/prog", "#!/bin/sh\necho b\n");
    sb.write("file", "");
    for (path, expect) in [
        ("a:b", "b\n"),
        ("a", ""),
        ("a::b", "b\n"),
        ("file:b", ""), // not a directory stops the search
        ("", ""),
    ] {
        let out = same("pgrphack", |c| {
            c.arg("prog").env("PATH", path).current_dir(sb.path());
        });
        if let Some(out) = out {
            assert_eq!(crate::util::text(&out.stdout), expect, "PATH={path}");
        }
    }
}

#[test]
fn never_falls_back_to_a_shell() {
    let sb = sandbox();
    sb.script("garbage", "echo ran through a shell\n");
    for (prog, head) in LOADERS {
        if *prog == "setuidgid" && !super::is_root() {
            continue;
        }
        let out = same(prog, |c| {
            c.args(*head).arg("./garbage").current_dir(sb.path());
        });
        if let Some(out) = out {
            assert!(out.stdout.is_empty());
            assert!(crate::util::text(&out.stderr).ends_with("exec format error\n"));
        }
    }
}

#[test]
fn arguments_reach_the_child_unchanged() {
    let sb = sandbox();
    for (prog, head) in LOADERS {
        if *prog == "setuidgid" && !super::is_root() {
            continue;
        }
        let out = same(prog, |c| {
            c.args(*head)
                .args(["printf", "[%s]", "-x", "", "a b", "--"])
                .current_dir(sb.path());
        });
        if let Some(out) = out {
            assert_eq!(crate::util::text(&out.stdout), "[-x][][a b][--]");
        }
    }
}
