//! QUIC on real hosts: the event engine's own QUIC socket
//! ([`sim::quic::QuicSocket`], quinn-proto with its seeded rustls) driven
//! over a real UDP socket, with the event engine's own application on top.
//!
//! Why not a separate tokio + quinn program: quinn is quinn-proto plus a
//! runtime that moves datagrams and reads the clock. Driving the very
//! socket the event engine drives (the same transport settings, the same
//! classification of keep-alives, the same connection-ID and TLS setup)
//! means a difference between the engines is a difference of the network
//! or of real time, not of two QUIC configurations. The datagrams are real
//! and cross kasim's real-time network like any program's.
//!
//! The contract is [`QuicSocket`]'s, as quinn-proto's `Connection`: feed it
//! (a datagram, a timeout, a write), drain its events into the application
//! ([`QuicConn::pump`]), then send what it has ([`QuicConn::transmit`]),
//! then ask again for the next deadline ([`QuicConn::deadline`]). The
//! application's messages travel framed as on TCP (`socket_app::frame`), so
//! the peer's application sees the same tags and sizes.
//!
//! What the judge cannot read from encrypted packets, the agent prints:
//! `kasim-agent: quic idle timeout LOCAL PEER` when quinn's idle timeout
//! ends an established connection (before the application's declaration of
//! it), and `kasim-agent: quic keep-alive KIND BYTES` for each keep-alive
//! PING and each ACK that answers one, so the wire counts are the event
//! engine's.

use super::agent::{self, PORTS_PER_SLOT};
use super::socket_app::{frame, Deframer, Ended};
use sim::app::{AppCommand, AppEvent, AppIo, Application};
use sim::packet::SegmentKind;
use sim::quic::{Arrival, QuicConfig, QuicListener, QuicSocket};
use sim::rng::{Purpose, RareStream};
use sim::socket::{SocketError, SocketEvent};
use sim::Instant;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the agent prints when quinn's idle timeout ends an established connection.
pub const IDLE_TIMEOUT: &str = "kasim-agent: quic idle timeout";
/// What it prints for each keep-alive datagram: `probe BYTES` or `answer BYTES` (UDP payload).
pub const KEEPALIVE: &str = "kasim-agent: quic keep-alive ";

/// The longest a loop sleeps without looking at the run's end.
const STOP_POLL: Duration = Duration::from_millis(10);

/// One QUIC connection and the application's view of it.
pub struct QuicConn {
    q: QuicSocket,
    io: AppIo,
    /// Bytes the application wrote (its stream offset).
    written: u64,
    deframer: Deframer,
    /// The application is done with it: only the socket's last datagrams still go.
    ended: Option<Ended>,
    local: SocketAddrV4,
    /// The peer's address as last heard (a client's moves with a NAT rebinding).
    peer: SocketAddrV4,
}

impl QuicConn {
    /// Drive `q`, between `local` and `peer` (which name it in the lines).
    pub fn new(mut q: QuicSocket, local: SocketAddrV4, peer: SocketAddrV4) -> Self {
        q.carry_bytes();
        QuicConn { q, io: AppIo::default(), written: 0, deframer: Deframer::default(), ended: None, local, peer }
    }

    fn event(&mut self, app: &mut dyn Application, now: Instant, e: AppEvent) {
        if self.ended.is_some() {
            return;
        }
        // QUIC does not say what the peer acknowledged: 0, as in the event engine.
        self.io.reset(self.written, 0);
        app.on_event(now, e, &mut self.io);
        self.apply(now);
    }

    /// Carry out the application's commands, in order (after an abort, only
    /// a declaration or the next connection still means anything).
    fn apply(&mut self, now: Instant) {
        let commands: Vec<AppCommand> = self.io.take().collect();
        for c in commands {
            if self.ended.is_some() && !matches!(c, AppCommand::DeclareDead { .. } | AppCommand::Connect) {
                continue;
            }
            match c {
                AppCommand::Write { size, tag } => {
                    self.written += size;
                    self.q.write_bytes(&frame(size, tag));
                }
                AppCommand::Close => self.q.close(now),
                AppCommand::CloseOnPurpose => {
                    println!("{} {} {}", agent::CLOSED, self.local, self.peer);
                    self.q.close(now);
                }
                AppCommand::Abort => {
                    self.q.abort(now);
                    self.ended = Some(Ended::Aborted);
                }
                // TCP's socket options: a QUIC socket has none (quinn keeps its own keep-alive).
                AppCommand::SetKeepalive(_) | AppCommand::SetUserTimeout(_) => {}
                AppCommand::DeclareDead { cause } => println!("{}{cause}", agent::DEAD),
                AppCommand::Connect => self.ended = Some(Ended::Reconnect),
            }
        }
    }

    /// Hand the socket's events to the application.
    pub fn pump(&mut self, app: &mut dyn Application, now: Instant) {
        while let Some(ev) = self.q.poll_event() {
            match ev {
                SocketEvent::Connected => self.event(app, now, AppEvent::Connected),
                SocketEvent::Received { .. } => {
                    let messages = self.deframer.push(&self.q.take_received());
                    self.event(app, now, AppEvent::Readable { bytes: self.deframer.total });
                    for (tag, size) in messages {
                        self.event(app, now, AppEvent::Message { tag, size });
                    }
                }
                SocketEvent::Eof => self.event(app, now, AppEvent::Eof),
                SocketEvent::Error(e) => {
                    if e == SocketError::TimedOut && self.q.was_connected() {
                        println!("{IDLE_TIMEOUT} {} {}", self.local, self.peer);
                    }
                    self.event(app, now, AppEvent::Error(e));
                }
                _ => {}
            }
        }
    }

    /// Send every datagram the socket has, telling each keep-alive.
    pub fn transmit(&mut self, udp: &UdpSocket, now: Instant) {
        while let Some(d) = self.q.poll_transmit(now) {
            match d.kind {
                SegmentKind::KeepaliveProbe => println!("{KEEPALIVE}probe {}", d.bytes.len()),
                SegmentKind::KeepaliveAck => println!("{KEEPALIVE}answer {}", d.bytes.len()),
                _ => {}
            }
            // A full socket buffer loses the datagram, as a real stack would.
            let _ = udp.send_to(&d.bytes, d.dst);
        }
    }

    /// The earliest instant the socket or the application has work.
    pub fn deadline(&mut self, app: &dyn Application) -> Option<Instant> {
        let app_due = if self.ended.is_none() { app.poll_timeout() } else { None };
        [self.q.poll_timeout(), app_due].into_iter().flatten().min()
    }

    /// Run the timers due at `now`, the socket's first.
    pub fn on_timeout(&mut self, app: &mut dyn Application, now: Instant) {
        if self.q.poll_timeout().is_some_and(|t| t <= now) {
            self.q.handle_timeout(now);
            self.pump(app, now);
        }
        if self.ended.is_none() && app.poll_timeout().is_some_and(|t| t <= now) {
            self.io.reset(self.written, 0);
            app.on_timeout(now, &mut self.io);
            self.apply(now);
        }
    }
}

/// Sleep until `fd` is readable or `wait` passed.
fn wait_readable(fd: i32, wait: Duration) {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ts = libc::timespec { tv_sec: wait.as_secs() as libc::time_t, tv_nsec: wait.subsec_nanos() as libc::c_long };
    // SAFETY: one valid pollfd and a timespec, both live for the call.
    unsafe {
        libc::ppoll(&mut p, 1, &ts, std::ptr::null());
    }
}

/// How long to sleep from `now` until `due` (at most [`STOP_POLL`]).
fn sleep_for(now: Instant, due: Option<Instant>) -> Duration {
    due.map_or(STOP_POLL, |d| d.saturating_since(now)).min(STOP_POLL)
}

/// A UDP socket bound to `port` on every address (0: the kernel picks).
fn bind(port: u16) -> std::io::Result<UdpSocket> {
    let udp = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
    udp.set_nonblocking(true)?;
    Ok(udp)
}

/// A client's connection attempt: a UDP socket of its own from `from_port`
/// (or the kernel's choice), then QUIC's handshake and the application's
/// run on it, until the application is done with it or the run ends.
/// `attempt` numbers the slot's attempts (each draws its own randomness).
/// An error: the socket could not be made (its port is held, say).
#[allow(clippy::too_many_arguments)]
pub fn connect_and_drive(
    cfg: &QuicConfig,
    server: SocketAddrV4,
    from_port: Option<u16>,
    seed: u64,
    slot: u32,
    attempt: u16,
    app: &mut dyn Application,
    clock: &dyn Fn() -> Instant,
    stop: &AtomicBool,
) -> std::io::Result<Ended> {
    let udp = bind(from_port.unwrap_or(0))?;
    // Connected, so the kernel names the source address the judge sees.
    udp.connect(server)?;
    let local = match udp.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
    };
    let mut seeds = RareStream::for_host(seed, Purpose::QuicClient, slot);
    for _ in 0..attempt % PORTS_PER_SLOT {
        seeds.seed32();
    }
    let q = QuicSocket::connect(cfg, clock(), server, seeds.seed32());
    let mut conn = QuicConn::new(q, local, server);
    let mut buf = vec![0u8; 65536];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Ended::Stopped);
        }
        conn.transmit(&udp, clock());
        if let Some(end) = conn.ended.take() {
            return Ok(end);
        }
        let now = clock();
        wait_readable(udp.as_raw_fd(), sleep_for(now, conn.deadline(app)));
        loop {
            match udp.recv_from(&mut buf) {
                Ok((n, std::net::SocketAddr::V4(from))) => {
                    conn.q.handle_datagram(clock(), from, buf[..n].to_vec());
                    conn.pump(app, clock());
                }
                Ok(_) => {}
                // A refused send comes back as an error on the next receive (ICMP): not the connection's.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        conn.on_timeout(app, clock());
    }
}

/// One connection the server accepted, with the application of its slot.
struct Served<A> {
    conn: QuicConn,
    app: A,
}

/// The server: one UDP socket on `port` and one QUIC listener for every
/// connection; its k-th connection gets `make_app(k)` (a server cannot tell
/// which client host a connection behind a NAT came from). Runs until `stop`.
pub fn serve<A: Application>(
    cfg: &QuicConfig,
    port: u16,
    seed: u64,
    mut make_app: impl FnMut(u32) -> A,
    clock: &dyn Fn() -> Instant,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let udp = bind(port)?;
    let mut seeds = RareStream::for_host(seed, Purpose::QuicServer, 0);
    let reset_key = seeds.seed32();
    let mut listener = QuicListener::new(cfg, reset_key, seeds.seed32());
    let mut served: Vec<Served<A>> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let local = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port);
    while !stop.load(Ordering::Relaxed) {
        let now = clock();
        for s in &mut served {
            listener.shuttle(&mut s.conn.q);
            s.conn.transmit(&udp, now);
        }
        while let Some(d) = listener.poll_response() {
            let _ = udp.send_to(&d.bytes, d.dst);
        }
        let due = served.iter_mut().filter_map(|s| s.conn.deadline(&s.app)).min();
        wait_readable(udp.as_raw_fd(), sleep_for(now, due));
        loop {
            let (n, from) = match udp.recv_from(&mut buf) {
                Ok((n, std::net::SocketAddr::V4(from))) => (n, from),
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            };
            let now = clock();
            match listener.handle_datagram(now, from, buf[..n].to_vec()) {
                Arrival::Existing(c, ev) => {
                    if let Some(s) = served.get_mut(c) {
                        s.conn.peer = from;
                        s.conn.q.handle_event(*ev, n);
                        s.conn.pump(&mut s.app, now);
                    }
                }
                Arrival::New(q) => {
                    let k = served.len();
                    listener.register(&q, k);
                    let mut s = Served { conn: QuicConn::new(*q, local, from), app: make_app(k as u32) };
                    s.conn.pump(&mut s.app, now);
                    served.push(s);
                }
                Arrival::None => {}
            }
        }
        let now = clock();
        for s in &mut served {
            s.conn.on_timeout(&mut s.app, now);
        }
    }
    Ok(())
}
