//! The NATs' events, turned into what the oracle knows of each flow's
//! connection, and each NAT's one wake-up in the event queue.

use super::{Ev, World};
use crate::nat::{FlowSlot, Mapping, Nat, NatEvent, NatVerdict};
use crate::oracle::{BreakCause, Condition};
use crate::packet::Segment;
use crate::time::Instant;
use crate::trace::{NatRef, TraceEvent};

/// Where a connection's packets last found their flow in one NAT of the
/// path (the first they crossed): offered to that NAT with the next packet,
/// which then needs no lookup (see `crate::nat::FlowSlot`).
#[derive(Clone, Copy, Debug)]
pub(super) struct NatHint {
    /// The NAT's index in the path; `u32::MAX` for none yet.
    nat: u32,
    slot: FlowSlot,
}

impl NatHint {
    pub(super) const NONE: NatHint = NatHint { nat: u32::MAX, slot: FlowSlot::NONE };
}

/// A NAT-like box of the path, with what the world keeps for it.
pub(super) struct NatBox {
    pub(super) nat: Nat,
    /// How the trace names it.
    pub(super) name: NatRef,
    /// Its earliest wake-up already in the event queue.
    pub(super) wake: Option<Instant>,
}

impl World {
    /// Start loading the NAT flow `hint` names (see [`crate::prefetch`]).
    #[inline(always)]
    pub(super) fn prefetch_flow(&self, hint: NatHint) {
        if let Some(b) = self.nats.get(hint.nat as usize) {
            b.nat.prefetch_flow(hint.slot);
        }
    }

    /// `seg` through NAT `k`, outbound (from its inside) or inbound, with
    /// its sending connection's hint; the hint is kept for the next packet.
    #[inline(always)]
    pub(super) fn translate(&mut self, k: usize, seg: &Segment, outbound: bool) -> NatVerdict {
        let now = self.now;
        let sender = self.conns.get_mut(seg.sender as usize);
        let kept = sender.as_ref().map_or(NatHint::NONE, |c| c.nat_hint);
        let hint = if kept.nat == k as u32 { kept.slot } else { FlowSlot::NONE };
        let nat = &mut self.nats[k].nat;
        let (verdict, slot) = if outbound { nat.outbound_hinted(now, seg, hint) } else { nat.inbound_hinted(now, seg, hint) };
        if let Some(conn) = sender {
            if kept.nat == k as u32 || kept.nat == u32::MAX {
                conn.nat_hint = NatHint { nat: k as u32, slot };
            }
        }
        verdict
    }

    /// The slot and connection generation a mapping belongs to: its
    /// owner's, or (for a flow a stack's RST opened) the connection with that
    /// 4-tuple; in a one-connection world, the only one.
    fn slot_of(&self, m: &Mapping) -> Option<(usize, u32)> {
        // A released owner still names its slot and attempt.
        let of = |c: usize| self.conns.ident(c).map(|id| (id.slot as usize, id.gen));
        if m.owner != Segment::NO_SENDER {
            return of(m.owner as usize);
        }
        let only = (self.slots.len() == 1 && self.slots[0].attempts > 0).then(|| (0, self.slots[0].attempts - 1));
        let h = self.host_of(*m.inside.ip())?;
        let c = self.hosts[h].stack.get(&(m.inside, m.remote)).copied();
        c.and_then(of).or(only)
    }

    /// NAT `k`'s wake-up is due.
    pub(super) fn nat_wake(&mut self, k: usize) {
        // A superseded wake-up (the NAT's deadline moved earlier and a
        // later one is scheduled) must not forget the one pending.
        let now = self.now;
        let b = &mut self.nats[k];
        if b.wake.is_some_and(|w| w <= now) {
            b.wake = None;
        }
        b.nat.handle_timeout(now);
        self.after_nat(k);
    }

    /// What NAT `k` has to tell after a packet, a timeout or a reboot, and
    /// its next wake-up.
    pub(super) fn after_nat(&mut self, k: usize) {
        let now = self.now;
        let name = self.nats[k].name;
        let breaks = self.nats[k].nat.config().on_expired.breaks_connection();
        while let Some(ev) = self.nats[k].nat.poll_event() {
            match ev {
                NatEvent::Created { mapping, recreated } => {
                    let breaks = breaks && !mapping.udp;
                    if recreated && !breaks {
                        if let Some((s, _)) = self.slot_of(&mapping) {
                            self.slots[s].evidence.close_transient(now, Condition::NatIdle);
                        }
                    }
                    self.trace.record(now, || TraceEvent::NatMappingCreated { mapping, recreated, nat: name });
                }
                NatEvent::Expired { mapping, idle } => {
                    // QUIC migrates: a UDP flow rebinds on its next datagram.
                    let breaks = breaks && !mapping.udp;
                    // A flow that was already closed loses nothing.
                    if !mapping.closing {
                        self.nat_expired_at.push(now);
                        if let Some((s, g)) = self.slot_of(&mapping) {
                            let slot = &mut self.slots[s];
                            let g = slot.attempt(g);
                            g.nat_expired_at.push(now);
                            if breaks {
                                g.record_break(now, BreakCause::NatExpired);
                            } else {
                                slot.evidence.open_transient(now, Condition::NatIdle);
                            }
                        }
                    }
                    self.trace.record(now, || TraceEvent::NatMappingExpired { mapping, idle, nat: name });
                }
                NatEvent::Lost { mapping } => {
                    let breaks = breaks && !mapping.udp;
                    if let Some((s, g)) = self.slot_of(&mapping) {
                        let slot = &mut self.slots[s];
                        if breaks {
                            slot.attempt(g).record_break(now, BreakCause::NatReboot);
                        } else {
                            slot.evidence.open_transient(now, Condition::NatIdle);
                        }
                    }
                }
                NatEvent::Rebooted { lost } => self.trace.record(now, || TraceEvent::NatRebooted { lost, nat: name }),
            }
        }
        let b = &mut self.nats[k];
        if let Some(next) = b.nat.poll_timeout() {
            if b.wake.is_none_or(|w| next < w || w < now) {
                b.wake = Some(next);
                self.schedule(next.max(now), Ev::NatWake(k as u32));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AppFactory, Ev, World, WorldConfig};
    use crate::app::{AppEvent, AppIo, Application, Idle};
    use crate::nat::{NatConfig, OnExpired};
    use crate::time::Instant;
    use std::time::Duration;

    /// Does one thing at `at`: writes 10 bytes, or closes (FIN).
    struct Once {
        at: Instant,
        close: bool,
        done: bool,
    }
    impl Application for Once {
        fn on_event(&mut self, _: Instant, _: AppEvent, _: &mut AppIo) {}
        fn poll_timeout(&self) -> Option<Instant> {
            (!self.done).then_some(self.at)
        }
        fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
            if now >= self.at && !self.done {
                self.done = true;
                if self.close {
                    io.close();
                } else {
                    io.write(10, 1);
                }
            }
        }
    }

    /// A pool of three: connection 0 closes at 300 s, connection 2 writes at 50 s.
    struct Pool;
    impl AppFactory for Pool {
        fn client(&mut self, slot: u32) -> Box<dyn Application> {
            match slot {
                0 => Box::new(Once { at: Instant::from_secs(300), close: true, done: false }),
                2 => Box::new(Once { at: Instant::from_secs(50), close: false, done: false }),
                _ => Box::new(Idle),
            }
        }
        fn server(&mut self, _slot: u32) -> Box<dyn Application> {
            Box::new(Idle)
        }
    }

    /// The NAT keeps one wake-up in the queue, even after its deadline moved
    /// earlier and the superseded wake-up ran. Three flows, 600 s idle
    /// timeout: the NAT first wakes at 240 s (the handshakes' transitory
    /// timeout), finds the flows established and schedules ~600 s
    /// (connection 0, idle since its handshake). Connection 0's FIN at 300 s
    /// moves its flow to the 240 s transitory timeout: 540 s. That wake-up
    /// forgets the flow and schedules connection 1's ~600 s, no earlier than
    /// the superseded entry for connection 0's, which runs first (it was
    /// scheduled first) with nothing to do. It must not clear the pending
    /// wake-up: the old code did, rescheduled connection 1's, and from then on
    /// every NAT wake-up ran twice. At 620 s, after connection 1's flow
    /// expired, exactly one wake-up must wait: 650 s, for connection 2 (idle
    /// since its write at 50 s).
    #[test]
    fn a_superseded_nat_wake_up_does_not_schedule_the_next_twice() {
        let cfg = WorldConfig {
            horizon: Duration::from_secs(1000),
            connections_per_client: 3,
            nat: Some(NatConfig::new(Duration::from_secs(600), OnExpired::Rst)),
            ..WorldConfig::default()
        };
        let mut w = World::with_apps(cfg, Box::new(Pool)).unwrap();
        let nat_wakes = |w: &World| w.queue.pending().filter(|(_, ev)| matches!(ev, Ev::NatWake(0))).map(|(at, _)| at).collect::<Vec<_>>();
        w.run_until(Instant::from_secs(539));
        assert_eq!(w.nat().unwrap().len(), 3);
        w.run_until(Instant::from_secs(541));
        assert_eq!(w.nat().unwrap().expiries(), 0, "connection 0's flow ended with its FIN: no expiry of a live flow");
        assert_eq!(w.nat().unwrap().len(), 2, "connection 0's flow is gone at 540 s");
        w.run_until(Instant::from_secs(620));
        assert_eq!(w.nat().unwrap().len(), 1, "connection 1's flow expired at 600 s");
        let wakes = nat_wakes(&w);
        assert_eq!(wakes.len(), 1, "{wakes:?}");
        let at = wakes[0].since_start().as_secs_f64();
        assert!((650.0..650.1).contains(&at), "connection 2's flow expires 600 s after its write at 50 s: {at}");
    }
}
