//! The φ accrual failure detector (Hayashibara et al., "The φ Accrual Failure
//! Detector", SRDS 2004), in Akka's variant (`akka.remote.PhiAccrualFailureDetector`).
//!
//! The monitor sends a heartbeat request every `interval`; the peer's answer
//! is the heartbeat (Akka cluster's HeartbeatRsp). Inter-arrival times go into
//! a sliding window of `window` samples, seeded at the first heartbeat with
//! `interval ± interval/4` as Akka does. At time `t` after the last heartbeat,
//!
//! ```text
//! φ(t) = −log10(1 − F(t)),  F = the normal CDF with mean = window mean + acceptable_pause
//!                           and σ = max(window σ, min_std_dev),
//! ```
//!
//! using Akka's logistic approximation of the CDF,
//! `1 − F(t) ≈ e / (1 + e)` with `e = exp(−y·(1.5976 + 0.070566·y²))`,
//! `y = (t − mean)/σ`. The peer is declared dead when φ > `threshold`.
//!
//! Because φ only grows between heartbeats, the crossing instant is solved
//! once per heartbeat: `φ = th ⇔ y·(1.5976 + 0.070566·y²) = ln(10^th − 1)`,
//! so the deadline is `last + mean + y*·σ`. With Akka's defaults on a steady
//! 1 s link: y* = 5.226 (th = 8), mean = 1 s + 3 s, σ = 100 ms (floor): dead
//! 4.52 s after the last heartbeat.
//!
//! Heartbeats travel in the byte stream, so a queue on a slow link shows up
//! as jitter that widens σ and the window mean: the detector absorbs it at the
//! cost of slower detection afterwards.

use super::{Control, Observed, Strategy};
use sim::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// `phi_accrual`: the φ accrual failure detector (module docs), in Akka's variant and
/// with Akka's defaults; heartbeat requests are pings, the peer's pongs are the heartbeats.
#[derive(Clone, Debug)]
pub struct PhiAccrual {
    /// `interval`: between heartbeat requests, the first at once on connect (Akka default 1 s).
    pub interval: Duration,
    /// `threshold`: φ above which the peer is declared dead (Akka default 8.0).
    pub threshold: f64,
    /// `window`: inter-arrival samples kept (Akka default 1000; at least 2).
    pub window: usize,
    /// `min_std_dev`: floor of the standard deviation (Akka default 100 ms).
    pub min_std_dev: Duration,
    /// `acceptable_pause`: added to the mean inter-arrival time (Akka default 3 s).
    pub acceptable_pause: Duration,
    /// Bytes of each heartbeat request (and its answer): 8.
    pub heartbeat_size: u64,
    /// Inter-arrival times in seconds, with running sums.
    samples: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    last: Option<Instant>,
    deadline: Option<Instant>,
    next_request: Instant,
    seq: u64,
}

impl PhiAccrual {
    /// A detector with the scenario's parameters; `window` is raised to at least 2.
    pub fn new(interval: Duration, threshold: f64, window: usize, min_std_dev: Duration, acceptable_pause: Duration) -> Self {
        PhiAccrual {
            interval,
            threshold,
            window: window.max(2),
            min_std_dev,
            acceptable_pause,
            heartbeat_size: 8,
            samples: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            last: None,
            deadline: None,
            next_request: Instant::MAX,
            seq: 0,
        }
    }

    fn push(&mut self, x: f64) {
        if self.samples.len() == self.window {
            if let Some(old) = self.samples.pop_front() {
                self.sum -= old;
                self.sum_sq -= old * old;
            }
        }
        self.samples.push_back(x);
        self.sum += x;
        self.sum_sq += x * x;
    }

    /// (mean + acceptable pause, σ floored) in seconds.
    pub fn distribution(&self) -> (f64, f64) {
        let n = self.samples.len().max(1) as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        (mean + self.acceptable_pause.as_secs_f64(), var.sqrt().max(self.min_std_dev.as_secs_f64()))
    }

    /// φ at `elapsed` seconds after the last heartbeat (Akka's formula).
    pub fn phi(&self, elapsed: f64) -> f64 {
        let (mean, sd) = self.distribution();
        let y = (elapsed - mean) / sd;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        if elapsed > mean {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        }
    }

    /// Seconds after the last heartbeat at which φ reaches the threshold.
    pub fn crossing(&self) -> f64 {
        let (mean, sd) = self.distribution();
        mean + crossing_y(self.threshold) * sd
    }
}

/// Solve `y·(1.5976 + 0.070566·y²) = ln(10^th − 1)` for y (monotonic: bisection).
pub fn crossing_y(threshold: f64) -> f64 {
    let target = (10f64.powf(threshold) - 1.0).max(f64::MIN_POSITIVE).ln();
    let g = |y: f64| y * (1.5976 + 0.070566 * y * y);
    let (mut lo, mut hi) = (-50.0, 50.0);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if g(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

impl Strategy for PhiAccrual {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        // Akka starts heartbeating at once.
        self.next_request = now;
    }

    fn on_event(&mut self, now: Instant, event: Observed, _ctl: &mut Control) {
        let Observed::Pong { .. } = event else { return };
        match self.last {
            None => {
                // Akka's firstHeartbeat: seed with the estimate ± a quarter of it.
                let est = self.interval.as_secs_f64();
                self.push(est - est / 4.0);
                self.push(est + est / 4.0);
            }
            Some(last) => self.push((now - last).as_secs_f64()),
        }
        self.last = Some(now);
        self.deadline = Some(now + Duration::from_secs_f64(self.crossing().max(0.0)));
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.deadline.map_or(self.next_request, |d| d.min(self.next_request)))
    }

    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if self.deadline.is_some_and(|d| d <= now) {
            ctl.declare_dead(&format!("phi > {}", self.threshold));
            return;
        }
        if self.next_request <= now {
            self.seq += 1;
            ctl.ping(self.seq, self.heartbeat_size);
            self.next_request += self.interval;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn akka() -> PhiAccrual {
        PhiAccrual::new(Duration::from_secs(1), 8.0, 1000, Duration::from_millis(100), Duration::from_secs(3))
    }

    #[test]
    fn crossing_solves_akkas_formula() {
        let y = crossing_y(8.0);
        assert!((y - 5.226).abs() < 0.001, "{y}");
        // And φ there is the threshold.
        let mut d = akka();
        for _ in 0..100 {
            d.push(1.0);
        }
        let t = d.crossing();
        assert!((d.phi(t) - 8.0).abs() < 1e-6, "{}", d.phi(t));
        assert!(d.phi(t - 0.01) < 8.0 && d.phi(t + 0.01) > 8.0);
    }

    #[test]
    fn steady_one_second_heartbeats_cross_at_4_52_s() {
        let mut d = akka();
        d.push(0.75);
        d.push(1.25);
        for _ in 0..98 {
            d.push(1.0);
        }
        // mean 1.0 + 3 s pause; σ = sqrt(2 · 0.0625 / 100) = 0.035 -> floored at 0.1.
        let (mean, sd) = d.distribution();
        assert!((mean - 4.0).abs() < 1e-9 && (sd - 0.1).abs() < 1e-9);
        assert!((d.crossing() - 4.5226).abs() < 0.001, "{}", d.crossing());
    }
}
