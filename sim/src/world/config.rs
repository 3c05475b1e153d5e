//! What defines a run besides its applications: the topology (how many client
//! hosts, how many connections each), the links, the NAT, the TCP sysctls and
//! the faults, with the checks a world makes before it runs.

use crate::error::{positive, ConfigError};
use crate::link::LinkConfig;
use crate::nat::NatConfig;
use crate::packet::SegmentKind;
use crate::proxy_config::ProxyConfig;
use crate::quic::QuicConfig;
use crate::side::Side;
use crate::tcp::TcpConfig;
use crate::time::Instant;
use std::fmt;
use std::time::Duration;

/// Most client hosts in one world, and most connections per host: every
/// connection needs its own port on the host and on the NAT's public address.
pub const MAX_CLIENTS: u32 = 100_000;
/// See [`MAX_CLIENTS`]; a pool of more than a few thousand connections is not a pool.
pub const MAX_CONNECTIONS_PER_CLIENT: u32 = 10_000;
/// Most connections in one world (client hosts × connections). A NAT on
/// the path also needs an outside address per 64 512 of them
/// ([`PORTS_PER_ADDRESS`](crate::nat::PORTS_PER_ADDRESS)), and a proxy
/// a backend port for each: at most 64 512 behind a proxy.
pub const MAX_SLOTS: u32 = 200_000;
/// Most boxes on one path ([`WorldConfig::middleboxes`]): more than any
/// field report's path, and a box's index fits the trace's byte.
pub const MAX_MIDDLEBOXES: usize = 16;

/// One box on the path from the clients to the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Middlebox {
    /// A NAT-like box: a NAT, a firewall's connection tracking, a
    /// pass-through load balancer that forgets idle flows. Each NAT of a
    /// path needs its own public address.
    Nat(NatConfig),
    /// A TCP-terminating proxy: the clients' connections end at it, and it
    /// opens its own to the server. At most one per path.
    Proxy(ProxyConfig),
}

/// The lowest connection limit ([`WorldConfig::connection_limit`]), in
/// records of about a kilobyte. An endpoint that is over is released, and a
/// run of attempts that failed to connect is folded into one record
/// ([`ConnOutcome::folded`](crate::world::ConnOutcome::folded)), so a storm
/// of refused or timed-out attempts holds little. What still grows is a
/// storm of attempts that connect and break (each keeps its record, for its
/// detections), and every endpoint's 8-byte number: at the limit a run
/// holds about 50 MB of connections, and is stopped.
pub const MIN_CONNECTION_LIMIT: usize = 50_000;

/// Endpoints opened that weigh one record against the connection limit
/// (each keeps an 8-byte number: 128 of them are a kilobyte).
pub const NUMBERS_PER_RECORD: usize = 128;

/// Both directions of a host's access link.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccessLink {
    /// Host → network.
    pub up: LinkConfig,
    /// Network → host.
    pub down: LinkConfig,
}

impl AccessLink {
    /// The same settings both ways.
    pub fn symmetric(cfg: LinkConfig) -> Self {
        AccessLink { up: cfg.clone(), down: cfg }
    }
}

/// A host a fault can hit: one of the clients (0-based) or the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostRef {
    /// Client host `i` (0-based, below [`WorldConfig::clients`]).
    Client(u32),
    /// The server host.
    Server,
    /// The TCP-terminating proxy, when the world has one.
    Proxy,
}

impl HostRef {
    /// The role the host plays in the connections it holds (a proxy is the
    /// server of its clients' connections).
    pub fn side(self) -> Side {
        match self {
            HostRef::Client(_) => Side::Client,
            HostRef::Server | HostRef::Proxy => Side::Server,
        }
    }
}

/// `Side::Client` is the first client: what a one-client (v1) world means by it.
impl From<Side> for HostRef {
    fn from(side: Side) -> Self {
        match side {
            Side::Client => HostRef::Client(0),
            Side::Server => HostRef::Server,
        }
    }
}

impl fmt::Display for HostRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostRef::Client(i) => write!(f, "client:{i}"),
            HostRef::Server => f.write_str("server"),
            HostRef::Proxy => f.write_str("proxy"),
        }
    }
}

/// Something that goes wrong, at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Power-off: silent forever, no FIN, no RST.
    Vanish {
        /// The host powered off.
        host: HostRef,
        /// When (the world's global clock, as for every fault).
        at: Instant,
    },
    /// Silent for `duration`, then up again without its connections: every
    /// segment of them is answered with RST.
    Reboot {
        /// The host that reboots.
        host: HostRef,
        /// When it goes down.
        at: Instant,
        /// How long it stays down; then its applications start again (a
        /// server listens, a client's may reconnect: [`AppFactory::restarted`](crate::world::AppFactory::restarted)).
        duration: Duration,
    },
    /// Frozen for `duration` (no packets, no timers), then resumes with its state.
    Suspend {
        /// The host frozen (a client or the server).
        host: HostRef,
        /// When it freezes.
        at: Instant,
        /// How long; its local clock stops for as long, so its timers resume
        /// where they were (`CLOCK_MONOTONIC` and jiffies do not count a suspend).
        duration: Duration,
    },
    /// The host's access link passes nothing, both ways, for `duration`.
    Outage {
        /// The host whose access link fails (a client or the server).
        link: HostRef,
        /// When it fails; packets still on the link then are lost too.
        at: Instant,
        /// How long it passes nothing.
        duration: Duration,
    },
    /// A NAT-like box forgets every mapping.
    NatReboot {
        /// When.
        at: Instant,
        /// The box: its position on the path from the clients
        /// ([`WorldConfig::path`]; 0 for `[nat]`).
        middlebox: u8,
    },
    /// The application process dies; its kernel closes every socket (FIN).
    /// With `restart_after`, a supervisor starts it again that much later
    /// (a server listens again); without, it stays dead.
    Crash {
        /// The host whose application dies.
        host: HostRef,
        /// When.
        at: Instant,
        /// When the supervisor restarts it, counted from `at`; `None`: never.
        restart_after: Option<Duration>,
    },
}

impl Fault {
    /// When it starts (the world's global clock).
    pub fn at(&self) -> Instant {
        match *self {
            Fault::Vanish { at, .. }
            | Fault::Reboot { at, .. }
            | Fault::Suspend { at, .. }
            | Fault::Outage { at, .. }
            | Fault::NatReboot { at, .. }
            | Fault::Crash { at, .. } => at,
        }
    }
    /// The name of its kind in scenario files and errors (`vanish`,
    /// `reboot`, `suspend`, `outage`, `nat_reboot`, `crash`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Fault::Vanish { .. } => "vanish",
            Fault::Reboot { .. } => "reboot",
            Fault::Suspend { .. } => "suspend",
            Fault::Outage { .. } => "outage",
            Fault::NatReboot { .. } => "nat_reboot",
            Fault::Crash { .. } => "crash",
        }
    }
    pub(crate) fn duration(&self) -> Option<Duration> {
        match *self {
            Fault::Reboot { duration, .. } | Fault::Suspend { duration, .. } | Fault::Outage { duration, .. } => Some(duration),
            Fault::Crash { restart_after, .. } => restart_after,
            _ => None,
        }
    }
    /// The host (or the host whose link) it hits; `None` for the NAT.
    pub fn target(&self) -> Option<HostRef> {
        match *self {
            Fault::Vanish { host, .. } | Fault::Reboot { host, .. } | Fault::Suspend { host, .. } | Fault::Crash { host, .. } => Some(host),
            Fault::Outage { link, .. } => Some(link),
            Fault::NatReboot { .. } => None,
        }
    }
}

/// The server application's listen queue (`[server.app] backlog`,
/// `accept_time`): connections the kernel completed wait there until the
/// application accepts them, one every `accept_time` (a TLS handshake, its
/// set-up). As in Linux the queue is full when it holds more than `backlog`
/// (`sk_acceptq_is_full`); then a new SYN is dropped, and so is the ACK that
/// would complete a handshake (`listen_overflow`): the client retries (SYN
/// retransmission, or its data) and the server resends its SYN-ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptQueue {
    /// `listen(2)`'s backlog: the queue is full when it holds more than this.
    pub backlog: u32,
    /// How long the application takes to accept one connection; the next
    /// waits until it is done.
    pub accept_time: Duration,
}

/// Everything that defines a run besides the applications.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    /// The run's seed: every random stream ([`crate::rng`]) derives from it,
    /// so a seed and a configuration make exactly one run.
    pub seed: u64,
    /// Simulated time the run covers.
    pub horizon: Duration,
    /// Client hosts, each with its own access link (`client_link`) and stack.
    pub clients: u32,
    /// Connections each client host opens to the server at time 0 (a pool).
    pub connections_per_client: u32,
    /// Every client's access link.
    pub client_link: AccessLink,
    /// The server's access link.
    pub server_link: AccessLink,
    /// A NAT all clients share, between their links and the server's (or
    /// the proxy's); `None`: clients talk to the server directly.
    pub nat: Option<NatConfig>,
    /// A TCP-terminating proxy between the NAT and the server's link.
    pub proxy: Option<ProxyConfig>,
    /// Boxes in series from the clients toward the server (`[[middlebox]]`),
    /// instead of `nat` and `proxy`: any number of NATs, at most one proxy.
    /// Empty: the path is `nat` then `proxy` ([`path`](Self::path)).
    pub middleboxes: Vec<Middlebox>,
    /// The server application's listen queue; `None`: it accepts at once, without limit.
    pub accept: Option<AcceptQueue>,
    /// Every connection is QUIC (quinn-proto over UDP) with these transport
    /// settings; `None`: TCP (the default, and all of v1).
    pub quic: Option<QuicConfig>,
    /// Every connection is a WireGuard-style datagram tunnel with these
    /// keepalives; `None`: TCP (or QUIC).
    pub tunnel: Option<crate::tunnel::TunnelConfig>,
    /// Sysctls of every host.
    pub tcp: TcpConfig,
    /// The client hosts' stack where it is not `tcp` (another OS's; see
    /// [`crate::tcp::Os`]); `None`: `tcp`.
    pub client_tcp: Option<TcpConfig>,
    /// The server host's stack where it is not `tcp`; `None`: `tcp`.
    pub server_tcp: Option<TcpConfig>,
    /// What goes wrong, and when; each must start before the horizon.
    pub faults: Vec<Fault>,
    /// Record a [`Trace`](crate::trace::Trace).
    pub trace: bool,
    /// With `trace`: keep only the records about these slots (and what
    /// concerns every connection); `None`: every record.
    pub trace_focus: Option<crate::trace::TraceFocus>,
    /// How far back a false positive looks for a transient condition to blame.
    pub condition_lookback: Duration,
    /// A queue this long (link backlog, or unacknowledged bytes at the uplink's
    /// rate) counts as the `queue` condition.
    pub queue_condition: Duration,
    /// Stop the run once it holds more connection records than this: live
    /// endpoints (both ends', a proxy's legs), attempts its outcome keeps,
    /// and one per [`NUMBERS_PER_RECORD`] endpoints ever opened; `None`:
    /// [`WorldConfig::connection_limit`]. The run's [`World::stopped`](crate::World::stopped)
    /// then says when, and its figures are not a whole run's.
    pub max_connections: Option<usize>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 0,
            horizon: Duration::from_secs(24 * 3600),
            clients: 1,
            connections_per_client: 1,
            client_link: AccessLink::default(),
            server_link: AccessLink::default(),
            nat: None,
            proxy: None,
            middleboxes: Vec::new(),
            accept: None,
            quic: None,
            tunnel: None,
            tcp: TcpConfig::default(),
            faults: Vec::new(),
            trace: false,
            trace_focus: None,
            client_tcp: None,
            server_tcp: None,
            condition_lookback: Duration::from_secs(600),
            queue_condition: Duration::from_secs(1),
            max_connections: None,
        }
    }
}

impl WorldConfig {
    /// The boxes between the clients and the server, from the clients:
    /// [`middleboxes`](Self::middleboxes), or else `nat` then `proxy`.
    pub fn path(&self) -> Vec<Middlebox> {
        if !self.middleboxes.is_empty() {
            return self.middleboxes.clone();
        }
        let nat = self.nat.clone().map(Middlebox::Nat);
        nat.into_iter().chain(self.proxy.map(Middlebox::Proxy)).collect()
    }

    /// The path's TCP-terminating proxy, if it has one.
    pub fn proxy_config(&self) -> Option<ProxyConfig> {
        self.proxy.or_else(|| {
            self.middleboxes.iter().find_map(|m| match m {
                Middlebox::Proxy(p) => Some(*p),
                Middlebox::Nat(_) => None,
            })
        })
    }

    /// Connections in the world: one slot per client connection.
    pub fn slots(&self) -> u32 {
        self.clients.saturating_mul(self.connections_per_client)
    }

    /// The most connection records this run may hold (see
    /// [`max_connections`](Self::max_connections)): that if set, else
    /// [`MIN_CONNECTION_LIMIT`] or 8 per slot (a client end and a server end,
    /// behind a proxy two more, and room to reconnect), whichever is larger.
    pub fn connection_limit(&self) -> usize {
        self.max_connections.unwrap_or_else(|| MIN_CONNECTION_LIMIT.max(8 * self.slots() as usize))
    }

    /// Check everything before a run: the topology's bounds
    /// ([`MAX_CLIENTS`], [`MAX_CONNECTIONS_PER_CLIENT`], [`MAX_SLOTS`]), each
    /// part's own settings, combinations the engine does not model, and each
    /// fault (before the horizon, with a duration, aimed at a host that exists).
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("horizon", self.horizon)?;
        let range = |field, value: u32, max: u32, allowed| {
            if value == 0 || value > max {
                Err(ConfigError::OutOfRange { field, value: value.to_string(), allowed })
            } else {
                Ok(())
            }
        };
        range("client.count", self.clients, MAX_CLIENTS, "1..=100000")?;
        range("client.connections", self.connections_per_client, MAX_CONNECTIONS_PER_CLIENT, "1..=10000")?;
        range("client.count x client.connections", self.slots(), MAX_SLOTS, "at most 200000 connections in all")?;
        self.client_link.up.validate("client.link.up")?;
        self.client_link.down.validate("client.link.down")?;
        self.server_link.up.validate("server.link.up")?;
        self.server_link.down.validate("server.link.down")?;
        self.tcp.validate()?;
        for t in [&self.client_tcp, &self.server_tcp].into_iter().flatten() {
            t.validate()?;
        }
        if !self.middleboxes.is_empty() && (self.nat.is_some() || self.proxy.is_some()) {
            return Err(ConfigError::Unsupported { what: "middleboxes (a chain) beside nat or proxy" });
        }
        let path = self.path();
        if path.len() > MAX_MIDDLEBOXES {
            return Err(ConfigError::OutOfRange { field: "middlebox", value: path.len().to_string(), allowed: "at most 16 boxes" });
        }
        let mut public: Vec<&crate::nat::NatConfig> = Vec::new();
        let mut inside = crate::nat::InsideHosts { hosts: u64::from(self.clients), per_host: u64::from(self.connections_per_client) };
        for m in &path {
            match m {
                Middlebox::Nat(nat) => {
                    nat.validate()?;
                    let first = nat.public_ip;
                    let last = std::net::Ipv4Addr::from(u32::from(first) + u32::from(nat.public_addresses) - 1);
                    if public.iter().any(|other| other.owns(first) || other.owns(last) || nat.owns(other.public_ip)) {
                        return Err(ConfigError::Unsupported { what: "two NATs on one path with the same public address" });
                    }
                    public.push(nat);
                    // Every connection holds one of its outside address's ports.
                    if !inside.fits(nat.public_addresses) {
                        return Err(ConfigError::OutOfRange {
                            field: "nat.public_addresses",
                            value: nat.public_addresses.to_string(),
                            allowed: "enough addresses that the busiest carries at most 64512 connections",
                        });
                    }
                    inside = inside.behind_nat(nat.public_addresses);
                }
                Middlebox::Proxy(p) => {
                    p.validate()?;
                    // A backend port for each connection.
                    if inside.hosts * inside.per_host > crate::nat::PORTS_PER_ADDRESS {
                        return Err(ConfigError::OutOfRange {
                            field: "client.count x client.connections",
                            value: self.slots().to_string(),
                            allowed: "at most 64512 connections behind a proxy (a backend port each)",
                        });
                    }
                    inside = inside.behind_proxy();
                }
            }
        }
        if path.iter().filter(|m| matches!(m, Middlebox::Proxy(_))).count() > 1 {
            return Err(ConfigError::Unsupported { what: "two TCP-terminating proxies on one path" });
        }
        let proxy = self.proxy_config();
        if self.tunnel.is_some() && (self.quic.is_some() || proxy.is_some() || self.accept.is_some()) {
            return Err(ConfigError::Unsupported { what: "a datagram tunnel with QUIC, a TCP proxy or a listen queue" });
        }
        if self.quic.is_some() && proxy.is_some() {
            return Err(ConfigError::Unsupported { what: "a QUIC connection through [proxy] (a TCP-terminating proxy)" });
        }
        if self.quic.is_some() && self.accept.is_some() {
            return Err(ConfigError::Unsupported { what: "a listen queue ([server.app] backlog) for QUIC connections" });
        }
        let horizon = Instant::ZERO + self.horizon;
        for (index, f) in self.faults.iter().enumerate() {
            let kind = f.kind_name();
            if f.at() >= horizon {
                return Err(ConfigError::FaultAfterHorizon { index, kind, at: f.at().since_start(), horizon: self.horizon });
            }
            if f.duration().is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::FaultNeedsDuration { index, kind });
            }
            if let Fault::NatReboot { middlebox, .. } = *f {
                if !matches!(path.get(middlebox as usize), Some(Middlebox::Nat(_))) {
                    return Err(ConfigError::NoNat { index, kind });
                }
            }
            match f.target() {
                Some(HostRef::Client(i)) if i >= self.clients => {
                    return Err(ConfigError::NoSuchClient { index, kind, client: i, clients: self.clients });
                }
                Some(HostRef::Proxy) if proxy.is_none() => return Err(ConfigError::NoProxy { index, kind }),
                Some(HostRef::Proxy) if matches!(f, Fault::Suspend { .. } | Fault::Outage { .. }) => {
                    return Err(ConfigError::BadFaultTarget { index, kind, target: "proxy", allowed: "client, server" })
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Packets and bytes sent, indexed by [`SegmentKind`] (`kind as usize`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    /// Packets sent, per kind.
    pub packets: [u64; SegmentKind::COUNT],
    /// Bytes sent, per kind: whole IP packets, headers included, without
    /// link framing.
    pub bytes: [u64; SegmentKind::COUNT],
}

impl WireStats {
    /// Packets of `kind` sent.
    pub fn packets_of(&self, kind: SegmentKind) -> u64 {
        self.packets[kind as usize]
    }
    /// IP bytes of `kind` sent.
    pub fn bytes_of(&self, kind: SegmentKind) -> u64 {
        self.bytes[kind as usize]
    }
    /// Packets sent, of every kind.
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }
}
