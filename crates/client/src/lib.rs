//! vigil-client: drive and watch a supervised service.
//!
//! The principal type is [`Service`]: one service directory, entered once. Through it a
//! program reads the status ([`Service::status`]), sends control bytes ([`Service::send`]),
//! waits for a state ([`Service::wait`], the [`goal`] module) and follows the events
//! ([`Service::subscribe`], the [`follow`] module). [`snapshot::Snapshot`] is one look at a
//! directory as svstat takes it. What a client learns has one JSON rendering each:
//! [`snapshot::Snapshot::json`] for a status, [`follow::Item::json`] for an event, both written
//! by [`json::Value`]. [`scandir::ScanDir`] follows the services of a scan directory as they
//! appear and disappear. svc, svstat, svok, svwait, svwatch and svtop are written on it.
//!
//! The bytes themselves (the status file, control bytes, the journal, event letters) are
//! vigil-proto's; this crate is the logic a client runs on them. It never spawns a process and
//! links nothing beyond nix and libc (and vigil-usage, to measure a running service).
//!
//! ```
//! use vigil_client::Service;
//! use vigil_proto::control::Control;
//!
//! # use vigil_proto::status::{self, Status, Want};
//! # use vigil_proto::{fifo, tai::Tai64n};
//! # fn main() -> std::io::Result<()> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path().join("web");
//! # std::fs::create_dir_all(dir.join("supervise"))?;
//! # let up = Status { when: Tai64n::now(), pid: 42, paused: false, want: Want::Up, ext: None };
//! # status::write(dir.as_os_str(), &up)?;
//! # // What supervise holds open: the read ends of supervise/ok and supervise/control.
//! # fifo::make(dir.join("supervise/ok"), 0o600)?;
//! # fifo::make(dir.join("supervise/control"), 0o600)?;
//! # let _ok = fifo::open_read(dir.join("supervise/ok"))?;
//! # let mut control = fifo::open_read(dir.join("supervise/control"))?;
//! let web = Service::at(&dir)?; // "/service/web"
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
pub mod scandir;
pub mod service;
pub mod snapshot;
pub mod subscription;
pub mod supervisord;

pub use service::Service;
