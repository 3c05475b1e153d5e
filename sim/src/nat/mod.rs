//! A NAT box between the client's and the server's access links.
//!
//! Each flow has a mapping from the inside address to a public port, kept
//! alive by traffic (both directions, as Linux conntrack does) and forgotten
//! after an idle timeout: `idle_timeout` once established, the shorter
//! `transitory_timeout` during the handshake or after FIN/RST (RFC 5382's
//! two timers). What the flow's next packet meets then is the expiry
//! behaviour, the single most important fact about a middlebox for
//! keepalive design:
//!
//! * `Drop`: silently dropped both ways (conntrack INVALID, most home routers).
//! * `Rst`: the NAT answers the inside host with a RST (AWS NAT gateway).
//! * `NewPort`: a fresh mapping with a new public port; the server has no such
//!   connection and answers RST (Linux masquerade `fully-random`).
//! * `Loose`: mid-stream packets from inside re-create the same mapping, so the
//!   connection survives (Linux `nf_conntrack_tcp_loose = 1`). Packets from
//!   outside are still dropped until the inside speaks.
//!
//! UDP flows (QUIC) have their own two timers, as Linux conntrack's:
//! `udp_idle_timeout` until a reply was seen, `udp_stream_timeout` after.
//! Any outbound datagram makes a mapping (there is no handshake to wait
//! for), so after an expiry the next one from inside re-creates the flow: on
//! its old port, or a new one under `NewPort`, which the server sees as the
//! client moving (QUIC migrates; TCP would not survive it). Inbound
//! datagrams of a forgotten flow are dropped under every behaviour; UDP has
//! no RST and ICMP is not modelled.
//!
//! The NAT is sans-IO: it translates the packets handed to it and reports
//! its next expiry through [`Nat::poll_timeout`].

mod flows;

use crate::error::{positive, ConfigError};
use crate::packet::{Flags, Segment};
use crate::rng::Stream;
use crate::time::Instant;
pub use flows::FlowSlot;
use flows::FlowTable;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// What happens to a flow's packets once its mapping expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnExpired {
    /// Silently dropped both ways (conntrack INVALID, most home routers): the
    /// connection is broken, and only a timer at an end can tell.
    Drop,
    /// The NAT answers the inside host's next packet with a RST (AWS NAT
    /// gateway): the inside end learns at its next send.
    Rst,
    /// The next packet from inside gets a fresh mapping on a new public
    /// port; the server knows no such connection and answers RST (Linux
    /// masquerade `fully-random`).
    NewPort,
    /// A mid-stream packet from inside re-creates the same mapping, so the
    /// connection survives (Linux `nf_conntrack_tcp_loose = 1`); packets from
    /// outside are dropped until then.
    Loose,
}

impl OnExpired {
    /// Every behaviour, in declaration order.
    pub const ALL: [OnExpired; 4] = [OnExpired::Drop, OnExpired::Rst, OnExpired::NewPort, OnExpired::Loose];

    /// The name a scenario file uses (`drop`, `rst`, `new_port`, `loose`).
    pub fn name(self) -> &'static str {
        match self {
            OnExpired::Drop => "drop",
            OnExpired::Rst => "rst",
            OnExpired::NewPort => "new_port",
            OnExpired::Loose => "loose",
        }
    }

    /// Does losing the mapping break the connection for good?
    pub fn breaks_connection(self) -> bool {
        self != OnExpired::Loose
    }
}

/// A NAT's timers and expiry behaviour. All timeouts count from a flow's
/// last packet (either direction with `refresh_on_inbound`), on the world's
/// global clock: the NAT never sleeps.
#[derive(Clone, Debug, PartialEq)]
pub struct NatConfig {
    /// Idle timeout of an established flow.
    pub idle_timeout: Duration,
    /// Idle timeout during the handshake and after FIN or RST (RFC 5382: ≥ 4 min).
    pub transitory_timeout: Duration,
    /// What a TCP flow's next packet meets once its mapping expired.
    pub on_expired: OnExpired,
    /// Whether packets from outside refresh the mapping (Linux conntrack: yes).
    pub refresh_on_inbound: bool,
    /// The NAT's outside address: the source servers see for every client
    /// (the first of its pool when it has several).
    pub public_ip: Ipv4Addr,
    /// How many outside addresses it has: `public_ip` and the ones after it
    /// (a carrier-grade NAT's pool; 1: one address, as v1 and v2 had). Each
    /// address has 64 512 ports (1024 and up); an inside host's flows all
    /// leave from one address, chosen by the host (RFC 4787's "paired"
    /// pooling, REQ-2).
    pub public_addresses: u16,
    /// Idle timeout of a UDP flow until a reply was seen (Linux conntrack: 30 s).
    pub udp_idle_timeout: Duration,
    /// Idle timeout of a UDP flow once both directions were seen (Linux
    /// conntrack's `nf_conntrack_udp_timeout_stream`: 120 s; [`NatConfig::new`]
    /// sets 30 s, the same as `udp_idle_timeout`, and the harness does too
    /// unless a scenario gives its own).
    pub udp_stream_timeout: Duration,
}

impl NatConfig {
    /// A NAT with TCP idle timeout `idle_timeout` and expiry behaviour
    /// `on_expired`, and the rest at its defaults: a 240 s transitory timeout
    /// (RFC 5382's minimum), refresh on inbound packets (as conntrack does),
    /// UDP flows forgotten after 30 s of silence whether or not a reply was
    /// seen, and [`addr::NAT_PUBLIC_IP`](crate::packet::addr::NAT_PUBLIC_IP).
    pub fn new(idle_timeout: Duration, on_expired: OnExpired) -> Self {
        NatConfig {
            idle_timeout,
            transitory_timeout: Duration::from_secs(240),
            on_expired,
            refresh_on_inbound: true,
            public_ip: crate::packet::addr::NAT_PUBLIC_IP,
            public_addresses: 1,
            udp_idle_timeout: Duration::from_secs(30),
            udp_stream_timeout: Duration::from_secs(30),
        }
    }

    /// Check that every timeout is greater than zero and the pool holds
    /// 1 to [`MAX_PUBLIC_ADDRESSES`] addresses that do not wrap past
    /// 255.255.255.255.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("nat.idle_timeout", self.idle_timeout)?;
        positive("nat.transitory_timeout", self.transitory_timeout)?;
        positive("nat.udp_idle_timeout", self.udp_idle_timeout)?;
        positive("nat.udp_stream_timeout", self.udp_stream_timeout)?;
        let last = u64::from(u32::from(self.public_ip)) + u64::from(self.public_addresses);
        if self.public_addresses == 0 || self.public_addresses > MAX_PUBLIC_ADDRESSES || last > u64::from(u32::MAX) + 1 {
            return Err(ConfigError::OutOfRange {
                field: "nat.public_addresses",
                value: self.public_addresses.to_string(),
                allowed: "1..=256",
            });
        }
        Ok(())
    }

    /// Is `ip` one of the NAT's outside addresses?
    #[inline]
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip).wrapping_sub(u32::from(self.public_ip)) < u32::from(self.public_addresses)
    }

    /// The outside address of every flow of the inside host `inside`.
    pub fn address_for(&self, inside: Ipv4Addr) -> Ipv4Addr {
        let index = u32::from(inside) % u32::from(self.public_addresses.max(1));
        Ipv4Addr::from(u32::from(self.public_ip) + index)
    }
}

/// Who a box on the path sees as its inside hosts: how many, and the most
/// connections one of them holds. The clients, for the first box; behind a
/// NAT, the outside addresses it used; behind a proxy, the proxy alone.
/// Every connection holds one port of the outside address its host is
/// paired with ([`NatConfig::address_for`]), so this decides whether a
/// NAT's pool has ports enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsideHosts {
    /// How many inside hosts the box sees.
    pub hosts: u64,
    /// The most connections one of them holds.
    pub per_host: u64,
}

impl InsideHosts {
    /// The most connections one of `addresses` outside addresses carries:
    /// hosts' addresses are consecutive and paired by address modulo the
    /// pool's size, so the busiest has ceil(hosts / addresses) of them.
    pub fn per_address(self, addresses: u16) -> u64 {
        self.hosts.div_ceil(u64::from(addresses.max(1))) * self.per_host
    }
    /// Does a NAT of `addresses` outside addresses have a port for every connection?
    pub fn fits(self, addresses: u16) -> bool {
        self.per_address(addresses) <= PORTS_PER_ADDRESS
    }
    /// What the box after a NAT of `addresses` outside addresses sees.
    pub fn behind_nat(self, addresses: u16) -> InsideHosts {
        InsideHosts { hosts: self.hosts.min(u64::from(addresses)), per_host: self.per_address(addresses) }
    }
    /// What the box after a TCP-terminating proxy sees: the proxy, holding every connection.
    pub fn behind_proxy(self) -> InsideHosts {
        InsideHosts { hosts: 1, per_host: self.hosts * self.per_host }
    }
}

/// Most outside addresses one NAT has: a /24.
pub const MAX_PUBLIC_ADDRESSES: u16 = 256;
/// Ports a NAT hands out per outside address (1024 to 65535).
pub const PORTS_PER_ADDRESS: u64 = 65536 - FIRST_PORT as u64;

/// One flow's translation: the inside host's address and port, the remote
/// it talks to, and the public address and port the remote sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The inside host's address and port (a client's).
    pub inside: SocketAddrV4,
    /// The outside end of the flow (the server, or the proxy).
    pub remote: SocketAddrV4,
    /// What `inside` is rewritten to: the NAT's public IP and the port it chose.
    pub public: SocketAddrV4,
    /// The flow's last packet that refreshed the mapping (the world's clock):
    /// its timeout counts from here.
    pub last_activity: Instant,
    /// TCP: past the handshake (a packet other than a bare SYN came back, or
    /// picked up mid-stream), so `idle_timeout` applies. UDP: a reply was seen.
    pub established: bool,
    /// A FIN or RST crossed it (either way): the short `transitory_timeout`
    /// applies, and its expiry loses nothing.
    pub closing: bool,
    /// Who opened the flow: the `sender` of the packet that created the
    /// mapping (the world's connection id). Opaque to the NAT.
    pub owner: u32,
    /// A UDP flow (its timers are the `udp_` ones; `established` = a reply was seen).
    pub udp: bool,
    /// The deadline this flow's entry in the NAT's heap carries (at or before
    /// its real deadline).
    queued: Instant,
}

impl Mapping {
    fn deadline(&self, cfg: &NatConfig) -> Instant {
        if self.udp {
            let timeout = if self.established { cfg.udp_stream_timeout } else { cfg.udp_idle_timeout };
            return self.last_activity + timeout;
        }
        let timeout = if self.established && !self.closing { cfg.idle_timeout } else { cfg.transitory_timeout };
        self.last_activity + timeout
    }
}

/// Why the NAT did not forward a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatDrop {
    /// No mapping for a packet from outside.
    NoMappingInbound,
    /// No mapping for a mid-stream packet from inside (policy `drop`).
    NoMappingOutbound,
    /// A new flow found every port of its outside address taken (as
    /// conntrack does, the NAT drops the packet; the inside host retries).
    NoFreePort,
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatVerdict {
    /// Pass it on, translated (source rewritten outbound, destination inbound).
    Forward(Segment),
    /// Drop it, for this reason.
    Drop(NatDrop),
    /// Drop it and send this RST back to the inside host (policy `rst`).
    Reset(Segment),
}

/// Things the NAT did that a trace and the oracle care about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatEvent {
    /// A flow got a mapping.
    Created {
        /// The new mapping.
        mapping: Mapping,
        /// Made for a flow already under way: a mid-stream TCP packet from
        /// inside (under `loose` or `new_port`), or a UDP flow that had a
        /// mapping before.
        recreated: bool,
    },
    /// A mapping was forgotten after its idle timeout.
    Expired {
        /// The mapping as it was.
        mapping: Mapping,
        /// How long the flow had been silent: at least its timeout.
        idle: Duration,
    },
    /// A mapping lost in a reboot (one per mapping, before [`NatEvent::Rebooted`]).
    Lost {
        /// The mapping as it was.
        mapping: Mapping,
    },
    /// The NAT rebooted and forgot every mapping.
    Rebooted {
        /// How many mappings it lost.
        lost: usize,
    },
}

type FlowKey = (SocketAddrV4, SocketAddrV4);

/// A NAT of many flows. A packet costs at most one hash lookup (none when
/// its connection's hint holds) and no heap operation: never a scan of the
/// flows. How flows are stored and expire in order: the `flows` module.
#[derive(Clone, Debug)]
pub struct Nat {
    cfg: NatConfig,
    flows: FlowTable,
    /// Outside addresses and ports in use by live flows.
    ports: HashSet<SocketAddrV4>,
    /// Per outside address: where the search for a free port resumes, and
    /// how many of its ports are in use.
    cursors: Vec<(u16, u64)>,
    /// The last mapping each forgotten flow had (for `loose` re-pickup and `new_port`).
    forgotten: HashMap<FlowKey, Mapping>,
    events: VecDeque<NatEvent>,
    rng: Stream,
    expiries: u64,
}

/// The lowest port the NAT hands out when a flow's own is taken.
const FIRST_PORT: u16 = 1024;

impl Nat {
    /// A NAT with no flows, drawing `new_port`'s ports from `rng`.
    pub fn new(cfg: NatConfig, rng: Stream) -> Self {
        let cursors = vec![(FIRST_PORT, 0); usize::from(cfg.public_addresses.max(1))];
        Nat {
            cfg,
            flows: FlowTable::default(),
            ports: HashSet::default(),
            cursors,
            forgotten: HashMap::default(),
            events: VecDeque::new(),
            rng,
            expiries: 0,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &NatConfig {
        &self.cfg
    }

    /// How many flows have a mapping now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// No flow has a mapping.
    pub fn is_empty(&self) -> bool {
        self.flows.len() == 0
    }

    /// The mapping of the flow from `inside` to `remote`, if it has one.
    pub fn mapping(&self, inside: SocketAddrV4, remote: SocketAddrV4) -> Option<&Mapping> {
        self.flows.find_inside((inside, remote), FlowSlot::NONE).map(|slot| self.flows.get(slot))
    }

    /// Mappings of live flows lost to idleness so far (a flow that had
    /// already sent FIN or RST is closing, and its expiry loses nothing).
    pub fn expiries(&self) -> u64 {
        self.expiries
    }

    /// The next thing the NAT did (creations, expiries, losses), oldest
    /// first; the owner drains them after each call.
    pub fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }

    /// When the next mapping expires.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.flows.next_deadline(&self.cfg).map(|(at, _)| at)
    }

    /// Expire every mapping idle for its timeout at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, slot)) = self.flows.next_deadline(&self.cfg) {
            if at > now {
                return;
            }
            self.flows.pop_deadline();
            let m = self.remove(slot);
            if !m.closing {
                self.expiries += 1;
            }
            self.events.push_back(NatEvent::Expired { mapping: m, idle: now - m.last_activity });
            self.forgotten.insert((m.inside, m.remote), m);
        }
    }

    /// Lose every mapping at once.
    pub fn reboot(&mut self) {
        let live = self.flows.oldest_first();
        let lost = live.len();
        for slot in live {
            let m = self.remove(slot);
            self.events.push_back(NatEvent::Lost { mapping: m });
            self.forgotten.insert((m.inside, m.remote), m);
        }
        self.flows.clear_deadlines();
        self.events.push_back(NatEvent::Rebooted { lost });
    }

    fn remove(&mut self, slot: FlowSlot) -> Mapping {
        let m = self.flows.remove(slot);
        if self.ports.remove(&m.public) {
            let k = self.address_index(*m.public.ip());
            self.cursors[k].1 -= 1;
        }
        m
    }

    /// Which of the NAT's outside addresses `ip` is (0 for the first).
    fn address_index(&self, ip: Ipv4Addr) -> usize {
        u32::from(ip).wrapping_sub(u32::from(self.cfg.public_ip)) as usize
    }

    /// A packet from the inside host toward `seg.dst`.
    pub fn outbound(&mut self, now: Instant, seg: &Segment) -> NatVerdict {
        self.outbound_hinted(now, seg, FlowSlot::NONE).0
    }

    /// [`outbound`](Self::outbound), offered where the flow's last packet
    /// found its mapping (see the `flows` module); also returns where this one did.
    #[inline]
    pub fn outbound_hinted(&mut self, now: Instant, seg: &Segment, hint: FlowSlot) -> (NatVerdict, FlowSlot) {
        let slot = match self.flows.find_inside((seg.src, seg.dst), hint) {
            Some(slot) => slot,
            None if seg.is_udp() => {
                let recreated = self.forgotten.contains_key(&(seg.src, seg.dst));
                match self.create(now, seg, recreated, false) {
                    Some(slot) => slot,
                    None => return (NatVerdict::Drop(NatDrop::NoFreePort), hint),
                }
            }
            None => {
                let is_syn = seg.flags.contains(Flags::SYN) && !seg.flags.contains(Flags::ACK);
                if !is_syn {
                    let no_mapping = NatVerdict::Drop(NatDrop::NoMappingOutbound);
                    match self.cfg.on_expired {
                        OnExpired::Drop => return (no_mapping, hint),
                        OnExpired::Rst => return (seg.reset_reply().map_or(no_mapping, NatVerdict::Reset), hint),
                        OnExpired::NewPort | OnExpired::Loose => {}
                    }
                }
                match self.create(now, seg, !is_syn, !is_syn) {
                    Some(slot) => slot,
                    None => return (NatVerdict::Drop(NatDrop::NoFreePort), hint),
                }
            }
        };
        let closing = seg.flags.contains(Flags::FIN) || seg.flags.contains(Flags::RST);
        let m = self.flows.touch(slot, &self.cfg, |m| {
            m.last_activity = now;
            m.closing |= closing;
        });
        (NatVerdict::Forward(Segment { src: m.public, ..*seg }), slot)
    }

    /// A packet from outside toward the NAT's public address.
    pub fn inbound(&mut self, now: Instant, seg: &Segment) -> NatVerdict {
        self.inbound_hinted(now, seg, FlowSlot::NONE).0
    }

    /// Start loading the flow at `hint` (see [`crate::prefetch`]): a world
    /// looking ahead at a packet that will cross this NAT with that hint.
    #[inline(always)]
    pub(crate) fn prefetch_flow(&self, hint: FlowSlot) {
        self.flows.prefetch(hint);
    }

    /// [`inbound`](Self::inbound), with a hint as [`outbound_hinted`](Self::outbound_hinted)'s.
    #[inline]
    pub fn inbound_hinted(&mut self, now: Instant, seg: &Segment, hint: FlowSlot) -> (NatVerdict, FlowSlot) {
        let refresh = self.cfg.refresh_on_inbound;
        let Some(slot) = self.flows.find_public((seg.dst, seg.src), hint) else {
            return (NatVerdict::Drop(NatDrop::NoMappingInbound), hint);
        };
        let established = !seg.flags.contains(Flags::SYN) || seg.flags.contains(Flags::ACK);
        let closing = seg.flags.contains(Flags::FIN) || seg.flags.contains(Flags::RST);
        let m = self.flows.touch(slot, &self.cfg, |m| {
            if refresh {
                m.last_activity = now;
            }
            m.established |= established;
            m.closing |= closing;
        });
        (NatVerdict::Forward(Segment { dst: m.inside, ..*seg }), slot)
    }

    /// A new mapping for `seg`'s flow; `recreated`: the flow had one that
    /// was forgotten; `established`: start with the established timer (a
    /// TCP flow picked up mid-stream, as conntrack does).
    fn create(&mut self, now: Instant, seg: &Segment, recreated: bool, established: bool) -> Option<FlowSlot> {
        let ip = self.cfg.address_for(*seg.src.ip());
        let k = self.address_index(ip);
        // Every port of the host's address taken: no mapping (the loops below would never end).
        if self.cursors[k].1 >= PORTS_PER_ADDRESS {
            return None;
        }
        let previous = self.forgotten.remove(&(seg.src, seg.dst));
        let taken = |ports: &HashSet<SocketAddrV4>, p: u16| ports.contains(&SocketAddrV4::new(ip, p));
        let free = |ports: &HashSet<SocketAddrV4>, p: u16| p >= FIRST_PORT && !taken(ports, p);
        let port = match (self.cfg.on_expired, previous) {
            (OnExpired::Loose, Some(p)) if *p.public.ip() == ip && free(&self.ports, p.public.port()) => p.public.port(),
            // A random port other than the old one; with two ports or fewer left
            // (the draw never gives 65535), the scan below.
            (OnExpired::NewPort, prev) if self.cursors[k].1 + 2 < PORTS_PER_ADDRESS => loop {
                let p = self.rng.range_u16(FIRST_PORT, u16::MAX);
                if prev.is_none_or(|m| m.public.port() != p) && !taken(&self.ports, p) {
                    break p;
                }
            },
            // Keep the flow's own port when it is free (as Linux does), else the next free one.
            _ if free(&self.ports, seg.src.port()) => seg.src.port(),
            _ => loop {
                let p = self.cursors[k].0;
                self.cursors[k].0 = if p == u16::MAX { FIRST_PORT } else { p + 1 };
                if free(&self.ports, p) {
                    break p;
                }
            },
        };
        let mapping = Mapping {
            inside: seg.src,
            remote: seg.dst,
            public: SocketAddrV4::new(ip, port),
            last_activity: now,
            established,
            closing: false,
            owner: seg.sender,
            udp: seg.is_udp(),
            queued: Instant::ZERO,
        };
        let mapping = Mapping { queued: mapping.deadline(&self.cfg), ..mapping };
        self.events.push_back(NatEvent::Created { mapping, recreated });
        let slot = self.flows.insert(mapping);
        self.ports.insert(mapping.public);
        self.cursors[k].1 += 1;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::addr;
    use crate::packet::SegmentKind;
    use crate::rng::Purpose;

    fn nat(on: OnExpired) -> Nat {
        Nat::new(NatConfig::new(Duration::from_secs(1200), on), Stream::new(9, Purpose::NatPorts))
    }

    fn seg(flags: Flags) -> Segment {
        Segment {
            src: addr::CLIENT,
            dst: addr::SERVER,
            seq: 10,
            ack: 20,
            flags,
            len: 0,
            window: 1000,
            tsval: 0,
            tsecr: 0,
            kind: SegmentKind::Data,
            sender: 0,
            proto: crate::packet::Proto::Tcp,
            payload: Segment::NO_PAYLOAD,
        }
    }

    fn reply(public: SocketAddrV4) -> Segment {
        Segment {
            src: addr::SERVER,
            dst: public,
            seq: 20,
            ack: 11,
            flags: Flags::SYN | Flags::ACK,
            len: 0,
            window: 1000,
            tsval: 0,
            tsecr: 0,
            kind: SegmentKind::Data,
            sender: Segment::NO_SENDER,
            proto: crate::packet::Proto::Tcp,
            payload: Segment::NO_PAYLOAD,
        }
    }

    /// Open a flow at t = 0 and return its public address.
    fn open(n: &mut Nat) -> SocketAddrV4 {
        let NatVerdict::Forward(out) = n.outbound(Instant::ZERO, &seg(Flags::SYN)) else { panic!() };
        assert!(matches!(n.inbound(Instant::ZERO, &reply(out.src)), NatVerdict::Forward(_)));
        out.src
    }

    #[test]
    fn idle_established_flow_expires_at_the_timeout() {
        let mut n = nat(OnExpired::Drop);
        open(&mut n);
        assert_eq!(n.poll_timeout(), Some(Instant::from_secs(1200)));
        n.handle_timeout(Instant::from_secs(1199));
        assert_eq!(n.len(), 1);
        n.handle_timeout(Instant::from_secs(1200));
        assert_eq!(n.expiries(), 1);
        assert!(n.is_empty());
    }

    #[test]
    fn each_policy_treats_the_next_inside_packet_as_documented() {
        for on in OnExpired::ALL {
            let mut n = nat(on);
            let public = open(&mut n);
            n.handle_timeout(Instant::from_secs(1200));
            let verdict = n.outbound(Instant::from_secs(1300), &seg(Flags::ACK));
            match (on, verdict) {
                (OnExpired::Drop, NatVerdict::Drop(NatDrop::NoMappingOutbound)) => {}
                (OnExpired::Rst, NatVerdict::Reset(rst)) => {
                    assert_eq!((rst.dst, rst.seq, rst.flags), (addr::CLIENT, 20, Flags::RST));
                }
                (OnExpired::NewPort, NatVerdict::Forward(s)) => assert_ne!(s.src.port(), public.port()),
                (OnExpired::Loose, NatVerdict::Forward(s)) => assert_eq!(s.src, public),
                (on, v) => panic!("{on:?}: {v:?}"),
            }
            // Outside packets to the old public address are dropped, except under
            // loose once the inside has re-created the mapping.
            let back = n.inbound(Instant::from_secs(1300), &Segment { flags: Flags::ACK, ..reply(public) });
            assert_eq!(matches!(back, NatVerdict::Forward(_)), on == OnExpired::Loose, "{on:?}");
        }
    }

    #[test]
    fn reboot_forgets_every_mapping() {
        let mut n = nat(OnExpired::Drop);
        open(&mut n);
        n.reboot();
        assert!(n.is_empty());
        assert_eq!(n.outbound(Instant::from_secs(1), &seg(Flags::ACK)), NatVerdict::Drop(NatDrop::NoMappingOutbound));
    }

    #[test]
    fn a_refresh_moves_the_deadline_and_poll_timeout_stays_exact() {
        let mut n = nat(OnExpired::Drop);
        let public = open(&mut n);
        // Traffic at 100 s and 700 s pushes the expiry to 700 + 1200 s.
        for t in [100, 700] {
            assert!(matches!(n.outbound(Instant::from_secs(t), &seg(Flags::ACK)), NatVerdict::Forward(_)));
        }
        assert_eq!(n.poll_timeout(), Some(Instant::from_secs(1900)));
        n.handle_timeout(Instant::from_secs(1899));
        assert_eq!((n.len(), n.expiries()), (1, 0));
        // An inbound packet (conntrack refreshes on both directions).
        let back = Segment { flags: Flags::ACK, ..reply(public) };
        assert!(matches!(n.inbound(Instant::from_secs(1800), &back), NatVerdict::Forward(_)));
        assert_eq!(n.poll_timeout(), Some(Instant::from_secs(3000)));
        n.handle_timeout(Instant::from_secs(3000));
        assert_eq!((n.len(), n.expiries()), (0, 1));
    }

    #[test]
    fn ten_thousand_flows_get_distinct_public_ports_and_expire_independently() {
        let mut n = nat(OnExpired::Rst);
        let mut ports = HashSet::default();
        for i in 0..10_000u32 {
            let src = SocketAddrV4::new(addr::client_ip(i / 10), addr::client_port(i % 10));
            let syn = Segment { src, flags: Flags::SYN, sender: i, ..seg(Flags::SYN) };
            // Flow i opens at i ms.
            let NatVerdict::Forward(out) = n.outbound(Instant::from_millis(u64::from(i)), &syn) else { panic!("flow {i}") };
            assert!(ports.insert(out.src.port()), "port {} reused by flow {i}", out.src.port());
            assert!(n.mapping(src, addr::SERVER).is_some_and(|m| m.owner == i));
        }
        assert_eq!((n.len(), ports.len()), (10_000, 10_000));
        // The first host's ten flows keep their own ports (40000..40009); the rest
        // are handed out from 1024 up.
        assert!((40_000..40_010).all(|p| ports.contains(&p)));
        // Not yet established: the transitory timeout (240 s) applies, flow by flow.
        n.handle_timeout(Instant::from_millis(240_000 + 4_999));
        assert_eq!(n.len(), 5_000);
        let mut owners = Vec::new();
        while let Some(ev) = n.poll_event() {
            if let NatEvent::Expired { mapping, .. } = ev {
                owners.push(mapping.owner);
            }
        }
        assert_eq!(owners, (0..5_000).collect::<Vec<u32>>(), "in creation order");
    }

    /// A pool of two addresses: a host's flows all leave from one, chosen
    /// by the host (client_ip(h) = 198.18.x.y: even addresses from the
    /// first, odd from the second); each address has its own 64 512 ports,
    /// and when they are all taken a new flow's SYN is dropped (it used to
    /// search for ever) while the other address still maps.
    #[test]
    fn a_pool_pairs_each_host_with_one_address_and_refuses_a_full_one() {
        let cfg = NatConfig { public_addresses: 2, ..NatConfig::new(Duration::from_secs(1200), OnExpired::Drop) };
        let mut n = Nat::new(cfg.clone(), Stream::new(9, Purpose::NatPorts));
        let first = addr::NAT_PUBLIC_IP;
        let second = Ipv4Addr::from(u32::from(first) + 1);
        assert!(cfg.owns(first) && cfg.owns(second) && !cfg.owns(Ipv4Addr::from(u32::from(first) + 2)));
        let syn = |host: u32, port: u16, sender: u32| Segment {
            src: SocketAddrV4::new(addr::client_ip(host), port),
            flags: Flags::SYN,
            sender,
            ..seg(Flags::SYN)
        };
        // 64 512 flows from hosts that pair with the first address (10 flows each).
        let even: Vec<u32> = (0..20_000).filter(|&h| cfg.address_for(addr::client_ip(h)) == first).take(6452).collect();
        let mut flows = 0;
        'fill: for &h in &even {
            for p in 0..10 {
                let NatVerdict::Forward(out) = n.outbound(Instant::ZERO, &syn(h, addr::client_port(p), flows)) else {
                    panic!("flow {flows}")
                };
                assert_eq!(*out.src.ip(), first);
                flows += 1;
                if u64::from(flows) == PORTS_PER_ADDRESS {
                    break 'fill;
                }
            }
        }
        assert_eq!(n.len() as u64, PORTS_PER_ADDRESS);
        // The next flow of such a host finds no port; a host of the other address does.
        let full = syn(even[even.len() - 1], addr::client_port(9), flows);
        assert_eq!(n.outbound(Instant::ZERO, &full), NatVerdict::Drop(NatDrop::NoFreePort));
        let odd = (0..100).find(|&h| cfg.address_for(addr::client_ip(h)) == second).unwrap();
        let NatVerdict::Forward(out) = n.outbound(Instant::ZERO, &syn(odd, addr::client_port(0), flows + 1)) else {
            panic!("the second address")
        };
        assert_eq!(out.src, SocketAddrV4::new(second, addr::client_port(0)));
        // An answer to the second address comes back in.
        let back = Segment { flags: Flags::SYN | Flags::ACK, ..reply(out.src) };
        assert!(matches!(n.inbound(Instant::ZERO, &back), NatVerdict::Forward(s) if *s.dst.ip() == addr::client_ip(odd)));
        // The first address's handshakes never finish: after the transitory
        // timeout its ports are free again (the answered flow, established by
        // the SYN-ACK, stays).
        n.handle_timeout(Instant::from_secs(240));
        assert_eq!(n.len(), 1);
        assert!(matches!(n.outbound(Instant::from_secs(240), &full), NatVerdict::Forward(_)));
    }

    /// 70 000 one-connection clients need two addresses (35 000 on the
    /// busiest); a NAT behind that one sees its two addresses as hosts of
    /// 35 000 each, so it needs two as well; behind a proxy, one host holds
    /// all 70 000. 7 hosts of 10 000 over 2 addresses: ceil(7/2) = 4 hosts,
    /// 40 000 on the busiest.
    #[test]
    fn the_busiest_address_carries_its_share_of_hosts() {
        let clients = InsideHosts { hosts: 70_000, per_host: 1 };
        assert_eq!((clients.fits(1), clients.fits(2), clients.per_address(2)), (false, true, 35_000));
        let behind = clients.behind_nat(2);
        assert_eq!(behind, InsideHosts { hosts: 2, per_host: 35_000 });
        assert_eq!((behind.fits(1), behind.fits(2), behind.fits(3)), (false, true, true));
        assert_eq!(clients.behind_proxy(), InsideHosts { hosts: 1, per_host: 70_000 });
        assert_eq!(InsideHosts { hosts: 7, per_host: 10_000 }.per_address(2), 40_000);
    }

    /// A hint is only a hint: offered the place of another flow, or of a
    /// flow since forgotten whose place a newer flow took, the NAT answers as
    /// it would with none. Flows A and B (ports 40000, 40001), 1200 s idle
    /// timeout, `rst`: B's packet offered A's place is B's; after A expires
    /// (B kept alive at 1000 s) and C takes A's place, A's next packet
    /// offered that place meets the NAT's RST instead of C's translation.
    #[test]
    fn a_wrong_or_stale_hint_gets_the_answer_of_no_hint() {
        let mut n = nat(OnExpired::Rst);
        let flow = |port: u16| Segment { src: SocketAddrV4::new(*addr::CLIENT.ip(), port), ..seg(Flags::ACK) };
        let syn = |port: u16| Segment { flags: Flags::SYN, ..flow(port) };
        let (a, b, c) = (40_000, 40_001, 40_002);
        let (_, slot_a) = n.outbound_hinted(Instant::ZERO, &syn(a), FlowSlot::NONE);
        let (_, slot_b) = n.outbound_hinted(Instant::ZERO, &syn(b), FlowSlot::NONE);
        assert_ne!(slot_a, slot_b);
        let (verdict, slot) = n.outbound_hinted(Instant::from_secs(1000), &flow(b), slot_a);
        assert_eq!((verdict, slot), (n.outbound(Instant::from_secs(1000), &flow(b)), slot_b));
        // A's handshake never finished: it goes at the 240 s transitory timeout.
        n.handle_timeout(Instant::from_secs(1100));
        assert_eq!(n.len(), 1);
        let (_, slot_c) = n.outbound_hinted(Instant::from_secs(1100), &syn(c), FlowSlot::NONE);
        assert_eq!(slot_c, slot_a, "C takes A's place");
        let (verdict, _) = n.outbound_hinted(Instant::from_secs(1100), &flow(a), slot_a);
        assert!(matches!(verdict, NatVerdict::Reset(rst) if rst.dst == flow(a).src), "{verdict:?}");
        // And inbound: an answer to C's public end offered B's place is C's.
        let public_c = n.mapping(flow(c).src, addr::SERVER).unwrap().public;
        let (verdict, slot) = n.inbound_hinted(Instant::from_secs(1100), &reply(public_c), slot_b);
        assert!(matches!(verdict, NatVerdict::Forward(s) if s.dst == flow(c).src), "{verdict:?}");
        assert_eq!(slot, slot_c);
    }

    /// Flows due at the same instant expire in the order they were created,
    /// whatever places they took: D is created after E but takes the lower
    /// place a forgotten flow left, and both are idle from 300 s.
    #[test]
    fn flows_due_together_expire_in_creation_order_whatever_their_places() {
        let mut n = nat(OnExpired::Drop);
        let syn = |port: u16| Segment { src: SocketAddrV4::new(*addr::CLIENT.ip(), port), flags: Flags::SYN, ..seg(Flags::SYN) };
        n.outbound(Instant::ZERO, &syn(40_000));
        n.outbound(Instant::ZERO, &syn(40_001));
        n.handle_timeout(Instant::from_secs(240));
        assert_eq!(n.len(), 0);
        // E then D at 300 s: two places were freed, D gets the one E did not.
        n.outbound(Instant::from_secs(300), &syn(40_005));
        n.outbound(Instant::from_secs(300), &syn(40_004));
        while n.poll_event().is_some() {}
        n.handle_timeout(Instant::from_secs(540));
        let order: Vec<u16> = std::iter::from_fn(|| n.poll_event())
            .filter_map(|e| match e {
                NatEvent::Expired { mapping, .. } => Some(mapping.inside.port()),
                _ => None,
            })
            .collect();
        assert_eq!(order, [40_005, 40_004]);
    }
}
