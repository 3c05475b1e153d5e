//! Successive halving (`kasim tune --halving`) must not change the answer on
//! the strategies users actually tune. For every strategy of the bundled
//! catalogue with a timing parameter, sweep it from half to twice its value
//! (5 points), require few false positives and no NAT expiries, minimise
//! keepalive packets per hour, and compare halving with the exhaustive grid.

use harness::runner;
use harness::strategy::StrategySpec;
use harness::tune::{self, Plan};
use harness::units::{format_duration, parse_duration};

/// The parameter that sets a kind's pace.
fn pace(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "tcp_keepalive" => "idle",
        "app_ping" | "live_ping" | "ssh" | "phi_accrual" => "interval",
        "grpc" => "time",
        "mqtt" => "keep_alive",
        "amqp" => "heartbeat",
        "redis" => "tcp_keepalive",
        "erlang" => "net_ticktime",
        _ => return None,
    })
}

fn sweep(st: &StrategySpec) -> Option<String> {
    let param = pace(st.kind_name())?;
    let base = parse_duration(st.params().get(param)?).ok()?;
    if base.is_zero() {
        return None;
    }
    // Whole seconds, at least 10 s (gRPC's floor), so every kind accepts them.
    let values: Vec<String> = [0.5, 0.75, 1.0, 1.5, 2.0]
        .iter()
        .map(|f| format_duration(std::time::Duration::from_secs(((base.as_secs_f64() * f).round() as u64).max(10))))
        .collect();
    let mut values = values;
    values.dedup();
    Some(format!("{param}={}", values.join(",")))
}

#[test]
fn halving_keeps_the_exhaustive_recommendation_on_the_catalogue() {
    let paths = harness::scenario::discover(&[concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios").into()]).expect("scenarios/");
    let require = ["false_positives_per_1000_conn_hours<=1".to_string(), "nat_expiries_per_run<=0".to_string()];
    let (mut cases, mut recommended, mut full_runs, mut half_runs) = (0, 0, 0, 0);
    for path in paths {
        let s = harness::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        for st in &s.strategies {
            let Some(vary) = sweep(st) else { continue };
            let seeds = runner::seeds(&s, Some(32));
            let plan = |halving| {
                Plan::new(st, std::slice::from_ref(&vary), &require, "keepalive_packets_per_hour", seeds.clone(), halving).unwrap()
            };
            let full = tune::tune(&s, &plan(false), &|| {});
            let half = tune::tune(&s, &plan(true), &|| {});
            let name = |t: &tune::Tuned| t.recommended.map(|i| t.points[i].values.clone());
            assert_eq!(name(&half), name(&full), "{} / {} ({vary})", s.name, st.name);
            if let Some(i) = full.recommended {
                recommended += 1;
                assert_eq!(half.points[i].report, full.points[i].report, "{} / {}: the survivor ran every seed", s.name, st.name);
            }
            cases += 1;
            full_runs += full.runs;
            half_runs += half.runs;
        }
    }
    // Every scenario but the live ones has a tunable strategy.
    assert!(cases >= 25, "{cases} strategies tuned");
    eprintln!("halving: {cases} strategies ({recommended} with a feasible point), {half_runs} runs instead of {full_runs}");
    // Most strategies have a feasible point to find: the comparison is not of two empty answers.
    assert!(recommended * 2 > cases, "{recommended} of {cases}");
    assert!(half_runs < full_runs);
    // The README's figures: a change to the catalogue or to the rules changes
    // them, and the README's "Successive halving" paragraph with them.
    assert_eq!((cases, recommended, half_runs, full_runs), (59, 40, 4212, 8480), "update the README's halving figures");
}
