//! Architecture invariants of this crate, checked rather than promised (ARCHITECTURE.md,
//! replication): the replication core replicates opaque payloads, so neither it nor a workspace
//! crate it builds on may depend on the document ledger's crates; and the simulator, a
//! tests-only crate, is never part of the `silkline` binary.

use std::path::{Path, PathBuf};

/// What only the document ledger may know: the workflow rules, its store, its compression.
const LEDGER_ONLY: [&str; 4] = ["doc-workflow", "ledger", "sled", "zstd"];
/// Nor does the replication core itself read or write JSON: its payloads are opaque bytes
/// (`pki`, which it uses for node identities, reads JSON for its own reasons).
const NOT_IN_REPLICATION: [&str; 1] = ["serde_json"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The names in a manifest's `[dependencies]` table, with the path of each workspace crate.
fn dependencies(crate_dir: &Path) -> Vec<(String, Option<PathBuf>)> {
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let Some(table) = manifest.split("\n[dependencies]\n").nth(1) else {
        return Vec::new();
    };
    let table = table.split("\n[").next().unwrap();
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let name = line
                .split(['=', '.', ' '])
                .next()
                .unwrap()
                .trim()
                .to_owned();
            let path = line
                .split("path = \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(|p| crate_dir.join(p));
            (name, path)
        })
        .collect()
}

#[test]
fn the_replication_core_depends_on_nothing_of_the_document_ledger() {
    let mut to_check = vec![(String::from("replication"), workspace().join("replication"))];
    let mut checked = 0;
    while let Some((name, dir)) = to_check.pop() {
        checked += 1;
        for (dep, path) in dependencies(&dir) {
            assert!(
                !LEDGER_ONLY.contains(&dep.as_str()),
                "{name} (built into replication) depends on {dep:?}, which only the ledger may know"
            );
            assert!(
                name != "replication" || !NOT_IN_REPLICATION.contains(&dep.as_str()),
                "replication depends on {dep:?}: its payloads are opaque bytes"
            );
            // A workspace crate, by its own path or through `[workspace.dependencies]`.
            let member = path.unwrap_or_else(|| workspace().join(&dep));
            if member.join("Cargo.toml").exists() {
                to_check.push((dep, member));
            }
        }
    }
    // replication itself, pki, canonical-json: the walk reached the workspace crates it uses.
    assert!(checked >= 3, "only {checked} manifests checked");
}

#[test]
fn the_simulator_is_never_a_dependency_of_a_crate_that_ships() {
    for shipped in [
        "replication",
        "ledger",
        "graphql",
        "adapters",
        "node",
        "pki",
        "doc-workflow",
    ] {
        let deps = dependencies(&workspace().join(shipped));
        assert!(!deps.is_empty(), "{shipped} has a [dependencies] table");
        assert!(
            deps.iter().all(|(name, _)| name != "sim"),
            "{shipped} depends on the tests-only sim crate"
        );
    }
}
