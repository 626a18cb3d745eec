//! The fuzz targets' bodies (fuzz/targets.rs) on stable, with every `cargo test`: over the
//! seed corpus kept in fuzz/seeds/TARGET/ and 3000 generated inputs each (fuzz/seeds.rs).
//! `cargo +nightly fuzz run TARGET` runs the same bodies for millions of inputs
//! (fuzz/README.md). The control target runs in supervise's unit tests (fuzz/control.rs).

#![allow(dead_code)]

#[path = "../helpers/envdir_value.rs"]
mod envdir_value;
#[path = "../multilog/pattern.rs"]
mod pattern;
#[path = "../multilog/script.rs"]
mod script;
#[path = "../fuzz/seeds.rs"]
mod seeds;
#[path = "../fuzz/targets.rs"]
mod targets;

use proptest::prelude::*;

fn body(target: &str) -> targets::Body {
    targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect("a target of that name")
}

#[test]
fn every_target_has_seeds_and_passes_them() {
    for (name, run) in targets::TARGETS {
        let seeds = seeds::seeds(name);
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} is empty");
        for seed in &seeds {
            run(seed);
        }
    }
}

macro_rules! generated {
    ($($test:ident: $target:literal,)*) => {$(
        proptest! {
            #![proptest_config(seeds::config())]
            #[test]
            fn $test(input in seeds::inputs($target)) {
                body($target)(&input);
            }
        }
    )*};
}

generated! {
    status_file_generated: "status",
    journal_record_generated: "journal",
    multilog_script_generated: "multilog_script",
    envdir_entry_generated: "envdir_entry",
}
