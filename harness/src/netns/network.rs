//! The network between the real hosts, as a sans-IO state machine.
//!
//! This is the event engine's packet path with real packets in it: each
//! host's access link (rate, delay, queue, loss, outages: [`LinkDir`]), then
//! the NATs ([`Nat`], a chain of any number, in the event engine's order)
//! for packets between clients and the server (or the proxy after them),
//! then the destination's link. The models are the event engine's own, unchanged,
//! with their random streams drawn from the same seed and purpose, so a
//! scenario's network behaves alike on both engines; only the endpoints are
//! real.
//!
//! Like the models inside it, it reads no clock: the caller feeds each packet
//! read from a host with the instant it was read
//! ([`from_host`](Network::from_host)), asks for the next instant anything is
//! due ([`poll_timeout`](Network::poll_timeout)), advances it
//! ([`handle_timeout`](Network::handle_timeout)), and takes the packets due
//! out ([`poll_delivery`](Network::poll_delivery)) to write into their
//! hosts, each with the instant the model meant it to arrive, so the caller
//! can measure how late the real write was. What the judge needs to know
//! (translations, expiries, losses) comes out of
//! [`poll_note`](Network::poll_note).

use super::packet::Packet;
use sim::link::{LinkConfig, LinkDir, LinkDrop, Offer, Outage};
use sim::nat::{Nat, NatConfig, NatEvent, NatVerdict};
use sim::packet::Segment;
use sim::rng::{Purpose, Stream};
use sim::world::AccessLink;
use sim::Instant;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::Ipv4Addr;

const UP: usize = 0;
const DOWN: usize = 1;

/// A packet due to be written into a host.
#[derive(Debug)]
pub struct Delivery {
    /// The host (clients `0..n`, then the server).
    pub host: usize,
    /// The packet, translated.
    pub packet: Packet,
    /// When the model has it arrive: the write is late by the time after this.
    pub due: Instant,
}

/// What the network did that the judge needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// NAT `nat` (0 = the clients') translated a packet from a client
    /// (`before` → `after`): how each later box's, and the server's, side of
    /// a connection is found.
    Translated {
        /// Which NAT of the chain.
        nat: usize,
        /// As the client sent it.
        before: Segment,
        /// As it left the NAT.
        after: Segment,
    },
    /// Something NAT `usize` did (a mapping made, expired, lost; a reboot).
    Nat(usize, NatEvent),
    /// NAT `usize` dropped a packet from a client and answered it with this RST.
    NatReset(usize, Segment),
    /// A host's link lost a packet at random (evidence for the oracle).
    Lost {
        /// The host whose link lost it.
        host: usize,
        /// When.
        at: Instant,
    },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Hop {
    /// Leaves host `from`'s uplink into the middle (the NAT).
    Middle { from: usize },
    /// Arrives at host `to`.
    Host { to: usize },
}

struct InFlight {
    at: Instant,
    order: u64,
    hop: Hop,
    packet: Packet,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Clients `0..clients` behind an optional NAT, a server, and optionally a
/// proxy after it (host `clients + 1`).
pub struct Network {
    links: Vec<[LinkDir; 2]>,
    addrs: Vec<Ipv4Addr>,
    clients: usize,
    /// The NATs, from the clients' side.
    nats: Vec<Nat>,
    powered: Vec<bool>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    out: VecDeque<Delivery>,
    notes: VecDeque<Note>,
}

impl Network {
    /// `clients` hosts at the event engine's client addresses and the server
    /// at `server`, their links as the scenario says, each link's random
    /// losses and the NAT's port choices drawn from `seed` exactly as the
    /// event engine draws them. With `proxy` at an address, a proxy host
    /// too, on the event engine's proxy link (no rate limit, no delay): the
    /// clients then dial the proxy, and it the server.
    pub fn new(
        seed: u64,
        clients: u32,
        client_link: &AccessLink,
        server: Ipv4Addr,
        server_link: &AccessLink,
        nats: Vec<NatConfig>,
        proxy: Option<Ipv4Addr>,
    ) -> Network {
        let mut links = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..clients {
            links.push([
                LinkDir::new(client_link.up.clone(), Stream::for_host(seed, Purpose::ClientUpLoss, i)),
                LinkDir::new(client_link.down.clone(), Stream::for_host(seed, Purpose::ClientDownLoss, i)),
            ]);
            addrs.push(sim::packet::addr::client_ip(i));
        }
        links.push([
            LinkDir::new(server_link.up.clone(), Stream::new(seed, Purpose::ServerUpLoss)),
            LinkDir::new(server_link.down.clone(), Stream::new(seed, Purpose::ServerDownLoss)),
        ]);
        addrs.push(server);
        if let Some(proxy) = proxy {
            links.push([
                LinkDir::new(LinkConfig::default(), Stream::new(seed, Purpose::ProxyUpLoss)),
                LinkDir::new(LinkConfig::default(), Stream::new(seed, Purpose::ProxyDownLoss)),
            ]);
            addrs.push(proxy);
        }
        let hosts = links.len();
        Network {
            links,
            addrs,
            clients: clients as usize,
            // NAT k draws its ports as the event engine's NAT k does.
            nats: nats.into_iter().enumerate().map(|(k, n)| Nat::new(n, Stream::for_host(seed, Purpose::NatPorts, k as u32))).collect(),
            powered: vec![true; hosts],
            in_flight: BinaryHeap::new(),
            order: 0,
            out: VecDeque::new(),
            notes: VecDeque::new(),
        }
    }

    /// The server's host number (after the clients).
    pub fn server(&self) -> usize {
        self.clients
    }

    /// The proxy's host number (after the server), if there is one.
    pub fn proxy(&self) -> Option<usize> {
        (self.addrs.len() > self.clients + 1).then_some(self.clients + 1)
    }

    /// Host `host`'s address.
    pub fn addr(&self, host: usize) -> Ipv4Addr {
        self.addrs[host]
    }

    /// Host `host`'s access link passes nothing during `outage` (both ways).
    pub fn add_outage(&mut self, host: usize, outage: Outage) {
        for dir in &mut self.links[host] {
            dir.add_outage(outage);
        }
    }

    /// Power host `host` off (`false`: nothing it sends leaves, nothing
    /// reaches it) or on again.
    pub fn set_powered(&mut self, host: usize, on: bool) {
        self.powered[host] = on;
    }

    /// NAT `k` forgets every mapping.
    pub fn reboot_nat(&mut self, k: usize) {
        if let Some(nat) = self.nats.get_mut(k) {
            nat.reboot();
            self.nat_events(k);
        }
    }

    fn nat_events(&mut self, k: usize) {
        while let Some(e) = self.nats[k].poll_event() {
            self.notes.push_back(Note::Nat(k, e));
        }
    }

    /// The earliest NAT deadline, and whose.
    fn nat_due(&mut self) -> Option<(Instant, usize)> {
        self.nats.iter_mut().enumerate().filter_map(|(k, n)| n.poll_timeout().map(|t| (t, k))).min()
    }

    /// A packet host `host` sent, read at `now`.
    pub fn from_host(&mut self, now: Instant, host: usize, packet: Packet) {
        if self.powered[host] {
            self.offer(now, host, UP, Hop::Middle { from: host }, packet);
        }
    }

    fn offer(&mut self, now: Instant, host: usize, dir: usize, hop: Hop, packet: Packet) {
        match self.links[host][dir].offer(now, packet.bytes.len() as u32) {
            Offer::Arrives { at, .. } => {
                self.order += 1;
                self.in_flight.push(Reverse(InFlight { at, order: self.order, hop, packet }));
            }
            Offer::Dropped(LinkDrop::RandomLoss) => self.notes.push_back(Note::Lost { host, at: now }),
            Offer::Dropped(_) => {}
        }
    }

    /// The next instant something is due: a packet at the middle or at a
    /// host, or a NAT mapping's expiry.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let packet = self.in_flight.peek().map(|Reverse(p)| p.at);
        let nat = self.nat_due().map(|(t, _)| t);
        match (packet, nat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Carry out everything due at or before `now`, in the models' order:
    /// at one instant, NAT expiries before packets.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let nat_due = self.nat_due().filter(|&(t, _)| t <= now);
            let packet_due = self.in_flight.peek().map(|Reverse(p)| p.at).filter(|&t| t <= now);
            match (nat_due, packet_due) {
                (Some((t, k)), p) if p.is_none_or(|p| t <= p) => {
                    self.nats[k].handle_timeout(t);
                    self.nat_events(k);
                }
                (_, Some(_)) => {
                    let Some(Reverse(p)) = self.in_flight.pop() else { break };
                    self.arrive(p);
                }
                _ => break,
            }
        }
    }

    fn arrive(&mut self, p: InFlight) {
        let InFlight { at, hop, packet, .. } = p;
        match hop {
            Hop::Host { to } => {
                if self.powered[to] {
                    self.out.push_back(Delivery { host: to, packet, due: at });
                }
            }
            Hop::Middle { from } if from < self.clients => self.outward(at, from, 0..self.nats.len(), packet),
            // The server's, or the proxy's toward the clients (the proxy stands after every NAT).
            Hop::Middle { .. } => self.inward(at, 0..self.nats.len(), packet),
        }
    }

    /// Through NATs `boxes` in order, each mapping the packet's source; then
    /// to its destination. A NAT's RST goes back through the NATs before it
    /// to the sender, as in the event engine.
    fn outward(&mut self, at: Instant, from: usize, boxes: std::ops::Range<usize>, mut packet: Packet) {
        let first = boxes.start;
        for k in boxes {
            let seg = packet.seg;
            let verdict = self.nats[k].outbound(at, &seg);
            self.nat_events(k);
            match verdict {
                NatVerdict::Forward(after) => {
                    self.notes.push_back(Note::Translated { nat: k, before: seg, after });
                    packet.readdress(after.src, after.dst);
                }
                NatVerdict::Drop(_) => return,
                NatVerdict::Reset(rst) => {
                    self.notes.push_back(Note::NatReset(k, rst));
                    let rst = Packet::made_by_network(rst);
                    if k == first {
                        return self.offer(at, from, DOWN, Hop::Host { to: from }, rst);
                    }
                    return self.inward(at, first..k, rst);
                }
            }
        }
        self.route(at, packet);
    }

    /// Through NATs `boxes` from the last, each translating what is
    /// addressed to its public address back to the inside; then to its
    /// destination.
    fn inward(&mut self, at: Instant, boxes: std::ops::Range<usize>, mut packet: Packet) {
        for k in boxes.rev() {
            let seg = packet.seg;
            if !self.nats[k].config().owns(*seg.dst.ip()) {
                continue;
            }
            let verdict = self.nats[k].inbound(at, &seg);
            self.nat_events(k);
            match verdict {
                NatVerdict::Forward(after) => packet.readdress(after.src, after.dst),
                NatVerdict::Drop(_) | NatVerdict::Reset(_) => return,
            }
        }
        self.route(at, packet);
    }

    fn route(&mut self, at: Instant, packet: Packet) {
        if let Some(to) = self.addrs.iter().position(|a| a == packet.seg.dst.ip()) {
            self.offer(at, to, DOWN, Hop::Host { to }, packet);
        }
    }

    /// The next packet due to be written into its host.
    pub fn poll_delivery(&mut self) -> Option<Delivery> {
        self.out.pop_front()
    }

    /// The next thing the judge should know.
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// The link settings of host `host` in direction up (`false`) or down (`true`).
    pub fn link(&self, host: usize, down: bool) -> &LinkConfig {
        self.links[host][usize::from(down)].config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::nat::OnExpired;
    use sim::packet::{addr, Flags};
    use std::time::Duration;

    fn tcp(src: &str, dst: &str, flags: Flags) -> Packet {
        Packet::made_by_network(Segment::tcp(src.parse().unwrap(), dst.parse().unwrap(), flags, 0, 0, 0))
    }

    fn dialup_path(nat: Option<NatConfig>) -> Network {
        let link = AccessLink {
            up: LinkConfig { rate_bps: 56_000, delay: Duration::from_millis(100), ..LinkConfig::default() },
            down: LinkConfig { rate_bps: 56_000, delay: Duration::from_millis(100), ..LinkConfig::default() },
        };
        Network::new(1, 1, &link, *addr::SERVER.ip(), &AccessLink::default(), nat.into_iter().collect(), None)
    }

    #[test]
    fn a_packet_takes_the_links_time_to_arrive() {
        let mut net = dialup_path(None);
        net.from_host(Instant::ZERO, 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::SYN));
        // 40 B + 14 B framing = 432 bits at 56 kbit/s = 7.714286 ms (rounded up), plus 100 ms;
        // the server's link is 1 Gbit/s with no delay: 54 B = 432 ns more.
        let middle = Instant::from_nanos(7_714_286 + 100_000_000);
        assert_eq!(net.poll_timeout(), Some(middle));
        net.handle_timeout(middle);
        assert!(net.poll_delivery().is_none());
        let due = middle + Duration::from_nanos(432);
        assert_eq!(net.poll_timeout(), Some(due));
        net.handle_timeout(due);
        let d = net.poll_delivery().unwrap();
        assert_eq!((d.host, d.due), (1, due));
    }

    #[test]
    fn the_nat_translates_and_answers_a_forgotten_flow_with_a_real_rst() {
        let nat = NatConfig::new(Duration::from_secs(5), OnExpired::Rst);
        let mut net = Network::new(1, 1, &AccessLink::default(), *addr::SERVER.ip(), &AccessLink::default(), vec![nat], None);
        let t0 = Instant::ZERO;
        net.from_host(t0, 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::SYN));
        net.handle_timeout(Instant::from_millis(1));
        let d = net.poll_delivery().unwrap();
        assert_eq!(d.packet.seg.src, std::net::SocketAddrV4::new(addr::NAT_PUBLIC_IP, 40000));
        assert_eq!(Packet::parse(d.packet.bytes.clone()).unwrap().seg.src.ip(), &addr::NAT_PUBLIC_IP, "bytes rewritten");
        // The server's SYN-ACK makes the mapping established; then silence past the 5 s idle timeout.
        net.from_host(Instant::from_millis(2), 1, tcp("203.0.113.10:8000", "198.51.100.1:40000", Flags::SYN | Flags::ACK));
        net.handle_timeout(Instant::from_millis(3));
        assert_eq!(net.poll_delivery().unwrap().packet.seg.dst, addr::CLIENT, "translated back to the inside");
        net.handle_timeout(Instant::from_secs(6));
        assert!(std::iter::from_fn(|| net.poll_note()).any(|n| matches!(n, Note::Nat(0, NatEvent::Expired { .. }))));
        // A mid-stream packet from the client now meets the NAT's RST, a real packet back to the client.
        net.from_host(Instant::from_secs(7), 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::ACK));
        net.handle_timeout(Instant::from_secs(8));
        let rst = net.poll_delivery().unwrap();
        assert_eq!(rst.host, 0);
        let parsed = Packet::parse(rst.packet.bytes).unwrap().seg;
        assert!(parsed.flags.contains(Flags::RST));
        assert_eq!(parsed.src, addr::SERVER);
    }

    #[test]
    fn a_powered_off_host_neither_sends_nor_receives() {
        let mut net = dialup_path(None);
        net.set_powered(1, false);
        net.from_host(Instant::ZERO, 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::SYN));
        net.from_host(Instant::ZERO, 1, tcp("203.0.113.10:8000", "198.18.0.2:40000", Flags::SYN));
        net.handle_timeout(Instant::from_secs(1));
        assert!(net.poll_delivery().is_none());
        assert_eq!(net.poll_timeout(), None);
    }

    #[test]
    fn an_outage_drops_what_crosses_it() {
        let mut net = dialup_path(None);
        net.add_outage(0, Outage::new(Instant::from_secs(1), Duration::from_secs(2)));
        net.from_host(Instant::from_millis(1500), 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::ACK));
        net.from_host(Instant::from_secs(3), 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::ACK));
        net.handle_timeout(Instant::from_secs(4));
        let d = net.poll_delivery().unwrap();
        assert!(d.due > Instant::from_secs(3), "only the packet after the outage");
        assert!(net.poll_delivery().is_none());
    }

    /// A chain: a client's SYN is translated by each NAT in turn (its source
    /// becomes the first NAT's public address, then the second's), and the
    /// server's answer comes back through both, to the client's own tuple.
    #[test]
    fn a_chain_translates_through_each_nat_and_back() {
        let carrier = NatConfig::new(Duration::from_secs(3), OnExpired::Drop);
        let lb =
            NatConfig { public_ip: std::net::Ipv4Addr::new(198, 51, 100, 2), ..NatConfig::new(Duration::from_secs(1), OnExpired::Rst) };
        let mut net = Network::new(1, 1, &AccessLink::default(), *addr::SERVER.ip(), &AccessLink::default(), vec![carrier, lb], None);
        net.from_host(Instant::ZERO, 0, tcp("198.18.0.2:40000", "203.0.113.10:8000", Flags::SYN));
        net.handle_timeout(Instant::from_millis(1));
        let d = net.poll_delivery().unwrap();
        assert_eq!((d.host, *d.packet.seg.src.ip()), (1, std::net::Ipv4Addr::new(198, 51, 100, 2)));
        let hops: Vec<usize> = std::iter::from_fn(|| net.poll_note())
            .filter_map(|n| match n {
                Note::Translated { nat, .. } => Some(nat),
                _ => None,
            })
            .collect();
        assert_eq!(hops, [0, 1]);
        let back = Segment { src: d.packet.seg.dst, dst: d.packet.seg.src, flags: Flags::SYN | Flags::ACK, ..d.packet.seg };
        net.from_host(Instant::from_millis(2), 1, Packet::made_by_network(back));
        net.handle_timeout(Instant::from_millis(3));
        let d = net.poll_delivery().unwrap();
        assert_eq!((d.host, d.packet.seg.dst), (0, addr::CLIENT));
    }
}
