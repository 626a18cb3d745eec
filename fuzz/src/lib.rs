//! The fuzz targets' bodies (targets.rs) and the program sources they test, included by path
//! as tests/fuzz.rs includes them, so the fuzzer and stable `cargo test` run the same code.
#![allow(dead_code)]

#[path = "../../helpers/envdir_value.rs"]
mod envdir_value;
#[path = "../../multilog/pattern.rs"]
mod pattern;
#[path = "../../multilog/script.rs"]
mod script;
#[path = "../../supervise/state.rs"]
mod state;
#[path = "../targets.rs"]
pub mod targets;
