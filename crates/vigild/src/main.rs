//! vigild: every service under a scan directory, over HTTP.
//!
//! This first vigild serves supervisord's XML-RPC at `/RPC2` and the `/logtail` stream
//! (docs/supervisord.md) on unix sockets, and on loopback TCP with `--no-auth`. It reads what
//! supervise writes and writes control bytes, as svstat and svc do: it never runs anything
//! but svc's actions.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod conn;
mod gate;
mod log;
mod metrics;
mod tree;
mod web;
mod xmlrpc;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};
use nix::sys::stat::{umask, Mode};
use vigil_proto::msg::{self, Fail};

/// The program's name in messages.
const PROG: &str = "vigild";

/// Where to listen.
enum Addr {
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `HOST:PORT`.
    Tcp(SocketAddr),
}

/// A listener bound before the runtime starts.
enum Bound {
    Unix(std::os::unix::net::UnixListener, PathBuf),
    Tcp(std::net::TcpListener),
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    msg::finish(PROG, run(args))
}

fn command() -> Command {
    Command::new(PROG)
        .about("Every service under a scan directory over HTTP: supervisord's XML-RPC")
        .arg(
            Arg::new("listen")
                .long("listen")
                .value_name("ADDR")
                .action(ArgAction::Append)
                .help("unix:PATH or HOST:PORT (default unix:SCANDIR/.vigild.sock)"),
        )
        .arg(
            Arg::new("auth-file")
                .long("auth-file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("USER:PASSWORD lines (password or {SHA}hex; :ro for read-only) for TCP"),
        )
        .arg(
            Arg::new("no-auth")
                .long("no-auth")
                .action(ArgAction::SetTrue)
                .help("Serve TCP without authentication (loopback addresses only)"),
        )
        .arg(
            Arg::new("read-only")
                .long("read-only")
                .action(ArgAction::SetTrue)
                .help("Refuse (403) every request that would change a service"),
        )
        .arg(
            Arg::new("max-connections")
                .long("max-connections")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..=65536))
                .default_value("256")
                .help("Connections served at once, over every listener; more wait"),
        )
        .arg(
            Arg::new("client-timeout")
                .long("client-timeout")
                .value_name("SECS")
                .value_parser(clap::value_parser!(u32).range(1..=3600))
                .default_value("10")
                .help("How long a client may take to send a request or to read a reply"),
        )
        .arg(
            Arg::new("scandir")
                .value_name("SCANDIR")
                .required(true)
                .value_parser(clap::value_parser!(PathBuf)),
        )
}

fn parse_addr(text: &str) -> Option<Addr> {
    match text.strip_prefix("unix:") {
        Some(path) if !path.is_empty() => Some(Addr::Unix(PathBuf::from(path))),
        Some(_) => None,
        None => text.parse().ok().map(Addr::Tcp),
    }
}

fn bind(addr: &Addr) -> Result<Bound, Fail> {
    match addr {
        Addr::Unix(path) => {
            // A socket left by a vigild that died: nobody answers on it.
            if path.exists() && UnixStream::connect(path).is_err() {
                let _ = std::fs::remove_file(path);
            }
            // Mode 0600 from the start: the socket's mode is its access control.
            let old = umask(Mode::from_bits_truncate(0o177));
            let bound = std::os::unix::net::UnixListener::bind(path);
            umask(old);
            let listener = bound.map_err(|e| {
                Fail::unable(&e, &[b"listen on ", path.as_os_str().as_encoded_bytes()])
            })?;
            Ok(Bound::Unix(listener, path.clone()))
        }
        Addr::Tcp(sock) => {
            let listener = std::net::TcpListener::bind(sock)
                .map_err(|e| Fail::unable(&e, &[b"listen on ", sock.to_string().as_bytes()]))?;
            Ok(Bound::Tcp(listener))
        }
    }
}

fn run(args: Vec<OsString>) -> Result<ExitCode, Fail> {
    let matches =
        match command().try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) if !e.use_stderr() => {
                let _ = e.print();
                return Ok(ExitCode::SUCCESS);
            }
            Err(_) => return Err(Fail::usage(
                "vigild [--listen ADDR]... [--auth-file FILE] [--no-auth] [--read-only] [--max-connections N] [--client-timeout SECS] SCANDIR",
            )),
        };
    let scandir: PathBuf = matches
        .get_one::<PathBuf>("scandir")
        .cloned()
        .unwrap_or_default();
    let no_auth = matches.get_flag("no-auth");
    let max_connections = matches
        .get_one::<u32>("max-connections")
        .copied()
        .unwrap_or(256);
    let client_timeout = std::time::Duration::from_secs(u64::from(
        matches
            .get_one::<u32>("client-timeout")
            .copied()
            .unwrap_or(10),
    ));
    let read_only = matches.get_flag("read-only");
    let mut addrs = Vec::new();
    for text in matches.get_many::<String>("listen").into_iter().flatten() {
        match parse_addr(text) {
            Some(addr) => addrs.push(addr),
            None => {
                return Err(Fail::usage(format!(
                    "vigild: bad address {text}: use unix:PATH or HOST:PORT"
                )))
            }
        }
    }
    if addrs.is_empty() {
        addrs.push(Addr::Unix(scandir.join(".vigild.sock")));
    }
    let users = match matches.get_one::<PathBuf>("auth-file") {
        Some(path) => Some(std::sync::Arc::new(
            gate::Users::read(path).map_err(|why| Fail::fatal(&[why.as_bytes()]))?,
        )),
        None => None,
    };
    for addr in &addrs {
        if let Addr::Tcp(sock) = addr {
            if users.is_some() {
                continue;
            }
            if !no_auth {
                return Err(Fail::fatal(&[
                    b"a TCP listener needs --auth-file (or --no-auth on a loopback address)",
                ]));
            }
            if !sock.ip().is_loopback() {
                return Err(Fail::fatal(&[
                    b"--no-auth is for loopback addresses only: ",
                    sock.to_string().as_bytes(),
                ]));
            }
            msg::warn(
                PROG,
                &[
                    b"no authentication on ",
                    sock.to_string().as_bytes(),
                    b" (--no-auth)",
                ],
            );
        }
    }
    let std::io::Result::Ok(meta) = std::fs::metadata(&scandir) else {
        return Err(Fail::fatal(&[
            b"unable to open ",
            scandir.as_os_str().as_encoded_bytes(),
        ]));
    };
    if !meta.is_dir() {
        return Err(Fail::fatal(&[
            scandir.as_os_str().as_encoded_bytes(),
            b" is not a directory",
        ]));
    }
    let bound = addrs.iter().map(bind).collect::<Result<Vec<_>, _>>()?;

    // vigild's own log, when it runs as a vigil service: its logger's current file.
    let own_log = std::env::current_dir()
        .ok()
        .map(|d| d.join("log/main/current"));
    let (tree_tx, changes) = tree::channel();
    let scandir_for_tree = scandir.clone();
    let app = xmlrpc::routes(xmlrpc::rpc::Rpc::new(scandir.clone(), own_log), read_only)
        .merge(api::routes(scandir.clone(), read_only, changes))
        .merge(log::routes(scandir.clone()))
        .merge(metrics::routes(scandir))
        .merge(web::routes());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Fail::unable(&e, &[b"start the runtime"]))?;
    let gates = bound
        .iter()
        .map(|b| match b {
            Bound::Unix(..) => gate::Gate {
                users: None,
                read_only,
                tcp: None,
                client_timeout,
            },
            Bound::Tcp(l) => gate::Gate {
                users: users.clone(),
                read_only,
                tcp: l.local_addr().ok(),
                client_timeout,
            },
        })
        .collect();
    let limits = conn::Limits {
        permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections as usize)),
        client_timeout,
    };
    let result = runtime.block_on(async {
        tokio::spawn(tree::run(scandir_for_tree, tree_tx));
        serve(bound, gates, app, limits).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result.map(|()| ExitCode::SUCCESS)
}

/// Serves every listener until TERM or INT, then removes the unix sockets.
async fn serve(
    bound: Vec<Bound>,
    gates: Vec<gate::Gate>,
    app: axum::Router,
    limits: conn::Limits,
) -> Result<(), Fail> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Fail::unable(&e, &[b"catch TERM"]))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Fail::unable(&e, &[b"catch INT"]))?;
    let mut sockets = Vec::new();
    for (listener, gate) in bound.into_iter().zip(gates) {
        // Each listener its own gate: the unix socket's mode is its access control, a TCP
        // listener authenticates; both refuse cross-site changes.
        let app = app
            .clone()
            .layer(axum::middleware::from_fn_with_state(gate, gate::check));
        match listener {
            Bound::Unix(l, path) => {
                l.set_nonblocking(true)
                    .map_err(|e| Fail::unable(&e, &[b"listen"]))?;
                let l = tokio::net::UnixListener::from_std(l)
                    .map_err(|e| Fail::unable(&e, &[b"listen"]))?;
                sockets.push(path);
                tokio::spawn(conn::serve(l, app, limits.clone()));
            }
            Bound::Tcp(l) => {
                l.set_nonblocking(true)
                    .map_err(|e| Fail::unable(&e, &[b"listen"]))?;
                let l = tokio::net::TcpListener::from_std(l)
                    .map_err(|e| Fail::unable(&e, &[b"listen"]))?;
                tokio::spawn(conn::serve(l, app, limits.clone()));
            }
        }
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    for path in sockets {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
