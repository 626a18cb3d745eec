//! cargo +nightly fuzz run journal fuzz/work/journal fuzz/seeds/journal (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::journal(data));
