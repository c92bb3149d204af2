//! Replays the fuzz corpus on the stable toolchain: every target of `fuzz/` over every file of
//! `fuzz/corpus/<target>/`, so CI runs what the fuzzers found without nightly.
//!
//! Files named `finding-*` are inputs that still crash code owned elsewhere; they are replayed
//! by the `#[ignore]`d tests below until their fix lands (then drop the `ignore`).

#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

#[path = "../../../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn files(target: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus(target))
        .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn is_finding(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("finding-"))
}

#[test]
fn every_target_survives_its_corpus() {
    for &(name, run) in targets::TARGETS {
        let files = files(name);
        assert!(!files.is_empty(), "fuzz/corpus/{name} has no seeds");
        for file in files.iter().filter(|f| !is_finding(f)) {
            let data = std::fs::read(file).unwrap();
            let caught = std::panic::catch_unwind(|| run(&data));
            assert!(caught.is_ok(), "{name} panicked on {}", file.display());
        }
    }
}

#[test]
fn every_target_has_a_corpus_folder_and_a_binary() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    for &(name, _) in targets::TARGETS {
        assert!(corpus(name).is_dir(), "no fuzz/corpus/{name}");
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "no [[bin]] {name} in fuzz/Cargo.toml"
        );
    }
}

/// Replays one finding of `target` (a file `finding-<name>` in its corpus).
#[allow(
    dead_code,
    reason = "used by the #[ignore]d finding tests, when there are any"
)]
fn replay_finding(target: &str, name: &str) {
    let run = targets::TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, run)| *run)
        .unwrap();
    let data = std::fs::read(corpus(target).join(format!("finding-{name}"))).unwrap();
    run(&data);
}
