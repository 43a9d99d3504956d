//! Architecture invariants of this crate, checked rather than promised: it depends on no I/O,
//! async or randomness crate and its source reads no clock, file, network, environment or
//! randomness (ARCHITECTURE.md, doc-workflow).

use std::path::Path;

/// The only dependencies the engine may have: serialization, hashing, errors, and the JSON
/// Schema validator that checks content against the DCSA standard's rules as data (with its
/// reference-fetching features off: see `jsonschema_fetches_nothing`).
const ALLOWED_DEPENDENCIES: [&str; 7] = [
    "serde",
    "serde_json",
    "canonical-json",
    "sha2",
    "hex",
    "thiserror",
    "jsonschema",
];

/// Paths whose use in the engine would make replicas disagree or block.
const FORBIDDEN_IN_SOURCE: [&str; 10] = [
    "std::fs",
    "std::net",
    "std::env",
    "std::time",
    "std::thread",
    "std::process",
    "SystemTime",
    "Instant",
    "HashMap",
    "HashSet",
];

#[test]
fn the_engine_depends_only_on_pure_crates() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .split("\n[")
        .next()
        .unwrap();
    for line in deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split(['=', '.', ' ']).next().unwrap().trim();
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name),
            "doc-workflow must stay pure, but depends on {name:?}"
        );
    }
}

/// `jsonschema`'s default features resolve `$ref`s over HTTP and from files; the engine's schema
/// has no external reference and must never fetch one, so the workspace takes it without them.
#[test]
fn jsonschema_fetches_nothing() {
    let workspace =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml"))
            .unwrap();
    let line = workspace
        .lines()
        .find(|l| l.trim_start().starts_with("jsonschema "))
        .expect("jsonschema is pinned in [workspace.dependencies]");
    assert!(
        line.contains("default-features = false") && !line.contains("features = ["),
        "jsonschema must be taken without features: {line}"
    );
}

#[test]
fn the_source_reads_no_clock_file_network_or_randomness() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for forbidden in FORBIDDEN_IN_SOURCE {
                assert!(
                    !text.contains(forbidden),
                    "{} uses {forbidden}, which the pure engine must not",
                    path.display()
                );
            }
            assert!(
                !text.contains("rand::"),
                "{} uses randomness",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "expected the engine's modules under src/");
}
