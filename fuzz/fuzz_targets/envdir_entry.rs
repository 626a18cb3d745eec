//! cargo +nightly fuzz run envdir_entry fuzz/work/envdir_entry fuzz/seeds/envdir_entry (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::envdir_entry(data));
