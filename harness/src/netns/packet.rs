//! Real IPv4 packets as the network models see them, and back.
//!
//! The link, NAT and oracle models speak [`Segment`]: addresses, ports, TCP
//! flags and sequence numbers. A real packet read from a namespace's TUN
//! device is parsed once (etherparse) into a [`Packet`]: its bytes and that
//! segment. When a model changes the addresses (the NAT), the bytes are
//! rewritten with both checksums recomputed, so the receiving kernel accepts
//! them; when a model answers with a segment of its own (a NAT's RST), a real
//! packet is built for it.

use etherparse::{IpNumber, Ipv4Header, TcpHeader, UdpHeader};
use sim::packet::{Flags, Segment, SegmentKind};
use std::net::{Ipv4Addr, SocketAddrV4};

/// A packet kasim carries: its real bytes and the segment the models see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The whole IPv4 packet, as written to the TUN device.
    pub bytes: Vec<u8>,
    /// Its addresses, ports, flags and sequence numbers (`kind` is set by
    /// whoever classifies it; `Data` until then).
    pub seg: Segment,
}

/// Why a packet is not carried.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotCarried {
    /// Not IPv4 (an IPv6 router solicitation a fresh interface sends, say).
    #[error("not an IPv4 packet (version {0})")]
    NotIpv4(u8),
    /// IPv4, but neither TCP nor UDP (ICMP, IGMP): the scenarios model neither.
    #[error("IP protocol {0} is neither TCP nor UDP")]
    Protocol(u8),
    /// A header that does not parse.
    #[error("malformed packet: {0}")]
    Malformed(String),
}

impl Packet {
    /// Parse a packet read from a TUN device (no packet-information prefix).
    pub fn parse(bytes: Vec<u8>) -> Result<Packet, NotCarried> {
        let version = bytes.first().map_or(0, |b| b >> 4);
        if version != 4 {
            return Err(NotCarried::NotIpv4(version));
        }
        let (ip, rest) = Ipv4Header::from_slice(&bytes).map_err(|e| NotCarried::Malformed(e.to_string()))?;
        let (src_ip, dst_ip) = (Ipv4Addr::from(ip.source), Ipv4Addr::from(ip.destination));
        let seg = match ip.protocol {
            IpNumber::TCP => {
                let (tcp, payload) = TcpHeader::from_slice(rest).map_err(|e| NotCarried::Malformed(e.to_string()))?;
                let mut flags = Flags::default();
                for (on, f) in
                    [(tcp.syn, Flags::SYN), (tcp.ack, Flags::ACK), (tcp.fin, Flags::FIN), (tcp.rst, Flags::RST), (tcp.psh, Flags::PSH)]
                {
                    if on {
                        flags = flags | f;
                    }
                }
                let (src, dst) = (SocketAddrV4::new(src_ip, tcp.source_port), SocketAddrV4::new(dst_ip, tcp.destination_port));
                let (seq, ack) = (u64::from(tcp.sequence_number), u64::from(tcp.acknowledgment_number));
                Segment { window: u32::from(tcp.window_size), ..Segment::tcp(src, dst, flags, seq, ack, payload.len() as u32) }
            }
            IpNumber::UDP => {
                let (udp, payload) = UdpHeader::from_slice(rest).map_err(|e| NotCarried::Malformed(e.to_string()))?;
                Segment::datagram(
                    SocketAddrV4::new(src_ip, udp.source_port),
                    SocketAddrV4::new(dst_ip, udp.destination_port),
                    payload.len() as u32,
                    SegmentKind::Data,
                )
            }
            other => return Err(NotCarried::Protocol(other.0)),
        };
        Ok(Packet { bytes, seg })
    }

    /// A UDP packet's payload (empty for TCP or a malformed packet).
    pub fn udp_payload(&self) -> &[u8] {
        if !self.seg.is_udp() {
            return &[];
        }
        let ihl = usize::from(self.bytes.first().map_or(0, |b| b & 0xf)) * 4;
        self.bytes.get(ihl + 8..).unwrap_or_default()
    }

    /// Give the packet new addresses and ports (a NAT's translation): its
    /// bytes are rewritten and both checksums recomputed.
    pub fn readdress(&mut self, src: SocketAddrV4, dst: SocketAddrV4) {
        if (src, dst) == (self.seg.src, self.seg.dst) {
            return;
        }
        let Ok((mut ip, rest)) = Ipv4Header::from_slice(&self.bytes) else { return };
        ip.source = src.ip().octets();
        ip.destination = dst.ip().octets();
        ip.header_checksum = ip.calc_header_checksum();
        let mut out = ip.to_bytes().to_vec();
        if self.seg.is_udp() {
            let Ok((mut udp, payload)) = UdpHeader::from_slice(rest) else { return };
            udp.source_port = src.port();
            udp.destination_port = dst.port();
            udp.checksum = udp.calc_checksum_ipv4(&ip, payload).unwrap_or(0);
            out.extend_from_slice(&udp.to_bytes());
            out.extend_from_slice(payload);
        } else {
            let Ok((mut tcp, payload)) = TcpHeader::from_slice(rest) else { return };
            tcp.source_port = src.port();
            tcp.destination_port = dst.port();
            tcp.checksum = tcp.calc_checksum_ipv4(&ip, payload).unwrap_or(0);
            out.extend_from_slice(&tcp.to_bytes());
            out.extend_from_slice(payload);
        }
        self.bytes = out;
        self.seg.src = src;
        self.seg.dst = dst;
    }

    /// A real packet for a segment the network itself sends (a NAT's RST):
    /// no options, no payload, TTL 64.
    pub fn made_by_network(seg: Segment) -> Packet {
        let mut tcp = TcpHeader::new(seg.src.port(), seg.dst.port(), seg.seq as u32, 0);
        tcp.acknowledgment_number = seg.ack as u32;
        tcp.rst = seg.flags.contains(Flags::RST);
        tcp.ack = seg.flags.contains(Flags::ACK);
        tcp.syn = seg.flags.contains(Flags::SYN);
        tcp.fin = seg.flags.contains(Flags::FIN);
        let mut ip = Ipv4Header::new(tcp.header_len() as u16, 64, IpNumber::TCP, seg.src.ip().octets(), seg.dst.ip().octets())
            .expect("a bare TCP header fits an IPv4 packet");
        ip.dont_fragment = true;
        ip.header_checksum = ip.calc_header_checksum();
        tcp.checksum = tcp.calc_checksum_ipv4(&ip, &[]).expect("no payload");
        let mut bytes = ip.to_bytes().to_vec();
        bytes.extend_from_slice(&tcp.to_bytes());
        Packet { bytes, seg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN as Linux sends it, built with etherparse: client 198.18.0.2:40000 to
    /// the server 203.0.113.10:8000, with an MSS option.
    fn syn() -> Vec<u8> {
        let mut tcp = TcpHeader::new(40000, 8000, 1000, 64240);
        tcp.syn = true;
        tcp.set_options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)]).unwrap();
        let mut ip = Ipv4Header::new(tcp.header_len() as u16 + 5, 64, IpNumber::TCP, [198, 18, 0, 2], [203, 0, 113, 10]).unwrap();
        ip.header_checksum = ip.calc_header_checksum();
        tcp.checksum = tcp.calc_checksum_ipv4(&ip, b"hello").unwrap();
        let mut b = ip.to_bytes().to_vec();
        b.extend_from_slice(&tcp.to_bytes());
        b.extend_from_slice(b"hello");
        b
    }

    /// The one's-complement sum over `bytes` (RFC 1071): 0xffff over a header
    /// and its checksum means the checksum is right.
    fn ones_sum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// The TCP checksum verified over the pseudo-header (RFC 793): it sums to 0xffff.
    fn tcp_checksum_ok(bytes: &[u8]) -> bool {
        let ihl = usize::from(bytes[0] & 0xf) * 4;
        let tcp = &bytes[ihl..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&bytes[12..20]);
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(tcp);
        ones_sum(&pseudo) == 0xffff
    }

    #[test]
    fn a_tcp_packet_becomes_its_segment() {
        let p = Packet::parse(syn()).unwrap();
        assert_eq!(p.seg.src, "198.18.0.2:40000".parse().unwrap());
        assert_eq!(p.seg.dst, "203.0.113.10:8000".parse().unwrap());
        assert_eq!((p.seg.seq, p.seg.len, p.seg.flags), (1000, 5, Flags::SYN));
        assert!(!p.seg.is_udp());
    }

    #[test]
    fn a_translated_packet_keeps_valid_checksums() {
        let mut p = Packet::parse(syn()).unwrap();
        assert!(tcp_checksum_ok(&p.bytes), "the test's own packet is valid");
        p.readdress("198.51.100.1:1024".parse().unwrap(), p.seg.dst);
        assert_eq!(&p.bytes[12..16], &[198, 51, 100, 1]);
        assert_eq!(ones_sum(&p.bytes[..20]), 0xffff, "IPv4 header checksum");
        assert!(tcp_checksum_ok(&p.bytes), "TCP checksum over the new pseudo-header");
        // Options and payload survive: same length, same last bytes.
        assert_eq!(p.bytes.len(), syn().len());
        assert!(p.bytes.ends_with(b"hello"));
        let again = Packet::parse(p.bytes.clone()).unwrap();
        assert_eq!(again.seg.src.port(), 1024);
    }

    #[test]
    fn a_nat_reset_is_a_valid_packet() {
        let seg = Packet::parse(syn()).unwrap().seg;
        // The RST a NAT answers a mid-stream packet with, as the model makes it.
        let mid = Segment { flags: Flags::ACK, ack: 777, ..seg };
        let rst = mid.reset_reply().unwrap();
        let p = Packet::made_by_network(rst);
        assert_eq!(p.bytes.len(), 40);
        assert!(tcp_checksum_ok(&p.bytes));
        let back = Packet::parse(p.bytes).unwrap().seg;
        assert_eq!((back.src, back.dst, back.seq, back.flags), (mid.dst, mid.src, 777, Flags::RST));
    }

    #[test]
    fn other_protocols_are_named() {
        assert_eq!(Packet::parse(vec![0x60, 0, 0, 0]), Err(NotCarried::NotIpv4(6)));
        let mut icmp = Ipv4Header::new(8, 64, IpNumber::ICMP, [1, 2, 3, 4], [5, 6, 7, 8]).unwrap().to_bytes().to_vec();
        icmp.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Packet::parse(icmp), Err(NotCarried::Protocol(1)));
    }
}
