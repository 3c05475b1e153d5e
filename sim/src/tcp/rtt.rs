//! Round-trip estimation: RFC 6298 with Linux's floor on the variance term.
//!
//! `rto = srtt + max(4·rttvar, rto_min)`, clamped to `rto_max`; 1 s before the
//! first sample. Linux keeps `rttvar` at least `rto_min` (`tcp_rtt_estimator`'s
//! `mdev_max`), which on a fast link makes the RTO ≈ 200 ms + srtt.

use std::time::Duration;

/// A connection's RTT estimate and the retransmission timeout it gives
/// (before backoff): RFC 6298 with Linux's `rto_min` floor on the variance
/// term.
#[derive(Clone, Debug, Default)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    /// An RTO seeded from the host's cache of the peer's RTT
    /// ([`seed`](Self::seed)), in force until the next sample.
    seeded: Option<Duration>,
    rttvar: Duration,
}

/// The bounds of the retransmission timeout: every connection of a world
/// has the same, so they live in its shared configuration, not in each of
/// ten thousand estimators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoBounds {
    /// The floor of `4·rttvar` (Linux `TCP_RTO_MIN`, 200 ms).
    pub min: Duration,
    /// The ceiling (Linux `TCP_RTO_MAX`, 120 s).
    pub max: Duration,
    /// The RTO before the first sample (1 s).
    pub initial: Duration,
}

impl RttEstimator {
    /// An estimator with no sample yet: its RTO is the bounds' `initial`
    /// until the first, then `srtt + max(4·rttvar, min)` clamped to `max`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The smoothed RTT (`srtt`), once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Linux `tcp_init_metrics`: a connection that has just become
    /// established, whose host cached a larger RTT `cached` for the peer
    /// (already cut to whole jiffies) than its handshake measured, starts
    /// with the RTO `cached + max(2·cached, rto_min)` instead. The estimator's
    /// variables are kept: the next sample recomputes the RTO from them, so
    /// the cache decides only the first data segment's RTO.
    pub fn seed(&mut self, cached: Duration, bounds: &RtoBounds) {
        if cached > self.srtt.unwrap_or(Duration::ZERO) {
            self.seeded = Some(cached + (cached * 2).max(bounds.min));
        }
    }

    /// Feed one measurement (never from a retransmitted segment: Karn).
    pub fn sample(&mut self, r: Duration) {
        self.seeded = None;
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let err = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + err) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
    }

    /// The un-backed-off retransmission timeout.
    pub fn rto(&self, bounds: &RtoBounds) -> Duration {
        if let Some(seeded) = self.seeded {
            return seeded.min(bounds.max);
        }
        match self.srtt {
            None => bounds.initial,
            Some(s) => (s + (self.rttvar * 4).max(bounds.min)).min(bounds.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's bounds: 200 ms, 120 s, 1 s.
    const B: RtoBounds = RtoBounds { min: Duration::from_millis(200), max: Duration::from_secs(120), initial: Duration::from_secs(1) };

    fn est() -> RttEstimator {
        RttEstimator::new()
    }

    #[test]
    fn a_larger_cached_rtt_seeds_the_rto_until_the_next_sample() {
        let mut e = est();
        // The handshake measured 50 ms: RTO 50 ms + max(4 · 25 ms, 200 ms) = 250 ms.
        e.sample(Duration::from_millis(50));
        assert_eq!(e.rto(&B), Duration::from_millis(250));
        // A cached 116 ms: 116 + max(232, 200) = 348 ms (tcp_init_metrics).
        e.seed(Duration::from_millis(116), &B);
        assert_eq!(e.rto(&B), Duration::from_millis(348));
        // A cached 60 ms: 60 + max(120, 200) = 260 ms; the floor is rto_min.
        let mut f = est();
        f.sample(Duration::from_millis(50));
        f.seed(Duration::from_millis(60), &B);
        assert_eq!(f.rto(&B), Duration::from_millis(260));
        // The first data sample (50 ms again) recomputes from the estimator:
        // srtt 50, rttvar (3 · 25 + 0) / 4 = 18.75 ms: 50 + max(75, 200) = 250 ms.
        e.sample(Duration::from_millis(50));
        assert_eq!(e.rto(&B), Duration::from_millis(250));
    }

    #[test]
    fn a_cached_rtt_no_larger_than_the_handshakes_is_ignored() {
        let mut e = est();
        e.sample(Duration::from_millis(50));
        e.seed(Duration::from_millis(50), &B);
        assert_eq!(e.rto(&B), Duration::from_millis(250));
        // No handshake sample (a retransmitted SYN, Karn): any cached RTT is larger than 0.
        let mut f = est();
        f.seed(Duration::from_millis(10), &B);
        assert_eq!(f.rto(&B), Duration::from_millis(210));
    }

    #[test]
    fn initial_rto_is_one_second() {
        assert_eq!(est().rto(&B), Duration::from_secs(1));
    }

    #[test]
    fn fast_link_rto_is_floor_plus_srtt() {
        let mut e = est();
        e.sample(Duration::from_micros(50));
        // 50 µs + max(4 · 25 µs, 200 ms)
        assert_eq!(e.rto(&B), Duration::from_micros(200_050));
    }

    #[test]
    fn slow_link_uses_four_rttvar() {
        let mut e = est();
        e.sample(Duration::from_millis(400));
        // srtt 400, rttvar 200 -> 400 + 800
        assert_eq!(e.rto(&B), Duration::from_millis(1200));
        e.sample(Duration::from_millis(400));
        // rttvar = 3/4·200 + 1/4·0 = 150; srtt 400 -> 400 + 600
        assert_eq!(e.rto(&B), Duration::from_millis(1000));
    }

    #[test]
    fn clamped_to_rto_max() {
        let mut e = est();
        e.sample(Duration::from_secs(100));
        assert_eq!(e.rto(&B), Duration::from_secs(120));
    }
}
