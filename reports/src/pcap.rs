//! A run's packets as a pcap file that Wireshark and tshark read.
//!
//! Every packet appears as it was on the wire where it was sent: each host's
//! segments as it sent them, and, behind a NAT, the translated copy on the
//! server side too (so the capture shows the NAT's public address and port,
//! and a new port after a `new_port` expiry; behind a chain of NATs, one
//! copy past each). Timestamps are simulated time
//! from the Unix epoch. Headers are real IPv4 + TCP with the options Linux
//! sends (SYN: MSS, timestamps, window scale 7; others: NOP NOP timestamps),
//! so lengths match the simulator's 52-byte headers. A SYN does not
//! advertise SACK-permitted, because the model has no SACK; two NOPs take its
//! two bytes, so the SYN keeps the 60 bytes the model times;
//! checksums are computed, payload bytes are zeros.
//!
//! A QUIC datagram is a real IPv4 + UDP packet of its length on its ports
//! (Wireshark shows UDP on 443 and tries its QUIC dissector); its payload is
//! zeros too: the trace keeps a datagram's length, not quinn's ciphertext.

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use sim::packet::{Flags, Segment};
use sim::trace::{TraceEvent, TraceRecord};
use std::io::Write;
use std::time::Duration;

/// Window scale every SYN advertises.
const WSCALE: u32 = 7;
/// MSS option value: MTU 1500 − 40.
const MSS_OPTION: u16 = 1460;

/// The packets a trace put on the wire, in order, with their instants.
pub fn wire_packets(trace: &[TraceRecord]) -> Vec<(Duration, Segment)> {
    trace
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Sent { seg, .. } | TraceEvent::NatReset { seg, .. } => Some((r.at.since_start(), *seg)),
            TraceEvent::Translated { after, .. } => Some((r.at.since_start(), *after)),
            _ => None,
        })
        .collect()
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in chunks {
        let mut it = chunk.chunks_exact(2);
        for pair in &mut it {
            sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = it.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv4 packet for a segment or datagram (`id` is the IP identification field).
pub fn encode(seg: &Segment, id: u16) -> Vec<u8> {
    if seg.is_udp() {
        return encode_udp(seg, id);
    }
    let syn = seg.flags.contains(Flags::SYN);
    let ms = |ns: u64| (ns / 1_000_000) as u32;
    let mut options = Vec::with_capacity(20);
    if syn {
        options.extend_from_slice(&[2, 4]);
        options.extend_from_slice(&MSS_OPTION.to_be_bytes());
        options.extend_from_slice(&[1, 1, 8, 10]); // NOP NOP (no SACK-permitted), timestamps
        options.extend_from_slice(&ms(seg.tsval).to_be_bytes());
        options.extend_from_slice(&ms(seg.tsecr).to_be_bytes());
        options.extend_from_slice(&[1, 3, 3, WSCALE as u8]);
    } else {
        options.extend_from_slice(&[1, 1, 8, 10]);
        options.extend_from_slice(&ms(seg.tsval).to_be_bytes());
        options.extend_from_slice(&ms(seg.tsecr).to_be_bytes());
    }
    let tcp_len = 20 + options.len();
    let total = 20 + tcp_len + seg.len as usize;
    let window = if syn { seg.window.min(65535) } else { (seg.window >> WSCALE).min(65535) } as u16;

    let mut tcp = Vec::with_capacity(tcp_len);
    tcp.extend_from_slice(&seg.src.port().to_be_bytes());
    tcp.extend_from_slice(&seg.dst.port().to_be_bytes());
    tcp.extend_from_slice(&(seg.seq as u32).to_be_bytes());
    tcp.extend_from_slice(&(seg.ack as u32).to_be_bytes());
    tcp.push(((tcp_len / 4) as u8) << 4);
    tcp.push(seg.flags.0);
    tcp.extend_from_slice(&window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    tcp.extend_from_slice(&options);
    let payload = vec![0u8; seg.len as usize];
    let (src, dst) = (seg.src.ip().octets(), seg.dst.ip().octets());
    let pseudo = [&src[..], &dst[..], &[0, 6], &((tcp_len + payload.len()) as u16).to_be_bytes()].concat();
    let c = checksum(&[&pseudo, &tcp, &payload]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    ipv4(seg, id, 6, total, &[&tcp, &payload])
}

/// The IPv4 packet of a UDP datagram: header, 8-byte UDP header, zeros.
fn encode_udp(seg: &Segment, id: u16) -> Vec<u8> {
    let udp_len = 8 + seg.len as usize;
    let mut udp = Vec::with_capacity(8);
    udp.extend_from_slice(&seg.src.port().to_be_bytes());
    udp.extend_from_slice(&seg.dst.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    let payload = vec![0u8; seg.len as usize];
    let (src, dst) = (seg.src.ip().octets(), seg.dst.ip().octets());
    let pseudo = [&src[..], &dst[..], &[0, 17], &(udp_len as u16).to_be_bytes()].concat();
    let c = match checksum(&[&pseudo, &udp, &payload]) {
        0 => 0xffff, // RFC 768: a computed zero is sent as all ones
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(seg, id, 17, 20 + udp_len, &[&udp, &payload])
}

/// An IPv4 header (DF, TTL 64, protocol `proto`) followed by `body`.
fn ipv4(seg: &Segment, id: u16, proto: u8, total: usize, body: &[&[u8]]) -> Vec<u8> {
    let (src, dst) = (seg.src.ip().octets(), seg.dst.ip().octets());
    let mut ip = Vec::with_capacity(total);
    ip.extend_from_slice(&[0x45, 0]);
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&id.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]); // DF, TTL 64, protocol, checksum
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    for part in body {
        ip.extend_from_slice(part);
    }
    ip
}

/// Write the trace's packets as pcap (raw IPv4 link type); returns the count.
///
/// A failure is the operating system's error (a full disk says "No space
/// left on device"; pcap-file's own wrapper said "Error reading bytes").
pub fn write<W: Write>(out: W, trace: &[TraceRecord]) -> std::io::Result<usize> {
    let packets: Vec<(Duration, Vec<u8>)> =
        wire_packets(trace).iter().enumerate().map(|(i, (at, seg))| (*at, encode(seg, i as u16))).collect();
    write_raw(out, &packets)
}

/// Write whole IPv4 packets as they are (a real run's, `--engine netns`),
/// each at its instant; returns how many.
pub fn write_raw<W: Write>(out: W, packets: &[(Duration, Vec<u8>)]) -> std::io::Result<usize> {
    let io = |e: pcap_file::PcapError| match e {
        pcap_file::PcapError::IoError(e) => e,
        other => std::io::Error::other(other.to_string()),
    };
    let header = PcapHeader { datalink: DataLink::RAW, snaplen: 65535, ..PcapHeader::default() };
    let mut w = PcapWriter::with_header(out, header).map_err(io)?;
    for (at, data) in packets {
        w.write_packet(&PcapPacket::new(*at, data.len() as u32, data)).map_err(io)?;
    }
    w.into_writer().flush()?;
    Ok(packets.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::packet::{addr, SegmentKind};

    #[test]
    fn headers_have_the_simulators_lengths_and_valid_checksums() {
        let seg = Segment {
            src: addr::CLIENT,
            dst: addr::SERVER,
            seq: 0x1_0000_0005,
            ack: 7,
            flags: Flags::ACK,
            len: 100,
            window: 6 << 20,
            tsval: 1_500_000_000,
            tsecr: 0,
            kind: SegmentKind::Data,
            sender: Segment::NO_SENDER,
            proto: sim::packet::Proto::Tcp,
            payload: Segment::NO_PAYLOAD,
        };
        let p = encode(&seg, 1);
        assert_eq!(p.len() as u32, seg.ip_bytes());
        // A correct checksum sums (with itself) to zero.
        assert_eq!(checksum(&[&p[..20]]), 0);
        let tcp = &p[20..];
        let pseudo = [&p[12..16], &p[16..20], &[0, 6], &(tcp.len() as u16).to_be_bytes()].concat();
        assert_eq!(checksum(&[&pseudo, tcp]), 0);
        assert_eq!(u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]), 5, "low 32 bits of the sequence number");
        let syn = Segment { flags: Flags::SYN, len: 0, ..seg };
        assert_eq!(encode(&syn, 2).len() as u32, syn.ip_bytes());
    }

    #[test]
    fn a_quic_datagram_is_udp_on_its_ports_with_its_length() {
        // A 1200-byte QUIC Initial: IPv4 (20) + UDP (8) + 1200.
        let server = std::net::SocketAddrV4::new(*addr::SERVER.ip(), sim::quic::PORT);
        let d = Segment::datagram(addr::CLIENT, server, 1200, SegmentKind::Handshake);
        let p = encode(&d, 3);
        assert_eq!(p.len(), 1228);
        assert_eq!(p.len() as u32, d.ip_bytes());
        assert_eq!(p[9], 17, "protocol UDP");
        assert_eq!(checksum(&[&p[..20]]), 0);
        let udp = &p[20..];
        assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), addr::CLIENT.port());
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 443);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), 1208, "UDP length: header and payload");
        let pseudo = [&p[12..16], &p[16..20], &[0, 17], &1208u16.to_be_bytes()].concat();
        assert_eq!(checksum(&[&pseudo, udp]), 0, "a valid UDP checksum");
    }
}
