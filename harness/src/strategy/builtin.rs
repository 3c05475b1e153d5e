//! The built-in policies: nothing, kernel keepalive, application ping.

use super::{Control, Observed, Strategy};
use sim::tcp::Keepalive;
use sim::Instant;
use std::time::Duration;

/// `none`: rely on TCP's retransmission timeout, only when data is sent.
pub struct NoStrategy;

impl Strategy for NoStrategy {
    fn on_connected(&mut self, _now: Instant, _ctl: &mut Control) {}
}

/// `tcp_keepalive`: set SO_KEEPALIVE (+ TCP_USER_TIMEOUT); the kernel does the rest.
pub struct TcpKeepalive {
    /// `idle`, `interval`, `count`: `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`, set with
    /// `SO_KEEPALIVE` when the connection is established (Linux defaults 2 h, 75 s, 9).
    pub keepalive: Keepalive,
    /// `user_timeout`: `TCP_USER_TIMEOUT`, set only when `Some` (Linux default: off); it
    /// also bounds how long keepalive probes may go unanswered.
    pub user_timeout: Option<Duration>,
}

impl Strategy for TcpKeepalive {
    fn on_connected(&mut self, _now: Instant, ctl: &mut Control) {
        ctl.set_keepalive(Some(self.keepalive));
        if self.user_timeout.is_some() {
            ctl.set_user_timeout(self.user_timeout);
        }
    }
}

/// What proves the peer alive while a ping is outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Only the pong.
    Pong,
    /// Any bytes read from the peer.
    AnyBytes,
    /// The pong, or progress of the peer's acknowledgements of our data: a
    /// ping stuck behind an upload is not a dead peer while the upload moves.
    AckProgress,
}

impl Liveness {
    /// Every choice, in the order `kasim list` and the schema show them.
    pub const ALL: [Liveness; 3] = [Liveness::Pong, Liveness::AnyBytes, Liveness::AckProgress];
    /// Their names in scenario files, in that order.
    pub const NAMES: [&'static str; 3] = ["pong", "any_bytes", "ack_progress"];

    /// The choice named `name` in a scenario file.
    pub fn named(name: &str) -> Option<Liveness> {
        Liveness::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The choice's name in scenario files (`liveness = "pong"`, …).
    pub fn name(self) -> &'static str {
        Liveness::NAMES[self as usize]
    }
}

/// `app_ping`: every `interval`, write a ping; if `timeout` passes without
/// proof of life (see [`Liveness`]), declare the peer dead.
#[derive(Clone, Debug)]
pub struct AppPing {
    /// `interval`: between pings, from the connection's establishment, on this host's clock.
    pub interval: Duration,
    /// `timeout`: how long to wait for proof of life after a ping before declaring the peer dead.
    pub timeout: Duration,
    /// Skip the ping when the workload sent or received data in the last interval.
    pub idle_only: bool,
    /// `liveness`: what counts as proof of life while a ping is outstanding.
    pub liveness: Liveness,
    /// `ping_size`: bytes of each ping (and of the pong that answers it); default 8.
    pub ping_size: u64,
    next_ping: Instant,
    deadline: Option<Instant>,
    last_activity: Instant,
    acked: u64,
    seq: u64,
}

impl AppPing {
    /// A pinger with the scenario's parameters (defaults: 10 min, 3 min, not idle-only,
    /// `pong`, 8 bytes); it starts when the connection is established.
    pub fn new(interval: Duration, timeout: Duration, idle_only: bool, liveness: Liveness, ping_size: u64) -> Self {
        AppPing {
            interval,
            timeout,
            idle_only,
            liveness,
            ping_size,
            next_ping: Instant::MAX,
            deadline: None,
            last_activity: Instant::ZERO,
            acked: 0,
            seq: 0,
        }
    }
}

impl Strategy for AppPing {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.next_ping = now + self.interval;
        self.last_activity = now;
    }

    fn on_event(&mut self, now: Instant, event: Observed, _ctl: &mut Control) {
        match event {
            Observed::Pong { id } if id == self.seq => self.deadline = None,
            Observed::Received { .. } if self.liveness == Liveness::AnyBytes => self.deadline = None,
            Observed::Acked { total } if total > self.acked => {
                self.acked = total;
                if self.liveness == Liveness::AckProgress && self.deadline.is_some() {
                    self.deadline = Some(now + self.timeout);
                }
            }
            Observed::Wrote { .. } | Observed::WorkloadMessage { .. } => self.last_activity = now,
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.deadline.map_or(self.next_ping, |d| d.min(self.next_ping)))
    }

    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if self.deadline.is_some_and(|d| d <= now) {
            ctl.declare_dead("ping timeout");
            return;
        }
        if self.next_ping <= now {
            self.next_ping += self.interval;
            let busy = self.idle_only && now - self.last_activity < self.interval;
            if !busy && self.deadline.is_none() {
                self.seq += 1;
                ctl.ping(self.seq, self.ping_size);
                self.deadline = Some(now + self.timeout);
            }
        }
    }
}
