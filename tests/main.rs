//! vigil's integration tests: one binary, a module per program. They run this build's binaries
//! by absolute path (CARGO_BIN_EXE_*), never through PATH.

mod cgroup;
mod fuzz;
mod helpers;
mod interop_supervise;
mod limits;
mod multilog;
mod observe;
mod startup;
mod supervise;
mod svc;
mod svok;
mod svscan;
mod svstat;
mod svtop;
mod tai64n;
mod util;
