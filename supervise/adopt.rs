//! After a SIGKILLed supervise: is the pid in the old status file still this service's run?
//!
//! A status file that records the run's identity (vigil's bytes 84..108,
//! [`RunIdentity`]: the kernel's start time of the process and the boot's id) is believed only
//! if `/proc/PID` shows a live process (not a zombie) with that start time, in this boot. The
//! process cannot change either: a daemon that `chdir`s (redis, postgres: `cd /`) or renames
//! itself is still recognised, and a later process that reused the pid is not (issue 15).
//!
//! A file without the record (daemontools' 18 bytes, or a vigil supervise from before it) gets
//! the old test: the process runs in the service directory and started no later than the
//! status file's time. The record is then written for the run adopted, so the next adoption
//! uses it.
//!
//! Hook for a further check (the service's cgroup, issue 14): [`is_our_run`] is the one place
//! that decides; a test that the pid is in the service's cgroup belongs beside the start time
//! there, for both kinds of file.

use std::fs;
use std::path::Path;

use vigil_proto::bounded;
use vigil_proto::status::{RunIdentity, Status};
use vigil_proto::tai::Tai64n;

/// btime is whole seconds and the status time is taken just after the start: allow this much.
const SLACK_SECS: u64 = 2;

/// This boot's id (`/proc/sys/kernel/random/boot_id`), read through a buffer on the stack;
/// `None` where the kernel does not give one (then no identity is recorded or believed).
pub fn boot_id() -> Option<[u8; 16]> {
    let mut buf = [0u8; 64];
    let path = Path::new("/proc/sys/kernel/random/boot_id");
    let text = bounded::read(path, bounded::Links::Follow, &mut buf).ok()??;
    RunIdentity::parse_boot_id(text)
}

/// The identity of the live process `pid` (its start time in this boot); `None` if it is gone,
/// a zombie, or the boot has no id. No allocation: supervise records it at each start.
pub fn identity(pid: i32, boot_id: Option<[u8; 16]>) -> Option<RunIdentity> {
    let stat = vigil_usage::read_stat(pid)?;
    if matches!(stat.state, b'Z' | b'X') || stat.pid != pid {
        return None;
    }
    Some(RunIdentity {
        start_ticks: stat.start_ticks,
        boot_id: boot_id?,
    })
}

/// True if the old status file's run is alive and is this service's (see the module's doc):
/// `recorded` is the identity the file holds, if any.
pub fn is_our_run(old: &Status, recorded: Option<&RunIdentity>, boot_id: Option<[u8; 16]>) -> bool {
    let Some(pid) = i32::try_from(old.pid).ok().filter(|&pid| pid > 1) else {
        return false;
    };
    match recorded {
        // Equal start time and boot: the very process supervise started.
        Some(recorded) => identity(pid, boot_id).as_ref() == Some(recorded),
        // compat: daemontools' status file names the pid and its time only.
        None => same_dir(pid) && started_by(pid, &old.when),
    }
}

/// True if `pid` runs in the current directory (the service directory).
fn same_dir(pid: i32) -> bool {
    match (
        fs::read_link(format!("/proc/{pid}/cwd")),
        fs::read_link("/proc/self/cwd"),
    ) {
        (Ok(theirs), Ok(ours)) => theirs == ours,
        _ => false,
    }
}

/// True if `pid` is alive and started no later than `when` (with the slack of btime's
/// whole seconds).
fn started_by(pid: i32, when: &Tai64n) -> bool {
    start_secs(pid).is_some_and(|start| start <= when.unix_secs() + SLACK_SECS)
}

/// The process's start time in unix seconds, or `None` if it is gone or a zombie.
fn start_secs(pid: i32) -> Option<u64> {
    let stat = vigil_usage::read_stat(pid)?;
    if matches!(stat.state, b'Z' | b'X') {
        return None;
    }
    let boot = fs::read_to_string("/proc/stat").ok()?;
    let btime: u64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)? as u64;
    Some(btime + stat.start_ticks / ticks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_proto::status::Want;

    fn status(pid: u32, when: Tai64n) -> Status {
        Status {
            when,
            pid,
            paused: false,
            want: Want::Up,
            ext: None,
        }
    }

    #[test]
    fn boot_id_is_read() {
        assert!(boot_id().is_some(), "Linux gives a boot id");
    }

    #[test]
    fn recorded_identity_must_match_start_time_and_boot() {
        let me = std::process::id();
        let boot = boot_id();
        let mine = identity(me as i32, boot).expect("own identity");
        let old = status(me, Tai64n::from_unix(1_000_000, 0));
        // The working directory and the file's time do not matter with a record.
        assert!(is_our_run(&old, Some(&mine), boot));
        let later = RunIdentity {
            start_ticks: mine.start_ticks + 1,
            ..mine
        };
        assert!(!is_our_run(&old, Some(&later), boot), "pid reused");
        let other_boot = RunIdentity {
            boot_id: [9; 16],
            ..mine
        };
        assert!(!is_our_run(&old, Some(&other_boot), boot), "rebooted");
        assert!(!is_our_run(&status(0, Tai64n::now()), Some(&mine), boot));
        assert!(!is_our_run(&status(1, Tai64n::now()), Some(&mine), boot));
    }

    #[test]
    fn without_a_record_this_process_is_recognised_and_a_future_time_is_not() {
        let me = std::process::id();
        let boot = boot_id();
        assert!(is_our_run(&status(me, Tai64n::now()), None, boot));
        let early = status(me, Tai64n::from_unix(1_000_000, 0));
        assert!(!is_our_run(&early, None, boot));
        assert!(!is_our_run(&status(0, Tai64n::now()), None, boot));
    }
}
