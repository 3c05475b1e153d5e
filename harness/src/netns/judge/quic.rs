//! QUIC connections seen from outside: a UDP flow, not a TCP handshake.
//!
//! A QUIC packet is encrypted, so the judge reads only what QUIC leaves in
//! the clear and what kasim's agent says:
//!
//! * **A connection** is a client's UDP flow to the service port: each
//!   attempt runs on a socket of its own (as the event engine gives each a
//!   new port), so a new tuple is the slot's next connection. A NAT that
//!   rebinds the flow (a new public port) moves its server-side tuple, which
//!   the NAT's translation tells the judge; QUIC migrates, so that is no break.
//! * **Established**: the client's first short-header packet (RFC 9000
//!   §17.3: header form bit 0). A client sends 1-RTT packets only once the
//!   handshake's keys are in hand.
//! * **Kinds**: long-header packets are the handshake; short ones are data,
//!   unless the agent's `quic keep-alive` line says it was a keep-alive PING
//!   or the ACK that answered one ([`Judge::reclassify`]).
//! * **Ends**: no FIN or RST: the agent's declaration line, or its `quic idle
//!   timeout` line ([`Judge::quic_idle_timeout`]): on a working connection
//!   an idle close (an orderly end), on a broken one ETIMEDOUT, as the event
//!   engine judges quinn's `TimedOut`.

use super::{End, EndHow, Judge};
use sim::packet::{Segment, SegmentKind};
use sim::{Instant, Side};
use std::net::SocketAddrV4;

/// A UDP payload that starts a QUIC long-header packet (Initial, 0-RTT,
/// Handshake, Retry): its first byte's most significant bit is set.
pub fn is_long_header(udp_payload: &[u8]) -> bool {
    udp_payload.first().is_some_and(|b| b & 0x80 != 0)
}

impl Judge {
    /// A UDP datagram `host` sent at `now` (a QUIC packet; `long_header`
    /// from its first byte): counted for its side, and a client's datagram
    /// on a new tuple to the service port opens its slot's next connection.
    /// Returns its kind as the judge classified it.
    pub fn sent_datagram(&mut self, now: Instant, host: usize, seg: &Segment, ip_bytes: usize, long_header: bool) -> SegmentKind {
        let side = self.side_of(host);
        let kind = if long_header { SegmentKind::Handshake } else { SegmentKind::Data };
        if self.down[host] {
            return kind;
        }
        self.count(side, kind, ip_bytes);
        if side == Side::Server || seg.dst.port() != self.server_port {
            return kind;
        }
        let key = (seg.src, seg.dst);
        let c = match self.by_client.get(&key) {
            Some(&c) => c,
            None => self.open_conn(now, host, key),
        };
        if self.nats.is_empty() && self.conns[c].server_tuple.is_none() {
            // No NAT: the server sees the client's own tuple.
            self.far_end_is(c, key);
        }
        if !long_header {
            self.conns[c].outcome.established_at.get_or_insert(now);
        }
        kind
    }

    /// The agent says a datagram its side sent, counted as data, was `kind`
    /// (a keep-alive PING, or the ACK answering one) of `ip_bytes`.
    pub fn reclassify(&mut self, side: Side, kind: SegmentKind, ip_bytes: usize) {
        let st = &mut self.stats[side.index()];
        let data = SegmentKind::Data as usize;
        if st.packets[data] == 0 {
            return;
        }
        st.packets[data] -= 1;
        st.bytes[data] = st.bytes[data].saturating_sub(ip_bytes as u64);
        st.packets[kind as usize] += 1;
        st.bytes[kind as usize] += ip_bytes as u64;
    }

    /// quinn's idle timeout ended `host`'s side of the connection between
    /// `local` and `peer` at `now` (the agent's line, printed before its
    /// application's declaration of it). A server's line names the client
    /// by the address it last heard it from, which a NAT may have moved.
    pub fn quic_idle_timeout(&mut self, now: Instant, host: usize, local: SocketAddrV4, peer: SocketAddrV4) {
        if self.down[host] {
            return;
        }
        let side = self.side_of(host);
        let c = match side {
            Side::Client => self.by_client.get(&(local, peer)).copied(),
            Side::Server => self.by_server.iter().filter(|((client, _), _)| *client == peer).map(|(_, &c)| c).max(),
        };
        let Some(c) = c else { return };
        let conn = &mut self.conns[c];
        // As the event engine: quinn's timeout on a working connection is an idle close.
        if conn.outcome.broken.is_none_or(|(since, _)| since > now) && conn.outcome.ended_at.is_none() {
            conn.outcome.ended_at = Some(now);
            conn.outcome.idle_closed = true;
        }
        if conn.open_on(side) {
            conn.ends[side.index()] = Some(End { at: now, how: EndHow::IdleTimedOut });
        }
    }
}
