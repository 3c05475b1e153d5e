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
    /// Attempts right after this one that failed as it did, folded into it:
    /// each was opened, never established, and closed with nothing else to
    /// tell. Only in a reconnect storm: once a run's records reach a quarter
    /// of its connection limit
    /// ([`WorldConfig::connection_limit`](crate::WorldConfig::connection_limit)),
    /// a failed attempt that follows another is folded into it, so a storm
    /// keeps one record per run of failures instead of one per attempt.
    /// This record then stands for attempts `n..=n + folded` of its slot,
    /// and what later happens to any of them (a NAT forgetting a SYN's
    /// mapping) is recorded here. No figure kasim reports changes: an
    /// attempt that never connected has nothing to detect, and only the
    /// first failure of a run can start an unavailable period. 0 otherwise.
    pub folded: u32,
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
    /// How many connections the slot opened (folded attempts included).
    pub fn attempts(&self) -> u64 {
        self.connections.iter().map(|c| 1 + u64::from(c.folded)).sum()
    }
    /// Each record with the attempt number it starts at (what a
    /// [`Declaration::conn`] names).
    pub fn numbered(&self) -> impl Iterator<Item = (u32, &ConnOutcome)> {
        self.connections.iter().scan(0u32, |next, c| {
            let n = *next;
            *next = n + 1 + c.folded;
            Some((n, c))
        })
    }
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
    /// Mappings of live flows the NATs lost to idleness, whether or not the
    /// connection was still held ([`Nat::expiries`](crate::nat::Nat::expiries));
    /// 0 without a NAT. The harness counts those while held apart.
    pub mappings_expired: u64,
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
    /// when, and how many connection records it held. Its figures are then
    /// not a whole run's.
    pub stopped: Option<(Instant, usize)>,
}

/// One client connection slot and what the oracle knows of it. A slot holds
/// one connection at a time; with reconnects it has had several
/// (generations), each judged on its own.
pub(super) struct Slot {
    pub(super) client: usize,
    /// Its client-side connection now: the latest attempt.
    pub(super) conn: Option<usize>,
    /// Every connection it has had, the current one last (runs of failed
    /// attempts folded: [`ConnOutcome::folded`]).
    pub(super) gens: Vec<ConnOutcome>,
    /// Connections it has opened: the next one's number.
    pub(super) attempts: u32,
    /// NAT idleness of its flows (`loose`).
    pub(super) evidence: Evidence,
}

impl Slot {
    fn current(&mut self) -> Option<&mut ConnOutcome> {
        self.gens.last_mut()
    }

    /// A new connection opened at `now`. With `fold`, if the last two
    /// attempts both failed plainly, the last is folded into the one before
    /// it. Returns whether a record was folded away.
    pub(super) fn open(&mut self, now: Instant, fold: bool) -> bool {
        let n = self.gens.len();
        // Never into the first record: it is the slot's first connection,
        // whose break is the slot's (`SlotOutcome::broken`).
        let folds = fold && n >= 3 && self.gens[n - 1].failed_plainly() && self.gens[n - 2].failed_plainly();
        if folds {
            self.gens.pop();
            self.gens[n - 2].folded += 1;
        }
        // Room for exactly one at first (a plain push reserves four: 312
        // bytes wasted per connection that never reconnects).
        if self.gens.is_empty() {
            self.gens.reserve_exact(1);
        }
        self.gens.push(ConnOutcome::opened(now));
        self.attempts += 1;
        folds
    }

    /// The record of attempt `gen`: its own, or the one it was folded into.
    pub(super) fn attempt(&mut self, gen: u32) -> &mut ConnOutcome {
        let at = self.record_of(gen);
        &mut self.gens[at]
    }

    /// Where in `gens` attempt `gen`'s record is.
    pub(super) fn record_of(&self, gen: u32) -> usize {
        // Searched from the newest: nearly always the last or the one before.
        let mut end = self.attempts;
        let mut at = self.gens.len() - 1;
        loop {
            let start = end - 1 - self.gens[at].folded;
            if gen >= start || at == 0 {
                return at;
            }
            end = start;
            at -= 1;
        }
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

    /// Opened, never established, closed, and nothing else to tell.
    fn failed_plainly(&self) -> bool {
        let ConnOutcome { opened_at: _, established_at, closed_at, broken, ended_at, nat_expired_at, idle_closed, declared, folded: _ } =
            self;
        established_at.is_none()
            && closed_at.is_some()
            && broken.is_none()
            && ended_at.is_none()
            && nat_expired_at.is_empty()
            && !idle_closed
            && *declared == [false; 2]
    }

    /// Had the connection ended on purpose by `now`?
    pub(super) fn ended_before(&self, now: Instant) -> bool {
        self.ended_at.is_some_and(|t| t <= now)
    }
}
