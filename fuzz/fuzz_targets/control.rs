//! `cd fuzz && cargo +nightly fuzz run -O -a control work/control seeds/control` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::control::control(data));
