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
            None => {
                let c = self.open_conn(now, host, key);
                self.conns[c].quic = true;
                c
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::judge::{TableEntry, ESTABLISHED};
    use sim::nat::{Nat, NatConfig, OnExpired};
    use sim::oracle::{BreakCause, Verdict};
    use sim::packet::addr;
    use sim::rng::{Purpose, Stream};
    use std::time::Duration;

    const CLIENT: &str = "198.18.0.2:44827";
    const SERVER: &str = "203.0.113.10:443";

    fn dgram(src: &str, dst: &str, len: u32) -> Segment {
        Segment::datagram(src.parse().unwrap(), dst.parse().unwrap(), len, SegmentKind::Data)
    }

    fn ms(x: u64) -> Instant {
        Instant::from_millis(x)
    }

    /// A client's Initial at 0, the server's answer at 10 ms, and the
    /// client's first 1-RTT packet at 20 ms; no NAT.
    fn handshake() -> Judge {
        let mut j = Judge::new(1, sim::quic::PORT, None);
        assert_eq!(j.sent_datagram(ms(0), 0, &dgram(CLIENT, SERVER, 1200), 1228, true), SegmentKind::Handshake);
        assert_eq!(j.sent_datagram(ms(10), 1, &dgram(SERVER, CLIENT, 1200), 1228, true), SegmentKind::Handshake);
        assert_eq!(j.sent_datagram(ms(20), 0, &dgram(CLIENT, SERVER, 31), 59, false), SegmentKind::Data);
        j
    }

    #[test]
    fn the_first_byte_tells_a_long_header_from_a_short_one() {
        // RFC 9000 §17.2: an Initial's first byte is 0b1100_xxxx; §17.3: a 1-RTT packet's 0b01xx_xxxx.
        assert!(is_long_header(&[0xc3, 0, 0, 0, 1]));
        assert!(!is_long_header(&[0x43, 0xaa]));
        assert!(!is_long_header(&[]));
    }

    #[test]
    fn a_udp_flow_is_a_connection_established_by_its_first_short_header_packet() {
        let o = handshake().finish(ms(1000), Duration::from_secs(60));
        let conn = &o.slots[0].connections[0];
        assert_eq!((conn.opened_at, conn.established_at), (ms(0), Some(ms(20))));
        // One handshake datagram each way, and the client's 1-RTT packet as data.
        assert_eq!(o.stats[0].packets_of(SegmentKind::Handshake), 1);
        assert_eq!(o.stats[1].packets_of(SegmentKind::Handshake), 1);
        assert_eq!(o.stats[0].packets_of(SegmentKind::Data), 1);
    }

    #[test]
    fn quinns_idle_timeout_is_an_idle_close_on_a_working_connection_and_a_detection_on_a_broken_one() {
        // Working: the line, then the agent's declaration 1 ms later (judged an orderly end).
        let mut j = handshake();
        j.quic_idle_timeout(ms(30_100), 0, CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        j.declared(ms(30_101), 0, None, "ETIMEDOUT".into());
        let o = j.finish(ms(60_000), Duration::from_secs(60));
        let conn = &o.slots[0].connections[0];
        assert!(conn.idle_closed);
        assert_eq!(conn.ended_at, Some(ms(30_100)));
        assert_eq!(o.declarations[0].verdict, Verdict::OrderlyEnd);
        // Broken at 25 s (the server vanished): the same line at 60.12 s is a detection 35.12 s after it.
        let mut j = handshake();
        j.host_broke(ms(25_000), 1, BreakCause::Vanish(Side::Server));
        j.set_down(1, true);
        j.quic_idle_timeout(ms(60_120), 0, CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        j.declared(ms(60_121), 0, None, "ETIMEDOUT".into());
        let o = j.finish(ms(70_000), Duration::from_secs(60));
        assert!(!o.slots[0].connections[0].idle_closed);
        let d = &o.declarations[0];
        assert_eq!((d.at, d.cause.as_str()), (ms(60_120), "ETIMEDOUT"));
        assert_eq!(d.verdict, Verdict::Detection { latency: Duration::from_millis(35_120) });
    }

    #[test]
    fn a_keep_alive_line_moves_one_datagram_from_data_to_its_kind() {
        let mut j = handshake();
        j.sent_datagram(ms(10_020), 0, &dgram(CLIENT, SERVER, 31), 59, false);
        j.reclassify(Side::Client, SegmentKind::KeepaliveProbe, 59);
        let o = j.finish(ms(20_000), Duration::from_secs(60));
        assert_eq!(o.stats[0].packets_of(SegmentKind::KeepaliveProbe), 1);
        assert_eq!(o.stats[0].packets_of(SegmentKind::Data), 1, "the 1-RTT packet at 20 ms stays data");
    }

    /// Through a NAT that forgets UDP flows after 30 s and gives the next
    /// datagram a new port: the expiry while held counts, breaks nothing
    /// (QUIC migrates), and the server's line about the client at its new
    /// address ends that same connection.
    #[test]
    fn a_udp_rebinding_counts_an_expiry_and_moves_the_server_side_without_a_break() {
        // UDP flows forgotten after 30 s either way (`NatConfig::new`'s default).
        let mut nat = Nat::new(NatConfig::new(Duration::from_secs(30), OnExpired::NewPort), Stream::new(1, Purpose::NatPorts));
        let mut j = Judge::new(1, sim::quic::PORT, Some(OnExpired::NewPort));
        let first = dgram(CLIENT, SERVER, 1200);
        j.sent_datagram(ms(0), 0, &first, 1228, true);
        let through = |j: &mut Judge, nat: &mut Nat, at: Instant, seg: Segment| {
            let sim::nat::NatVerdict::Forward(after) = nat.outbound(at, &seg) else { panic!("a UDP flow is always passed") };
            j.translated(0, &seg, &after);
            while let Some(e) = nat.poll_event() {
                j.nat(0, at, &e);
            }
            after.src
        };
        let public = through(&mut j, &mut nat, ms(0), first);
        nat.handle_timeout(ms(30_000));
        while let Some(e) = nat.poll_event() {
            j.nat(0, ms(30_000), &e);
        }
        let again = dgram(CLIENT, SERVER, 60);
        j.sent_datagram(ms(40_000), 0, &again, 88, false);
        let moved = through(&mut j, &mut nat, ms(40_000), again);
        assert_ne!(moved, public, "a new public port");
        assert_eq!(*moved.ip(), addr::NAT_PUBLIC_IP);
        // The UDP socket table has no states: the table changes nothing.
        j.table(ms(40_010), 0, &[TableEntry { local: first.src, remote: first.dst, state: ESTABLISHED }]);
        j.quic_idle_timeout(ms(70_000), 1, "0.0.0.0:443".parse().unwrap(), moved);
        let o = j.finish(ms(80_000), Duration::from_secs(60));
        assert_eq!(o.mappings_expired, 1);
        let conn = &o.slots[0].connections[0];
        assert_eq!((conn.broken, conn.idle_closed), (None, true));
        assert_eq!(o.slots[0].connections.len(), 1, "one connection across the rebinding");
        assert!(o.declarations.is_empty(), "the server's idle close without a declaration: an orderly end");
    }
}
