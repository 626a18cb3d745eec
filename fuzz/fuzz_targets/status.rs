//! `cd fuzz && cargo +nightly fuzz run -O -a status work/status seeds/status` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::status(data));
