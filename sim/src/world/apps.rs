//! Each connection and its application: socket events in, commands out,
//! timers, and the one wake-up per connection in the event queue.

use super::conn_table::Place;
use super::{ConnOutcome, Ev, HostState, Message, Role, World};
use crate::app::{AppCommand, AppEvent};
use crate::oracle::{judge, Declaration, Verdict};
use crate::socket::{SocketError, SocketEvent, SocketState};
use crate::tcp::TimerKind;
use crate::time::Instant;
use crate::trace::TraceEvent;

impl World {
    /// Connection `c`'s wake-up: its TCP timers, then its application's.
    pub(super) fn wake(&mut self, c: usize, place: u32) {
        // A stale wake-up of a connection released since (numbers are never reused).
        let Some(p) = self.conns.still_at(c, place) else { return };
        let (now, conn_ref) = (self.now, self.trace_ref(c));
        let conn = &mut self.conns[p];
        if conn.wake == Some(now) {
            conn.wake = None;
        }
        let host = &self.hosts[conn.host];
        if host.state != HostState::Up || conn.gone {
            return;
        }
        let (local, side) = (host.local(now), conn.role.side());
        let trace = &mut self.trace;
        conn.sock.handle_timeout(local, |timer, late| trace.record_for(now, conn_ref, || TraceEvent::TimerFired { side, timer, late }));
        if conn.idle_at.is_some_and(|t| t <= local) {
            self.idle_close(c);
        }
        let conn = &mut self.conns[p];
        if conn.app_alive && conn.app.poll_timeout().is_some_and(|t| t <= local) {
            self.io.reset(conn.written, conn.sock.acked_bytes());
            conn.app.on_timeout(local, &mut self.io);
            self.apply_commands_at(c, p);
        }
        self.pump_at(c, p);
    }

    /// Hand socket events to the application, apply what it asks, transmit,
    /// and schedule the next wake-up. Loops until the socket is quiet.
    pub(super) fn pump(&mut self, c: usize) {
        self.pump_at(c, self.conns.place(c));
    }

    /// [`pump`](Self::pump) with `c`'s place known (the handlers below take
    /// it from here: a number's lookup is a load they need not repeat).
    pub(super) fn pump_at(&mut self, c: usize, p: Place) {
        if crate::trace::logging() {
            // Log lines about this connection carry which one it is.
            let conn = &self.conns[p];
            let _span = conn_span(c, conn.slot, conn.gen, conn.role.side());
            self.pump_events(c, p);
        } else {
            self.pump_events(c, p);
        }
    }

    #[inline(always)]
    fn pump_events(&mut self, c: usize, p: Place) {
        let now = self.now;
        let (side, proxy, conn_ref) = (self.conns[p].role.side(), self.conns[p].role.is_proxy(), self.trace_ref(c));
        let mut relayed = false;
        while let Some(event) = self.conns[p].sock.poll_event() {
            if event == SocketEvent::Connected {
                self.start_from_cached_rtt(c);
            }
            if proxy && event != SocketEvent::HalfOpenDropped {
                relayed |= self.relay_event(c, event);
                continue;
            }
            self.trace.record_for(now, conn_ref, || TraceEvent::Socket { side, event });
            if self.conns[p].awaiting_accept {
                // Not accepted yet: the kernel holds it; the application hears later.
                match event {
                    SocketEvent::Connected => self.queue_for_accept(c),
                    SocketEvent::Received { up_to } => self.conns[p].held_up_to = up_to,
                    SocketEvent::HalfOpenDropped => {
                        self.half_open_dropped(c);
                        return;
                    }
                    _ => {}
                }
                continue;
            }
            match event {
                SocketEvent::Connected => {
                    if self.conns[p].role == Role::Client {
                        self.gen_of(c).established_at.get_or_insert(now);
                    }
                    self.deliver_at(c, p, AppEvent::Connected)
                }
                SocketEvent::Received { up_to } => self.receive(c, up_to),
                SocketEvent::Acked { up_to } => self.deliver_at(c, p, AppEvent::Acked { bytes: up_to }),
                SocketEvent::Eof => self.deliver_at(c, p, AppEvent::Eof),
                SocketEvent::MessageArrived { end } => self.receive_message(c, end),
                SocketEvent::Error(e) => {
                    if e == SocketError::TimedOut && self.conns[p].sock.is_quic() {
                        self.quic_timed_out(c);
                    }
                    self.deliver_at(c, p, AppEvent::Error(e))
                }
                // Never accepted, so the application is not told; the endpoint
                // goes back to the listener.
                SocketEvent::HalfOpenDropped => {
                    self.half_open_dropped(c);
                    return;
                }
            }
        }
        if self.conns[p].sock.ended_gracefully() {
            self.save_closing_rtt(c);
        }
        self.flush(c, p);
        if self.conns[p].gone || self.conns[p].sock.state() == SocketState::Closed {
            if self.conns[p].role == Role::Client {
                self.gen_of(c).closed_at.get_or_insert(now);
            }
            self.may_release(c);
        }
        self.reschedule_at(c, p);
        if let Some(other) = self.conns[p].relay.get().filter(|_| relayed) {
            self.after_relay(other);
        }
    }

    /// quinn's idle timeout ended QUIC connection `c`. On an established
    /// connection that is not broken that is an orderly end (counted as an
    /// idle close): the declaration the application makes of it is judged
    /// [`Verdict::OrderlyEnd`]. On a broken one it is a detection, as
    /// ETIMEDOUT is; during the handshake it is a failed connect.
    fn quic_timed_out(&mut self, c: usize) {
        let now = self.now;
        let (side, conn_ref) = (self.conns[c].role.side(), self.trace_ref(c));
        if !self.conns[c].sock.quic_mut().is_some_and(|q| q.was_connected()) {
            return;
        }
        let g = self.gen_of(c);
        if g.broken.is_none() && g.ended_at.is_none() {
            g.ended_at = Some(now);
            g.idle_closed = true;
            self.trace.record_for(now, conn_ref, || TraceEvent::QuicIdleClose { side });
        }
    }

    /// `up_to` bytes of the peer's stream are readable on `c`: tell the
    /// application, and hand it every whole message they complete, in order.
    pub(super) fn receive(&mut self, c: usize, up_to: u64) {
        let now = self.now;
        let (side, conn_ref) = (self.conns[c].role.side(), self.trace_ref(c));
        self.deliver(c, AppEvent::Readable { bytes: up_to });
        // A released peer left nothing unread (see the `release` module).
        let Some(peer) = self.conns[c].peer.get().filter(|&p| self.conns.is_live(p)) else { return };
        while let Some(&Message { end, tag, size }) = self.conns[peer].ledger.front() {
            if end > up_to {
                break;
            }
            let writer = &mut self.conns[peer];
            writer.ledger.pop_front();
            if writer.ledger.is_empty() && (writer.gone || writer.sock.state() == SocketState::Closed) {
                // A closed writer read to the end may be over.
                self.may_release(peer);
            }
            self.messages_received[side.index()] += 1;
            self.trace.record_for(now, conn_ref, || TraceEvent::AppMessage { side, tag, size });
            self.deliver(c, AppEvent::Message { tag, size });
        }
    }

    /// A datagram tunnel delivered the whole message ending at `end`: the
    /// peer's messages before it that did not arrive are lost.
    fn receive_message(&mut self, c: usize, end: u64) {
        let now = self.now;
        let (side, conn_ref) = (self.conns[c].role.side(), self.trace_ref(c));
        let Some(peer) = self.conns[c].peer.get().filter(|&p| self.conns.is_live(p)) else { return };
        while let Some(&Message { end: e, tag, size }) = self.conns[peer].ledger.front() {
            if e > end {
                break;
            }
            self.conns[peer].ledger.pop_front();
            if e < end {
                self.trace.record_for(now, conn_ref, || TraceEvent::MessageLost { side, tag, size });
                continue;
            }
            self.deliver(c, AppEvent::Readable { bytes: end });
            self.messages_received[side.index()] += 1;
            self.trace.record_for(now, conn_ref, || TraceEvent::AppMessage { side, tag, size });
            self.deliver(c, AppEvent::Message { tag, size });
        }
    }

    /// The outcome record of connection `c`: its slot's generation.
    pub(super) fn gen_of(&mut self, c: usize) -> &mut ConnOutcome {
        let (slot, gen) = (self.conns[c].slot, self.conns[c].gen);
        self.slots[slot as usize].attempt(gen)
    }

    /// Give one event to the connection's application and apply its commands.
    pub(super) fn deliver(&mut self, c: usize, ev: AppEvent) {
        self.deliver_at(c, self.conns.place(c), ev);
    }

    fn deliver_at(&mut self, c: usize, p: Place, ev: AppEvent) {
        let conn = &mut self.conns[p];
        if !conn.app_alive {
            return;
        }
        self.io.reset(conn.written, conn.sock.acked_bytes());
        let local = self.hosts[conn.host].local(self.now);
        conn.app.on_event(local, ev, &mut self.io);
        self.apply_commands_at(c, p);
    }

    #[inline(always)]
    fn flush(&mut self, c: usize, p: Place) {
        if self.conns[p].gone {
            return;
        }
        let h = self.conns[p].host;
        let local = self.hosts[h].local(self.now);
        if self.conns[p].sock.is_datagram() {
            self.flush_datagrams(c);
            return;
        }
        while let Some(mut seg) = self.conns[p].sock.tcp_mut().and_then(|t| t.poll_transmit(local)) {
            seg.sender = c as u32;
            self.transmit(h, seg);
        }
    }

    #[inline(always)]
    pub(super) fn reschedule(&mut self, c: usize) {
        self.reschedule_at(c, self.conns.place(c));
    }

    #[inline(always)]
    fn reschedule_at(&mut self, c: usize, p: Place) {
        let conn = &mut self.conns[p];
        let host = &self.hosts[conn.host];
        if host.state != HostState::Up || conn.gone {
            return;
        }
        let tcp_t = conn.sock.poll_timeout();
        let app_t = if conn.app_alive { conn.app.poll_timeout() } else { None };
        let next = match (tcp_t, app_t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let next = match (next, conn.idle_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(next) = next.map(|t| host.global(t).max(self.now)) else { return };
        if conn.wake.is_none_or(|w| next < w || w < self.now) {
            if crate::trace::logging() {
                log_timers(conn.sock.armed_timers(), app_t, conn.idle_at, next);
            }
            self.conns[p].wake = Some(next);
            self.schedule(next, Ev::Wake { conn: c as u32, place: p.index() });
        }
    }

    fn apply_commands_at(&mut self, c: usize, p: Place) {
        let now = self.now;
        let (side, conn_ref) = (self.conns[p].role.side(), self.trace_ref(c));
        let mut commands = std::mem::take(&mut self.io);
        let mut reconnect = false;
        for cmd in commands.take() {
            let conn = &mut self.conns[p];
            let local = self.hosts[conn.host].local(now);
            match cmd {
                AppCommand::Write { size, tag } => {
                    if conn.gone || conn.sock.state() == SocketState::Closed {
                        continue;
                    }
                    conn.sock.write(size);
                    conn.written += size;
                    conn.ledger.push(Message { end: conn.written, tag, size });
                    self.trace.record_for(now, conn_ref, || TraceEvent::AppWrite { side, tag, size });
                }
                AppCommand::Close if !conn.gone => {
                    conn.sock.close(local);
                    conn.app_closed = true;
                }
                AppCommand::CloseOnPurpose if !conn.gone => {
                    conn.sock.close(local);
                    conn.app_closed = true;
                    let g = self.gen_of(c);
                    if g.broken.is_none() {
                        g.ended_at.get_or_insert(now);
                    }
                    self.trace.record_for(now, conn_ref, || TraceEvent::ClosedOnPurpose { side });
                }
                AppCommand::Abort if !conn.gone => {
                    conn.sock.abort(local);
                    conn.app_closed = true;
                }
                AppCommand::SetKeepalive(ka) if !conn.gone => conn.sock.set_keepalive(local, ka),
                AppCommand::SetUserTimeout(ut) if !conn.gone => conn.sock.set_user_timeout(ut),
                AppCommand::Connect => reconnect = true,
                AppCommand::Close
                | AppCommand::CloseOnPurpose
                | AppCommand::Abort
                | AppCommand::SetKeepalive(_)
                | AppCommand::SetUserTimeout(_) => {}
                AppCommand::DeclareDead { cause } => {
                    let (slot, gen) = (conn.slot, conn.gen);
                    let queued = self.long_queue(slot);
                    let s = &self.slots[slot as usize];
                    let host = &self.hosts[s.client].evidence;
                    let g = &s.gens[s.record_of(gen)];
                    let verdict = if g.ended_before(now) {
                        Verdict::OrderlyEnd
                    } else {
                        judge(g.broken, &s.evidence, &[host, &self.shared], now, self.lookback, queued)
                    };
                    // Of this connection only: another slot's, or an earlier attempt's, is not ours to echo.
                    let echo = crate::oracle::echoes_peer(&cause, g.declared[side.peer().index()]);
                    self.slots[slot as usize].attempt(gen).declared[side.index()] = true;
                    let cause_for_trace = cause.clone();
                    self.trace.record_for(now, conn_ref, || TraceEvent::Declared { side, cause: cause_for_trace, verdict, echo });
                    self.declarations.push(Declaration { side, at: now, cause, verdict, slot, conn: gen, echo });
                }
            }
        }
        self.io = commands;
        if reconnect {
            self.reconnect(c);
        }
    }
}

/// A connection's next wake-up moved: which timers are armed and when each
/// fires ("-": not armed), at DEBUG within the connection's span. Times are
/// the host's clock (a suspended host's lags); `wake` is the world's.
#[cold]
#[inline(never)]
fn log_timers(tcp: [Option<(TimerKind, Instant)>; 2], app: Option<Instant>, idle_close: Option<Instant>, wake: Instant) {
    // Applications say "no timer" with a far-off instant; past any horizon (365 d) it is "never".
    let at = |t: Option<Instant>| match t {
        None => "-".to_string(),
        Some(t) if t > Instant::from_secs(400 * 86_400) => "never".to_string(),
        Some(t) => t.to_string(),
    };
    let [retransmit, keepalive] = tcp.map(|t| t.map_or_else(|| "-".to_string(), |(kind, at)| format!("{kind:?} {at}")));
    tracing::debug!(target: "sim", %retransmit, %keepalive, app = %at(app), idle_close = %at(idle_close), %wake, "timers armed");
}

/// The log span of a connection's work (only made while someone listens).
#[cold]
#[inline(never)]
fn conn_span(id: usize, slot: u32, gen: u32, side: crate::side::Side) -> tracing::span::EnteredSpan {
    tracing::debug_span!(target: "sim", "conn", id, slot, gen, %side).entered()
}
