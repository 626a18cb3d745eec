//! vigil-proto: every byte another program can observe.
//!
//! The `supervise/` files and their paths, the control bytes, TAI64N labels, daemontools-style
//! messages with daemontools' error wording, and its getopt. Every vigil binary reads and writes
//! these through this crate, so they agree with each other and with daemontools 0.76.
//! This crate never spawns a process.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bounded;
pub mod control;
pub mod errstr;
pub mod event;
pub mod exit;
pub mod fifo;
pub mod fifodir;
pub mod getopt;
pub mod journal;
pub mod lock;
pub mod msg;
pub mod paths;
pub mod rfc3339;
pub mod status;
pub mod tai;
