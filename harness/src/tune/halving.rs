//! Successive halving's two rules for dropping a point between rounds (the
//! module docs of `tune` give them and say which can be wrong).

use super::{Constraint, Plan, MARGIN, RESERVE};
use crate::metrics;
use crate::scenario::{Metric, Op, Scenario};
use crate::strategy::StrategySpec;
use crate::summary::{RunSummary, SideOutcome};
use sim::Side;
use std::time::Duration;

/// Drop the points that can no longer be recommended (module docs).
pub(super) fn prune(scenario: &Scenario, plan: &Plan, specs: &[StrategySpec], runs: &[Vec<RunSummary>], dropped: &mut [Option<String>]) {
    let n = plan.seeds.len();
    let mut looks_feasible: Vec<(usize, f64)> = Vec::new();
    for i in 0..specs.len() {
        if dropped[i].is_some() {
            continue;
        }
        if let Some(c) = plan.constraints.iter().find(|c| surely_breaks(c, scenario.horizon, &runs[i], n)) {
            dropped[i] = Some(format!("breaks {} already at {} seeds", c.text, runs[i].len()));
            continue;
        }
        let report = metrics::aggregate(&specs[i].name, specs[i].kind_name(), specs[i].transport().kind(), scenario.horizon, &runs[i]);
        if plan.constraints.iter().all(|c| c.holds(&report)) {
            if let Some(v) = plan.minimize.value(&report) {
                looks_feasible.push((i, v));
            }
        }
    }
    looks_feasible.sort_by(|a, b| a.1.total_cmp(&b.1));
    let Some(&(_, reserve)) = looks_feasible.get(RESERVE - 1) else { return };
    let limit = reserve + reserve.abs() * MARGIN;
    for &(i, v) in &looks_feasible[RESERVE..] {
        if v > limit {
            dropped[i] = Some(format!(
                "{} {v} is over 10 % worse than {RESERVE} points that look feasible at {} seeds",
                plan.minimize,
                runs[i].len()
            ));
        }
    }
}

/// Is `c` broken whatever the remaining `n - runs.len()` seeds show?
pub(super) fn surely_breaks(c: &Constraint, horizon: Duration, runs: &[RunSummary], n: usize) -> bool {
    if c.op != Op::Le {
        return false;
    }
    let side = c.metric.side.unwrap_or(Side::Client);
    let count = |f: &dyn Fn(SideOutcome) -> bool| runs.iter().flat_map(|r| r.outcomes(side)).filter(|o| f(*o)).count() as f64;
    let per_run = runs.first().map_or(1, |r| r.slots.len()) as f64;
    let (n, rest) = (n as f64, (n - runs.len()) as f64);
    let b = c.bound + 1e-9;
    let conn_hours = horizon.as_secs_f64() / 3600.0 * per_run;
    let over = |l: Duration| l.as_secs_f64() > b;
    let detections_over = count(&|o| matches!(o, SideOutcome::Detected(l) if over(l)));
    // Nearest-rank p-th percentile of m samples is sample ceil(p m / 100): it stays
    // <= b only while at most m - ceil(p m / 100) samples exceed b, and m is at
    // most one per connection of the n runs — unless connections reconnect
    // (sessions): then every new connection may add a sample, m has no bound,
    // and a percentile is never decided early.
    let samples = (n * per_run) as u64;
    let bounded = runs.iter().all(|r| r.session.is_none());
    let percentile = |p: u64| bounded && detections_over > (samples - (p * samples).div_ceil(100)) as f64;
    let nat: f64 = runs.iter().map(|r| r.expiries_while_held() as f64).sum();
    let fps = |o: SideOutcome| matches!(o, SideOutcome::FalsePositive(_));
    match c.metric.metric {
        Metric::NatExpiries => nat > b,
        Metric::NatExpiriesPerRun => nat / n > b,
        Metric::FalsePositives => count(&fps) > b,
        Metric::FalsePositivesPerRun => count(&fps) / n > b,
        Metric::Detected => count(&|o| matches!(o, SideOutcome::Detected(_))) > b,
        Metric::Undetected => count(&|o| o == SideOutcome::Undetected) > b,
        Metric::FalsePositiveRate => {
            let fp: f64 = runs.iter().flat_map(|r| &r.slots).map(|s| s.sides.iter().filter(|o| fps(o.get())).count() as f64).sum();
            let hours: f64 = runs.iter().map(RunSummary::healthy_hours).sum::<f64>() + rest * conn_hours;
            hours > 0.0 && fp * 1000.0 / hours > b
        }
        Metric::KeepalivePacketsPerHour => runs.iter().map(|r| r.keepalive_packets).sum::<u64>() as f64 / (n * conn_hours) > b,
        Metric::KeepaliveBytesPerHour => runs.iter().map(|r| r.keepalive_bytes).sum::<u64>() as f64 / (n * conn_hours) > b,
        Metric::DetectionMax => detections_over > 0.0,
        Metric::DetectionP50 => percentile(50),
        Metric::DetectionP90 => percentile(90),
        Metric::DetectionP99 => percentile(99),
        Metric::DetectionMean => false,
        // Counts only grow with more seeds; the session rates and percentiles can still move either way.
        Metric::RequestsFailed => runs.iter().filter_map(|r| r.session.as_ref()).map(|s| s.requests.failed as f64).sum::<f64>() > b,
        Metric::RequestsHung => runs.iter().filter_map(|r| r.session.as_ref()).map(|s| s.requests.hung as f64).sum::<f64>() > b,
        Metric::IdleCloses => runs.iter().map(|r| u64::from(r.idle_closes)).sum::<u64>() as f64 > b,
        _ => false,
    }
}
