//! supervisord's HTTP side: XML-RPC at `POST /RPC2` and the `/logtail/NAME/stdout` stream
//! that `supervisorctl tail -f` reads.

use std::convert::Infallible;
use std::io;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;

use super::codec::{self, Value};
use super::rpc::{self, Rpc};
use crate::log::Tail;

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
/// A line without an end longer than this goes out as it is.
const LONG_LINE: usize = 64 << 10;

/// Lines of the log as they come, labels stripped, made valid text.
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// The whole lines `bytes` completes (a line without an end past [`LONG_LINE`] too).
    fn feed(&mut self, bytes: &[u8]) -> Option<Bytes> {
        self.partial.extend_from_slice(bytes);
        let end = match self.partial.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if self.partial.len() > LONG_LINE => self.partial.len(),
            None => return None,
        };
        let whole: Vec<u8> = self.partial.drain(..end).collect();
        Some(Bytes::from(
            codec::xml_text(&rpc::strip_labels(&whole)).into_bytes(),
        ))
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

/// Sends the end of `path`, then what is appended to it, following multilog's rotations.
async fn follow(path: &Path, tx: &mpsc::Sender<Result<Bytes, Infallible>>) -> io::Result<()> {
    let mut tail = Tail::open(path)?;
    let mut lines = Lines {
        partial: Vec::new(),
    };
    // The first screen: the last FIRST bytes of what tail shows.
    let shown = rpc::read_log(path)?;
    let first = &shown[shown.len().saturating_sub(FIRST)..];
    send_all(tx, vec![Bytes::from(codec::xml_text(first).into_bytes())]).await?;
    loop {
        let bytes = tokio::select! {
            _ = tx.closed() => return Ok(()),
            bytes = tail.next() => bytes?,
        };
        send_all(tx, lines.feed(&bytes).into_iter().collect()).await?;
    }
}
