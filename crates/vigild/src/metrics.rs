//! `GET /metrics`: every service in Prometheus' text format (docs/man/vigild.md lists the
//! series), read from the status files at scrape time: nothing is sampled between scrapes.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use vigil_client::snapshot::Snapshot;
use vigil_proto::exit::LastExit;
use vigil_proto::status::State as RunState;

use crate::api::{error, names, resolve};

/// The states a service can be in, for `vigil_service_state`.
const STATES: [RunState; 6] = [
    RunState::Down,
    RunState::Starting,
    RunState::Up,
    RunState::Backoff,
    RunState::Finishing,
    RunState::Stopping,
];

/// What vigild itself reports beside the services.
struct Own {
    started: SystemTime,
}

/// The route.
pub fn routes(scandir: PathBuf) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::new((
            scandir,
            Own {
                started: SystemTime::now(),
            },
        )))
}

/// A label value, escaped as the text format wants (backslash, quote, newline).
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One metric family: its HELP and TYPE lines, then one sample per service that has it.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: String,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: String::new(),
        }
    }

    fn add(&mut self, labels: &str, value: f64) {
        let _ = writeln!(self.samples, "{}{{{labels}}} {value}", self.name);
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        out.push_str(&self.samples);
    }
}

fn render(scandir: &std::path::Path, own: &Own) -> String {
    let mut supervised = Family::new(
        "vigil_service_supervised",
        "gauge",
        "1 if a supervise runs on the service",
    );
    let mut up = Family::new(
        "vigil_service_up",
        "gauge",
        "1 if the service's run is running",
    );
    let mut wanted = Family::new(
        "vigil_service_wanted_up",
        "gauge",
        "1 if supervise wants the service up",
    );
    let mut ready = Family::new(
        "vigil_service_ready",
        "gauge",
        "1 if the service is up and ready",
    );
    let mut state = Family::new(
        "vigil_service_state",
        "gauge",
        "1 for the state supervise is in",
    );
    let mut seconds = Family::new(
        "vigil_service_state_seconds",
        "gauge",
        "Seconds since the service's last change of state",
    );
    let mut restarts = Family::new(
        "vigil_service_restarts_total",
        "counter",
        "Starts of run since supervise started, the first excepted",
    );
    let mut exit_code = Family::new(
        "vigil_service_last_exit_code",
        "gauge",
        "Exit code of the last run that exited by itself, -1 if none",
    );
    let mut exit_signal = Family::new(
        "vigil_service_last_exit_signal",
        "gauge",
        "Signal that ended the last run, 0 if none",
    );
    let mut backoff = Family::new(
        "vigil_service_backoff_seconds",
        "gauge",
        "Seconds until the next start while backing off",
    );
    let mut cpu = Family::new(
        "vigil_service_cpu_seconds_total",
        "counter",
        "CPU seconds of the running service's processes since its run started",
    );
    let mut memory = Family::new(
        "vigil_service_resident_memory_bytes",
        "gauge",
        "Resident memory of the running service's processes",
    );
    let mut breaches = Family::new(
        "vigil_service_limit_breaches_total",
        "counter",
        "Resource limit breaches recorded by supervise",
    );

    let mut table = None;
    let all = names(scandir);
    for name in &all {
        let Some(dir) = resolve(scandir, name) else {
            continue;
        };
        let mut look = Snapshot::take(dir.as_os_str());
        crate::api::measure(&mut look, &mut table);
        let l = format!("name=\"{}\"", label(name));
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        supervised.add(&l, flag(look.supervised == Some(true)));
        let Some(status) = look.status.as_ref() else {
            continue;
        };
        let running = status.pid != 0;
        up.add(&l, flag(running));
        wanted.add(&l, flag(status.want == vigil_proto::status::Want::Up));
        let secs = look.seconds_since(status.when) as f64;
        seconds.add(&l, secs);
        if let Some(ext) = status.ext.as_ref() {
            ready.add(
                &l,
                flag(running && ext.ready_at.is_some() && ext.state != RunState::Starting),
            );
            for s in STATES {
                state.add(&format!("{l},state=\"{}\"", s.word()), flag(ext.state == s));
            }
            restarts.add(&l, f64::from(ext.restarts));
            let (code, signal) = match ext.last_exit.map(LastExit::from_wait_status) {
                Some(LastExit::Code(c)) => (f64::from(c), 0.0),
                Some(LastExit::Signal(s)) => (-1.0, f64::from(s)),
                Some(LastExit::Other(_)) | None => (-1.0, 0.0),
            };
            exit_code.add(&l, code);
            exit_signal.add(&l, signal);
            if ext.state == RunState::Backoff {
                backoff.add(&l, look.seconds_until(ext).unwrap_or(0) as f64);
            }
        }
        if let Some((percent, bytes)) = look.usage {
            // The mean CPU share since the run started, times its age: its CPU seconds.
            cpu.add(&l, (percent / 100.0 * secs * 10.0).round() / 10.0);
            memory.add(&l, bytes as f64);
        }
        if let Some(record) = look.breaches {
            breaches.add(&l, f64::from(record.count));
        }
    }
    let mut out = String::new();
    for family in [
        &supervised,
        &up,
        &wanted,
        &ready,
        &state,
        &seconds,
        &restarts,
        &exit_code,
        &exit_signal,
        &backoff,
        &cpu,
        &memory,
        &breaches,
    ] {
        family.write(&mut out);
    }
    let _ = writeln!(
        out,
        "# HELP vigild_services Services (and loggers) under the scan directory"
    );
    let _ = writeln!(out, "# TYPE vigild_services gauge");
    let _ = writeln!(out, "vigild_services {}", all.len());
    let start = own
        .started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let _ = writeln!(
        out,
        "# HELP vigild_start_time_seconds When vigild started, Unix seconds"
    );
    let _ = writeln!(out, "# TYPE vigild_start_time_seconds gauge");
    let _ = writeln!(out, "vigild_start_time_seconds {start}");
    let _ = writeln!(out, "# HELP vigild_build_info vigild's version");
    let _ = writeln!(out, "# TYPE vigild_build_info gauge");
    let _ = writeln!(
        out,
        "vigild_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    out
}

async fn metrics(State(shared): State<Arc<(PathBuf, Own)>>) -> Response {
    let text = tokio::task::spawn_blocking(move || render(&shared.0, &shared.1)).await;
    match text {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}
