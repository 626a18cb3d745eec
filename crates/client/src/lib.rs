//! vigil-client: drive and watch a supervised service.
//!
//! The principal type is [`Service`]: one service directory, entered once. Through it a
//! program reads the status ([`Service::status`]), sends control bytes ([`Service::send`]),
//! waits for a state ([`Service::wait`], the [`goal`] module) and follows the events
//! ([`Service::subscribe`], the [`follow`] module). [`snapshot::Snapshot`] is one look at a
//! directory as svstat takes it. What a client learns has one JSON rendering each:
//! [`snapshot::Snapshot::json`] for a status, [`follow::Item::json`] for an event, both written
//! by [`json::Value`]. svc, svstat, svok, svwait, svwatch and svtop are written on it.
//!
//! The bytes themselves (the status file, control bytes, the journal, event letters) are
//! vigil-proto's; this crate is the logic a client runs on them. It never spawns a process and
//! links nothing beyond nix and libc (and vigil-usage, to measure a running service).
//!
//! ```no_run
//! use vigil_client::Service;
//! use vigil_proto::control::Control;
//!
//! # fn main() -> std::io::Result<()> {
//! let web = Service::at("/service/web")?;
//! web.send(&[Control::Up.byte()]).map_err(std::io::Error::from)?;
//! println!("pid {}", web.status().map_err(std::io::Error::from)?.pid);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod follow;
pub mod goal;
pub mod json;
pub mod service;
pub mod snapshot;
pub mod subscription;

pub use service::Service;
