//! What a client learns about one service directory in one look, and its one JSON rendering.
//!
//! [`Snapshot::take`] follows daemontools' svstat step by step: enter the directory, stat
//! `down`, open `supervise/ok`, read `supervise/status`. A step that fails leaves the later
//! fields `None` and its text (svstat's, after `DIR: `) in [`Snapshot::stopped`]. svstat prints
//! a snapshot as daemontools' line, as its long line, or as [`Snapshot::json`] (the format is
//! docs/svstat-output.md); the HTTP server sends the same JSON.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use vigil_proc::clock;
use vigil_proto::errstr::io_errstr;
use vigil_proto::exit::{signal_name, LastExit};
use vigil_proto::msg;
use vigil_proto::status::{
    BackoffCause, BreachRecord, DecodeError, Extension, State, Status, Want,
};
use vigil_proto::tai::{Tai64n, UNIX_EPOCH_LABEL};
use vigil_usage::Table;

use crate::json::Value;
use crate::service::{decode_lenient, Service};

/// Everything one look at a service directory learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot<'a> {
    /// The directory, as the caller named it.
    pub dir: &'a OsStr,
    /// Whether no `down` file exists; `None` if the look stopped before.
    pub normally_up: Option<bool>,
    /// Whether a supervise holds `supervise/ok` open; `None` if the look stopped before.
    pub supervised: Option<bool>,
    /// The status file (daemontools' part at least); `None` if the look stopped before.
    pub status: Option<Status>,
    /// The limit breaches the status file records (a supervise with limits support).
    pub breaches: Option<BreachRecord>,
    /// daemontools' text after `DIR: ` for the step that stopped the look.
    pub stopped: Option<Vec<u8>>,
    /// NEW: why the status file's vigil extension did not decode, when it has one that did
    /// not (cut short, or garbage): reported on the directory's `-l` and `--json` line.
    pub ext_error: Option<&'static str>,
    /// The time of the look (read after the status file, as daemontools does).
    pub now: SystemTime,
    /// Unix seconds at the time of the look as daemontools reads them (`time()`, the kernel's
    /// coarse clock, which can trail `now` into the previous second).
    pub now_secs: u64,
    /// CPU % (the mean since `run` started) and resident memory of the running service's
    /// processes, once [`Snapshot::measure`] found them.
    pub usage: Option<(f64, u64)>,
    /// NEW: the service's cgroup (`supervise/cgroup`'s first line) while supervise keeps the
    /// service in one; `None` on the process-group path (docs/cgroups.md).
    pub cgroup: Option<Vec<u8>>,
    /// NEW: the v1 memory cgroup `run` is in too (`supervise/cgroup`'s second line).
    pub cgroup_memory: Option<Vec<u8>>,
    /// NEW (issue 15 item 6): what keeps `DIR/run` from starting (`not executable`,
    /// `missing`, `not a file`), looked at only when no supervise runs or the last start
    /// failed; `None` otherwise.
    pub run: Option<&'static str>,
}

/// What is wrong with `dir/run`, if something is: svscan does not start a service whose
/// `run` is not executable, and supervise cannot.
fn run_problem(dir: &OsStr) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(vigil_proto::paths::join(dir, vigil_proto::paths::RUN)) {
        Ok(meta) if !meta.is_file() => Some("not a file"),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => Some("not executable"),
        Ok(_) => None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some("missing"),
        Err(_) => None,
    }
}

fn because(what: &[u8], e: &io::Error) -> Option<Vec<u8>> {
    Some(msg::cat(&[what, io_errstr(e).as_bytes()]))
}

impl<'a> Snapshot<'a> {
    /// Looks at `dir` as daemontools' svstat does, then reads the clock.
    ///
    /// ```
    /// use vigil_client::snapshot::Snapshot;
    ///
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let look = Snapshot::take(dir.as_os_str()); // "/service/web"
    /// match (&look.stopped, &look.status) {
    ///     (Some(why), _) => eprintln!("{}", String::from_utf8_lossy(why)),
    ///     (None, Some(status)) => println!("pid {}", status.pid),
    ///     (None, None) => {}
    /// }
    /// # assert_eq!(look.running_pid(), Some(42));
    /// # drop(_ok);
    /// # let gone = Snapshot::take(dir.as_os_str());
    /// # assert_eq!(gone.stopped.as_deref(), Some(&b"supervise not running"[..]));
    /// # Ok(())
    /// # }
    /// ```
    pub fn take(dir: &'a OsStr) -> Snapshot<'a> {
        let mut look = Snapshot {
            dir,
            normally_up: None,
            supervised: None,
            status: None,
            breaches: None,
            stopped: None,
            now: SystemTime::now(),
            now_secs: 0,
            usage: None,
            ext_error: None,
            cgroup: None,
            cgroup_memory: None,
            run: None,
        };
        look.steps();
        // compat: daemontools reads the clock after the status file.
        look.now = SystemTime::now();
        look.now_secs = clock::time_now();
        look
    }

    fn steps(&mut self) {
        let service = match Service::at(self.dir) {
            Ok(service) => service,
            Err(e) => return self.stopped = because(b"unable to chdir: ", &e),
        };
        match service.is_normally_up() {
            Ok(up) => self.normally_up = Some(up),
            Err(e) => return self.stopped = because(b"unable to stat down: ", &e),
        }
        match service.is_supervised() {
            Ok(true) => self.supervised = Some(true),
            Ok(false) => {
                self.supervised = Some(false);
                self.run = run_problem(self.dir);
                return self.stopped = Some(b"supervise not running".to_vec());
            }
            Err(e) => {
                // Never supervised (no supervise/ok yet): svscan may be waiting for `run`.
                self.run = run_problem(self.dir);
                return self.stopped = because(b"unable to open supervise/ok: ", &e);
            }
        }
        let bytes = match service.status_bytes() {
            Ok(bytes) => bytes,
            Err(e) => return self.stopped = Some(e.to_string().into_bytes()),
        };
        self.breaches = BreachRecord::read_from(&bytes);
        self.read_cgroup();
        match decode_lenient(&bytes) {
            Ok(status) => self.status = Some(status),
            Err(e) => return self.stopped = Some(e.to_string().into_bytes()),
        }
        let start_failed = self.status.and_then(|s| s.ext).is_some_and(|e| {
            e.state == State::Backoff && e.backoff_cause == BackoffCause::StartFailed
        });
        if start_failed {
            self.run = run_problem(self.dir);
        }
        self.ext_error = match Status::decode(&bytes) {
            Ok(_) => None,
            Err(DecodeError::ShortExtension) => {
                Some("unable to read supervise/status: truncated extension")
            }
            Err(DecodeError::BadExtension | DecodeError::Short) => {
                Some("unable to read supervise/status: bad extension")
            }
        };
    }

    /// Reads `supervise/cgroup` (absent on the process-group path and from daemontools'
    /// supervise): at most 4 KiB, absolute paths only.
    fn read_cgroup(&mut self) {
        use std::io::Read;
        let path = vigil_proto::paths::join(self.dir, vigil_proto::paths::CGROUP);
        let mut text = Vec::with_capacity(256);
        let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut text));
        if read.is_err() {
            return;
        }
        let mut lines = text
            .split(|&b| b == b'\n')
            .filter(|l| l.first() == Some(&b'/'))
            .map(<[u8]>::to_vec);
        self.cgroup = lines.next();
        self.cgroup_memory = lines.next();
    }

    /// The pid of the running service, if the status file names one.
    pub fn running_pid(&self) -> Option<u32> {
        self.status.as_ref().map(|s| s.pid).filter(|&pid| pid != 0)
    }

    /// Measures the running service's processes in `table` (one pass over /proc can serve
    /// many snapshots): fills [`Snapshot::usage`], or leaves it `None` when the service does
    /// not run or the status file's pid is not the run it names (a stale file).
    pub fn measure(&mut self, table: &Table) {
        let Some(status) = self.status.as_ref().filter(|s| s.pid != 0) else {
            return;
        };
        let Some(mut usage) = table.run_usage(status.pid as i32, status.when.unix_secs(), false)
        else {
            return;
        };
        // NEW: on the cgroup path, CPU and memory are the cgroup's (issue 14).
        if let Some(v2) = &self.cgroup {
            let memory = self.cgroup_memory.as_deref().map(OsStr::from_bytes);
            let (cpu, bytes) = vigil_usage::cgroup_usage(
                std::path::Path::new(OsStr::from_bytes(v2)),
                memory.map(std::path::Path::new),
            );
            usage.cpu = cpu.unwrap_or(usage.cpu);
            usage.memory_bytes = bytes.unwrap_or(usage.memory_bytes);
        }
        let up = self
            .now
            .duration_since(status.when.to_system())
            .unwrap_or_default()
            .as_secs_f64();
        let cpu_percent = if up > 0.0 {
            usage.cpu.as_secs_f64() * 100.0 / up
        } else {
            0.0
        };
        self.usage = Some((cpu_percent, usage.memory_bytes));
    }

    /// TAI64 seconds now, as daemontools' tai_now (whole seconds of time()).
    fn now_label(&self) -> u64 {
        UNIX_EPOCH_LABEL.wrapping_add(self.now_secs)
    }

    /// Seconds since `when`, as daemontools computes them: TAI64 seconds only, a time in the
    /// future counts as now, and the difference goes through a double (tai_approx).
    pub fn seconds_since(&self, when: Tai64n) -> u64 {
        let now = self.now_label();
        let elapsed = now - when.secs.min(now);
        // compat: tai_approx returns a double, which svstat prints as an unsigned long.
        elapsed as f64 as u64
    }

    /// Whole seconds until the end of the current backoff, rounded up; `None` if not in one.
    pub fn seconds_until(&self, ext: &Extension) -> Option<u64> {
        if ext.state != State::Backoff {
            return None;
        }
        let until = ext.backoff_until?.to_system();
        let left = until.duration_since(self.now).unwrap_or(Duration::ZERO);
        Some(
            left.as_secs()
                .saturating_add(u64::from(left.subsec_nanos() > 0)),
        )
    }

    /// The snapshot as one JSON object (`svstat --json`; docs/svstat-output.md lists the keys).
    ///
    /// ```
    /// use vigil_client::snapshot::Snapshot;
    ///
    /// # use vigil_proto::status::{self, Status, Want};
    /// # use vigil_proto::{fifo, tai::Tai64n};
    /// # fn main() -> std::io::Result<()> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let dir = tmp.path().join("web");
    /// # std::fs::create_dir_all(dir.join("supervise"))?;
    /// # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
    /// # status::write(dir.as_os_str(), &up)?;
    /// # // What supervise holds open: the read ends of supervise/ok and supervise/control.
    /// # fifo::make(dir.join("supervise/ok"), 0o600)?;
    /// # fifo::make(dir.join("supervise/control"), 0o600)?;
    /// # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
    /// # let mut control = fifo::open_read(dir.join("supervise/control"))?;
    /// let mut line = Vec::new();
    /// Snapshot::take(dir.as_os_str()).json().write(&mut line);
    /// let text = String::from_utf8_lossy(&line);
    /// assert!(text.starts_with(r#"{"service":"#));
    /// assert!(text.contains(r#""up":true,"pid":42,"#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn json(&self) -> Value<'_> {
        let usage = self.usage;
        let status = self.status.as_ref();
        let ext = status.and_then(|s| s.ext.as_ref());
        let up = status.map(|s| s.pid != 0);
        let word = |w: &'static str| Value::Str(w.as_bytes());
        Value::Object(vec![
            ("service", Value::Str(self.dir.as_bytes())),
            ("supervised", Value::or_null(self.supervised, Value::Bool)),
            (
                "error",
                match (self.stopped.as_deref(), self.ext_error) {
                    // Not running is a state, not an error.
                    (Some(_), _) if self.supervised == Some(false) => Value::Null,
                    (Some(text), _) => Value::Str(text),
                    (None, Some(text)) => word(text),
                    (None, None) => Value::Null,
                },
            ),
            ("up", Value::or_null(up, Value::Bool)),
            (
                "pid",
                Value::or_null(status.filter(|s| s.pid != 0), |s| {
                    Value::Unsigned(u64::from(s.pid))
                }),
            ),
            (
                "seconds",
                Value::or_null(status, |s| Value::Unsigned(self.seconds_since(s.when))),
            ),
            (
                "normally",
                Value::or_null(self.normally_up, |u| word(if u { "up" } else { "down" })),
            ),
            (
                "paused",
                Value::or_null(status, |s| Value::Bool(s.pid != 0 && s.paused)),
            ),
            (
                "want",
                Value::or_null(status, |s| match s.want {
                    Want::Up => word("up"),
                    Want::Down => word("down"),
                    Want::Nothing => Value::Null,
                }),
            ),
            ("state", Value::or_null(ext, |e| word(e.state.word()))),
            (
                "restarts",
                Value::or_null(ext, |e| Value::Unsigned(u64::from(e.restarts))),
            ),
            (
                "last_exit",
                Value::or_null(ext.and_then(|e| e.last_exit), |w| {
                    let (code, signal) = match LastExit::from_wait_status(w) {
                        LastExit::Code(c) => (Value::Unsigned(u64::from(c)), Value::Null),
                        LastExit::Signal(s) => (Value::Null, Value::String(signal_name(s))),
                        LastExit::Other(_) => (Value::Null, Value::Null),
                    };
                    Value::Object(vec![
                        ("code", code),
                        ("signal", signal),
                        ("wait_status", Value::Signed(i64::from(w))),
                    ])
                }),
            ),
            (
                "backoff",
                Value::or_null(ext.filter(|e| e.state == State::Backoff), |e| {
                    Value::Object(vec![
                        (
                            "cause",
                            match e.backoff_cause {
                                BackoffCause::None => Value::Null,
                                cause => word(cause.word()),
                            },
                        ),
                        (
                            "seconds",
                            Value::or_null(self.seconds_until(e), Value::Unsigned),
                        ),
                        ("failures", Value::Unsigned(u64::from(e.failures))),
                    ])
                }),
            ),
            (
                "ready",
                Value::or_null(ext, |e| Value::Bool(e.ready_at.is_some())),
            ),
            (
                "ready_seconds",
                Value::or_null(ext.and_then(|e| e.ready_at), |t| {
                    Value::Unsigned(self.seconds_since(t))
                }),
            ),
            (
                "cpu_percent",
                Value::or_null(usage, |(cpu, _)| Value::Decimal(cpu)),
            ),
            (
                "memory_bytes",
                Value::or_null(usage, |(_, memory)| Value::Unsigned(memory)),
            ),
            (
                "breaches",
                Value::or_null(self.breaches, |r| Value::Unsigned(u64::from(r.count))),
            ),
            (
                "last_breach",
                Value::or_null(self.breaches.and_then(|r| r.last), |(at, kind)| {
                    Value::Object(vec![
                        ("kind", word(kind.word())),
                        ("seconds", Value::Unsigned(self.seconds_since(at))),
                    ])
                }),
            ),
            // NEW: the service's cgroup, null on the process-group path (issue 14).
            ("cgroup", Value::or_null(self.cgroup.as_deref(), Value::Str)),
            ("run", Value::or_null(self.run, word)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn look(status: Option<Status>) -> Snapshot<'static> {
        Snapshot {
            dir: OsStr::new("d"),
            normally_up: Some(true),
            supervised: Some(true),
            status,
            breaches: None,
            stopped: None,
            now: UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999),
            now_secs: 1_700_000_000,
            usage: None,
            ext_error: None,
            cgroup: None,
            cgroup_memory: None,
            run: None,
        }
    }

    #[test]
    fn seconds_are_daemontools_tai_approx() {
        let look = look(None);
        let now = Tai64n::from_unix(1_700_000_000, 0);
        assert_eq!(look.seconds_since(now), 0);
        assert_eq!(
            look.seconds_since(Tai64n::from_unix(1_699_999_990, 999_999_999)),
            10
        );
        assert_eq!(look.seconds_since(now.add(Duration::from_secs(5))), 0);
        // A zero label: 2^62 + 10 + now, rounded to a double's 53 bits as daemontools prints it.
        let exact = UNIX_EPOCH_LABEL + 1_700_000_000;
        assert_eq!(look.seconds_since(Tai64n::ZERO), exact as f64 as u64);
        assert_ne!(look.seconds_since(Tai64n::ZERO), exact);
    }

    #[test]
    fn a_killed_run_in_backoff_as_json() {
        let status = Status {
            when: Tai64n::from_unix(1_699_999_990, 0),
            pid: 0,
            paused: false,
            want: Want::Up,
            ext: Some(Extension {
                state: State::Backoff,
                backoff_cause: BackoffCause::None,
                failures: 0,
                restarts: 3,
                last_exit: Some(libc::SIGKILL),
                backoff_until: Some(Tai64n::from_unix(1_700_000_002, 500_000_000)),
                ready_at: None,
                seq: 7,
            }),
        };
        let mut out = Vec::new();
        look(Some(status)).json().write(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "{\"service\":\"d\",\"supervised\":true,\"error\":null,\"up\":false,\"pid\":null,\
             \"seconds\":10,\"normally\":\"up\",\"paused\":false,\"want\":\"up\",\
             \"state\":\"backoff\",\"restarts\":3,\"last_exit\":{\"code\":null,\
             \"signal\":\"KILL\",\"wait_status\":9},\"backoff\":{\"cause\":null,\"seconds\":2,\"failures\":0},\
             \"ready\":false,\"ready_seconds\":null,\"cpu_percent\":null,\
             \"memory_bytes\":null,\"breaches\":null,\"last_breach\":null,\"cgroup\":null,\"run\":null}"
        );
    }
}
