//! The datagram path of QUIC connections and tunnels: a datagram's bytes
//! from the sender's socket to the receiver's, and the server's listener,
//! which finds the connection by connection ID (QUIC) or by peer (a tunnel),
//! so a client that a NAT moved to a new port still reaches it, and accepts
//! new ones.

use super::{Role, Socket, World};
use crate::app::Application;
use crate::packet::Segment;
use crate::quic::{Arrival, Datagram};
use crate::trace::{Place, TraceEvent};
use std::net::SocketAddrV4;

impl World {
    /// Forget the bytes of a datagram that will not arrive.
    pub(super) fn discard(&mut self, seg: &Segment) {
        if seg.is_udp() {
            self.payloads.take(seg);
        }
    }

    /// A datagram reached host `h` (which is up): its client connection, or
    /// the server's listener. Anything else is dropped without a word (ICMP
    /// port-unreachable is not modelled).
    pub(super) fn datagram_at_host(&mut self, h: usize, seg: Segment) {
        let bytes = self.payloads.take(&seg);
        let local = self.hosts[h].local(self.now);
        if let Some(&c) = self.hosts[h].stack.get(&(seg.dst, seg.src)) {
            if self.conns[c].role == Role::Client && !self.conns[c].gone {
                if let Some(q) = self.conns[c].sock.quic_mut() {
                    q.handle_datagram(local, seg.src, bytes);
                    self.pump(c);
                    return;
                }
                if let Some(t) = self.conns[c].sock.tunnel_mut() {
                    t.handle_datagram(local, &bytes);
                    self.pump(c);
                    return;
                }
            }
        }
        let Some(listener) = self.hosts[h].listener.as_mut().filter(|l| l.port == seg.dst.port()) else {
            self.trace.record_for(self.now, self.trace_ref(seg.sender as usize), || TraceEvent::Dropped {
                place: Place::Host(self.hosts[h].side()),
                seg,
                reason: crate::trace::DropReason::NoSocket,
            });
            return;
        };
        if listener.tunnel_peers.is_some() {
            self.tunnel_at_server(h, seg, &bytes);
            return;
        }
        let Some(quic) = listener.quic.as_mut() else { return };
        let len = bytes.len();
        match quic.handle_datagram(local, seg.src, bytes) {
            Arrival::Existing(c, ev) => {
                let gone = self.conns[c].gone;
                if let Some(q) = self.conns[c].sock.quic_mut().filter(|_| !gone) {
                    q.handle_event(*ev, len);
                    self.pump(c);
                }
            }
            Arrival::New(sock) => self.accept_quic(h, seg, sock),
            Arrival::None => {}
        }
        self.flush_listener(h);
    }

    /// A tunnel datagram at the server: to its peer's connection (made on the
    /// first one), which from now on answers to the address it came from
    /// (WireGuard's roaming: a NAT rebinding breaks nothing).
    fn tunnel_at_server(&mut self, h: usize, seg: Segment, bytes: &[u8]) {
        let Some(peer) = Some(seg.sender as usize).filter(|&p| p < self.conns.len()) else { return };
        let peers = self.hosts[h].listener.as_ref().and_then(|l| l.tunnel_peers.as_ref());
        let known = peers.and_then(|m| m.get(&(peer as u32)).copied()).filter(|&c| !self.conns[c].gone);
        let local = self.hosts[h].local(self.now);
        let c = match known {
            Some(c) => {
                let old = self.conns[c].key;
                if old.1 != seg.src {
                    self.stack_remove(h, old);
                    self.conns[c].key.1 = seg.src;
                    self.stack_insert(h, self.conns[c].key, c);
                }
                c
            }
            None => {
                let cfg = self.tunnel.expect("a tunnel world");
                let slot = self.conns[peer].slot;
                let app = self.apps.server(slot);
                let sock = Socket::Tunnel(Box::new(crate::tunnel::Tunnel::open(&cfg, 1, local)));
                let c = self.add_conn(h, slot, (seg.dst, seg.src), sock, app, Some(peer));
                self.conns[peer].peer = super::OtherConn::new(c);
                if let Some(m) = self.hosts[h].listener.as_mut().and_then(|l| l.tunnel_peers.as_mut()) {
                    m.insert(peer as u32, c);
                }
                c
            }
        };
        if let Some(t) = self.conns[c].sock.tunnel_mut() {
            t.handle_datagram(local, bytes);
        }
        self.pump(c);
    }

    /// The listener accepted a new QUIC connection whose first datagram is `seg`.
    fn accept_quic(&mut self, h: usize, seg: Segment, sock: Box<crate::quic::QuicSocket>) {
        let Some(peer) = Some(seg.sender as usize).filter(|&p| p < self.conns.len()) else { return };
        let slot = self.conns[peer].slot;
        let app: Box<dyn Application> = self.apps.server(slot);
        let c = self.add_conn(h, slot, (seg.dst, seg.src), Socket::Quic(sock), app, Some(peer));
        self.conns[peer].peer = super::OtherConn::new(c);
        let quic = self.hosts[h].listener.as_mut().and_then(|l| l.quic.as_mut()).expect("the listener that accepted it");
        quic.register(self.conns[c].sock.quic_mut().expect("just made"), c);
        self.pump(c);
    }

    /// Send what QUIC connection `c` has to send (a server's endpoint events
    /// go through its listener first).
    pub(super) fn flush_datagrams(&mut self, c: usize) {
        let h = self.conns[c].host;
        let local = self.hosts[h].local(self.now);
        let from = self.conns[c].key.0;
        let server = self.conns[c].role == Role::Server;
        if server {
            let (hosts, conns) = (&mut self.hosts, &mut self.conns);
            if let (Some(l), Some(q)) = (hosts[h].listener.as_mut().and_then(|l| l.quic.as_mut()), conns[c].sock.quic_mut()) {
                l.shuttle(q);
            }
        }
        while let Some(d) = self.conns[c].sock.quic_mut().and_then(|q| q.poll_transmit(local)) {
            self.send_datagram(h, from, d, c as u32);
        }
        let to = self.conns[c].key.1;
        while let Some((bytes, kind)) = self.conns[c].sock.tunnel_mut().and_then(|t| t.poll_transmit(local)) {
            self.send_datagram(h, from, Datagram { dst: to, bytes, kind }, c as u32);
        }
        if server {
            self.flush_listener(h);
        }
    }

    /// Datagrams the server's endpoint sends on its own (stateless resets).
    fn flush_listener(&mut self, h: usize) {
        loop {
            let Some(listener) = self.hosts[h].listener.as_mut() else { return };
            let port = listener.port;
            let Some(d) = listener.quic.as_mut().and_then(|q| q.poll_response()) else { return };
            let from = SocketAddrV4::new(self.hosts[h].addr, port);
            self.send_datagram(h, from, d, Segment::NO_SENDER);
        }
    }

    fn send_datagram(&mut self, h: usize, from: SocketAddrV4, d: Datagram, sender: u32) {
        let mut seg = Segment::datagram(from, d.dst, d.bytes.len() as u32, d.kind);
        seg.sender = sender;
        seg.payload = self.payloads.put(d.bytes);
        self.transmit(h, seg);
    }
}
