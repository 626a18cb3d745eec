//! `GET /v1/services/{name}/log`: a service's log, from its logger's `log/main/` directory
//! (multilog's `current` and the rotated `@*.s`/`@*.u` files), each line with its TAI64N label
//! decoded as RFC 3339; `follow=true` streams new lines as server-sent events, across
//! rotations, woken by inotify.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use vigil_client::json::Value;
use vigil_proto::rfc3339;
use vigil_proto::tai::Tai64n;

use crate::api::{error, resolve};

/// The most lines one answer gives.
const MAX_LINES: usize = 10_000;
/// The most bytes read to find them (multilog's files are 99999 bytes by default).
const MAX_READ: u64 = 32 << 20;
/// The most read from `current` at one wake of a follower.
const CHUNK: u64 = 64 << 10;
/// A line longer than this goes out cut (multilog itself cuts lines at its buffer size).
const MAX_LINE: usize = 64 << 10;

/// The route.
pub fn routes(scandir: PathBuf) -> Router {
    Router::new()
        .route("/v1/services/{name}/log", get(log))
        .with_state(Arc::new(scandir))
}

/// One line as JSON: `{"time": RFC 3339 or null, "text": the line without its label}`.
fn line_json(line: &[u8], out: &mut Vec<u8>) {
    let (time, text) = split_label(line);
    Value::Object(vec![
        (
            "time",
            Value::or_null(time, |t| Value::String(rfc3339::format(&t))),
        ),
        ("text", Value::Str(text)),
    ])
    .write(out);
}

/// multilog's `t` label (`@` and 24 hex digits and a space), decoded, and the rest.
fn split_label(line: &[u8]) -> (Option<Tai64n>, &[u8]) {
    if line.len() >= 26 && line[0] == b'@' && line[25] == b' ' {
        if let Ok(t) = Tai64n::from_hex(&line[1..25]) {
            return (Some(t), &line[26..]);
        }
    }
    (None, line)
}

/// The log directory of a service: `DIR/log/main`.
fn log_dir(service: &Path) -> PathBuf {
    service.join("log/main")
}

/// The files of a multilog directory, oldest first: the rotated ones by name (their names are
/// TAI64N labels), then `current`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .filter(|n| {
                    let n = n.as_encoded_bytes();
                    n.first() == Some(&b'@') && (n.ends_with(b".s") || n.ends_with(b".u"))
                })
                .map(|n| dir.join(n))
                .collect()
        })
        .unwrap_or_default();
    rotated.sort();
    rotated.push(dir.join("current"));
    rotated
}

/// Opens a listed log file; one listed as `@....u` may since have been finished by multilog
/// (renamed `@....s`).
fn open_listed(path: &Path) -> io::Result<File> {
    match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && path.extension() == Some("u".as_ref()) => {
            File::open(path.with_extension("s"))
        }
        other => other,
    }
}

/// The last `n` lines of the directory's files, reaching back into rotated ones, oldest
/// first. multilog may rotate while they are read (`current` renamed, a new one made): then
/// they are read again, a few times at most.
fn last_lines(dir: &Path, n: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut listed = files(dir);
    for _ in 0..3 {
        let found = read_last_lines(&listed, n)?;
        let now = files(dir);
        if now == listed {
            return Ok(found);
        }
        listed = now;
    }
    read_last_lines(&listed, n)
}

/// The last `n` lines of `files` (oldest first).
fn read_last_lines(files: &[PathBuf], n: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut budget = MAX_READ;
    for path in files.iter().rev() {
        if found.len() >= n || budget == 0 {
            break;
        }
        let file = match open_listed(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(budget).read_to_end(&mut bytes)?;
        budget = budget.saturating_sub(bytes.len() as u64);
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        let want = n - found.len();
        let start = lines.len().saturating_sub(want);
        let mut older = lines.split_off(start);
        older.append(&mut found);
        found = older;
    }
    Ok(found)
}

async fn log(
    State(scandir): State<Arc<PathBuf>>,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(dir) = resolve(&scandir, &name) else {
        return error(StatusCode::NOT_FOUND, &format!("no service {name}"));
    };
    let logdir = log_dir(&dir);
    if !logdir.is_dir() {
        return error(StatusCode::NOT_FOUND, &format!("{name} has no log/main"));
    }
    let lines = match query.get("lines") {
        None => 100,
        Some(n) => match n.parse::<usize>() {
            Ok(n) => n.min(MAX_LINES),
            Err(_) => return error(StatusCode::BAD_REQUEST, "bad lines: a number"),
        },
    };
    if query.get("follow").is_some_and(|v| v == "true" || v == "1") {
        return follow(logdir.join("current"));
    }
    let read = tokio::task::spawn_blocking(move || last_lines(&logdir, lines)).await;
    let lines = match read {
        Ok(Ok(lines)) => lines,
        Ok(Err(e)) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("unable to read the log of {name}: {e}"),
            )
        }
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    };
    let mut out = b"{\"lines\":[".to_vec();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        line_json(line, &mut out);
    }
    out.extend_from_slice(b"]}\n");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(out),
    )
        .into_response()
}

fn follow(current: PathBuf) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        let _ = follow_lines(&current, &tx).await;
    });
    crate::api::event_stream(rx)
}

/// An inotify descriptor that tokio can wait on.
struct Watch(Inotify);

impl AsRawFd for Watch {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A log file followed as it grows, across multilog's rotations (`current` renamed, a new
/// `current` made), woken by inotify on its directory: what `?follow=true` and supervisord's
/// `tail -f` (`/logtail`) both read.
pub struct Tail {
    path: PathBuf,
    watch: AsyncFd<Watch>,
    file: File,
    inode: u64,
}

impl Tail {
    /// Follows `path` from its end.
    pub fn open(path: &Path) -> io::Result<Tail> {
        let dir = path
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
        // The Watch owns the inotify descriptor for as long as it is registered (AsyncFd::new
        // is deprecated for I/O safety; its replacement is unsafe, which this crate forbids).
        #[allow(deprecated)]
        let watch = AsyncFd::new(Watch(inotify))?;
        let mut file = File::open(path)?;
        let inode = file.metadata()?.ino();
        file.seek(SeekFrom::End(0))?;
        Ok(Tail {
            path: path.to_path_buf(),
            watch,
            file,
            inode,
        })
    }

    /// The next bytes added (at most [`CHUNK`]): what is left of the file held, then, once it
    /// was rotated away, the new one's; else waits for the directory to change.
    pub async fn next(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let mut buf = Vec::new();
            if self.file.by_ref().take(CHUNK).read_to_end(&mut buf)? > 0 {
                return Ok(buf);
            }
            if let Ok(meta) = std::fs::metadata(&self.path) {
                if meta.ino() != self.inode {
                    self.file = File::open(&self.path)?;
                    self.inode = self.file.metadata()?.ino();
                    continue;
                }
            }
            let mut guard = self.watch.readable().await?;
            match guard.get_inner().0.read_events() {
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Follows `current` from its end, each whole line an SSE event.
async fn follow_lines(
    current: &Path,
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
) -> io::Result<()> {
    let mut tail = Tail::open(current)?;
    let mut partial = Vec::new();
    let gone = || io::Error::from(io::ErrorKind::BrokenPipe);
    tx.send(Ok(Bytes::from_static(b": following\n\n")))
        .await
        .map_err(|_| gone())?;
    loop {
        let bytes = tokio::select! {
            _ = tx.closed() => return Ok(()),
            bytes = tail.next() => bytes?,
        };
        partial.extend_from_slice(&bytes);
        let mut out = Vec::new();
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            out.extend_from_slice(b"data: ");
            line_json(&line[..line.len() - 1], &mut out);
            out.extend_from_slice(b"\n\n");
        }
        if partial.len() > MAX_LINE {
            out.extend_from_slice(b"data: ");
            line_json(&partial, &mut out);
            out.extend_from_slice(b"\n\n");
            partial.clear();
        }
        if !out.is_empty() {
            tx.send(Ok(Bytes::from(out))).await.map_err(|_| gone())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_decode_and_other_lines_pass() {
        let mut out = Vec::new();
        line_json(b"@400000006571a0b01234567a hello", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\"time\":\"2023-12-07T"), "{text}");
        assert!(text.ends_with("\"text\":\"hello\"}"), "{text}");
        let mut out = Vec::new();
        line_json(b"@4000 short", &mut out);
        assert_eq!(out, br#"{"time":null,"text":"@4000 short"}"#);
    }

    #[test]
    fn last_lines_reach_into_rotated_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("@400000006571a0b000000000.s"), "a\nb\n").unwrap();
        std::fs::write(dir.join("@400000006571a0c000000000.u"), "c\n").unwrap();
        std::fs::write(dir.join("current"), "d\ne\n").unwrap();
        let got = |n| last_lines(dir, n).unwrap();
        assert_eq!(got(1), [b"e".to_vec()]);
        assert_eq!(got(3), [b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]);
        assert_eq!(got(9).len(), 5);
        assert_eq!(got(9)[0], b"a".to_vec());
    }
}
