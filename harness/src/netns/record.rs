//! What a traced netns run (`kasim replay --engine netns`) keeps: the same
//! trace records the event engine writes, so the same timeline renders it,
//! plus the real packets for a pcap.
//!
//! The trace holds each packet as its host sent it (with the kind the judge
//! gave it), the NAT's translations and RSTs, the faults, every line the
//! programs printed (as log lines of their side, target = the program's
//! name), and the declarations with their verdicts. The capture holds the
//! real bytes on both sides of the NAT: each packet as read from its host,
//! and, when a NAT rewrote it, as written into the other host; without a NAT
//! both would be the same packet, so it appears once.

use crate::record::DerivedFault;
use crate::scenario::FaultKind;
use sim::nat::NatEvent;
use sim::oracle::Declaration;
use sim::packet::Segment;
use sim::trace::{FaultEvent, NatRef, ProxyEvent, TraceEvent, TraceRecord};
use sim::{Instant, Side};

/// The records of one run; does nothing unless on.
#[derive(Default)]
pub struct Recorder {
    on: bool,
    nat: bool,
    /// The scenario names its NATs by place in a `[[middlebox]]` chain.
    chained: bool,
    records: Vec<TraceRecord>,
    packets: Vec<(Instant, Vec<u8>)>,
}

impl Recorder {
    /// A recorder; `on` = keep anything, `nat` = the path has a NAT,
    /// `chained` = its boxes are a `[[middlebox]]` chain (named by place).
    pub fn new(on: bool, nat: bool, chained: bool) -> Recorder {
        Recorder { on, nat, chained, ..Recorder::default() }
    }

    /// How the trace names NAT `k` (every NAT stands before any proxy, so
    /// its index is its place in the chain).
    fn nat_ref(&self, k: usize) -> NatRef {
        if self.chained {
            NatRef::Chain(k as u8)
        } else {
            NatRef::Only
        }
    }

    fn push(&mut self, at: Instant, event: TraceEvent) {
        self.records.push(TraceRecord { at, event, conn: None });
    }

    /// A packet as its host sent it.
    pub fn sent(&mut self, at: Instant, side: Side, seg: Segment, bytes: &[u8]) {
        if self.on {
            self.push(at, TraceEvent::Sent { side, seg });
            self.packets.push((at, bytes.to_vec()));
        }
    }

    /// A packet written into its host: captured when a NAT stood between
    /// (the other side's copy), or when the network made it (a NAT's RST).
    pub fn delivered(&mut self, at: Instant, bytes: &[u8], made_by_network: bool) {
        if self.on && (self.nat || made_by_network) {
            self.packets.push((at, bytes.to_vec()));
        }
    }

    /// Something the proxy did that the wire shows (it opened its own
    /// connection to the server for a client's): also how the timeline
    /// knows to call the address clients dial "proxy".
    pub fn proxy(&mut self, at: Instant, event: ProxyEvent) {
        if self.on {
            self.push(at, TraceEvent::Proxy(event));
        }
    }

    /// NAT `k` rewrote a client's packet.
    pub fn translated(&mut self, at: Instant, k: usize, before: Segment, after: Segment) {
        if self.on && before != after {
            let nat = self.nat_ref(k);
            self.push(at, TraceEvent::Translated { before, after, nat });
        }
    }

    /// Something NAT `k` did to its mappings, named as the event engine
    /// names it (a mapping made, re-made, expired; a reboot).
    pub fn nat_event(&mut self, at: Instant, k: usize, event: NatEvent) {
        if !self.on {
            return;
        }
        let nat = self.nat_ref(k);
        let event = match event {
            NatEvent::Created { mapping, recreated } => TraceEvent::NatMappingCreated { mapping, recreated, nat },
            NatEvent::Expired { mapping, idle } => TraceEvent::NatMappingExpired { mapping, idle, nat },
            NatEvent::Rebooted { lost } => TraceEvent::NatRebooted { lost, nat },
            // The event engine's trace has no line for a mapping a reboot took.
            NatEvent::Lost { .. } => return,
        };
        self.push(at, event);
    }

    /// NAT `k` answered a client's packet with this RST.
    pub fn nat_reset(&mut self, at: Instant, k: usize, seg: Segment) {
        if self.on {
            let nat = self.nat_ref(k);
            self.push(at, TraceEvent::NatReset { seg, nat });
        }
    }

    /// A line a host's program printed.
    pub fn line(&mut self, at: Instant, side: Side, program: &str, text: &str) {
        if self.on {
            let event =
                TraceEvent::Log { side: Some(side), level: tracing::Level::INFO, target: program.to_string(), message: text.to_string() };
            self.push(at, event);
        }
    }

    /// The trace in time order (faults, then packets and lines, then
    /// declarations at one instant) and the captured packets.
    pub fn finish(mut self, faults: &[DerivedFault], declarations: &[Declaration]) -> (Vec<TraceRecord>, Vec<(Instant, Vec<u8>)>) {
        if !self.on {
            return (Vec::new(), Vec::new());
        }
        let mut trace = Vec::new();
        for f in faults {
            let (at, end) = (Instant::ZERO + f.at, Instant::ZERO + f.at + f.duration.unwrap_or_default());
            let side = f.side.unwrap_or(Side::Server);
            let events: Vec<(Instant, FaultEvent)> = match f.kind {
                FaultKind::Vanish => vec![(at, FaultEvent::Vanish(side))],
                FaultKind::Reboot => vec![(at, FaultEvent::RebootStart(side)), (end, FaultEvent::RebootDone(side))],
                FaultKind::Suspend => vec![(at, FaultEvent::SuspendStart(side)), (end, FaultEvent::SuspendEnd(side))],
                FaultKind::Outage => vec![(at, FaultEvent::OutageStart(side)), (end, FaultEvent::OutageEnd(side))],
                FaultKind::NatReboot => vec![(at, FaultEvent::NatReboot(self.nat_ref(f.middlebox.unwrap_or(0) as usize)))],
                FaultKind::Crash if f.duration.is_some() => vec![(at, FaultEvent::Crash(side)), (end, FaultEvent::Restarted(side))],
                FaultKind::Crash => vec![(at, FaultEvent::Crash(side))],
            };
            trace.extend(events.into_iter().map(|(at, f)| TraceRecord { at, event: TraceEvent::Fault(f), conn: None }));
        }
        trace.append(&mut self.records);
        for d in declarations {
            trace.push(TraceRecord {
                at: d.at,
                event: TraceEvent::Declared { side: d.side, cause: d.cause.clone(), verdict: d.verdict, echo: d.echo },
                conn: None,
            });
        }
        // Stable: at one instant, faults first, declarations last.
        trace.sort_by_key(|r| r.at);
        self.packets.sort_by_key(|p| p.0);
        (trace, self.packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::nat::{Nat, NatConfig, OnExpired};
    use sim::packet::{addr, SegmentKind};
    use sim::rng::{Purpose, Stream};
    use std::time::Duration;

    /// The event engine's NAT model forgets a UDP flow after 30 s: the
    /// recorder names what it did as the event engine's trace does (made,
    /// then expired after 30 s of silence), in the chain's second box.
    #[test]
    fn the_nats_own_events_become_the_event_engines_trace_lines() {
        let mut nat = Nat::new(NatConfig::new(Duration::from_secs(30), OnExpired::Drop), Stream::new(1, Purpose::NatPorts));
        let mut rec = Recorder::new(true, true, true);
        let dgram = Segment::datagram(addr::CLIENT, "203.0.113.10:443".parse().unwrap(), 1200, SegmentKind::Data);
        nat.outbound(Instant::ZERO, &dgram);
        nat.handle_timeout(Instant::from_secs(30));
        while let Some(e) = nat.poll_event() {
            rec.nat_event(Instant::from_secs(30), 1, e);
        }
        let (trace, _) = rec.finish(&[], &[]);
        let lines: Vec<String> = trace
            .iter()
            .map(|r| match &r.event {
                TraceEvent::NatMappingCreated { recreated, nat, .. } => format!("created {recreated} {nat:?}"),
                TraceEvent::NatMappingExpired { idle, nat, .. } => format!("expired {} {nat:?}", idle.as_secs()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(lines, ["created false Chain(1)", "expired 30 Chain(1)"]);
    }
}
