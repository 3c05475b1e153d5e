//! Building a world from its configuration: the hosts and their links, the
//! boxes on the path, the listener, the first connections, the faults'
//! events. Everything here runs once, before the first event.

use super::event_queue::EventQueue;
use super::nat_glue::NatBox;
use super::outcome::Slot;
use super::queue::{Payloads, SegmentTable};
use super::{service_port, AppFactory, Fault, Host, HostRef, HostState, Listener, Middlebox, Pair, WireStats, World, WorldConfig};
use crate::app::Application;
use crate::error::ConfigError;
use crate::link::{LinkDir, Outage};
use crate::nat::Nat;
use crate::oracle::Evidence;
use crate::packet::addr;
use crate::quic::QuicListener;
use crate::rng::{Purpose, RareStream, Stream};
use crate::tcp::TcpEndpoint;
use crate::time::Instant;
use crate::trace::{NatRef, Trace};
use rustc_hash::FxHashMap as HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

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
        let path = cfg.path();
        // A `[nat]` is named "nat" as v1 and v2 named it; a chain's boxes by position.
        let chain = !cfg.middleboxes.is_empty();
        let mut nats = Vec::new();
        let mut proxy_at = None;
        for (position, m) in path.iter().enumerate() {
            match m {
                Middlebox::Nat(n) => {
                    // The first NAT draws what a one-NAT world always drew.
                    let rng = Stream::for_host(seed, Purpose::NatPorts, nats.len() as u32);
                    let name = if chain { NatRef::Chain(position as u8) } else { NatRef::Only };
                    nats.push(NatBox { nat: Nat::new(n.clone(), rng), name, wake: None });
                }
                Middlebox::Proxy(_) => proxy_at = Some(nats.len()),
            }
        }
        let proxy_at = proxy_at.unwrap_or(nats.len());
        let host = |role: HostRef, addr: Ipv4Addr, isn: RareStream, link: [LinkDir; 2]| Host {
            role,
            addr,
            state: HostState::Up,
            offset: Duration::ZERO,
            holds: 0,
            suspended_at: Instant::ZERO,
            stack: HashMap::default(),
            conns: Vec::new(),
            released: 0,
            listener: None,
            next_port: cfg.connections_per_client,
            quic_seeds: RareStream::for_host(
                seed,
                Purpose::QuicClient,
                match role {
                    HostRef::Client(i) => i,
                    _ => 0,
                },
            ),
            app_alive: true,
            isn,
            link,
            evidence: Evidence::default(),
            rtt_cache: None,
        };
        let mut hosts = Vec::with_capacity(cfg.clients as usize + 1);
        for i in 0..cfg.clients {
            let link = [
                LinkDir::new(cfg.client_link.up.clone(), Stream::for_host(seed, Purpose::ClientUpLoss, i)),
                LinkDir::new(cfg.client_link.down.clone(), Stream::for_host(seed, Purpose::ClientDownLoss, i)),
            ];
            hosts.push(host(HostRef::Client(i), addr::client_ip(i), RareStream::for_host(seed, Purpose::ClientIsn, i), link));
        }
        let link = [
            LinkDir::new(cfg.server_link.up.clone(), Stream::new(seed, Purpose::ServerUpLoss)),
            LinkDir::new(cfg.server_link.down.clone(), Stream::new(seed, Purpose::ServerDownLoss)),
        ];
        // Behind a proxy the server moves to the backend address; the proxy takes the one clients dial.
        let server_addr = if cfg.proxy_config().is_some() { addr::BACKEND } else { addr::SERVER };
        let server_addr = SocketAddrV4::new(*server_addr.ip(), service_port(cfg.quic.is_some() || cfg.tunnel.is_some()));
        let mut server = host(HostRef::Server, *server_addr.ip(), RareStream::for_host(seed, Purpose::ServerIsn, 0), link);
        let tcp_cfg = std::sync::Arc::new(cfg.tcp.clone());
        let side_tcp_cfg = [&cfg.client_tcp, &cfg.server_tcp].map(|c| c.clone().map_or_else(|| tcp_cfg.clone(), std::sync::Arc::new));
        let spare = TcpEndpoint::server(side_tcp_cfg[1].clone(), server_addr, server.isn.u32());
        server.listener = Some(Box::new(Listener::new(server_addr.port(), Some(spare))));
        // The server's QUIC randomness: first its reset key (kept across
        // restarts), then one seed per listener it ever starts.
        server.quic_seeds = RareStream::for_host(seed, Purpose::QuicServer, 0);
        let quic_reset_key = server.quic_seeds.seed32();
        if let (Some(q), Some(l)) = (&cfg.quic, server.listener.as_mut()) {
            l.quic = Some(Box::new(QuicListener::new(q, quic_reset_key, server.quic_seeds.seed32())));
        }
        if let (Some(_), Some(l)) = (&cfg.tunnel, server.listener.as_mut()) {
            l.tunnel_peers = Some(HashMap::default());
        }
        hosts.push(server);
        let server = hosts.len() - 1;
        let proxy = cfg.proxy_config().map(|p| {
            let link = [
                LinkDir::new(Default::default(), Stream::new(seed, Purpose::ProxyUpLoss)),
                LinkDir::new(Default::default(), Stream::new(seed, Purpose::ProxyDownLoss)),
            ];
            let mut h = host(HostRef::Proxy, *addr::SERVER.ip(), RareStream::for_host(seed, Purpose::ProxyIsn, 0), link);
            h.listener = Some(Box::new(Listener::new(service_port(cfg.quic.is_some() || cfg.tunnel.is_some()), None)));
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
        debug_assert!((0..cfg.clients).all(|i| hosts[i as usize].addr == addr::client_ip(i)), "clients first, at consecutive addresses");
        let slots = (0..cfg.slots())
            .map(|s| Slot {
                client: (s / cfg.connections_per_client) as usize,
                conn: None,
                gens: Vec::new(),
                attempts: 0,
                evidence: Evidence::default(),
            })
            .collect();
        let connection_limit = cfg.connection_limit();
        Ok(World {
            now: Instant::ZERO,
            horizon: Instant::ZERO + cfg.horizon,
            queue: EventQueue::default(),
            in_flight: SegmentTable::default(),
            hosts,
            conns: Default::default(),
            to_release: Vec::new(),
            attempt_records: 0,
            busy: false,
            over_limit: None,
            #[cfg(test)]
            keep_released: false,
            slots,
            clients: cfg.clients as usize,
            connections_per_client: cfg.connections_per_client,
            apps,
            tcp_cfg,
            side_tcp_cfg,
            nats,
            proxy_at,
            proxy,
            accept: cfg.accept,
            quic: cfg.quic,
            tunnel: cfg.tunnel,
            quic_reset_key,
            payloads: Payloads::default(),
            backend_conns: 0,
            faults: cfg.faults,
            shared: Evidence::default(),
            trace: match cfg.trace_focus.clone() {
                Some(focus) if cfg.trace => Trace::focused(focus),
                _ => Trace::new(cfg.trace),
            },
            declarations: Vec::new(),
            io: crate::app::AppIo::default(),
            stats: [WireStats::default(); 2],
            messages_received: [0; 2],
            nat_expired_at: Vec::new(),
            events_processed: 0,
            lookback: cfg.condition_lookback,
            queue_condition: cfg.queue_condition,
            started: false,
            connection_limit,
            stopped: None,
        })
    }
}
