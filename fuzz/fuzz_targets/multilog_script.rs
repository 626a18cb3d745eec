//! cargo +nightly fuzz run multilog_script fuzz/work/multilog_script fuzz/seeds/multilog_script (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vigil_fuzz::targets::multilog_script(data));
