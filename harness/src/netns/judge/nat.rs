//! What the NATs tell the judge: where each connection's flow went (box by
//! box, so the server's side of it is known), and what their expiries,
//! reboots and re-created mappings mean for the connections: a break under
//! a policy that does not recover, evidence for the oracle otherwise, and
//! never a break for a QUIC flow, which migrates (as the event engine's
//! `nat_glue` decides).

use super::Judge;
use sim::nat::NatEvent;
use sim::oracle::{BreakCause, Condition};
use sim::packet::Segment;
use sim::{Instant, Side};
use std::net::SocketAddrV4;

impl Judge {
    /// NAT `nat` of the chain carried a client's packet as `after`: the next
    /// box's side of its connection is that tuple, and after the last NAT,
    /// the server's (or the proxy's).
    pub fn translated(&mut self, nat: usize, before: &Segment, after: &Segment) {
        let (inside, outside) = ((before.src, before.dst), (after.src, after.dst));
        let Some(c) = self.on_inside_of(nat, inside) else { return };
        self.by_outside[nat].insert(outside, c);
        if nat + 1 == self.nats.len() {
            self.far_end_is(c, outside);
        }
    }

    /// The connection whose packets reach NAT `nat` with this tuple: the
    /// client's own for the first NAT, what the one before put out for the others.
    fn on_inside_of(&self, nat: usize, tuple: (SocketAddrV4, SocketAddrV4)) -> Option<usize> {
        if nat == 0 {
            self.by_client.get(&tuple).copied()
        } else {
            self.by_outside.get(nat - 1)?.get(&tuple).copied()
        }
    }

    /// Something NAT `nat` of the chain did at `now`: expiries and reboots break the
    /// connections whose mapping they took (under a policy that does not
    /// recover), a forgetting `loose` NAT is evidence.
    pub fn nat(&mut self, nat: usize, now: Instant, event: &NatEvent) {
        let policy_breaks = self.nats.get(nat).is_some_and(|p| p.breaks_connection());
        let conn_of = |j: &Judge, m: &sim::nat::Mapping| j.on_inside_of(nat, (m.inside, m.remote));
        match event {
            NatEvent::Expired { mapping, idle } => {
                // QUIC migrates: a UDP flow rebinds on its next datagram.
                let breaks = policy_breaks && !mapping.udp;
                let Some(c) = conn_of(self, mapping) else { return };
                let at = mapping.last_activity + *idle;
                let conn = &mut self.conns[c];
                if conn.open_on(Side::Client) && !mapping.closing {
                    self.mappings_expired += 1;
                    self.nat_expired_at.push(at);
                    conn.outcome.nat_expired_at.push(at);
                    if breaks {
                        Self::record_break(conn, at, BreakCause::NatExpired);
                    } else {
                        self.evidence[conn.slot / self.per_host].open_transient(at, Condition::NatIdle);
                    }
                }
            }
            NatEvent::Created { mapping, recreated: true } if !policy_breaks || mapping.udp => {
                if let Some(c) = conn_of(self, mapping) {
                    let slot = self.conns[c].slot;
                    self.evidence[slot / self.per_host].close_transient(now, Condition::NatIdle);
                }
            }
            NatEvent::Lost { mapping } => {
                if let Some(c) = conn_of(self, mapping) {
                    let conn = &mut self.conns[c];
                    if !policy_breaks || mapping.udp {
                        // A NAT that recovers, or a QUIC flow that rebinds: evidence only.
                        let host = conn.slot / self.per_host;
                        self.evidence[host].open_transient(now, Condition::NatIdle);
                    } else if conn.open_on(Side::Client) {
                        Self::record_break(conn, now, BreakCause::NatReboot);
                    }
                }
            }
            _ => {}
        }
    }
}
