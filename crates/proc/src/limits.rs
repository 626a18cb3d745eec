//! Soft resource limits, as daemontools' softlimit sets them.

use std::io;

pub use nix::sys::resource::Resource;
use nix::sys::resource::{getrlimit, setrlimit};

/// The soft limit wanted for a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soft {
    /// As high as the hard limit allows (softlimit's `=`).
    Hard,
    /// This value, lowered to the hard limit if above it.
    Value(u64),
}

/// Which call failed, since softlimit names it in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the current limits.
    Get,
    /// Setting the new soft limit.
    Set,
}

/// Sets the soft limit of `resource`, keeping its hard limit.
///
/// compat: a value above the hard limit is lowered to it rather than refused, as daemontools'
/// softlimit does, so a run script asking for "a lot" still starts.
pub fn set_soft(resource: Resource, soft: Soft) -> Result<(), (Step, io::Error)> {
    let (_, hard) = getrlimit(resource).map_err(|e| (Step::Get, e.into()))?;
    let soft = match soft {
        Soft::Hard => hard,
        Soft::Value(v) => v.min(hard),
    };
    setrlimit(resource, soft, hard).map_err(|e| (Step::Set, e.into()))
}
