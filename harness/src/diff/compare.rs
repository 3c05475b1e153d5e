//! The interval of a difference, and what it says.
//!
//! Paired (both documents hold the same seeds' summaries): the strategies
//! saw the same faults and draws seed by seed (common random numbers), so
//! the difference is resampled seed by seed — a percentile bootstrap over
//! seeds, each resample recomputing both figures exactly as the report does
//! (a p99, a rate, a fraction of requests) and taking their difference.
//! The seed is the unit, as in the report's intervals, so a fleet's
//! connections are never taken for independent ones. Unpaired: the two
//! 95 % intervals are combined into one for the difference (MOVER, Zou &
//! Donner 2008), which is exact when each interval is.

use crate::check;
use crate::confidence::Interval;
use crate::metrics;
use crate::scenario::Metric;
use crate::strategy::TransportKind;
use crate::summary::RunSummary;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sim::Side;
use std::time::Duration;

/// Bootstrap resamples per paired comparison.
pub const RESAMPLES: usize = 2000;

/// Which way is good for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Good {
    /// Less is better (latency, false positives, failed requests, overhead).
    Lower,
    /// More is better (availability, detections).
    Higher,
}

/// The metrics `diff` compares, each with its side and which way is good.
/// Maxima are left out (no interval bounds them from above), and so are
/// counts that are neither good nor bad: requests sent, and detections
/// (more of them only says more connections broke; `undetected` and the
/// latencies say how well they were found).
pub fn compared_metrics() -> Vec<(Metric, Option<Side>, Good)> {
    use Good::{Higher, Lower};
    use Metric as M;
    let mut v = Vec::new();
    for side in Side::BOTH {
        for (m, good) in [
            (M::DetectionP50, Lower),
            (M::DetectionP90, Lower),
            (M::DetectionP99, Lower),
            (M::DetectionMean, Lower),
            (M::Undetected, Lower),
            (M::FalsePositives, Lower),
        ] {
            v.push((m, Some(side), good));
        }
    }
    for (m, good) in [
        (M::FalsePositiveRate, Lower),
        (M::NatExpiries, Lower),
        (M::KeepalivePacketsPerHour, Lower),
        (M::KeepaliveBytesPerHour, Lower),
        (M::FailedRequestsPer1000, Lower),
        (M::RequestsFailed, Lower),
        (M::RequestsHung, Lower),
        (M::RequestP50, Lower),
        (M::RequestP99, Lower),
        (M::TimeToRestoreP50, Lower),
        (M::TimeToRestoreP99, Lower),
        (M::Availability, Higher),
        (M::ReconnectsPer1000ConnHours, Lower),
    ] {
        v.push((m, None, good));
    }
    v
}

/// A metric's name in a comparison: as in `[[expect]]`, `server.` before a
/// server-side one (as `tune --require` reads it).
pub fn metric_name(metric: Metric, side: Option<Side>) -> String {
    match side {
        Some(Side::Server) => format!("server.{}", metric.name()),
        _ => metric.name().to_string(),
    }
}

/// Whether a figure is a total over the runs (it grows with the seeds).
pub fn is_total(metric: Metric) -> bool {
    matches!(metric, Metric::Undetected | Metric::FalsePositives | Metric::NatExpiries | Metric::RequestsFailed | Metric::RequestsHung)
}

/// One arm of a comparison: a strategy's runs, as `diff` pairs them.
pub struct Arm<'a> {
    /// The strategy's name in its report.
    pub name: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// What its connections ran over.
    pub transport: TransportKind,
    /// Its runs, in seed order.
    pub runs: &'a [RunSummary],
}

/// The paired intervals of `new − base` for every metric of `metrics`
/// (`None` where fewer than 95 % of the resamples have both figures), from
/// the same resamples of seeds for all of them. `base` and `new` hold the
/// same seeds in the same order.
pub fn paired(
    base: &Arm<'_>,
    new: &Arm<'_>,
    horizon: Duration,
    metrics: &[(Metric, Option<Side>, Good)],
    level: f64,
) -> Vec<Option<Interval>> {
    let n = base.runs.len();
    let deltas: Vec<Vec<Option<f64>>> = (0..RESAMPLES)
        .into_par_iter()
        .map(|b| {
            let mut rng = ChaCha8Rng::seed_from_u64(b as u64);
            let picks: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let take = |runs: &[RunSummary]| picks.iter().map(|&i| runs[i].clone()).collect::<Vec<_>>();
            let a = metrics::figures(base.name, base.kind, base.transport, horizon, &take(base.runs));
            let z = metrics::figures(new.name, new.kind, new.transport, horizon, &take(new.runs));
            metrics.iter().map(|&(m, side, _)| Some(check::value(&z, m, side)? - check::value(&a, m, side)?)).collect()
        })
        .collect();
    (0..metrics.len())
        .map(|k| {
            let mut d: Vec<f64> = deltas.iter().filter_map(|r| r[k]).collect();
            if (d.len() as f64) < 0.95 * RESAMPLES as f64 {
                return None;
            }
            d.sort_by(f64::total_cmp);
            let tail = (1.0 - level) / 2.0;
            let lo = d[((tail * d.len() as f64).floor() as usize).min(d.len() - 1)];
            let hi = d[((((1.0 - tail) * d.len() as f64).ceil() as usize).max(1) - 1).min(d.len() - 1)];
            Some(Interval { lo: Some(lo), hi: Some(hi) })
        })
        .collect()
}

/// The fewest paired seeds a difference is decided on: with five, even
/// five differences of one sign are not significant at 95 % by the sign
/// test (2 / 2^5 = 0.0625), and a bootstrap over five seeds that all agree
/// would give a point. Below it the paired interval is left unbounded.
pub const MIN_PAIRED_SEEDS: usize = 6;

/// The paired interval of a total count's difference (`undetected`,
/// `nat_expiries`, failed requests): the events the new run has beyond the
/// baseline, seed by seed (`P`), and those it lacks (`N`), each a Poisson
/// count with its exact Garwood interval, combined as
/// `[lo(P) − hi(N), hi(P) − lo(N)]`. Unlike a bootstrap, it stays honest
/// about a rare event that no seed showed: no seed differing gives
/// `[−3.69, 3.69]` at 95 %, not `[0, 0]`.
pub fn discordant(base: &Arm<'_>, new: &Arm<'_>, horizon: Duration, metric: Metric, side: Option<Side>, level: f64) -> Interval {
    let count = |arm: &Arm<'_>, i: usize| {
        let one = metrics::figures(arm.name, arm.kind, arm.transport, horizon, std::slice::from_ref(&arm.runs[i]));
        check::value(&one, metric, side).unwrap_or(0.0)
    };
    let (mut more, mut fewer) = (0.0, 0.0);
    for i in 0..base.runs.len().min(new.runs.len()) {
        let d = count(new, i) - count(base, i);
        if d > 0.0 {
            more += d;
        } else {
            fewer -= d;
        }
    }
    let (p, n) = (crate::confidence::garwood(more, level), crate::confidence::garwood(fewer, level));
    Interval { lo: Some(p.0 - n.1), hi: Some(p.1 - n.0) }
}

/// MOVER: the interval of `new − base` from each figure's own interval
/// (independent samples). An end is unbounded when an end it needs is.
pub fn mover(base: f64, base_ci: Interval, new: f64, new_ci: Interval) -> Interval {
    let d = new - base;
    let lo = match (new_ci.lo, base_ci.hi) {
        (Some(nl), Some(bh)) => Some(d - ((new - nl).powi(2) + (bh - base).powi(2)).sqrt()),
        _ => None,
    };
    let hi = match (new_ci.hi, base_ci.lo) {
        (Some(nh), Some(bl)) => Some(d + ((nh - new).powi(2) + (base - bl).powi(2)).sqrt()),
        _ => None,
    };
    Interval { lo, hi }
}

/// What a difference's interval says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffVerdict {
    /// The whole interval lies beyond the tolerance on the good side.
    Better,
    /// The whole interval lies beyond the tolerance on the bad side.
    Worse,
    /// The whole interval lies within ± the tolerance.
    Same,
    /// Neither: more seeds (or pairing) may tell.
    Inconclusive,
}

impl DiffVerdict {
    /// `better`, `worse`, `same`, `inconclusive`.
    pub fn name(self) -> &'static str {
        match self {
            DiffVerdict::Better => "better",
            DiffVerdict::Worse => "worse",
            DiffVerdict::Same => "same",
            DiffVerdict::Inconclusive => "inconclusive",
        }
    }
}

/// The verdict on an interval of `new − base` with tolerance `tol` (>= 0, in
/// the metric's unit).
pub fn verdict(i: Interval, tol: f64, good: Good) -> DiffVerdict {
    let up = if good == Good::Lower { DiffVerdict::Worse } else { DiffVerdict::Better };
    let down = if good == Good::Lower { DiffVerdict::Better } else { DiffVerdict::Worse };
    match (i.lo, i.hi) {
        (Some(lo), Some(hi)) if lo >= -tol && hi <= tol => DiffVerdict::Same,
        (Some(lo), _) if lo > tol => up,
        (_, Some(hi)) if hi < -tol => down,
        _ => DiffVerdict::Inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mover_adds_the_half_widths_in_quadrature() {
        // 10 [8, 12] against 15 [12, 19]: d = 5, lo = 5 - sqrt(3² + 2²), hi = 5 + sqrt(4² + 2²).
        let i = mover(10.0, Interval { lo: Some(8.0), hi: Some(12.0) }, 15.0, Interval { lo: Some(12.0), hi: Some(19.0) });
        assert!((i.lo.unwrap() - (5.0 - 13f64.sqrt())).abs() < 1e-12 && (i.hi.unwrap() - (5.0 + 20f64.sqrt())).abs() < 1e-12);
        // An unbounded end of the new figure leaves the difference unbounded above.
        assert_eq!(mover(1.0, Interval::point(1.0), 2.0, Interval { lo: Some(1.5), hi: None }).hi, None);
    }

    #[test]
    fn verdicts_read_the_interval_against_the_tolerance() {
        let i = |lo: f64, hi: f64| Interval { lo: Some(lo), hi: Some(hi) };
        assert_eq!(verdict(Interval::point(0.0), 0.0, Good::Lower), DiffVerdict::Same);
        assert_eq!(verdict(i(1.0, 3.0), 0.0, Good::Lower), DiffVerdict::Worse);
        assert_eq!(verdict(i(1.0, 3.0), 0.0, Good::Higher), DiffVerdict::Better);
        assert_eq!(verdict(i(-1.0, 3.0), 0.0, Good::Lower), DiffVerdict::Inconclusive);
        assert_eq!(verdict(i(-1.0, 3.0), 5.0, Good::Lower), DiffVerdict::Same);
        // Beyond a tolerance of 2 wholly: worse; reaching into it: inconclusive.
        assert_eq!(verdict(i(2.5, 3.0), 2.0, Good::Lower), DiffVerdict::Worse);
        assert_eq!(verdict(i(1.5, 3.0), 2.0, Good::Lower), DiffVerdict::Inconclusive);
        assert_eq!(verdict(Interval { lo: Some(0.5), hi: None }, 0.0, Good::Lower), DiffVerdict::Worse);
    }
}
