//! Connections: how many vigild serves at once, and the deadlines a slow client meets.
//!
//! axum's own `serve` takes every connection and waits on every client for ever; vigild
//! drives hyper's HTTP/1 connection itself (the same hyper axum runs on) so that:
//! - at most `--max-connections` are served at once, over every listener: the next one waits
//!   in the kernel's backlog until one ends;
//! - a client has `--client-timeout` to send a request's head (and, idle between two
//!   requests, to start the next one), else its connection is closed; the gate gives it as
//!   long for the body (408);
//! - a request head (request line and headers) is at most [`MAX_HEAD`] bytes: 431, hyper's
//!   answer, beyond;
//! - a client that stops reading what vigild sends (a full socket for `--client-timeout`) is
//!   dropped, so a stalled event stream holds neither a connection nor memory.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

/// The largest request head (request line and headers) read, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;

/// What every listener shares.
#[derive(Clone)]
pub struct Limits {
    /// Connections served at once, over every listener.
    pub permits: Arc<Semaphore>,
    /// How long a client may stall (`--client-timeout`).
    pub client_timeout: Duration,
}

/// Serves `app` on `listener` until the runtime stops, within `limits`.
pub async fn serve<L>(mut listener: L, app: Router, limits: Limits)
where
    L: Listener,
    L::Io: Unpin,
{
    loop {
        let Ok(permit) = limits.permits.clone().acquire_owned().await else {
            return;
        };
        // Listener::accept retries by itself after an error (EMFILE: a short sleep).
        let (io, _) = listener.accept().await;
        let service = TowerToHyperService::new(app.clone());
        let timeout = limits.client_timeout;
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .max_header_size(MAX_HEAD)
                .max_buf_size(MAX_HEAD * 2);
            let io = TokioIo::new(Stalling::new(io, timeout));
            let _ = http.serve_connection(io, service).await;
            drop(permit);
        });
    }
}

/// A connection whose writes fail (`TimedOut`) once they have made no progress for `limit`.
struct Stalling<S> {
    io: S,
    limit: Duration,
    /// Running while a write waits on a full socket.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<S> Stalling<S> {
    fn new(io: S, limit: Duration) -> Stalling<S> {
        Stalling {
            io,
            limit,
            stall: None,
        }
    }

    /// What a write that returned `poll` becomes: its result, or `TimedOut` once stalled
    /// for too long.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.stall = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let limit = self.limit;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client stopped reading",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stalling<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stalling<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
