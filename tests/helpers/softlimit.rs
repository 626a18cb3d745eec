//! softlimit beside daemontools' softlimit: each flag read back from the child's
//! /proc/self/limits (issue 5).

use super::same;
use crate::util::text;

/// The child: prints the limits it was started with.
const SHOW: [&str; 2] = ["cat", "/proc/self/limits"];

#[test]
fn each_flag_sets_what_daemontools_sets() {
    for flag in [
        "-a", "-c", "-d", "-f", "-l", "-m", "-o", "-p", "-r", "-s", "-t",
    ] {
        for value in ["1000000000", "=", "777"] {
            if value == "777" && matches!(flag, "-a" | "-m" | "-d" | "-s") {
                continue; // too little memory for cat to start
            }
            let out = same("softlimit", |c| {
                c.args([flag, value]).args(SHOW);
            });
            if let Some(out) = out {
                assert!(
                    out.status.success(),
                    "{flag} {value}: {}",
                    text(&out.stderr)
                );
            }
        }
    }
}

#[test]
fn m_sets_data_stack_memlock_and_address_space() {
    let out = super::ours("softlimit", |c| {
        c.args(["-m", "1000000000"]).args(SHOW);
    });
    let limits = text(&out.stdout);
    for name in ["Max data size", "Max stack size", "Max address space"] {
        let line = limits.lines().find(|l| l.starts_with(name)).expect(name);
        assert!(line.contains(" 1000000000 "), "{line}");
    }
}

#[test]
fn above_the_hard_limit_is_lowered_to_it() {
    let out = same("softlimit", |c| {
        c.args(["-o", "18446744073709551615", "-l99999999999"])
            .args(SHOW);
    });
    if let Some(out) = out {
        assert!(out.status.success());
    }
}

#[test]
fn options_cluster_and_bad_numbers_are_usage_errors() {
    for args in [
        &["-o100", "-t", "5", "--"][..],
        &["-o", "12k"],
        &["-o", "-1"],
        &["-o", "+5"],
        &["-o"],
        &["-q", "5"],
        &["-o", "50"],
    ] {
        same("softlimit", |c| {
            c.args(args).args(SHOW);
        });
    }
}
