//! The seed corpus (fuzz/seeds/TARGET/) and the inputs generated from it, for the stable tests
//! of the fuzz targets' bodies (tests/fuzz.rs, and supervise's unit tests for control).

use std::path::PathBuf;

use proptest::prelude::*;

/// The seed inputs of `target`, each file's bytes, in name order.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
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

/// 3000 cases a target, no regression files (a failure goes into fuzz/seeds/ by hand).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Inputs for `target`: random bytes, or one of its seeds with a few bytes changed, cut short
/// or a piece repeated (so the generated inputs reach past the first checks).
pub fn inputs(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
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
