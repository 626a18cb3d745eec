//! vigil-proc: the only crate of vigil that creates children or touches signal state.
//!
//! It knows nothing of service directories. `unsafe` lives here alone, each block with the
//! reason it is sound.
#![deny(missing_docs)]

pub mod clock;
pub mod creds;
pub mod entry;
pub mod exec;
pub mod fdmap;
pub mod ids;
pub mod kill;
pub mod limits;
pub mod localtime;
pub mod reap;
pub mod reset;
pub mod signals;
pub mod spawn;
pub mod title;
pub mod wait;
