//! A few seconds of the scenario fuzzer in every test run: mutated catalogue
//! files through parse → validate → a short run must give errors or
//! results, never a panic. `cargo run --release -p harness --example fuzz --
//! 1000000 7 20000 20` is the long session (see the README).

use harness::fuzz::{fuzz, FuzzPlan};

#[test]
fn mutated_scenarios_never_panic() {
    let plan = FuzzPlan { inputs: 3000, seed: 42, budget: 20_000, run_every: 1 };
    let stats = fuzz(harness::catalogue::texts(), plan);
    let first = stats.panics.first().map(|(input, message)| format!("{message}\n{input}")).unwrap_or_default();
    assert!(stats.panics.is_empty(), "{} panics; the first:\n{first}", stats.panics.len());
    assert_eq!(stats.inputs, 3000);
    // The mutations reach past the parser: a good share validates and runs.
    assert!(stats.valid >= 60 && stats.runs >= 60, "{stats:?}");
}

/// Issue 27: the fuzzer also edits partial results given to `merge` (edited,
/// cut, resealed) and command lines; neither may panic. The edited partials
/// reach past the digest (resealed ones) to the merge and the rendering.
#[test]
fn edited_partials_and_hostile_flags_never_panic() {
    use harness::fuzz::{fuzz_target, Target};
    let plan = FuzzPlan { inputs: 2000, seed: 42, budget: 20_000, run_every: 1 };
    for target in [Target::Partials, Target::Flags] {
        let stats = fuzz_target(target, harness::catalogue::texts(), plan);
        let first = stats.panics.first().map(|(input, message)| format!("{message}\n{input}")).unwrap_or_default();
        assert!(stats.panics.is_empty(), "{target:?}: {} panics; the first:\n{first}", stats.panics.len());
        assert_eq!(stats.inputs, 2000);
        // Some inputs get past the first check (and, for partials, merge): the fuzzer reaches the code behind it.
        assert!(stats.valid >= 50, "{target:?}: {stats:?}");
        if target == Target::Partials {
            assert!(stats.runs >= 20, "{stats:?}");
        }
    }
}
