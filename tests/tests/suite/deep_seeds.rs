//! The catalogue's expectations are claims about a policy, not about the
//! scenario's default seeds. Run every bundled scenario at 200 seeds (5–20×
//! its default) and hold every claim: a bound that only the first 20 seeds
//! satisfy is a bound on luck. (This found four: keepalive bounds that forgot a
//! request written into the silence hands the connection to tcp_retries2, and
//! "no false positives" claims that were true for 99 % of runs.)

use harness::check;
use harness::runner;
use harness::strategy::StrategySpec;

const SEEDS: u64 = 200;

#[test]
fn every_expectation_holds_at_200_seeds() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let paths = harness::scenario::discover(&[concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios").into()]).expect("scenarios/");
    for path in paths {
        let s = harness::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let strategies: Vec<&StrategySpec> = s.strategies.iter().collect();
        let runs = runner::run_scenario(&s, &strategies, Some(SEEDS), &|| {});
        let report = runner::scenario_report(&s, &strategies, &runs, SEEDS);
        for c in check::check(&s, &report.strategies, &runs, 3) {
            checked += 1;
            if !c.passed {
                failures.push(format!("{} (seeds {:?})", c.describe(), c.seeds));
            }
        }
    }
    assert!(checked >= 59, "only {checked} expectations found");
    assert!(failures.is_empty(), "at {SEEDS} seeds:\n{}", failures.join("\n"));
}
