//! cargo +nightly fuzz run control fuzz/work/control fuzz/seeds/control (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::control(data));
