//! A few seconds of the scenario fuzzer in every test run: mutated catalogue
//! files through parse → validate → a short run must give errors or
//! results, never a panic. `cargo run --release -p harness --example fuzz --
//! 1000000 7 20000 20` is the long session (see the README).

use harness::fuzz::{fuzz, FuzzPlan};

#[test]
fn mutated_scenarios_never_panic() {
    let plan = FuzzPlan { inputs: 3000, seed: 42, budget: 20_000, run_every: 1 };
    let stats = fuzz(harness::cli::bundled_texts(), plan);
    let first = stats.panics.first().map(|(input, message)| format!("{message}\n{input}")).unwrap_or_default();
    assert!(stats.panics.is_empty(), "{} panics; the first:\n{first}", stats.panics.len());
    assert_eq!(stats.inputs, 3000);
    // The mutations reach past the parser: a good share validates and runs.
    assert!(stats.valid >= 60 && stats.runs >= 60, "{stats:?}");
}
