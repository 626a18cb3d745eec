//! The fuzz targets' bodies (fuzz/targets.rs) on stable, with every `cargo test`: over the
//! seed corpus kept in fuzz/seeds/TARGET/ and a few thousand generated inputs (random bytes,
//! and seeds with bytes changed, cut or repeated). `cargo +nightly fuzz run TARGET` runs the same
//! bodies for millions of inputs (fuzz/README.md).

#![allow(dead_code)]

#[path = "../helpers/envdir_value.rs"]
mod envdir_value;
#[path = "../multilog/pattern.rs"]
mod pattern;
#[path = "../multilog/script.rs"]
mod script;
#[path = "../supervise/state.rs"]
mod state;
#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::PathBuf;

use proptest::prelude::*;

/// The seed inputs of `target`, each file's bytes.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("seed entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("seed file"))
        .collect()
}

fn body(target: &str) -> fn(&[u8]) {
    targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect("a target of that name")
}

#[test]
fn every_target_has_seeds_and_passes_them() {
    for (name, run) in targets::TARGETS {
        let seeds = seeds(name);
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} is empty");
        for seed in &seeds {
            run(seed);
        }
    }
}

/// Inputs for `target`: random bytes, or one of its seeds with a few bytes changed, cut short
/// or a piece repeated (so the generated inputs reach past the first checks).
fn inputs(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(target);
    let mutated = (
        0..seeds.len(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        any::<usize>(),
        any::<bool>(),
    )
        .prop_map(move |(i, changes, cut, repeat)| {
            let mut input = seeds[i].clone();
            if !input.is_empty() {
                for (at, byte) in changes {
                    let len = input.len();
                    input[at % len] = byte;
                }
                if repeat {
                    let piece = input[..(cut % input.len()) + 1].to_vec();
                    input.extend_from_slice(&piece);
                } else if cut % 4 == 0 {
                    input.truncate(cut % (input.len() + 1));
                }
            }
            input
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..400), mutated]
}

macro_rules! generated {
    ($($test:ident: $target:literal,)*) => {$(
        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $test(input in inputs($target)) {
                body($target)(&input);
            }
        }
    )*};
}

generated! {
    status_file_generated: "status",
    journal_record_generated: "journal",
    control_bytes_generated: "control",
    multilog_script_generated: "multilog_script",
    envdir_entry_generated: "envdir_entry",
}
