//! Test helpers: temporary sandboxes, this build's binaries, spawned processes that are killed
//! by pid when the test ends, and bounded waiting.
#![allow(dead_code)]

pub mod observe;
pub mod supervise;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

pub mod crafted;
pub mod procfs;

/// The path of one of this build's binaries (next to the test binary's `deps/` folder), so a
/// test never runs daemontools' program of the same name by accident.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// The installed peer's binary (Debian's daemontools in /usr/bin), or `None` with a reason:
/// under CI=true a missing peer fails the test instead.
pub fn peer(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("{path} is not installed, and CI must run the differential tests");
    }
    eprintln!("skipped: {path} is not installed");
    None
}

/// A temporary directory that, when dropped, kills every process whose working directory lies
/// inside it (found by pid through /proc, never by name) and then removes it.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new, empty sandbox.
    pub fn new() -> Sandbox {
        // Not tmpfs: service directories live on a disk file system in production.
        let base = std::env::var_os("VIGIL_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
        fs::create_dir_all(&base).expect("test tmp base");
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("sb")
                .tempdir_in(base)
                .expect("temp dir"),
        }
    }

    /// The sandbox's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the sandbox.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, contents).expect("write");
        path
    }

    /// Writes an executable script.
    ///
    /// The file is written by a short-lived `sh`, not by the test process: a file this process
    /// had open for writing can be inherited, for a moment, by a child that another test thread
    /// is forking, and exec of the script then fails with "text busy" (ETXTBSY).
    pub fn script(&self, rel: impl AsRef<Path>, body: &str) -> PathBuf {
        use std::io::Write;
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        let mut writer = Command::new("/bin/sh")
            .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
            .arg(&path)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn sh to write a script");
        writer
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("write script");
        assert!(writer.wait().expect("wait").success(), "writing {path:?}");
        path
    }

    /// Makes a service directory `name` whose `run` is the given shell script body.
    pub fn service(&self, name: &str, run_body: &str) -> PathBuf {
        self.script(
            Path::new(name).join("run"),
            &format!("#!/bin/sh\n{run_body}\n"),
        );
        self.join(name)
    }

    /// Pids of processes whose working directory is inside the sandbox.
    pub fn processes(&self) -> Vec<i32> {
        processes_under(self.path())
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Twice: a supervise killed in the first pass may have started something meanwhile.
        for _ in 0..2 {
            for pid in self.processes() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        remove_cgroups(self.path());
    }
}

/// The cgroups supervise made for services under `dir` (their `supervise/cgroup` files, left
/// by a supervise that was killed): what is in them is killed and they are removed, so a test
/// leaves no cgroup behind even when it fails (issue 14).
pub fn remove_cgroups(dir: &Path) {
    for path in cgroups_under(dir, 5) {
        let _ = fs::write(path.join("cgroup.kill"), "1");
        // The kill is not instant: a directory with a process in it cannot go yet.
        eventually(Duration::from_secs(3), || {
            fs::remove_dir(&path).is_ok() || !path.exists()
        });
    }
}

/// Every cgroup directory named in a `supervise/cgroup` file at most `depth` levels under
/// `dir` (only `vigil-` directories: a garbled file never names anything else).
pub fn cgroups_under(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(text) = fs::read_to_string(dir.join("supervise/cgroup")) {
        found.extend(text.lines().map(PathBuf::from).filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vigil-"))
        }));
    }
    if depth > 0 {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != "supervise" {
                    found.extend(cgroups_under(&entry.path(), depth - 1));
                }
            }
        }
    }
    found
}

/// Pids of processes whose cwd is `dir` or below it.
pub fn processes_under(dir: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
        })
        .collect()
}

/// A process started in its own process group; dropped, the group is killed and reaped.
pub struct Spawned {
    /// The child.
    pub child: Child,
}

impl Spawned {
    /// Starts `cmd` in a new process group.
    pub fn start(cmd: &mut Command) -> Spawned {
        let child = cmd.process_group(0).spawn().expect("spawn");
        Spawned { child }
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends a signal to the child.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.pid()), signal);
    }

    /// Waits at most `limit` for the child to exit; its exit status, or `None` on timeout.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Only while the child is unreaped is its pid surely still its group's: once reaped,
        // the number may already belong to another test's process (what is left of the group
        // in a sandbox is killed by the Sandbox).
        if let Ok(None) = self.child.try_wait() {
            let _ = killpg(Pid::from_raw(self.pid()), Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes; true if it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a command to completion with a time bound, stdin closed; panics if it hangs.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    }
}

/// A command for one of this build's binaries.
pub fn cmd(name: &str) -> Command {
    Command::new(bin(name))
}

/// Replaces every run of ASCII digits in `text` with `N` (pids and seconds in svstat lines).
pub fn mask_digits(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut in_digits = false;
    for &b in text {
        if b.is_ascii_digit() {
            if !in_digits {
                out.push(b'N');
            }
            in_digits = true;
        } else {
            out.push(b);
            in_digits = false;
        }
    }
    out
}

/// Lossy text of bytes, for assertions.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An `OsStr` of a path, for arguments.
pub fn os(path: &Path) -> &OsStr {
    path.as_os_str()
}
