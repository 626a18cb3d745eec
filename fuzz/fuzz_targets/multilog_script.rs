//! `cd fuzz && cargo +nightly fuzz run -O -a multilog_script work/multilog_script seeds/multilog_script` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::multilog_script(data));
