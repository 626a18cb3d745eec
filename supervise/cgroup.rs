//! NEW: a cgroup per service (issue 14), so that a stop, a restart or a limit reaches every
//! process `run` started, daemons that double-fork and `setsid` included.
//!
//! At start-up supervise looks for a cgroup v2 directory it may create a child in: the one
//! `VIGIL_CGROUP` names, else its own cgroup (from `/proc/self/cgroup`) on the cgroup2 mount
//! (`/proc/self/mountinfo`), else that mount's root. There it makes `vigil-INODE-DEV` (the
//! service directory's inode and device, so two scan directories never share one, and a
//! supervise restarted after a SIGKILL, or after a rename, finds its service's cgroup again). `run` is created in
//! it (clone3's CLONE_INTO_CGROUP), `cgroup.events` is polled for POLLPRI, which the kernel raises at
//! each change of `populated` (no wake-up while idle, no inotify instance per service), and `cgroup.kill` kills what is left.
//! Where nothing is writable, or with `DIR/no-cgroup`, supervise keeps the process-group path
//! (docs/cgroups.md); only the first case warns, once.
//!
//! A v1 memory hierarchy (hybrid hosts) is joined as well while the service has a memory limit
//! (`max-memory` or `memory-cap`): memory is then read from `memory.usage_in_bytes` and
//! `memory-cap` makes `max-memory` a kernel cap (`memory.limit_in_bytes`). Joining costs a
//! cgroup migration (about 0.2 ms) per start, so services without a memory limit skip it.
//!
//! Nothing here allocates: paths are built in arrays (supervise keeps no heap page,
//! docs/bench.md).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};
use vigil_proc::kill;
use vigil_proc::spawn::Cgroups;
use vigil_proto::msg;

const PROG: &str = "supervise";

/// If this file exists in the service directory when supervise starts, the service stays on
/// the process-group path.
pub const NO_CGROUP: &str = "no-cgroup";
/// If this file exists, `max-memory` is also set as the kernel's memory cap of the service's
/// cgroup (where a memory controller is writable).
pub const MEMORY_CAP: &str = "memory-cap";
/// The parent cgroup v2 directory to use; empty or `none`: no cgroups.
pub const ENV: &[u8] = b"VIGIL_CGROUP";
/// What svstat reads: the cgroup's path (and the v1 memory cgroup's, when joined), one a line.
pub const FILE: &str = vigil_proto::paths::CGROUP;
const FILE_NEW: &str = "supervise/cgroup.new";

/// The longest cgroup path handled.
const PATH_BYTES: usize = 256;

/// A path built in place.
#[derive(Clone, Copy)]
struct PathBytes {
    buf: [u8; PATH_BYTES],
    len: usize,
}

impl PathBytes {
    fn new() -> PathBytes {
        PathBytes {
            buf: [0; PATH_BYTES],
            len: 0,
        }
    }

    /// Appends `parts`; false (and unchanged) if the path would be too long.
    fn push(&mut self, parts: &[&[u8]]) -> bool {
        let more: usize = parts.iter().map(|p| p.len()).sum();
        if self.len + more > PATH_BYTES {
            return false;
        }
        for p in parts {
            self.buf[self.len..self.len + p.len()].copy_from_slice(p);
            self.len += p.len();
        }
        true
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_path(&self) -> &std::path::Path {
        std::path::Path::new(std::ffi::OsStr::from_bytes(self.as_bytes()))
    }
}

/// A service's v1 memory cgroup (its path is [`Tree`]'s `memory_path`).
struct Memory {
    dir: OwnedFd,
    procs: OwnedFd,
}

/// The service's cgroup: where `run` starts, what a stop reaches, what svstat measures.
pub struct Tree {
    path: PathBytes,
    dir: OwnedFd,
    /// `cgroup.events`, open: polled for POLLPRI, which the kernel raises when it changes.
    events: OwnedFd,
    /// The v1 memory cgroup to make for the service, where there is a v1 memory hierarchy.
    memory_path: Option<PathBytes>,
    memory: Option<Memory>,
    /// Whether `run` was last started in the v1 memory cgroup too.
    joined: bool,
}

/// The cgroup v2 directories supervise may make the service's cgroup in, best first, and
/// whether the choice came from `VIGIL_CGROUP` (an empty list then means "none, by choice").
fn v2_parents(out: &mut [PathBytes; 2]) -> (usize, bool) {
    if let Some(chosen) = vigil_proc::entry::env(ENV) {
        let chosen = chosen.as_bytes();
        if chosen.is_empty() || chosen == b"none" {
            return (0, true);
        }
        let _ = fs::create_dir_all(std::ffi::OsStr::from_bytes(chosen));
        return (usize::from(out[0].push(&[chosen])), true);
    }
    (hierarchy(b"cgroup2", b"", out), false)
}

/// The directories of a hierarchy (fstype `cgroup2`, or `cgroup` with `controller` among its
/// options) where a child may go: this process's own cgroup there, then the mount's root.
fn hierarchy(fstype: &[u8], controller: &[u8], out: &mut [PathBytes; 2]) -> usize {
    let mut mount = PathBytes::new();
    let mut root = PathBytes::new();
    let mut buf = [0u8; 4096];
    lines(b"/proc/self/mountinfo\0", &mut buf, |line| {
        let mut fields = line.split(|&b| b == b' ');
        let (Some(_), Some(_), Some(_), Some(r), Some(point)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return false;
        };
        let mut after = fields.skip_while(|f| *f != b"-").skip(1);
        let (Some(kind), Some(_), Some(options)) = (after.next(), after.next(), after.next())
        else {
            return false;
        };
        let has = controller.is_empty() || options.split(|&b| b == b',').any(|o| o == controller);
        // Escaped names (\040 for a space) are not handled: such a mount is skipped.
        if kind == fstype && has && !point.contains(&b'\\') {
            mount.push(&[point]);
            root.push(&[r]);
            return true;
        }
        false
    });
    if mount.len == 0 {
        return 0;
    }
    let mut own = PathBytes::new();
    lines(b"/proc/self/cgroup\0", &mut buf, |line| {
        // ID:CONTROLLERS:PATH; v2's is 0::PATH.
        let mut fields = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let matches = if controller.is_empty() {
            id == b"0" && controllers.is_empty()
        } else {
            controllers.split(|&b| b == b',').any(|c| c == controller)
        };
        if matches {
            let root = root.as_bytes();
            let relative = match path.strip_prefix(root) {
                Some(rest) if root != b"/" => rest,
                _ => path,
            };
            own.push(&[relative]);
        }
        matches
    });
    let mut n = 0;
    let own = own.as_bytes().trim_ascii_end();
    let own = own.strip_suffix(b"/").unwrap_or(own);
    if !own.is_empty() && own != b"/" && out[0].push(&[mount.as_bytes(), own]) {
        n = 1;
    }
    if out[n].push(&[mount.as_bytes()]) {
        n += 1;
    }
    n
}

/// Calls `each` on every line of file `path` (lines longer than `buf` are skipped) until it
/// returns true.
#[inline(never)]
fn lines(path: &[u8], buf: &mut [u8; 4096], mut each: impl FnMut(&[u8]) -> bool) {
    let path = std::ffi::CStr::from_bytes_with_nul(path).expect("a C string");
    let Ok(mut file) = File::open(std::ffi::OsStr::from_bytes(path.to_bytes())) else {
        return;
    };
    let mut filled = 0;
    let mut skipping = false;
    loop {
        let n = match file.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(end) = buf[start..filled].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + end];
            if !skipping && each(line) {
                return;
            }
            skipping = false;
            start += end + 1;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            filled = 0;
            skipping = true;
        }
    }
}

/// Whether the kernel has clone3's CLONE_INTO_CGROUP (Linux 5.7), from its release
/// (`/proc/sys/kernel/osrelease`, `MAJOR.MINOR...`); unreadable counts as yes.
fn clone_into_cgroup() -> bool {
    let mut buf = [0u8; 64];
    let Ok(n) = File::open("/proc/sys/kernel/osrelease").and_then(|mut f| f.read(&mut buf)) else {
        return true;
    };
    let mut parts = buf[..n].split(|&b| b == b'.' || b == b'-');
    let mut number =
        || -> Option<u32> { std::str::from_utf8(parts.next()?).ok()?.trim().parse().ok() };
    match (number(), number()) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 7),
        _ => true,
    }
}

/// The service cgroup's name: the service directory's inode and device, which keep it apart
/// from every other and stay the same when the directory is renamed (svscan keeps a renamed
/// service running, and its next supervise must find the same cgroup).
fn name(out: &mut [u8; 128]) -> Option<usize> {
    let meta = fs::metadata(".").ok()?;
    let mut cursor = io::Cursor::new(&mut out[..]);
    write!(cursor, "vigil-{}-{}", meta.ino(), meta.dev()).ok()?;
    Some(cursor.position() as usize)
}

impl Tree {
    /// The service's cgroup (the current directory is the service directory `dir`), or `None`:
    /// opted out (`no-cgroup`, `VIGIL_CGROUP=none`: silent) or unavailable (one warning). On
    /// the process-group path a `supervise/cgroup` an earlier supervise left goes, so svstat
    /// never shows a cgroup the service is not in.
    pub fn find(dir: &[u8]) -> Option<Tree> {
        let tree = Tree::locate(dir);
        if tree.is_none() {
            let _ = fs::remove_file(FILE);
        }
        tree
    }

    fn locate(dir: &[u8]) -> Option<Tree> {
        if fs::symlink_metadata(NO_CGROUP).is_ok() {
            return None;
        }
        if !clone_into_cgroup() {
            msg::warn(
                PROG,
                &[
                    b"no cgroup for ",
                    dir,
                    b": the kernel is older than 5.7 (process groups instead)",
                ],
            );
            return None;
        }
        let mut own = [0u8; 128];
        let len = name(&mut own)?;
        let own = &own[..len];
        let mut parents = [PathBytes::new(), PathBytes::new()];
        let (n, chosen) = v2_parents(&mut parents);
        let mut why = None;
        for parent in &parents[..n] {
            match Tree::make(parent, own) {
                Ok(mut tree) => {
                    let mut memory = [PathBytes::new(), PathBytes::new()];
                    if hierarchy(b"cgroup", b"memory", &mut memory) > 0 {
                        let mut path = memory[0];
                        if path.push(&[b"/", own]) {
                            tree.memory_path = Some(path);
                        }
                    }
                    tree.publish();
                    return Some(tree);
                }
                Err(e) => why = Some((e, *parent)),
            }
        }
        match why {
            Some((e, parent)) => msg::warn_unable(
                PROG,
                &io::Error::from(e),
                &[
                    b"create a cgroup for ",
                    dir,
                    b" in ",
                    parent.as_bytes(),
                    b" (process groups instead)",
                ],
            ),
            None if !chosen => msg::warn(
                PROG,
                &[
                    b"no cgroup2 hierarchy for ",
                    dir,
                    b" (process groups instead)",
                ],
            ),
            None => {}
        }
        None
    }

    fn make(parent: &PathBytes, own: &[u8]) -> nix::Result<Tree> {
        let mut path = *parent;
        if !path.push(&[b"/", own]) {
            return Err(Errno::ENAMETOOLONG);
        }
        match nix::unistd::mkdir(path.as_path(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let dir = nix::fcntl::open(
            path.as_path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // A v1 directory (no cgroup.events) cannot hold `run` the v2 way.
        let events = open_events(&dir)?;
        Ok(Tree {
            path,
            dir,
            events,
            memory_path: None,
            memory: None,
            joined: false,
        })
    }

    /// Writes `supervise/cgroup` for svstat: the path, and the v1 memory cgroup's while `run`
    /// is in it too. A failure is a warning; svstat then shows no cgroup.
    fn publish(&self) {
        let mut text = [0u8; 2 * PATH_BYTES + 2];
        let mut n = 0;
        let mut add = |p: &[u8]| {
            text[n..n + p.len()].copy_from_slice(p);
            text[n + p.len()] = b'\n';
            n += p.len() + 1;
        };
        add(self.path.as_bytes());
        if let (true, Some(_), Some(path)) = (self.joined, &self.memory, &self.memory_path) {
            add(path.as_bytes());
        }
        let written = fs::write(FILE_NEW, &text[..n]).and_then(|()| fs::rename(FILE_NEW, FILE));
        if let Err(e) = written {
            msg::warn_unable(PROG, &e, &[b"write ", FILE.as_bytes()]);
        }
    }

    /// Before a start: a fresh, empty cgroup (so its CPU count is this run's), joined to the
    /// v1 memory cgroup while a memory limit exists, with the kernel cap set if asked. Then
    /// where to create `run`.
    pub fn prepare(&mut self, memory_cap: Option<u64>, memory_limited: bool) -> Cgroups<'_> {
        self.renew();
        let join = memory_limited && self.memory_ready();
        if join != self.joined {
            self.joined = join;
            self.publish();
        }
        if join {
            if let Some(memory) = &self.memory {
                let cap = memory_cap.map_or(u64::MAX >> 1, |c| c);
                // No cap: the largest value, which v1 rounds down to "unlimited".
                let _ = write_at(&memory.dir, b"memory.limit_in_bytes\0", cap);
            }
        }
        Cgroups {
            v2: self.dir.as_fd(),
            join: self
                .memory
                .as_ref()
                .filter(|_| join)
                .map(|m| m.procs.as_fd()),
        }
    }

    /// A new directory of the same name when the old one is empty (rmdir fails while a
    /// process is in it, as with `keep-strays`: the old one is kept).
    fn renew(&mut self) {
        let mut own = [0u8; 128];
        let base = self
            .path
            .as_bytes()
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(b"");
        let len = base.len().min(own.len());
        own[..len].copy_from_slice(&base[..len]);
        let own = &own[..len];
        let Ok(parent) = nix::fcntl::open(
            self.path
                .as_path()
                .parent()
                .unwrap_or(std::path::Path::new("/")),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            return;
        };
        match unlinkat(&parent, own, UnlinkatFlags::RemoveDir) {
            // Gone already (removed by hand): made again below.
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(_) => return,
        }
        let _ = mkdirat(&parent, own, Mode::from_bits_truncate(0o755));
        // The old descriptors name a removed directory (whose cgroup.events would poll
        // changed for ever): both are replaced.
        if let Ok(dir) = openat(
            &parent,
            own,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            if let Ok(events) = open_events(&dir) {
                self.events = events;
            }
            self.dir = dir;
        }
    }

    /// The v1 memory cgroup, made at its first use; false if there is none to make.
    fn memory_ready(&mut self) -> bool {
        if self.memory.is_some() {
            return true;
        }
        let Some(path) = self.memory_path else {
            return false;
        };
        match nix::unistd::mkdir(path.as_path(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(_) => {
                self.memory_path = None;
                return false;
            }
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let Ok(dir) = nix::fcntl::open(path.as_path(), flags, Mode::empty()) else {
            return false;
        };
        let procs = openat(
            &dir,
            "cgroup.procs",
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        match procs {
            Ok(procs) => {
                self.memory = Some(Memory { dir, procs });
                true
            }
            Err(_) => false,
        }
    }

    /// The descriptor to poll for POLLPRI: raised when `populated` may have changed, until
    /// [`Tree::populated`] reads it again.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// Whether a process is in the cgroup (`cgroup.events`: `populated 1`); false if it
    /// cannot be read. Reading it re-arms the change notification of [`Tree::fd`].
    pub fn populated(&self) -> bool {
        let mut buf = [0u8; 128];
        let n = nix::sys::uio::pread(&self.events, &mut buf, 0).unwrap_or(0);
        buf[..n]
            .split(|&b| b == b'\n')
            .any(|line| line == b"populated 1")
    }

    /// Sends `sig` to every process in the cgroup (what `cgroup.procs` lists now).
    pub fn signal_all(&self, sig: i32) {
        let Ok(fd) = openat(
            &self.dir,
            "cgroup.procs",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            return;
        };
        let mut file = File::from(fd);
        let mut buf = [0u8; 1024];
        let mut carry = 0;
        loop {
            let n = match file.read(&mut buf[carry..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let end = carry + n;
            let mut start = 0;
            while let Some(at) = buf[start..end].iter().position(|&b| b == b'\n') {
                if let Some(pid) = decimal(&buf[start..start + at]) {
                    let _ = kill::signal(pid, sig);
                }
                start += at + 1;
            }
            buf.copy_within(start..end, 0);
            carry = end - start;
            if carry == buf.len() {
                carry = 0;
            }
        }
    }

    /// Kills every process in the cgroup at once (`cgroup.kill`, Linux 5.14+; else KILL to
    /// each pid it lists).
    pub fn kill_all(&self) {
        if write_at(&self.dir, b"cgroup.kill\0", 1).is_err() {
            self.signal_all(libc::SIGKILL);
        }
    }

    /// Memory charged to the service: `memory.current` (v2 with the controller), else the v1
    /// memory cgroup's `memory.usage_in_bytes` while `run` is in it.
    pub fn memory_bytes(&self) -> Option<u64> {
        let mut buf = [0u8; 64];
        if let Ok(n) = read_at(&self.dir, b"memory.current\0", &mut buf) {
            return std::str::from_utf8(buf[..n].trim_ascii())
                .ok()?
                .parse()
                .ok();
        }
        let memory = self.memory.as_ref().filter(|_| self.joined)?;
        let n = read_at(&memory.dir, b"memory.usage_in_bytes\0", &mut buf).ok()?;
        std::str::from_utf8(buf[..n].trim_ascii())
            .ok()?
            .parse()
            .ok()
    }

    /// At exit: the cgroups go if they are empty, and `supervise/cgroup` with them.
    pub fn remove(&self) {
        let _ = fs::remove_file(FILE);
        let _ = fs::remove_dir(self.path.as_path());
        if let (Some(_), Some(path)) = (&self.memory, &self.memory_path) {
            let _ = fs::remove_dir(path.as_path());
        }
    }
}

/// `cgroup.events` of cgroup directory `dir`, open for reading.
fn open_events(dir: &OwnedFd) -> nix::Result<OwnedFd> {
    openat(
        dir,
        "cgroup.events",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Reads file `name` (NUL-terminated) of directory `dir` into `buf`.
fn read_at(dir: &OwnedFd, name: &[u8], buf: &mut [u8]) -> io::Result<usize> {
    let name = std::ffi::CStr::from_bytes_with_nul(name).map_err(|_| Errno::EINVAL)?;
    let fd = openat(dir, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    Ok(nix::unistd::read(&fd, buf)?)
}

/// Writes `value` in decimal to file `name` (NUL-terminated) of directory `dir`.
fn write_at(dir: &OwnedFd, name: &[u8], value: u64) -> io::Result<()> {
    let name = std::ffi::CStr::from_bytes_with_nul(name).map_err(|_| Errno::EINVAL)?;
    let fd = openat(dir, name, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut text = [0u8; 24];
    let mut cursor = io::Cursor::new(&mut text[..]);
    write!(cursor, "{value}")?;
    let n = cursor.position() as usize;
    nix::unistd::write(&fd, &text[..n])?;
    Ok(())
}

/// A positive decimal pid.
fn decimal(text: &[u8]) -> Option<i32> {
    std::str::from_utf8(text)
        .ok()?
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_positive_decimals() {
        assert_eq!(decimal(b"42"), Some(42));
        assert_eq!(decimal(b"0"), None);
        assert_eq!(decimal(b"x"), None);
    }

    #[test]
    fn paths_refuse_to_overflow() {
        let mut p = PathBytes::new();
        assert!(p.push(&[b"/sys/fs/cgroup", b"/x"]));
        assert_eq!(p.as_bytes(), b"/sys/fs/cgroup/x");
        assert!(!p.push(&[&[b'a'; PATH_BYTES]]));
        assert_eq!(p.as_bytes(), b"/sys/fs/cgroup/x");
    }
}
