//! Opening client connections: every slot's first at time 0, and the
//! reconnects its application asks for, each from a fresh ephemeral port (so
//! through the NAT a new mapping) as a new generation of the slot.

use super::{HostState, Socket, World};
use crate::app::{Application, Idle};
use crate::packet::addr;
use crate::quic::QuicSocket;
use crate::socket::SocketState;
use crate::tcp::TcpEndpoint;
use std::net::SocketAddrV4;

impl World {
    /// Start a new client connection for `slot` from local `port`, with the
    /// slot's application `app`: a SYN now, a new generation of the slot.
    pub(super) fn open_client_conn(&mut self, slot: u32, port: u16, app: Box<dyn Application>) -> usize {
        let server = SocketAddrV4::new(self.hosts[self.front()].addr, self.service_port());
        let h = self.slots[slot as usize].client;
        let local = SocketAddrV4::new(self.hosts[h].addr, port);
        let local_now = self.hosts[h].local(self.now);
        let sock = match (&self.quic, &self.tunnel) {
            (Some(cfg), _) => {
                let seed = self.hosts[h].quic_seeds.seed32();
                Socket::Quic(Box::new(QuicSocket::connect(cfg, local_now, server, seed)))
            }
            (None, Some(cfg)) => Socket::Tunnel(Box::new(crate::tunnel::Tunnel::open(cfg, 0, local_now))),
            (None, None) => {
                let iss = self.hosts[h].isn.u32();
                let mut tcp = TcpEndpoint::client(self.tcp_cfg_of(h), local, server, iss);
                tcp.connect(local_now);
                Socket::Tcp(tcp)
            }
        };
        let now = self.now;
        // A storm's failed attempts are folded once the records weigh a quarter of the limit.
        let fold = self.attempt_records >= self.connection_limit / 4;
        if !self.slots[slot as usize].open(now, fold) {
            self.attempt_records += 1;
        }
        let c = self.add_conn(h, slot, (local, server), sock, app, None);
        // The slot's last connection is no longer its current one: it may be over.
        if let Some(old) = self.slots[slot as usize].conn.replace(c) {
            self.may_release(old);
        }
        self.pump(c);
        c
    }

    /// A fresh ephemeral port on client host `h` for a reconnect: the next
    /// after the pool's first ports, within Linux's range 32768–60999,
    /// skipping any still held by a connection that is not closed.
    pub(super) fn next_port(&mut self, h: usize) -> u16 {
        const FIRST: u32 = 32768;
        const SPAN: u32 = 61000 - FIRST;
        let server = SocketAddrV4::new(self.hosts[self.front()].addr, self.service_port());
        let base = u32::from(addr::client_port(0)) - FIRST;
        for _ in 0..SPAN {
            let k = self.hosts[h].next_port;
            self.hosts[h].next_port = k.wrapping_add(1);
            let port = (FIRST + (base + k) % SPAN) as u16;
            let key = (SocketAddrV4::new(self.hosts[h].addr, port), server);
            match self.hosts[h].stack.get(&key) {
                Some(&c) if self.conns[c].sock.state() != SocketState::Closed && !self.conns[c].gone => continue,
                _ => return port,
            }
        }
        // Every port busy (more than 28 000 live connections on one host): reuse the next.
        (FIRST + (base + self.hosts[h].next_port) % SPAN) as u16
    }

    /// The application of `slot` asked for a new connection (a reconnect):
    /// it moves to the new connection if the slot's current one is closed,
    /// or closed by the application (an idle close still finishing its FIN
    /// handshake carries on without it).
    pub(super) fn reconnect(&mut self, c: usize) {
        let slot = self.conns[c].slot;
        let h = self.conns[c].host;
        let current = self.slots[slot as usize].conn == Some(c);
        let closed = self.conns[c].gone || self.conns[c].app_closed || self.conns[c].sock.state() == SocketState::Closed;
        if !current || !closed || self.hosts[h].state != HostState::Up || !self.conns[c].app_alive {
            return;
        }
        let app = self.conns[c].app.replace(Box::new(Idle));
        self.conns[c].app_alive = false;
        let port = self.next_port(h);
        self.open_client_conn(slot, port, app);
    }
}
