//! `cd fuzz && cargo +nightly fuzz run -O -a envdir_entry work/envdir_entry seeds/envdir_entry` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::envdir_entry(data));
