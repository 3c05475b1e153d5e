//! The world: client hosts, a server, their access links, an optional NAT,
//! faults, and the discrete-event loop that runs them.
//!
//! ```text
//! client 0 ── its link ──┐
//! client 1 ── its link ──┼── [NAT] ── server link ── server
//!   …                    │
//! client n ── its link ──┘
//! ```
//!
//! The middle is a path of boxes ([`WorldConfig::path`]): NATs, and at most
//! one proxy, which is a host of its own. A packet crosses the NATs on its
//! side of the proxy within the event that brings it off its link (boxes
//! add no delay), so a chain costs a NAT lookup per box and no events.
//!
//! Every client host opens `connections_per_client` connections to the
//! server at time 0; each is a *slot*, judged on its own by the oracle. A
//! host's stack finds a segment's connection by its 4-tuple in a hash map,
//! asked only when the segment's sender's peer is not that connection (the
//! `stack` module); the server's listener makes a new connection for each
//! SYN. Each connection has its own application (made by an [`AppFactory`])
//! and its own wake-up in the event queue, for the earlier of its TCP timers
//! and its application's deadline: an event costs a heap operation and at
//! most a few hash lookups whatever the number of connections.
//!
//! Events sit in a priority queue (`crate::bucket_queue`: a heap for the
//! current second, buckets after it) ordered by `(time, sequence)`: ties run in the
//! order they were scheduled, so a run is a pure function of its
//! configuration, its seed and its applications. Idle time costs nothing: a
//! connection with no timer due and no packet in flight schedules nothing.
//!
//! Each host owns a clock offset: while suspended its clock stops (as
//! `CLOCK_MONOTONIC` and jiffies do), so its TCP timers and its applications'
//! deadlines resume where they were instead of all firing at once.
//!
//! Randomness is drawn per host ([`Stream::for_host`](crate::rng::Stream::for_host)): client 0 and the
//! server draw exactly what a one-connection world always drew, and adding a
//! client never shifts another's numbers.

mod accept;
mod app_slot;
mod apps;
mod build;
mod config;
mod conn_table;
mod connect;
mod event_queue;
mod faults;
mod ledger;
mod lookahead;
mod nat_glue;
mod outcome;
mod packets;
mod proxy;
mod queue;
mod release;
mod rtt_cache;
mod run;
mod socket;
mod stack;
mod udp;

use app_slot::AppSlot;
pub use config::{
    AcceptQueue, AccessLink, Fault, HostRef, Middlebox, WireStats, WorldConfig, MAX_CLIENTS, MAX_CONNECTIONS_PER_CLIENT, MAX_MIDDLEBOXES,
    MAX_SLOTS, MIN_CONNECTION_LIMIT, NUMBERS_PER_RECORD,
};
use event_queue::EventQueue;
use outcome::Slot;
pub use outcome::{ConnOutcome, Outcome, SlotOutcome};
use queue::{Ev, Hop, InFlight, Payloads, SegmentTable, NO_CONN};
use socket::Socket;

use crate::app::{Application, Idle};
use crate::link::{LinkDir, LinkDrop, Offer};
use crate::nat::{Nat, NatVerdict};
use crate::oracle::{Declaration, Evidence};
use crate::packet::{addr, Segment};
use crate::proxy_config::ProxyConfig;
use crate::quic::{QuicConfig, QuicListener};
use crate::rng::RareStream;
use crate::side::Side;
use crate::tcp::TcpEndpoint;
use crate::time::Instant;
use crate::trace::{DropReason, Place, Trace, TraceEvent};
use nat_glue::{NatBox, NatHint};
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Makes the application of each connection.
pub trait AppFactory {
    /// The application of the client connection of `slot`, opened at time 0.
    fn client(&mut self, slot: u32) -> Box<dyn Application>;
    /// The server's application for a connection it accepted, of `slot`.
    fn server(&mut self, slot: u32) -> Box<dyn Application>;
    /// A client host is back from a reboot: the application of `slot` in its
    /// new process, which connects at once; `None` (the default, and v1's
    /// behaviour) leaves the slot without a connection for the rest of the run.
    fn restarted(&mut self, slot: u32) -> Option<Box<dyn Application>> {
        let _ = slot;
        None
    }
}

/// A one-connection world's two applications, handed out once.
struct Pair {
    client: Option<Box<dyn Application>>,
    server: Option<Box<dyn Application>>,
}

impl AppFactory for Pair {
    fn client(&mut self, _slot: u32) -> Box<dyn Application> {
        self.client.take().unwrap_or_else(|| Box::new(Idle))
    }
    fn server(&mut self, _slot: u32) -> Box<dyn Application> {
        self.server.take().unwrap_or_else(|| Box::new(Idle))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostState {
    Up,
    Suspended,
    /// Rebooting: silent until it comes back without its connections.
    Down,
    /// Powered off for good.
    Gone,
}

/// A message boundary in a connection's outgoing stream.
#[derive(Clone, Copy, Debug)]
struct Message {
    /// Stream offset just after its last byte.
    end: u64,
    tag: u64,
    size: u64,
}

/// A server's listening socket. It keeps one endpoint ready (with its initial
/// sequence number drawn), as a one-connection world's server always had.
struct Listener {
    port: u16,
    spare: Option<TcpEndpoint>,
    /// The application of a half-open connection that was dropped before its
    /// application heard of it, kept for that slot's next attempt.
    spare_app: Option<(u32, Box<dyn Application>)>,
    /// With a listen queue: established connections the application has not
    /// accepted yet, oldest first.
    pending: VecDeque<(usize, Instant)>,
    /// The application is busy accepting until then.
    busy_until: Instant,
    /// An accept is in the event queue.
    accept_scheduled: bool,
    /// A QUIC server's UDP socket (then `spare` is unused).
    /// Boxed: a QUIC endpoint is a kilobyte, and every host has a listener slot.
    quic: Option<Box<QuicListener>>,
    /// A tunnel server's peers: the world's connection of each client
    /// connection (by its id, as WireGuard knows a peer by its key).
    tunnel_peers: Option<HashMap<u32, usize>>,
}

impl Listener {
    fn new(port: u16, spare: Option<TcpEndpoint>) -> Listener {
        Listener {
            port,
            spare,
            spare_app: None,
            pending: VecDeque::new(),
            busy_until: Instant::ZERO,
            accept_scheduled: false,
            quic: None,
            tunnel_peers: None,
        }
    }
}

struct Host {
    role: HostRef,
    addr: Ipv4Addr,
    state: HostState,
    /// Total time spent suspended: local clock = global − offset.
    offset: Duration,
    /// Faults holding the host in its state: suspensions (while `Suspended`)
    /// or reboots (while `Down`) that have started and not yet ended. Faults
    /// drawn with `every` can overlap; the host comes back when the last ends.
    holds: u32,
    /// When the current suspension began (global time).
    suspended_at: Instant,
    /// Connections by (local, remote) address. Changed only by the `stack`
    /// module's methods, which keep each connection's `in_stack`.
    stack: HashMap<(SocketAddrV4, SocketAddrV4), usize>,
    /// Its connections in the order they were opened: every live one, and
    /// released ones until they are half of it (see the `release` module).
    conns: Vec<usize>,
    /// Released connections still in `conns`.
    released: u32,
    /// Boxed: only the server and the proxy listen, and a listener (with its
    /// spare endpoint) is three quarters of a kilobyte; a fleet's client hosts
    /// stay small and their hot fields close together.
    listener: Option<Box<Listener>>,
    /// The next reconnect's port, counted past the pool's first ports.
    next_port: u32,
    /// Seeds of the host's QUIC connections and listeners.
    quic_seeds: RareStream,
    /// The application process runs (not crashed, not rebooted).
    app_alive: bool,
    isn: RareStream,
    /// `[up, down]`.
    link: [LinkDir; 2],
    /// Transients and losses on this host or its link (the server's go to the world's shared evidence).
    evidence: Evidence,
    /// Its kernel's per-destination RTT cache (`tcp_metrics`): boxed and
    /// made at the first graceful close, so a fleet's hosts stay small.
    rtt_cache: Option<Box<crate::tcp::RttCache>>,
}

impl Host {
    /// Start loading what an event of one of its connections touches: its
    /// state and clock, and its uplink (a reply goes out on it); not its
    /// maps, listener, downlink or evidence, which a packet arriving or a
    /// timer firing on an open connection does not read. Five cache lines
    /// of the host's nine: a 10 000-connection world ran 4-5 % faster than
    /// with the whole host (`target/release/examples/workload fleet 1`,
    /// four alternating runs each: 230.7-235.5 against 230.2-260.6 ns per
    /// event).
    #[inline(always)]
    fn prefetch_hot(&self) {
        crate::prefetch::line(&self.state);
        crate::prefetch::line(&self.offset);
        crate::prefetch::line(&self.role);
        crate::prefetch::all(&self.link[UP]);
    }

    fn local(&self, now: Instant) -> Instant {
        now - self.offset
    }
    fn global(&self, local: Instant) -> Instant {
        local + self.offset
    }
    fn side(&self) -> Side {
        self.role.side()
    }
}

/// What a connection is to its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Server,
    /// A proxy's leg toward a client (the proxy accepted it).
    ProxyFront,
    /// A proxy's leg toward the server (the proxy opened it).
    ProxyBack,
}

impl Role {
    /// The role toward the connection's peer (a proxy's front is its clients' server).
    fn side(self) -> Side {
        match self {
            Role::Client | Role::ProxyBack => Side::Client,
            Role::Server | Role::ProxyFront => Side::Server,
        }
    }
    fn is_proxy(self) -> bool {
        matches!(self, Role::ProxyFront | Role::ProxyBack)
    }
}

// In this order, and aligned, on purpose: the first two cache lines and the
// socket's hot part (`TcpEndpoint::HOT_BYTES`), seven of its eleven lines,
// hold what a segment or a keepalive timer touches; a fleet's look-ahead
// loads only those for such events (see `lookahead`).
#[repr(C, align(64))]
struct Conn {
    // ----- line 0
    host: usize,
    /// Its number (see `conn_table`); `u32::MAX` once released.
    number: u32,
    slot: u32,
    /// Which of its slot's connections this is (0 = the first).
    gen: u32,
    /// Where its last packet found its NAT flow.
    nat_hint: NatHint,
    /// Its key in the host's stack.
    key: (SocketAddrV4, SocketAddrV4),
    role: Role,
    app_alive: bool,
    /// Its application closed or aborted it (it may still be finishing its FIN handshake).
    app_closed: bool,
    /// No longer in its host's stack (lost in a reboot, or a dropped half-open).
    gone: bool,
    /// It is its host's map's entry for `key` (see the `stack` module): kept
    /// by the map's methods, and cleared when another connection takes the key.
    in_stack: bool,
    /// A proxy's front leg: the shorter of haproxy's two timers has struck
    /// and the proxy half-closed the connection.
    half_closed: bool,
    /// A server connection its application has not accepted yet (a listen
    /// queue): its events wait, and so does what it received, up to here.
    awaiting_accept: bool,
    /// The earliest wake-up already in the event queue.
    wake: Option<Instant>,

    // ----- line 1
    app: AppSlot,
    /// The connection at the other end, once the server accepted.
    peer: OtherConn,
    /// A proxy's leg: the other leg of the same client connection.
    relay: OtherConn,
    /// A proxy's front leg: when its idle timeout closes it (with haproxy's
    /// two timers: when the next of them strikes).
    idle_at: Option<Instant>,
    written: u64,

    // ----- lines 2 to 9, the hot part first
    sock: Socket,

    // ----- line 10: what only data touches.
    ledger: ledger::Ledger,
    held_up_to: u64,
}

// The hot part ends where the socket's does (see `Conn::prefetch_hot`).
const _: () = assert!(std::mem::offset_of!(Conn, sock) == 128);
const _: () = assert!(std::mem::size_of::<Conn>() == 11 * 64);

impl Conn {
    /// Bytes from its start that a segment or a keepalive timer touches.
    const HOT_BYTES: usize = std::mem::offset_of!(Conn, sock) + crate::tcp::TcpEndpoint::HOT_BYTES;

    /// Start loading what a segment without data or a keepalive timer
    /// touches: seven of its eleven cache lines.
    #[inline(always)]
    fn prefetch_hot(&self) {
        crate::prefetch::prefix(self, Self::HOT_BYTES);
    }
}

/// Another connection's number, or none, in 4 bytes (an `Option<usize>`
/// takes 16, and these live in the connection's first cache lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OtherConn(u32);

impl OtherConn {
    const NONE: OtherConn = OtherConn(u32::MAX);

    fn new(c: usize) -> OtherConn {
        OtherConn(u32::try_from(c).expect("connection numbers fit in 32 bits"))
    }

    fn of(c: Option<usize>) -> OtherConn {
        c.map_or(OtherConn::NONE, OtherConn::new)
    }

    #[inline]
    fn get(self) -> Option<usize> {
        (self != OtherConn::NONE).then_some(self.0 as usize)
    }
}

impl World {
    /// How the trace names connection `c`: its index and, for a client's
    /// connection, its client host, so a fleet's timeline says which client
    /// (`None` for no connection, as a segment's `NO_SENDER`).
    #[inline]
    fn trace_ref(&self, c: usize) -> Option<crate::trace::ConnRef> {
        // Only a recording trace keeps it: skip the loads otherwise.
        if !self.trace.is_enabled() {
            return None;
        }
        // A released connection still names its slot, and a client's host is its slot's.
        let id = self.conns.ident(c)?;
        let client = (id.role == Role::Client).then(|| self.slots[id.slot as usize].client as u32);
        Some(crate::trace::ConnRef { index: c as u32, client, slot: id.slot })
    }
}

/// A simulated network of many TCP connections. See the module docs.
pub struct World {
    now: Instant,
    horizon: Instant,
    queue: EventQueue,
    /// Segments on the wire, by the index their `Arrive` event holds.
    in_flight: SegmentTable,
    /// Clients `0..clients`, then the server.
    hosts: Vec<Host>,
    /// Every connection endpoint by number; only the live ones' state.
    conns: conn_table::ConnTable,
    /// Endpoints that may be over, judged at the end of the event (`release`).
    to_release: Vec<u32>,
    /// Connection records the slots keep (after folding failed attempts).
    attempt_records: usize,
    /// Live endpoints passed [`lookahead::PREFETCH_FROM`]: each event
    /// prefetches the next ones' state, and the TCP queues share their
    /// buffers (`tcp::outbox`; both kept when endpoints open and close).
    busy: bool,
    /// The connections held when they first passed the run's limit (checked
    /// as connections open): the run stops after this event.
    over_limit: Option<usize>,
    /// Tests compare runs with and without releasing.
    #[cfg(test)]
    keep_released: bool,
    slots: Vec<Slot>,
    /// Client hosts: `hosts[..clients]`; the server is `hosts[clients]`, the proxy after it.
    clients: usize,
    connections_per_client: u32,
    apps: Box<dyn AppFactory>,
    /// The TCP settings of the proxy's endpoints (and every host's without
    /// another OS), shared.
    tcp_cfg: std::sync::Arc<crate::tcp::TcpConfig>,
    /// The client hosts' and the server's, `[client, server]`.
    side_tcp_cfg: [std::sync::Arc<crate::tcp::TcpConfig>; 2],
    /// The NAT-like boxes of the path, from the clients.
    nats: Vec<NatBox>,
    /// How many of them sit between the clients and the proxy (all of them
    /// without a proxy); the rest are between the proxy and the server.
    proxy_at: usize,
    /// The proxy's settings and host index, if there is one.
    proxy: Option<(ProxyConfig, usize)>,
    /// The server application's listen queue, if it has one.
    accept: Option<AcceptQueue>,
    /// QUIC instead of TCP for every connection.
    quic: Option<QuicConfig>,
    /// A datagram tunnel instead of TCP for every connection.
    tunnel: Option<crate::tunnel::TunnelConfig>,
    /// The server's QUIC stateless-reset key (kept across its restarts).
    quic_reset_key: [u8; 32],
    /// The bytes of datagrams on their way.
    payloads: Payloads,
    /// Connections the proxy opened to the server so far (for their ports).
    backend_conns: u32,
    faults: Vec<Fault>,
    /// Transients and losses that concern every connection (server, its link, the NAT).
    shared: Evidence,
    trace: Trace,
    declarations: Vec<Declaration>,
    io: crate::app::AppIo,
    stats: [WireStats; 2],
    messages_received: [u64; 2],
    nat_expired_at: Vec<Instant>,
    events_processed: u64,
    lookback: Duration,
    queue_condition: Duration,
    started: bool,
    /// [`WorldConfig::connection_limit`].
    connection_limit: usize,
    /// Set when the run hit its connection limit: when, and how many.
    stopped: Option<(Instant, usize)>,
}

const UP: usize = 0;
const DOWN: usize = 1;

/// The port the server listens on: [`addr::SERVER`]'s for TCP, 443 for UDP
/// transports (QUIC's home, where Wireshark decodes it).
fn service_port(udp: bool) -> u16 {
    if udp {
        crate::quic::PORT
    } else {
        addr::SERVER.port()
    }
}

impl World {
    /// The world's global clock: the instant of the last event run (or the
    /// `until` of the last [`run_until`](Self::run_until)). Hosts' local
    /// clocks lag it by the time they spent suspended.
    pub fn now(&self) -> Instant {
        self.now
    }
    /// Every death declaration so far, judged, in time order.
    pub fn declarations(&self) -> &[Declaration] {
        &self.declarations
    }
    /// The trace so far (empty unless [`WorldConfig::trace`] is on).
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
    /// The NAT and its current mappings, if the world has one (with a
    /// chain, the first NAT from the clients).
    pub fn nat(&self) -> Option<&Nat> {
        self.nats.first().map(|b| &b.nat)
    }
    /// Every NAT-like box of the path, from the clients.
    pub fn nats(&self) -> impl Iterator<Item = &Nat> {
        self.nats.iter().map(|b| &b.nat)
    }
    /// Events processed so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }
    /// Connections the world has made so far (client and server ends).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }
    /// Connection endpoints not released yet (see the `release` module).
    pub fn live_connections(&self) -> usize {
        self.conns.live()
    }

    /// Connection `c`'s host's clock now.
    fn local_of(&self, c: usize) -> Instant {
        self.hosts[self.conns[c].host].local(self.now)
    }

    /// The TCP settings of host `h`'s endpoints.
    fn tcp_cfg_of(&self, h: usize) -> std::sync::Arc<crate::tcp::TcpConfig> {
        match h {
            _ if h < self.clients => self.side_tcp_cfg[0].clone(),
            _ if h == self.server() => self.side_tcp_cfg[1].clone(),
            _ => self.tcp_cfg.clone(),
        }
    }

    /// The server's host index (after the clients).
    fn server(&self) -> usize {
        self.clients
    }

    /// What clients connect to: the proxy when there is one, else the server.
    fn front(&self) -> usize {
        self.proxy.map_or(self.server(), |p| p.1)
    }

    /// The port clients dial (and a proxy dials on the backend).
    fn service_port(&self) -> u16 {
        service_port(self.quic.is_some() || self.tunnel.is_some())
    }

    fn start(&mut self) {
        self.started = true;
        for i in 0..self.faults.len() {
            let f = self.faults[i];
            let (at, end) = (f.at(), f.duration().map(|d| f.at() + d));
            self.schedule(at, Ev::FaultStart(i as u32));
            if let Some(end) = end {
                self.schedule(end, Ev::FaultEnd(i as u32));
            }
        }
        // Room for the first connections' ends and no more: a connection is
        // 700 bytes, and doubling from empty left a fleet of 10 000 with
        // room for 32 768 ends (9 MB unused).
        let legs = if self.proxy.is_some() { 4 } else { 2 };
        self.conns.reserve_exact(self.slots.len() * legs);
        for slot in 0..self.slots.len() as u32 {
            let port = addr::client_port(slot % self.connections_per_client);
            let app = self.apps.client(slot);
            self.open_client_conn(slot, port, app);
        }
    }

    /// Add a connection to host `host`'s stack under `key` (local, remote).
    fn add_conn(
        &mut self,
        host: usize,
        slot: u32,
        key: (SocketAddrV4, SocketAddrV4),
        sock: Socket,
        app: Box<dyn Application>,
        peer: Option<usize>,
    ) -> usize {
        let app_alive = self.hosts[host].app_alive;
        // A server's end is its client's attempt (which may be released by now, its SYN still on the wire).
        let gen = peer.and_then(|p| self.conns.ident(p)).map_or(self.slots[slot as usize].attempts.saturating_sub(1), |id| id.gen);
        let role = match (self.hosts[host].role, peer) {
            (HostRef::Client(_), _) => Role::Client,
            (HostRef::Server, _) => Role::Server,
            (HostRef::Proxy, Some(_)) => Role::ProxyFront,
            (HostRef::Proxy, None) => Role::ProxyBack,
        };
        let c = self.conns.push(Conn {
            number: self.conns.len() as u32,
            host,
            slot,
            gen,
            role,
            key,
            sock,
            app: AppSlot::new(app),
            app_alive,
            app_closed: false,
            gone: false,
            in_stack: false,
            nat_hint: NatHint::NONE,
            wake: None,
            ledger: ledger::Ledger::default(),
            written: 0,
            peer: OtherConn::of(peer),
            relay: OtherConn::NONE,
            idle_at: None,
            half_closed: false,
            awaiting_accept: false,
            held_up_to: 0,
        });
        self.hosts[host].conns.push(c);
        self.stack_insert(host, key, c);
        self.trace.note_connection(c, slot);
        self.refresh_busy();
        let held = self.connections_held();
        if held > self.connection_limit {
            self.over_limit.get_or_insert(held);
        }
        c
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.queue.push(at, ev);
    }

    #[inline(always)]
    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive { hop, seg } => {
                let InFlight { seg, to } = self.in_flight.take(seg);
                match hop {
                    Hop::Middle { from } => self.at_middle(from as usize, seg, to),
                    Hop::Host(h) => self.at_host(h as usize, seg, to),
                }
            }
            Ev::Wake { conn, place } => self.wake(conn as usize, place),
            Ev::NatWake(k) => self.nat_wake(k as usize),
            Ev::FaultStart(i) => self.fault_start(i as usize),
            Ev::FaultEnd(i) => self.fault_end(i as usize),
            Ev::Accept(h) => self.accept_next(h as usize),
        }
    }
}
