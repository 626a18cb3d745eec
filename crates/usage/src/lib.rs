//! What a service's processes use, read from `/proc`: CPU time, resident memory, threads and
//! open files, summed over `run` and everything it started.
//!
//! Two ways to find a service's processes, for two kinds of reader:
//!
//! - [`Reader::tree`] (supervise, sampling one service every few seconds): from `run`'s pid down
//!   through the kernel's child links (`/proc/PID/task/TID/children`), plus the direct children
//!   of the reaper (init, or supervise itself when it is a child subreaper: see
//!   [`Reader::set_reaper`]) that are still in `run`'s session: daemons whose parent exited
//!   were re-parented there. Its cost grows with the service's processes, not the machine's.
//! - [`Reader::table`] + [`Table::usage`] (svtop, svstat, looking at many services at once): one
//!   pass over every `/proc/PID/stat`, then each service is the processes in its session or
//!   process group (supervise starts `run` with setsid, so both equal `run`'s pid) and their
//!   descendants.
//!
//! One read of `stat` per process gives everything but the open files (a count of
//! `/proc/PID/fd`, read only when asked). A process that exits mid-read, or that cannot be read
//! (permission), is skipped: a sample is a best effort, never an error. Without
//! `/proc/PID/task/TID/children` (a kernel without CONFIG_PROC_CHILDREN), `tree` falls back to
//! the whole table.
//!
//! CPU time counts `utime + stime + cutime + cstime`: when a process of the service reaps a
//! child, the child's time moves into its parent's `cutime`, so the sum does not drop when a
//! short-lived helper exits. Memory is the sum of resident set sizes (shared pages count once
//! per process, as `ps` adds them up).

//!
//! Safe code only: vigil-proc keeps what spawns, signals, waits or needs `unsafe`; this crate
//! only reads files.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fs::{self, File};
use std::io::Read;
use std::time::Duration;

use nix::unistd::{sysconf, SysconfVar};

/// The fields of one `/proc/PID/stat` that usage needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: i32,
    /// The state letter (field 3): `R`, `S`, ... `Z` for a zombie.
    pub state: u8,
    /// Parent's pid.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
    /// Session id.
    pub session: i32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
    /// Number of threads.
    pub threads: u32,
    /// When it started, in clock ticks since boot.
    pub start_ticks: u64,
}

/// Parses the text of `/proc/PID/stat`; `None` if it is not one.
///
/// The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so
/// the fields after it are counted from the last `)`.
pub fn parse_stat(bytes: &[u8]) -> Option<ProcStat> {
    let open = bytes.iter().position(|&b| b == b'(')?;
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let pid = std::str::from_utf8(&bytes[..open])
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    // Fields from 3 (state) on; fields[i] is field i + 3 of proc(5).
    let mut fields = rest.split_ascii_whitespace();
    let mut nth = |skip: usize| fields.nth(skip);
    let state = *nth(0)?.as_bytes().first()?;
    let ppid = nth(0)?.parse().ok()?; // 4
    let pgrp = nth(0)?.parse().ok()?; // 5
    let session = nth(0)?.parse().ok()?; // 6
    let utime: u64 = nth(7)?.parse().ok()?; // 14
    let stime: u64 = nth(0)?.parse().ok()?; // 15
    let cutime: i64 = nth(0)?.parse().ok()?; // 16
    let cstime: i64 = nth(0)?.parse().ok()?; // 17
    let threads = nth(2)?.parse().ok()?; // 20
    let start_ticks = nth(1)?.parse().ok()?; // 22
    let rss: i64 = nth(1)?.parse().ok()?; // 24
    let children = u64::try_from(cutime.max(0) + cstime.max(0)).unwrap_or(0);
    Some(ProcStat {
        pid,
        state,
        ppid,
        pgrp,
        session,
        cpu_ticks: utime + stime + children,
        rss_pages: u64::try_from(rss).unwrap_or(0),
        threads,
        start_ticks,
    })
}

/// One process's `stat`, read through buffers on the stack: no allocation, for supervise, which
/// keeps no heap page (its adoption check and the sender check of its notify socket);
/// `None` if it is gone or unreadable.
pub fn read_stat(pid: i32) -> Option<ProcStat> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut path = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut path[..]);
    write!(cursor, "/proc/{pid}/stat").ok()?;
    let len = usize::try_from(cursor.position()).ok()?;
    let mut file = File::open(std::ffi::OsStr::from_bytes(&path[..len])).ok()?;
    // A stat line is at most about 1 kB (a 64-byte name, 52 numbers); what is needed comes
    // first, so a longer one is parsed as far as it was read.
    let mut buf = [0u8; 1536];
    let mut used = 0;
    while used < buf.len() {
        match file.read(&mut buf[used..]) {
            Ok(0) => break,
            Ok(n) => used += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    parse_stat(&buf[..used])
}

/// What a group of processes uses at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// How many processes were counted.
    pub processes: u32,
    /// CPU time used so far (user + system, with reaped children's).
    pub cpu: Duration,
    /// Resident memory, summed.
    pub memory_bytes: u64,
    /// Threads, summed.
    pub threads: u32,
    /// Open file descriptors, summed; `None` unless asked for.
    pub files: Option<u32>,
}

/// Reads `/proc`, reusing its buffers so a sample allocates little.
#[derive(Debug)]
pub struct Reader {
    ticks_per_sec: u64,
    page_bytes: u64,
    buf: Vec<u8>,
    has_children_links: bool,
    /// Where orphans of a service go: init (1), or a child subreaper.
    reaper: i32,
    /// (pid, session) of the reaper's children seen at the last sample.
    init_children: Vec<(i32, i32)>,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

fn sysconf_or(var: SysconfVar, default: u64) -> u64 {
    match sysconf(var) {
        Ok(Some(v)) if v > 0 => v as u64,
        _ => default,
    }
}

impl Reader {
    /// A reader for this machine's clock tick and page size.
    pub fn new() -> Reader {
        Reader {
            ticks_per_sec: sysconf_or(SysconfVar::CLK_TCK, 100),
            page_bytes: sysconf_or(SysconfVar::PAGE_SIZE, 4096),
            buf: Vec::with_capacity(512),
            has_children_links: fs::metadata("/proc/self/task").is_ok()
                && fs::metadata(format!("/proc/self/task/{}/children", std::process::id())).is_ok(),
            reaper: 1,
            init_children: Vec::new(),
        }
    }

    /// Looks for a service's orphans among the children of `pid` instead of init's: a
    /// supervise that made itself a child subreaper passes its own pid.
    pub fn set_reaper(&mut self, pid: i32) {
        self.reaper = pid;
        self.init_children.clear();
    }

    /// The whole of a /proc file. Plain reads until end of file: `read_to_end` would first
    /// stat and seek the file, doubling the system calls of a sample for nothing (a /proc
    /// file has no size).
    fn read(&mut self, path: &str) -> Option<&[u8]> {
        self.buf.clear();
        let mut file = File::open(path).ok()?;
        let mut len = 0;
        loop {
            if self.buf.len() - len < 256 {
                self.buf.resize(len + 1024, 0);
            }
            match file.read(&mut self.buf[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        self.buf.truncate(len);
        Some(&self.buf)
    }

    /// One process's `stat`; `None` if it is gone or unreadable.
    pub fn stat(&mut self, pid: i32) -> Option<ProcStat> {
        parse_stat(self.read(&format!("/proc/{pid}/stat"))?)
    }

    /// Every process's `stat` (those that vanish while being read are left out).
    pub fn table(&mut self) -> Table {
        let mut procs = Vec::new();
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                    continue;
                };
                if let Some(stat) = self.stat(pid) {
                    procs.push(stat);
                }
            }
        }
        procs.sort_unstable_by_key(|p| p.pid);
        let boot_unix_secs = self.read("/proc/stat").and_then(|text| {
            let line = text
                .split(|&b| b == b'\n')
                .find_map(|l| l.strip_prefix(b"btime "))?;
            std::str::from_utf8(line).ok()?.trim().parse().ok()
        });
        Table {
            procs,
            ticks_per_sec: self.ticks_per_sec,
            page_bytes: self.page_bytes,
            boot_unix_secs,
        }
    }

    /// Pushes the children of every thread of `stat.pid` onto `out`.
    fn children(&mut self, stat: &ProcStat, out: &mut Vec<i32>) {
        let push = |text: &[u8], out: &mut Vec<i32>| {
            for word in text.split(|b| b.is_ascii_whitespace()) {
                if let Some(pid) = std::str::from_utf8(word).ok().and_then(|w| w.parse().ok()) {
                    out.push(pid);
                }
            }
        };
        let pid = stat.pid;
        if stat.threads <= 1 {
            if let Some(text) = self.read(&format!("/proc/{pid}/task/{pid}/children")) {
                push(text, out);
            }
            return;
        }
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return;
        };
        for task in tasks.flatten() {
            let tid = task.file_name();
            let Some(tid) = tid.to_str() else { continue };
            if let Some(text) = self.read(&format!("/proc/{pid}/task/{tid}/children")) {
                push(text, out);
            }
        }
    }

    /// What `root` and its descendants use, plus the reaper's children left in `root`'s
    /// session (orphans of the service). Counts open files only if `count_files`.
    pub fn tree(&mut self, root: i32, count_files: bool) -> Usage {
        if !self.has_children_links {
            return self.table().usage(root, count_files);
        }
        let mut usage = Usage {
            files: count_files.then_some(0),
            ..Usage::default()
        };
        let mut todo = vec![root];
        let mut seen: Vec<i32> = Vec::new();
        let mut orphans_checked = false;
        while let Some(pid) = todo.pop() {
            if seen.contains(&pid) {
                continue; // a pid re-used mid-walk must not loop
            }
            seen.push(pid);
            let Some(stat) = self.stat(pid) else { continue };
            if pid != root
                && stat.session != root
                && stat.ppid != self.reaper
                && !seen.contains(&stat.ppid)
            {
                continue; // re-used pid of an unrelated process
            }
            self.add(&mut usage, &stat, count_files);
            self.children(&stat, &mut todo);
            if !orphans_checked {
                orphans_checked = true;
                self.orphans(root, &mut todo);
            }
        }
        usage
    }

    /// Pushes the reaper's children that are in session `session` (daemons of the service
    /// whose parent exited). Their sessions are remembered between samples, so only a
    /// newcomer's `stat` is read.
    fn orphans(&mut self, session: i32, out: &mut Vec<i32>) {
        let mut of_init = Vec::new();
        let reaper = ProcStat {
            pid: self.reaper,
            state: b'S',
            ppid: 0,
            pgrp: 0,
            session: 0,
            cpu_ticks: 0,
            rss_pages: 0,
            // Orphans go to the reaper's main thread (init and supervise have no others).
            threads: 1,
            start_ticks: 0,
        };
        self.children(&reaper, &mut of_init);
        let mut known = std::mem::take(&mut self.init_children);
        known.retain(|(pid, _)| of_init.contains(pid));
        for pid in of_init {
            let sid = match known.iter().find(|(p, _)| *p == pid) {
                Some(&(_, sid)) => sid,
                None => match self.stat(pid) {
                    Some(stat) => {
                        known.push((pid, stat.session));
                        stat.session
                    }
                    None => continue,
                },
            };
            if sid == session && pid != session {
                out.push(pid);
            }
        }
        self.init_children = known;
    }

    fn add(&self, usage: &mut Usage, stat: &ProcStat, count_files: bool) {
        add(
            usage,
            stat,
            self.ticks_per_sec,
            self.page_bytes,
            count_files,
        );
    }
}

fn ticks_to_duration(ticks: u64, per_sec: u64) -> Duration {
    let per_sec = per_sec.max(1);
    Duration::from_secs(ticks / per_sec)
        + Duration::from_nanos((ticks % per_sec) * 1_000_000_000 / per_sec)
}

fn add(usage: &mut Usage, stat: &ProcStat, ticks_per_sec: u64, page_bytes: u64, files: bool) {
    usage.processes += 1;
    usage.cpu += ticks_to_duration(stat.cpu_ticks, ticks_per_sec);
    usage.memory_bytes += stat.rss_pages * page_bytes;
    usage.threads += stat.threads;
    if files {
        let open = count_files(stat.pid);
        usage.files = Some(usage.files.unwrap_or(0) + open);
    }
}

/// Open file descriptors of `pid` (0 if it cannot be read).
pub fn count_files(pid: i32) -> u32 {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |fds| fds.count() as u32)
}

/// supervise announces a pid just after it starts `run`, and `btime` is whole seconds: a
/// run's start time is within this much of the announcement.
pub const RUN_START_SLACK_SECS: u64 = 2;

/// Every process on the machine at one moment, by pid.
#[derive(Debug, Clone)]
pub struct Table {
    procs: Vec<ProcStat>,
    ticks_per_sec: u64,
    page_bytes: u64,
    /// `btime` of /proc/stat: when the machine booted.
    boot_unix_secs: Option<u64>,
}

impl Table {
    /// The processes read.
    pub fn processes(&self) -> &[ProcStat] {
        &self.procs
    }

    /// When `pid` started, in unix seconds (whole seconds: `btime` is); `None` if it is not
    /// in the table.
    pub fn start_unix_secs(&self, pid: i32) -> Option<u64> {
        let i = self.procs.binary_search_by_key(&pid, |p| p.pid).ok()?;
        Some(self.boot_unix_secs? + self.procs[i].start_ticks / self.ticks_per_sec.max(1))
    }

    /// What the service whose `run` has pid `root` uses, if `root` started within
    /// [`RUN_START_SLACK_SECS`] of `announced_unix_secs` (when supervise announced the pid):
    /// a stale status file's pid may belong to another process by now. `None` otherwise, or
    /// if nothing of it is left.
    pub fn run_usage(
        &self,
        root: i32,
        announced_unix_secs: u64,
        count_files: bool,
    ) -> Option<Usage> {
        let start = self.start_unix_secs(root)?;
        if start.abs_diff(announced_unix_secs) > RUN_START_SLACK_SECS {
            return None;
        }
        Some(self.usage(root, count_files)).filter(|u| u.processes > 0)
    }

    /// What the service whose `run` has pid `root` uses: the processes of its session or
    /// process group, and every descendant of those.
    pub fn usage(&self, root: i32, count_files: bool) -> Usage {
        let mut members: Vec<i32> = self
            .procs
            .iter()
            .filter(|p| p.pid == root || p.session == root || p.pgrp == root)
            .map(|p| p.pid)
            .collect();
        // Descendants that left the session (setsid): grow to a fixed point. Few rounds: each
        // adds a generation.
        loop {
            let before = members.len();
            for p in &self.procs {
                if members.contains(&p.ppid) && !members.contains(&p.pid) {
                    members.push(p.pid);
                }
            }
            if members.len() == before {
                break;
            }
        }
        let mut usage = Usage {
            files: count_files.then_some(0),
            ..Usage::default()
        };
        for pid in members {
            if let Ok(i) = self.procs.binary_search_by_key(&pid, |p| p.pid) {
                add(
                    &mut usage,
                    &self.procs[i],
                    self.ticks_per_sec,
                    self.page_bytes,
                    count_files,
                );
            }
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// A shell in its own session (util-linux `setsid` execs in place: the child is not a
    /// process group leader), killed with its whole session when dropped.
    struct Session(Child);

    impl Session {
        fn start(script: &str) -> Session {
            let child = Command::new("setsid")
                .args(["sh", "-c", script])
                .stdin(Stdio::null())
                .spawn()
                .expect("setsid sh");
            Session(child)
        }

        fn pid(&self) -> i32 {
            self.0.id() as i32
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pid()),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = b"4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 5 1 20 0 3 0 \
                     52338 3133440 377 18446744073709551615 1 2 3\n";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(stat.pid, 4242);
        assert_eq!(stat.ppid, 1);
        assert_eq!((stat.pgrp, stat.session), (4242, 4242));
        assert_eq!(stat.cpu_ticks, 7 + 3 + 5 + 1);
        assert_eq!(stat.threads, 3);
        assert_eq!(stat.start_ticks, 52338);
        assert_eq!(stat.rss_pages, 377);
        assert_eq!(stat.state, b'S');
    }

    #[test]
    fn read_stat_reads_this_process_as_the_reader_does() {
        let me = std::process::id() as i32;
        let fixed = read_stat(me).expect("own stat");
        let read = Reader::new().stat(me).expect("own stat");
        assert_eq!(
            (fixed.pid, fixed.ppid, fixed.start_ticks),
            (me, read.ppid, read.start_ticks)
        );
        assert!(matches!(fixed.state, b'R' | b'S'), "{}", fixed.state);
        assert_eq!(read_stat(-1), None);
        assert_eq!(read_stat(i32::MAX), None);
    }

    #[test]
    fn garbage_stat_is_none() {
        for bad in [&b""[..], b"12 (x", b"x (y) S 1 2 3", b"1 (y) S 1 2"] {
            assert_eq!(parse_stat(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn reads_this_process() {
        let mut reader = Reader::new();
        let me = std::process::id() as i32;
        let stat = reader.stat(me).expect("own stat");
        assert_eq!(stat.pid, me);
        assert!(stat.rss_pages > 0 && stat.threads >= 1);
        assert!(count_files(me) >= 3);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        let started = reader.table().start_unix_secs(me).expect("start time");
        assert!(
            started <= now + 1 && started + 3600 > now,
            "{started} vs {now}"
        );
    }

    #[test]
    fn a_vanished_process_counts_nothing() {
        let mut reader = Reader::new();
        // Beyond pid_max: never a process.
        let usage = reader.tree(i32::MAX, true);
        assert_eq!(usage.processes, 0);
        assert_eq!(usage.memory_bytes, 0);
        assert_eq!(reader.table().usage(i32::MAX, false).processes, 0);
    }

    #[test]
    fn tree_and_table_count_the_whole_session() {
        // sh, two sleeps, and a grandchild that leaves the session with setsid.
        let s = Session::start("sleep 30 & sleep 30 & setsid sleep 30 & wait");
        let mut reader = Reader::new();
        assert!(
            eventually(|| reader.tree(s.pid(), false).processes == 4),
            "tree: {:?}",
            reader.tree(s.pid(), false)
        );
        assert!(
            eventually(|| reader.table().usage(s.pid(), false).processes == 4),
            "table: {:?}",
            reader.table().usage(s.pid(), false)
        );
        let usage = reader.tree(s.pid(), true);
        assert!(usage.memory_bytes > 0);
        assert!(usage.threads >= 4);
        assert!(usage.files.is_some_and(|n| n >= 4 * 3));
        // The setsid'd sleep is not in the session: kill it by pid through the tree.
        let mut reader = Reader::new();
        for p in reader.table().processes() {
            if p.ppid == s.pid() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    #[test]
    fn a_spinning_session_gains_cpu_time() {
        let s = Session::start("while :; do :; done");
        let mut reader = Reader::new();
        assert!(eventually(
            || reader.tree(s.pid(), false).cpu >= Duration::from_millis(200)
        ));
        let table = reader.table().usage(s.pid(), false);
        assert!(table.cpu >= Duration::from_millis(200), "{table:?}");
    }

    #[test]
    fn ticks_convert_exactly() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(ticks_to_duration(1, 0), Duration::from_secs(1));
    }
}

/// NEW: what a service's cgroup says it uses (issue 14): CPU from `cpu.stat` (`usage_usec`,
/// since the cgroup was made: supervise makes it afresh for each run), memory from
/// `memory.current` (cgroup v2 with the memory controller), else from the v1 memory cgroup's
/// `memory.usage_in_bytes` when `memory` names one. Each is `None` where it cannot be read.
pub fn cgroup_usage(
    v2: &std::path::Path,
    memory: Option<&std::path::Path>,
) -> (Option<Duration>, Option<u64>) {
    let small = |path: std::path::PathBuf| -> Option<String> {
        let mut text = String::new();
        File::open(path)
            .ok()?
            .take(4096)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    };
    let cpu = small(v2.join("cpu.stat")).and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_micros)
    });
    let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
    let bytes = number(small(v2.join("memory.current")))
        .or_else(|| number(small(memory?.join("memory.usage_in_bytes"))));
    (cpu, bytes)
}

#[cfg(test)]
mod cgroup_tests {
    use super::*;

    #[test]
    fn cgroup_files_are_read_and_missing_ones_are_none() {
        let dir = std::env::temp_dir().join(format!("vigil-usage-cg-{}", std::process::id()));
        let memory = dir.join("memory");
        fs::create_dir_all(&memory).unwrap();
        fs::write(
            dir.join("cpu.stat"),
            "usage_usec 2500000\nuser_usec 2000000\n",
        )
        .unwrap();
        assert_eq!(
            cgroup_usage(&dir, None),
            (Some(Duration::from_millis(2500)), None)
        );
        fs::write(memory.join("memory.usage_in_bytes"), "4096\n").unwrap();
        assert_eq!(cgroup_usage(&dir, Some(&memory)).1, Some(4096));
        fs::write(dir.join("memory.current"), "8192\n").unwrap();
        assert_eq!(cgroup_usage(&dir, Some(&memory)).1, Some(8192));
        fs::write(dir.join("cpu.stat"), "garbage").unwrap();
        assert_eq!(cgroup_usage(&dir, None).0, None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
