//! Round-trip estimation: RFC 6298 with Linux's floor on the variance term.
//!
//! `rto = srtt + max(4·rttvar, rto_min)`, clamped to `rto_max`; 1 s before the
//! first sample. Linux keeps `rttvar` at least `rto_min` (`tcp_rtt_estimator`'s
//! `mdev_max`), which on a fast link makes the RTO ≈ 200 ms + srtt.

use std::time::Duration;

/// A connection's RTT estimate and the retransmission timeout it gives
/// (before backoff): RFC 6298 with Linux's `rto_min` floor on the variance
/// term.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto_min: Duration,
    rto_max: Duration,
    rto_initial: Duration,
}

impl RttEstimator {
    /// An estimator with no sample yet: its RTO is `rto_initial` until the
    /// first, then `srtt + max(4·rttvar, rto_min)` clamped to `rto_max`.
    pub fn new(rto_min: Duration, rto_max: Duration, rto_initial: Duration) -> Self {
        RttEstimator { srtt: None, rttvar: Duration::ZERO, rto_min, rto_max, rto_initial }
    }

    /// The smoothed RTT (`srtt`), once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Feed one measurement (never from a retransmitted segment: Karn).
    pub fn sample(&mut self, r: Duration) {
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
    pub fn rto(&self) -> Duration {
        match self.srtt {
            None => self.rto_initial,
            Some(s) => (s + (self.rttvar * 4).max(self.rto_min)).min(self.rto_max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(Duration::from_millis(200), Duration::from_secs(120), Duration::from_secs(1))
    }

    #[test]
    fn initial_rto_is_one_second() {
        assert_eq!(est().rto(), Duration::from_secs(1));
    }

    #[test]
    fn fast_link_rto_is_floor_plus_srtt() {
        let mut e = est();
        e.sample(Duration::from_micros(50));
        // 50 µs + max(4 · 25 µs, 200 ms)
        assert_eq!(e.rto(), Duration::from_micros(200_050));
    }

    #[test]
    fn slow_link_uses_four_rttvar() {
        let mut e = est();
        e.sample(Duration::from_millis(400));
        // srtt 400, rttvar 200 -> 400 + 800
        assert_eq!(e.rto(), Duration::from_millis(1200));
        e.sample(Duration::from_millis(400));
        // rttvar = 3/4·200 + 1/4·0 = 150; srtt 400 -> 400 + 600
        assert_eq!(e.rto(), Duration::from_millis(1000));
    }

    #[test]
    fn clamped_to_rto_max() {
        let mut e = est();
        e.sample(Duration::from_secs(100));
        assert_eq!(e.rto(), Duration::from_secs(120));
    }
}
