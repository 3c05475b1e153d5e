//! An estimate that knows how it was made, so it can give its interval at
//! any level, and the interval it would have with more seeds (if the runs to
//! come looked like those made), which is what "the seeds needed to decide"
//! is computed from.

use super::exact;

/// An interval; `None` at an end the data cannot bound (a p99 from 20
/// samples has no upper end).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The lower end, or `None` (unbounded).
    pub lo: Option<f64>,
    /// The upper end, or `None` (unbounded).
    pub hi: Option<f64>,
}

impl Interval {
    /// Both ends the same: a figure without uncertainty.
    pub fn point(v: f64) -> Interval {
        Interval { lo: Some(v), hi: Some(v) }
    }

    /// `lo` and `hi` as the JSON pair `[lo, hi]` (null for an unbounded end).
    pub fn pair(self) -> [Option<f64>; 2] {
        [self.lo, self.hi]
    }

    /// The interval read as `[lo, hi]` text, `…` for an unbounded end, each end through `show`.
    pub fn show(self, show: impl Fn(f64) -> String) -> String {
        let end = |v: Option<f64>| v.map_or("…".to_string(), &show);
        format!("[{}, {}]", end(self.lo), end(self.hi))
    }
}

/// How a figure was estimated from the runs, with what its interval needs.
/// Every variant treats the run (one seed) as the independent unit; several
/// connections of one run enter through a design effect `deff` (>= 1): the
/// variance of the clustered estimate over the variance the same number of
/// independent connections would give.
#[derive(Clone, Debug, PartialEq)]
pub enum Estimator {
    /// A fraction of trials, the figure `x / n * scale` (a count of
    /// connections, failed requests per 1000): Clopper–Pearson on the
    /// effective sizes `x / deff`, `n / deff`.
    Fraction {
        /// Successes (connections of the class counted, failed requests).
        x: f64,
        /// Trials (connections, counted requests).
        n: f64,
        /// The design effect, at least 1.
        deff: f64,
        /// The figure is the fraction times this.
        scale: f64,
        /// The figure is a total (`scale` is the trials' count), so more
        /// seeds make it larger.
        grows: bool,
    },
    /// Events over an exposure, the figure `x / exposure * scale` (a Poisson
    /// count or rate): Garwood on `x / deff`.
    Count {
        /// Events.
        x: f64,
        /// Hours (or 1 for a total count).
        exposure: f64,
        /// The dispersion between runs, at least 1.
        deff: f64,
        /// The figure is the rate times this (1000 for "per 1000 hours").
        scale: f64,
        /// The figure is a total: the exposure stays as more seeds come.
        grows: bool,
    },
    /// A percentile: the order-statistic interval on the effective sample size.
    Quantile {
        /// The samples as `(value, how many)`, ascending.
        values: Vec<(f64, u64)>,
        /// Which quantile (0.99 for a p99).
        p: f64,
        /// The design effect of the share below the estimate, at least 1.
        deff: f64,
    },
    /// A mean: Student's t.
    Mean {
        /// The estimate.
        mean: f64,
        /// Its standard error (NaN when one run cannot give one).
        se: f64,
        /// Degrees of freedom (runs with a sample, less one).
        df: f64,
        /// The smallest value the figure can take (0).
        min: f64,
        /// The largest (1 for an availability, infinity otherwise).
        max: f64,
    },
    /// The largest sample: the true largest is at least that, and nothing
    /// bounds it from above.
    Maximum {
        /// The largest sample.
        max: f64,
    },
}

impl Estimator {
    /// The interval at `level` (0.95 for `ci95`).
    pub fn interval(&self, level: f64) -> Interval {
        self.projected(level, 1.0)
    }

    /// The interval at `level` with `factor` times the seeds, if the further
    /// runs looked like these (`factor` 1: the interval itself).
    pub fn projected(&self, level: f64, factor: f64) -> Interval {
        match *self {
            Estimator::Fraction { x, n, deff, scale, grows } => {
                if n <= 0.0 {
                    return Interval::point(0.0);
                }
                let (lo, hi) = exact::clopper_pearson(x * factor / deff, n * factor / deff, level);
                let scale = if grows { scale * factor } else { scale };
                Interval { lo: Some(lo * scale), hi: Some(hi * scale) }
            }
            Estimator::Count { x, exposure, deff, scale, grows } => {
                if exposure <= 0.0 {
                    return Interval::point(0.0);
                }
                let exposure = if grows { exposure } else { exposure * factor };
                let (lo, hi) = exact::garwood(x * factor / deff, level);
                Interval { lo: Some(lo * deff / exposure * scale), hi: Some(hi * deff / exposure * scale) }
            }
            Estimator::Quantile { ref values, p, deff } => quantile(values, p, deff, level, factor),
            Estimator::Mean { mean, se, df, min, max } => {
                let (lo, hi) = exact::student_t(mean, se / factor.sqrt(), (df + 1.0) * factor - 1.0, level);
                Interval { lo: lo.map(|v| v.clamp(min, max)), hi: hi.map(|v| v.clamp(min, max)) }
            }
            Estimator::Maximum { max } => Interval { lo: Some(max), hi: None },
        }
    }
}

/// The order-statistic interval of the `p`-quantile of `values`: ranks from
/// Binomial(effective n, p), carried back to this sample's ranks in
/// proportion (Woodruff's device for a clustered sample; with `deff` 1 and
/// `factor` 1 they are the textbook ranks).
fn quantile(values: &[(f64, u64)], p: f64, deff: f64, level: f64, factor: f64) -> Interval {
    let n: u64 = values.iter().map(|v| v.1).sum();
    if n == 0 {
        return Interval { lo: None, hi: None };
    }
    let effective = ((n as f64 * factor / deff).floor() as u64).max(1);
    let (r, s) = exact::quantile_ranks(effective, p, level);
    let share = |rank: u64| rank as f64 / effective as f64;
    let lo = r.map(|r| ((share(r) * n as f64).floor() as u64).max(1));
    let hi = s.map(|s| ((share(s) * n as f64).ceil() as u64).min(n));
    Interval { lo: lo.map(|k| at_rank(values, k)), hi: hi.map(|k| at_rank(values, k)) }
}

/// The `k`-th smallest (1-based) of weighted values.
pub(crate) fn at_rank(values: &[(f64, u64)], k: u64) -> f64 {
    let mut seen = 0;
    for &(v, count) in values {
        seen += count;
        if seen >= k {
            return v;
        }
    }
    values.last().map_or(f64::NAN, |v| v.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fraction_of_a_total_grows_with_the_seeds_and_a_rate_does_not() {
        // 3 false positives of 30 connections, a total: [0.0211, 0.2653] × 30 (Clopper–Pearson).
        let total = Estimator::Fraction { x: 3.0, n: 30.0, deff: 1.0, scale: 30.0, grows: true };
        let i = total.interval(0.95);
        assert!((i.lo.unwrap() - 0.632_6).abs() < 1e-3 && (i.hi.unwrap() - 7.960).abs() < 2e-3, "{i:?}");
        // Twice the seeds, the same share: the total doubles and narrows relatively.
        let j = total.projected(0.95, 2.0);
        assert!(j.lo.unwrap() > 2.0 * i.lo.unwrap() && j.hi.unwrap() < 2.0 * i.hi.unwrap(), "{j:?}");
        let per_run = Estimator::Fraction { x: 3.0, n: 30.0, deff: 1.0, scale: 1.0, grows: false };
        let k = per_run.projected(0.95, 2.0);
        assert!(k.lo.unwrap() > 0.0211 && k.hi.unwrap() < 0.2653, "{k:?}");
    }

    #[test]
    fn a_design_effect_widens_a_count_as_fewer_independent_events() {
        // 40 events, deff 4: Garwood on 10 events (4.795, 18.390), times 4.
        let c = Estimator::Count { x: 40.0, exposure: 1.0, deff: 4.0, scale: 1.0, grows: true };
        let i = c.interval(0.95);
        assert!((i.lo.unwrap() - 19.18).abs() < 0.01 && (i.hi.unwrap() - 73.56).abs() < 0.01, "{i:?}");
    }

    #[test]
    fn a_quantile_reads_its_ends_from_the_sample() {
        // 1..=20: the median's ranks are 6 and 15.
        let values: Vec<(f64, u64)> = (1..=20).map(|v| (f64::from(v), 1)).collect();
        let q = Estimator::Quantile { values: values.clone(), p: 0.5, deff: 1.0 };
        assert_eq!(q.interval(0.95), Interval { lo: Some(6.0), hi: Some(15.0) });
        // The same values counted twice each: 40 samples, ranks 14 and 27 (Binomial(40, 0.5):
        // P(B <= 13) = 0.0192, P(B <= 26) = 0.9808), the values 7 and 14.
        let doubled: Vec<(f64, u64)> = values.iter().map(|v| (v.0, 2)).collect();
        let d = Estimator::Quantile { values: doubled, p: 0.5, deff: 1.0 };
        assert_eq!(d.interval(0.95), Interval { lo: Some(7.0), hi: Some(14.0) });
        // p99 of 20 has no upper end.
        assert_eq!(Estimator::Quantile { values, p: 0.99, deff: 1.0 }.interval(0.95).hi, None);
    }

    #[test]
    fn a_maximum_has_no_upper_end_and_a_mean_stays_in_its_range() {
        assert_eq!(Estimator::Maximum { max: 7.0 }.interval(0.95), Interval { lo: Some(7.0), hi: None });
        let m = Estimator::Mean { mean: 0.999, se: 0.01, df: 9.0, min: 0.0, max: 1.0 };
        assert_eq!(m.interval(0.95).hi, Some(1.0));
    }
}
