//! supervisord's XML-RPC interface (API 3.0) over the services of a scan directory.
//!
//! A service `web` is the process `web` of the group `web`; its logger `web/log` is the
//! process `log` of that group, `web:log` in supervisord's `group:name` form. Every method
//! reads the files supervise writes and acts by svc's control bytes alone: nothing here
//! spawns, writes a configuration or takes a path from the caller (CVE-2017-11610). The
//! mapping of states, the faults and the differences from supervisord are in
//! docs/supervisord.md.
//!
//! The calls block (start and stop wait, as supervisord's do): the server runs them off its
//! event loop.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigil_client::follow::{Follower, Item};
use vigil_client::Service;
use vigil_proto::control::Control;
use vigil_proto::event::Event;
use vigil_proto::exit::LastExit;
use vigil_proto::status::{State, Status};

use super::codec::Value;

/// supervisord's fault codes (supervisor/xmlrpc.py).
pub mod faults {
    /// No such method.
    pub const UNKNOWN_METHOD: i64 = 1;
    /// Wrong number or type of parameters.
    pub const INCORRECT_PARAMETERS: i64 = 2;
    /// Bad offset or length.
    pub const BAD_ARGUMENTS: i64 = 3;
    /// No such method signature.
    pub const SIGNATURE_UNSUPPORTED: i64 = 4;
    /// No such process or group.
    pub const BAD_NAME: i64 = 10;
    /// A signal vigil cannot send.
    pub const BAD_SIGNAL: i64 = 11;
    /// No log file.
    pub const NO_FILE: i64 = 20;
    /// The action failed.
    pub const FAILED: i64 = 30;
    /// The process stopped while starting.
    pub const ABNORMAL_TERMINATION: i64 = 40;
    /// The process could not be started or exited too quickly.
    pub const SPAWN_ERROR: i64 = 50;
    /// Already running.
    pub const ALREADY_STARTED: i64 = 60;
    /// Not running.
    pub const NOT_RUNNING: i64 = 70;
    /// Success, in the results of the `*All*` and `*Group` methods.
    pub const SUCCESS: i64 = 80;
}

/// A fault answer: its code and its text (`NAME` or `NAME: detail`, as supervisord words it).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// One of [`faults`].
    pub code: i64,
    /// The `faultString`.
    pub text: String,
}

impl Fault {
    fn new(code: i64, detail: Option<&str>) -> Fault {
        let name = match code {
            faults::UNKNOWN_METHOD => "UNKNOWN_METHOD",
            faults::INCORRECT_PARAMETERS => "INCORRECT_PARAMETERS",
            faults::BAD_ARGUMENTS => "BAD_ARGUMENTS",
            faults::SIGNATURE_UNSUPPORTED => "SIGNATURE_UNSUPPORTED",
            faults::BAD_NAME => "BAD_NAME",
            faults::BAD_SIGNAL => "BAD_SIGNAL",
            faults::NO_FILE => "NO_FILE",
            faults::FAILED => "FAILED",
            faults::ABNORMAL_TERMINATION => "ABNORMAL_TERMINATION",
            faults::SPAWN_ERROR => "SPAWN_ERROR",
            faults::ALREADY_STARTED => "ALREADY_STARTED",
            faults::NOT_RUNNING => "NOT_RUNNING",
            faults::SUCCESS => "SUCCESS",
            _ => "UNKNOWN",
        };
        Fault {
            code,
            text: match detail {
                Some(d) => format!("{name}: {d}"),
                None => name.to_owned(),
            },
        }
    }
}

type Answer = Result<Value, Fault>;

pub use vigil_client::supervisord::{proc_state, ProcState};

/// One process: a service or its logger.
#[derive(Debug, Clone)]
struct Proc {
    group: String,
    name: String,
    dir: PathBuf,
}

impl Proc {
    fn spec(&self) -> String {
        if self.group == self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }

    /// The service's own output: its logger's `main/current` (none for a logger).
    fn stdout_log(&self) -> Option<PathBuf> {
        (self.group == self.name).then(|| self.dir.join("log/main/current"))
    }

    fn service(&self) -> io::Result<Service> {
        Service::at(&self.dir)
    }

    /// Its status, `None` when no supervise runs on it.
    fn status(&self) -> Option<Status> {
        let service = self.service().ok()?;
        if !service.is_supervised().unwrap_or(false) {
            return None;
        }
        service.status().ok()
    }

    fn send(&self, control: Control) -> Result<(), Fault> {
        let service = self
            .service()
            .map_err(|e| Fault::new(faults::FAILED, Some(&format!("{}: {e}", self.spec()))))?;
        service
            .send(&[control.byte()])
            .map_err(|e| Fault::new(faults::FAILED, Some(&format!("{}: {e}", self.spec()))))
    }
}

/// The XML-RPC interface of one scan directory.
#[derive(Debug, Clone)]
pub struct Rpc {
    scandir: PathBuf,
    own_log: Option<PathBuf>,
}

/// The methods that change a service (refused to read-only users).
const CHANGING: &[&str] = &[
    "supervisor.startProcess",
    "supervisor.startProcessGroup",
    "supervisor.startAllProcesses",
    "supervisor.stopProcess",
    "supervisor.stopProcessGroup",
    "supervisor.stopAllProcesses",
    "supervisor.signalProcess",
    "supervisor.signalProcessGroup",
    "supervisor.signalAllProcesses",
    "supervisor.sendProcessStdin",
    "supervisor.clearProcessLogs",
    "supervisor.clearAllProcessLogs",
    "supervisor.clearLog",
    "supervisor.shutdown",
    "supervisor.restart",
    "supervisor.addProcessGroup",
    "supervisor.removeProcessGroup",
];

/// Every method, as `system.listMethods` lists them.
const METHODS: &[&str] = &[
    "supervisor.addProcessGroup",
    "supervisor.clearAllProcessLogs",
    "supervisor.clearLog",
    "supervisor.clearProcessLogs",
    "supervisor.getAPIVersion",
    "supervisor.getAllConfigInfo",
    "supervisor.getAllProcessInfo",
    "supervisor.getIdentification",
    "supervisor.getPID",
    "supervisor.getProcessInfo",
    "supervisor.getState",
    "supervisor.getSupervisorVersion",
    "supervisor.getVersion",
    "supervisor.readLog",
    "supervisor.readMainLog",
    "supervisor.readProcessStderrLog",
    "supervisor.readProcessStdoutLog",
    "supervisor.reloadConfig",
    "supervisor.removeProcessGroup",
    "supervisor.restart",
    "supervisor.sendProcessStdin",
    "supervisor.shutdown",
    "supervisor.signalAllProcesses",
    "supervisor.signalProcess",
    "supervisor.signalProcessGroup",
    "supervisor.startAllProcesses",
    "supervisor.startProcess",
    "supervisor.startProcessGroup",
    "supervisor.stopAllProcesses",
    "supervisor.stopProcess",
    "supervisor.stopProcessGroup",
    "supervisor.tailProcessStderrLog",
    "supervisor.tailProcessStdoutLog",
    "system.listMethods",
    "system.methodHelp",
    "system.multicall",
];

/// How long a logger's `current` may be for the log methods to read it whole.
const MAX_LOG: u64 = 64 << 20;
/// How long `start` waits for readiness and `stop` for the end of the run.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// supervisord's default `startsecs`: up this long without readiness counts as started.
const STARTSECS: Duration = Duration::from_secs(1);
/// While a start or stop waits, the status is read again at least this often, in case an
/// event letter was lost (a full FIFO drops letters; the journal has them, the status too).
const RECHECK: Duration = Duration::from_secs(1);
/// How many starts or stops of one `*All` call wait at once.
const BATCH: usize = 200;

fn param(params: &[Value], i: usize) -> Result<&Value, Fault> {
    params
        .get(i)
        .ok_or_else(|| Fault::new(faults::INCORRECT_PARAMETERS, None))
}

fn str_param(params: &[Value], i: usize) -> Result<&str, Fault> {
    param(params, i)?
        .as_str()
        .ok_or_else(|| Fault::new(faults::INCORRECT_PARAMETERS, None))
}

fn int_param(params: &[Value], i: usize) -> Result<i64, Fault> {
    match param(params, i)? {
        Value::Int(n) => Ok(*n),
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| Fault::new(faults::INCORRECT_PARAMETERS, None)),
        _ => Err(Fault::new(faults::INCORRECT_PARAMETERS, None)),
    }
}

/// An optional boolean (`wait`), true when absent.
fn wait_param(params: &[Value], i: usize) -> Result<bool, Fault> {
    match params.get(i) {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Int(n)) => Ok(*n != 0),
        Some(Value::Str(s)) => match s.trim() {
            "1" | "true" | "True" => Ok(true),
            "0" | "false" | "False" | "" => Ok(false),
            _ => Err(Fault::new(faults::INCORRECT_PARAMETERS, None)),
        },
        Some(_) => Err(Fault::new(faults::INCORRECT_PARAMETERS, None)),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A `timedelta` as Python prints it: `H:MM:SS`, `1 day, H:MM:SS`, `N days, H:MM:SS`.
fn uptime(secs: i64) -> String {
    let secs = secs.max(0);
    let (days, rest) = (secs / 86400, secs % 86400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        n => format!("{n} days, {hms}"),
    }
}

/// A stop time as supervisord describes it: `Dec 05 03:04 PM`, local time.
fn stop_time(unix: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Some(tm) = vigil_proc::localtime::local(unix) else {
        return String::new();
    };
    let hour12 = match tm.hour % 12 {
        0 => 12,
        h => h,
    };
    let month = MONTHS[(tm.month as usize).clamp(1, 12) - 1];
    let half = if tm.hour < 12 { "AM" } else { "PM" };
    format!("{month} {:02} {hour12:02}:{:02} {half}", tm.day, tm.minute)
}

/// Strips multilog's `@` + 24 hex digits + space label from the start of each line.
pub fn strip_labels(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let labelled = line.len() >= 26
            && line[0] == b'@'
            && line[1..25].iter().all(u8::is_ascii_hexdigit)
            && line[25] == b' ';
        out.extend_from_slice(if labelled { &line[26..] } else { line });
    }
    out
}

/// The service's output as `tail` serves it: `current` without labels.
pub fn read_log(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_LOG {
        file.seek(SeekFrom::Start(len - MAX_LOG))?;
    }
    let mut bytes = Vec::new();
    file.take(MAX_LOG).read_to_end(&mut bytes)?;
    Ok(strip_labels(&bytes))
}

/// supervisord's readFile over `data`.
fn read_slice(data: &[u8], offset: i64, length: i64) -> Answer {
    let size = data.len() as i64;
    let (from, to) = if offset < 0 {
        if length != 0 {
            return Err(Fault::new(faults::BAD_ARGUMENTS, None));
        }
        ((size + offset).max(0), size)
    } else {
        if length < 0 {
            return Err(Fault::new(faults::BAD_ARGUMENTS, None));
        }
        let from = offset.min(size);
        let to = if length == 0 {
            size
        } else {
            offset.saturating_add(length).min(size)
        };
        (from, to.max(from))
    };
    Ok(Value::Str(super::codec::xml_text(
        &data[from as usize..to as usize],
    )))
}

/// supervisord's tailFile over `data`.
fn tail_slice(data: &[u8], offset: i64, length: i64) -> Value {
    let size = data.len() as i64;
    let (mut offset, mut length) = (offset, length);
    let mut overflow = false;
    if size > offset.saturating_add(length) {
        overflow = true;
        offset = size - 1;
    }
    if offset.saturating_add(length) > size {
        if offset > size - 1 {
            length = 0;
        }
        offset = size - length;
    }
    offset = offset.max(0);
    length = length.max(0);
    let text = if length == 0 {
        String::new()
    } else {
        let from = offset.min(size) as usize;
        let to = offset.saturating_add(length).min(size) as usize;
        super::codec::xml_text(&data[from..to])
    };
    Value::Array(vec![
        Value::Str(text),
        Value::Int(size),
        Value::Bool(overflow),
    ])
}

/// Whether `name` can be one entry of the scan directory.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains('/') && !name.contains('\0')
}

fn signal_control(signal: &str) -> Option<Control> {
    let s = signal.trim();
    let s = s.strip_prefix("SIG").unwrap_or(s);
    let number: Option<i32> = s.parse().ok();
    Control::ALL.into_iter().find(|c| match c.signal() {
        Some(n) => number == Some(n) || signal_word(n).is_some_and(|w| w.eq_ignore_ascii_case(s)),
        None => false,
    })
}

fn signal_word(n: i32) -> Option<&'static str> {
    Some(match n {
        libc::SIGHUP => "HUP",
        libc::SIGALRM => "ALRM",
        libc::SIGINT => "INT",
        libc::SIGTERM => "TERM",
        libc::SIGKILL => "KILL",
        libc::SIGQUIT => "QUIT",
        libc::SIGUSR1 => "USR1",
        libc::SIGUSR2 => "USR2",
        libc::SIGWINCH => "WINCH",
        libc::SIGSTOP => "STOP",
        libc::SIGCONT => "CONT",
        _ => return None,
    })
}

impl Rpc {
    /// The interface of `scandir`; `own_log` is vigild's own log file (`readLog`), if any.
    pub fn new(scandir: impl Into<PathBuf>, own_log: Option<PathBuf>) -> Rpc {
        Rpc {
            scandir: scandir.into(),
            own_log,
        }
    }

    /// Whether `method` changes a service (refused under `--read-only` and to `:ro` users).
    pub fn changes(method: &str) -> bool {
        CHANGING.contains(&method)
    }

    /// Answers one call.
    pub fn call(&self, method: &str, params: &[Value]) -> Answer {
        let p = params;
        match method {
            "supervisor.getAPIVersion" | "supervisor.getVersion" => Ok("3.0".into()),
            "supervisor.getSupervisorVersion" => {
                Ok(format!("vigild {}", env!("CARGO_PKG_VERSION")).into())
            }
            "supervisor.getIdentification" => Ok("vigil".into()),
            "supervisor.getState" => Ok(Value::record([
                ("statecode", Value::Int(1)),
                ("statename", "RUNNING".into()),
            ])),
            "supervisor.getPID" => Ok(Value::Int(i64::from(std::process::id()))),
            "supervisor.readLog" | "supervisor.readMainLog" => {
                let (offset, length) = (int_param(p, 0)?, int_param(p, 1)?);
                let Some(log) = self.own_log.as_deref().filter(|l| l.exists()) else {
                    return Err(Fault::new(faults::NO_FILE, Some("vigild logs to its standard error; run it as a vigil service to keep a log")));
                };
                let data = read_log(log).map_err(|_| Fault::new(faults::FAILED, None))?;
                read_slice(&data, offset, length)
            }
            "supervisor.clearLog" => Err(Fault::new(faults::FAILED, Some("multilog rotates vigild's log; vigil never truncates a log"))),
            "supervisor.shutdown" => Err(Fault::new(faults::FAILED, Some("vigild does not stop services on shutdown; stop vigild with svc -d on its service directory, services stay up under svscan"))),
            "supervisor.restart" => Err(Fault::new(faults::FAILED, Some("vigild has no configuration to reload; services come and go with the scan directory (svscan), restart vigild with svc -t"))),
            "supervisor.reloadConfig" => Ok(Value::Array(vec![Value::Array(vec![
                Value::Array(vec![]),
                Value::Array(vec![]),
                Value::Array(vec![]),
            ])])),
            "supervisor.addProcessGroup" | "supervisor.removeProcessGroup" => {
                let name = str_param(p, 0)?;
                Err(Fault::new(faults::BAD_NAME, Some(&format!("{name} (services come and go with the scan directory)"))))
            }
            "supervisor.getAllConfigInfo" => {
                // supervisord sorts them by process name alone.
                let mut procs = self.procs_lexical();
                procs.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(Value::Array(procs.iter().map(|proc| self.config_info(proc)).collect()))
            }
            "supervisor.getProcessInfo" => {
                let spec = str_param(p, 0)?;
                match self.lookup(spec)? {
                    (_, Some(proc)) => Ok(self.info(&proc)),
                    _ => Err(Fault::new(faults::BAD_NAME, Some(spec))),
                }
            }
            "supervisor.getAllProcessInfo" => {
                Ok(Value::Array(self.procs_lexical().iter().map(|proc| self.info(proc)).collect()))
            }
            "supervisor.startProcess" => {
                let (spec, wait) = (str_param(p, 0)?, wait_param(p, 1)?);
                match self.lookup(spec)? {
                    (_, Some(proc)) => self.start(&proc, spec, wait).map(Value::Bool),
                    (group, None) => Ok(self.start_all(self.group(&group), wait)),
                }
            }
            "supervisor.startProcessGroup" => {
                let wait = wait_param(p, 1)?;
                let procs = self.named_group(str_param(p, 0)?)?;
                Ok(self.start_all(procs, wait))
            }
            "supervisor.startAllProcesses" => {
                let wait = wait_param(p, 0)?;
                Ok(self.start_all(self.procs(), wait))
            }
            "supervisor.stopProcess" => {
                let (spec, wait) = (str_param(p, 0)?, wait_param(p, 1)?);
                match self.lookup(spec)? {
                    (_, Some(proc)) => self.stop(&proc, spec, wait).map(Value::Bool),
                    (group, None) => Ok(self.stop_all(self.group(&group), wait)),
                }
            }
            "supervisor.stopProcessGroup" => {
                let wait = wait_param(p, 1)?;
                let procs = self.named_group(str_param(p, 0)?)?;
                Ok(self.stop_all(procs, wait))
            }
            "supervisor.stopAllProcesses" => {
                let wait = wait_param(p, 0)?;
                Ok(self.stop_all(self.procs(), wait))
            }
            "supervisor.signalProcess" => {
                let (spec, signal) = (str_param(p, 0)?, self.signal_param(p, 1)?);
                match self.lookup(spec)? {
                    (_, Some(proc)) => self.signal(&proc, spec, signal.1, &signal.0).map(Value::Bool),
                    (group, None) => Ok(self.each(self.group(&group), |r, proc| r.signal_if(proc, &signal))),
                }
            }
            "supervisor.signalProcessGroup" => {
                let procs = self.named_group(str_param(p, 0)?)?;
                let signal = self.signal_param(p, 1)?;
                Ok(self.each(procs, |r, proc| r.signal_if(proc, &signal)))
            }
            "supervisor.signalAllProcesses" => {
                let signal = self.signal_param(p, 0)?;
                Ok(self.each(self.procs(), |r, proc| r.signal_if(proc, &signal)))
            }
            "supervisor.readProcessStdoutLog" | "supervisor.readProcessLog" => {
                let (spec, offset, length) = (str_param(p, 0)?, int_param(p, 1)?, int_param(p, 2)?);
                let proc = self.process(spec)?;
                let path = proc.stdout_log().filter(|l| l.exists());
                let Some(path) = path else {
                    return Err(Fault::new(faults::NO_FILE, Some(&format!("{} has no log", proc.spec()))));
                };
                let data = read_log(&path).map_err(|_| Fault::new(faults::FAILED, None))?;
                read_slice(&data, offset, length)
            }
            "supervisor.readProcessStderrLog" => {
                let spec = str_param(p, 0)?;
                let proc = self.process(spec)?;
                Err(Fault::new(faults::NO_FILE, Some(&format!("{}: stderr goes to svscan's output (readproctitle), not to a log", proc.spec()))))
            }
            "supervisor.tailProcessStdoutLog" | "supervisor.tailProcessLog" => {
                let (spec, offset, length) = (str_param(p, 0)?, int_param(p, 1)?, int_param(p, 2)?);
                let proc = self.process(spec)?;
                let data = match proc.stdout_log().filter(|l| l.exists()) {
                    Some(path) => read_log(&path).map_err(|_| Fault::new(faults::FAILED, None))?,
                    None => return Ok(Value::Array(vec!["".into(), Value::Int(0), Value::Bool(false)])),
                };
                Ok(tail_slice(&data, offset, length))
            }
            "supervisor.tailProcessStderrLog" => {
                let spec = str_param(p, 0)?;
                self.process(spec)?;
                Ok(Value::Array(vec!["".into(), Value::Int(0), Value::Bool(false)]))
            }
            "supervisor.clearProcessLogs" | "supervisor.clearProcessLog" => {
                let spec = str_param(p, 0)?;
                let proc = self.process(spec)?;
                Err(Fault::new(faults::FAILED, Some(&proc.spec())))
            }
            "supervisor.clearAllProcessLogs" => Ok(Value::Array(
                self.procs()
                    .iter()
                    .map(|proc| result(proc, faults::FAILED, &Fault::new(faults::FAILED, Some(&proc.spec())).text))
                    .collect(),
            )),
            "supervisor.sendProcessStdin" => {
                let spec = str_param(p, 0)?;
                self.process(spec)?;
                Err(Fault::new(faults::FAILED, Some("a service's standard input is not a terminal under vigil; fg cannot reach it (use tail -f to watch its output)")))
            }
            "system.listMethods" => Ok(Value::Array(METHODS.iter().map(|m| (*m).into()).collect())),
            "system.methodHelp" => {
                let name = str_param(p, 0)?;
                if METHODS.contains(&name) {
                    Ok(format!("{name}: as supervisord's API 3.0; see vigild's docs/supervisord.md").into())
                } else {
                    Err(Fault::new(faults::SIGNATURE_UNSUPPORTED, None))
                }
            }
            "system.multicall" => {
                let Value::Array(calls) = param(p, 0)? else {
                    return Err(Fault::new(faults::INCORRECT_PARAMETERS, None));
                };
                Ok(Value::Array(calls.iter().map(|c| self.one_of_many(c)).collect()))
            }
            _ => Err(Fault::new(faults::UNKNOWN_METHOD, None)),
        }
    }

    fn one_of_many(&self, call: &Value) -> Value {
        let answer = match call.member("methodName").and_then(Value::as_str) {
            None => Err(Fault::new(
                faults::INCORRECT_PARAMETERS,
                Some("No methodName"),
            )),
            Some("system.multicall") => Err(Fault::new(
                faults::INCORRECT_PARAMETERS,
                Some("Recursive system.multicall forbidden"),
            )),
            Some(method) => match call.member("params") {
                None => self.call(method, &[]),
                Some(Value::Array(params)) => self.call(method, params),
                Some(_) => Err(Fault::new(faults::INCORRECT_PARAMETERS, None)),
            },
        };
        match answer {
            Ok(v) => v,
            Err(f) => Value::record([
                ("faultCode", Value::Int(f.code)),
                ("faultString", f.text.into()),
            ]),
        }
    }

    /// Every process as getAllProcessInfo lists them: groups, then their processes, in
    /// lexical order (`web:log` before `web`).
    fn procs_lexical(&self) -> Vec<Proc> {
        let mut procs = self.procs();
        procs.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
        procs
    }

    /// Every process in the order the `*AllProcesses` methods act: groups in lexical order,
    /// each service before its logger (supervisord: priority, then configuration order).
    fn procs(&self) -> Vec<Proc> {
        let mut groups: Vec<String> = match std::fs::read_dir(&self.scandir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| plain_name(n) && self.scandir.join(n).is_dir())
                .collect(),
            Err(_) => Vec::new(),
        };
        groups.sort();
        groups.iter().flat_map(|g| self.group(g)).collect()
    }

    /// The processes of the group `group`: the service, then its logger.
    fn group(&self, group: &str) -> Vec<Proc> {
        let dir = self.scandir.join(group);
        let mut procs = vec![Proc {
            group: group.into(),
            name: group.into(),
            dir: dir.clone(),
        }];
        if dir.join("log").is_dir() {
            procs.push(Proc {
                group: group.into(),
                name: "log".into(),
                dir: dir.join("log"),
            });
        }
        procs
    }

    fn named_group(&self, group: &str) -> Result<Vec<Proc>, Fault> {
        if plain_name(group) && self.scandir.join(group).is_dir() {
            Ok(self.group(group))
        } else {
            Err(Fault::new(faults::BAD_NAME, Some(group)))
        }
    }

    /// supervisord's `group:name`, `group:*` and `name`: the group, and the process unless
    /// the whole group was named.
    fn lookup(&self, spec: &str) -> Result<(String, Option<Proc>), Fault> {
        let bad = || Fault::new(faults::BAD_NAME, Some(spec));
        let (group, name) = match spec.split_once(':') {
            Some((g, "*")) => (g, None),
            Some((g, n)) => (g, Some(n)),
            None => (spec, Some(spec)),
        };
        let procs = self.named_group(group).map_err(|_| bad())?;
        match name {
            None => Ok((group.to_owned(), None)),
            Some(n) => match procs.into_iter().find(|p| p.name == n) {
                Some(p) => Ok((group.to_owned(), Some(p))),
                None => Err(bad()),
            },
        }
    }

    fn process(&self, spec: &str) -> Result<Proc, Fault> {
        match self.lookup(spec)? {
            (_, Some(p)) => Ok(p),
            _ => Err(Fault::new(faults::BAD_NAME, Some(spec))),
        }
    }

    fn signal_param(&self, p: &[Value], i: usize) -> Result<(String, Control), Fault> {
        let raw = match param(p, i)? {
            Value::Int(n) => n.to_string(),
            Value::Str(s) => s.clone(),
            _ => return Err(Fault::new(faults::INCORRECT_PARAMETERS, None)),
        };
        match signal_control(&raw) {
            Some(c) => Ok((raw, c)),
            None => Err(Fault::new(faults::BAD_SIGNAL, Some(&raw))),
        }
    }

    fn config_info(&self, proc: &Proc) -> Value {
        let autostart = !proc.dir.join("down").exists();
        let log = proc
            .stdout_log()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_else(|| "none".into());
        let command = proc.dir.join("run").to_string_lossy().into_owned();
        Value::record([
            ("autostart", Value::Bool(autostart)),
            ("directory", proc.dir.to_string_lossy().into_owned().into()),
            ("uid", "none".into()),
            ("command", command.into()),
            ("exitcodes", Value::Array(vec![Value::Int(0)])),
            ("group", proc.group.clone().into()),
            ("group_prio", Value::Int(999)),
            ("inuse", Value::Bool(true)),
            ("killasgroup", Value::Bool(false)),
            ("name", proc.name.clone().into()),
            ("process_prio", Value::Int(999)),
            ("redirect_stderr", Value::Bool(false)),
            ("startretries", Value::Int(0)),
            ("startsecs", Value::Int(1)),
            ("stdout_capture_maxbytes", Value::Int(0)),
            ("stdout_events_enabled", Value::Bool(false)),
            ("stdout_logfile", log.into()),
            ("stdout_logfile_backups", Value::Int(0)),
            ("stdout_logfile_maxbytes", Value::Int(0)),
            ("stdout_syslog", Value::Bool(false)),
            ("stopsignal", Value::Int(i64::from(libc::SIGTERM))),
            ("stopwaitsecs", Value::Int(0)),
            ("stderr_capture_maxbytes", Value::Int(0)),
            ("stderr_events_enabled", Value::Bool(false)),
            ("stderr_logfile", "none".into()),
            ("stderr_logfile_backups", Value::Int(0)),
            ("stderr_logfile_maxbytes", Value::Int(0)),
            ("stderr_syslog", Value::Bool(false)),
            ("serverurl", "AUTO".into()),
        ])
    }

    /// The process info struct of supervisord's getProcessInfo, every field.
    fn info(&self, proc: &Proc) -> Value {
        let status = proc.status();
        let state = proc_state(status.as_ref());
        let now = unix_now();
        let when = status.map_or(0, |s| s.when.unix_secs() as i64);
        let pid = status.map_or(0, |s| i64::from(s.pid));
        let last_exit = status
            .and_then(|s| s.ext)
            .and_then(|e| e.last_exit)
            .map(LastExit::from_wait_status);
        let ever_ran = last_exit.is_some() || pid != 0;
        let (start, stop) = match state {
            ProcState::Running | ProcState::Starting | ProcState::Stopping => (when, 0),
            _ if ever_ran => (when, when),
            _ => (0, 0),
        };
        let spawnerr = match state {
            ProcState::Fatal => {
                "run cannot be started (missing, not executable, or exec failed)".to_owned()
            }
            ProcState::Backoff => "Exited too quickly (process log may have details)".to_owned(),
            ProcState::Unknown => "supervise not running".to_owned(),
            _ => String::new(),
        };
        let description = match state {
            ProcState::Running => format!("pid {pid}, uptime {}", uptime(now - start)),
            ProcState::Fatal | ProcState::Backoff | ProcState::Unknown => spawnerr.clone(),
            ProcState::Stopped | ProcState::Exited if start != 0 => stop_time(stop),
            ProcState::Stopped | ProcState::Exited => "Not started".to_owned(),
            _ => String::new(),
        };
        let exitstatus = match last_exit {
            Some(LastExit::Code(c)) => i64::from(c),
            Some(_) => -1,
            None => 0,
        };
        let log = proc
            .stdout_log()
            .filter(|l| l.exists())
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        Value::record([
            ("name", proc.name.clone().into()),
            ("group", proc.group.clone().into()),
            ("start", Value::Int(start)),
            ("stop", Value::Int(stop)),
            ("now", Value::Int(now)),
            ("state", Value::Int(state.code())),
            ("statename", state.name().into()),
            ("spawnerr", spawnerr.into()),
            ("exitstatus", Value::Int(exitstatus)),
            ("logfile", log.clone().into()),
            ("stdout_logfile", log.into()),
            ("stderr_logfile", "".into()),
            ("pid", Value::Int(pid)),
            ("description", description.into()),
        ])
    }

    /// Runs `f` on each process, gathering supervisord's result structs.
    fn each(
        &self,
        procs: Vec<Proc>,
        f: impl Fn(&Rpc, &Proc) -> Option<Result<(), Fault>>,
    ) -> Value {
        Value::Array(
            procs
                .iter()
                .filter_map(|proc| {
                    f(self, proc).map(|r| match r {
                        Ok(()) => result(proc, faults::SUCCESS, "OK"),
                        Err(fault) => result(proc, fault.code, &fault.text),
                    })
                })
                .collect(),
        )
    }

    /// Starts or stops many processes: the control bytes go to a batch first, then the
    /// waits, so `start all` takes one `startsecs`, not one per service. `send` answers
    /// `None` for a process it leaves alone (already in the state asked).
    fn batch(
        &self,
        procs: Vec<Proc>,
        send: impl Fn(&Rpc, &Proc) -> Option<Result<Option<Pending>, Fault>>,
        wait: impl Fn(&Rpc, &Proc, Pending) -> Result<bool, Fault>,
    ) -> Value {
        let mut results = Vec::new();
        // Each pending wait holds a FIFO open: a batch stays well under the fd limit.
        for chunk in procs.chunks(BATCH) {
            let mut pending = Vec::new();
            for proc in chunk {
                match send(self, proc) {
                    None => {}
                    Some(Err(fault)) => results.push(result(proc, fault.code, &fault.text)),
                    Some(Ok(None)) => results.push(result(proc, faults::SUCCESS, "OK")),
                    Some(Ok(Some(p))) => {
                        pending.push((results.len(), proc, p));
                        results.push(Value::Nil);
                    }
                }
            }
            for (at, proc, p) in pending {
                results[at] = match wait(self, proc, p) {
                    Ok(_) => result(proc, faults::SUCCESS, "OK"),
                    Err(fault) => result(proc, fault.code, &fault.text),
                };
            }
        }
        Value::Array(results)
    }

    fn start_all(&self, procs: Vec<Proc>, wait: bool) -> Value {
        self.batch(
            procs,
            |r, proc| {
                if proc_state(proc.status().as_ref()).is_running() {
                    return None;
                }
                Some(r.start_send(proc, &proc.spec(), wait))
            },
            |r, proc, p| r.start_wait(proc, &proc.spec(), p),
        )
    }

    fn stop_all(&self, procs: Vec<Proc>, wait: bool) -> Value {
        self.batch(
            procs,
            |r, proc| {
                if !proc_state(proc.status().as_ref()).is_running() {
                    return None;
                }
                Some(r.stop_send(proc, &proc.spec(), wait))
            },
            |r, proc, p| r.stop_wait(proc, &proc.spec(), p),
        )
    }

    fn signal_if(&self, proc: &Proc, signal: &(String, Control)) -> Option<Result<(), Fault>> {
        let state = proc_state(proc.status().as_ref());
        if !matches!(
            state,
            ProcState::Running | ProcState::Starting | ProcState::Stopping
        ) {
            return None;
        }
        Some(
            self.signal(proc, &proc.spec(), signal.1, &signal.0)
                .map(|_| ()),
        )
    }

    fn signal(&self, proc: &Proc, spec: &str, control: Control, _raw: &str) -> Result<bool, Fault> {
        let status = proc.status();
        let state = proc_state(status.as_ref());
        if !matches!(
            state,
            ProcState::Running | ProcState::Starting | ProcState::Stopping
        ) || status.is_none_or(|s| s.pid == 0)
        {
            return Err(Fault::new(faults::NOT_RUNNING, Some(spec)));
        }
        proc.send(control)?;
        Ok(true)
    }

    /// `svc -u`, then (with `wait`) until ready where readiness is configured, else until
    /// the run has stayed up for `startsecs`.
    fn start(&self, proc: &Proc, spec: &str, wait: bool) -> Result<bool, Fault> {
        match self.start_send(proc, spec, wait)? {
            None => Ok(true),
            Some(pending) => self.start_wait(proc, spec, pending),
        }
    }

    /// `svc -u` after supervisord's checks; with `wait`, what [`Rpc::start_wait`] needs.
    fn start_send(&self, proc: &Proc, spec: &str, wait: bool) -> Result<Option<Pending>, Fault> {
        let status = proc.status();
        let state = proc_state(status.as_ref());
        if state == ProcState::Unknown {
            return Err(Fault::new(
                faults::FAILED,
                Some(&format!("{spec}: supervise not running")),
            ));
        }
        if state.is_running() {
            return Err(Fault::new(faults::ALREADY_STARTED, Some(spec)));
        }
        Pending::send(proc, spec, wait, Control::Up)
    }

    /// Until the run is ready where readiness is configured, else up for `startsecs`.
    fn start_wait(&self, proc: &Proc, spec: &str, pending: Pending) -> Result<bool, Fault> {
        let Pending {
            mut follower,
            deadline,
        } = pending;
        let follower = &mut follower;
        let failed = |_| Fault::new(faults::FAILED, Some(spec));
        let notifies =
            proc.dir.join("notification-fd").exists() || proc.dir.join("notify-socket").exists();
        // The pid of the run this start made, and when it was first seen.
        let mut started: Option<(u32, Instant)> = None;
        let (mut saw_up, mut died) = (false, false);
        loop {
            let Some(s) = proc.status() else {
                return Err(Fault::new(faults::SPAWN_ERROR, Some(spec)));
            };
            let state = proc_state(Some(&s));
            if state == ProcState::Fatal || state == ProcState::Backoff || died {
                return Err(Fault::new(faults::SPAWN_ERROR, Some(spec)));
            }
            if started.is_some() && !matches!(state, ProcState::Running | ProcState::Starting) {
                return Err(Fault::new(faults::ABNORMAL_TERMINATION, Some(spec)));
            }
            if matches!(state, ProcState::Running | ProcState::Starting) && s.pid != 0 {
                if started.is_some_and(|(pid, _)| pid != s.pid) {
                    return Err(Fault::new(faults::SPAWN_ERROR, Some(spec)));
                }
                // Up since the pid's start as supervise recorded it (a batch's later waits
                // count from then, not from when they look).
                let up_for = SystemTime::now()
                    .duration_since(s.when.to_system())
                    .unwrap_or_default();
                let (_, since) = *started.get_or_insert((
                    s.pid,
                    Instant::now()
                        .checked_sub(up_for)
                        .unwrap_or_else(Instant::now),
                ));
                let ready = s
                    .ext
                    .is_some_and(|e| e.state == State::Up && e.ready_at.is_some());
                if notifies && ready || !notifies && since.elapsed() >= STARTSECS {
                    return Ok(true);
                }
            }
            if Instant::now() >= deadline {
                return Err(Fault::new(
                    faults::FAILED,
                    Some(&format!(
                        "{spec}: not started after {} s",
                        WAIT_LIMIT.as_secs()
                    )),
                ));
            }
            let wake = match started {
                Some((_, since)) if !notifies => (since + STARTSECS).min(deadline),
                _ => deadline,
            }
            .min(Instant::now() + RECHECK);
            // A run that went up and down between two reads of the status shows in events.
            saw_up |= started.is_some();
            for item in follower.next(Some(wake)).map_err(failed)? {
                match item {
                    Item::Event(r) if r.event() == Some(Event::Up) => saw_up = true,
                    Item::Event(r) if r.event() == Some(Event::Down) && saw_up => died = true,
                    _ => {}
                }
            }
        }
    }

    /// `svc -d`, then (with `wait`) until the run is gone.
    fn stop(&self, proc: &Proc, spec: &str, wait: bool) -> Result<bool, Fault> {
        match self.stop_send(proc, spec, wait)? {
            None => Ok(true),
            Some(pending) => self.stop_wait(proc, spec, pending),
        }
    }

    /// `svc -d` unless it is not running; with `wait`, what [`Rpc::stop_wait`] needs.
    fn stop_send(&self, proc: &Proc, spec: &str, wait: bool) -> Result<Option<Pending>, Fault> {
        let state = proc_state(proc.status().as_ref());
        if !state.is_running() {
            return Err(Fault::new(faults::NOT_RUNNING, Some(spec)));
        }
        Pending::send(proc, spec, wait, Control::Down)
    }

    /// Until the run is gone.
    fn stop_wait(&self, proc: &Proc, spec: &str, pending: Pending) -> Result<bool, Fault> {
        let Pending {
            mut follower,
            deadline,
        } = pending;
        let failed = |_| Fault::new(faults::FAILED, Some(spec));
        loop {
            match proc.status() {
                None => return Ok(true),
                Some(s) if s.pid == 0 && !matches!(proc_state(Some(&s)), ProcState::Stopping) => {
                    return Ok(true)
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(Fault::new(
                    faults::FAILED,
                    Some(&format!(
                        "{spec}: still running after {} s",
                        WAIT_LIMIT.as_secs()
                    )),
                ));
            }
            let wake = deadline.min(Instant::now() + RECHECK);
            follower.next(Some(wake)).map_err(failed)?;
        }
    }
}

/// A start or stop sent, its wait to come: the events followed from before the control byte
/// went, and when to give up.
struct Pending {
    follower: Follower,
    deadline: Instant,
}

impl Pending {
    /// Subscribes (with `wait`), then sends `control`.
    fn send(
        proc: &Proc,
        spec: &str,
        wait: bool,
        control: Control,
    ) -> Result<Option<Pending>, Fault> {
        let follower = if wait {
            let follower = Follower::new(proc.dir.as_os_str(), None)
                .map_err(|_| Fault::new(faults::FAILED, Some(spec)))?;
            Some(follower)
        } else {
            None
        };
        proc.send(control)?;
        Ok(follower.map(|follower| Pending {
            follower,
            deadline: Instant::now() + WAIT_LIMIT,
        }))
    }
}

fn result(proc: &Proc, code: i64, description: &str) -> Value {
    Value::record([
        ("name", proc.name.clone().into()),
        ("group", proc.group.clone().into()),
        ("status", Value::Int(code)),
        ("description", description.into()),
    ])
}

/// The names `/logtail/NAME/stdout` serves: the service's log file, or `None` (404) for
/// an unknown name or a process without a log.
pub fn logtail_path(rpc: &Rpc, spec: &str) -> Option<PathBuf> {
    let proc = rpc.process(spec).ok()?;
    proc.stdout_log().filter(|l| l.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_prints_as_python_timedelta() {
        assert_eq!(uptime(5), "0:00:05");
        assert_eq!(uptime(3 * 3600 + 62), "3:01:02");
        assert_eq!(uptime(86400 + 1), "1 day, 0:00:01");
        assert_eq!(uptime(3 * 86400), "3 days, 0:00:00");
        assert_eq!(uptime(-4), "0:00:00");
    }

    #[test]
    fn labels_are_stripped() {
        let log = b"@400000006571a0b01234567a hello\nplain\n@4000000 not a label\n@400000006571a0b01234567a ";
        assert_eq!(
            strip_labels(log),
            b"hello\nplain\n@4000000 not a label\n".to_vec()
        );
    }

    #[test]
    fn read_and_tail_follow_supervisord() {
        let data = b"0123456789";
        assert_eq!(read_slice(data, -4, 0), Ok("6789".into()));
        assert_eq!(read_slice(data, -40, 0), Ok("0123456789".into()));
        assert_eq!(read_slice(data, 2, 3), Ok("234".into()));
        assert_eq!(read_slice(data, 20, 0), Ok("".into()));
        assert_eq!(
            read_slice(data, -1, 1).unwrap_err().code,
            faults::BAD_ARGUMENTS
        );
        assert_eq!(
            tail_slice(data, 0, 4),
            Value::Array(vec!["6789".into(), Value::Int(10), Value::Bool(true)])
        );
        assert_eq!(
            tail_slice(data, 10, 4),
            Value::Array(vec!["".into(), Value::Int(10), Value::Bool(false)])
        );
        assert_eq!(
            tail_slice(data, 8, 4),
            Value::Array(vec!["6789".into(), Value::Int(10), Value::Bool(false)])
        );
    }

    #[test]
    fn signals_are_svc_s() {
        assert_eq!(signal_control("HUP"), Some(Control::Hangup));
        assert_eq!(signal_control("SIGTERM"), Some(Control::Terminate));
        assert_eq!(signal_control("9"), Some(Control::Kill));
        assert_eq!(signal_control("usr1"), Some(Control::User1));
        assert_eq!(signal_control("SEGV"), None);
        assert_eq!(signal_control("nope"), None);
    }

    #[test]
    fn names_are_one_entry() {
        let dir = std::env::temp_dir().join(format!("vigild-rpc-names-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("web/log")).unwrap();
        std::fs::create_dir_all(dir.join(".hidden")).unwrap();
        let rpc = Rpc::new(&dir, None);
        for bad in [
            "..", "../web", "/etc", "web/log", ".hidden", "", "web:nope", "nope", "web:..", ":*",
        ] {
            assert_eq!(rpc.lookup(bad).unwrap_err().code, faults::BAD_NAME, "{bad}");
        }
        assert_eq!(rpc.process("web").unwrap().dir, dir.join("web"));
        assert_eq!(rpc.process("web:web").unwrap().dir, dir.join("web"));
        assert_eq!(rpc.process("web:log").unwrap().dir, dir.join("web/log"));
        assert!(rpc.lookup("web:*").unwrap().1.is_none());
        let specs: Vec<String> = rpc.procs_lexical().iter().map(Proc::spec).collect();
        assert_eq!(specs, ["web:log", "web"]);
        let specs: Vec<String> = rpc.procs().iter().map(Proc::spec).collect();
        assert_eq!(specs, ["web", "web:log"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
