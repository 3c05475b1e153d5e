//! Ground truth: was the connection really broken when someone said so?
//!
//! The world knows what the endpoints cannot. A connection is *broken* from
//! the first fault after which some endpoint's segment can never again be
//! answered without a reset: a host's power-off (vanish) or reboot, its
//! application's crash (the kernel closes with FIN), the loss
//! of its NAT mapping under the `drop`, `rst` or `new_port` policies, or a NAT
//! reboot under those policies. Transient conditions (a link outage, a
//! suspended host, a `loose` NAT that has forgotten the flow until the inside
//! speaks again, a long queue, random loss) do not break it.
//!
//! Every death declaration is then either a detection, with latency
//! `declared − broken_since`, or a false positive labelled with the transient
//! condition that explains it: the one active at the declaration or within
//! the lookback window before it (a ping lost in an outage is declared missing
//! a timeout later), else `queue` if a long queue stood at that moment, else
//! `loss` if random loss struck within the window, else `healthy`.

use crate::side::Side;
use crate::time::Instant;
use std::fmt;
use std::time::Duration;

/// Why the connection is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakCause {
    /// That side's host was powered off (a `vanish` fault): silent forever.
    Vanish(Side),
    /// That side's host rebooted: it comes back without the connection and
    /// answers its segments with RST.
    Reboot(Side),
    /// The application process died (its kernel closed the socket with FIN).
    Crash(Side),
    /// The flow's NAT mapping timed out under a policy that does not recover
    /// (`drop`, `rst`, `new_port`).
    NatExpired,
    /// The NAT rebooted and forgot the mapping, under such a policy.
    NatReboot,
}

impl fmt::Display for BreakCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakCause::Vanish(s) => write!(f, "{s} vanished"),
            BreakCause::Reboot(s) => write!(f, "{s} rebooted"),
            BreakCause::Crash(s) => write!(f, "{s}'s application crashed"),
            BreakCause::NatExpired => f.write_str("NAT mapping expired"),
            BreakCause::NatReboot => f.write_str("NAT rebooted"),
        }
    }
}

/// What can make a healthy connection look dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// Nothing excuses it: the path was fine, the detector was too eager.
    Healthy,
    /// A link outage on the connection's path, at the declaration or within
    /// the lookback window before it.
    Outage,
    /// A host of the connection was suspended (frozen, its clock stopped).
    Suspend,
    /// The NAT had forgotten the flow in a way it recovers from (`loose`, or
    /// a UDP flow that rebinds when the inside speaks again).
    NatIdle,
    /// A long queue stood on the path at the declaration: a link backlog, or
    /// unacknowledged bytes that take that long at the uplink's rate
    /// ([`WorldConfig::queue_condition`](crate::WorldConfig::queue_condition)).
    Queue,
    /// A packet was lost at random within the lookback window.
    Loss,
}

impl Condition {
    /// Every condition, in declaration order.
    pub const ALL: [Condition; 6] =
        [Condition::Healthy, Condition::Outage, Condition::Suspend, Condition::NatIdle, Condition::Queue, Condition::Loss];

    /// The name in reports (`healthy`, `outage`, `suspend`, `nat_idle`, `queue`, `loss`).
    pub fn name(self) -> &'static str {
        match self {
            Condition::Healthy => "healthy",
            Condition::Outage => "outage",
            Condition::Suspend => "suspend",
            Condition::NatIdle => "nat_idle",
            Condition::Queue => "queue",
            Condition::Loss => "loss",
        }
    }
}

/// The oracle's judgement of one declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The connection was broken when declared dead: a true detection.
    Detection {
        /// From the break to the declaration, on the world's clock.
        latency: Duration,
    },
    /// The connection was not broken: a false positive.
    FalsePositive {
        /// The transient condition that explains it (or `Healthy`).
        condition: Condition,
    },
    /// Made after the connection was closed on purpose (an idle timeout):
    /// the end was orderly, so the declaration is neither.
    OrderlyEnd,
}

/// A death declaration and its judgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// Which end's application declared.
    pub side: Side,
    /// When, on the world's global clock (not the declaring host's, which
    /// lags after a suspend).
    pub at: Instant,
    /// The detector's reason, as the application gave it.
    pub cause: String,
    /// The oracle's judgement, made at once.
    pub verdict: Verdict,
    /// The connection (slot) it is about: 0 in a one-connection world.
    pub slot: u32,
    /// Which of the slot's connections (0 = its first; more after reconnects).
    pub conn: u32,
    /// Only the peer's own decision reaching this side (see [`echoes_peer`]):
    /// neither a detection nor a false positive. Decided once, here, when
    /// the declaration is made; every report reads it from this flag (or the
    /// trace's copy) instead of working it out again.
    pub echo: bool,
}

/// Is a declaration with this cause only the peer's own decision reaching
/// us: the peer had already declared *this connection* dead and aborted it,
/// and we saw its RST (`ECONNRESET`) or FIN (`EOF`)?
pub fn echoes_peer(cause: &str, peer_declared_first: bool) -> bool {
    peer_declared_first && matches!(cause, "ECONNRESET" | "EOF")
}

/// A transient condition's span; `end` is `Instant::MAX` while open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transient {
    start: Instant,
    end: Instant,
    condition: Condition,
}

/// What can excuse a false positive: the transient conditions seen in one
/// scope (a connection, a host, or the whole network) and its last random
/// loss. A connection's declaration is judged on the evidence of every scope
/// it lives in, so a fault on one client's link excuses only that client.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    transients: Vec<Transient>,
    last_random_loss: Option<Instant>,
}

impl Evidence {
    /// A transient `condition` begins at `at`; it stays open until
    /// [`close_transient`](Self::close_transient).
    pub fn open_transient(&mut self, at: Instant, condition: Condition) {
        self.transients.push(Transient { start: at, end: Instant::MAX, condition });
    }

    /// The latest open transient of `condition` ends at `at` (nothing if none is open).
    pub fn close_transient(&mut self, at: Instant, condition: Condition) {
        if let Some(t) = self.transients.iter_mut().rev().find(|t| t.condition == condition && t.end == Instant::MAX) {
            t.end = at;
        }
    }

    /// A packet was lost at random at `at` (only the latest is kept).
    pub fn record_random_loss(&mut self, at: Instant) {
        self.last_random_loss = Some(at);
    }

    /// The transient condition to blame for a declaration at `at`, looking
    /// back `lookback`, on this evidence and `more`; `queued` says whether a
    /// long queue stands now.
    pub fn condition(&self, more: &[&Evidence], at: Instant, lookback: Duration, queued: bool) -> Condition {
        let from = at - lookback;
        let mut worst: Option<Condition> = None;
        for e in std::iter::once(self).chain(more.iter().copied()) {
            for t in &e.transients {
                if t.start <= at && t.end >= from {
                    worst = Some(worst.map_or(t.condition, |w| w.more_telling(t.condition)));
                }
            }
        }
        if let Some(c) = worst {
            return c;
        }
        if queued {
            return Condition::Queue;
        }
        let lost = std::iter::once(self).chain(more.iter().copied()).filter_map(|e| e.last_random_loss).max();
        if lost.is_some_and(|t| t >= from) {
            return Condition::Loss;
        }
        Condition::Healthy
    }
}

/// Judge a declaration made at `at` about a connection broken since `broken`
/// (if it is), on `evidence` and `more`.
pub fn judge(
    broken: Option<(Instant, BreakCause)>,
    evidence: &Evidence,
    more: &[&Evidence],
    at: Instant,
    lookback: Duration,
    queued: bool,
) -> Verdict {
    match broken {
        Some((since, _)) if since <= at => Verdict::Detection { latency: at - since },
        _ => Verdict::FalsePositive { condition: evidence.condition(more, at, lookback, queued) },
    }
}

/// The oracle of one connection: when it broke, and the evidence about it.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    broken: Option<(Instant, BreakCause)>,
    evidence: Evidence,
}

impl Oracle {
    /// When and why the connection broke, if it did.
    pub fn broken(&self) -> Option<(Instant, BreakCause)> {
        self.broken
    }

    /// When the connection broke, if it did.
    pub fn broken_since(&self) -> Option<Instant> {
        self.broken.map(|b| b.0)
    }

    /// Record a breaking fault; only the first counts.
    pub fn record_break(&mut self, at: Instant, cause: BreakCause) {
        self.broken.get_or_insert((at, cause));
    }

    /// A transient `condition` begins at `at` ([`Evidence::open_transient`]).
    pub fn open_transient(&mut self, at: Instant, condition: Condition) {
        self.evidence.open_transient(at, condition);
    }

    /// The open transient of `condition` ends at `at` ([`Evidence::close_transient`]).
    pub fn close_transient(&mut self, at: Instant, condition: Condition) {
        self.evidence.close_transient(at, condition);
    }

    /// A packet was lost at random at `at` ([`Evidence::record_random_loss`]).
    pub fn record_random_loss(&mut self, at: Instant) {
        self.evidence.record_random_loss(at);
    }

    /// The transient condition to blame for a declaration at `at`, looking
    /// back `lookback`; `queued` says whether a long queue stands now.
    pub fn condition(&self, at: Instant, lookback: Duration, queued: bool) -> Condition {
        self.evidence.condition(&[], at, lookback, queued)
    }

    /// Judge a declaration made at `at`.
    pub fn judge(&self, at: Instant, lookback: Duration, queued: bool) -> Verdict {
        judge(self.broken, &self.evidence, &[], at, lookback, queued)
    }
}

impl Condition {
    /// Between two overlapping conditions, the one that explains more:
    /// a frozen host over a dead link over a forgetful NAT.
    fn more_telling(self, other: Condition) -> Condition {
        let rank = |c: Condition| match c {
            Condition::Suspend => 0,
            Condition::Outage => 1,
            Condition::NatIdle => 2,
            Condition::Queue => 3,
            Condition::Loss => 4,
            Condition::Healthy => 5,
        };
        if rank(other) < rank(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_after_break_is_a_detection_with_its_latency() {
        let mut o = Oracle::default();
        o.record_break(Instant::from_secs(100), BreakCause::Vanish(Side::Server));
        o.record_break(Instant::from_secs(200), BreakCause::NatExpired);
        assert_eq!(o.judge(Instant::from_secs(130), Duration::ZERO, false), Verdict::Detection { latency: Duration::from_secs(30) });
        assert_eq!(o.judge(Instant::from_secs(99), Duration::ZERO, false), Verdict::FalsePositive { condition: Condition::Healthy });
    }

    #[test]
    fn false_positive_blames_a_recent_transient() {
        let mut o = Oracle::default();
        o.open_transient(Instant::from_secs(10), Condition::Outage);
        o.close_transient(Instant::from_secs(20), Condition::Outage);
        let lookback = Duration::from_secs(60);
        assert_eq!(o.condition(Instant::from_secs(70), lookback, false), Condition::Outage);
        assert_eq!(o.condition(Instant::from_secs(81), lookback, true), Condition::Queue);
        assert_eq!(o.condition(Instant::from_secs(81), lookback, false), Condition::Healthy);
    }
}
