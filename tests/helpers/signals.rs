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
fn child_starts_with_clean_signal_state_whatever_the_parent_left() {
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
        for parent in parents(&chain) {
            let out = util::run(parent_command(&parent).current_dir(sb.path()), super::LIMIT);
            assert!(out.status.success(), "{parent:?}: {}", text(&out.stderr));
            let lines = signal_lines(&text(&out.stdout));
            assert_eq!(lines.len(), 2, "{parent:?}: {}", text(&out.stdout));
            for (name, value) in lines {
                assert_eq!(value, 0, "{parent:?}: {name} is {value:x}");
            }
        }
    }
}

/// Ways to start `chain` (then the child `grep ^Sig /proc/self/status`) with a dirty signal
/// state: a shell that ignores SIGPIPE and SIGHUP (a POSIX shell cannot un-ignore what it
/// inherited ignored; the helper must), and perl, which can also block SIGUSR1.
fn parents(chain: &str) -> Vec<Vec<String>> {
    let child = "grep ^Sig /proc/self/status";
    let mut parents = vec![vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        format!("trap '' PIPE HUP; exec {chain} {child}"),
    ]];
    if std::path::Path::new(PERL).exists() {
        let mut perl = vec![PERL.to_string(), "-e".to_string(), PERL_DIRTY.to_string()];
        perl.extend(chain.split(' ').chain(child.split(' ')).map(String::from));
        parents.push(perl);
    } else {
        eprintln!("{PERL} is missing: the blocked-signal case is not run");
    }
    parents
}

const PERL: &str = "/usr/bin/perl";
/// Blocks SIGUSR1, ignores SIGPIPE and SIGHUP, then execs its arguments.
const PERL_DIRTY: &str = "use POSIX; POSIX::sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGUSR1)) \
    or die; $SIG{PIPE} = 'IGNORE'; $SIG{HUP} = 'IGNORE'; exec @ARGV or die";

fn parent_command(words: &[String]) -> std::process::Command {
    let mut cmd = std::process::Command::new(&words[0]);
    cmd.args(&words[1..]);
    cmd
}

#[test]
fn perl_parent_really_blocks_and_ignores() {
    if !std::path::Path::new(PERL).exists() {
        eprintln!("skipped: {PERL} is missing");
        return;
    }
    // The test above means something only if perl's state reaches an exec'd program.
    let out = util::run(
        &mut parent_command(&[
            PERL.to_string(),
            "-e".to_string(),
            PERL_DIRTY.to_string(),
            "grep".to_string(),
            "^Sig".to_string(),
            "/proc/self/status".to_string(),
        ]),
        super::LIMIT,
    );
    let lines = signal_lines(&text(&out.stdout));
    let blocked = lines.iter().find(|(n, _)| n == "SigBlk").expect("SigBlk").1;
    let ignored = lines.iter().find(|(n, _)| n == "SigIgn").expect("SigIgn").1;
    assert_ne!(blocked & (1 << (libc::SIGUSR1 - 1)), 0);
    assert_ne!(ignored & (1 << (libc::SIGPIPE - 1)), 0);
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
