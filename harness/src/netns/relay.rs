//! kasim's proxy on real sockets (`kasim agent proxy`): the relay a
//! scenario's `[proxy]` host runs under `--engine netns` when the strategy
//! names no proxy program of its own.
//!
//! It is the event engine's proxy with real sockets for legs. Each client
//! connection accepted opens the proxy's own connection to the server, and
//! bytes are copied both ways. Every decision is the model's, taken from
//! [`ProxyConfig`] (the same functions the event engine's proxy calls): the
//! idle timer that data either way restarts ([`ProxyConfig::idle_timer`]),
//! what each leg gets when it strikes ([`ProxyConfig::on_idle_timer`]: a
//! FIN, a RST, a FIN then a RST, a half-close, or a leg forgotten without a
//! packet), and whether a leg's FIN is passed on
//! ([`ProxyConfig::passes_fin_on`]) or the other leg reset. A leg that
//! ends with an error resets the other. The proxy's kernel answers the
//! clients' keepalive probes, so they end here, as in the model.
//!
//! How the legs end on a real socket: a FIN is `shutdown(SHUT_WR)` (then
//! `close`), a RST is `close` with `SO_LINGER` 0, and a forgotten leg is
//! closed in `TCP_REPAIR` mode, which makes Linux drop the socket without
//! sending anything (the next segment from its peer then meets a RST, as
//! the model's silent proxy does).

use sim::proxy_config::{IdleAction, LegClose, ProxyConfig};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the relay prints when its idle timer closes (or half-closes) a
/// client connection, followed by the client's address and port as the
/// proxy sees them.
pub const IDLE_CLOSE: &str = "kasim-agent: proxy idle close ";

/// Data waiting for one leg beyond which the other is not read (back-pressure).
const PENDING_MAX: usize = 256 * 1024;

const FRONT: usize = 0;
const BACK: usize = 1;

/// One TCP connection of a relay.
#[derive(Default)]
struct Leg {
    stream: Option<TcpStream>,
    /// Its connect has not completed yet (the back leg only).
    connecting: bool,
    /// Its peer sent a FIN (read returned 0).
    read_done: bool,
    /// Our FIN is owed once `pending` is written (a FIN passed on, a half-close).
    fin_after_pending: bool,
    /// Our FIN went.
    write_done: bool,
    /// Bytes read from the other leg, waiting to be written to this one.
    pending: Vec<u8>,
}

impl Leg {
    fn fd(&self) -> Option<i32> {
        self.stream.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Send our FIN (once what is pending has gone, and the connection is
    /// up: a shutdown in SYN_SENT would cancel the connect, where the model
    /// queues its FIN until the handshake ends).
    fn shut(&mut self) {
        if !self.pending.is_empty() || self.connecting {
            self.fin_after_pending = true;
            return;
        }
        if let Some(s) = &self.stream {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        self.write_done = true;
        self.fin_after_pending = false;
    }

    /// End the leg as the model says.
    fn end(&mut self, how: LegClose) {
        let Some(s) = self.stream.take() else { return };
        if how.forget {
            // TCP_REPAIR: Linux closes the socket without a packet (needs CAP_NET_ADMIN).
            let on: libc::c_int = 1;
            // SAFETY: a valid socket fd and a c_int option value of the right size.
            let set = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_TCP,
                    libc::TCP_REPAIR,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if set != 0 {
                eprintln!("kasim-agent: TCP_REPAIR refused ({}): the forgotten leg closes with a FIN", std::io::Error::last_os_error());
            }
            return;
        }
        if how.fin {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        if how.rst {
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    }

    /// Reset the leg (close with `SO_LINGER` 0).
    fn reset(&mut self) {
        self.end(LegClose { fin: false, rst: true, forget: false });
    }
}

/// A client connection and the proxy's connection to the server for it.
struct Relay {
    legs: [Leg; 2],
    half_closed: bool,
    idle_at: Option<Instant>,
}

impl Relay {
    fn done(&self) -> bool {
        self.legs.iter().all(|l| l.stream.is_none() || (l.read_done && l.write_done))
    }

    /// Data either way (or the client's connection established) restarts the idle timer.
    fn touch(&mut self, cfg: &ProxyConfig, now: Instant) {
        if let Some(t) = cfg.idle_timer(self.half_closed) {
            self.idle_at = Some(now + t);
        }
    }

    /// Leg `i` ended: its peer's FIN (`eof`) or an error.
    fn leg_ended(&mut self, cfg: &ProxyConfig, i: usize, eof: bool) {
        let other = 1 - i;
        if eof && cfg.passes_fin_on() {
            self.legs[i].read_done = true;
            self.legs[other].shut();
            return;
        }
        self.idle_at = None;
        if eof {
            self.legs[i].end(LegClose { fin: true, rst: false, forget: false });
        } else {
            self.legs[i].stream = None;
        }
        self.legs[other].reset();
    }

    /// The idle timer struck: the model's decision, carried out, and said
    /// (`kasim-agent: proxy idle close PEER`, the client as the proxy sees
    /// it), so the judge knows the proxy closed on purpose even when it
    /// forgets silently.
    fn idle(&mut self, cfg: &ProxyConfig, now: Instant) {
        self.idle_at = None;
        if let Some(peer) = self.legs[FRONT].stream.as_ref().and_then(|s| s.peer_addr().ok()) {
            println!("{IDLE_CLOSE}{peer}");
        }
        match cfg.on_idle_timer(self.half_closed) {
            IdleAction::HalfClose { toward_server, then } => {
                self.half_closed = true;
                self.legs[if toward_server { BACK } else { FRONT }].shut();
                self.idle_at = then.map(|t| now + t);
            }
            IdleAction::Close { front, back } => {
                // In the model, haproxy's close sends the client's packets
                // first; one timer's close reaches the server's leg first.
                if cfg.per_side() {
                    self.legs[FRONT].end(front);
                    self.legs[BACK].end(back);
                } else {
                    self.legs[BACK].end(back);
                    self.legs[FRONT].end(front);
                }
            }
        }
    }

    /// Read what leg `i` has into the other's pending bytes.
    fn read(&mut self, cfg: &ProxyConfig, i: usize, now: Instant, buf: &mut [u8]) {
        loop {
            let Some(s) = self.legs[i].stream.as_mut() else { return };
            match s.read(buf) {
                Ok(0) => return self.leg_ended(cfg, i, true),
                Ok(n) => {
                    self.legs[1 - i].pending.extend_from_slice(&buf[..n]);
                    self.touch(cfg, now);
                    if self.legs[1 - i].pending.len() >= PENDING_MAX {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.leg_ended(cfg, i, false),
            }
        }
    }

    /// Write leg `i`'s pending bytes, and its owed FIN after them.
    fn write(&mut self, cfg: &ProxyConfig, i: usize) {
        let leg = &mut self.legs[i];
        while !leg.pending.is_empty() {
            let Some(s) = leg.stream.as_mut() else { return };
            match s.write(&leg.pending) {
                Ok(n) => drop(leg.pending.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.leg_ended(cfg, i, false),
            }
        }
        if leg.fin_after_pending {
            leg.shut();
        }
    }
}

/// A non-blocking connect to `to` (the back leg).
fn connect(to: SocketAddrV4) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_tcp_nodelay(true)?;
    match s.connect(&std::net::SocketAddr::V4(to).into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(s.into())
}

/// Relay every client connection reaching `port` to `backend` until `stop`.
pub(super) fn run(cfg: ProxyConfig, port: u16, backend: SocketAddrV4, stop: &AtomicBool) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    listener.set_nonblocking(true)?;
    let mut relays: Vec<Relay> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let mut polls = vec![libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        let mut at = Vec::new();
        for (r, relay) in relays.iter().enumerate() {
            for i in [FRONT, BACK] {
                let leg = &relay.legs[i];
                let Some(fd) = leg.fd() else { continue };
                // A leg shut both ways has nothing more to do (and Linux would
                // report POLLHUP on it at every call).
                if leg.read_done && leg.write_done {
                    continue;
                }
                let mut events = 0;
                if !leg.connecting && !leg.read_done && relay.legs[1 - i].pending.len() < PENDING_MAX {
                    events |= libc::POLLIN;
                }
                if leg.connecting || !leg.pending.is_empty() {
                    events |= libc::POLLOUT;
                }
                polls.push(libc::pollfd { fd, events, revents: 0 });
                at.push((r, i));
            }
        }
        let now = Instant::now();
        let due = relays.iter().filter_map(|r| r.idle_at).min();
        // Wake at the next idle deadline, and at least every 10 ms to see `stop`.
        let wait = due.map_or(Duration::from_millis(10), |d| d.saturating_duration_since(now)).min(Duration::from_millis(10));
        let ts = libc::timespec { tv_sec: 0, tv_nsec: wait.subsec_nanos() as libc::c_long };
        // SAFETY: a valid pollfd array and timespec for the duration of the call.
        unsafe {
            libc::ppoll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, &ts, std::ptr::null());
        }
        let now = Instant::now();
        loop {
            match listener.accept() {
                Ok((front, _)) => {
                    front.set_nonblocking(true)?;
                    let _ = front.set_nodelay(true);
                    let mut relay = Relay { legs: [Leg::default(), Leg::default()], half_closed: false, idle_at: None };
                    relay.legs[FRONT].stream = Some(front);
                    match connect(backend) {
                        Ok(back) => {
                            relay.legs[BACK].stream = Some(back);
                            relay.legs[BACK].connecting = true;
                        }
                        Err(_) => relay.leg_ended(&cfg, BACK, false),
                    }
                    relay.touch(&cfg, now);
                    relays.push(relay);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A connection reset before it was accepted, or no fd to
                // spare: that one is lost, the proxy goes on.
                Err(_) => break,
            }
        }
        for (p, &(r, i)) in polls[1..].iter().zip(&at) {
            let relay = &mut relays[r];
            if p.revents == 0 || relay.legs[i].stream.is_none() {
                continue;
            }
            if relay.legs[i].connecting {
                let err = relay.legs[i].stream.as_ref().and_then(|s| s.take_error().ok().flatten());
                if err.is_some() {
                    relay.leg_ended(&cfg, i, false);
                    continue;
                }
                if p.revents & libc::POLLOUT != 0 {
                    relay.legs[i].connecting = false;
                }
            }
            if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !relay.legs[i].connecting && !relay.legs[i].read_done {
                relay.read(&cfg, i, now, &mut buf);
            }
            if relay.legs[i].stream.is_some() && !relay.legs[i].connecting {
                relay.write(&cfg, i);
            }
        }
        // A leg read into the other's pending bytes: write them now.
        for relay in &mut relays {
            for i in [FRONT, BACK] {
                if !relay.legs[i].connecting && (!relay.legs[i].pending.is_empty() || relay.legs[i].fin_after_pending) {
                    relay.write(&cfg, i);
                }
            }
            if relay.idle_at.is_some_and(|t| t <= now) {
                relay.idle(&cfg, now);
            }
        }
        relays.retain(|r| !r.done());
    }
    Ok(())
}
