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
//! Every client host opens `connections_per_client` connections to the
//! server at time 0; each is a *slot*, judged on its own by the oracle. A
//! host's stack finds a segment's connection by its 4-tuple in a hash map;
//! the server's listener makes a new connection for each SYN. Each
//! connection has its own application (made by an [`AppFactory`]) and its own
//! wake-up in the event queue, for the earlier of its TCP timers and its
//! application's deadline: an event costs a heap operation and a few hash
//! lookups whatever the number of connections.
//!
//! Events sit in a min-heap ordered by `(time, sequence)`: ties run in the
//! order they were scheduled, so a run is a pure function of its
//! configuration, its seed and its applications. Idle time costs nothing: a
//! connection with no timer due and no packet in flight schedules nothing.
//!
//! Each host owns a clock offset: while suspended its clock stops (as
//! `CLOCK_MONOTONIC` and jiffies do), so its TCP timers and its applications'
//! deadlines resume where they were instead of all firing at once.
//!
//! Randomness is drawn per host ([`Stream::for_host`]): client 0 and the
//! server draw exactly what a one-connection world always drew, and adding a
//! client never shifts another's numbers.

mod apps;
mod config;
mod faults;
mod nat_glue;
mod packets;
mod proxy;

pub use config::{
    AccessLink, Fault, HostRef, OnIdle, ProxyConfig, WireStats, WorldConfig, MAX_CLIENTS, MAX_CONNECTIONS_PER_CLIENT, MAX_SLOTS,
};

use crate::app::{Application, Idle, Side};
use crate::error::ConfigError;
use crate::link::{LinkDir, LinkDrop, Offer, Outage};
use crate::nat::{Nat, NatVerdict};
use crate::oracle::{BreakCause, Declaration, Evidence};
use crate::packet::{addr, Segment};
use crate::rng::{Purpose, Stream};
use crate::tcp::{TcpEndpoint, TcpState};
use crate::time::Instant;
use crate::trace::{DropReason, Place, Trace, TraceEvent, TraceRecord};
use rustc_hash::FxHashMap as HashMap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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
}

struct Host {
    role: HostRef,
    addr: Ipv4Addr,
    state: HostState,
    /// Total time spent suspended: local clock = global − offset.
    offset: Duration,
    /// Connections by (local, remote) address.
    stack: HashMap<(SocketAddrV4, SocketAddrV4), usize>,
    /// Every connection this host ever had.
    conns: Vec<usize>,
    listener: Option<Listener>,
    /// The next reconnect's port, counted past the pool's first ports.
    next_port: u32,
    /// The application process runs (not crashed, not rebooted).
    app_alive: bool,
    isn: Stream,
    /// `[up, down]`.
    link: [LinkDir; 2],
    /// Transients and losses on this host or its link (the server's go to the world's shared evidence).
    evidence: Evidence,
}

impl Host {
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

struct Conn {
    host: usize,
    slot: u32,
    /// Which of its slot's connections this is (0 = the first).
    gen: u32,
    role: Role,
    /// Its key in the host's stack.
    key: (SocketAddrV4, SocketAddrV4),
    tcp: TcpEndpoint,
    app: Box<dyn Application>,
    app_alive: bool,
    /// Its application closed or aborted it (it may still be finishing its FIN handshake).
    app_closed: bool,
    /// No longer in its host's stack (lost in a reboot, or a dropped half-open).
    gone: bool,
    /// The earliest wake-up already in the event queue.
    wake: Option<Instant>,
    ledger: VecDeque<Message>,
    written: u64,
    /// The connection at the other end, once the server accepted.
    peer: Option<usize>,
    /// A proxy's leg: the other leg of the same client connection.
    relay: Option<usize>,
    /// A proxy's front leg: when its idle timeout closes it.
    idle_at: Option<Instant>,
}

/// One client connection slot and what the oracle knows of it. A slot holds
/// one connection at a time; with reconnects it has had several
/// (generations), each judged on its own.
struct Slot {
    client: usize,
    /// Its client-side connection now: the latest attempt.
    conn: Option<usize>,
    /// Every connection it has had, the current one last.
    gens: Vec<ConnOutcome>,
    /// NAT idleness of its flows (`loose`).
    evidence: Evidence,
}

impl Slot {
    fn current(&mut self) -> Option<&mut ConnOutcome> {
        self.gens.last_mut()
    }

    /// A breaking fault hits the current connection.
    fn record_break(&mut self, at: Instant, cause: BreakCause) {
        if let Some(g) = self.current() {
            g.record_break(at, cause);
        }
    }
}

impl ConnOutcome {
    fn opened(at: Instant) -> ConnOutcome {
        ConnOutcome { opened_at: at, ..ConnOutcome::default() }
    }

    /// A breaking fault; only the first counts, and none after an orderly end
    /// (the connection was no longer there to break).
    fn record_break(&mut self, at: Instant, cause: BreakCause) {
        if self.ended_at.is_none() {
            self.broken.get_or_insert((at, cause));
        }
    }

    /// Had the connection ended on purpose by `now`?
    fn ended_before(&self, now: Instant) -> bool {
        self.ended_at.is_some_and(|t| t <= now)
    }
}

#[derive(Clone, Copy, Debug)]
enum Hop {
    /// Leaving a host's access link toward the middle (NAT or plain wire).
    Middle { from: u32 },
    /// Arriving at a host.
    Host(u32),
}

/// An event. Kept small (the queue entry is 32 bytes): a packet in flight
/// waits in the world's segment table and the event holds its index.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrive { hop: Hop, seg: u32 },
    Wake(u32),
    NatWake,
    FaultStart(u32),
    FaultEnd(u32),
}

/// An event and when it runs; ordered by (time, sequence).
struct Scheduled {
    at: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Segments in flight, in slots reused as they arrive.
#[derive(Default)]
struct SegmentTable {
    slots: Vec<Segment>,
    free: Vec<u32>,
}

impl SegmentTable {
    fn put(&mut self, seg: Segment) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = seg;
                i
            }
            None => {
                self.slots.push(seg);
                (self.slots.len() - 1) as u32
            }
        }
    }
    fn take(&mut self, i: u32) -> Segment {
        self.free.push(i);
        self.slots[i as usize]
    }
}

/// What happened to one connection of a slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnOutcome {
    /// When the client started it (sent its first SYN).
    pub opened_at: Instant,
    /// When the client's end became ESTABLISHED, if it did.
    pub established_at: Option<Instant>,
    /// When the client's socket closed, for whatever reason (declared dead
    /// and aborted, reset, given up, closed, lost in a reboot).
    pub closed_at: Option<Instant>,
    /// When and why it broke (ground truth), if it did.
    pub broken: Option<(Instant, BreakCause)>,
    /// When an application or the proxy closed it on purpose (an idle
    /// timeout), if one did before it broke: an orderly end.
    pub ended_at: Option<Instant>,
    /// When its NAT mapping expired while the flow was live.
    pub nat_expired_at: Vec<Instant>,
}

/// What happened to one connection slot in a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotOutcome {
    /// The first connection's break (ground truth), if it broke.
    pub broken: Option<(Instant, BreakCause)>,
    /// When the first connection was closed on purpose, if it was before it broke.
    pub ended_at: Option<Instant>,
    /// When the first connection's NAT mapping expired while the flow was live.
    pub nat_expired_at: Vec<Instant>,
    /// Every connection the slot had, in order (one unless it reconnected).
    pub connections: Vec<ConnOutcome>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// When the run stopped (the horizon, or earlier when nothing was left to happen).
    pub ended_at: Instant,
    /// The first connection's break: the only one in a one-connection world.
    pub broken: Option<(Instant, BreakCause)>,
    /// Every death declaration, each naming its slot, in time order.
    pub declarations: Vec<Declaration>,
    /// Per connection (slot): its break and its NAT expiries.
    pub slots: Vec<SlotOutcome>,
    /// What every client host, and the server, sent: `[client, server]`.
    pub stats: [WireStats; 2],
    pub nat_expiries: u64,
    /// When each mapping (of a flow not yet closing) expired, every slot's, in time order.
    pub nat_expired_at: Vec<Instant>,
    /// Messages the clients' and the server's applications received.
    pub messages_received: [u64; 2],
    pub events_processed: u64,
    pub trace: Vec<TraceRecord>,
}

/// A simulated network of many TCP connections. See the module docs.
pub struct World {
    now: Instant,
    horizon: Instant,
    queue: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
    /// Segments on the wire, by the index their `Arrive` event holds.
    in_flight: SegmentTable,
    /// Clients `0..clients`, then the server.
    hosts: Vec<Host>,
    by_addr: HashMap<Ipv4Addr, usize>,
    conns: Vec<Conn>,
    slots: Vec<Slot>,
    /// Client hosts: `hosts[..clients]`; the server is `hosts[clients]`, the proxy after it.
    clients: usize,
    connections_per_client: u32,
    apps: Box<dyn AppFactory>,
    tcp_cfg: crate::tcp::TcpConfig,
    nat: Option<Nat>,
    nat_wake: Option<Instant>,
    /// The proxy's settings and host index, if there is one.
    proxy: Option<(ProxyConfig, usize)>,
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
}

const UP: usize = 0;
const DOWN: usize = 1;

impl World {
    /// A one-connection world: `client` runs on the client's connection,
    /// `server` on the server's; the client connects at time 0.
    pub fn new(cfg: WorldConfig, client: Box<dyn Application>, server: Box<dyn Application>) -> Result<World, ConfigError> {
        World::with_apps(cfg, Box::new(Pair { client: Some(client), server: Some(server) }))
    }

    /// A world of `cfg.clients × cfg.connections_per_client` connections,
    /// their applications made by `apps`; every client connects at time 0.
    pub fn with_apps(cfg: WorldConfig, apps: Box<dyn AppFactory>) -> Result<World, ConfigError> {
        cfg.validate()?;
        let seed = cfg.seed;
        let nat = cfg.nat.clone().map(|n| Nat::new(n, Stream::new(seed, Purpose::NatPorts)));
        let host = |role: HostRef, addr: Ipv4Addr, isn: Stream, link: [LinkDir; 2]| Host {
            role,
            addr,
            state: HostState::Up,
            offset: Duration::ZERO,
            stack: HashMap::default(),
            conns: Vec::new(),
            listener: None,
            next_port: cfg.connections_per_client,
            app_alive: true,
            isn,
            link,
            evidence: Evidence::default(),
        };
        let mut hosts = Vec::with_capacity(cfg.clients as usize + 1);
        for i in 0..cfg.clients {
            let link = [
                LinkDir::new(cfg.client_link.up.clone(), Stream::for_host(seed, Purpose::ClientUpLoss, i)),
                LinkDir::new(cfg.client_link.down.clone(), Stream::for_host(seed, Purpose::ClientDownLoss, i)),
            ];
            hosts.push(host(HostRef::Client(i), addr::client_ip(i), Stream::for_host(seed, Purpose::ClientIsn, i), link));
        }
        let link = [
            LinkDir::new(cfg.server_link.up.clone(), Stream::new(seed, Purpose::ServerUpLoss)),
            LinkDir::new(cfg.server_link.down.clone(), Stream::new(seed, Purpose::ServerDownLoss)),
        ];
        // Behind a proxy the server moves to the backend address; the proxy takes the one clients dial.
        let server_addr = if cfg.proxy.is_some() { addr::BACKEND } else { addr::SERVER };
        let mut server = host(HostRef::Server, *server_addr.ip(), Stream::new(seed, Purpose::ServerIsn), link);
        let spare = TcpEndpoint::server(cfg.tcp.clone(), server_addr, server.isn.u32());
        server.listener = Some(Listener { port: server_addr.port(), spare: Some(spare), spare_app: None });
        hosts.push(server);
        let server = hosts.len() - 1;
        let proxy = cfg.proxy.map(|p| {
            let link = [
                LinkDir::new(Default::default(), Stream::new(seed, Purpose::ProxyUpLoss)),
                LinkDir::new(Default::default(), Stream::new(seed, Purpose::ProxyDownLoss)),
            ];
            let mut h = host(HostRef::Proxy, *addr::SERVER.ip(), Stream::new(seed, Purpose::ProxyIsn), link);
            h.listener = Some(Listener { port: addr::SERVER.port(), spare: None, spare_app: None });
            hosts.push(h);
            (p, hosts.len() - 1)
        });
        for f in &cfg.faults {
            if let Fault::Outage { link, at, duration } = *f {
                let h = match link {
                    HostRef::Client(i) => i as usize,
                    HostRef::Server => server,
                    HostRef::Proxy => proxy.map_or(server, |p| p.1),
                };
                for dir in &mut hosts[h].link {
                    dir.add_outage(Outage::new(at, duration));
                }
            }
        }
        let by_addr = hosts.iter().enumerate().map(|(i, h)| (h.addr, i)).collect();
        let slots = (0..cfg.slots())
            .map(|s| Slot {
                client: (s / cfg.connections_per_client) as usize,
                conn: None,
                gens: Vec::new(),
                evidence: Evidence::default(),
            })
            .collect();
        Ok(World {
            now: Instant::ZERO,
            horizon: Instant::ZERO + cfg.horizon,
            queue: BinaryHeap::new(),
            next_seq: 0,
            in_flight: SegmentTable::default(),
            hosts,
            by_addr,
            conns: Vec::new(),
            slots,
            clients: cfg.clients as usize,
            connections_per_client: cfg.connections_per_client,
            apps,
            tcp_cfg: cfg.tcp,
            nat,
            nat_wake: None,
            proxy,
            backend_conns: 0,
            faults: cfg.faults,
            shared: Evidence::default(),
            trace: Trace::new(cfg.trace),
            declarations: Vec::new(),
            io: crate::app::AppIo::default(),
            stats: [WireStats::default(); 2],
            messages_received: [0; 2],
            nat_expired_at: Vec::new(),
            events_processed: 0,
            lookback: cfg.condition_lookback,
            queue_condition: cfg.queue_condition,
            started: false,
        })
    }

    pub fn now(&self) -> Instant {
        self.now
    }
    pub fn declarations(&self) -> &[Declaration] {
        &self.declarations
    }
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
    pub fn nat(&self) -> Option<&Nat> {
        self.nat.as_ref()
    }
    /// Connections the world has made so far (client and server ends).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Run to the horizon and return what happened.
    pub fn run(mut self) -> Outcome {
        self.run_until(self.horizon);
        self.finish()
    }

    /// Process every event up to and including `until` (capped at the horizon).
    pub fn run_until(&mut self, until: Instant) {
        let until = until.min(self.horizon);
        if !self.started {
            self.start();
        }
        while let Some(Reverse(top)) = self.queue.peek() {
            if top.at > until {
                break;
            }
            let Reverse(Scheduled { at, ev, .. }) = self.queue.pop().expect("peeked");
            self.now = at;
            self.events_processed += 1;
            self.dispatch(ev);
        }
        self.now = self.now.max(until);
    }

    /// What the run produced so far.
    pub fn finish(self) -> Outcome {
        let slots: Vec<SlotOutcome> = self
            .slots
            .into_iter()
            .map(|s| {
                let first = s.gens.first().cloned().unwrap_or_default();
                SlotOutcome { broken: first.broken, ended_at: first.ended_at, nat_expired_at: first.nat_expired_at, connections: s.gens }
            })
            .collect();
        Outcome {
            ended_at: self.now,
            broken: slots.first().and_then(|s| s.broken),
            declarations: self.declarations,
            slots,
            stats: self.stats,
            nat_expiries: self.nat.as_ref().map_or(0, Nat::expiries),
            nat_expired_at: self.nat_expired_at,
            messages_received: self.messages_received,
            events_processed: self.events_processed,
            trace: self.trace.into_records(),
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
        for slot in 0..self.slots.len() as u32 {
            let port = addr::client_port(slot % self.connections_per_client);
            let app = self.apps.client(slot);
            self.open_client_conn(slot, port, app);
        }
    }

    /// Start a new client connection for `slot` from local `port`, with the
    /// slot's application `app`: a SYN now, a new generation of the slot.
    pub(super) fn open_client_conn(&mut self, slot: u32, port: u16, app: Box<dyn Application>) -> usize {
        let server = SocketAddrV4::new(self.hosts[self.front()].addr, addr::SERVER.port());
        let h = self.slots[slot as usize].client;
        let local = SocketAddrV4::new(self.hosts[h].addr, port);
        let iss = self.hosts[h].isn.u32();
        let mut tcp = TcpEndpoint::client(self.tcp_cfg.clone(), local, server, iss);
        tcp.connect(self.hosts[h].local(self.now));
        let now = self.now;
        self.slots[slot as usize].gens.push(ConnOutcome::opened(now));
        let c = self.add_conn(h, slot, (local, server), tcp, app, None);
        self.slots[slot as usize].conn = Some(c);
        self.pump(c);
        c
    }

    /// A fresh ephemeral port on client host `h` for a reconnect: the next
    /// after the pool's first ports, within Linux's range 32768–60999,
    /// skipping any still held by a connection that is not closed.
    pub(super) fn next_port(&mut self, h: usize) -> u16 {
        const FIRST: u32 = 32768;
        const SPAN: u32 = 61000 - FIRST;
        let server = SocketAddrV4::new(self.hosts[self.front()].addr, addr::SERVER.port());
        let base = u32::from(addr::client_port(0)) - FIRST;
        for _ in 0..SPAN {
            let k = self.hosts[h].next_port;
            self.hosts[h].next_port = k.wrapping_add(1);
            let port = (FIRST + (base + k) % SPAN) as u16;
            let key = (SocketAddrV4::new(self.hosts[h].addr, port), server);
            match self.hosts[h].stack.get(&key) {
                Some(&c) if self.conns[c].tcp.state() != TcpState::Closed && !self.conns[c].gone => continue,
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
    fn reconnect(&mut self, c: usize) {
        let slot = self.conns[c].slot;
        let h = self.conns[c].host;
        let current = self.slots[slot as usize].conn == Some(c);
        let closed = self.conns[c].gone || self.conns[c].app_closed || self.conns[c].tcp.state() == TcpState::Closed;
        if !current || !closed || self.hosts[h].state != HostState::Up || !self.conns[c].app_alive {
            return;
        }
        let app = std::mem::replace(&mut self.conns[c].app, Box::new(Idle));
        self.conns[c].app_alive = false;
        let port = self.next_port(h);
        self.open_client_conn(slot, port, app);
    }

    /// Add a connection to host `host`'s stack under `key` (local, remote).
    fn add_conn(
        &mut self,
        host: usize,
        slot: u32,
        key: (SocketAddrV4, SocketAddrV4),
        tcp: TcpEndpoint,
        app: Box<dyn Application>,
        peer: Option<usize>,
    ) -> usize {
        let c = self.conns.len();
        let app_alive = self.hosts[host].app_alive;
        let gen = peer.map_or((self.slots[slot as usize].gens.len() as u32).saturating_sub(1), |p| self.conns[p].gen);
        let role = match (self.hosts[host].role, peer) {
            (HostRef::Client(_), _) => Role::Client,
            (HostRef::Server, _) => Role::Server,
            (HostRef::Proxy, Some(_)) => Role::ProxyFront,
            (HostRef::Proxy, None) => Role::ProxyBack,
        };
        self.conns.push(Conn {
            host,
            slot,
            gen,
            role,
            key,
            tcp,
            app,
            app_alive,
            app_closed: false,
            gone: false,
            wake: None,
            ledger: VecDeque::new(),
            written: 0,
            peer,
            relay: None,
            idle_at: None,
        });
        self.hosts[host].stack.insert(key, c);
        self.hosts[host].conns.push(c);
        c
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.next_seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.next_seq, ev }));
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive { hop, seg } => {
                let seg = self.in_flight.take(seg);
                match hop {
                    Hop::Middle { from } => self.at_middle(from as usize, seg),
                    Hop::Host(h) => self.at_host(h as usize, seg),
                }
            }
            Ev::Wake(c) => self.wake(c as usize),
            Ev::NatWake => {
                self.nat_wake = None;
                let now = self.now;
                if let Some(nat) = &mut self.nat {
                    nat.handle_timeout(now);
                }
                self.after_nat();
            }
            Ev::FaultStart(i) => self.fault_start(i as usize),
            Ev::FaultEnd(i) => self.fault_end(i as usize),
        }
    }
}
