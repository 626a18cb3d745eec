//! The fuzz targets' bodies and the program sources they test, included by path (as
//! tests/fuzz.rs and supervise/main.rs include them), so the fuzzer and stable `cargo test`
//! run the same code.
//!
//! supervise's modules sit at this crate's root, as in supervise/main.rs, because its state
//! machine names them `crate::limits`, `crate::events` and so on.
#![allow(dead_code)]

#[path = "../../supervise/adopt.rs"]
mod adopt;
#[path = "../../supervise/config.rs"]
mod config;
#[path = "../../supervise/events/mod.rs"]
mod events;
#[path = "../../supervise/limits/mod.rs"]
mod limits;
#[path = "../../supervise/ready/mod.rs"]
mod ready;
#[path = "../../supervise/service.rs"]
mod service;
#[path = "../../supervise/state.rs"]
mod state;

#[path = "../../helpers/envdir_value.rs"]
mod envdir_value;
#[path = "../../multilog/pattern.rs"]
mod pattern;
#[path = "../../multilog/script.rs"]
mod script;

/// The control target's body.
#[path = "../control.rs"]
pub mod control;
/// The other targets' bodies.
#[path = "../targets.rs"]
pub mod targets;
