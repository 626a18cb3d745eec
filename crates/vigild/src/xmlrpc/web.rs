//! supervisord's HTTP side: XML-RPC at `POST /RPC2` and the `/logtail/NAME/stdout` stream
//! that `supervisorctl tail -f` reads.

use std::convert::Infallible;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::codec::{self, Value};
use super::rpc::{self, Rpc};

/// What the routes share.
#[derive(Clone)]
struct Shared {
    rpc: Arc<Rpc>,
    read_only: bool,
}

/// The routes `/RPC2` and `/logtail/...` over `rpc`; `read_only` refuses (403) every call
/// that would change a service.
pub fn routes(rpc: Rpc, read_only: bool) -> Router {
    Router::new()
        .route("/RPC2", post(rpc2))
        .route("/logtail/{name}", get(logtail_default))
        .route("/logtail/{name}/{channel}", get(logtail))
        .with_state(Shared {
            rpc: Arc::new(rpc),
            read_only,
        })
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// Whether the call (or one call of a multicall) would change a service.
pub fn changes(call: &codec::Call) -> bool {
    if Rpc::changes(&call.method) {
        return true;
    }
    if call.method != "system.multicall" {
        return false;
    }
    match call.params.first() {
        Some(Value::Array(calls)) => calls.iter().any(|c| {
            c.member("methodName")
                .and_then(Value::as_str)
                .is_some_and(Rpc::changes)
        }),
        _ => false,
    }
}

async fn rpc2(State(shared): State<Shared>, body: Bytes) -> Response {
    if body.len() > codec::MAX_BODY {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    let call = match codec::decode_call(&body) {
        Ok(call) => call,
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                &format!("bad XML-RPC request: {e}"),
            )
        }
    };
    if shared.read_only && changes(&call) {
        return plain(
            StatusCode::FORBIDDEN,
            "read-only: this call would change a service",
        );
    }
    let rpc = shared.rpc.clone();
    let answer = tokio::task::spawn_blocking(move || rpc.call(&call.method, &call.params)).await;
    let body = match answer {
        Ok(Ok(value)) => codec::encode_response(&value),
        Ok(Err(fault)) => codec::encode_fault(fault.code, &fault.text),
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

async fn logtail_default(state: State<Shared>, UrlPath(name): UrlPath<String>) -> Response {
    logtail(state, UrlPath((name, "stdout".to_owned()))).await
}

async fn logtail(
    State(shared): State<Shared>,
    UrlPath((name, channel)): UrlPath<(String, String)>,
) -> Response {
    let path = match channel.as_str() {
        "stdout" => rpc::logtail_path(&shared.rpc, &name),
        _ => None,
    };
    let Some(path) = path else {
        return plain(StatusCode::NOT_FOUND, "no such process or log");
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(async move {
        // The client went away or the log became unreadable: the stream ends.
        let _ = follow(&path, &tx).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=utf-8"),
    );
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// How much of the log `tail -f` shows first (supervisord's tail_f_producer: 1024 bytes).
const FIRST: usize = 1024;
/// The most read from the log at one wake.
const CHUNK: u64 = 64 << 10;

struct Watch(Inotify);

impl AsRawFd for Watch {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Lines of the log as they come, labels stripped, made valid text.
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, bytes: &[u8]) -> Option<Bytes> {
        self.partial.extend_from_slice(bytes);
        let end = self.partial.iter().rposition(|&b| b == b'\n')? + 1;
        let whole: Vec<u8> = self.partial.drain(..end).collect();
        if self.partial.len() > CHUNK as usize {
            // A line without an end this long goes out as it is.
            let rest = std::mem::take(&mut self.partial);
            let mut text = codec::xml_text(&rpc::strip_labels(&whole)).into_bytes();
            text.extend_from_slice(codec::xml_text(&rest).as_bytes());
            return Some(Bytes::from(text));
        }
        Some(Bytes::from(
            codec::xml_text(&rpc::strip_labels(&whole)).into_bytes(),
        ))
    }
}

fn read_more(file: &mut File, lines: &mut Lines) -> io::Result<Vec<Bytes>> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        let n = file.by_ref().take(CHUNK).read_to_end(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        if let Some(b) = lines.feed(&buf) {
            out.push(b);
        }
    }
}

async fn send_all(
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    chunks: Vec<Bytes>,
) -> io::Result<()> {
    for chunk in chunks.into_iter().filter(|c| !c.is_empty()) {
        tx.send(Ok(chunk))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
    }
    Ok(())
}

/// Sends the end of `path`, then what is appended to it, following multilog's rotation
/// (`current` renamed, a new `current` made) by inotify on its directory.
async fn follow(path: &Path, tx: &mpsc::Sender<Result<Bytes, Infallible>>) -> io::Result<()> {
    let dir: PathBuf = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    inotify.add_watch(
        &dir,
        AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF,
    )?;
    // The Watch owns the inotify descriptor for as long as it is registered.
    #[allow(deprecated)]
    let watch = AsyncFd::new(Watch(inotify))?;

    let mut lines = Lines {
        partial: Vec::new(),
    };
    let mut file = File::open(path)?;
    let mut inode = file.metadata()?.ino();
    // The first screen: the last FIRST bytes of what tail shows.
    let shown = rpc::read_log(path)?;
    let first = &shown[shown.len().saturating_sub(FIRST)..];
    send_all(tx, vec![Bytes::from(codec::xml_text(first).into_bytes())]).await?;
    file.seek(SeekFrom::End(0))?;

    loop {
        tokio::select! {
            _ = tx.closed() => return Ok(()),
            ready = watch.readable() => {
                let mut guard = ready?;
                match guard.get_inner().0.read_events() {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EAGAIN) => {
                        guard.clear_ready();
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
                guard.clear_ready();
            }
        }
        // Whatever was added to the file we hold, then a new `current` if it was rotated.
        let chunks = read_more(&mut file, &mut lines)?;
        send_all(tx, chunks).await?;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.ino() != inode {
                file = File::open(path)?;
                inode = file.metadata()?.ino();
                let chunks = read_more(&mut file, &mut lines)?;
                send_all(tx, chunks).await?;
            }
        }
    }
}
