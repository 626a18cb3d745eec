//! Reading other processes through /proc: parents, children, states and wake-up counts, so a
//! test can see a process tree without touching it.

use std::fs;

/// A field of `/proc/PID/status` (`PPid`, `State`, `voluntary_ctxt_switches`...), as text.
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// The parent's pid.
pub fn ppid(pid: i32) -> Option<i32> {
    status_field(pid, "PPid")?.parse().ok()
}

/// The state letter (`S`, `R`, `Z`...); `None` once the process is gone (and reaped).
pub fn state(pid: i32) -> Option<char> {
    status_field(pid, "State")?.chars().next()
}

/// The kernel's start time of the process (field 22 of `/proc/PID/stat`, clock ticks since
/// boot), counted after the last `)` of the command name.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Voluntary context switches: how often the process went to sleep, i.e. woke up again.
pub fn wakeups(pid: i32) -> Option<u64> {
    status_field(pid, "voluntary_ctxt_switches")?.parse().ok()
}

/// Descriptors of this process that a child would inherit (not close-on-exec): the ones a
/// child may hold without its parent having leaked them.
pub fn inheritable_fds() -> Vec<i32> {
    fds(std::process::id() as i32)
        .into_iter()
        .filter(|fd| {
            let info = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
            flags.is_some_and(|f| f & libc::O_CLOEXEC as u32 == 0)
        })
        .collect()
}

/// The process's command name (`comm`).
pub fn comm(pid: i32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// The pids of the process's children.
pub fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Descriptor numbers the process has open.
pub fn fds(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort_unstable();
    fds
}

/// CPU time used so far (user + system), in clock ticks (usually 10 ms): what a process that
/// spins without sleeping (and so without voluntary switches) burns.
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The system calls a sleeping poll shows in `/proc/PID/syscall`.
#[cfg(target_arch = "x86_64")]
const POLLS: [libc::c_long; 2] = [libc::SYS_poll, libc::SYS_ppoll];
#[cfg(not(target_arch = "x86_64"))]
const POLLS: [libc::c_long; 1] = [libc::SYS_ppoll];

/// Whether the process sleeps in poll(2) with no timeout (`-1`): nothing is due, it waits for
/// an event alone. (ppoll's NULL timeout reads as 0 in its fourth field.)
pub fn sleeps_without_deadline(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|text| {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let nr = fields
            .first()
            .and_then(|nr| nr.parse::<libc::c_long>().ok());
        match nr {
            #[cfg(target_arch = "x86_64")]
            // The int -1, in a 64-bit register.
            Some(libc::SYS_poll) => {
                matches!(fields.get(3), Some(&"0xffffffff" | &"0xffffffffffffffff"))
            }
            Some(libc::SYS_ppoll) => fields.get(3) == Some(&"0x0"),
            Some(_) | None => false,
        }
    })
}

/// Whether the process is blocked in write(2) (a full pipe or FIFO: `/proc/PID/syscall` starts
/// with write's number).
pub fn blocked_in_write(pid: i32) -> bool {
    syscall_nr(pid) == Some(libc::SYS_write)
}

/// The number of the system call the process is blocked in (`None` while it runs).
fn syscall_nr(pid: i32) -> Option<libc::c_long> {
    fs::read_to_string(format!("/proc/{pid}/syscall"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether the process sleeps in poll(2) (`/proc/PID/syscall` starts with the number of the
/// system call it is blocked in; "running" otherwise). A supervisor there has done all it had
/// to do since its last wake-up.
pub fn sleeps_in_poll(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/syscall")).is_ok_and(|text| {
        text.split_whitespace()
            .next()
            .and_then(|nr| nr.parse::<libc::c_long>().ok())
            .is_some_and(|nr| POLLS.contains(&nr))
    })
}
