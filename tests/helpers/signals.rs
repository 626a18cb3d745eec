//! The child of every chain-loader starts with default dispositions and an empty signal mask,
//! even when the helper itself was started with SIGPIPE ignored (issue 5).

use crate::util::{self, text, Sandbox};

/// The SigBlk and SigIgn lines of `/proc/self/status`, as the child saw them (SigCgt shows the
/// reader's own handlers, which exec never passes on: grep catches SIGSEGV).
fn signal_lines(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let value = u64::from_str_radix(value.trim(), 16).ok()?;
            ["SigBlk", "SigIgn"]
                .contains(&name)
                .then(|| (name.to_string(), value))
        })
        .collect()
}

#[test]
fn child_starts_with_clean_signal_state_under_ignored_sigpipe() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("env")).expect("mkdir env");
    let mut chains = vec![
        format!("{} env", util::bin("envdir").display()),
        format!("{} root", util::bin("envuidgid").display()),
        format!("{} -o =", util::bin("softlimit").display()),
        format!("{} lockfile", util::bin("setlock").display()),
        format!("{}", util::bin("fghack").display()),
        format!("{}", util::bin("pgrphack").display()),
    ];
    if super::is_root() {
        chains.push(format!("{} root", util::bin("setuidgid").display()));
    }
    for chain in chains {
        // A POSIX shell cannot un-ignore what it inherited ignored; the helper must.
        let script = format!("trap '' PIPE HUP; exec {chain} grep ^Sig /proc/self/status");
        let out = util::run(
            std::process::Command::new("/bin/sh")
                .args(["-c", &script])
                .current_dir(sb.path()),
            super::LIMIT,
        );
        assert!(out.status.success(), "{chain}: {}", text(&out.stderr));
        let lines = signal_lines(&text(&out.stdout));
        assert_eq!(lines.len(), 2, "{chain}: {}", text(&out.stdout));
        for (name, value) in lines {
            assert_eq!(value, 0, "{chain}: {name} is {value:x}");
        }
    }
}

#[test]
fn the_shell_trap_really_ignores_sigpipe() {
    // The test above means something only if the trap reaches an exec'd program.
    let out = util::run(
        std::process::Command::new("/bin/sh")
            .args(["-c", "trap '' PIPE; exec grep ^SigIgn /proc/self/status"]),
        super::LIMIT,
    );
    let lines = signal_lines(&text(&out.stdout));
    assert_eq!(lines.len(), 1);
    assert_ne!(lines[0].1 & (1 << (libc::SIGPIPE - 1)), 0);
}
