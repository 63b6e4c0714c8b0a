//! Every committed corpus file, replayed through its fuzz target's oracle on
//! stable: `cargo test` re-checks every input the fuzzer ever kept.

use std::path::{Path, PathBuf};

use koophone_check::FUZZ_TARGETS;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_corpus_file_keeps_its_targets_promises() {
    let mut failures = Vec::new();
    for target in FUZZ_TARGETS {
        let dir = corpus_root().join(target.name);
        let files = files(&dir);
        assert!(
            !files.is_empty(),
            "no committed corpus for {} in {}",
            target.name,
            dir.display()
        );
        for file in files {
            let data = std::fs::read(&file).expect("a readable corpus file");
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            if outcome.is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
}

/// Each corpus directory belongs to a target, so no corpus is kept that
/// nothing replays (a renamed or removed target leaves none behind).
#[test]
fn every_corpus_directory_is_a_fuzz_target() {
    for entry in std::fs::read_dir(corpus_root()).expect("fuzz/corpus exists") {
        let name = entry.expect("a readable entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            koophone_check::fuzz_target(&name).is_some(),
            "fuzz/corpus/{name} has no target in FUZZ_TARGETS"
        );
    }
}

/// The fuzz targets in `fuzz/fuzz_targets/` are exactly the table's, so a
/// target added there is replayed here too.
#[test]
fn the_fuzz_crate_has_exactly_the_tables_targets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    let mut on_disk: Vec<String> = files(&dir)
        .iter()
        .filter_map(|path| Some(path.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    on_disk.sort();
    let mut table: Vec<&str> = FUZZ_TARGETS.iter().map(|t| t.name).collect();
    table.sort_unstable();
    assert_eq!(on_disk, table);
}
