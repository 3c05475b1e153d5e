//! The report's data, shaped exactly as the JSON contract (v1) says. Field
//! names here are the contract; add fields, never rename or remove them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Report {
    pub scenarios: Vec<ScenarioReport>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ScenarioReport {
    pub name: String,
    pub seeds: u64,
    /// Addition: what the scenario teaches.
    pub description: String,
    /// Addition: simulated time per run, in seconds.
    pub horizon_s: f64,
    pub strategies: Vec<StrategyReport>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StrategyReport {
    pub name: String,
    pub kind: String,
    pub runs: u64,
    /// v2: connections (slots) per run; absent when 1, so a one-connection
    /// scenario's JSON is what it always was.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub connections: u64,
    pub client: SideReport,
    pub server: SideReport,
    pub false_positives_per_1000_conn_hours: f64,
    pub nat_expiries: u64,
    pub keepalive_packets_per_hour: f64,
    pub keepalive_bytes_per_hour: f64,
    /// v2 sessions: present only for a scenario that measures them, so a
    /// v1 scenario's JSON keeps its bytes.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionReport>,
    /// v2 QUIC: connections quinn's idle timeout ended while they were not
    /// broken (an orderly end, not a detection); present for `quic` strategies only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_closes: Option<u64>,
}

/// What the client's users felt (v2 "Sessions"): requests, time to restore,
/// availability, reconnects. Field names are the contract's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SessionReport {
    pub requests: RequestsReport,
    /// Length of each unavailable period that ended before the horizon; null when none did.
    pub time_to_restore_s: Option<Latency>,
    /// 1 − unavailable slot-time / total slot-time, over all runs.
    pub availability: f64,
    /// Connections established after a slot's first.
    pub reconnects: u64,
    /// Unavailable periods still open at the horizon.
    pub unrestored: u64,
    pub failed_requests_per_1000: f64,
    pub reconnects_per_1000_conn_hours: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RequestsReport {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub hung: u64,
    /// Latency of the ok requests (from issue to the whole reply), seconds.
    pub latency_s: Latency,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SideReport {
    pub detected: u64,
    pub undetected: u64,
    pub latency_s: Latency,
    pub false_positives: u64,
    pub false_positives_by_cause: BTreeMap<String, u64>,
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
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
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
