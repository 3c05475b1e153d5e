//! The NAT's events, turned into what the oracle knows of each flow's
//! connection, and the NAT's one wake-up in the event queue.

use super::{Ev, World};
use crate::nat::{Mapping, NatEvent};
use crate::oracle::{BreakCause, Condition};
use crate::packet::Segment;
use crate::trace::TraceEvent;

impl World {
    /// The slot and connection generation a mapping belongs to: its
    /// owner's, or (for a flow a stack's RST opened) the connection with that
    /// 4-tuple; in a one-connection world, the only one.
    fn slot_of(&self, m: &Mapping) -> Option<(usize, usize)> {
        let of = |c: usize| (self.conns[c].slot as usize, self.conns[c].gen as usize);
        if m.owner != Segment::NO_SENDER {
            return ((m.owner as usize) < self.conns.len()).then(|| of(m.owner as usize));
        }
        let only = (self.slots.len() == 1 && !self.slots[0].gens.is_empty()).then(|| (0, self.slots[0].gens.len() - 1));
        let h = self.host_of(*m.inside.ip())?;
        let c = self.hosts[h].stack.get(&(m.inside, m.remote)).copied();
        c.map(of).or(only)
    }

    pub(super) fn after_nat(&mut self) {
        let now = self.now;
        let Some(nat) = &mut self.nat else { return };
        let breaks = nat.config().on_expired.breaks_connection();
        while let Some(ev) = self.nat.as_mut().and_then(|n| n.poll_event()) {
            match ev {
                NatEvent::Created { mapping, recreated } => {
                    let breaks = breaks && !mapping.udp;
                    if recreated && !breaks {
                        if let Some((s, _)) = self.slot_of(&mapping) {
                            self.slots[s].evidence.close_transient(now, Condition::NatIdle);
                        }
                    }
                    self.trace.record(now, || TraceEvent::NatMappingCreated { mapping, recreated });
                }
                NatEvent::Expired { mapping, idle } => {
                    // QUIC migrates: a UDP flow rebinds on its next datagram.
                    let breaks = breaks && !mapping.udp;
                    // A flow that was already closed loses nothing.
                    if !mapping.closing {
                        self.nat_expired_at.push(now);
                        if let Some((s, g)) = self.slot_of(&mapping) {
                            let slot = &mut self.slots[s];
                            slot.gens[g].nat_expired_at.push(now);
                            if breaks {
                                slot.gens[g].record_break(now, BreakCause::NatExpired);
                            } else {
                                slot.evidence.open_transient(now, Condition::NatIdle);
                            }
                        }
                    }
                    self.trace.record(now, || TraceEvent::NatMappingExpired { mapping, idle });
                }
                NatEvent::Lost { mapping } => {
                    let breaks = breaks && !mapping.udp;
                    if let Some((s, g)) = self.slot_of(&mapping) {
                        let slot = &mut self.slots[s];
                        if breaks {
                            slot.gens[g].record_break(now, BreakCause::NatReboot);
                        } else {
                            slot.evidence.open_transient(now, Condition::NatIdle);
                        }
                    }
                }
                NatEvent::Rebooted { lost } => self.trace.record(now, || TraceEvent::NatRebooted { lost }),
            }
        }
        let next = self.nat.as_mut().and_then(|n| n.poll_timeout());
        if let Some(next) = next {
            if self.nat_wake.is_none_or(|w| next < w || w < now) {
                self.nat_wake = Some(next);
                self.schedule(next.max(now), Ev::NatWake);
            }
        }
    }
}
