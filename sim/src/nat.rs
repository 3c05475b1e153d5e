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
//! The NAT is sans-IO: it translates the packets handed to it and reports
//! its next expiry through [`Nat::poll_timeout`].

use crate::error::{positive, ConfigError};
use crate::packet::{Flags, Segment};
use crate::rng::Stream;
use crate::time::Instant;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// What happens to a flow's packets once its mapping expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnExpired {
    Drop,
    Rst,
    NewPort,
    Loose,
}

impl OnExpired {
    pub const ALL: [OnExpired; 4] = [OnExpired::Drop, OnExpired::Rst, OnExpired::NewPort, OnExpired::Loose];

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

#[derive(Clone, Debug, PartialEq)]
pub struct NatConfig {
    /// Idle timeout of an established flow.
    pub idle_timeout: Duration,
    /// Idle timeout during the handshake and after FIN or RST (RFC 5382: ≥ 4 min).
    pub transitory_timeout: Duration,
    pub on_expired: OnExpired,
    /// Whether packets from outside refresh the mapping (Linux conntrack: yes).
    pub refresh_on_inbound: bool,
    pub public_ip: Ipv4Addr,
}

impl NatConfig {
    pub fn new(idle_timeout: Duration, on_expired: OnExpired) -> Self {
        NatConfig {
            idle_timeout,
            transitory_timeout: Duration::from_secs(240),
            on_expired,
            refresh_on_inbound: true,
            public_ip: crate::packet::addr::NAT_PUBLIC_IP,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("nat.idle_timeout", self.idle_timeout)?;
        positive("nat.transitory_timeout", self.transitory_timeout)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub inside: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub public: SocketAddrV4,
    pub last_activity: Instant,
    pub established: bool,
    pub closing: bool,
}

impl Mapping {
    fn deadline(&self, cfg: &NatConfig) -> Instant {
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
}

/// What to do with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatVerdict {
    Forward(Segment),
    Drop(NatDrop),
    /// Drop it and send this RST back to the inside host (policy `rst`).
    Reset(Segment),
}

/// Things the NAT did that a trace and the oracle care about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatEvent {
    Created { mapping: Mapping, recreated: bool },
    Expired { mapping: Mapping, idle: Duration },
    Rebooted { lost: usize },
}

#[derive(Clone, Debug)]
pub struct Nat {
    cfg: NatConfig,
    mappings: Vec<Mapping>,
    /// Public ports of flows whose mapping expired (for `loose` re-pickup).
    forgotten: Vec<Mapping>,
    events: VecDeque<NatEvent>,
    rng: Stream,
    expiries: u64,
}

impl Nat {
    pub fn new(cfg: NatConfig, rng: Stream) -> Self {
        Nat { cfg, mappings: Vec::new(), forgotten: Vec::new(), events: VecDeque::new(), rng, expiries: 0 }
    }

    pub fn config(&self) -> &NatConfig {
        &self.cfg
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// Mappings of live flows lost to idleness so far (a flow that had
    /// already sent FIN or RST is closing, and its expiry loses nothing).
    pub fn expiries(&self) -> u64 {
        self.expiries
    }

    pub fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }

    /// When the next mapping expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.mappings.iter().map(|m| m.deadline(&self.cfg)).min()
    }

    /// Expire every mapping idle for its timeout at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let cfg = &self.cfg;
        let mut i = 0;
        while i < self.mappings.len() {
            let m = self.mappings[i];
            if m.deadline(cfg) <= now {
                self.mappings.swap_remove(i);
                if !m.closing {
                    self.expiries += 1;
                }
                self.events.push_back(NatEvent::Expired { mapping: m, idle: now - m.last_activity });
                self.forgotten.push(m);
            } else {
                i += 1;
            }
        }
    }

    /// Lose every mapping at once.
    pub fn reboot(&mut self) {
        let lost = self.mappings.len();
        self.forgotten.append(&mut self.mappings);
        self.events.push_back(NatEvent::Rebooted { lost });
    }

    /// A packet from the inside host toward `seg.dst`.
    pub fn outbound(&mut self, now: Instant, seg: &Segment) -> NatVerdict {
        let idx = match self.mappings.iter().position(|m| m.inside == seg.src && m.remote == seg.dst) {
            Some(i) => i,
            None => {
                let is_syn = seg.flags.contains(Flags::SYN) && !seg.flags.contains(Flags::ACK);
                if !is_syn {
                    match self.cfg.on_expired {
                        OnExpired::Drop => return NatVerdict::Drop(NatDrop::NoMappingOutbound),
                        OnExpired::Rst => return seg.reset_reply().map_or(NatVerdict::Drop(NatDrop::NoMappingOutbound), NatVerdict::Reset),
                        OnExpired::NewPort | OnExpired::Loose => {}
                    }
                }
                self.create(now, seg, !is_syn)
            }
        };
        let m = &mut self.mappings[idx];
        m.last_activity = now;
        if seg.flags.contains(Flags::FIN) || seg.flags.contains(Flags::RST) {
            m.closing = true;
        }
        NatVerdict::Forward(Segment { src: m.public, ..*seg })
    }

    /// A packet from outside toward the NAT's public address.
    pub fn inbound(&mut self, now: Instant, seg: &Segment) -> NatVerdict {
        let refresh = self.cfg.refresh_on_inbound;
        let Some(m) = self.mappings.iter_mut().find(|m| m.public == seg.dst && m.remote == seg.src) else {
            return NatVerdict::Drop(NatDrop::NoMappingInbound);
        };
        if refresh {
            m.last_activity = now;
        }
        if !seg.flags.contains(Flags::SYN) || seg.flags.contains(Flags::ACK) {
            m.established = true;
        }
        if seg.flags.contains(Flags::FIN) || seg.flags.contains(Flags::RST) {
            m.closing = true;
        }
        NatVerdict::Forward(Segment { dst: m.inside, ..*seg })
    }

    fn create(&mut self, now: Instant, seg: &Segment, mid_stream: bool) -> usize {
        let previous = self.forgotten.iter().rposition(|m| m.inside == seg.src && m.remote == seg.dst).map(|i| self.forgotten.remove(i));
        let port = match (self.cfg.on_expired, previous) {
            (OnExpired::Loose, Some(p)) => p.public.port(),
            (OnExpired::NewPort, prev) => loop {
                let p = self.rng.range_u16(1024, u16::MAX);
                if prev.is_none_or(|m| m.public.port() != p) {
                    break p;
                }
            },
            _ => seg.src.port(),
        };
        let mapping = Mapping {
            inside: seg.src,
            remote: seg.dst,
            public: SocketAddrV4::new(self.cfg.public_ip, port),
            last_activity: now,
            // A mid-stream re-pickup is treated as established at once (conntrack
            // picks up with the established timeout).
            established: mid_stream,
            closing: false,
        };
        self.events.push_back(NatEvent::Created { mapping, recreated: mid_stream });
        self.mappings.push(mapping);
        self.mappings.len() - 1
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
        assert_eq!(n.mappings().len(), 1);
        n.handle_timeout(Instant::from_secs(1200));
        assert_eq!(n.expiries(), 1);
        assert!(n.mappings().is_empty());
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
        assert!(n.mappings().is_empty());
        assert_eq!(n.outbound(Instant::from_secs(1), &seg(Flags::ACK)), NatVerdict::Drop(NatDrop::NoMappingOutbound));
    }
}
