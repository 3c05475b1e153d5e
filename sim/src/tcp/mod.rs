//! A TCP endpoint with Linux's timer semantics, as a sans-IO state machine.
//!
//! kasim's answers are detection latencies, so this model is precise exactly
//! where timers are concerned and deliberately plain elsewhere:
//!
//! * **Precise**: the retransmission timer (RFC 6298 estimator with Linux's
//!   `rto_min` floor, exponential backoff to `rto_max`, Karn's rule), the
//!   tail-loss probe, the `tcp_retries2` give-up through `tcp_model_timeout`
//!   measured from the first RTO retransmission (`retrans_stamp`),
//!   SO_KEEPALIVE (`tcp_keepalive_timer`), TCP_USER_TIMEOUT (including its
//!   clamp of the RTO), RST acceptance (RFC 5961: exact sequence resets,
//!   in-window ones get a challenge ACK), the kernel timer wheel's
//!   rounding ([`crate::timer`]), and the per-destination RTT cache
//!   (`tcp_metrics`, [`RttCache`]) that seeds a new connection's first RTO.
//! * **Plain**: congestion control is NewReno-like (initial window 10, slow
//!   start, halving on three duplicate ACKs, one segment after an RTO) so that
//!   bulk transfers fill a slow link and recover from loss; no SACK, no Nagle
//!   (applications are assumed to set TCP_NODELAY, as ping senders do), no
//!   delayed-ACK timer (an ACK is sent at the end of processing the segment,
//!   so a reply the application writes at once carries it), no TIME_WAIT.
//!
//! The calling contract is the one of [`TcpEndpoint`].

mod endpoint;
mod outbox;
mod reassembly;
mod rtt;
mod rtt_cache;
mod stack;

pub use endpoint::{TcpEndpoint, TcpState, TimerKind};
pub use outbox::share_buffers;
pub use reassembly::Reassembly;
pub use rtt::{RtoBounds, RttEstimator};
pub use rtt_cache::{ClosingRtt, RttCache, RTT_CACHE_TIMEOUT};
pub use stack::{Os, StackRules};

use crate::error::{positive, within, ConfigError};
use crate::packet::DEFAULT_MSS;
use crate::timer::TimerModel;
use std::time::Duration;

/// Host-wide TCP settings: Linux sysctls and constants, with Linux's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct TcpConfig {
    /// Payload bytes per segment.
    pub mss: u32,
    /// `TCP_RTO_MIN`: 200 ms.
    pub rto_min: Duration,
    /// `TCP_RTO_MAX`: 120 s.
    pub rto_max: Duration,
    /// `TCP_TIMEOUT_INIT`: 1 s, before any RTT sample.
    pub rto_initial: Duration,
    /// `net.ipv4.tcp_retries2`: 15.
    pub retries2: u32,
    /// `net.ipv4.tcp_syn_retries`: 6.
    pub syn_retries: u32,
    /// `net.ipv4.tcp_syn_linear_timeouts` (Linux 6.5+, where it defaults to
    /// 4): a connect's first this-many-plus-one SYN retransmissions keep the
    /// initial RTO (SYNs at 0, 1, 2, 3, 4, 5, then 7, 11, 19 s...), and the
    /// connect gives up after `syn_retries + syn_linear_timeouts`
    /// retransmissions or `tcp_model_timeout(syn_retries)` (127 s with 6),
    /// whichever comes first. 0 here (kasim v1, Linux before 6.5): SYNs at
    /// 0, 1, 3, 7 s.
    pub syn_linear_timeouts: u32,
    /// `net.ipv4.tcp_synack_retries`: 5. A server whose SYN-ACK went
    /// unanswered this many times forgets the half-open connection (the
    /// request socket is dropped; the application never saw it).
    pub synack_retries: u32,
    /// Initial congestion window in segments (`TCP_INIT_CWND` = 10).
    pub initial_cwnd: u32,
    /// Receive window advertised (the receiver's application reads at once).
    pub receive_window: u32,
    /// `net.ipv4.tcp_early_retrans` ≥ 3 enables the tail-loss probe (default on).
    pub tail_loss_probe: bool,
    /// How armed timers map to firing instants.
    pub timers: TimerModel,
    /// Another OS's rules where they differ from Linux's (default: none).
    pub stack: StackRules,
    /// `net.ipv4.tcp_no_metrics_save`: 0 (false, Linux's default) saves a
    /// gracefully closed connection's RTT in the host's per-destination
    /// cache ([`RttCache`]), which seeds the next connection's first RTO.
    pub no_metrics_save: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: DEFAULT_MSS,
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            rto_initial: Duration::from_secs(1),
            retries2: 15,
            syn_retries: 6,
            syn_linear_timeouts: 0,
            synack_retries: 5,
            initial_cwnd: 10,
            receive_window: 6 << 20,
            tail_loss_probe: true,
            timers: TimerModel::default(),
            stack: StackRules::default(),
            no_metrics_save: false,
        }
    }
}

impl TcpConfig {
    /// The RTO's bounds, for an endpoint's [`RttEstimator`].
    #[inline]
    pub fn rto_bounds(&self) -> RtoBounds {
        RtoBounds { min: self.rto_min, max: self.rto_max, initial: self.rto_initial }
    }

    /// Check the settings against what the model and Linux accept: a
    /// non-zero MSS, positive RTOs with `rto_min <= rto_max`, `retries2` and
    /// `synack_retries` within `0..=255` (the kernel keeps them in a `u8`),
    /// `syn_retries` within `1..=127` and `syn_linear_timeouts` within
    /// `0..=127` (the sysctls' ranges),
    /// an initial window of at least one segment and a receive window of at
    /// least one MSS.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mss == 0 {
            return Err(ConfigError::MustBePositive { field: "tcp.mss" });
        }
        positive("tcp.rto_min", self.rto_min)?;
        positive("tcp.rto_initial", self.rto_initial)?;
        if self.rto_max < self.rto_min {
            return Err(ConfigError::OutOfRange {
                field: "tcp.rto_max",
                value: format!("{:?}", self.rto_max),
                allowed: "at least tcp.rto_min",
            });
        }
        // Linux keeps these in a u8; tcp_syn_retries and tcp_syn_linear_timeouts
        // stop at MAX_TCP_SYNCNT (127).
        within("tcp.retries2", self.retries2, 0..=255, "0..=255")?;
        within("tcp.synack_retries", self.synack_retries, 0..=255, "0..=255")?;
        within("tcp.syn_retries", self.syn_retries, 1..=127, "1..=127")?;
        within("tcp.syn_linear_timeouts", self.syn_linear_timeouts, 0..=127, "0..=127")?;
        if self.initial_cwnd == 0 {
            return Err(ConfigError::MustBePositive { field: "tcp.initial_cwnd" });
        }
        if self.receive_window < self.mss {
            return Err(ConfigError::OutOfRange {
                field: "tcp.receive_window",
                value: self.receive_window.to_string(),
                allowed: "at least one MSS",
            });
        }
        Ok(())
    }

    /// Linux `tcp_model_timeout`: how long `boundary` exponentially backed-off
    /// retransmissions take when the first RTO is `rto_base`. With
    /// `rto_base` = 200 ms the backoff reaches `rto_max` after
    /// `ilog2(120 s / 200 ms)` = 9 doublings, after which each retry adds 120 s:
    /// 12.6 s for `tcp_retries2` = 5, 924.6 s for the default 15.
    pub fn model_timeout(&self, boundary: u32, rto_base: Duration) -> Duration {
        let ratio = (self.rto_max.as_nanos() / rto_base.as_nanos().max(1)).max(1);
        let thresh = ratio.ilog2();
        if boundary <= thresh {
            rto_base * ((2u32 << boundary) - 1)
        } else {
            rto_base * ((2u32 << thresh) - 1) + self.rto_max * (boundary - thresh)
        }
    }
}

/// `SO_KEEPALIVE` with `TCP_KEEPIDLE` / `TCP_KEEPINTVL` / `TCP_KEEPCNT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// `TCP_KEEPIDLE`: silence (nothing received) before the first probe.
    pub idle: Duration,
    /// `TCP_KEEPINTVL`: between unanswered probes.
    pub interval: Duration,
    /// `TCP_KEEPCNT`: unanswered probes before the connection fails with
    /// `ETIMEDOUT` (at the timer after the last one, `interval` later).
    pub count: u32,
}

impl Default for Keepalive {
    /// Linux: 7200 s / 75 s / 9.
    fn default() -> Self {
        Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), count: 9 }
    }
}

impl Keepalive {
    /// Check the settings as `setsockopt` would: positive times, and a count
    /// in `1..=127` (`MAX_TCP_KEEPCNT`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("keepalive.idle", self.idle)?;
        positive("keepalive.interval", self.interval)?;
        if self.count == 0 || self.count > 127 {
            // TCP_KEEPCNT accepts 1..=MAX_TCP_KEEPCNT (127).
            return Err(ConfigError::OutOfRange { field: "keepalive.count", value: self.count.to_string(), allowed: "1..=127" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_timeout_matches_linux() {
        let c = TcpConfig::default();
        let ms = Duration::from_millis;
        // (2^6 - 1) * 0.2 s
        assert_eq!(c.model_timeout(5, ms(200)), ms(12_600));
        // 1023 * 0.2 s + (15 - 9) * 120 s
        assert_eq!(c.model_timeout(15, ms(200)), ms(924_600));
        // SYN: 6 retries from a 1 s base: (2^7 - 1) s
        assert_eq!(c.model_timeout(6, Duration::from_secs(1)), Duration::from_secs(127));
    }

    #[test]
    fn validation_names_the_field() {
        let c = TcpConfig { mss: 0, ..TcpConfig::default() };
        assert_eq!(c.validate(), Err(ConfigError::MustBePositive { field: "tcp.mss" }));
        for (n, ok) in [(0, false), (1, true), (127, true), (128, false)] {
            let c = TcpConfig { syn_retries: n, ..TcpConfig::default() };
            assert_eq!(c.validate().is_ok(), ok, "syn_retries = {n}");
        }
        let k = Keepalive { count: 0, ..Keepalive::default() };
        assert!(matches!(k.validate(), Err(ConfigError::OutOfRange { field: "keepalive.count", .. })));
    }
}
