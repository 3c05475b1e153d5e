//! Which estimator each metric is, built from the runs' summaries. The run
//! (one seed) is the independent unit: its connections share faults, a NAT
//! and a clock, so a fleet's 500 connections are not 500 independent
//! samples. A fraction's or a quantile's design effect comes from the
//! spread between runs (Korn & Graubard 1998; Woodruff 1952 for quantiles),
//! a count's from its dispersion between runs (quasi-Poisson), a mean's
//! standard error from the runs as clusters (the ratio estimator's
//! linearised variance); none is allowed below 1 (an interval never narrows
//! for clustering).

use super::estimate::Estimator;
use crate::scenario::Metric;
use crate::summary::{RunSummary, SideOutcome};
use sim::Side;
use std::time::Duration;

/// The estimator of `metric` (of `side` where it is per side) over `runs`,
/// each `horizon` long; `None` when the report has no value for it (no
/// detection to take a percentile of, no session figures).
pub fn estimator(metric: Metric, side: Side, runs: &[RunSummary], horizon: Duration) -> Option<Estimator> {
    use Metric as M;
    if runs.is_empty() {
        return None;
    }
    Some(match metric {
        M::DetectionP50 => latencies(runs, side, 0.5)?,
        M::DetectionP90 => latencies(runs, side, 0.9)?,
        M::DetectionP99 => latencies(runs, side, 0.99)?,
        M::DetectionMax => Estimator::Maximum { max: max_of(runs.iter().map(|r| detections(r, side)))? },
        M::DetectionMean => mean_of_samples(runs.iter().map(|r| detections(r, side)))?,
        M::Detected => outcome_fraction(runs, side, |o| matches!(o, SideOutcome::Detected(_)), true),
        M::Undetected => outcome_fraction(runs, side, |o| o == SideOutcome::Undetected, true),
        M::FalsePositives => outcome_fraction(runs, side, |o| matches!(o, SideOutcome::FalsePositive(_)), true),
        M::FalsePositivesPerRun => outcome_fraction(runs, side, |o| matches!(o, SideOutcome::FalsePositive(_)), false),
        M::FalsePositiveRate => {
            let per_run = runs.iter().map(|r| {
                let fp = Side::BOTH.iter().flat_map(|&s| r.outcomes(s)).filter(|o| matches!(o, SideOutcome::FalsePositive(_))).count();
                (fp as f64, r.healthy_hours())
            });
            rate(per_run, 1000.0)
        }
        M::NatExpiries | M::NatExpiriesPerRun => nat_expiries(runs, metric == M::NatExpiries),
        M::KeepalivePacketsPerHour => per_hour(runs, horizon, |r| r.keepalive_packets),
        M::KeepaliveBytesPerHour => per_hour(runs, horizon, |r| r.keepalive_bytes),
        M::IdleCloses => total(runs.iter().map(|r| f64::from(r.idle_closes))),
        _ => return session(metric, runs, horizon),
    })
}

/// The session metrics (`None` without session figures).
fn session(metric: Metric, runs: &[RunSummary], horizon: Duration) -> Option<Estimator> {
    use Metric as M;
    let sessions: Vec<_> = runs.iter().map(|r| r.session.as_deref()).collect::<Option<_>>()?;
    let request_latencies = || sessions.iter().map(|s| s.requests.latency_ms.iter().map(|(ms, n)| (ms as f64 / 1000.0, n)).collect());
    let restores = || sessions.iter().map(|s| s.restore_ns.iter().map(|ns| (ns as f64 / 1e9, 1)).collect());
    Some(match metric {
        M::Requests => total(sessions.iter().map(|s| counted(&s.requests) as f64)),
        M::RequestsOk => total(sessions.iter().map(|s| s.requests.ok as f64)),
        M::RequestsFailed => total(sessions.iter().map(|s| s.requests.failed as f64)),
        M::RequestsHung => total(sessions.iter().map(|s| s.requests.hung as f64)),
        M::FailedRequestsPer1000 => {
            fraction(sessions.iter().map(|s| (s.requests.failed as f64, counted(&s.requests) as f64)), |_, _| 1000.0, false)
        }
        M::RequestP50 => quantile(request_latencies(), 0.5)?,
        M::RequestP99 => quantile(request_latencies(), 0.99)?,
        M::TimeToRestoreP50 => quantile(restores(), 0.5)?,
        M::TimeToRestoreP99 => quantile(restores(), 0.99)?,
        M::TimeToRestoreMax => Estimator::Maximum { max: max_of(restores().map(|v: Vec<(f64, u64)>| v.into_iter().map(|x| x.0)))? },
        M::Availability => {
            let slot_ns = |r: &RunSummary| r.slots.len() as f64 * horizon.as_nanos() as f64;
            let per_run: Vec<f64> = runs.iter().zip(&sessions).map(|(r, s)| 1.0 - s.unavailable_ns as f64 / slot_ns(r).max(1.0)).collect();
            mean_over_runs(&per_run, 0.0, 1.0)
        }
        M::ReconnectsPer1000ConnHours => rate(sessions.iter().map(|s| (s.reconnects as f64, s.working_ns as f64 / 3.6e12)), 1000.0),
        _ => return None,
    })
}

fn counted(r: &crate::session::RequestTally) -> u64 {
    r.ok + r.failed + r.hung
}

/// A side's detection latencies in one run, seconds.
fn detections(r: &RunSummary, side: Side) -> Vec<f64> {
    r.outcomes(side)
        .filter_map(|o| match o {
            SideOutcome::Detected(l) => Some(l.as_secs_f64()),
            _ => None,
        })
        .collect()
}

fn latencies(runs: &[RunSummary], side: Side, p: f64) -> Option<Estimator> {
    quantile(runs.iter().map(|r| detections(r, side).into_iter().map(|l| (l, 1)).collect()), p)
}

fn max_of<I: IntoIterator<Item = f64>>(per_run: impl Iterator<Item = I>) -> Option<f64> {
    per_run.flat_map(IntoIterator::into_iter).reduce(f64::max)
}

/// The `p`-quantile of samples grouped by run (`(value, how many)`): the
/// pooled, sorted samples, and the design effect of the share of samples at
/// or below the estimate.
fn quantile(per_run: impl Iterator<Item = Vec<(f64, u64)>>, p: f64) -> Option<Estimator> {
    let per_run: Vec<Vec<(f64, u64)>> = per_run.collect();
    let mut pooled: Vec<(f64, u64)> = per_run.iter().flatten().copied().collect();
    if pooled.is_empty() {
        return None;
    }
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The estimate itself (nearest rank, as the report's), for the design effect.
    let n: u64 = pooled.iter().map(|v| v.1).sum();
    let k = ((p * n as f64).ceil() as u64).clamp(1, n);
    let q = super::estimate::at_rank(&pooled, k);
    let clusters =
        per_run.iter().map(|v| (v.iter().filter(|x| x.0 <= q).map(|x| x.1).sum::<u64>() as f64, v.iter().map(|x| x.1).sum::<u64>() as f64));
    let deff = fraction_deff(clusters);
    Some(Estimator::Quantile { values: pooled, p, deff })
}

/// A mean over samples grouped by run: the ratio estimator, runs without a
/// sample left out, its variance linearised over the runs (k runs, k − 1
/// degrees of freedom; with one sample per run, the textbook t interval).
fn mean_of_samples(per_run: impl Iterator<Item = Vec<f64>>) -> Option<Estimator> {
    let runs: Vec<(f64, f64)> = per_run.filter(|v| !v.is_empty()).map(|v| (v.iter().sum(), v.len() as f64)).collect();
    let n: f64 = runs.iter().map(|r| r.1).sum();
    if n == 0.0 {
        return None;
    }
    let mean = runs.iter().map(|r| r.0).sum::<f64>() / n;
    let k = runs.len() as f64;
    let se = if k > 1.0 { (k / (k - 1.0) * runs.iter().map(|r| (r.0 - mean * r.1).powi(2)).sum::<f64>()).sqrt() / n } else { f64::NAN };
    Some(Estimator::Mean { mean, se, df: k - 1.0, min: 0.0, max: f64::INFINITY })
}

/// A mean of one value per run (equal weights: every run is as long and as wide).
fn mean_over_runs(values: &[f64], min: f64, max: f64) -> Estimator {
    let k = values.len() as f64;
    let mean = values.iter().sum::<f64>() / k;
    let se = if k > 1.0 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt() } else { f64::NAN };
    Estimator::Mean { mean, se, df: k - 1.0, min, max }
}

/// Keepalive packets (or bytes) per connection-hour: a mean of each run's rate.
fn per_hour(runs: &[RunSummary], horizon: Duration, of: impl Fn(&RunSummary) -> u64) -> Estimator {
    let hours = horizon.as_secs_f64() / 3600.0;
    let rates: Vec<f64> = runs.iter().map(|r| of(r) as f64 / (r.slots.len() as f64 * hours).max(f64::MIN_POSITIVE)).collect();
    mean_over_runs(&rates, 0.0, f64::INFINITY)
}

/// How many of each run's connections (with reconnects, every established
/// one) ended as `class`: a clustered fraction of the connections, the total
/// (`total`) or per run.
fn outcome_fraction(runs: &[RunSummary], side: Side, class: impl Fn(SideOutcome) -> bool, total: bool) -> Estimator {
    let clusters = runs.iter().map(|r| {
        let mut x = 0.0;
        let mut n = 0.0;
        for o in r.outcomes(side).filter(|o| *o != SideOutcome::NotApplicable) {
            n += 1.0;
            x += f64::from(u8::from(class(o)));
        }
        (x, n)
    });
    let runs_made = runs.len() as f64;
    fraction(clusters, |n, _| if total { n } else { n / runs_made }, total)
}

/// NAT expiries: a clustered fraction of the connections when none lost more
/// than one mapping in any run (at most one each, the binomial case),
/// otherwise a count.
fn nat_expiries(runs: &[RunSummary], total: bool) -> Estimator {
    let runs_made = runs.len() as f64;
    if runs.iter().all(|r| r.slots.iter().all(|s| s.expiries_while_held <= 1 && s.later.is_none())) {
        let clusters = runs.iter().map(|r| (r.expiries_while_held() as f64, r.slots.len() as f64));
        return fraction(clusters, |n, _| if total { n } else { n / runs_made }, total);
    }
    let per_run = runs.iter().map(|r| r.expiries_while_held() as f64);
    if total {
        return Estimator::Count {
            x: per_run.clone().sum(),
            exposure: 1.0,
            deff: count_deff(per_run.map(|x| (x, 1.0))),
            scale: 1.0,
            grows: true,
        };
    }
    rate(per_run.map(|x| (x, 1.0)), 1.0)
}

/// A total count over runs, each run's count a draw (quasi-Poisson).
fn total(per_run: impl Iterator<Item = f64> + Clone) -> Estimator {
    Estimator::Count { x: per_run.clone().sum(), exposure: 1.0, deff: count_deff(per_run.map(|x| (x, 1.0))), scale: 1.0, grows: true }
}

/// Events per exposure (`(events, exposure)` per run), times `scale`.
fn rate(per_run: impl Iterator<Item = (f64, f64)> + Clone, scale: f64) -> Estimator {
    let (x, exposure) = per_run.clone().fold((0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1));
    Estimator::Count { x, exposure, deff: count_deff(per_run), scale, grows: false }
}

/// A clustered fraction `(x_i, n_i)` per run; the figure's scale from
/// `(total trials, total successes)`.
fn fraction(clusters: impl Iterator<Item = (f64, f64)> + Clone, scale: impl Fn(f64, f64) -> f64, grows: bool) -> Estimator {
    let (x, n) = clusters.clone().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
    Estimator::Fraction { x, n, deff: fraction_deff(clusters), scale: scale(n, x), grows }
}

/// Korn & Graubard's design effect of a fraction from clusters `(x_i, n_i)`:
/// the between-cluster variance of `sum x / sum n` over the binomial one,
/// at least 1; exactly 1 when no cluster holds more than one trial (the
/// trials are then independent).
fn fraction_deff(clusters: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let (x, n, k, widest) = clusters.clone().fold((0.0, 0.0, 0.0, 0.0_f64), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + 1.0, a.3.max(c.1)));
    if widest <= 1.0 || k < 2.0 || n <= 0.0 {
        return 1.0;
    }
    let p = x / n;
    if p <= 0.0 || p >= 1.0 {
        return 1.0;
    }
    let between = k / (k - 1.0) * clusters.map(|c| (c.0 - p * c.1).powi(2)).sum::<f64>() / (n * n);
    (between / (p * (1.0 - p) / n)).max(1.0)
}

/// The quasi-Poisson dispersion of counts `(x_i, exposure_i)`: the mean of
/// `(x_i − r e_i)² / (r e_i)` over k − 1, at least 1 (1 without events).
fn count_deff(per_run: impl Iterator<Item = (f64, f64)> + Clone) -> f64 {
    let (x, e, k) = per_run.clone().fold((0.0, 0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1, a.2 + 1.0));
    if x <= 0.0 || e <= 0.0 || k < 2.0 {
        return 1.0;
    }
    let r = x / e;
    let phi = per_run.filter(|c| c.1 > 0.0).map(|c| (c.0 - r * c.1).powi(2) / (r * c.1)).sum::<f64>() / (k - 1.0);
    phi.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn independent_trials_have_no_design_effect_and_shared_fates_do() {
        // One connection per run: deff is exactly 1 whatever the outcomes.
        assert_eq!(fraction_deff([(1.0, 1.0), (0.0, 1.0), (1.0, 1.0)].into_iter()), 1.0);
        // Ten runs of 10 connections, each run all-or-nothing (a fleet behind one NAT that
        // either expires or not): p = 0.5, the between-run variance 10/9 · 10 · 25 / 100^2,
        // over 0.25/100: deff = 11.1 (about the cluster size, as it must be).
        let all_or_none: Vec<(f64, f64)> = (0..10).map(|i| (if i % 2 == 0 { 10.0 } else { 0.0 }, 10.0)).collect();
        let d = fraction_deff(all_or_none.into_iter());
        assert!((d - 100.0 / 9.0).abs() < 1e-9, "{d}");
    }

    #[test]
    fn counts_spread_beyond_poisson_raise_the_dispersion() {
        // Counts 0 and 10 alternating over 10 runs: mean 5, (25/5 · 10)/9 = 5.56.
        let per_run: Vec<(f64, f64)> = (0..10).map(|i| (if i % 2 == 0 { 10.0 } else { 0.0 }, 1.0)).collect();
        assert!((count_deff(per_run.into_iter()) - 50.0 / 9.0).abs() < 1e-9);
        // Even counts (every run 3): under-dispersed, held at 1.
        assert_eq!(count_deff([(3.0, 1.0); 5].into_iter()), 1.0);
    }
}
