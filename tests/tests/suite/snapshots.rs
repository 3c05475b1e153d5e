//! One snapshot per bundled scenario: the JSON metrics as YAML. A model or
//! strategy change that moves any number fails here until it is reviewed
//! (`cargo insta review`). CI runs with `CI=true INSTA_UPDATE=no`, so a
//! missing or changed snapshot fails instead of being written.

use harness::runner;
use harness::strategy::StrategySpec;
use std::path::Path;

#[test]
fn catalogue_metrics() {
    insta::glob!("../../../scenarios", "*.toml", |path| {
        let s = harness::scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
        let strategies: Vec<&StrategySpec> = s.strategies.iter().collect();
        let runs = runner::run_scenario(&s, &strategies, None, &|| {});
        let report = runner::scenario_report(&s, &strategies, &runs, s.seeds);
        insta::assert_yaml_snapshot!(report);
    });
}

/// A snapshot whose scenario is gone is an orphan: it would never fail again.
#[test]
fn no_orphaned_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/suite/snapshots");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut snapshots = 0;
    for e in entries.flatten() {
        snapshots += 1;
        let name = e.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_prefix("suite__snapshots__catalogue_metrics@").and_then(|n| n.strip_suffix(".toml.snap")) else {
            panic!("unexpected file in {}: {name} (orphaned or pending snapshot?)", dir.display());
        };
        let scenario = root.join("../scenarios").join(format!("{stem}.toml"));
        assert!(scenario.is_file(), "orphaned snapshot {name}: no scenarios/{stem}.toml");
    }
    // And every bundled scenario has its snapshot (the glob above makes them).
    let scenarios =
        std::fs::read_dir(root.join("../scenarios")).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "toml"));
    assert_eq!(snapshots, scenarios.count(), "snapshots in {}", dir.display());
}
