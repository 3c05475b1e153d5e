//! The textbook intervals, each for one kind of estimate, at any level:
//! Clopper–Pearson for a fraction, Garwood for a Poisson count, order
//! statistics for a percentile, Student's t for a mean. The distributions'
//! quantile functions are statrs's; nothing here approximates one by hand.
//!
//! Sizes and counts are real numbers, not integers: a clustered sample (a
//! fleet's connections share a run) enters as its *effective* size, the size
//! divided by the design effect (Korn & Graubard, 1998), which is rarely whole.

use statrs::distribution::{Beta, Binomial, ContinuousCDF, DiscreteCDF, Gamma, StudentsT};

/// The two tails' share of a two-sided interval at `level` (0.95 → 0.025).
fn tail(level: f64) -> f64 {
    (1.0 - level) / 2.0
}

/// Clopper–Pearson: the exact interval of a binomial fraction after `x`
/// successes in `n` trials (`0 <= x <= n`, `n > 0`); each tail holds at most
/// `(1 - level) / 2`. Returns fractions in [0, 1].
pub fn clopper_pearson(x: f64, n: f64, level: f64) -> (f64, f64) {
    let a = tail(level);
    let lo = if x <= 0.0 { 0.0 } else { Beta::new(x, n - x + 1.0).map_or(0.0, |b| b.inverse_cdf(a)) };
    let hi = if x >= n { 1.0 } else { Beta::new(x + 1.0, n - x).map_or(1.0, |b| b.inverse_cdf(1.0 - a)) };
    (lo, hi)
}

/// Garwood: the exact interval of a Poisson mean after observing `x` events
/// (the chi-square form, written as gamma quantiles: χ²(2x)/2 = Gamma(x, 1)).
pub fn garwood(x: f64, level: f64) -> (f64, f64) {
    let a = tail(level);
    let lo = if x <= 0.0 { 0.0 } else { Gamma::new(x, 1.0).map_or(0.0, |g| g.inverse_cdf(a)) };
    let hi = Gamma::new(x + 1.0, 1.0).map_or(f64::INFINITY, |g| g.inverse_cdf(1.0 - a));
    (lo, hi)
}

/// The distribution-free interval of the `p`-quantile (0 < p < 1) of `n`
/// independent samples: the 1-based ranks `(r, s)` of the sorted samples such
/// that `[x_(r), x_(s)]` covers the quantile with probability at least
/// `level` (each tail at most `(1 - level) / 2`, from Binomial(n, p)). `None`
/// for an end that `n` samples cannot bound (too few for that tail).
pub fn quantile_ranks(n: u64, p: f64, level: f64) -> (Option<u64>, Option<u64>) {
    let a = tail(level);
    let Ok(b) = Binomial::new(p, n) else { return (None, None) };
    // P(B <= k) is increasing in k: binary search for the crossings.
    let cdf = |k: u64| b.cdf(k);
    // Lower: the largest r >= 1 with P(B <= r - 1) <= a.
    let lower = if cdf(0) > a {
        None
    } else {
        let (mut lo, mut hi) = (1u64, n); // P(B <= lo - 1) <= a holds at lo.
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if cdf(mid - 1) <= a {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo)
    };
    // Upper: the smallest s <= n with P(B <= s - 1) >= 1 - a.
    let upper = if n == 0 || cdf(n - 1) < 1.0 - a {
        None
    } else {
        let (mut lo, mut hi) = (1u64, n); // holds at hi.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if cdf(mid - 1) >= 1.0 - a {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    };
    (lower, upper)
}

/// Student's t interval of a mean estimated as `mean` with standard error
/// `se` on `df` degrees of freedom (`df >= 1`; with fewer, nothing bounds it).
pub fn student_t(mean: f64, se: f64, df: f64, level: f64) -> (Option<f64>, Option<f64>) {
    if df < 1.0 || !se.is_finite() {
        return (None, None);
    }
    if se == 0.0 {
        return (Some(mean), Some(mean));
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => {
            let q = t.inverse_cdf(1.0 - tail(level));
            (Some(mean - q * se), Some(mean + q * se))
        }
        Err(_) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn clopper_pearson_matches_published_tables() {
        // 0 of 20: the upper end is 1 - 0.025^(1/20) = 0.16843 (the "rule of three" 3.7/n, exact).
        let (lo, hi) = clopper_pearson(0.0, 20.0, 0.95);
        assert_eq!(lo, 0.0);
        assert!(close(hi, 1.0 - 0.025f64.powf(1.0 / 20.0), 1e-9), "{hi}");
        // 20 of 20 mirrors it.
        let (lo, hi) = clopper_pearson(20.0, 20.0, 0.95);
        assert!(close(lo, 0.025f64.powf(1.0 / 20.0), 1e-9) && hi == 1.0, "{lo}");
        // 5 of 10: [0.18709, 0.81291] (R's binom.test(5, 10)).
        let (lo, hi) = clopper_pearson(5.0, 10.0, 0.95);
        assert!(close(lo, 0.187_086, 1e-5) && close(hi, 0.812_914, 1e-5), "{lo} {hi}");
    }

    #[test]
    fn garwood_matches_the_chi_square_table() {
        // 0 events: [0, 3.6889] (= -ln 0.025); 10 events: [4.7954, 18.3904] (R's poisson.test(10)).
        let (lo, hi) = garwood(0.0, 0.95);
        assert!(lo == 0.0 && close(hi, -(0.025f64.ln()), 1e-6), "{hi}");
        let (lo, hi) = garwood(10.0, 0.95);
        assert!(close(lo, 4.795_389, 1e-4) && close(hi, 18.390_356, 1e-4), "{lo} {hi}");
    }

    #[test]
    fn quantile_ranks_are_the_order_statistic_interval() {
        // The median of 20: ranks 6 and 15 (P(6 <= B <= 14) = 0.9586 for Binomial(20, 0.5)).
        assert_eq!(quantile_ranks(20, 0.5, 0.95), (Some(6), Some(15)));
        // p99 needs more than ln(0.025)/ln(0.99) = 367.04 samples before its upper end is
        // bounded: at 367 every sample still falls below the p99 with probability
        // 0.99^367 = 0.02502 > 0.025; at 368, 0.02477.
        assert_eq!(quantile_ranks(367, 0.99, 0.95).1, None);
        assert_eq!(quantile_ranks(368, 0.99, 0.95).1, Some(368));
        // And its lower end from 20 samples is unbounded? No: P(B <= 19) = 1 - 0.99^20 = 0.18 > 0.025
        // for rank 20, but rank 19 has P(B <= 18) = 0.0169 <= 0.025.
        assert_eq!(quantile_ranks(20, 0.99, 0.95).0, Some(19));
        assert_eq!(quantile_ranks(3, 0.5, 0.95), (None, None));
    }

    #[test]
    fn student_t_uses_the_t_quantile() {
        // t(0.975, 9) = 2.262157.
        let (lo, hi) = student_t(10.0, 1.0, 9.0, 0.95);
        assert!(close(lo.unwrap(), 10.0 - 2.262_157, 1e-5) && close(hi.unwrap(), 12.262_157, 1e-5));
        assert_eq!(student_t(3.0, 0.0, 4.0, 0.95), (Some(3.0), Some(3.0)));
        assert_eq!(student_t(3.0, 1.0, 0.0, 0.95), (None, None));
    }
}
