//! What a run leaves behind: per slot, every connection it had (opened,
//! established, closed, broken, ended on purpose), and the run's totals. The
//! world fills these in as it goes; the harness derives every metric
//! (detections, unavailable periods, availability) from them.

use super::WireStats;
use crate::oracle::{BreakCause, Declaration, Evidence};
use crate::time::Instant;
use crate::trace::TraceRecord;

/// What happened to one connection of a slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnOutcome {
    /// When the client started it (sent its first SYN).
    pub opened_at: Instant,
    /// When the client's end became ESTABLISHED, if it did.
    pub established_at: Option<Instant>,
    /// When the client's socket closed, for whatever reason (declared dead
    /// and aborted, reset, given up, closed, lost in a reboot).
    pub closed_at: Option<Instant>,
    /// When and why it broke (ground truth), if it did.
    pub broken: Option<(Instant, BreakCause)>,
    /// When an application or the proxy closed it on purpose (an idle
    /// timeout), if one did before it broke: an orderly end.
    pub ended_at: Option<Instant>,
    /// When its NAT mapping expired while the flow was live.
    pub nat_expired_at: Vec<Instant>,
    /// A QUIC connection that quinn's idle timeout ended while it was not
    /// broken (then `ended_at` is that instant: an orderly end).
    pub idle_closed: bool,
    /// Which sides' applications have declared it dead (`[client, server]`).
    pub declared: [bool; 2],
}

/// What happened to one connection slot in a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotOutcome {
    /// Every connection the slot had, in order (one unless it reconnected).
    pub connections: Vec<ConnOutcome>,
    /// Its client host's clock at the end of the run (behind
    /// [`Outcome::ended_at`] by the time the host spent suspended): what its
    /// application's timestamps are measured in.
    pub client_clock: Instant,
}

impl SlotOutcome {
    /// Its first connection (the only one without reconnects).
    pub fn first(&self) -> Option<&ConnOutcome> {
        self.connections.first()
    }
    /// The first connection's break (ground truth), if it broke.
    pub fn broken(&self) -> Option<(Instant, BreakCause)> {
        self.first().and_then(|c| c.broken)
    }
    /// When the first connection was closed on purpose, if it was before it broke.
    pub fn ended_at(&self) -> Option<Instant> {
        self.first().and_then(|c| c.ended_at)
    }
    /// When the first connection's NAT mapping expired while the flow was live.
    pub fn nat_expired_at(&self) -> &[Instant] {
        self.first().map_or(&[], |c| &c.nat_expired_at)
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// When the run stopped (the horizon, or earlier when nothing was left to happen).
    pub ended_at: Instant,
    /// The first connection's break: the only one in a one-connection world.
    pub broken: Option<(Instant, BreakCause)>,
    /// Every death declaration, each naming its slot, in time order.
    pub declarations: Vec<Declaration>,
    /// Per connection (slot): its break and its NAT expiries.
    pub slots: Vec<SlotOutcome>,
    /// What every client host, and the server, sent: `[client, server]`.
    pub stats: [WireStats; 2],
    /// Mappings of live flows the NAT lost to idleness ([`Nat::expiries`](crate::nat::Nat::expiries)); 0 without a NAT.
    pub nat_expiries: u64,
    /// When each mapping (of a flow not yet closing) expired, every slot's, in time order.
    pub nat_expired_at: Vec<Instant>,
    /// Messages the clients' and the server's applications received.
    pub messages_received: [u64; 2],
    /// Events the loop ran (packet arrivals, wake-ups, faults, accepts): the engine's cost.
    pub events_processed: u64,
    /// Every record of the run, in time order; empty unless
    /// [`WorldConfig::trace`](crate::WorldConfig::trace) was on.
    pub trace: Vec<TraceRecord>,
    /// The run was stopped at its connection limit
    /// ([`WorldConfig::connection_limit`](crate::WorldConfig::connection_limit)):
    /// when, and how many connection endpoints it had opened. Its figures
    /// are then not a whole run's.
    pub stopped: Option<(Instant, usize)>,
}

/// One client connection slot and what the oracle knows of it. A slot holds
/// one connection at a time; with reconnects it has had several
/// (generations), each judged on its own.
pub(super) struct Slot {
    pub(super) client: usize,
    /// Its client-side connection now: the latest attempt.
    pub(super) conn: Option<usize>,
    /// Every connection it has had, the current one last.
    pub(super) gens: Vec<ConnOutcome>,
    /// NAT idleness of its flows (`loose`).
    pub(super) evidence: Evidence,
}

impl Slot {
    fn current(&mut self) -> Option<&mut ConnOutcome> {
        self.gens.last_mut()
    }

    /// A breaking fault hits the current connection.
    pub(super) fn record_break(&mut self, at: Instant, cause: BreakCause) {
        if let Some(g) = self.current() {
            g.record_break(at, cause);
        }
    }
}

impl ConnOutcome {
    pub(super) fn opened(at: Instant) -> ConnOutcome {
        ConnOutcome { opened_at: at, ..ConnOutcome::default() }
    }

    /// A breaking fault; only the first counts, and none after an orderly end
    /// (the connection was no longer there to break).
    pub(super) fn record_break(&mut self, at: Instant, cause: BreakCause) {
        if self.ended_at.is_none() {
            self.broken.get_or_insert((at, cause));
        }
    }

    /// Had the connection ended on purpose by `now`?
    pub(super) fn ended_before(&self, now: Instant) -> bool {
        self.ended_at.is_some_and(|t| t <= now)
    }
}
