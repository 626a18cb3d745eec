//! vigil-listen: runs a supervisord event listener (superlance's crashmail, memmon, httpok,
//! fatalmailbatch, or any program speaking supervisord's listener protocol) unchanged, on the
//! events of the services under a scan directory (NEW; docs/listen.md, docs/man/vigil-listen.md).
//!
//! One thread, one poll: the listener's stdout, a signalfd, an inotify watch on the scan
//! directory, one event FIFO per service (vigil-client's [`Follower`]) and the next clock tick.
//! The services' journals are the queue: records are read only when the events already taken
//! are delivered, so a slow listener holds nothing in memory and blocks no service.
#![forbid(unsafe_code)]

mod cursor;
mod mapping;
mod protocol;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Arg, ArgAction};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::Signal;
use vigil_client::follow::{self, Follower, Item};
use vigil_client::scandir::ScanDir;
use vigil_client::supervisord::{proc_state, ProcState};
use vigil_client::Service;
use vigil_proc::signals::Signals;
use vigil_proto::msg::{self, Fail};
use vigil_proto::paths;
use vigil_proto::tai::Tai64n;

use cursor::Cursor;
use mapping::{Kind, Track};
use protocol::{Phase, Said};

const PROG: &str = "vigil-listen";
/// How long the listener has to exit after TERM before it gets KILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    msg::finish(PROG, run(&args))
}

fn command() -> clap::Command {
    clap::Command::new(PROG)
        .about("Runs a supervisord event listener on the events of the services under SCANDIR")
        .arg(
            Arg::new("events")
                .short('e')
                .value_name("EVENT[,EVENT...]")
                .action(ArgAction::Append)
                .help("Send only these events (supervisord's names; default: every event)"),
        )
        .arg(
            Arg::new("url")
                .short('u')
                .value_name("URL")
                .value_parser(clap::value_parser!(OsString))
                .help(
                    "SUPERVISOR_SERVER_URL for the listener (default: unix://SCANDIR/.vigild.sock)",
                ),
        )
        .arg(
            Arg::new("name")
                .short('n')
                .value_name("NAME")
                .help("The pool name (default: PROG's base name)"),
        )
        .arg(
            Arg::new("cursor")
                .short('c')
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Where serials and the resume point persist (default: vigil-listen.cursor)"),
        )
        .arg(
            Arg::new("scandir")
                .value_name("SCANDIR")
                .required(true)
                .value_parser(clap::value_parser!(OsString)),
        )
        .arg(
            Arg::new("prog")
                .value_name("PROG")
                .required(true)
                .last(true)
                .num_args(1..)
                .value_parser(clap::value_parser!(OsString)),
        )
}

/// What the command line asks for.
struct Options {
    kinds: Vec<Kind>,
    url: Option<OsString>,
    pool: String,
    cursor: PathBuf,
    scandir: OsString,
    prog: Vec<OsString>,
}

fn options(args: &[OsString]) -> Result<Result<Options, ExitCode>, Fail> {
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return Ok(Err(ExitCode::from(if e.use_stderr() { 100 } else { 0 })));
        }
    };
    let mut kinds = Vec::new();
    let names: Vec<&String> = m
        .get_many::<String>("events")
        .into_iter()
        .flatten()
        .collect();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if !mapping::known(name) {
            return Err(Fail::usage(format!(
                "vigil-listen [-e EVENT[,EVENT...]] [-u URL] [-n NAME] [-c FILE] SCANDIR -- PROG [ARG...] (unknown event {name})"
            )));
        }
        kinds.extend(mapping::ALL.iter().filter(|k| k.matches(name)));
    }
    if names.is_empty() {
        kinds = mapping::ALL.to_vec();
    }
    let prog: Vec<OsString> = m
        .get_many::<OsString>("prog")
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let pool = match m.get_one::<String>("name") {
        Some(n) => n.clone(),
        None => {
            let argv0 = prog.first().map(|p| p.as_bytes()).unwrap_or(b"listener");
            let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or(argv0);
            mapping::names(base).0
        }
    };
    Ok(Ok(Options {
        kinds,
        url: m.get_one::<OsString>("url").cloned(),
        pool: mapping::names(pool.as_bytes()).0,
        cursor: m
            .get_one::<PathBuf>("cursor")
            .cloned()
            .unwrap_or_else(|| PathBuf::from("vigil-listen.cursor")),
        scandir: m
            .get_one::<OsString>("scandir")
            .cloned()
            .unwrap_or_default(),
        prog,
    }))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One watched service.
struct Watch {
    follower: Follower,
    process: String,
    group: String,
    track: Track,
    /// Records older than this are history, not news (a service that appeared while the
    /// listener ran or was away): skipped.
    not_before: Option<Tai64n>,
}

/// Where the cursor goes once an item is handled.
#[derive(Debug, Clone)]
struct Mark {
    dir: OsString,
    seq: u64,
    track: Track,
}

/// An event to send (or to count, if not subscribed), and the cursor after it.
#[derive(Debug, Clone)]
struct Queued {
    event: Option<(Kind, String)>,
    mark: Option<Mark>,
}

/// The running listener: its pipes and where it is in the protocol.
struct Listener {
    child: Child,
    stdin: ChildStdin,
    stdout: Option<ChildStdout>,
    buf: Vec<u8>,
    phase: Phase,
    /// The queue's front was written and awaits its RESULT.
    inflight: bool,
}

struct Listen {
    opts: Options,
    /// SCANDIR's services, followed as they come and go (inotify).
    tree: ScanDir,
    listener: Listener,
    watches: BTreeMap<OsString, Watch>,
    /// Services whose FIFO woke us: their journals are read when the queue is empty.
    dirty: BTreeSet<OsString>,
    queue: VecDeque<Queued>,
    cursor: Cursor,
    cursor_dirty: bool,
    /// The first start had no cursor: services found now begin at the present.
    fresh: bool,
    /// Records after this are news for a service the cursor does not know.
    cutoff: Tai64n,
    /// Last tick time per period (5, 60, 3600), supervisord's timeslices.
    ticks: [(Kind, u64); 3],
    /// Set once TERM was forwarded: KILL at this time.
    kill_at: Option<Instant>,
}

/// SCANDIR/NAME, joined as daemontools joins (a typed trailing slash stays).
fn below(scandir: &OsStr, name: &OsStr) -> OsString {
    let mut dir = scandir.to_os_string();
    dir.push("/");
    dir.push(name);
    dir
}

fn timeslice(period: u64, now: f64) -> u64 {
    let secs = now as u64;
    secs - secs % period
}

fn run(args: &[OsString]) -> Result<ExitCode, Fail> {
    let opts = match options(args)? {
        Ok(o) => o,
        Err(code) => return Ok(code),
    };
    let cursor_file = opts.cursor.clone();
    let loaded = Cursor::load(&cursor_file)
        .map_err(|e| Fail::unable(&e, &[b"read ", cursor_file.as_os_str().as_bytes()]))?;
    let tree = ScanDir::open(&opts.scandir)
        .map_err(|e| Fail::unable(&e, &[b"watch ", opts.scandir.as_bytes()]))?;
    // The listener first: a child started with these signals blocked would keep them blocked
    // (std's spawn does not empty the mask). Its exit before the block is found by the
    // try_wait after it.
    let listener = spawn(&opts)?;
    let signals = Signals::block(&[
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ])
    .map_err(|e| Fail::unable(&e, &[b"block signals"]))?;
    let now = unix_now();
    let fresh = loaded.is_none();
    let cutoff = match loaded.as_ref().and_then(|c| c.time) {
        Some(t) => Tai64n::from_unix(t, 0),
        None => Tai64n::now(),
    };
    let mut me = Listen {
        tree,
        listener,
        watches: BTreeMap::new(),
        dirty: BTreeSet::new(),
        queue: VecDeque::new(),
        cursor: loaded.unwrap_or_default(),
        cursor_dirty: true,
        fresh,
        cutoff,
        ticks: [
            (Kind::Tick5, timeslice(5, now)),
            (Kind::Tick60, timeslice(60, now)),
            (Kind::Tick3600, timeslice(3600, now)),
        ],
        kill_at: None,
        opts,
    };
    // compat: supervisord sends SUPERVISOR_STATE_CHANGE_RUNNING once it runs; here at each start.
    me.queue.push_back(Queued {
        event: Some((Kind::SupervisorRunning, String::new())),
        mark: None,
    });
    me.rescan();
    me.fresh = false;
    me.cutoff = Tai64n::now();
    me.run_loop(signals)
}

/// Starts PROG with pipes on its stdin and stdout, in its own process group, with the
/// environment supervisord gives a listener.
fn spawn(opts: &Options) -> Result<Listener, Fail> {
    let url = match &opts.url {
        Some(u) => u.clone(),
        None => {
            let scandir = Path::new(&opts.scandir);
            let abs = if scandir.is_absolute() {
                scandir.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|e| Fail::unable(&e, &[b"get the current directory"]))?
                    .join(scandir)
            };
            let mut u = OsString::from("unix://");
            u.push(paths::join(abs.as_os_str(), ".vigild.sock"));
            u
        }
    };
    let prog = &opts.prog[0];
    // std's spawn, for the two pipes vigil-proc's spawn does not make: it resets SIGPIPE; the
    // signal mask is still empty here (signals are blocked after the spawn).
    let mut child = Command::new(prog)
        .args(&opts.prog[1..])
        .env("SUPERVISOR_ENABLED", "1")
        .env("SUPERVISOR_SERVER_URL", url)
        .env("SUPERVISOR_PROCESS_NAME", &opts.pool)
        .env("SUPERVISOR_GROUP_NAME", &opts.pool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Fail::unable(&e, &[b"start ", prog.as_bytes()]))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Fail::internal("the listener's pipes are missing"));
    };
    let flags = fcntl(&stdout, FcntlArg::F_GETFL)
        .map_err(|e| Fail::unable(&io::Error::from(e), &[b"set up the listener's output"]))?;
    fcntl(
        &stdout,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| Fail::unable(&io::Error::from(e), &[b"set up the listener's output"]))?;
    Ok(Listener {
        child,
        stdin,
        stdout: Some(stdout),
        buf: Vec::new(),
        phase: Phase::Acknowledged,
        inflight: false,
    })
}

impl Listen {
    fn subscribed(&self, kind: Kind) -> bool {
        self.opts.kinds.contains(&kind)
    }

    fn warn(&self, parts: &[&[u8]]) {
        msg::warn(PROG, parts);
    }

    /// The services under SCANDIR now, by their names below it (`web`, `web/log`): vigil-client's
    /// list (service directories only, as svwatch and svtop follow them).
    fn services(&self) -> Vec<OsString> {
        let mut prefix = self.opts.scandir.as_bytes().to_vec();
        prefix.push(b'/');
        self.tree
            .services()
            .iter()
            .filter_map(|p| p.as_bytes().strip_prefix(&prefix[..]))
            .map(|name| OsStr::from_bytes(name).to_os_string())
            .collect()
    }

    fn rescan(&mut self) {
        let now = self.services();
        let gone: Vec<OsString> = self
            .watches
            .keys()
            .filter(|k| !now.contains(k))
            .cloned()
            .collect();
        for name in gone {
            self.watches.remove(&name);
            self.dirty.remove(&name);
            self.cursor.services.remove(&name);
            self.cursor_dirty = true;
        }
        for name in now {
            if self.watches.contains_key(&name) {
                continue;
            }
            if let Err(e) = self.add(&name) {
                msg::warn_unable(
                    PROG,
                    &e,
                    &[
                        b"follow ",
                        self.opts.scandir.as_bytes(),
                        b"/",
                        name.as_bytes(),
                    ],
                );
            }
        }
    }

    fn add(&mut self, name: &OsStr) -> io::Result<()> {
        let dir = below(&self.opts.scandir, name);
        let (process, group) = mapping::names(name.as_bytes());
        let (follower, track, not_before) = match self.cursor.services.get(name) {
            Some(&(seq, track)) => (Follower::new(&dir, Some(seq))?, track, None),
            None if self.fresh => {
                let follower = Follower::new(&dir, None)?;
                let status = Service::at(&dir)
                    .ok()
                    .and_then(|s| s.is_supervised().ok()?.then(|| s.status().ok())?);
                let track = Track::new(proc_state(status.as_ref()));
                (follower, track, None)
            }
            None => (
                Follower::new(&dir, Some(0))?,
                Track::new(ProcState::Stopped),
                Some(self.cutoff),
            ),
        };
        self.cursor
            .services
            .insert(name.to_os_string(), (follower.last_seq(), track));
        self.cursor_dirty = true;
        self.dirty.insert(name.to_os_string());
        self.watches.insert(
            name.to_os_string(),
            Watch {
                follower,
                process,
                group,
                track,
                not_before,
            },
        );
        Ok(())
    }

    /// Reads the journals of the services that woke us, into the queue.
    fn take(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for name in dirty {
            let Some(w) = self.watches.get_mut(&name) else {
                continue;
            };
            let items = match w.follower.take() {
                Ok(items) => items,
                Err(e) => {
                    msg::warn_unable(
                        PROG,
                        &e,
                        &[b"read the journal of ", w.follower.dir().as_bytes()],
                    );
                    continue;
                }
            };
            for item in items {
                let r = match item {
                    Item::Event(r) => r,
                    Item::Lost { first, last } => {
                        msg::warn(
                            PROG,
                            &[
                                w.follower.dir().as_bytes(),
                                format!(": events {first} to {last} lost (the journal keeps the last 256)").as_bytes(),
                            ],
                        );
                        continue;
                    }
                };
                let event = if w.not_before.is_some_and(|nb| r.time < nb) {
                    None
                } else {
                    mapping::on_record(&mut w.track, &w.process, &w.group, &r)
                };
                self.queue.push_back(Queued {
                    event,
                    mark: Some(Mark {
                        dir: name.clone(),
                        seq: r.seq,
                        track: w.track,
                    }),
                });
            }
        }
    }

    fn apply(&mut self, mark: Option<Mark>) {
        if let Some(m) = mark {
            if self.watches.contains_key(&m.dir) {
                self.cursor.services.insert(m.dir, (m.seq, m.track));
                self.cursor_dirty = true;
            }
        }
    }

    fn save(&mut self) {
        if !self.cursor_dirty {
            return;
        }
        match self.cursor.save(&self.opts.cursor, unix_now() as u64) {
            Ok(()) => self.cursor_dirty = false,
            Err(e) => msg::warn_unable(
                PROG,
                &e,
                &[b"write ", self.opts.cursor.as_os_str().as_bytes()],
            ),
        }
    }

    /// Moves the queue on: counts what is not subscribed, sends the front when the listener
    /// is ready, refills from the journals when empty.
    fn pump(&mut self) {
        loop {
            if self.listener.inflight || self.kill_at.is_some() {
                return;
            }
            if self.queue.is_empty() {
                if self.dirty.is_empty() {
                    self.save();
                    return;
                }
                self.take();
                continue;
            }
            let Some(front) = self.queue.front() else {
                return;
            };
            match &front.event {
                Some((kind, payload)) if self.subscribed(*kind) => {
                    if self.listener.phase != Phase::Ready {
                        return;
                    }
                    let text = protocol::envelope(
                        self.cursor.serial,
                        &self.opts.pool,
                        self.cursor.poolserial,
                        kind.name(),
                        payload,
                    );
                    self.listener.phase = Phase::Busy;
                    self.listener.inflight = true;
                    if let Err(e) = self.listener.stdin.write_all(text.as_bytes()) {
                        // The listener is gone; its exit ends vigil-listen.
                        msg::warn_unable(PROG, &e, &[b"write to the listener"]);
                    }
                    return;
                }
                Some(_) => {
                    self.cursor.serial += 1;
                    self.cursor_dirty = true;
                    let mark = self.queue.pop_front().and_then(|q| q.mark);
                    self.apply(mark);
                }
                None => {
                    let mark = self.queue.pop_front().and_then(|q| q.mark);
                    self.apply(mark);
                }
            }
        }
    }

    /// The listener answered the event in flight.
    fn result(&mut self, data: &[u8]) {
        self.listener.inflight = false;
        self.listener.phase = Phase::Acknowledged;
        if data == b"OK" {
            self.cursor.serial += 1;
            self.cursor.poolserial += 1;
            self.cursor_dirty = true;
            let mark = self.queue.pop_front().and_then(|q| q.mark);
            self.apply(mark);
            self.save();
        } else {
            // compat: supervisord sends a rejected event again.
            self.warn(&[b"the listener rejected an event; it is sent again"]);
        }
    }

    /// Enqueues the ticks whose timeslice rolled over; the time of the next one. Only the
    /// subscribed periods: a listener without ticks never wakes vigil-listen on the clock.
    fn tick(&mut self) -> Option<Instant> {
        let now = unix_now();
        let mut next = f64::MAX;
        for i in 0..self.ticks.len() {
            let (kind, last) = self.ticks[i];
            if !self.subscribed(kind) {
                continue;
            }
            let period = kind.period().unwrap_or(5);
            let this = timeslice(period, now);
            if this != last {
                self.ticks[i].1 = this;
                let payload = format!("when:{this}");
                // A listener that lags gets the newest tick of a kind, not a backlog of them.
                let pending = self
                    .queue
                    .iter_mut()
                    .skip(usize::from(self.listener.inflight))
                    .find(|q| matches!(q.event, Some((k, _)) if k == kind));
                match pending {
                    Some(q) => q.event = Some((kind, payload)),
                    None => self.queue.push_back(Queued {
                        event: Some((kind, payload)),
                        mark: None,
                    }),
                }
            }
            next = next.min((this + period) as f64);
        }
        (next < f64::MAX)
            .then(|| Instant::now() + Duration::from_secs_f64((next - now).clamp(0.0, 3600.0)))
    }

    fn stop_listener(&mut self, why: &[&[u8]]) {
        if self.kill_at.is_none() {
            if !why.is_empty() {
                self.warn(why);
            }
            let _ = vigil_proc::kill::signal_group(self.listener.child.id() as i32, libc::SIGTERM);
            let _ = vigil_proc::kill::signal_group(self.listener.child.id() as i32, libc::SIGCONT);
            self.kill_at = Some(Instant::now() + STOP_GRACE);
        }
    }

    fn read_listener(&mut self) {
        let Some(out) = self.listener.stdout.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 4096];
        loop {
            match out.read(&mut chunk) {
                Ok(0) => {
                    self.listener.stdout = None;
                    self.stop_listener(&[b"the listener closed its output"]);
                    return;
                }
                Ok(n) => self.listener.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    msg::warn_unable(PROG, &e, &[b"read from the listener"]);
                    self.listener.stdout = None;
                    self.stop_listener(&[]);
                    return;
                }
            }
            if self.listener.buf.len() > 65536 {
                break;
            }
        }
        loop {
            match protocol::parse(self.listener.phase, &mut self.listener.buf) {
                Said::More => return,
                Said::Ready => {
                    self.listener.phase = Phase::Ready;
                    self.pump();
                }
                Said::Result(data) => self.result(&data),
                Said::Garbage(bytes) => {
                    let shown: Vec<u8> = bytes
                        .iter()
                        .flat_map(|b| std::ascii::escape_default(*b))
                        .collect();
                    let phase: &[u8] = match self.listener.phase {
                        Phase::Acknowledged => b"READY",
                        Phase::Ready => b"nothing",
                        Phase::Busy => b"RESULT",
                    };
                    self.stop_listener(&[
                        b"the listener wrote \"",
                        &shown,
                        b"\" where ",
                        phase,
                        b" was due; stopping it",
                    ]);
                    return;
                }
            }
        }
    }

    fn run_loop(&mut self, mut signals: Signals) -> Result<ExitCode, Fail> {
        let mut next_tick = self.tick();
        let mut terminated = false;
        if let Ok(Some(status)) = self.listener.child.try_wait() {
            return self.finish(status, terminated);
        }
        loop {
            self.pump();
            let deadline = match (next_tick, self.kill_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // The FIFOs only while the queue is empty: otherwise their letters wait (the
            // journal holds the events) and the poll does not spin on them.
            let watch_fifos = self.queue.is_empty() && !self.listener.inflight;
            let names: Vec<OsString> = if watch_fifos {
                self.watches.keys().cloned().collect()
            } else {
                Vec::new()
            };
            let ready = {
                let mut fds = vec![signals.fd(), self.tree.fd()];
                if let Some(out) = &self.listener.stdout {
                    fds.push(out.as_fd());
                }
                let base = fds.len();
                for name in &names {
                    if let Some(w) = self.watches.get(name) {
                        fds.push(w.follower.fd());
                    }
                }
                let ready = follow::wait_readable(&fds, deadline)
                    .map_err(|e| Fail::unable(&e, &[b"wait"]))?;
                ready
                    .into_iter()
                    .map(|i| if i >= base { Some(i - base) } else { None }.ok_or(i))
                    .collect::<Vec<_>>()
            };
            for r in ready {
                match r {
                    Ok(i) => {
                        if let Some(name) = names.get(i) {
                            self.dirty.insert(name.clone());
                        }
                    }
                    Err(0) => {
                        while let Ok(Some(sig)) = signals.pending() {
                            if sig == libc::SIGTERM || sig == libc::SIGINT || sig == libc::SIGHUP {
                                terminated = true;
                                self.stop_listener(&[]);
                            }
                        }
                        match self.listener.child.try_wait() {
                            Ok(Some(status)) => return self.finish(status, terminated),
                            Ok(None) => {}
                            Err(e) => return Err(Fail::unable(&e, &[b"wait for the listener"])),
                        }
                    }
                    Err(1) => match self.tree.update() {
                        Ok(_) => self.rescan(),
                        Err(e) => {
                            msg::warn_unable(PROG, &e, &[b"watch ", self.opts.scandir.as_bytes()])
                        }
                    },
                    Err(_) => self.read_listener(),
                }
            }
            let now = Instant::now();
            if next_tick.is_some_and(|at| now >= at) {
                next_tick = self.tick();
            }
            if self.kill_at.is_some_and(|at| now >= at) {
                let _ =
                    vigil_proc::kill::signal_group(self.listener.child.id() as i32, libc::SIGKILL);
                self.kill_at = Some(now + STOP_GRACE);
            }
        }
    }

    fn finish(
        &mut self,
        status: std::process::ExitStatus,
        terminated: bool,
    ) -> Result<ExitCode, Fail> {
        self.save();
        if terminated {
            return Ok(ExitCode::SUCCESS);
        }
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            (None, None) => "ended".to_owned(),
        };
        Err(Fail::fatal(&[
            b"listener ",
            self.opts.prog[0].as_bytes(),
            b" ",
            how.as_bytes(),
        ]))
    }
}
