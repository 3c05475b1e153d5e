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
}
