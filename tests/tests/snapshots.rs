//! One snapshot per bundled scenario: the JSON metrics as YAML. A model or
//! strategy change that moves any number fails here until it is reviewed
//! (`cargo insta review`). CI runs with `CI=true INSTA_UPDATE=no`, so a
//! missing or changed snapshot fails instead of being written.

use harness::runner;
use harness::strategy::StrategySpec;
use std::path::Path;

#[test]
fn catalogue_metrics() {
    insta::glob!("../../scenarios", "*.toml", |path| {
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
    let dir = root.join("tests/snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_prefix("snapshots__catalogue_metrics@").and_then(|n| n.strip_suffix(".toml.snap")) else {
            panic!("unexpected file in {}: {name} (orphaned or pending snapshot?)", dir.display());
        };
        let scenario = root.join("../scenarios").join(format!("{stem}.toml"));
        assert!(scenario.is_file(), "orphaned snapshot {name}: no scenarios/{stem}.toml");
    }
}
