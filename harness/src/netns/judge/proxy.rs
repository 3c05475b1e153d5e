//! The judge's view of a proxy host: each client connection paired with
//! the proxy's own connection to the server, the proxy's packets counted
//! as the event engine counts its legs, and its closes on purpose.

use super::Judge;
use sim::packet::{Flags, Segment, SegmentKind};
use sim::{Instant, Side};
use std::net::SocketAddrV4;

impl Judge {
    /// A proxy (host `clients + 1`) stands between the clients and the
    /// server: each client's connection ends at it, and for each the proxy
    /// opens its own to the server. A side's end is then on its own leg
    /// (the client's on its connection to the proxy, the server's on the
    /// proxy's connection to it); a FIN or RST the proxy sends while both
    /// sides are open and nothing broke is the proxy closing on purpose (an
    /// idle timeout): an orderly end, as the event engine's proxy makes it.
    pub fn with_proxy(mut self) -> Judge {
        self.proxy = Some(self.clients + 1);
        self.down.push(false);
        self
    }

    /// A packet written into the proxy: only for classifying what its stack
    /// answers, and when a client's handshake completed there.
    pub(super) fn proxy_delivered(&mut self, now: Instant, seg: &Segment) {
        let (c, back) = if seg.dst.port() == self.server_port {
            (self.by_front.get(&(seg.src, seg.dst)), false)
        } else {
            (self.by_server.get(&(seg.dst, seg.src)), true)
        };
        if let Some(&c) = c {
            // The proxy is the server of the client's leg, the client of its own.
            let i = if back { 0 } else { 1 };
            Self::note_probe(self.flows(c, back), i, seg);
            if !back && seg.flags.contains(Flags::ACK) && !seg.flags.contains(Flags::SYN) {
                self.conns[c].front_up.get_or_insert(now);
            }
        }
    }

    /// A packet the proxy sent: counted as the event engine counts its legs
    /// (toward a client: the server's side; toward the server: the
    /// client's), its own connection to the server learnt from its SYN, and
    /// a FIN or RST while both sides are open is the proxy's close on purpose.
    pub(super) fn proxy_sent(&mut self, now: Instant, seg: &Segment, ip_bytes: usize) -> SegmentKind {
        if self.proxy.is_some_and(|p| self.down[p]) {
            // Powered off: nothing it sends leaves.
            return SegmentKind::Data;
        }
        let toward_server = seg.dst.port() == self.server_port;
        let side = if toward_server { Side::Client } else { Side::Server };
        if toward_server
            && seg.flags.contains(Flags::SYN)
            && !seg.flags.contains(Flags::ACK)
            && !self.by_server.contains_key(&(seg.src, seg.dst))
        {
            // The proxy opens its connection to the server once a client's is
            // established at the proxy: the one that waited longest.
            let waiting = (0..self.conns.len())
                .filter(|&c| {
                    let conn = &self.conns[c];
                    conn.front_tuple.is_some() && conn.server_tuple.is_none() && conn.front_up.is_some() && conn.open_on(Side::Client)
                })
                .min_by_key(|&c| self.conns[c].front_up);
            if let Some(c) = waiting {
                self.conns[c].server_tuple = Some((seg.src, seg.dst));
                self.by_server.insert((seg.src, seg.dst), c);
            }
        }
        let c = if toward_server { self.by_server.get(&(seg.src, seg.dst)) } else { self.by_front.get(&(seg.dst, seg.src)) };
        let Some(&c) = c else {
            self.count(side, SegmentKind::Data, ip_bytes);
            return SegmentKind::Data;
        };
        let (flows, i) = if toward_server { (self.flows(c, true), 0) } else { (self.flows(c, false), 1) };
        let kind = Self::classify(flows, i, seg);
        self.count(side, kind, ip_bytes);
        let conn = &mut self.conns[c];
        // Both legs were up (not a backend that refused), both ends still open, nothing broken.
        let on_purpose = conn.front_up.is_some() && conn.back_up && conn.ends.iter().all(Option::is_none) && conn.outcome.broken.is_none();
        if (seg.flags.contains(Flags::FIN) || seg.flags.contains(Flags::RST)) && on_purpose {
            conn.outcome.ended_at.get_or_insert(now);
        }
        kind
    }

    /// kasim's relay on the proxy host said its idle timer closed the
    /// connection of the client it sees as `peer`: an orderly end, even
    /// when the proxy forgets without a packet (`on_idle = "silent"`).
    pub fn proxy_idle_close(&mut self, now: Instant, peer: SocketAddrV4) {
        let Some(c) = self.by_front.iter().find(|(k, _)| k.0 == peer).map(|(_, &c)| c) else { return };
        let conn = &mut self.conns[c];
        if conn.outcome.broken.is_none() {
            conn.outcome.ended_at.get_or_insert(now);
        }
    }

    /// The slot whose connection the proxy opened with this SYN to the server, once paired.
    pub fn backend_slot(&self, seg: &Segment) -> Option<u32> {
        self.by_server.get(&(seg.src, seg.dst)).map(|&c| self.conns[c].slot as u32)
    }
}
