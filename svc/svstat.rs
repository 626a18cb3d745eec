//! svstat: prints the status of each service directory (daemontools' svstat), and NEW a long
//! form (`-l`) with vigil's extension and a JSON form (`--json`). Formats: docs/svstat-output.md.
#![forbid(unsafe_code)]
#![cfg_attr(all(not(test), target_os = "linux", target_env = "gnu"), no_main)]

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use vigil_client::snapshot::Snapshot;
use vigil_proto::exit::{signal_name, LastExit};
use vigil_proto::msg::{self, Fail};
use vigil_proto::status::BreachRecord as Record;
use vigil_proto::status::{BackoffCause, State, Status, Want};
use vigil_usage::{Reader, Table};

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
    let mut out = io::stdout().lock();
    let mut line = Vec::with_capacity(256);
    // One pass over /proc, made when a first running service needs it, serves every DIR.
    let mut table: Option<Table> = None;
    for dir in dirs {
        line.clear();
        let mut look = Snapshot::take(dir);
        // NEW: CPU and memory of a running service, in the long line (after vigil's
        // extension) and in JSON.
        let extended = look.status.as_ref().is_some_and(|s| s.ext.is_some());
        let measured = match format {
            Format::Plain => false,
            Format::Long => extended,
            Format::Json => true,
        };
        if measured && look.running_pid().is_some() {
            look.measure(table.get_or_insert_with(|| Reader::new().table()));
        }
        match format {
            Format::Plain => look.write_plain(&mut line),
            Format::Long => look.write_long(&mut line),
            Format::Json => look.json().write(&mut line),
        }
        line.push(b'\n');
        // Each line leaves before the next directory is read, so whatever happens to a later
        // one, this one's line is out (issue #12).
        // compat: daemontools' svstat ignores errors writing its output and exits 0.
        let _ = out.write_all(&line);
        let _ = out.flush();
    }
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

/// How svstat prints a snapshot as text: daemontools' line, or the long one.
trait Text {
    fn write_plain(&self, out: &mut Vec<u8>);
    fn write_daemontools(&self, status: &Status, out: &mut Vec<u8>);
    fn write_long(&self, out: &mut Vec<u8>);
    fn write_extension(&self, out: &mut Vec<u8>);
}

impl Text for Snapshot<'_> {
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

    /// The plain line, then `; ` and vigil's extension when the status file has one, then NEW
    /// `; run not executable` (or `missing`, `not a file`) when that keeps it from starting.
    fn write_long(&self, out: &mut Vec<u8>) {
        self.write_plain(out);
        self.write_extension(out);
        if let Some(problem) = self.run {
            out.extend_from_slice(b"; run ");
            out.extend_from_slice(problem.as_bytes());
        }
    }

    fn write_extension(&self, out: &mut Vec<u8>) {
        if let Some(text) = self.ext_error {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(text.as_bytes());
            return;
        }
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
            // NEW (issue 15 item 4): the failures counted, the step of this backoff.
            if ext.failures > 0 {
                inside.push(format!("failures {}", ext.failures));
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
        if let Some((cpu_percent, memory_bytes)) = self.usage {
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
        // NEW: the service's cgroup (issue 14); nothing on the process-group path.
        if let Some(cgroup) = &self.cgroup {
            out.extend_from_slice(b", cgroup ");
            out.extend_from_slice(cgroup);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
