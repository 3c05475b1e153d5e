//! The TCP-terminating proxy's relay: what a load balancer does with each
//! client connection that reaches it. Its stack is a host's like any other;
//! this is its "application", kept in the world because it works on two
//! connections at once.

use super::{Message, OnIdle, Role, World};
use crate::app::Idle;
use crate::packet::addr;
use crate::tcp::{SocketEvent, TcpEndpoint, TcpState};
use crate::trace::{ProxyEvent, TraceEvent};
use std::net::SocketAddrV4;

impl World {
    /// A socket event of one of the proxy's legs; `true` when it copied data
    /// onto the other leg (which then has something to send).
    pub(super) fn relay_event(&mut self, c: usize, event: SocketEvent) -> bool {
        if !self.conns[c].app_alive {
            return false;
        }
        let mut copied = false;
        match event {
            SocketEvent::Connected if self.conns[c].role == Role::ProxyFront => {
                self.open_backend(c);
                self.touch_idle(c);
            }
            SocketEvent::Received { up_to } => {
                let Some(peer) = self.conns[c].peer else { return false };
                let other = self.conns[c].relay;
                while let Some(&m) = self.conns[peer].ledger.front() {
                    if m.end > up_to {
                        break;
                    }
                    self.conns[peer].ledger.pop_front();
                    if let Some(o) = other {
                        copied |= self.relay_write(o, m);
                    }
                }
                let front = if self.conns[c].role == Role::ProxyFront { Some(c) } else { other };
                if let Some(f) = front {
                    self.touch_idle(f);
                }
            }
            SocketEvent::Eof | SocketEvent::Error(_) => self.leg_ended(c, event == SocketEvent::Eof),
            _ => {}
        }
        copied
    }

    /// Copy a message onto the other leg's stream.
    fn relay_write(&mut self, o: usize, m: Message) -> bool {
        let conn = &mut self.conns[o];
        if conn.gone || conn.sock.state() == TcpState::Closed {
            return false;
        }
        conn.sock.write(m.size);
        conn.written += m.size;
        super::push_message(&mut conn.ledger, Message { end: conn.written, tag: m.tag, size: m.size });
        true
    }

    /// The proxy's own connection to the server, for client connection `front`.
    fn open_backend(&mut self, front: usize) {
        let Some((_, p)) = self.proxy else { return };
        let slot = self.conns[front].slot;
        let remote = SocketAddrV4::new(self.hosts[self.server()].addr, self.service_port());
        let local = SocketAddrV4::new(self.hosts[p].addr, self.next_backend_port(p, remote));
        let iss = self.hosts[p].isn.u32();
        let mut tcp = TcpEndpoint::client(self.tcp_cfg.clone(), local, remote, iss);
        tcp.connect(self.hosts[p].local(self.now));
        let back = self.add_conn(p, slot, (local, remote), super::Socket::Tcp(tcp), Box::new(Idle), None);
        self.conns[back].relay = Some(front);
        self.conns[front].relay = Some(back);
        let now = self.now;
        self.trace.record(now, || TraceEvent::Proxy(ProxyEvent::BackendOpened { slot }));
        self.pump(back);
    }

    /// The proxy's next local port toward `remote`: counted up from
    /// [`addr::PROXY_FIRST_PORT`] to 65535, then round again, skipping any
    /// still held by a connection that is not closed.
    fn next_backend_port(&mut self, p: usize, remote: SocketAddrV4) -> u16 {
        let first = u32::from(addr::PROXY_FIRST_PORT);
        let span = 65_536 - first;
        let port_of = |n: u32| (first + n % span) as u16;
        for _ in 0..span {
            let port = port_of(self.backend_conns);
            self.backend_conns = self.backend_conns.wrapping_add(1);
            match self.hosts[p].stack.get(&(SocketAddrV4::new(self.hosts[p].addr, port), remote)) {
                Some(&c) if self.conns[c].sock.state() != TcpState::Closed && !self.conns[c].gone => continue,
                _ => return port,
            }
        }
        // Every port busy (64 512 live backend connections): reuse the next.
        port_of(self.backend_conns)
    }

    /// One leg ended: close it (a FIN is answered with ours) and reset the other.
    fn leg_ended(&mut self, c: usize, eof: bool) {
        let now = self.now;
        let (slot, front) = (self.conns[c].slot, self.conns[c].role == Role::ProxyFront);
        self.trace.record(now, || TraceEvent::Proxy(ProxyEvent::LegEnded { slot, front, eof }));
        if eof {
            let local = self.local_of(c);
            self.conns[c].sock.close(local);
        }
        for leg in [Some(c), self.conns[c].relay].into_iter().flatten() {
            self.conns[leg].idle_at = None;
        }
        if let Some(o) = self.conns[c].relay {
            if !self.conns[o].gone {
                let local = self.local_of(o);
                self.conns[o].sock.abort(local);
                self.after_relay(o);
            }
        }
    }

    /// The client connection's idle timer restarts with data either way.
    fn touch_idle(&mut self, front: usize) {
        if let Some(timeout) = self.proxy.and_then(|(cfg, _)| cfg.idle_timeout) {
            let local = self.hosts[self.conns[front].host].local(self.now);
            self.conns[front].idle_at = Some(local + timeout);
        }
    }

    /// The front leg `f` has been idle for the proxy's timeout: an orderly end.
    pub(super) fn idle_close(&mut self, f: usize) {
        let Some((cfg, _)) = self.proxy else { return };
        let now = self.now;
        let slot = self.conns[f].slot;
        self.conns[f].idle_at = None;
        self.trace.record(now, || TraceEvent::Proxy(ProxyEvent::IdleClose { slot, on_idle: cfg.on_idle }));
        let g = self.gen_of(f);
        if g.broken.is_none() {
            g.ended_at.get_or_insert(now);
        }
        let legs: Vec<usize> = [Some(f), self.conns[f].relay].into_iter().flatten().filter(|&l| !self.conns[l].gone).collect();
        for &leg in &legs {
            let local = self.local_of(leg);
            match cfg.on_idle {
                OnIdle::Fin => self.conns[leg].sock.close(local),
                OnIdle::Rst => self.conns[leg].sock.abort(local),
                OnIdle::Silent => {
                    let (h, key) = (self.conns[leg].host, self.conns[leg].key);
                    self.hosts[h].stack.remove(&key);
                    self.conns[leg].gone = true;
                }
            }
        }
        for leg in legs {
            if leg != f {
                self.after_relay(leg);
            }
        }
    }

    /// Send what a leg has to send and schedule it, outside its own pump.
    pub(super) fn after_relay(&mut self, c: usize) {
        if !self.conns[c].gone {
            self.pump(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{OnIdle, ProxyConfig, WorldConfig};
    use crate::Instant;

    #[test]
    fn backend_ports_wrap_past_65535_and_skip_ports_still_in_use() {
        let proxy = ProxyConfig { idle_timeout: None, on_idle: OnIdle::Fin };
        let cfg = WorldConfig { proxy: Some(proxy), ..WorldConfig::default() };
        let mut w = World::new(cfg, Box::new(Idle), Box::new(Idle)).unwrap();
        // The client connects; the proxy's first backend connection takes port 1024 and stays open.
        w.run_until(Instant::from_secs(1));
        let (_, p) = w.proxy.unwrap();
        let remote = SocketAddrV4::new(w.hosts[w.server()].addr, w.service_port());
        assert_eq!(w.backend_conns, 1);
        // 64 511 backends later the count reaches 65535, then wraps to 1024,
        // which the live connection still holds: 1025.
        w.backend_conns = 65_535 - 1024;
        assert_eq!(w.next_backend_port(p, remote), 65_535);
        assert_eq!(w.next_backend_port(p, remote), 1025);
    }
}
