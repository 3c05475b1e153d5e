//! The TCP-terminating proxy's relay: what a load balancer does with each
//! client connection that reaches it. Its stack is a host's like any other;
//! this is its "application", kept in the world because it works on two
//! connections at once.

use super::{Message, Role, World};
use crate::app::Idle;
use crate::packet::addr;
use crate::proxy_config::IdleAction;
use crate::socket::{SocketEvent, SocketState};
use crate::tcp::TcpEndpoint;
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
                // A released peer left nothing unread (see the `release` module).
                let Some(peer) = self.conns[c].peer.get().filter(|&p| self.conns.is_live(p)) else { return false };
                let other = self.conns[c].relay.get();
                while let Some(&m) = self.conns[peer].ledger.front() {
                    if m.end > up_to {
                        break;
                    }
                    let writer = &mut self.conns[peer];
                    writer.ledger.pop_front();
                    if writer.ledger.is_empty() && (writer.gone || writer.sock.state() == SocketState::Closed) {
                        // A closed client read to the end may be over.
                        self.may_release(peer);
                    }
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
        if conn.gone || conn.sock.state() == SocketState::Closed {
            return false;
        }
        conn.sock.write(m.size);
        conn.written += m.size;
        conn.ledger.push(Message { end: conn.written, tag: m.tag, size: m.size });
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
        self.conns[back].relay = super::OtherConn::new(front);
        self.conns[front].relay = super::OtherConn::new(back);
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
                Some(&c) if self.conns[c].sock.state() != SocketState::Closed && !self.conns[c].gone => continue,
                _ => return port,
            }
        }
        // Every port busy (64 512 live backend connections): reuse the next.
        port_of(self.backend_conns)
    }

    /// One leg ended. A proxy with haproxy's two timers is a TCP relay: a FIN
    /// is passed on to the other leg as a FIN. Otherwise (and after an
    /// error) the leg is closed (a FIN is answered with ours) and the other
    /// reset.
    fn leg_ended(&mut self, c: usize, eof: bool) {
        let now = self.now;
        let (slot, front) = (self.conns[c].slot, self.conns[c].role == Role::ProxyFront);
        let forwarded = eof && self.proxy.is_some_and(|(cfg, _)| cfg.passes_fin_on());
        self.trace.record(now, || TraceEvent::Proxy(ProxyEvent::LegEnded { slot, front, eof, forwarded }));
        if forwarded {
            // A relay: the end of what this leg sends goes on to the other
            // as a FIN, and both keep carrying the other direction (the
            // proxy's timers still run).
            if let Some(o) = self.conns[c].relay.get().filter(|&o| !self.conns[o].gone) {
                let local = self.local_of(o);
                self.conns[o].sock.shutdown_write(local);
                self.after_relay(o);
            }
            return;
        }
        if eof {
            let local = self.local_of(c);
            self.conns[c].sock.close(local);
        }
        for leg in [Some(c), self.conns[c].relay.get()].into_iter().flatten() {
            self.conns[leg].idle_at = None;
        }
        if let Some(o) = self.conns[c].relay.get() {
            if !self.conns[o].gone {
                let local = self.local_of(o);
                self.conns[o].sock.abort(local);
                self.after_relay(o);
            }
        }
    }

    /// The client connection's idle timer restarts with data either way
    /// (with haproxy's two timers, the next of them to strike: data restarts
    /// both, so the shorter first, then after a half-close the longer).
    fn touch_idle(&mut self, front: usize) {
        let Some((cfg, _)) = self.proxy else { return };
        if let Some(timeout) = cfg.idle_timer(self.conns[front].half_closed) {
            let local = self.hosts[self.conns[front].host].local(self.now);
            self.conns[front].idle_at = Some(local + timeout);
        }
    }

    /// The front leg `f` has been idle for the proxy's timeout: an orderly
    /// end (with haproxy's two timers, the shorter one alone half-closes).
    pub(super) fn idle_close(&mut self, f: usize) {
        let Some((cfg, _)) = self.proxy else { return };
        let now = self.now;
        let slot = self.conns[f].slot;
        self.conns[f].idle_at = None;
        // A relay whose ends both closed (FINs passed both ways) has nothing
        // left for its timers to end.
        let open = |w: &World, l: usize| !w.conns[l].gone && w.conns[l].sock.state() != SocketState::Closed;
        if cfg.per_side() && ![Some(f), self.conns[f].relay.get()].into_iter().flatten().any(|l| open(self, l)) {
            return;
        }
        let g = self.gen_of(f);
        if g.broken.is_none() {
            g.ended_at.get_or_insert(now);
        }
        let (front, back) = match cfg.on_idle_timer(self.conns[f].half_closed) {
            IdleAction::HalfClose { toward_server, then } => {
                self.half_close(f, toward_server, then);
                return;
            }
            IdleAction::Close { front, back } => (front, back),
        };
        self.trace.record(now, || TraceEvent::Proxy(ProxyEvent::IdleClose { slot, on_idle: cfg.on_idle }));
        let legs: Vec<usize> = [Some(f), self.conns[f].relay.get()].into_iter().flatten().filter(|&l| !self.conns[l].gone).collect();
        for &leg in &legs {
            let how = if leg == f { front } else { back };
            if how.forget {
                let (h, key) = (self.conns[leg].host, self.conns[leg].key);
                self.stack_remove(h, key);
                self.conns[leg].gone = true;
                continue;
            }
            // Each leg's packets leave as the proxy sends them: the
            // client's first, and a FIN before its RST.
            if how.fin {
                let local = self.local_of(leg);
                self.conns[leg].sock.close(local);
                if cfg.per_side() {
                    self.after_relay(leg);
                }
            }
            if how.rst && !self.conns[leg].gone {
                let local = self.local_of(leg);
                self.conns[leg].sock.abort(local);
                if cfg.per_side() {
                    self.after_relay(leg);
                }
            }
        }
        for leg in legs {
            if leg != f {
                self.after_relay(leg);
            }
        }
    }

    /// The shorter of haproxy's two timers struck alone: a FIN toward the
    /// other side (the client's timer ends what the client sends, and the
    /// proxy passes that end on to the server; the server's, to the client).
    /// The longer timer then strikes `then` later, with no more data.
    fn half_close(&mut self, f: usize, toward_server: bool, then: Option<std::time::Duration>) {
        let now = self.now;
        let slot = self.conns[f].slot;
        self.trace.record(now, || TraceEvent::Proxy(ProxyEvent::HalfClose { slot, toward_server }));
        self.conns[f].half_closed = true;
        let leg = if toward_server { self.conns[f].relay.get() } else { Some(f) };
        if let Some(leg) = leg.filter(|&l| !self.conns[l].gone) {
            let local = self.local_of(leg);
            self.conns[leg].sock.shutdown_write(local);
            if leg != f {
                self.after_relay(leg);
            }
        }
        if let Some(then) = then {
            let local = self.local_of(f);
            self.conns[f].idle_at = Some(local + then);
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
    use crate::packet::Flags;
    use crate::proxy_config::{OnIdle, ProxyConfig};
    use crate::world::WorldConfig;
    use crate::Instant;

    #[test]
    fn backend_ports_wrap_past_65535_and_skip_ports_still_in_use() {
        let proxy = ProxyConfig::idle(None, OnIdle::Fin);
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

    /// The server's application: writes one byte `after` its connection is
    /// established, and never reacts to anything (as the measured peers did).
    struct WritesOnce {
        after: std::time::Duration,
        at: Option<Instant>,
    }

    impl crate::app::Application for WritesOnce {
        fn on_event(&mut self, now: Instant, event: crate::app::AppEvent, _io: &mut crate::app::AppIo) {
            if event == crate::app::AppEvent::Connected {
                self.at = Some(now + self.after);
            }
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.at
        }
        fn on_timeout(&mut self, now: Instant, io: &mut crate::app::AppIo) {
            if self.at.is_some_and(|t| t <= now) {
                self.at = None;
                io.write(1, 0);
            }
        }
    }

    /// (time, flags, toward the client?) of every segment the proxy put on
    /// a wire (flags `PSH` for one that carries data), when the proxy's front
    /// leg connected, and when the proxy last received data.
    fn proxy_story(client_timeout: u64, server_timeout: u64, on_idle: OnIdle) -> (Vec<(Instant, Flags, bool)>, Instant, Instant) {
        use crate::trace::TraceEvent;
        let proxy = ProxyConfig {
            idle_timeout: None,
            on_idle,
            client_timeout: Some(std::time::Duration::from_secs(client_timeout)),
            server_timeout: Some(std::time::Duration::from_secs(server_timeout)),
        };
        let cfg = WorldConfig { proxy: Some(proxy), trace: true, horizon: std::time::Duration::from_secs(60), ..WorldConfig::default() };
        let server = WritesOnce { after: std::time::Duration::from_secs(7), at: None };
        let mut w = World::new(cfg, Box::new(Idle), Box::new(server)).unwrap();
        w.run_until(Instant::from_secs(60));
        let out = w.finish();
        let front = |seg: &crate::packet::Segment| seg.src == addr::SERVER;
        // The proxy's connections' own segments (not its stack's answers to
        // segments for a socket already gone: the server acks the FIN at
        // once here, where Linux delays that ACK in CLOSE_WAIT and the RST
        // kills the socket first, so the capture has no such answer).
        let from_proxy =
            |seg: &crate::packet::Segment| seg.src.ip() == addr::SERVER.ip() && seg.sender != crate::packet::Segment::NO_SENDER;
        let mut sent = Vec::new();
        let (mut connected, mut last_data) = (None, Instant::ZERO);
        for r in &out.trace {
            match &r.event {
                TraceEvent::Sent { seg, .. } if from_proxy(seg) && seg.len == 0 => sent.push((r.at, seg.flags, front(seg))),
                TraceEvent::Sent { seg, .. } if from_proxy(seg) => sent.push((r.at, Flags::PSH, front(seg))),
                TraceEvent::Delivered { seg, .. } if seg.dst.ip() == addr::SERVER.ip() => {
                    if connected.is_none() && seg.dst == addr::SERVER && seg.flags == Flags::ACK {
                        connected = Some(r.at);
                    }
                    if seg.len > 0 {
                        last_data = r.at;
                    }
                }
                _ => {}
            }
        }
        (sent, connected.expect("the client connected"), last_data)
    }

    /// The FINs and RSTs among them.
    fn closing(sent: &[(Instant, Flags, bool)]) -> Vec<(Instant, Flags, bool)> {
        sent.iter().filter(|(_, f, _)| f.contains(Flags::FIN) || f.contains(Flags::RST)).copied().collect()
    }

    /// haproxy 2.6.12 in TCP mode, `timeout client 5s`, `timeout server 10s`
    /// (measured in namespaces, README "Middleboxes by name"): a FIN to the
    /// server at 5.00 s (the client's timer, a half-close); silent peers then
    /// get a FIN to the client and a RST to the server (whose FIN already
    /// went) at 10.00 s; a server sending every 7 s after the half-close kept
    /// it open, its data reaching the client. So data restarts the longer
    /// timer: with one byte from the server at 7 s, the close comes 10 s
    /// after that byte. Here: the front leg connects at `c`; the client's timer
    /// strikes at c + 5 s; the server's byte reaches the proxy at `d`
    /// (7 s after the server's end connected), and the server's timer strikes
    /// at d + 10 s.
    #[test]
    fn haproxys_shorter_timer_half_closes_toward_the_other_side_and_data_restarts_the_longer() {
        let (sent, c, d) = proxy_story(5, 10, OnIdle::Fin);
        let s5 = c + std::time::Duration::from_secs(5);
        let d10 = d + std::time::Duration::from_secs(10);
        assert!(d > s5, "the byte comes after the half-close");
        assert_eq!(
            closing(&sent),
            [(s5, Flags::FIN | Flags::ACK, false), (d10, Flags::FIN | Flags::ACK, true), (d10, Flags::RST | Flags::ACK, false)]
        );
        // The server's byte crossed the half-closed proxy to the client.
        assert!(sent.contains(&(d, Flags::PSH, true)));
    }

    /// The other way round (`timeout client 10s`, `timeout server 5s`), as
    /// measured: the FIN goes to the client at 5 s, and at the end FIN and
    /// RST to the server. Equal timers close at once: FIN to the client, then
    /// FIN and RST to the server; `option nolinger` (on_idle rst): FIN and RST
    /// to the client, RST to the server.
    #[test]
    fn haproxys_close_sends_fin_to_the_client_and_fin_rst_to_the_server() {
        let (sent, c, d) = proxy_story(10, 5, OnIdle::Fin);
        let (s5, d10) = (c + std::time::Duration::from_secs(5), d + std::time::Duration::from_secs(10));
        assert_eq!(
            closing(&sent),
            [(s5, Flags::FIN | Flags::ACK, true), (d10, Flags::FIN | Flags::ACK, false), (d10, Flags::RST | Flags::ACK, false)]
        );

        let (sent, c, _) = proxy_story(5, 5, OnIdle::Fin);
        let s5 = c + std::time::Duration::from_secs(5);
        assert_eq!(
            closing(&sent),
            [(s5, Flags::FIN | Flags::ACK, true), (s5, Flags::FIN | Flags::ACK, false), (s5, Flags::RST | Flags::ACK, false)]
        );

        let (sent, c, _) = proxy_story(5, 5, OnIdle::Rst);
        let s5 = c + std::time::Duration::from_secs(5);
        assert_eq!(
            closing(&sent),
            [(s5, Flags::FIN | Flags::ACK, true), (s5, Flags::RST | Flags::ACK, true), (s5, Flags::RST | Flags::ACK, false)]
        );
    }
}
