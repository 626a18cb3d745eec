//! After a SIGKILLed supervise: is the pid in the old status file still this service's run?
//!
//! It is if the process exists and is not a zombie, its working directory is this service
//! directory, and it started no later than the status file's time (a process started after
//! that is some other program that got the pid later).

use std::fs;

use vigil_proto::tai::Tai64n;

/// btime is whole seconds and the status time is taken just after the start: allow this much.
const SLACK_SECS: u64 = 2;

/// True if `pid` is alive, runs in the current directory (the service directory) and started
/// no later than `when`.
pub fn is_our_run(pid: u32, when: &Tai64n) -> bool {
    if pid <= 1 {
        return false;
    }
    let same_dir = match (
        fs::read_link(format!("/proc/{pid}/cwd")),
        fs::read_link("/proc/self/cwd"),
    ) {
        (Ok(theirs), Ok(ours)) => theirs == ours,
        _ => false,
    };
    same_dir && start_secs(pid).is_some_and(|start| start <= when.unix_secs() + SLACK_SECS)
}

/// The process's start time in unix seconds, or `None` if it is gone or a zombie.
fn start_secs(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let start_ticks = parse_stat(&stat)?;
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
    Some(btime + start_ticks / ticks)
}

/// starttime (field 22) of /proc/PID/stat, or `None` for a zombie or a garbled line. The
/// command name (field 2) may hold spaces and parentheses, so fields are counted after the
/// last `)`.
fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // fields after the state: 4 (ppid) ... 22 (starttime) is the 19th
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_start_time_and_zombies() {
        let line = "123 (a) b) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4567 1000 10";
        assert_eq!(parse_stat(line), Some(4567));
        assert_eq!(parse_stat(&line.replace(") S ", ") Z ")), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_recognised_and_a_future_time_is_not() {
        let me = std::process::id();
        assert!(is_our_run(me, &Tai64n::now()));
        assert!(!is_our_run(me, &Tai64n::from_unix(1_000_000, 0)));
        assert!(!is_our_run(0, &Tai64n::now()));
    }
}
