//! Coverage of the report's 95 % intervals, measured, not assumed: on three
//! scenarios whose truth is known in closed form, 1000 independent sets of
//! seeds (base seeds 1 000 000 apart), each giving one interval per metric;
//! the share of intervals that hold the truth must lie in 93–98.5 %.
//!
//! Why 1000 and not 200: a coverage measured over n intervals has binomial
//! noise sqrt(0.95 · 0.05 / n), 1.5 points at 200, so a correct 95 %
//! interval would leave the band about one time in twenty per metric (at
//! 200 the mean's came out 92.5 %, 185 of 200). At 1000 the noise is 0.7
//! points: the band is three of them on the low side, and the exact
//! intervals' usual conservatism (Clopper–Pearson at these sizes covers
//! ~96–97 %) fits in it, while an interval that ignored the noise (a normal
//! interval at 0 of 30, or the connections of a run taken for independent
//! ones) would fall out.

use crate::common::inline as load;
use harness::confidence::{estimator, Estimator, REPORT_LEVEL};
use harness::runner;
use harness::scenario::Metric;
use rayon::prelude::*;
use sim::Side;

const REPLICATES: u64 = 1000;

/// For each metric, how many of the intervals hold its truth (each
/// estimator through `adjust` first: the identity, or a deliberately naive
/// variant to show what the honest one guards against).
fn coverage_with(src: &str, seeds: u64, truths: &[(Metric, f64)], adjust: fn(Estimator) -> Estimator) -> Vec<(Metric, u64, f64)> {
    let base = load(src);
    let hits: Vec<Vec<bool>> = (0..REPLICATES)
        .into_par_iter()
        .map(|k| {
            let mut s = base.clone();
            s.base_seed = 1_000_000 * (k + 1);
            let strategies: Vec<_> = s.strategies.iter().collect();
            let runs = runner::run_scenario(&s, &strategies, Some(seeds), &|| {}).remove(0);
            truths
                .iter()
                .map(|&(metric, truth)| {
                    let e = adjust(estimator(metric, Side::Client, &runs, s.horizon).expect("the metric has a value"));
                    let i = e.interval(REPORT_LEVEL);
                    i.lo.is_none_or(|lo| lo <= truth) && i.hi.is_none_or(|hi| truth <= hi)
                })
                .collect()
        })
        .collect();
    truths.iter().enumerate().map(|(m, &(metric, truth))| (metric, hits.iter().filter(|h| h[m]).count() as u64, truth)).collect()
}

fn coverage(src: &str, seeds: u64, truths: &[(Metric, f64)]) -> Vec<(Metric, u64, f64)> {
    coverage_with(src, seeds, truths, |e| e)
}

/// Each interval's coverage is within 93-98.5 % (the statistical claim), and
/// is exactly `readme` hits of the replicates: the runs are seeded, so the
/// README's "Coverage, measured" figures are these counts.
fn assert_band(case: &str, results: &[(Metric, u64, f64)], readme: &[u64]) {
    for (&(metric, hits, truth), &expected) in results.iter().zip(readme) {
        let share = hits as f64 / REPLICATES as f64;
        eprintln!("{case}: {} (truth {truth}): {hits} of {REPLICATES} intervals hold it ({:.1} %)", metric.name(), share * 100.0);
        assert!((0.93..=0.985).contains(&share), "{case}: {}: coverage {:.1} % is outside 93-98.5 %", metric.name(), share * 100.0);
        assert_eq!(hits, expected, "{case}: {}: update the README's coverage figures", metric.name());
    }
    assert_eq!(results.len(), readme.len(), "{case}");
}

/// A NAT that forgets after 60 s idle, one byte sent at an exponential time
/// (mean 60 s) after the handshake, the run ending 10 ms after the mapping
/// would expire: the mapping is lost exactly when the byte comes later than
/// 60 s after the handshake's last packet through the NAT (its ACK, 5 ms in
/// with 1 ms links), so the NAT-expiry probability per run is
/// p = e^(−60.005/60) = 0.367859. (A byte so early, T < 10 ms, that its own
/// refresh expires before the horizon would count too: probability under
/// 2e-4, against intervals ±0.17 wide.)
/// A fraction of runs: Clopper–Pearson.
#[test]
fn nat_expiry_probability_intervals_cover_e_to_the_minus_x_over_m() {
    let p = (-60.005f64 / 60.0).exp();
    let src = r#"
        name = "coverage-nat-expiry"
        horizon = "60.01s"
        [client.link]
        delay = "1ms"
        [server.link]
        delay = "1ms"
        [nat]
        idle_timeout = "60s"
        on_expired = "drop"
        [[traffic]]
        kind = "upload"
        at = "exp(60s)"
        size = "1B"
        [[strategy]]
        name = "none"
        kind = "none"
    "#;
    assert_band("nat expiry", &coverage(src, 30, &[(Metric::NatExpiriesPerRun, p)]), &[959]);
}

/// A server that crashes at exponential gaps (mean 4 h, each gap from the
/// end of the last crash) and is back 1 ms later; the client reconnects at
/// once. Every crash ends the connection and one reconnect follows within
/// milliseconds, so reconnects per 1000 working hours estimate the crash
/// rate, 1000 / 4 = 250 (the few milliseconds of each restart shift it by
/// under 10^-6). A Poisson rate over an exposure: Garwood.
#[test]
fn poisson_crash_rate_intervals_cover_one_per_mean_gap() {
    let src = r#"
        name = "coverage-crash-rate"
        horizon = "24h"
        [client.link]
        delay = "1ms"
        [server.link]
        delay = "1ms"
        [client.reconnect]
        mode = "eager"
        [[traffic]]
        kind = "requests"
        every = "1h"
        size = "10B"
        reply = "10B"
        [[fault]]
        kind = "crash"
        target = "server"
        every = "exp(4h)"
        duration = "1ms"
        [[strategy]]
        name = "none"
        kind = "none"
    "#;
    assert_band("crash rate", &coverage(src, 30, &[(Metric::ReconnectsPer1000ConnHours, 250.0)]), &[976]);
}

/// An app ping every 10 s with a 3 s timeout, the server vanishing at a
/// uniform time between 60 s and 660 s (60 ping periods): the next ping after the vanish
/// goes unanswered and the client declares 3 s after it, so the latency is
/// 3 s plus a uniform phase in (0, 10 s): the p-quantile is 3 + 10p
/// (p50 = 8 s, p90 = 12 s) and the mean 8 s (the 2 ms round trip shifts
/// them by under 4 ms). Percentiles: order statistics (60 seeds, so that
/// the p90 has an upper end); the mean: Student's t.
#[test]
fn detection_latency_intervals_cover_a_fixed_delay_plus_a_uniform_phase() {
    let truths = [(Metric::DetectionP50, 8.0), (Metric::DetectionP90, 12.0), (Metric::DetectionMean, 8.0)];
    assert_band("detection phase", &coverage(&phase(1), 60, &truths), &[962, 967, 945]);
}

/// The ping-and-vanish scenario of the two tests above and below, with
/// `clients` clients behind the one server.
fn phase(clients: u32) -> String {
    format!(
        r#"
        name = "coverage-detection-phase"
        horizon = "12m"
        [client]
        count = {clients}
        [client.link]
        delay = "1ms"
        [server.link]
        delay = "1ms"
        [[fault]]
        kind = "vanish"
        target = "server"
        at = "uniform(60s, 660s)"
        [[strategy]]
        name = "ping"
        kind = "app_ping"
        interval = "10s"
        timeout = "3s"
    "#
    )
}

/// The same ping behind one server, but a fleet of 8 clients: the vanish
/// breaks all 8 connections at once, and their pings keep the same phase,
/// so a run's 8 latencies are nearly one sample, not 8. The truth per
/// connection is unchanged (3 s plus a uniform phase). Intervals that took
/// the 480 latencies of 60 runs for independent samples would be about
/// sqrt(8) too narrow and cover far less than 95 %; the design effect
/// (the run as the unit) keeps them honest.
#[test]
fn a_fleets_shared_fate_is_not_taken_for_independent_samples() {
    let src = phase(8);
    let truths = [(Metric::DetectionP50, 8.0), (Metric::DetectionP90, 12.0), (Metric::DetectionMean, 8.0)];
    assert_band("fleet phase", &coverage(&src, 60, &truths), &[948, 967, 945]);
    // The same percentiles with the design effect forced to 1 (every connection
    // independent): the intervals shrink about sqrt(8)-fold and miss the truth often.
    let naive = |e: Estimator| match e {
        Estimator::Quantile { values, p, .. } => Estimator::Quantile { values, p, deff: 1.0 },
        other => other,
    };
    let naive_hits: Vec<u64> = coverage_with(&src, 60, &truths[..2], naive).into_iter().map(|(_, hits, _)| hits).collect();
    eprintln!("fleet phase, connections taken as independent: p50, p90: {naive_hits:?} of {REPLICATES}");
    assert!(naive_hits.iter().all(|&h| h < REPLICATES * 3 / 4), "{naive_hits:?}");
    assert_eq!(naive_hits, [482, 472], "the README's figures");
}
