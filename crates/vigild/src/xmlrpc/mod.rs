//! supervisord compatibility: its XML-RPC API 3.0 at `POST /RPC2` and the `/logtail` stream,
//! so that Debian's unchanged supervisorctl drives the services of the scan directory
//! (docs/supervisord.md).
//!
//! - [`codec`]: the XML-RPC wire format on quick-xml (bounded, no entity expansion);
//! - [`rpc`]: the methods, over the files supervise writes (vigil-client), acting only by
//!   svc's control bytes;
//! - `web`: the two routes, merged into vigild's router by [`routes`].

pub mod codec;
pub mod rpc;
mod web;

pub use web::{changes, routes};
