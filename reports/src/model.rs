//! The report's data, shaped exactly as the JSON contract (v1) says. Field
//! names here are the contract; add fields, never rename or remove them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole report: what `kasim run --format json` prints.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Report {
    /// v3, with `run --per-seed`: the kasim release that made the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kasim_version: Option<String>,
    /// v3, with `run --per-seed`: the build's fingerprint of its model (two
    /// builds that differ in a line of the model differ here); `kasim diff`
    /// refuses to compare documents of two builds unless told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kasim_build: Option<String>,
    /// One entry per scenario run.
    pub scenarios: Vec<ScenarioReport>,
}

/// One scenario's results: every strategy it compares, over the same seeds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// How many seeds each strategy ran (one run per seed).
    pub seeds: u64,
    /// Addition: what the scenario teaches.
    pub description: String,
    /// Addition: simulated time per run, in seconds.
    pub horizon_s: f64,
    /// v3, with `run --per-seed`: the scenario file's text, so `kasim diff`
    /// can name the keys that changed between a baseline and a new run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// One entry per strategy that ran.
    pub strategies: Vec<StrategyReport>,
}

/// One strategy's results over all runs of a scenario. Detections and false
/// positives count connections (a run of 100 connections can detect 100
/// breaks); rates are per connection-hour.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StrategyReport {
    /// The strategy's name in the scenario.
    pub name: String,
    /// Its kind (`tcp_keepalive`, `app_ping`, `quic`, `udp_keepalive`, …).
    pub kind: String,
    /// How many runs (seeds) the figures cover.
    pub runs: u64,
    /// v2: connections (slots) per run; absent when 1, so a one-connection
    /// scenario's JSON is what it always was.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub connections: u64,
    /// The client applications' declarations.
    pub client: SideReport,
    /// The server applications' declarations.
    pub server: SideReport,
    /// False positives of both sides per 1000 hours of healthy connection
    /// (each connection counted until its first declaration, its break, its
    /// orderly end, or the horizon).
    pub false_positives_per_1000_conn_hours: f64,
    /// NAT mappings lost to idleness while a connection was still held
    /// (before either side declared it dead), over all runs.
    pub nat_expiries: u64,
    /// Keepalive packets per connection-hour, both directions: TCP keepalive
    /// probes and their ACKs, application pings and pongs, QUIC PINGs and
    /// their answers, tunnel keepalives.
    pub keepalive_packets_per_hour: f64,
    /// The IP bytes of those packets, per connection-hour.
    pub keepalive_bytes_per_hour: f64,
    /// v2 sessions: present only for a scenario that measures them, so a
    /// v1 scenario's JSON keeps its bytes.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionReport>,
    /// v2 QUIC: connections quinn's idle timeout ended while they were not
    /// broken (an orderly end, not a detection); present for `quic` strategies only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_closes: Option<u64>,
    /// v3: the 95 % interval `[lo, hi]` of every figure estimated from the
    /// seeds, by its `[[expect]]` metric name (per-side metrics: the
    /// client's; the server's are in `server.ci95`); null for an end the
    /// seeds cannot bound. Absent in documents written before v3.
    #[serde(default)]
    pub ci95: BTreeMap<String, [Option<f64>; 2]>,
    /// v3, with `run --per-seed`: each seed's run summary (what paired
    /// comparisons and `kasim diff` need), in seed order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_seed: Option<Vec<serde_json::Value>>,
    /// v3 `--engine netns`: `"netns"` for a run on real Linux stacks; absent
    /// for the event engine, so its documents keep their bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// v3 `--engine netns`: how late kasim wrote the packets into their hosts
    /// against the instants the network model gave them, over all runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateness_ms: Option<Lateness>,
}

/// Scheduling accuracy of a run on real hosts: each packet's write into its
/// host minus its modelled arrival, in milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Lateness {
    /// Packets written.
    pub packets: u64,
    /// The median lateness.
    pub p50: f64,
    /// The 99th percentile (the bound: at most 1 ms).
    pub p99: f64,
    /// The largest.
    pub max: f64,
}

impl Lateness {
    /// From lateness samples in nanoseconds (sorted here); `None` when empty.
    pub fn of(mut samples_ns: Vec<u64>) -> Option<Lateness> {
        if samples_ns.is_empty() {
            return None;
        }
        samples_ns.sort_unstable();
        let n = samples_ns.len();
        // Nearest rank: the smallest sample with at least q of all at or below it.
        let rank = |q: f64| samples_ns[((q * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1e6;
        Some(Lateness { packets: n as u64, p50: rank(0.5), p99: rank(0.99), max: samples_ns[n - 1] as f64 / 1e6 })
    }
}

/// What the client's users felt (v2 "Sessions"): requests, time to restore,
/// availability, reconnects. Field names are the contract's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SessionReport {
    /// What became of the client's requests.
    pub requests: RequestsReport,
    /// Length of each unavailable period that ended before the horizon; null when none did.
    pub time_to_restore_s: Option<Latency>,
    /// 1 − unavailable slot-time / total slot-time, over all runs.
    pub availability: f64,
    /// Connections established after a slot's first.
    pub reconnects: u64,
    /// Unavailable periods still open at the horizon.
    pub unrestored: u64,
    /// Failed requests per 1000 counted ones.
    pub failed_requests_per_1000: f64,
    /// Reconnects per 1000 hours with a working connection.
    pub reconnects_per_1000_conn_hours: f64,
}

/// The client's requests over all runs. Each counted request is exactly one
/// of ok, failed or hung; one still young at the horizon is not counted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RequestsReport {
    /// Requests counted: `ok + failed + hung`.
    pub sent: u64,
    /// Whole reply within the request's timeout.
    pub ok: u64,
    /// Its connection ended first (or there was none and reconnection is off).
    pub failed: u64,
    /// No reply within its timeout, or none by the horizon while its
    /// connection stayed open.
    pub hung: u64,
    /// Latency of the ok requests (from issue to the whole reply), seconds.
    pub latency_s: Latency,
}

/// One side's declarations over all runs of a strategy, counted per connection.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SideReport {
    /// Broken connections this side declared dead.
    pub detected: u64,
    /// Broken connections this side never declared dead (and the peer had
    /// not declared before the break).
    pub undetected: u64,
    /// Detection latency of the `detected` ones: break to declaration.
    pub latency_s: Latency,
    /// Declarations about connections that were not broken.
    pub false_positives: u64,
    /// Those, by the transient condition that explains each (every
    /// condition's name present, zero or not).
    pub false_positives_by_cause: BTreeMap<String, u64>,
    /// v3, the server side only: the 95 % intervals of its per-side metrics
    /// (the client's are in the strategy's `ci95`, under the names
    /// `[[expect]]` reads without a `side`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ci95: BTreeMap<String, [Option<f64>; 2]>,
}

fn one() -> u64 {
    1
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

/// Detection latency in seconds; every field null when nothing was detected.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default)]
pub struct Latency {
    /// Median (nearest rank), seconds.
    pub p50: Option<f64>,
    /// 90th percentile (nearest rank), seconds.
    pub p90: Option<f64>,
    /// 99th percentile (nearest rank), seconds.
    pub p99: Option<f64>,
    /// The largest, seconds.
    pub max: Option<f64>,
    /// The arithmetic mean, seconds.
    pub mean: Option<f64>,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (seconds), rounded to the millisecond.
    pub fn from_samples(samples: &[f64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let k = ((p / 100.0) * s.len() as f64).ceil() as usize;
            round_ms(s[k.clamp(1, s.len()) - 1])
        };
        Latency {
            p50: Some(rank(50.0)),
            p90: Some(rank(90.0)),
            p99: Some(rank(99.0)),
            max: Some(round_ms(s[s.len() - 1])),
            mean: Some(round_ms(s.iter().sum::<f64>() / s.len() as f64)),
        }
    }
}

impl Latency {
    /// Nearest-rank percentiles of samples given as `value in ms → count`,
    /// with `sum_us` the exact sum (microseconds) for the mean.
    pub fn from_counts(counts: &BTreeMap<u64, u64>, sum_us: u64) -> Latency {
        let n: u64 = counts.values().sum();
        if n == 0 {
            return Latency::default();
        }
        let rank = |p: f64| {
            let k = (((p / 100.0) * n as f64).ceil() as u64).clamp(1, n);
            let mut seen = 0;
            let at = counts.iter().find(|(_, c)| {
                seen += *c;
                seen >= k
            });
            at.map_or(0.0, |(ms, _)| *ms as f64 / 1000.0)
        };
        let max = counts.keys().next_back().map(|ms| *ms as f64 / 1000.0);
        Latency {
            p50: Some(rank(50.0)),
            p90: Some(rank(90.0)),
            p99: Some(rank(99.0)),
            max,
            mean: Some(round_ms(sum_us as f64 / 1e6 / n as f64)),
        }
    }
}

/// Round to 3 decimals so reports are stable and readable.
pub fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::from_samples(&samples);
        assert_eq!((l.p50, l.p90, l.p99, l.max, l.mean), (Some(50.0), Some(90.0), Some(99.0), Some(100.0), Some(50.5)));
        assert_eq!(Latency::from_samples(&[]), Latency::default());
        let one = Latency::from_samples(&[7875.0]);
        assert_eq!((one.p50, one.p99), (Some(7875.0), Some(7875.0)));
    }

    #[test]
    fn percentiles_from_counts_match_the_samples_they_count() {
        // 1..=100 ms once each, and 250 ms 100 times: 200 samples.
        let mut counts: BTreeMap<u64, u64> = (1..=100).map(|ms| (ms, 1)).collect();
        counts.insert(250, 100);
        let sum_us = (1..=100u64).sum::<u64>() * 1000 + 250 * 100 * 1000;
        let l = Latency::from_counts(&counts, sum_us);
        let mut samples: Vec<f64> = (1..=100).map(|ms| ms as f64 / 1000.0).collect();
        samples.extend(std::iter::repeat_n(0.25, 100));
        assert_eq!(l, Latency::from_samples(&samples));
        // Rank 100 of 200 is 100 ms; rank 101 on are 250 ms; mean (5050 + 25000) / 200 ms.
        assert_eq!((l.p50, l.p90, l.max, l.mean), (Some(0.1), Some(0.25), Some(0.25), Some(0.15)));
        assert_eq!(Latency::from_counts(&BTreeMap::new(), 0), Latency::default());
    }
}
