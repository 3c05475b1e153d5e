//! One run boiled down to what the metrics need.
//!
//! A run's full [`Outcome`] (declarations, NAT expiry times, wire counters,
//! perhaps a trace) is far more than the metrics need. Right after a run the
//! runner boils it down to a [`RunSummary`]: how each side fared, a handful
//! of counters, the healthy time. Everything downstream works from summaries
//! alone: the report and its intervals (`metrics`, `confidence`), `[[expect]]`
//! witnesses, the HTML plots, `kasim tune`, and the partial results that
//! `kasim merge` combines across shards. Two reasons: memory stays flat per
//! seed however long the run, and a summary serialises *exactly* (integers
//! only), so a merged shard set aggregates to the same bytes as the unsharded
//! run.

use crate::packed::PackedList;
use crate::record::RunRecord;
use crate::session::RequestTally;
use serde::{Deserialize, Serialize};
use sim::oracle::{BreakCause, Condition, Declaration, Verdict};
use sim::packet::{SegmentKind, HEADER_BYTES};
use sim::world::{ConnOutcome, SlotOutcome};
use sim::{Instant, Outcome, Side};
use std::fmt;
use std::time::Duration;

/// How one side fared in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideOutcome {
    /// The connection broke and this side declared it, after `latency`.
    Detected(Duration),
    /// The connection broke and this side never noticed before the horizon.
    Undetected,
    /// This side declared a healthy connection dead.
    FalsePositive(Condition),
    /// Nothing to detect and no false alarm.
    Quiet,
    /// Not this side's to detect: its own host failed, or the peer's decision
    /// closed the connection first.
    NotApplicable,
}

/// Compact text form, used in partial results: `d:<latency ns>`, `u`,
/// `fp:<condition>`, `q`, `na`.
impl fmt::Display for SideOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SideOutcome::Detected(l) => write!(f, "d:{}", l.as_nanos()),
            SideOutcome::Undetected => f.write_str("u"),
            SideOutcome::FalsePositive(c) => write!(f, "fp:{}", c.name()),
            SideOutcome::Quiet => f.write_str("q"),
            SideOutcome::NotApplicable => f.write_str("na"),
        }
    }
}

impl std::str::FromStr for SideOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not a side outcome (d:NANOS, u, fp:CONDITION, q, na)");
        Ok(match s {
            "u" => SideOutcome::Undetected,
            "q" => SideOutcome::Quiet,
            "na" => SideOutcome::NotApplicable,
            _ => {
                if let Some(ns) = s.strip_prefix("d:") {
                    SideOutcome::Detected(Duration::from_nanos(ns.parse().map_err(|_| bad())?))
                } else if let Some(c) = s.strip_prefix("fp:") {
                    SideOutcome::FalsePositive(*Condition::ALL.iter().find(|x| x.name() == c).ok_or_else(bad)?)
                } else {
                    return Err(bad());
                }
            }
        })
    }
}

impl Serialize for SideOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SideOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A [`SideOutcome`] in 8 bytes, as a run's summary keeps it until the
/// report (one per side and connection of every seed): the top 3 bits say
/// which outcome, the rest hold a detection latency in nanoseconds (up to 73
/// years; a horizon is at most a year) or a condition's index. Serialized as
/// the outcome's text form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PackedOutcome(u64);

const KIND_SHIFT: u32 = 61;
const PAYLOAD: u64 = (1 << KIND_SHIFT) - 1;

impl From<SideOutcome> for PackedOutcome {
    fn from(o: SideOutcome) -> Self {
        PackedOutcome(match o {
            SideOutcome::Detected(l) => u64::try_from(l.as_nanos()).unwrap_or(u64::MAX).min(PAYLOAD),
            SideOutcome::Undetected => 1 << KIND_SHIFT,
            SideOutcome::FalsePositive(c) => (2 << KIND_SHIFT) | Condition::ALL.iter().position(|&x| x == c).unwrap_or(0) as u64,
            SideOutcome::Quiet => 3 << KIND_SHIFT,
            SideOutcome::NotApplicable => 4 << KIND_SHIFT,
        })
    }
}

impl PackedOutcome {
    /// The outcome it holds.
    pub fn get(self) -> SideOutcome {
        let payload = self.0 & PAYLOAD;
        match self.0 >> KIND_SHIFT {
            0 => SideOutcome::Detected(Duration::from_nanos(payload)),
            1 => SideOutcome::Undetected,
            2 => SideOutcome::FalsePositive(Condition::ALL[(payload as usize).min(Condition::ALL.len() - 1)]),
            3 => SideOutcome::Quiet,
            _ => SideOutcome::NotApplicable,
        }
    }
}

impl fmt::Debug for PackedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}

impl Serialize for PackedOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PackedOutcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SideOutcome::deserialize(d).map(PackedOutcome::from)
    }
}

impl PackedOutcome {
    /// The same outcome with the kind in the low bits: a false positive or
    /// a quiet side is a number under 64, one varint byte.
    fn code(self) -> u64 {
        ((self.0 & PAYLOAD) << 3) | (self.0 >> KIND_SHIFT)
    }
    fn from_code(code: u64) -> Self {
        PackedOutcome(((code & 7) << KIND_SHIFT) | (code >> 3))
    }
}

/// How both sides fared on each connection after a slot's first (sessions
/// reconnect; a flaky link makes dozens per run), packed: a pair that is a
/// false positive and a quiet side takes 2 bytes instead of 16. Serialized
/// as the list of pairs it holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaterOutcomes(PackedList);

impl LaterOutcomes {
    fn push(&mut self, sides: [PackedOutcome; 2]) {
        for o in sides {
            self.0.push(o.code());
        }
    }
    /// Each later connection's `[client, server]` outcomes, in the order they were established.
    pub fn iter(&self) -> impl Iterator<Item = [PackedOutcome; 2]> + '_ {
        let mut codes = self.0.iter();
        std::iter::from_fn(move || Some([PackedOutcome::from_code(codes.next()?), PackedOutcome::from_code(codes.next()?)]))
    }
}

impl Serialize for LaterOutcomes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for LaterOutcomes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<[PackedOutcome; 2]>::deserialize(d)?;
        let mut later = LaterOutcomes::default();
        pairs.into_iter().for_each(|p| later.push(p));
        later.0.shrink();
        Ok(later)
    }
}

/// How one connection (slot) of a run fared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotSummary {
    /// How the client and the server fared (`[client, server]`).
    pub sides: [PackedOutcome; 2],
    /// Its NAT mappings lost to idleness while the connection was held
    /// (before either side declared it dead). Named `nat_expiries` in
    /// partial results, as the report's total of it is.
    #[serde(rename = "nat_expiries")]
    pub expiries_while_held: u64,
    /// Time from the start until its first declaration or break (or the
    /// horizon), in nanoseconds: its healthy connection time (with
    /// reconnects, every connection's, each from its establishment).
    pub healthy_ns: u64,
    /// Sessions: how the client and the server fared on each connection
    /// established after the first.
    /// Boxed, and absent without reconnects, so a slot is 40 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub later: Option<Box<LaterOutcomes>>,
}

/// What a run's sessions came to (a scenario that measures them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// What became of the client's requests (counts and ok latencies), packed.
    pub requests: RequestTally,
    /// Each unavailable period that ended before the horizon, nanoseconds.
    pub restore_ns: PackedList,
    /// Unavailable periods still open at the horizon.
    pub unrestored: u64,
    /// Unavailable slot-time, every slot, nanoseconds.
    pub unavailable_ns: u64,
    /// Time with a working connection, every slot, nanoseconds.
    pub working_ns: u64,
    /// Connections established after a slot's first.
    pub reconnects: u64,
}

/// What the metrics need from one run: a few counters per connection, and at
/// most one latency per connection and side, whatever the run did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The seed the run was made with.
    pub seed: u64,
    /// One per connection (slot), in slot order (a boxed slice: no spare capacity).
    pub slots: Box<[SlotSummary]>,
    /// Keepalive packets, both directions, every connection: TCP keepalive
    /// probes and their ACKs, pings, pongs and one-way heartbeat frames.
    pub keepalive_packets: u64,
    /// Their IP bytes (headers included; one header per ping, pong or frame).
    pub keepalive_bytes: u64,
    /// Did anyone declare the peer dead (for picking a representative run)?
    pub declared: bool,
    /// Boxed: most scenarios have no session figures, and a summary is held
    /// per seed until the report (see `benches/bytes_per_seed.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Box<SessionSummary>>,
    /// QUIC connections that quinn's idle timeout ended while not broken.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub idle_closes: u32,
    /// The run hit its connection limit (a reconnect storm) and was stopped:
    /// (simulated nanoseconds, connection records held). Such a run has
    /// no whole figures; commands refuse it ([`RunSummary::first_stopped`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<(u64, u64)>,
    /// Connections closed on purpose by an idle timer (the proxy's, or an
    /// application's) before they broke. Not in shard files: only
    /// `kasim doctor` reads it, on runs it made itself.
    #[serde(skip)]
    pub orderly_ends: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RunSummary {
    /// Boil a finished run down to what the metrics need.
    pub fn of(r: &RunRecord) -> RunSummary {
        let (keepalive_packets, keepalive_bytes) = keepalive_overhead(r);
        let mut by_slot: Vec<Vec<&Declaration>> = vec![Vec::new(); r.outcome.slots.len()];
        for d in &r.outcome.declarations {
            if let Some(v) = by_slot.get_mut(d.slot as usize) {
                v.push(d);
            }
        }
        let horizon = Instant::ZERO + r.horizon;
        let slots = r
            .outcome
            .slots
            .iter()
            .zip(&by_slot)
            .map(|(slot, declarations)| match &r.requests {
                None => SlotSummary {
                    sides: Side::BOTH.map(|side| slot_side_outcome(declarations, slot.broken(), side).into()),
                    expiries_while_held: expiries_while_held_by(declarations, slot.nat_expired_at()),
                    healthy_ns: healthy_until(declarations, slot, r.horizon).since_start().as_nanos() as u64,
                    later: None,
                },
                Some(_) => session_slot(declarations, slot, horizon),
            })
            .collect();
        let session = r.requests.as_ref().map(|requests| {
            let mut s = SessionSummary { requests: RequestTally::from(requests), ..SessionSummary::default() };
            for slot in &r.outcome.slots {
                availability(&slot.connections, horizon, &mut s);
            }
            s.restore_ns.shrink();
            Box::new(s)
        });
        let connections = || r.outcome.slots.iter().flat_map(|s| &s.connections);
        let idle_closes = connections().filter(|c| c.idle_closed).count() as u32;
        let orderly_ends = connections().filter(|c| c.ended_at.is_some()).count() as u32;
        RunSummary {
            seed: r.seed,
            slots,
            keepalive_packets,
            keepalive_bytes,
            declared: !r.outcome.declarations.is_empty(),
            session,
            idle_closes,
            stopped: r.outcome.stopped.map(|(at, n)| (at.since_start().as_nanos() as u64, n as u64)),
            orderly_ends,
        }
    }

    /// The first run of `runs` (in order) that was stopped at its
    /// connection limit: its seed, when, and how many connection records it held.
    pub fn first_stopped(runs: &[RunSummary]) -> Option<(u64, Duration, u64)> {
        runs.iter().find_map(|r| r.stopped.map(|(at, n)| (r.seed, Duration::from_nanos(at), n)))
    }

    /// How each connection's `side` fared (with reconnects, every established connection's).
    pub fn outcomes(&self, side: Side) -> impl Iterator<Item = SideOutcome> + '_ {
        self.slots
            .iter()
            .flat_map(move |s| std::iter::once(s.sides).chain(s.later.iter().flat_map(|l| l.iter())).map(move |o| o[side.index()].get()))
    }

    /// NAT mappings lost to idleness while held, every connection.
    pub fn expiries_while_held(&self) -> u64 {
        self.slots.iter().map(|s| s.expiries_while_held).sum()
    }

    /// Healthy connection time, every connection, in hours.
    pub fn healthy_hours(&self) -> f64 {
        self.slots.iter().map(|s| Duration::from_nanos(s.healthy_ns).as_secs_f64() / 3600.0).sum()
    }
}

/// A session slot: each established connection judged on its own (an
/// attempt that never connected has nothing to detect), its healthy time
/// counted from its establishment (the first from time 0, as in v1).
fn session_slot(declarations: &[&Declaration], slot: &SlotOutcome, horizon: Instant) -> SlotSummary {
    let mut summary = SlotSummary { sides: [SideOutcome::NotApplicable.into(); 2], expiries_while_held: 0, healthy_ns: 0, later: None };
    // `g` is the attempt's number, which declarations name (runs of failed attempts are folded).
    for (g, c) in slot.numbered() {
        let Some(established) = c.established_at else { continue };
        let mine: Vec<&Declaration> = declarations.iter().copied().filter(|d| d.conn == g).collect();
        let sides = Side::BOTH.map(|side| PackedOutcome::from(slot_side_outcome(&mine, c.broken, side)));
        if g == 0 {
            summary.sides = sides;
        } else {
            summary.later.get_or_insert_with(Default::default).push(sides);
        }
        summary.expiries_while_held += expiries_while_held_by(&mine, &c.nat_expired_at);
        let start = if g == 0 { Instant::ZERO } else { established };
        let end = mine.iter().map(|d| d.at).chain(c.broken.map(|b| b.0)).chain(c.ended_at).chain(c.closed_at).fold(horizon, Instant::min);
        summary.healthy_ns += end.saturating_since(start).as_nanos() as u64;
    }
    if let Some(later) = summary.later.as_mut() {
        later.0.shrink();
    }
    summary
}

/// A span without a working connection; `end` is `None` for one still open
/// at the horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// When it began: a break or an end that was not orderly (simulated time, the world's clock).
    pub start: Instant,
    /// When the slot next had a working connection; `None`: still unavailable at the horizon.
    pub end: Option<Instant>,
}

/// A slot's unavailable periods (CONTRACT "Sessions"): a period starts at a
/// connection's ground-truth break or at an end that is not orderly
/// (declared dead, reset, given up, an attempt that failed), whichever comes
/// first, and lasts until the slot next has an established connection that
/// is not broken, or the horizon. Orderly closes start none.
pub fn unavailable_periods(connections: &[ConnOutcome], horizon: Instant) -> Vec<Period> {
    let mut periods = Vec::new();
    let mut open: Option<Instant> = None;
    for c in connections {
        if let (Some(start), Some(est)) = (open, c.established_at) {
            if c.broken.is_none_or(|(at, _)| at > est) && est >= start {
                periods.push(Period { start, end: Some(est) });
                open = None;
            }
        }
        let failed_end = c.closed_at.filter(|_| c.ended_at.is_none());
        let start = c.broken.map(|b| b.0).into_iter().chain(failed_end).min();
        if open.is_none() {
            open = start.filter(|t| *t < horizon);
        }
    }
    periods.extend(open.map(|start| Period { start, end: None }));
    periods
}

/// Add a slot's unavailable periods, working time and reconnects to `s`.
fn availability(connections: &[ConnOutcome], horizon: Instant, s: &mut SessionSummary) {
    for p in unavailable_periods(connections, horizon) {
        let end = p.end.unwrap_or(horizon);
        s.unavailable_ns += (end - p.start).as_nanos() as u64;
        match p.end {
            Some(_) => s.restore_ns.push((end - p.start).as_nanos() as u64),
            None => s.unrestored += 1,
        }
    }
    for (g, c) in connections.iter().enumerate() {
        let Some(est) = c.established_at else { continue };
        if g > 0 {
            s.reconnects += 1;
        }
        let end = c.broken.map(|b| b.0).into_iter().chain(c.closed_at).fold(horizon, Instant::min);
        s.working_ns += end.saturating_since(est).as_nanos() as u64;
    }
}

/// The declaration that counts for `side` among one connection's: its first,
/// unless it only [echoes the peer](sim::oracle::echoes_peer) (the oracle
/// marked it when it was made).
fn counted<'a>(declarations: &[&'a Declaration], side: Side) -> Option<&'a Declaration> {
    let mine = *declarations.iter().find(|d| d.side == side)?;
    (!mine.echo).then_some(mine)
}

/// The first connection's declarations (a one-connection world's all).
fn first_slot(outcome: &Outcome) -> Vec<&Declaration> {
    outcome.declarations.iter().filter(|d| d.slot == 0).collect()
}

/// The declaration that counts for `side` on the first connection.
pub fn counted_declaration(outcome: &Outcome, side: Side) -> Option<&Declaration> {
    counted(&first_slot(outcome), side)
}

/// How `side` fared on the first connection (the only one of a one-connection world).
pub fn side_outcome(outcome: &Outcome, side: Side) -> SideOutcome {
    slot_side_outcome(&first_slot(outcome), outcome.broken, side)
}

/// How `side` fared on one connection, given its declarations and its break.
pub fn slot_side_outcome(declarations: &[&Declaration], broken: Option<(Instant, BreakCause)>, side: Side) -> SideOutcome {
    let declaration = counted(declarations, side);
    // A false alarm counts even if this side's own host fails later.
    if let Some(Declaration { verdict: Verdict::FalsePositive { condition }, .. }) = declaration {
        return SideOutcome::FalsePositive(*condition);
    }
    let failed_here = matches!(broken, Some((_, BreakCause::Vanish(s) | BreakCause::Reboot(s) | BreakCause::Crash(s))) if s == side);
    if failed_here {
        return SideOutcome::NotApplicable;
    }
    match declaration {
        Some(d) => match d.verdict {
            Verdict::Detection { latency } => SideOutcome::Detected(latency),
            Verdict::FalsePositive { condition } => SideOutcome::FalsePositive(condition),
            // The connection had been closed on purpose: nothing to detect.
            Verdict::OrderlyEnd => SideOutcome::NotApplicable,
        },
        None => {
            let peer_declared = declarations.iter().any(|d| d.side == side.peer());
            match broken {
                Some((at, _)) if !declarations.iter().any(|d| d.side == side.peer() && d.at < at) => SideOutcome::Undetected,
                Some(_) => SideOutcome::NotApplicable,
                None if peer_declared => SideOutcome::NotApplicable,
                None => SideOutcome::Quiet,
            }
        }
    }
}

fn expiries_while_held_by(declarations: &[&Declaration], expired_at: &[Instant]) -> u64 {
    let end = declarations.iter().map(|d| d.at).min().unwrap_or(Instant::MAX);
    expired_at.iter().filter(|t| **t <= end).count() as u64
}

/// Until when a connection was up and healthy (for false-positive rates):
/// its first declaration, its break, its orderly end, or the horizon.
fn healthy_until(declarations: &[&Declaration], slot: &SlotOutcome, horizon: Duration) -> Instant {
    declarations.iter().map(|d| d.at).chain(slot.broken().map(|b| b.0)).chain(slot.ended_at()).min().unwrap_or(Instant::ZERO + horizon)
}

/// Keepalive packets and bytes (both directions): TCP keepalive probes and
/// their ACKs, application pings and pongs (their ACKs are not counted).
fn keepalive_overhead(r: &RunRecord) -> (u64, u64) {
    let mut packets = 0;
    let mut bytes = 0;
    for side in 0..2 {
        let s = &r.outcome.stats[side];
        for kind in [SegmentKind::KeepaliveProbe, SegmentKind::KeepaliveAck] {
            packets += s.packets_of(kind);
            bytes += s.bytes_of(kind);
        }
        let e = &r.endpoints[side];
        packets += e.pings + e.pongs;
        bytes += e.ping_bytes + e.pong_bytes + (e.pings + e.pongs) * u64::from(HEADER_BYTES);
    }
    (packets, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_outcomes_round_trip_through_their_text_form() {
        let all = [
            SideOutcome::Detected(Duration::from_nanos(7_875_123_456_789)),
            SideOutcome::Undetected,
            SideOutcome::FalsePositive(Condition::NatIdle),
            SideOutcome::Quiet,
            SideOutcome::NotApplicable,
        ];
        for o in all {
            assert_eq!(o.to_string().parse::<SideOutcome>(), Ok(o));
        }
        assert_eq!(all[0].to_string(), "d:7875123456789");
        assert!("fp:weather".parse::<SideOutcome>().is_err());
        assert!("d:-1".parse::<SideOutcome>().is_err());
    }

    #[test]
    fn a_packed_outcome_is_eight_bytes_and_gives_back_what_went_in() {
        assert_eq!(std::mem::size_of::<PackedOutcome>(), 8);
        assert_eq!(std::mem::size_of::<SlotSummary>(), 40);
        let all = [
            SideOutcome::Detected(Duration::new(7890, 912_345_678)),
            SideOutcome::Detected(Duration::ZERO),
            SideOutcome::Detected(Duration::from_secs(365 * 86_400)),
            SideOutcome::Undetected,
            SideOutcome::Quiet,
            SideOutcome::NotApplicable,
        ]
        .into_iter()
        .chain(Condition::ALL.map(SideOutcome::FalsePositive));
        for o in all {
            let p = PackedOutcome::from(o);
            assert_eq!(p.get(), o);
            // The partial results' text form is the outcome's.
            assert_eq!(serde_json::to_string(&p).unwrap(), serde_json::to_string(&o).unwrap());
            assert_eq!(serde_json::from_str::<PackedOutcome>(&serde_json::to_string(&o).unwrap()).unwrap(), p);
            // Kind in the low bits and back.
            assert_eq!(PackedOutcome::from_code(p.code()), p);
        }
    }

    #[test]
    fn later_connections_outcomes_pack_small_and_serialize_as_pairs() {
        let fp = PackedOutcome::from(SideOutcome::FalsePositive(Condition::Outage));
        let quiet = PackedOutcome::from(SideOutcome::Quiet);
        let detected = PackedOutcome::from(SideOutcome::Detected(Duration::from_millis(12_500)));
        let na = PackedOutcome::from(SideOutcome::NotApplicable);
        let mut later = LaterOutcomes::default();
        later.push([fp, quiet]);
        later.push([detected, na]);
        assert_eq!(later.iter().collect::<Vec<_>>(), [[fp, quiet], [detected, na]]);
        // A false positive and a quiet side: codes under 64, a byte each. A
        // 12.5 s detection: 12.5e9 << 3 = 1e11 < 2^37, six bytes; NotApplicable one.
        assert_eq!(later.0.byte_len(), 1 + 1 + 6 + 1);
        let json = serde_json::to_string(&later).unwrap();
        assert_eq!(json, serde_json::to_string(&vec![[fp, quiet], [detected, na]]).unwrap());
        assert_eq!(serde_json::from_str::<LaterOutcomes>(&json).unwrap(), later);
    }
}
