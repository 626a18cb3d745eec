//! NEW: the limit files of a service directory, one value per file as daemontools keeps its
//! settings, and how supervise notices that they changed.
//!
//! | file             | contents                         | meaning                                   |
//! |------------------|----------------------------------|-------------------------------------------|
//! | `max-memory`     | `BYTES`, suffix `K` `M` `G` `T`  | resident memory of the whole service      |
//! | `max-cpu`        | `PERCENT SECONDS`                | mean CPU over the last SECONDS above      |
//! |                  |                                  | PERCENT of one core (may exceed 100)      |
//! | `max-files`      | `COUNT`                          | open file descriptors, summed             |
//! | `max-threads`    | `COUNT`                          | threads, summed                           |
//! | `on-limit`       | `restart`, `stop`, `signal NAME` | what a breach does (default `restart`)    |
//! |                  | or `notify`                      |                                           |
//! | `limit-interval` | `MILLISECONDS`                   | time between samples (default 2000)       |
//!
//! Only the first line of a file counts; spaces around it are ignored. Suffixes are powers of
//! 1024, upper or lower case. Numbers may have a decimal part (`2.5G`, `92.5 60`). A value that
//! does not parse (not a number, negative, zero, an unknown action or signal) is reported once
//! per change of the file and ignored: the limit is then absent (the action `restart`, the
//! interval the default), and supervision goes on. The whole layout is in docs/limits.md.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use vigil_proto::paths;

/// File: resident memory cap of the whole service.
pub const MAX_MEMORY: &str = "max-memory";
/// File: `PERCENT SECONDS` CPU rule.
pub const MAX_CPU: &str = "max-cpu";
/// File: open files cap.
pub const MAX_FILES: &str = "max-files";
/// File: thread count cap.
pub const MAX_THREADS: &str = "max-threads";
/// File: what a breach does.
pub const ON_LIMIT: &str = "on-limit";
/// File: the sampling interval in milliseconds.
pub const LIMIT_INTERVAL: &str = "limit-interval";

/// Time between two samples when `limit-interval` does not say.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
/// How long `on-limit restart` waits after TERM before it KILLs the process group, when the
/// service has no `timeout-kill` of its own.
pub const RESTART_KILL_AFTER: Duration = Duration::from_secs(5);
/// The shortest interval `limit-interval` may set.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest interval `limit-interval` may set (one hour).
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// The CPU rule: the service's mean CPU over the last `window` is above `percent` of one core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuLimit {
    /// Percent of one core; 250 means two and a half cores.
    pub percent: f64,
    /// How long the mean is taken over.
    pub window: Duration,
}

/// What supervise does when a limit is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// TERM (and CONT), KILL of the process group after the stop timeout, then start again.
    Restart,
    /// As `svc -d`: bring the service down and keep it down.
    Stop,
    /// Send this signal to the service's process group; nothing else.
    Signal(Signal),
    /// Only record and publish the breach.
    Notify,
}

impl Action {
    /// The word used in `on-limit`, events and `svstat`.
    pub fn word(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Signal(_) => "signal",
            Action::Notify => "notify",
        }
    }
}

/// The limits in force for a service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// `max-memory`, in bytes.
    pub memory_bytes: Option<u64>,
    /// `max-cpu`.
    pub cpu: Option<CpuLimit>,
    /// `max-files`.
    pub files: Option<u64>,
    /// `max-threads`.
    pub threads: Option<u64>,
    /// `on-limit`.
    pub action: Action,
    /// `limit-interval`.
    pub interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: None,
            cpu: None,
            files: None,
            threads: None,
            action: Action::Restart,
            interval: DEFAULT_INTERVAL,
        }
    }
}

impl Limits {
    /// Whether any limit is set, that is whether the service must be sampled at all.
    pub fn any(&self) -> bool {
        self.memory_bytes.is_some()
            || self.cpu.is_some()
            || self.files.is_some()
            || self.threads.is_some()
    }
}

/// Why a limit file's value was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file's name in the service directory (`max-cpu`).
    pub file: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Problem {
    /// The warning text after `prog: warning: `: `DIR/max-cpu: REASON; ignored`.
    pub fn line(&self, dir: &OsStr) -> Vec<u8> {
        let mut text = paths::join(dir, self.file).into_encoded_bytes();
        text.extend_from_slice(b": ");
        text.extend_from_slice(self.reason.as_bytes());
        text.extend_from_slice(b"; ignored");
        text
    }
}

/// The value of a file: its first line without surrounding spaces.
fn first_line(bytes: &[u8]) -> &[u8] {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(b"");
    line.trim_ascii()
}

fn quoted(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// A non-negative decimal number (`12`, `2.5`); no sign, no exponent, no `inf`.
fn parse_decimal(text: &[u8]) -> Result<f64, String> {
    if text.first() == Some(&b'-') {
        return Err(format!("negative value {}", quoted(text)));
    }
    let valid = !text.is_empty()
        && text.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && text.iter().filter(|&&b| b == b'.').count() <= 1
        && text.first().is_some_and(u8::is_ascii_digit)
        && text.last().is_some_and(u8::is_ascii_digit);
    let value = std::str::from_utf8(text)
        .ok()
        .filter(|_| valid)
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or_else(|| format!("not a number: {}", quoted(text)))?;
    if value <= 0.0 {
        return Err(format!("must be more than 0: {}", quoted(text)));
    }
    Ok(value)
}

fn parse_count(text: &[u8]) -> Result<u64, String> {
    let value = parse_decimal(text)?;
    if value.fract() != 0.0 || value > u64::MAX as f64 {
        return Err(format!("not a whole number: {}", quoted(text)));
    }
    Ok(value as u64)
}

/// `max-memory`: bytes, with an optional `K`, `M`, `G` or `T` (powers of 1024).
pub fn parse_memory(bytes: &[u8]) -> Result<u64, String> {
    let text = first_line(bytes);
    let (number, scale) = match text.last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'M') => (&text[..text.len() - 1], 1 << 20),
        Some(b'G') => (&text[..text.len() - 1], 1 << 30),
        Some(b'T') => (&text[..text.len() - 1], 1 << 40),
        _ => (text, 1),
    };
    let value = parse_decimal(number.trim_ascii_end())? * scale as f64;
    if value < 1.0 || value >= u64::MAX as f64 {
        return Err(format!("out of range: {}", quoted(text)));
    }
    Ok(value as u64)
}

/// `max-cpu`: `PERCENT SECONDS`.
pub fn parse_cpu(bytes: &[u8]) -> Result<CpuLimit, String> {
    let text = first_line(bytes);
    let words: Vec<&[u8]> = text
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    let [percent, seconds] = words[..] else {
        return Err(format!("expected PERCENT SECONDS, got {}", quoted(text)));
    };
    let percent = parse_decimal(percent)?;
    let seconds = parse_decimal(seconds)?;
    let window = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|w| *w <= Duration::from_secs(86_400 * 366))
        .ok_or_else(|| format!("window out of range: {}", quoted(text)))?;
    Ok(CpuLimit { percent, window })
}

/// `max-files`, `max-threads`: a whole number.
pub fn parse_max(bytes: &[u8]) -> Result<u64, String> {
    parse_count(first_line(bytes))
}

/// `on-limit`: `restart`, `stop`, `notify` or `signal NAME` (`TERM`, `SIGTERM`, `usr1`, `15`).
pub fn parse_action(bytes: &[u8]) -> Result<Action, String> {
    let text = first_line(bytes);
    let mut words = text
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    let action = match (words.next(), words.next(), words.next()) {
        (Some(b"restart"), None, _) => Action::Restart,
        (Some(b"stop"), None, _) => Action::Stop,
        (Some(b"notify"), None, _) => Action::Notify,
        (Some(b"signal"), Some(name), None) => Action::Signal(parse_signal(name)?),
        _ => {
            return Err(format!(
                "expected restart, stop, signal NAME or notify, got {}",
                quoted(text)
            ))
        }
    };
    Ok(action)
}

fn parse_signal(name: &[u8]) -> Result<Signal, String> {
    let unknown = || format!("unknown signal {}", quoted(name));
    let text = std::str::from_utf8(name).map_err(|_| unknown())?;
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| unknown());
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>().map_err(|_| unknown())
}

/// `limit-interval`: milliseconds, between [`MIN_INTERVAL`] and [`MAX_INTERVAL`].
pub fn parse_interval(bytes: &[u8]) -> Result<Duration, String> {
    let text = first_line(bytes);
    let ms = parse_count(text)?;
    let interval = Duration::from_millis(ms);
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err(format!(
            "out of range {}..{} ms: {}",
            MIN_INTERVAL.as_millis(),
            MAX_INTERVAL.as_millis(),
            quoted(text)
        ));
    }
    Ok(interval)
}

/// The files in the order they are read and reported.
const FILES: [&str; 6] = [
    MAX_MEMORY,
    MAX_CPU,
    MAX_FILES,
    MAX_THREADS,
    ON_LIMIT,
    LIMIT_INTERVAL,
];

/// Identity and change time of a file: a different stamp means it must be read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    len: u64,
}

#[derive(Debug, Default, Clone)]
struct Watched {
    stamp: Option<Stamp>,
    /// The file's bytes at the last read; `None` when absent or unreadable.
    content: Option<Vec<u8>>,
    /// Why the last read failed (a read error other than "absent").
    error: Option<String>,
    /// The content (or error) last warned about, so a warning comes once per change.
    warned: Option<Result<Vec<u8>, String>>,
}

/// Watches a service directory's limit files: re-reads a file only when its stamp (inode,
/// size, mtime) changed, and reports a malformed value once per change of its content.
#[derive(Debug, Default, Clone)]
pub struct LimitFiles {
    files: [Watched; FILES.len()],
}

impl LimitFiles {
    /// A watcher that has read nothing yet.
    #[cfg(test)]
    pub fn new() -> LimitFiles {
        LimitFiles::default()
    }

    /// The limits in force in `dir` now, and the problems not reported before (each once per
    /// change of its file). A file that cannot be read counts as absent, with a problem.
    pub fn load(&mut self, dir: &OsStr) -> (Limits, Vec<Problem>) {
        let mut problems = Vec::new();
        for (watched, name) in self.files.iter_mut().zip(FILES) {
            refresh(watched, &paths::under(dir, name));
        }
        let mut limits = Limits::default();
        for (watched, name) in self.files.iter_mut().zip(FILES) {
            let outcome = match (&watched.content, &watched.error) {
                (_, Some(error)) => Err(error.clone()),
                (None, None) => {
                    watched.warned = None;
                    continue;
                }
                (Some(content), None) => apply(&mut limits, name, content),
            };
            match outcome {
                Ok(()) => watched.warned = None,
                Err(reason) => {
                    let key = match &watched.error {
                        Some(e) => Err(e.clone()),
                        None => Ok(watched.content.clone().unwrap_or_default()),
                    };
                    if watched.warned.as_ref() != Some(&key) {
                        problems.push(Problem { file: name, reason });
                        watched.warned = Some(key);
                    }
                }
            }
        }
        (limits, problems)
    }
}

/// Sets the limit `name` stands for from its file's content.
fn apply(limits: &mut Limits, name: &str, content: &[u8]) -> Result<(), String> {
    match name {
        MAX_MEMORY => limits.memory_bytes = Some(parse_memory(content)?),
        MAX_CPU => limits.cpu = Some(parse_cpu(content)?),
        MAX_FILES => limits.files = Some(parse_max(content)?),
        MAX_THREADS => limits.threads = Some(parse_max(content)?),
        ON_LIMIT => limits.action = parse_action(content)?,
        LIMIT_INTERVAL => limits.interval = parse_interval(content)?,
        other => return Err(format!("internal error: unknown limit file {other}")),
    }
    Ok(())
}

/// Re-reads `path` into `watched` if its stamp changed.
// Never inlined: its 4 KiB buffer stays a leaf frame, off the path to posix_spawn, so no
// supervise keeps more stack pages for it (docs/bench.md, "Memory per supervise").
#[inline(never)]
fn refresh(watched: &mut Watched, path: &OsStr) {
    // The link itself, not its target: a link is refused below, and its stamp stays put.
    let stamp = match fs::symlink_metadata(path) {
        Ok(meta) => Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            len: meta.len(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            watched.stamp = None;
            watched.content = None;
            watched.error = Some(format!(
                "unable to read: {}",
                vigil_proto::errstr::io_errstr(&e)
            ));
            return;
        }
    };
    if stamp.is_some() && stamp == watched.stamp {
        return;
    }
    watched.stamp = stamp;
    watched.error = None;
    watched.content = None;
    if stamp.is_none() {
        return;
    }
    // A limit file is a line: more than 4 KiB is not one. A FIFO, a device or a link is
    // refused at once (vigil_proto::bounded), never waited on or read without end.
    let mut buf = [0u8; vigil_proto::bounded::SETTING_MAX];
    match vigil_proto::bounded::read(
        Path::new(path),
        vigil_proto::bounded::Links::Refuse,
        &mut buf,
    ) {
        Ok(Some(bytes)) => watched.content = Some(bytes.to_vec()),
        Ok(None) => watched.stamp = None,
        Err(e) => {
            watched.stamp = None;
            watched.error = Some(format!(
                "unable to read: {}",
                vigil_proto::errstr::io_errstr(&e)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values() {
        let table: &[(&[u8], Result<u64, &str>)] = &[
            (b"1000\n", Ok(1000)),
            (b"  64K ", Ok(64 << 10)),
            (b"512m", Ok(512 << 20)),
            (b"2G\nsecond line ignored", Ok(2 << 30)),
            (b"1.5G", Ok(3 << 29)),
            (b"1T", Ok(1 << 40)),
            (b"", Err("not a number: \"\"")),
            (b"abc", Err("not a number: \"abc\"")),
            (b"-5M", Err("negative value \"-5\"")),
            (b"0", Err("must be more than 0: \"0\"")),
            (b"12X", Err("not a number: \"12X\"")),
            (b"1e9", Err("not a number: \"1e9\"")),
            (b"inf", Err("not a number: \"inf\"")),
            (
                b"99999999999999999999T",
                Err("out of range: \"99999999999999999999T\""),
            ),
        ];
        for (input, want) in table {
            let got = parse_memory(input);
            assert_eq!(got, want.map_err(String::from), "{input:?}");
        }
    }

    #[test]
    fn cpu_values() {
        let cpu = |percent, secs| CpuLimit {
            percent,
            window: Duration::from_secs_f64(secs),
        };
        assert_eq!(parse_cpu(b"90 300\n"), Ok(cpu(90.0, 300.0)));
        assert_eq!(parse_cpu(b"  250\t2.5 "), Ok(cpu(250.0, 2.5)));
        for bad in [
            &b"90"[..],
            b"90 300 1",
            b"x 300",
            b"90 -1",
            b"0 10",
            b"90 0",
        ] {
            assert!(parse_cpu(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counts_and_intervals() {
        assert_eq!(parse_max(b"1024\n"), Ok(1024));
        assert!(parse_max(b"10.5").is_err());
        assert!(parse_max(b"-3").is_err());
        assert_eq!(parse_interval(b"500"), Ok(Duration::from_millis(500)));
        assert!(parse_interval(b"99").is_err());
        assert!(parse_interval(b"3600001").is_err());
    }

    #[test]
    fn actions() {
        let table: &[(&[u8], Option<Action>)] = &[
            (b"restart\n", Some(Action::Restart)),
            (b"stop", Some(Action::Stop)),
            (b" notify ", Some(Action::Notify)),
            (b"signal TERM", Some(Action::Signal(Signal::SIGTERM))),
            (b"signal sigusr1", Some(Action::Signal(Signal::SIGUSR1))),
            (b"signal 1", Some(Action::Signal(Signal::SIGHUP))),
            (b"signal", None),
            (b"signal NOPE", None),
            (b"signal 0", None),
            (b"reboot", None),
            (b"stop now", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_action(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn problem_line_names_the_file_as_typed() {
        let p = Problem {
            file: MAX_CPU,
            reason: "not a number: \"x\"".into(),
        };
        assert_eq!(
            p.line(OsStr::new("svc/")),
            b"svc//max-cpu: not a number: \"x\"; ignored"
        );
    }

    #[test]
    fn reports_once_per_change_and_keeps_good_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().as_os_str();
        let mut files = LimitFiles::new();
        let (limits, problems) = files.load(d);
        assert!(!limits.any() && problems.is_empty());
        assert_eq!(limits, Limits::default());

        fs::write(dir.path().join(MAX_MEMORY), "10M\n").unwrap();
        fs::write(dir.path().join(MAX_CPU), "ninety 300\n").unwrap();
        let (limits, problems) = files.load(d);
        assert_eq!(limits.memory_bytes, Some(10 << 20));
        assert_eq!(limits.cpu, None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].file, MAX_CPU);
        // Same bad content: reported once, even when the file is rewritten.
        assert!(files.load(d).1.is_empty());
        fs::write(dir.path().join(MAX_CPU), "ninety 300\n").unwrap();
        assert!(files.load(d).1.is_empty());
        // Another bad content: reported again.
        fs::write(dir.path().join(MAX_CPU), "90\n").unwrap();
        assert_eq!(files.load(d).1.len(), 1);
        // Fixed, then broken the same way as before: reported again (it changed twice).
        fs::write(dir.path().join(MAX_CPU), "90 300\n").unwrap();
        let (limits, problems) = files.load(d);
        assert!(problems.is_empty());
        assert_eq!(limits.cpu.map(|c| c.window), Some(Duration::from_secs(300)));
        fs::write(dir.path().join(MAX_CPU), "90\n").unwrap();
        assert_eq!(files.load(d).1.len(), 1);
        // Removed: the limit is gone.
        fs::remove_file(dir.path().join(MAX_CPU)).unwrap();
        fs::remove_file(dir.path().join(MAX_MEMORY)).unwrap();
        let (limits, problems) = files.load(d);
        assert!(!limits.any() && problems.is_empty());
    }

    #[test]
    fn an_unreadable_file_is_a_problem_not_a_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where a file should be: reading it fails.
        fs::create_dir(dir.path().join(MAX_THREADS)).unwrap();
        let mut files = LimitFiles::new();
        let (limits, problems) = files.load(dir.path().as_os_str());
        assert_eq!(limits.threads, None);
        assert_eq!(problems.len(), 1);
        assert!(files.load(dir.path().as_os_str()).1.is_empty());
    }

    #[test]
    fn the_example_limit_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/limits/worker");
        let (limits, problems) = LimitFiles::new().load(dir.as_os_str());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert!(limits.cpu.is_some() && limits.any());
    }
}
