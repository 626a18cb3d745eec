//! The lean entry point of the short-lived programs (vigil_proc::entry): without std's runtime
//! they still repair closed standard fds, as a std `main` does.

use std::time::Duration;

use crate::util::{self, text, Sandbox};

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn closed_stdin_and_stderr_are_reopened_on_dev_null() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("env")).expect("mkdir env");
    let chains = [
        format!("{}", util::bin("pgrphack").display()),
        format!("{} env", util::bin("envdir").display()),
        format!("{} -o =", util::bin("softlimit").display()),
        format!("{} lockfile", util::bin("setlock").display()),
    ];
    for chain in chains {
        // The shell closes fd 0 and 2, then becomes the helper; the helper's child reports what
        // it was handed. Left closed, readlink would fail with nothing to say it on.
        let script =
            format!("exec 0<&- 2>&-; exec {chain} readlink /proc/self/fd/0 /proc/self/fd/2");
        let out = util::run(
            std::process::Command::new("/bin/sh")
                .args(["-c", &script])
                .current_dir(sb.path()),
            LIMIT,
        );
        assert!(out.status.success(), "{chain}: {:?}", out.status);
        assert_eq!(text(&out.stdout), "/dev/null\n/dev/null\n", "{chain}");
    }
}
