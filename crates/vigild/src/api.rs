//! The JSON API under `/v1` (docs/man/vigild.md): the services of the scan directory, their
//! control, and their events as server-sent events.
//!
//! Everything goes through vigil-client, as svstat, svc and svwatch do: a status is the object
//! `svstat --json` prints plus `"name"`, an event the line `svwatch` prints, a command the
//! control byte of the matching svc letter. Nothing polls: waits and the event stream sleep on
//! the services' event FIFOs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures_util::future::select_all;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use vigil_client::follow::{Follower, Item};
use vigil_client::goal::{self, Goal, Outcome};
use vigil_client::json::Value;
use vigil_client::snapshot::Snapshot;
use vigil_client::Service;
use vigil_proto::control::Control;
use vigil_proto::tai::Tai64n;
use vigil_usage::{Reader, Table};

use crate::gate::Access;

/// The longest a `?wait=` may take, whatever `timeout_ms` asks.
const WAIT_LIMIT: Duration = Duration::from_secs(300);
/// `?wait=` without `timeout_ms`.
const WAIT_DEFAULT: Duration = Duration::from_secs(30);
/// How often `event: usage` is pushed to a stream that asked for it.
const USAGE_EVERY: Duration = Duration::from_secs(2);
/// How far before a resume cursor's time the journals are replayed: events of services read
/// in another order than they happened are sent again rather than lost (docs/man/vigild.md).
const RESUME_SLACK_SECS: u64 = 1;

/// What the routes share.
#[derive(Clone)]
struct Api {
    scandir: Arc<PathBuf>,
    read_only: bool,
    /// The services' comings and goings (crate::tree).
    changes: crate::tree::Changes,
}

/// The `/v1` routes over the services of `scandir`; `read_only` refuses (403) every command;
/// `changes` tells event streams of services added and removed.
pub fn routes(scandir: PathBuf, read_only: bool, changes: crate::tree::Changes) -> Router {
    Router::new()
        .route("/v1/services", get(list))
        .route("/v1/services/{name}", get(one))
        .route("/v1/services/{name}/{command}", post(command))
        .route("/v1/services/{name}/settings", get(settings))
        .route("/v1/whoami", get(whoami))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/events", get(events))
        .with_state(Api {
            scandir: Arc::new(scandir),
            read_only,
            changes,
        })
}

/// A JSON error reply: `{"error": text}` with `status`.
pub fn error(status: StatusCode, text: &str) -> Response {
    let mut body = Vec::new();
    Value::Object(vec![("error", Value::Str(text.as_bytes()))]).write(&mut body);
    body.push(b'\n');
    json_reply(status, body)
}

fn json_reply(status: StatusCode, body: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// Whether `name` can be one entry of the scan directory.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != ".."
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
}

/// The directory of the service `name` (`web` or `web/log`), if it is one: one entry of the
/// scan directory or its `log`, nothing deeper, no `..`.
pub fn resolve(scandir: &Path, name: &str) -> Option<PathBuf> {
    let (service, log) = match name.strip_suffix("/log") {
        Some(service) => (service, true),
        None => (name, false),
    };
    if !plain_name(service) {
        return None;
    }
    let mut dir = scandir.join(service);
    if log {
        dir.push("log");
    }
    dir.is_dir().then_some(dir)
}

/// Every service name, sorted, each service before its logger.
pub fn names(scandir: &Path) -> Vec<String> {
    let mut services: Vec<String> = match std::fs::read_dir(scandir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| {
                // The directory's own type says it without a stat, but for a symbolic link
                // (daemontools' habit: /service/web -> /etc/web), which is followed.
                e.file_type()
                    .is_ok_and(|t| t.is_dir() || (t.is_symlink() && e.path().is_dir()))
            })
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| plain_name(n))
            .collect(),
        Err(_) => Vec::new(),
    };
    services.sort();
    let mut all = Vec::with_capacity(services.len() * 2);
    for s in services {
        let log = scandir.join(&s).join("log").is_dir();
        if log {
            all.push(format!("{s}/log"));
        }
        all.insert(all.len() - usize::from(log), s);
    }
    all
}

/// How long one reading of every process's `/proc/PID/stat` serves the requests that
/// measure services: a status of 500 services then reads 500 status files, not also 1,000
/// processes. CPU is an average over the run's life, so a second-old table changes nothing
/// a client can see but the last second of memory.
const TABLE_FRESH: Duration = Duration::from_secs(1);

/// Every process's `stat`, read at most once per [`TABLE_FRESH`] by all requests together,
/// with when it was read (`fresh`: read now, whatever the age of the last reading).
fn process_table(fresh: bool) -> (Instant, Arc<Table>) {
    static CACHE: std::sync::Mutex<Option<(Instant, Arc<Table>)>> = std::sync::Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((when, table)) = cache.as_ref() {
        if !fresh && when.elapsed() < TABLE_FRESH {
            return (*when, table.clone());
        }
    }
    let read = (Instant::now(), Arc::new(Reader::new().table()));
    *cache = Some(read.clone());
    read
}

/// How old a process table may be and still be read again for a run it does not hold: a
/// stale status file's pid (a run that died) costs one reading in this time, not one per
/// service and request.
const TABLE_RETRY: Duration = Duration::from_millis(50);

/// What a service's run used, as last measured: (when, cpu percent, memory bytes), by
/// service directory and run pid.
type Measured = HashMap<(PathBuf, u32), (Instant, f64, u64)>;

/// Measures `look`'s run: from a measure of the same run less than [`TABLE_FRESH`] old (its
/// cgroup's files are not read again), else from the (shared, recent) process table and its
/// cgroup. A run younger than the table gets a fresh table (at most one per [`TABLE_RETRY`]).
pub fn measure(look: &mut Snapshot, table: &mut Option<(Instant, Arc<Table>)>) {
    static MEASURED: std::sync::Mutex<Option<Measured>> = std::sync::Mutex::new(None);
    let Some(pid) = look.running_pid() else {
        return;
    };
    let key = (PathBuf::from(look.dir), pid);
    {
        let mut measured = MEASURED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((when, cpu, memory)) = measured.get_or_insert_with(HashMap::new).get(&key) {
            if when.elapsed() < TABLE_FRESH {
                look.usage = Some((*cpu, *memory));
                return;
            }
        }
    }
    let (mut when, mut current) = table.take().unwrap_or_else(|| process_table(false));
    let known = current
        .processes()
        .binary_search_by_key(&(pid as i32), |p| p.pid)
        .is_ok();
    if !known && when.elapsed() >= TABLE_RETRY {
        (when, current) = process_table(true);
    }
    look.measure(&current);
    *table = Some((when, current));
    if let Some((cpu, memory)) = look.usage {
        let mut measured = MEASURED.lock().unwrap_or_else(|e| e.into_inner());
        let measured = measured.get_or_insert_with(HashMap::new);
        if measured.len() >= 8192 {
            // Runs that ended and services that went: only what is fresh stays.
            measured.retain(|_, (when, ..)| when.elapsed() < TABLE_FRESH);
        }
        measured.insert(key, (Instant::now(), cpu, memory));
    }
}

/// The object `svstat --json` prints for `dir`, with `"name"` first.
fn status_json(
    name: &str,
    dir: &Path,
    table: &mut Option<(Instant, Arc<Table>)>,
    out: &mut Vec<u8>,
) {
    let mut look = Snapshot::take(dir.as_os_str());
    measure(&mut look, table);
    let value = match look.json() {
        Value::Object(mut fields) => {
            fields.insert(0, ("name", Value::Str(name.as_bytes())));
            Value::Object(fields)
        }
        other => other,
    };
    value.write(out);
}

async fn list(State(api): State<Api>) -> Response {
    let scandir = api.scandir.clone();
    let body = tokio::task::spawn_blocking(move || {
        let mut table = None;
        let mut out = b"[".to_vec();
        for (i, name) in names(&scandir).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // names() gave only plain names of directories: no second look.
            status_json(name, &scandir.join(name), &mut table, &mut out);
        }
        out.extend_from_slice(b"]\n");
        out
    })
    .await;
    match body {
        Ok(body) => json_reply(StatusCode::OK, body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

async fn one(State(api): State<Api>, UrlPath(name): UrlPath<String>) -> Response {
    let Some(dir) = resolve(&api.scandir, &name) else {
        return error(StatusCode::NOT_FOUND, &format!("no service {name}"));
    };
    let body = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        status_json(&name, &dir, &mut None, &mut out);
        out.push(b'\n');
        out
    })
    .await;
    match body {
        Ok(body) => json_reply(StatusCode::OK, body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// `GET /v1/services/NAME/settings`: what the dashboard shows of a service directory's
/// readiness and limit files (crate::web::settings).
async fn settings(State(api): State<Api>, UrlPath(name): UrlPath<String>) -> Response {
    let Some(dir) = resolve(&api.scandir, &name) else {
        return error(StatusCode::NOT_FOUND, &format!("no service {name}"));
    };
    match tokio::task::spawn_blocking(move || crate::web::settings::read(&dir).to_string()).await {
        Ok(text) => json_reply(StatusCode::OK, text.into_bytes()),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// The control byte of a command word: svc's letter for it.
fn command_control(
    command: &str,
    query: &HashMap<String, String>,
) -> Result<Control, (StatusCode, String)> {
    let letter = match command {
        "up" => b'u',
        "down" => b'd',
        "once" => b'o',
        "restart" => b't',
        "pause" => b'p',
        "continue" => b'c',
        "exit" => b'x',
        "signal" => {
            let Some(name) = query.get("name") else {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "signal needs ?name=SIG (HUP ALRM INT TERM KILL QUIT USR1 USR2 WINCH ...)"
                        .into(),
                ));
            };
            return signal_control(name).ok_or_else(|| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("svc cannot send signal {name}"),
                )
            });
        }
        _ => {
            return Err((
                StatusCode::NOT_FOUND,
                format!("no command {command}: up down once restart pause continue exit signal"),
            ))
        }
    };
    Control::from_byte(letter)
        .ok_or_else(|| (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()))
}

/// The control that sends signal `name` (`HUP`, `SIGHUP` or its number), if svc can send it.
fn signal_control(name: &str) -> Option<Control> {
    let bare = name.trim();
    let bare = bare.strip_prefix("SIG").unwrap_or(bare);
    let number: Option<i32> = bare.parse().ok().or_else(|| {
        let full = format!("SIG{}", bare.to_ascii_uppercase());
        full.parse::<nix::sys::signal::Signal>()
            .ok()
            .map(|s| s as i32)
    });
    let number = number?;
    Control::ALL
        .into_iter()
        .find(|c| c.signal() == Some(number))
}

async fn command(
    State(api): State<Api>,
    UrlPath((name, command)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(dir) = resolve(&api.scandir, &name) else {
        return error(StatusCode::NOT_FOUND, &format!("no service {name}"));
    };
    let control = match command_control(&command, &query) {
        Ok(c) => c,
        Err((status, text)) => return error(status, &text),
    };
    if api.read_only {
        return error(
            StatusCode::FORBIDDEN,
            "read-only: this request would change a service",
        );
    }
    let goal = match query.get("wait").map(String::as_str) {
        None => None,
        Some("up") => Some(Goal::Up),
        Some("ready") => Some(Goal::Ready),
        Some("down") => Some(Goal::Down),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("bad wait={other}: up, ready or down"),
            )
        }
    };
    let timeout = match query.get("timeout_ms") {
        None => WAIT_DEFAULT,
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms).min(WAIT_LIMIT),
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad timeout_ms: milliseconds"),
        },
    };
    let reply = tokio::task::spawn_blocking(move || {
        let service = match Service::at(dir.as_os_str()) {
            Ok(s) => s,
            Err(e) => return error(StatusCode::NOT_FOUND, &format!("{name}: {e}")),
        };
        if let Err(e) = service.try_send(&[control.byte()]) {
            return error(
                StatusCode::CONFLICT,
                &format!("unable to control {name}: {e}"),
            );
        }
        if let Some(goal) = goal {
            let deadline = Some(Instant::now() + timeout);
            match goal::wait(&[dir.as_os_str()], goal, true, deadline) {
                Ok(Outcome::Reached) => {}
                Ok(Outcome::TimedOut) => {
                    return error(
                        StatusCode::GATEWAY_TIMEOUT,
                        &format!("{name} did not get there in time"),
                    )
                }
                Ok(Outcome::SuperviseGone(_)) | Ok(Outcome::Stopped) => {
                    return error(StatusCode::CONFLICT, &format!("supervise of {name} exited"))
                }
                Err(e) => {
                    let e = std::io::Error::from(e);
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("unable to wait for {name}: {e}"),
                    );
                }
            }
        }
        let mut out = Vec::new();
        status_json(&name, &dir, &mut None, &mut out);
        out.push(b'\n');
        json_reply(StatusCode::OK, out)
    })
    .await;
    reply.unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}

/// The OpenAPI document, kept in docs/openapi.json.
async fn openapi() -> Response {
    json_reply(
        StatusCode::OK,
        include_bytes!("../../../docs/openapi.json").to_vec(),
    )
}

async fn whoami(State(api): State<Api>, access: Option<Extension<Access>>) -> Response {
    let (user, read_only) = match &access {
        Some(Extension(a)) => (a.user.as_deref(), a.read_only || api.read_only),
        None => (None, api.read_only),
    };
    let mut out = Vec::new();
    Value::Object(vec![
        ("user", Value::or_null(user, |u| Value::Str(u.as_bytes()))),
        ("read_only", Value::Bool(read_only)),
    ])
    .write(&mut out);
    out.push(b'\n');
    json_reply(StatusCode::OK, out)
}

/// A resume cursor: the time of the last event sent (TAI64N seconds and nanoseconds).
fn cursor(time: &Tai64n) -> String {
    format!("{}.{:09}", time.secs, time.nanos)
}

fn parse_cursor(text: &str) -> Option<Tai64n> {
    let (secs, nanos) = text.trim().split_once('.')?;
    let nanos: u32 = nanos.parse().ok()?;
    (nanos < 1_000_000_000).then_some(())?;
    Some(Tai64n {
        secs: secs.parse().ok()?,
        nanos,
    })
}

/// A follower the runtime can wait on.
struct Watched {
    name: String,
    follower: Follower,
}

impl AsRawFd for Watched {
    fn as_raw_fd(&self) -> RawFd {
        self.follower.fd().as_raw_fd()
    }
}

/// One SSE event's text.
fn sse(kind: Option<&str>, id: Option<&str>, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 64);
    if let Some(kind) = kind {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.push(b'\n');
    }
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

async fn events(
    State(api): State<Api>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let only = query.get("service").cloned();
    if let Some(name) = &only {
        if resolve(&api.scandir, name).is_none() {
            return error(StatusCode::NOT_FOUND, &format!("no service {name}"));
        }
    }
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => match v.to_str().ok().and_then(parse_cursor) {
            Some(t) => Some(t),
            None => return error(StatusCode::BAD_REQUEST, "bad Last-Event-ID"),
        },
    };
    let history = query
        .get("history")
        .is_some_and(|v| v == "1" || v == "true");
    let usage = query.get("usage").is_some_and(|v| v == "1" || v == "true");
    let scandir = api.scandir.clone();
    // The whole tree follows services as they come and go; one service is just that one.
    let (names, changes) = match &only {
        Some(name) => (vec![name.clone()], None),
        None => {
            let mut changes = api.changes.clone();
            changes.mark_unchanged();
            (names(&scandir), Some(changes))
        }
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let start = Start {
        resume,
        history,
        connected: Tai64n::now(),
    };
    tokio::spawn(async move {
        let _ = stream(scandir, names, changes, start, usage, tx).await;
    });
    event_stream(rx)
}

/// A server-sent-events reply whose body is what `rx` receives, until its sender goes.
pub fn event_stream(rx: mpsc::Receiver<Result<Bytes, Infallible>>) -> Response {
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Where a stream begins.
#[derive(Clone, Copy)]
struct Start {
    /// `Last-Event-ID`: the time of the last event the client has.
    resume: Option<Tai64n>,
    /// `?history=1`: every event the journals hold.
    history: bool,
    /// When the client connected.
    connected: Tai64n,
}

impl Start {
    /// Follows `name`, with what its journal holds that this stream must send first: for a
    /// service there at the start, the history or what a resumed client missed; for one that
    /// appeared later (`later`), what happened since the client connected.
    fn follow(
        &self,
        scandir: &Path,
        name: String,
        later: bool,
        first: &mut Vec<(String, Item)>,
    ) -> Option<AsyncFd<Watched>> {
        let dir = resolve(scandir, &name)?;
        let floor = match self.resume {
            Some(t) => Some(Tai64n {
                secs: t.secs.saturating_sub(RESUME_SLACK_SECS),
                nanos: t.nanos,
            }),
            None if later => Some(self.connected),
            None if self.history => None,
            None => return Self::register(name, Follower::new(dir.as_os_str(), None).ok()?),
        };
        let mut follower = Follower::new(dir.as_os_str(), Some(0)).ok()?;
        for item in follower.take().unwrap_or_default() {
            if let Item::Event(r) = &item {
                if floor.is_none_or(|f| r.time >= f) {
                    first.push((name.clone(), item));
                }
            }
        }
        Self::register(name, follower)
    }

    fn register(name: String, follower: Follower) -> Option<AsyncFd<Watched>> {
        // AsyncFd::new is deprecated for I/O safety: its replacement is unsafe, and this crate
        // forbids unsafe code. Sound here: the FIFO is owned by the Follower that the AsyncFd
        // owns, so the descriptor lives exactly as long as its registration.
        #[allow(deprecated)]
        AsyncFd::new(Watched { name, follower }).ok()
    }
}

/// Sends, in time order, what `first` holds.
async fn send_first(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    mut first: Vec<(String, Item)>,
) -> Option<()> {
    first.sort_by_key(|(_, item)| match item {
        Item::Event(r) => r.time,
        Item::Lost { .. } => Tai64n::default(),
    });
    for (name, item) in first {
        send_item(tx, &name, &item).await?;
    }
    Some(())
}

/// Sends every event of `names` to `tx` until the client goes away; with `changes`, also
/// those of services added to the scan directory since (and stops following removed ones).
async fn stream(
    scandir: Arc<PathBuf>,
    names: Vec<String>,
    mut changes: Option<crate::tree::Changes>,
    start: Start,
    usage: bool,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) -> Option<()> {
    let mut first = Vec::new();
    let mut watched: Vec<AsyncFd<Watched>> = names
        .into_iter()
        .filter_map(|name| start.follow(&scandir, name, false, &mut first))
        .collect();
    // A comment first, so the client knows the stream is open before any event.
    tx.send(Ok(Bytes::from_static(b": vigild events\n\n")))
        .await
        .ok()?;
    if start.resume.is_none() {
        // A resume point from the start, so a client that saw no event yet loses nothing
        // when the stream breaks (an event with an id and no data sets the client's last id).
        let now = format!("id: {}\n\n", cursor(&start.connected));
        tx.send(Ok(Bytes::from(now))).await.ok()?;
    }
    send_first(&tx, first).await?;
    let mut ticker = usage.then(|| tokio::time::interval(USAGE_EVERY));
    loop {
        let ready = async {
            if watched.is_empty() {
                std::future::pending::<usize>().await
            } else {
                let waits = watched.iter().map(|w| Box::pin(w.readable()));
                let (guard, i, _) = select_all(waits).await;
                if let Ok(mut guard) = guard {
                    guard.clear_ready();
                }
                i
            }
        };
        let tick = async {
            match ticker.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let changed = async {
            if let Some(rx) = changes.as_mut() {
                if rx.changed().await.is_ok() {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = tx.closed() => return None,
            i = ready => {
                let w = watched[i].get_mut();
                let items = w.follower.take().unwrap_or_default();
                let name = w.name.clone();
                for item in items {
                    send_item(&tx, &name, &item).await?;
                }
            }
            _ = changed => {
                let now = crate::api::names(&scandir);
                watched.retain(|w| now.contains(&w.get_ref().name));
                let mut first = Vec::new();
                for name in now {
                    if !watched.iter().any(|w| w.get_ref().name == name) {
                        watched.extend(start.follow(&scandir, name, true, &mut first));
                    }
                }
                send_first(&tx, first).await?;
            }
            _ = tick => {
                let dirs: Vec<(String, PathBuf)> = watched
                    .iter()
                    .map(|w| (w.get_ref().name.clone(), PathBuf::from(w.get_ref().follower.dir())))
                    .collect();
                let body = tokio::task::spawn_blocking(move || usage_json(&dirs)).await.ok()?;
                tx.send(Ok(sse(Some("usage"), None, &body))).await.ok()?;
            }
        }
    }
}

async fn send_item(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    name: &str,
    item: &Item,
) -> Option<()> {
    let mut data = Vec::new();
    item.json(OsStr::from_bytes(name.as_bytes()))
        .write(&mut data);
    let id = match item {
        Item::Event(r) => Some(cursor(&r.time)),
        Item::Lost { .. } => None,
    };
    tx.send(Ok(sse(None, id.as_deref(), &data))).await.ok()
}

/// `{"services":[{"name":..,"cpu_percent":..,"memory_bytes":..},..]}` for `dirs`.
fn usage_json(dirs: &[(String, PathBuf)]) -> Vec<u8> {
    let mut table = None;
    let mut out = b"{\"services\":[".to_vec();
    for (i, (name, dir)) in dirs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut look = Snapshot::take(dir.as_os_str());
        measure(&mut look, &mut table);
        let (cpu, memory) = match look.usage {
            Some((cpu, memory)) => (Value::Decimal(cpu), Value::Unsigned(memory)),
            None => (Value::Null, Value::Null),
        };
        Value::Object(vec![
            ("name", Value::Str(name.as_bytes())),
            ("cpu_percent", cpu),
            ("memory_bytes", memory),
        ])
        .write(&mut out);
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_one_entry_or_its_log() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("web/log")).expect("mkdir");
        std::fs::create_dir_all(tmp.path().join("db")).expect("mkdir");
        assert!(resolve(tmp.path(), "web").is_some());
        assert!(resolve(tmp.path(), "web/log").is_some());
        assert!(resolve(tmp.path(), "db/log").is_none());
        for bad in [
            "",
            "..",
            "../web",
            "web/../db",
            "/etc",
            ".vigild.sock",
            "web/log/x",
            "x",
        ] {
            assert!(resolve(tmp.path(), bad).is_none(), "{bad:?}");
        }
        assert_eq!(names(tmp.path()), ["db", "web", "web/log"]);
    }

    #[test]
    fn signals_map_to_svc_letters() {
        for (name, byte) in [
            ("HUP", b'h'),
            ("SIGTERM", b't'),
            ("kill", b'k'),
            ("9", b'k'),
        ] {
            assert_eq!(
                signal_control(name).map(Control::byte),
                Some(byte),
                "{name}"
            );
        }
        assert!(signal_control("SEGV").is_none());
        assert!(signal_control("nonsense").is_none());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let t = Tai64n {
            secs: 0x4000_0000_6571_a0b0,
            nanos: 12,
        };
        assert_eq!(parse_cursor(&cursor(&t)), Some(t));
        for bad in ["", "1", "x.y", "1.1000000000", "1.-1", "\u{0}"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any name, cursor or signal text: an answer, never a panic, and never a path
        /// outside the scan directory's entries.
        #[test]
        fn any_name_cursor_or_signal_is_answered(text in "\\PC{0,40}", raw in ".{0,40}") {
            let tmp = std::env::temp_dir();
            if let Some(dir) = resolve(&tmp, &text) {
                proptest::prop_assert!(!text.contains("..") && !text.starts_with('/'));
                proptest::prop_assert!(dir.starts_with(&tmp));
            }
            let _ = parse_cursor(&raw);
            let _ = signal_control(&raw);
            let _ = command_control(&text, &HashMap::from([("name".to_string(), raw.clone())]));
        }
    }
}
