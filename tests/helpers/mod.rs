//! The chain-loading helpers (issue 5), each beside daemontools' own where it is installed.

mod envdir;
mod exec;
mod fghack;
mod ids;
mod pgrphack;
mod readproctitle;
mod setlock;
mod signals;
mod softlimit;

use std::process::{Command, Output};
use std::time::Duration;

use crate::util::{self, text};

/// How long one helper run may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Runs this build's `prog` and daemontools' `/usr/bin/prog`, each set up by `configure`; both
/// outputs (ours first), or `None` when daemontools is not installed.
pub fn both(prog: &str, configure: impl Fn(&mut Command)) -> Option<(Output, Output)> {
    let theirs_path = util::peer(&format!("/usr/bin/{prog}"))?;
    let mut ours = util::cmd(prog);
    configure(&mut ours);
    let mut theirs = Command::new(theirs_path);
    configure(&mut theirs);
    Some((util::run(&mut ours, LIMIT), util::run(&mut theirs, LIMIT)))
}

/// Asserts that ours and daemontools' `prog` give the same stdout, stderr and exit status;
/// returns our output (or `None` when daemontools is not installed).
pub fn same(prog: &str, configure: impl Fn(&mut Command)) -> Option<Output> {
    let (ours, theirs) = both(prog, configure)?;
    assert_eq!(
        (text(&ours.stderr), ours.status.code()),
        (text(&theirs.stderr), theirs.status.code()),
        "{prog}: stderr and exit code differ from daemontools'"
    );
    assert_eq!(
        text(&ours.stdout),
        text(&theirs.stdout),
        "{prog}: stdout differs from daemontools'"
    );
    Some(ours)
}

/// Our `prog` run to completion, set up by `configure`.
pub fn ours(prog: &str, configure: impl Fn(&mut Command)) -> Output {
    let mut cmd = util::cmd(prog);
    configure(&mut cmd);
    util::run(&mut cmd, LIMIT)
}

/// True when the tests run as root (setuidgid needs it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
