//! The packet path: links, the middle (NAT or plain wire), hosts' stacks and
//! listeners, and what a long queue on a connection's path means to the oracle.

use super::*;
use crate::socket::SocketState;

/// What became of a packet at one NAT.
enum Crossing {
    /// Passed on (rewritten in place).
    Passed,
    /// Dropped.
    Stopped,
    /// Dropped and answered with this RST (policy `rst`), back toward its sender.
    Answered(Segment),
}

impl World {
    /// Put `seg` on host `h`'s link in direction `dir`; schedule its arrival.
    /// `to` is the connection it is most likely for (see [`InFlight`](super::queue::InFlight)).
    pub(super) fn offer(&mut self, h: usize, dir: usize, seg: Segment, hop: Hop, to: u32) {
        let now = self.now;
        let side = self.hosts[h].side();
        let place = if dir == UP { Place::Uplink(side) } else { Place::Downlink(side) };
        match self.hosts[h].link[dir].offer(now, seg.ip_bytes()) {
            Offer::Arrives { at, queued } => {
                if !queued.is_zero() {
                    self.trace.record(now, || TraceEvent::Queued { place, seg, wait: queued });
                }
                let seg = self.in_flight.put(seg, to);
                self.schedule(at, Ev::Arrive { hop, seg });
            }
            Offer::Dropped(reason) => {
                self.discard(&seg);
                if reason == LinkDrop::RandomLoss {
                    self.evidence_of(h).record_random_loss(now);
                }
                self.trace.record_for(now, self.trace_ref(seg.sender as usize), || TraceEvent::Dropped {
                    place,
                    seg,
                    reason: DropReason::Link(reason),
                });
            }
        }
    }

    /// The evidence a fault on host `h` (or its link) goes to: a client's
    /// own, or (server, proxy) the evidence every connection shares.
    pub(super) fn evidence_of(&mut self, h: usize) -> &mut Evidence {
        if h >= self.server() {
            &mut self.shared
        } else {
            &mut self.hosts[h].evidence
        }
    }

    pub(super) fn transmit(&mut self, h: usize, seg: Segment) {
        let sender = self.conns.get(seg.sender as usize);
        let side = sender.map_or(self.hosts[h].side(), |c| c.role.side());
        let to = sender.and_then(|c| c.peer.get()).map_or(NO_CONN, |p| p as u32);
        let st = &mut self.stats[side.index()];
        st.packets[seg.kind as usize] += 1;
        st.bytes[seg.kind as usize] += u64::from(seg.ip_bytes());
        self.trace.record(self.now, || TraceEvent::Sent { side, seg });
        self.offer(h, UP, seg, Hop::Middle { from: h as u32 }, to);
    }

    /// Where a segment addressed to `dst` goes after the middle: the host with that address.
    pub(super) fn host_of(&self, dst: Ipv4Addr) -> Option<usize> {
        // Clients are hosts 0.. at consecutive addresses (no lookup, however
        // big the fleet); the server and the proxy, if any, follow them.
        let k = u32::from(dst).wrapping_sub(u32::from(addr::client_ip(0))) as usize;
        if k < self.clients {
            return Some(k);
        }
        (self.clients..self.hosts.len()).find(|&h| self.hosts[h].addr == dst)
    }

    /// NAT `position`'s index among the world's NATs (`None`: that box is
    /// the proxy, or there is no such box).
    pub(super) fn nat_at(&self, position: usize) -> Option<usize> {
        let k = match self.proxy {
            Some(_) if position == self.proxy_at => return None,
            Some(_) if position > self.proxy_at => position - 1,
            _ => position,
        };
        (k < self.nats.len()).then_some(k)
    }

    /// A packet leaves host `from`'s link into the middle, and crosses the
    /// NATs between it and its destination: a client's outward through the
    /// NATs before the proxy (all of them without one); the proxy's toward
    /// the server outward through the NATs after it; everything else inward,
    /// from the NAT nearest its sender. A NAT translates an inward packet
    /// only if it is addressed to the NAT's public address, and passes the
    /// rest on as a router would.
    /// `to` is the connection the packet is most likely for (see
    /// [`InFlight`](super::queue::InFlight)), passed on with it.
    pub(super) fn at_middle(&mut self, from: usize, seg: Segment, to: u32) {
        if self.nats.is_empty() {
            self.route(seg, to);
            return;
        }
        let (front, back) = (0..self.proxy_at, self.proxy_at..self.nats.len());
        if from < self.clients {
            self.outward(from, front, seg, to);
        } else if self.proxy.is_some_and(|p| p.1 == from) && *seg.dst.ip() == self.hosts[self.server()].addr {
            self.outward(from, back, seg, to);
        } else if from == self.server() && self.proxy.is_some() {
            self.inward(back, seg, to);
        } else {
            self.inward(front, seg, to);
        }
    }

    /// Through NATs `boxes` in order, each mapping the packet's source; then
    /// to its destination.
    fn outward(&mut self, from: usize, boxes: std::ops::Range<usize>, mut seg: Segment, to: u32) {
        let first = boxes.start;
        for k in boxes {
            match self.cross(k, &mut seg, true) {
                Crossing::Passed => {}
                Crossing::Stopped => return,
                // A RST is for the packet's sender.
                Crossing::Answered(rst) if k == first => return self.offer(from, DOWN, rst, Hop::Host(from as u32), seg.sender),
                // Back through the boxes it crossed, to the sender.
                Crossing::Answered(rst) => return self.inward(first..k, rst, seg.sender),
            }
        }
        self.route(seg, to);
    }

    /// Through NATs `boxes` from the last, each translating what is
    /// addressed to its public address back to the inside; then to its
    /// destination.
    fn inward(&mut self, boxes: std::ops::Range<usize>, mut seg: Segment, to: u32) {
        for k in boxes.rev() {
            if !self.nats[k].nat.config().owns(*seg.dst.ip()) {
                continue;
            }
            match self.cross(k, &mut seg, false) {
                Crossing::Passed => {}
                Crossing::Stopped | Crossing::Answered(_) => return,
            }
        }
        self.route(seg, to);
    }

    /// `seg` meets NAT `k`, outbound (from its inside) or inbound: what the
    /// NAT did (a packet passed on is rewritten in place), in the trace, and
    /// what goes on.
    #[inline(always)]
    fn cross(&mut self, k: usize, seg: &mut Segment, outbound: bool) -> Crossing {
        let now = self.now;
        let verdict = self.translate(k, seg, outbound);
        self.after_nat(k);
        let nat = self.nats[k].name;
        let seg = &mut *seg;
        let (reason, answer) = match verdict {
            NatVerdict::Forward(after) => {
                if after != *seg {
                    let before = *seg;
                    self.trace.record(now, || TraceEvent::Translated { before, after, nat });
                    *seg = after;
                }
                return Crossing::Passed;
            }
            NatVerdict::Drop(reason) => {
                self.discard(seg);
                (reason, None)
            }
            NatVerdict::Reset(rst) => (crate::nat::NatDrop::NoMappingOutbound, Some(rst)),
        };
        let seg = *seg;
        self.trace.record_for(now, self.trace_ref(seg.sender as usize), || TraceEvent::Dropped {
            place: Place::Nat(nat),
            seg,
            reason: DropReason::Nat(reason),
        });
        match answer {
            Some(rst) => {
                self.trace.record(now, || TraceEvent::NatReset { seg: rst, nat });
                Crossing::Answered(rst)
            }
            None => Crossing::Stopped,
        }
    }

    /// Onto the link of the host with the segment's destination address
    /// (`to`: the connection it is most likely for).
    #[inline(always)]
    pub(super) fn route(&mut self, seg: Segment, to: u32) {
        match self.host_of(*seg.dst.ip()) {
            Some(host) => self.offer(host, DOWN, seg, Hop::Host(host as u32), to),
            None => self.discard(&seg),
        }
    }

    /// `to` is the connection `seg` is most likely for (see [`InFlight`](super::queue::InFlight)).
    pub(super) fn at_host(&mut self, h: usize, seg: Segment, to: u32) {
        let now = self.now;
        let host = &self.hosts[h];
        let side = host.side();
        let reason = match host.state {
            HostState::Up => None,
            HostState::Suspended => Some(DropReason::HostSuspended),
            HostState::Down | HostState::Gone => Some(DropReason::HostDown),
        };
        if let Some(reason) = reason {
            self.discard(&seg);
            self.trace.record_for(now, self.trace_ref(seg.sender as usize), || TraceEvent::Dropped {
                place: Place::Host(side),
                seg,
                reason,
            });
            return;
        }
        self.trace.record(now, || TraceEvent::Delivered { side, seg });
        if seg.is_udp() {
            self.datagram_at_host(h, seg);
            return;
        }
        let local = host.local(now);
        match self.stack_find(h, &seg, to).map(|c| (c, self.conns.place(c))) {
            // The ACK that would complete a handshake, with the listen queue full.
            Some((_, p))
                if self.conns[p].sock.state() == SocketState::Accepting && self.conns[p].awaiting_accept && self.listen_overflow(h) =>
            {
                self.overflow_drop(h, seg)
            }
            Some((c, p)) if self.conns[p].sock.state() != SocketState::Closed => {
                self.conns[p].sock.tcp_mut().expect("segments reach TCP sockets").handle_segment(local, &seg);
                self.pump_at(c, p);
            }
            None if host.listener.as_ref().is_some_and(|l| l.port == seg.dst.port()) => self.at_listener(h, seg),
            _ => {
                // No such connection here: the stack answers with RST.
                if let Some(rst) = seg.reset_reply() {
                    self.transmit(h, rst);
                }
            }
        }
    }

    /// A segment for the listening port with no connection: a SYN makes one
    /// (Linux's listener; dropped while a listen queue is full), a RST is
    /// ignored, anything else is answered with RST.
    pub(super) fn at_listener(&mut self, h: usize, seg: Segment) {
        use crate::packet::Flags;
        if seg.flags.contains(Flags::RST) {
            return;
        }
        let syn = seg.flags.contains(Flags::SYN) && !seg.flags.contains(Flags::ACK);
        let peer = Some(seg.sender as usize).filter(|&p| p < self.conns.len());
        let (true, Some(peer)) = (syn, peer) else {
            if let Some(rst) = seg.reset_reply() {
                self.transmit(h, rst);
            }
            return;
        };
        if self.listen_overflow(h) {
            self.overflow_drop(h, seg);
            return;
        }
        let queued = self.queues_accepts(h);
        // The SYN's sender may be released by now (a connect timeout): its number still names its slot.
        let Some(slot) = self.conns.ident(peer).map(|id| id.slot) else { return };
        let local = self.hosts[h].local(self.now);
        let listener = self.hosts[h].listener.as_mut().expect("checked by the caller");
        let spare = listener.spare.take();
        let kept = match listener.spare_app.take() {
            Some((s, app)) if s == slot => Some(app),
            other => {
                listener.spare_app = other;
                None
            }
        };
        let tcp = match spare {
            Some(t) => t,
            None => {
                let iss = self.hosts[h].isn.u32();
                TcpEndpoint::server(self.tcp_cfg_of(h), seg.dst, iss)
            }
        };
        let app: Box<dyn Application> = match kept {
            // A listen queue: the application comes when it accepts.
            _ if queued => Box::new(Idle),
            Some(app) => app,
            // The proxy's legs have no application: the world relays them.
            None if self.hosts[h].role == HostRef::Proxy => Box::new(Idle),
            None => self.apps.server(slot),
        };
        // Behind a NAT, the remote is the NAT's public address.
        let c = self.add_conn(h, slot, (seg.dst, seg.src), Socket::Tcp(tcp), app, Some(peer));
        if queued {
            self.conns[c].awaiting_accept = true;
            self.conns[c].app_alive = false;
        }
        if let Some(p) = self.conns.get_mut(peer) {
            p.peer = OtherConn::new(c);
        }
        self.conns[c].sock.tcp_mut().expect("a TCP listener makes TCP sockets").handle_segment(local, &seg);
        self.pump(c);
    }

    /// A server dropped a half-open connection (`tcp_synack_retries`): its
    /// endpoint is back in LISTEN and becomes the listener's spare again,
    /// with the application that never heard of it.
    pub(super) fn half_open_dropped(&mut self, c: usize) {
        let h = self.conns[c].host;
        let key = self.conns[c].key;
        self.stack_remove(h, key);
        self.conns[c].gone = true;
        self.may_release(c);
        let slot = self.conns[c].slot;
        let cfg = self.tcp_cfg_of(h);
        let Some(listener) = self.hosts[h].listener.as_mut() else { return };
        if listener.spare.is_none() {
            let placeholder = TcpEndpoint::server(cfg, key.0, 0);
            let Socket::Tcp(endpoint) = std::mem::replace(&mut self.conns[c].sock, Socket::Tcp(placeholder)) else {
                unreachable!("a half-open connection is TCP")
            };
            listener.spare = Some(endpoint);
            listener.spare_app = Some((slot, self.conns[c].app.replace(Box::new(Idle))));
        }
    }

    /// Does a long queue stand on the slot's path right now: on a link it
    /// uses, or in one of its two ends' send buffers?
    pub(super) fn long_queue(&self, slot: u32) -> bool {
        let limit = self.queue_condition;
        let client = self.slots[slot as usize].client;
        let server = self.server();
        let links = [client, server].iter().flat_map(|&h| &self.hosts[h].link).any(|l| l.backlog_delay(self.now) >= limit);
        let client_conn = self.slots[slot as usize].conn;
        let ends = [client_conn, client_conn.and_then(|c| self.conns[c].peer.get())];
        // A released end has nothing unacknowledged (see the `release` module).
        let buffers = ends.into_iter().flatten().filter_map(|c| self.conns.get(c)).filter(|conn| !conn.gone).any(|conn| {
            let rate = self.hosts[conn.host].link[UP].config().rate_bps;
            Duration::from_secs_f64(conn.sock.unacked_bytes() as f64 * 8.0 / rate as f64) >= limit
        });
        links || buffers
    }
}
