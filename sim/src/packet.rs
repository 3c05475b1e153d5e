//! What travels on the simulated wire: TCP/IPv4 segments without payload
//! bytes, and UDP datagrams with theirs.
//!
//! A TCP segment carries everything the timing model and a pcap export need
//! (addresses, ports, sequence and acknowledgement numbers, flags, payload
//! length) but not the payload itself: the application's bytes are accounted
//! for by length, and message boundaries are kept by the world's ledger.
//! Sequence numbers are 64-bit and never wrap inside the simulator; the wire
//! value is the low 32 bits.
//!
//! A UDP datagram (QUIC) is the same record with [`Proto::Udp`]: its bytes
//! are real (quinn-proto encrypts and parses them), so the world keeps them
//! in a side table the datagram names by [`Segment::payload`], and the record
//! stays small and `Copy` on its way through links, the NAT and traces.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

/// IPv4 (20) + TCP (20) + the timestamps option (12, on by default in Linux).
pub const HEADER_BYTES: u32 = 52;
/// A SYN carries MSS, timestamps and window-scale options, and two bytes for
/// SACK-permitted as Linux's does (the model has no SACK, so a pcap writes NOPs there).
pub const SYN_HEADER_BYTES: u32 = 60;
/// Ethernet header as a qdisc (tbf) on a veth counts it.
pub const DEFAULT_FRAMING_BYTES: u32 = 14;
/// IPv4 (20) + UDP (8).
pub const UDP_HEADER_BYTES: u32 = 28;
/// MTU 1500 minus [`HEADER_BYTES`].
pub const DEFAULT_MSS: u32 = 1448;

/// TCP flags as on the wire (low byte of the flags field).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// No more data from the sender; takes one sequence number.
    pub const FIN: Flags = Flags(0x01);
    /// Synchronise sequence numbers (the handshake); takes one sequence number.
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// Push: set on the segment that carries the last byte written so far.
    pub const PSH: Flags = Flags(0x08);
    /// The acknowledgement number is valid.
    pub const ACK: Flags = Flags(0x10);

    /// Are all of `other`'s flags set here?
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both sets of flags (also `self | other`).
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(Flags::SYN, "SYN"), (Flags::FIN, "FIN"), (Flags::RST, "RST"), (Flags::PSH, "PSH"), (Flags::ACK, "ACK")];
        let mut first = true;
        for (flag, name) in names {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// Why a segment was sent: for timelines, pcap comments and tests. Not on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Handshake (SYN, SYN-ACK, or the final ACK).
    Handshake,
    /// New data (or FIN) sent for the first time.
    Data,
    /// A pure acknowledgement.
    Ack,
    /// Data sent again after a retransmission timeout or three duplicate ACKs.
    Retransmit,
    /// Tail-loss probe.
    LossProbe,
    /// Keepalive probe: no data, sequence number one below `snd_una`.
    KeepaliveProbe,
    /// The ACK that answers a keepalive probe (what Wireshark calls "Keep-Alive ACK").
    KeepaliveAck,
    /// Reset sent by an endpoint, a stack without the connection, or a NAT
    /// (for QUIC: a stateless reset).
    Reset,
    /// QUIC only: a packet of the transport's own upkeep (an MTU probe, a
    /// loss-recovery probe, connection IDs, flow-control credit, path
    /// validation, CONNECTION_CLOSE).
    Control,
}

impl SegmentKind {
    /// How many kinds there are (for tables indexed by `kind as usize`).
    pub const COUNT: usize = 9;
}

/// The transport protocol of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Proto {
    /// A TCP segment (the default): no payload bytes, only a length.
    #[default]
    Tcp,
    /// A UDP datagram (QUIC, a tunnel) whose bytes the world keeps.
    Udp,
}

/// One TCP segment (or, with [`Proto::Udp`], one UDP datagram) inside an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Source address and port (rewritten to the public one by a NAT on the way out).
    pub src: SocketAddrV4,
    /// Destination address and port (rewritten to the inside one by a NAT on the way in).
    pub dst: SocketAddrV4,
    /// Sequence number of its first byte (or of the SYN/FIN), 64-bit and
    /// never wrapping; the wire carries the low 32 bits.
    pub seq: u64,
    /// Acknowledgement number (next byte expected), meaningful when `flags`
    /// has ACK; 64-bit like `seq`.
    pub ack: u64,
    /// TCP flags.
    pub flags: Flags,
    /// Payload bytes (SYN and FIN take a sequence number but no payload).
    pub len: u32,
    /// Receive window the sender advertises, in bytes (unscaled).
    pub window: u32,
    /// Timestamps option (RFC 7323): the sender's clock when sent, and the
    /// peer's value it echoes. Nanoseconds of the sender's local clock here;
    /// milliseconds on the wire.
    pub tsval: u64,
    /// The peer's `tsval` this segment echoes (`TS.Recent`), in the peer's
    /// clock's nanoseconds.
    pub tsecr: u64,
    /// Why it was sent (not on the wire).
    pub kind: SegmentKind,
    /// The connection that sent it, for the world's bookkeeping (not on the
    /// wire): [`Segment::NO_SENDER`] until the world stamps it, and on a RST
    /// made by a NAT or by a stack without the connection.
    pub sender: u32,
    /// TCP, or UDP (a datagram: `len` is its payload, the other TCP fields are zero).
    pub proto: Proto,
    /// A datagram's bytes in the world's table ([`Segment::NO_PAYLOAD`] for TCP).
    pub payload: u32,
}

impl Segment {
    /// The `sender` of a segment no connection sent.
    pub const NO_SENDER: u32 = u32::MAX;
    /// The `payload` of a TCP segment.
    pub const NO_PAYLOAD: u32 = u32::MAX;

    /// A TCP segment of `len` payload bytes with these flags and sequence
    /// numbers, as a network box sees it: no window, no timestamps, sent by
    /// no connection of the world (set the fields a sender knows after).
    pub fn tcp(src: SocketAddrV4, dst: SocketAddrV4, flags: Flags, seq: u64, ack: u64, len: u32) -> Segment {
        Segment {
            src,
            dst,
            seq,
            ack,
            flags,
            len,
            window: 0,
            tsval: 0,
            tsecr: 0,
            kind: SegmentKind::Data,
            sender: Segment::NO_SENDER,
            proto: Proto::Tcp,
            payload: Segment::NO_PAYLOAD,
        }
    }

    /// A UDP datagram of `len` payload bytes (whose bytes the world keeps).
    pub fn datagram(src: SocketAddrV4, dst: SocketAddrV4, len: u32, kind: SegmentKind) -> Segment {
        Segment {
            src,
            dst,
            seq: 0,
            ack: 0,
            flags: Flags::default(),
            len,
            window: 0,
            tsval: 0,
            tsecr: 0,
            kind,
            sender: Segment::NO_SENDER,
            proto: Proto::Udp,
            payload: Segment::NO_PAYLOAD,
        }
    }
    /// Is it a UDP datagram rather than a TCP segment?
    pub fn is_udp(&self) -> bool {
        self.proto == Proto::Udp
    }

    /// Sequence space the segment occupies: payload plus one for SYN and FIN.
    pub fn seq_len(&self) -> u64 {
        u64::from(self.len) + u64::from(self.flags.contains(Flags::SYN)) + u64::from(self.flags.contains(Flags::FIN))
    }
    /// Bytes of the IP packet (headers included).
    pub fn ip_bytes(&self) -> u32 {
        if self.is_udp() {
            return UDP_HEADER_BYTES + self.len;
        }
        let header = if self.flags.contains(Flags::SYN) { SYN_HEADER_BYTES } else { HEADER_BYTES };
        header + self.len
    }
    /// The reply a stack without this connection sends (RFC 793 "reset generation";
    /// Linux `tcp_v4_send_reset`): never answers a RST.
    pub fn reset_reply(&self) -> Option<Segment> {
        if self.flags.contains(Flags::RST) || self.is_udp() {
            return None;
        }
        let (seq, ack, flags) = if self.flags.contains(Flags::ACK) {
            (self.ack, 0, Flags::RST)
        } else {
            (0, self.seq + self.seq_len(), Flags::RST | Flags::ACK)
        };
        Some(Segment { kind: SegmentKind::Reset, ..Segment::tcp(self.dst, self.src, flags, seq, ack, 0) })
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_udp() {
            return write!(f, "{} > {} UDP len={}", self.src, self.dst, self.len);
        }
        write!(f, "{} > {} [{}] seq={} ack={} len={}", self.src, self.dst, self.flags, self.seq as u32, self.ack as u32, self.len)
    }
}

/// The addresses of the topology. Chosen from the benchmarking and
/// documentation ranges so a pcap never looks like a real network.
pub mod addr {
    use super::*;
    /// The first client's first connection; client `i` is `198.18.0.2 + i`
    /// (198.18.0.0/15, benchmarking), its connection `k` uses port `40000 + k`.
    pub const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 40000);
    /// The server clients dial. Port 8000: one Wireshark decodes as plain TCP
    /// (on 443 it would try to read our stand-in payloads as TLS). QUIC keeps
    /// 443 ([`crate::quic::PORT`]), where Wireshark's QUIC dissector belongs.
    pub const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 10), 8000);
    /// The NAT's outside address (198.51.100.0/24, documentation), the
    /// default [`NatConfig::public_ip`](crate::nat::NatConfig::public_ip).
    pub const NAT_PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    /// The server behind a proxy (the proxy takes [`SERVER`], the address clients dial).
    pub const BACKEND: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 20), 8000);
    /// The first local port of a proxy's connections to the backend.
    pub const PROXY_FIRST_PORT: u16 = 1024;

    /// Client `index`'s address.
    pub fn client_ip(index: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(*CLIENT.ip()) + index)
    }
    /// The local port of a client host's connection `k`.
    pub fn client_port(k: u32) -> u16 {
        CLIENT.port() + k as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: Flags, seq: u64, ack: u64, len: u32) -> Segment {
        Segment { window: 65535, ..Segment::tcp(addr::CLIENT, addr::SERVER, flags, seq, ack, len) }
    }

    #[test]
    fn reset_reply_follows_rfc_793() {
        // With ACK: RST carries seq = the segment's ack, no ACK flag.
        let r = seg(Flags::ACK, 100, 5000, 10).reset_reply().unwrap();
        assert_eq!((r.seq, r.ack, r.flags), (5000, 0, Flags::RST));
        assert_eq!((r.src, r.dst), (addr::SERVER, addr::CLIENT));
        // Without ACK (a SYN): RST|ACK acknowledging the SYN.
        let r = seg(Flags::SYN, 100, 0, 0).reset_reply().unwrap();
        assert_eq!((r.seq, r.ack, r.flags), (0, 101, Flags::RST | Flags::ACK));
        // Never answer a reset.
        assert!(seg(Flags::RST, 1, 0, 0).reset_reply().is_none());
    }

    #[test]
    fn sizes_count_headers() {
        assert_eq!(seg(Flags::ACK, 0, 0, 1448).ip_bytes(), 1500);
        assert_eq!(seg(Flags::SYN, 0, 0, 0).ip_bytes(), 60);
        assert_eq!(seg(Flags::SYN | Flags::FIN, 0, 0, 3).seq_len(), 5);
        // A 1200-byte QUIC Initial: 20 (IPv4) + 8 (UDP) + 1200.
        let d = Segment::datagram(addr::CLIENT, addr::SERVER, 1200, SegmentKind::Handshake);
        assert_eq!(d.ip_bytes(), 1228);
        assert!(d.reset_reply().is_none(), "UDP has no RST");
    }
}
