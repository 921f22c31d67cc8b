//! Replays the fuzz seed corpus and every input a fuzzer ever crashed on
//! (`fuzz/regressions/<target>/`) through the same checks, so plain `cargo test` keeps
//! each found bug fixed without cargo-fuzz or a nightly feature.

use std::path::{Path, PathBuf};

use keychain_metrics_invariants::{config, labels, rest, Violation};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = fuzz.join(dir).join(target);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_file() && !path.ends_with(".gitkeep") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, check: impl Fn(&[u8]) -> Result<(), Violation>) {
    let files = inputs(target);
    assert!(files.len() >= 5, "{target}: only {} seeds", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        if let Err(violation) = check(&data) {
            panic!("{}: {violation}", file.display());
        }
    }
}

#[test]
fn label_inputs_hold() {
    replay("labels", |data| {
        labels::check(&labels::decode(data)).map(|_| ())
    });
}

#[test]
fn config_inputs_hold() {
    replay("config", config::check);
}

#[test]
fn rest_inputs_hold() {
    replay("rest", |data| rest::check(&rest::decode(data)).map(|_| ()));
}
