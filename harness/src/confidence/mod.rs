//! How sure a figure is: a 95 % interval on every metric estimated from
//! seeds (`ci95` in the JSON), `[[expect]] confidence` verdicts, and the
//! seeds an undecided one would need.
//!
//! Why exact intervals and not ±2 standard errors: kasim's figures are very
//! often 0 of 40 or 40 of 40 (no false positive, every break detected), and
//! a normal approximation says "[0, 0]" there. Clopper–Pearson, Garwood and
//! the order-statistic interval stay honest at the edges; the measured
//! coverage (`tests/tests/suite/coverage.rs`) is 93–98.5 % on cases whose truth is
//! known in closed form. The README's "How sure is a figure?" says which
//! metric takes which interval and why.

mod estimate;
mod exact;
mod sample;

pub use estimate::{Estimator, Interval};
pub use exact::garwood;
pub use sample::estimator;

use crate::scenario::Metric;
use crate::summary::RunSummary;
use sim::Side;
use std::collections::BTreeMap;
use std::time::Duration;

/// The level of the report's intervals (`ci95`).
pub const REPORT_LEVEL: f64 = 0.95;

/// A metric's interval as the report prints it: rounded to the report's
/// precision (the millisecond, an availability's sixth decimal), as the
/// figures are, so an end that is a sample reads as that sample.
pub fn rounded(metric: Metric, i: Interval) -> [Option<f64>; 2] {
    let scale = if metric == Metric::Availability { 1e6 } else { 1e3 };
    [i.lo.map(|v| (v * scale).round() / scale), i.hi.map(|v| (v * scale).round() / scale)]
}

/// Intervals by metric name, as the report's `ci95` holds them.
pub type Intervals = BTreeMap<String, [Option<f64>; 2]>;

/// The `ci95` maps of one strategy's runs: what `[[expect]]` reads without a
/// `side` (per-strategy metrics and the client's per-side ones), and the
/// server's per-side ones. `quic`: whether `idle_closes` is reported.
pub fn ci95(runs: &[RunSummary], horizon: Duration, quic: bool) -> (Intervals, Intervals) {
    let mut strategy = BTreeMap::new();
    let mut server = BTreeMap::new();
    for (name, metric) in Metric::ALL {
        if metric == Metric::IdleCloses && !quic {
            continue;
        }
        let sides: &[Side] = if metric.per_side() { &Side::BOTH } else { &[Side::Client] };
        for &side in sides {
            let Some(e) = estimator(metric, side, runs, horizon) else { continue };
            let map = if side == Side::Server { &mut server } else { &mut strategy };
            map.insert(name.to_string(), rounded(metric, e.interval(REPORT_LEVEL)));
        }
    }
    (strategy, server)
}
