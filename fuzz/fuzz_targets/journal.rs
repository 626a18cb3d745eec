//! `cd fuzz && cargo +nightly fuzz run -O -a journal work/journal seeds/journal` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::journal(data));
