//! svstat: prints the status of each service directory (daemontools' svstat), and NEW a long
//! form (`-l`) with vigil's extension and a JSON form (`--json`). Formats: docs/svstat-output.md.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use vigil_client::json::Value;
use vigil_client::service::{decode_lenient, signal_name, LastExit, Service};
use vigil_proc::clock;
use vigil_proto::errstr::io_errstr;
use vigil_proto::msg::{self, Fail};
use vigil_proto::status::BreachRecord as Record;
use vigil_proto::status::{BackoffCause, Extension, State, Status, Want};
use vigil_proto::tai::{Tai64n, UNIX_EPOCH_LABEL};
use vigil_usage::{Reader, Table, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// daemontools' line, byte for byte.
    Plain,
    /// daemontools' line, then `; ` and vigil's extension.
    Long,
    /// One JSON object per directory.
    Json,
}

// Lean start-up: no std runtime set-up before main (see vigil_proc::entry).
vigil_proc::main!(main);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    msg::finish("svstat", run(&args))
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let (format, dirs) = parse(args);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut line = Vec::with_capacity(256);
    for dir in dirs {
        line.clear();
        let look = Look::at(dir);
        match format {
            Format::Plain => look.write_plain(&mut line),
            Format::Long => look.write_long(&mut line),
            Format::Json => look.json().write(&mut line),
        }
        line.push(b'\n');
        // compat: daemontools' svstat ignores errors writing its output and exits 0.
        let _ = out.write_all(&line);
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}

/// Leading `-l` and `--json` select a format and `--` ends them; any other argument, even one
/// starting with `-`, is a directory (daemontools' svstat takes no options at all).
fn parse(args: &[OsString]) -> (Format, &[OsString]) {
    let mut format = Format::Plain;
    let mut at = 0;
    while let Some(arg) = args.get(at) {
        match arg.as_bytes() {
            // --json wins over -l, whatever their order.
            b"-l" if format == Format::Plain => format = Format::Long,
            b"-l" => {}
            b"--json" => format = Format::Json,
            b"--" => {
                at += 1;
                break;
            }
            _ => break,
        }
        at += 1;
    }
    (format, &args[at..])
}

/// Everything svstat learned about one directory, in daemontools' order of steps: enter the
/// directory, stat `down`, open `supervise/ok`, read `supervise/status`. A step that fails
/// leaves the later fields `None` and its text in `stopped`.
struct Look<'a> {
    dir: &'a OsStr,
    normally_up: Option<bool>,
    supervised: Option<bool>,
    status: Option<Status>,
    /// NEW: the limit breaches the status file records (a supervise with limits support).
    breaches: Option<Record>,
    /// daemontools' text after `DIR: ` for the step that stopped it.
    stopped: Option<Vec<u8>>,
    now: SystemTime,
    /// Unix seconds now as daemontools reads them (`time()`, the kernel's coarse clock, which
    /// can trail `now` into the previous second): for the seconds of the plain line.
    now_secs: u64,
}

fn because(what: &[u8], e: &io::Error) -> Option<Vec<u8>> {
    Some(msg::cat(&[what, io_errstr(e).as_bytes()]))
}

impl<'a> Look<'a> {
    fn at(dir: &'a OsStr) -> Look<'a> {
        let mut look = Look {
            dir,
            normally_up: None,
            supervised: None,
            status: None,
            breaches: None,
            stopped: None,
            now: SystemTime::now(),
            now_secs: 0,
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
                return self.stopped = Some(b"supervise not running".to_vec());
            }
            Err(e) => return self.stopped = because(b"unable to open supervise/ok: ", &e),
        }
        let bytes = service.status_bytes();
        self.breaches = bytes.as_deref().ok().and_then(Record::read_from);
        match bytes.and_then(|bytes| decode_lenient(&bytes)) {
            Ok(status) => self.status = Some(status),
            Err(e) => self.stopped = Some(e.to_string().into_bytes()),
        }
    }

    /// TAI64 seconds now, as daemontools' tai_now (whole seconds of time()).
    fn now_label(&self) -> u64 {
        UNIX_EPOCH_LABEL.wrapping_add(self.now_secs)
    }

    /// Seconds since `when`, as daemontools computes them: TAI64 seconds only, a time in the
    /// future counts as now, and the difference goes through a double (tai_approx).
    fn seconds_since(&self, when: Tai64n) -> u64 {
        let now = self.now_label();
        let elapsed = now - when.secs.min(now);
        // compat: tai_approx returns a double, which svstat prints as an unsigned long.
        elapsed as f64 as u64
    }

    fn write_plain(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.dir.as_bytes());
        out.extend_from_slice(b": ");
        match (&self.stopped, &self.status) {
            (Some(text), _) => out.extend_from_slice(text),
            (None, Some(status)) => self.write_daemontools(status, out),
            (None, None) => {}
        }
    }

    /// daemontools' text: `up (pid N) S seconds` or `down S seconds`, then its flags.
    fn write_daemontools(&self, status: &Status, out: &mut Vec<u8>) {
        let up = status.pid != 0;
        let normally_up = self.normally_up.unwrap_or(true);
        if up {
            out.extend_from_slice(format!("up (pid {}) ", status.pid).as_bytes());
        } else {
            out.extend_from_slice(b"down ");
        }
        let seconds = self.seconds_since(status.when);
        out.extend_from_slice(format!("{seconds} seconds").as_bytes());
        if up && !normally_up {
            out.extend_from_slice(b", normally down");
        }
        if !up && normally_up {
            out.extend_from_slice(b", normally up");
        }
        if up && status.paused {
            out.extend_from_slice(b", paused");
        }
        if !up && status.want == Want::Up {
            out.extend_from_slice(b", want up");
        }
        if up && status.want == Want::Down {
            out.extend_from_slice(b", want down");
        }
    }

    /// The plain line, then `; ` and vigil's extension when the status file has one.
    fn write_long(&self, out: &mut Vec<u8>) {
        self.write_plain(out);
        let Some(ext) = self.status.as_ref().and_then(|s| s.ext.as_ref()) else {
            return;
        };
        out.extend_from_slice(b"; state ");
        out.extend_from_slice(ext.state.word().as_bytes());
        if ext.state == State::Backoff {
            let mut inside = Vec::new();
            if ext.backoff_cause != BackoffCause::None {
                inside.push(ext.backoff_cause.word().to_string());
            }
            if let Some(seconds) = self.seconds_until(ext) {
                inside.push(format!("next start in {seconds} seconds"));
            }
            if !inside.is_empty() {
                out.extend_from_slice(format!(" ({})", inside.join(", ")).as_bytes());
            }
        }
        out.extend_from_slice(format!(", restarts {}", ext.restarts).as_bytes());
        match ext.last_exit.map(LastExit::from_wait_status) {
            Some(LastExit::Code(code)) => {
                out.extend_from_slice(format!(", last exit {code}").as_bytes())
            }
            Some(LastExit::Signal(signal)) => {
                out.extend_from_slice(format!(", last signal {}", signal_name(signal)).as_bytes())
            }
            Some(LastExit::Other(status)) => {
                out.extend_from_slice(format!(", last status {status}").as_bytes())
            }
            None => {}
        }
        if let Some(ready) = ext.ready_at {
            let seconds = self.seconds_since(ready);
            out.extend_from_slice(format!(", ready {seconds} seconds").as_bytes());
        }
        if let Some((cpu_percent, memory_bytes)) = self.usage() {
            out.extend_from_slice(
                format!(", cpu {cpu_percent:.1}%, memory {memory_bytes} bytes").as_bytes(),
            );
        }
        if let Some(Record {
            count,
            last: Some((at, kind)),
        }) = self.breaches
        {
            let seconds = self.seconds_since(at);
            let text = format!(
                ", breaches {count} (last {} {seconds} seconds)",
                kind.word()
            );
            out.extend_from_slice(text.as_bytes());
        }
    }

    /// NEW: CPU % (the mean since `run` started, as ps shows it) and resident memory of the
    /// running service's processes, measured now from /proc; `None` when it is not running.
    fn usage(&self) -> Option<(f64, u64)> {
        let status = self.status.as_ref().filter(|s| s.pid != 0)?;
        // One pass over /proc serves every DIR of this call.
        static TABLE: OnceLock<Table> = OnceLock::new();
        // Only the run the status file names (a stale file's pid may be another process's).
        let usage: Usage = TABLE.get_or_init(|| Reader::new().table()).run_usage(
            status.pid as i32,
            status.when.unix_secs(),
            false,
        )?;
        let since = status.when.to_system();
        let up = self
            .now
            .duration_since(since)
            .unwrap_or_default()
            .as_secs_f64();
        let cpu_percent = if up > 0.0 {
            usage.cpu.as_secs_f64() * 100.0 / up
        } else {
            0.0
        };
        Some((cpu_percent, usage.memory_bytes))
    }

    /// Whole seconds until the end of the current backoff, rounded up; `None` if not in one.
    fn seconds_until(&self, ext: &Extension) -> Option<u64> {
        if ext.state != State::Backoff {
            return None;
        }
        let until = ext.backoff_until?.to_system();
        let left = until.duration_since(self.now).unwrap_or(Duration::ZERO);
        Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    fn json(&self) -> Value<'_> {
        let usage = self.usage();
        let status = self.status.as_ref();
        let ext = status.and_then(|s| s.ext.as_ref());
        let up = status.map(|s| s.pid != 0);
        let word = |w: &'static str| Value::Str(w.as_bytes());
        Value::Object(vec![
            ("service", Value::Str(self.dir.as_bytes())),
            ("supervised", Value::or_null(self.supervised, Value::Bool)),
            (
                "error",
                Value::or_null(self.stopped.as_deref(), |text| {
                    // Not running is a state, not an error.
                    if self.supervised == Some(false) {
                        Value::Null
                    } else {
                        Value::Str(text)
                    }
                }),
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
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_lead_and_double_dash_ends_them() {
        let a = args(&["-l", "x", "-l"]);
        assert_eq!(parse(&a), (Format::Long, &a[1..]));
        let a = args(&["--json", "-l", "--", "--json"]);
        assert_eq!(parse(&a), (Format::Json, &a[3..]));
        let a = args(&["-l", "--json"]);
        assert_eq!(parse(&a), (Format::Json, &a[2..]));
        let a = args(&["-x", "-l"]);
        assert_eq!(parse(&a), (Format::Plain, &a[..]));
    }

    #[test]
    fn seconds_are_daemontools_tai_approx() {
        let look = Look {
            dir: OsStr::new("d"),
            normally_up: Some(true),
            supervised: Some(true),
            status: None,
            breaches: None,
            stopped: None,
            now: UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999),
            now_secs: 1_700_000_000,
        };
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
}
