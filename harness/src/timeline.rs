//! A run's trace as a timeline a person can read without knowing kasim:
//!
//! ```text
//! +00:20:00.000 nat          mapping 198.18.0.2:40000 -> 198.51.100.1:40000 expired (idle 20m)
//! +00:30:00.000 client       ping #3 (8 B) written
//! +00:30:00.000 client       ping #3 (8 B) dropped at nat (no mapping)
//! +00:33:00.000 client       declared dead: ping timeout (broken 13m00s ago)
//! ```
//!
//! Segments are named by the messages they carry (found from each side's
//! initial sequence number and the order of its writes), so a drop reads as
//! "ping #3 dropped at nat", not as sequence numbers. Pure ACKs and arrivals
//! are left out of the text form (`--all` keeps them; the JSON form and the
//! pcap have everything): they triple the length and rarely explain anything.

use crate::driver::{tag_id, Class};
use crate::units::format_duration;

/// A measured span (a timer's lateness, a flow's idle time) to the
/// millisecond below it: a reader wants "8909ms", not "8909997632ns".
fn to_the_ms(d: std::time::Duration) -> String {
    format_duration(std::time::Duration::from_millis(d.as_millis() as u64))
}
use serde::Serialize;
use sim::oracle::Verdict;
use sim::packet::{Segment, SegmentKind};
use sim::trace::{DropReason, FaultEvent, Place, ProxyEvent, TraceEvent, TraceRecord};
use sim::Instant;

/// One line of a run's timeline: when, where, what. The JSON form of `kasim
/// replay` lists these (`at_s`, `place`, `event`).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Line {
    /// `at` in seconds since the run began (JSON `at_s`).
    pub at_s: f64,
    /// When it happened, in simulated time: the world's global clock for trace
    /// events; a request outcome carries the client host's clock.
    #[serde(skip)]
    pub at: Instant,
    /// What the line is about, for `replay --only`.
    #[serde(skip)]
    pub topic: Topic,
    /// client, server, nat, or a link ("client.link").
    pub place: String,
    /// What happened, in words ("ping #3 (8 B) dropped at nat (no mapping)").
    pub event: String,
}

fn segment(seg: &Segment) -> String {
    let what = match seg.kind {
        SegmentKind::Handshake if seg.is_udp() => format!("handshake {} B", seg.len),
        SegmentKind::Handshake => format!("handshake {}", seg.flags),
        SegmentKind::Data if seg.len == 0 => format!("{}", seg.flags),
        SegmentKind::Data => format!("data {} B", seg.len),
        SegmentKind::Ack => "ack".to_string(),
        SegmentKind::Retransmit => format!("retransmission {} B", seg.len.max(1)),
        SegmentKind::LossProbe => format!("tail-loss probe {} B", seg.len),
        SegmentKind::KeepaliveProbe => "keepalive probe".to_string(),
        SegmentKind::KeepaliveAck => "keepalive ack".to_string(),
        SegmentKind::Reset if seg.is_udp() => format!("stateless reset {} B", seg.len),
        SegmentKind::Reset => "RST".to_string(),
        SegmentKind::Control => format!("control {} B", seg.len),
    };
    if seg.is_udp() {
        return format!("QUIC {what} {} -> {}", seg.src, seg.dst);
    }
    format!("{what} {} -> {}", seg.src, seg.dst)
}

fn message(tag: u64, size: u64) -> String {
    match Class::of(tag) {
        Some(c @ (Class::Ping | Class::Pong)) => format!("{} #{} ({size} B)", c.name(), tag_id(tag)),
        Some(Class::Beat) => format!("heartbeat ({size} B)"),
        Some(c) => format!("{} ({size} B)", c.name()),
        None => format!("message {tag:#x} ({size} B)"),
    }
}

fn place(p: Place) -> String {
    match p {
        Place::Uplink(s) | Place::Downlink(s) => format!("{s}.link"),
        Place::Nat(nat) => nat.to_string(),
        Place::Host(s) => s.to_string(),
    }
}

fn drop_reason(r: DropReason) -> &'static str {
    use sim::link::LinkDrop;
    use sim::nat::NatDrop;
    match r {
        DropReason::Link(LinkDrop::QueueFull) => "queue full",
        DropReason::Link(LinkDrop::RandomLoss) => "random loss",
        DropReason::Link(LinkDrop::Outage) => "link down",
        DropReason::Nat(NatDrop::NoMappingInbound) => "no mapping",
        DropReason::Nat(NatDrop::NoMappingOutbound) => "no mapping",
        DropReason::Nat(NatDrop::NoFreePort) => "no free port on its outside address",
        DropReason::HostDown => "host is down",
        DropReason::HostSuspended => "host is suspended",
        DropReason::ListenOverflow => "listen queue full",
        DropReason::NoSocket => "no socket on that port (no ICMP)",
    }
}

/// Which messages each connection's segments carry. A connection is known
/// by the world's index of it (a segment's `sender`, a record's `conn`); a
/// live-mode trace has neither and falls back to one stream per side, which
/// is exact there (one connection).
#[derive(Default)]
struct Streams {
    by_conn: std::collections::HashMap<StreamKey, Stream>,
}

/// A connection's index, or a side where there is none.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum StreamKey {
    Conn(u32),
    Side(sim::Side),
}

/// One connection's outgoing stream.
#[derive(Default)]
struct Stream {
    /// Its connection's side (a proxy's legs and a server behind one do not
    /// have the address that says it).
    side: Option<sim::Side>,
    /// Initial sequence number (from its SYN).
    isn: Option<u64>,
    /// (start offset, end offset, label) of its writes, in order.
    writes: Vec<(u64, u64, String)>,
    written: u64,
}

impl Streams {
    fn key(sender: u32, side: sim::Side) -> StreamKey {
        if sender == Segment::NO_SENDER {
            StreamKey::Side(side)
        } else {
            StreamKey::Conn(sender)
        }
    }

    fn observe(&mut self, r: &TraceRecord) {
        match &r.event {
            TraceEvent::Sent { side, seg } if seg.flags.contains(sim::packet::Flags::SYN) => {
                let s = self.by_conn.entry(Self::key(seg.sender, *side)).or_default();
                s.isn.get_or_insert(seg.seq);
                s.side = Some(*side);
            }
            TraceEvent::AppWrite { side, tag, size } => {
                let key = r.conn.map_or(StreamKey::Side(*side), |c| StreamKey::Conn(c.index));
                let s = self.by_conn.entry(key).or_default();
                s.side = Some(*side);
                s.writes.push((s.written, s.written + size, message(*tag, *size)));
                s.written += size;
            }
            _ => {}
        }
    }

    /// The side whose stream `seg` belongs to, and the messages it carries.
    fn carried(&self, seg: &Segment) -> Option<(sim::Side, String)> {
        if seg.len == 0 || seg.kind == SegmentKind::Reset || seg.is_udp() {
            return None;
        }
        let side = if seg.src == sim::packet::addr::SERVER { sim::Side::Server } else { sim::Side::Client };
        let stream = self.by_conn.get(&Self::key(seg.sender, side))?;
        let start = seg.seq.checked_sub(stream.isn? + 1)?;
        let end = start + u64::from(seg.len);
        let writes = &stream.writes;
        let first = writes.partition_point(|w| w.1 <= start);
        let hits: Vec<&(u64, u64, String)> = writes[first..].iter().take_while(|w| w.0 < end).collect();
        let label = |w: &(u64, u64, String)| if w.0 < start || w.1 > end { format!("part of {}", w.2) } else { w.2.clone() };
        let text = match hits.as_slice() {
            [] => return None,
            [one] => label(one),
            [a, b] => format!("{} + {}", label(a), label(b)),
            [a, rest @ ..] => format!("{} + {} more", label(a), rest.len()),
        };
        Some((stream.side.unwrap_or(side), text))
    }
}

/// What a timeline line is about (`kasim replay --only faults,declarations`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Topic {
    /// Faults starting and ending.
    Faults,
    /// NAT mappings made, lost and translated, and the NAT's resets.
    Nat,
    /// Death declarations, closes on purpose, and the proxy's decisions.
    Declarations,
    /// Segments sent, queued, dropped and delivered.
    #[default]
    Packets,
    /// Socket events (connected, EOF, errors).
    Sockets,
    /// Application messages written and received.
    App,
    /// Each request's outcome (sessions): ok, hung or failed.
    Requests,
    /// Log lines captured in live mode (the user's tokio code, turmoil).
    Logs,
}

impl Topic {
    fn of(event: &TraceEvent) -> Topic {
        match event {
            TraceEvent::Fault(_) => Topic::Faults,
            TraceEvent::NatMappingCreated { .. }
            | TraceEvent::NatMappingExpired { .. }
            | TraceEvent::NatRebooted { .. }
            | TraceEvent::NatReset { .. }
            | TraceEvent::Translated { .. } => Topic::Nat,
            TraceEvent::Declared { .. } | TraceEvent::ClosedOnPurpose { .. } | TraceEvent::QuicIdleClose { .. } | TraceEvent::Proxy(_) => {
                Topic::Declarations
            }
            TraceEvent::Accepted { .. } => Topic::Sockets,
            TraceEvent::Socket { .. } | TraceEvent::TimerFired { .. } => Topic::Sockets,
            TraceEvent::AppWrite { .. } | TraceEvent::AppMessage { .. } | TraceEvent::MessageLost { .. } => Topic::App,
            TraceEvent::Sent { .. } | TraceEvent::Delivered { .. } | TraceEvent::Queued { .. } | TraceEvent::Dropped { .. } => {
                Topic::Packets
            }
            TraceEvent::Log { .. } => Topic::Logs,
        }
    }
}

/// Each request's outcome as a line, merged into `lines` by time (after
/// what happened at the same instant, which decided it).
pub fn with_requests(mut lines: Vec<Line>, log: &[crate::session::RequestOutcome]) -> Vec<Line> {
    use crate::session::RequestEnd;
    for o in log {
        let (slot, _, seq) = o.id;
        let what = match o.end {
            RequestEnd::Ok { latency } => format!("ok after {:.3} s", latency.as_secs_f64()),
            RequestEnd::Hung => format!("HUNG: no reply {:.3} s after it was issued", (o.at - o.issued).as_secs_f64()),
            RequestEnd::Failed if o.at == o.issued => "FAILED: no connection (reconnect off)".to_string(),
            RequestEnd::Failed => "FAILED: its connection ended before the reply".to_string(),
        };
        lines.push(Line {
            at_s: o.at.as_secs_f64(),
            at: o.at,
            topic: Topic::Requests,
            place: "client".into(),
            event: format!("request #{seq} of connection {slot} (issued {}): {what}", o.issued),
        });
    }
    lines.sort_by_key(|l| l.at);
    lines
}

/// Keep the lines in `[since, until]` whose topic is in `only` (all when empty):
/// `kasim replay --since`, `--until`, `--only`.
pub fn filter(lines: Vec<Line>, since: Option<Instant>, until: Option<Instant>, only: &[Topic]) -> Vec<Line> {
    lines
        .into_iter()
        .filter(|l| since.is_none_or(|t| l.at >= t) && until.is_none_or(|t| l.at <= t) && (only.is_empty() || only.contains(&l.topic)))
        .collect()
}

/// The readable lines of a trace; `all` keeps pure ACKs and arrivals too.
pub fn lines(trace: &[TraceRecord], all: bool) -> Vec<Line> {
    lines_of(trace, all, false)
}

/// [`lines`], told as a fleet's (lines name the client host and the
/// connection) when `fleet`, or when the trace shows more than one client
/// host; a replay of one connection of a fleet sets it, since its trace
/// may show only one.
pub fn lines_of(trace: &[TraceRecord], all: bool, fleet: bool) -> Vec<Line> {
    // With a proxy, the address clients dial is the proxy's: name it.
    let proxied = trace.iter().any(|r| matches!(r.event, TraceEvent::Proxy(_)));
    // In a fleet, a client host's packets say which host: "client:3" (its
    // address is 198.18.0.2 + 3; the port tells its connections apart).
    let first_client = u32::from(*sim::packet::addr::CLIENT.ip());
    let client_index = |addr: std::net::SocketAddrV4| u32::from(*addr.ip()).checked_sub(first_client).filter(|i| *i < 1 << 16);
    let fleet = fleet
        || trace
            .iter()
            .any(|r| matches!(r.event, TraceEvent::Sent { side: sim::Side::Client, seg } if client_index(seg.src).is_some_and(|i| i > 0)));
    let who = |side: sim::Side, addr: std::net::SocketAddrV4| {
        if proxied && addr.ip() == sim::packet::addr::SERVER.ip() {
            "proxy".to_string()
        } else if let Some(i) = client_index(addr).filter(|_| fleet && side == sim::Side::Client) {
            format!("client:{i}")
        } else {
            side.to_string()
        }
    };
    // A place on a client's path, in a fleet: which client's link or stack
    // (a segment's inside address: its source going up, its destination coming down).
    let place_of = |p: Place, seg: &Segment| {
        let (addr, suffix) = match p {
            Place::Uplink(sim::Side::Client) => (seg.src, ".link"),
            Place::Downlink(sim::Side::Client) => (seg.dst, ".link"),
            Place::Host(sim::Side::Client) => (seg.dst, ""),
            _ => return place(p),
        };
        match client_index(addr).filter(|_| fleet) {
            Some(i) => format!("client:{i}{suffix}"),
            None => place(p),
        }
    };
    let mut out = Vec::new();
    let mut streams = Streams::default();
    // A kernel timer that fired late (the timer wheel) and what it fired for:
    // said on the line of the packet it sends at that instant.
    let mut late: [Option<(sim::Instant, std::time::Duration)>; 2] = [None, None];
    for r in trace {
        streams.observe(r);
        // An event of a client's connection, in a fleet: which client.
        let named = |side: sim::Side| match r.conn.and_then(|c| c.client).filter(|_| fleet && side == sim::Side::Client) {
            Some(i) => format!("client:{i}"),
            None => side.to_string(),
        };
        let (place, event): (String, String) = match &r.event {
            TraceEvent::Log { side, level, target, message } => {
                (side.map_or("live".to_string(), |s| s.to_string()), format!("log {level} {target}: {message}"))
            }
            TraceEvent::Sent { side, seg } => {
                if !all && seg.kind == SegmentKind::Ack {
                    continue;
                }
                let slack = match late[side.index()].take() {
                    Some((at, l)) if at == r.at && l >= std::time::Duration::from_millis(1) => {
                        format!(" [its timer fired {} late: the kernel's timer wheel]", to_the_ms(l))
                    }
                    _ => String::new(),
                };
                match streams.carried(seg) {
                    Some((_, msgs)) => (who(*side, seg.src), format!("sends {} ({msgs}){slack}", segment(seg))),
                    None => (who(*side, seg.src), format!("sends {}{slack}", segment(seg))),
                }
            }
            TraceEvent::Delivered { side, seg } => {
                if !all {
                    continue;
                }
                (who(*side, seg.dst), format!("receives {}", segment(seg)))
            }
            TraceEvent::Queued { place: p, seg, wait } => {
                if !all && wait.as_secs_f64() < 1.0 {
                    continue;
                }
                (place_of(*p, seg), format!("{} waits {:.1}s in the queue", segment(seg), wait.as_secs_f64()))
            }
            TraceEvent::Dropped { place: p, seg, reason } => match streams.carried(seg) {
                Some((owner, msgs)) => {
                    let again = if seg.kind == SegmentKind::Data { "" } else { " (sent again)" };
                    (named(owner), format!("{msgs}{again} dropped at {} ({})", place_of(*p, seg), drop_reason(*reason)))
                }
                None => (place_of(*p, seg), format!("dropped {} ({})", segment(seg), drop_reason(*reason))),
            },
            TraceEvent::Translated { before, after, nat } => {
                if !all {
                    continue;
                }
                // Outward the source changes, inward the destination. A `[nat]`
                // keeps v2's line (the sources, either way), a chain's box says
                // which address it rewrote.
                match (nat, before.src == after.src) {
                    (sim::trace::NatRef::Chain(_), true) => (nat.to_string(), format!("{} -> {}", before.dst, after.dst)),
                    _ => (nat.to_string(), format!("{} -> {}", before.src, after.src)),
                }
            }
            TraceEvent::NatReset { seg, nat } => (nat.to_string(), format!("answers with {}", segment(seg))),
            TraceEvent::NatMappingCreated { mapping, recreated, nat } => (
                nat.to_string(),
                format!(
                    "mapping {} -> {} {}",
                    mapping.inside,
                    mapping.public,
                    if *recreated { "re-created mid-stream" } else { "created" }
                ),
            ),
            TraceEvent::NatMappingExpired { mapping, idle, nat } => {
                (nat.to_string(), format!("mapping {} -> {} expired (idle {})", mapping.inside, mapping.public, to_the_ms(*idle)))
            }
            TraceEvent::NatRebooted { lost, nat } => (nat.to_string(), format!("rebooted, {lost} mapping(s) lost")),
            TraceEvent::TimerFired { side, late: l, .. } => {
                late[side.index()] = Some((r.at, *l));
                continue;
            }
            TraceEvent::Socket { side, event } => match event {
                sim::socket::SocketEvent::Connected => (named(*side), "connected".into()),
                sim::socket::SocketEvent::Eof => (named(*side), "socket: EOF (peer closed)".into()),
                sim::socket::SocketEvent::MessageArrived { end } => {
                    (named(*side), format!("tunnel: a whole message arrived (stream offset {end})"))
                }
                sim::socket::SocketEvent::Error(e) => (named(*side), format!("socket error: {}", e.errno_name())),
                sim::socket::SocketEvent::HalfOpenDropped => {
                    (named(*side), "half-open connection dropped (SYN-ACK never answered; tcp_synack_retries)".into())
                }
                _ => continue,
            },
            TraceEvent::AppWrite { side, tag, size } => (named(*side), format!("{} written", message(*tag, *size))),
            TraceEvent::AppMessage { side, tag, size } => (named(*side), format!("{} received", message(*tag, *size))),
            TraceEvent::MessageLost { side, tag, size } => {
                (named(*side), format!("{} lost in the tunnel (a datagram of it never arrived)", message(*tag, *size)))
            }
            TraceEvent::Fault(f) => match *f {
                FaultEvent::Vanish(s) => (s.to_string(), "FAULT: powered off (vanished)".into()),
                FaultEvent::RebootStart(s) => (s.to_string(), "FAULT: rebooting (connection state lost)".into()),
                FaultEvent::RebootDone(s) => (s.to_string(), "back up after reboot; old segments get RST".into()),
                FaultEvent::SuspendStart(s) => (s.to_string(), "FAULT: suspended".into()),
                FaultEvent::SuspendEnd(s) => (s.to_string(), "resumed".into()),
                FaultEvent::OutageStart(s) => (format!("{s}.link"), "FAULT: link down".into()),
                FaultEvent::OutageEnd(s) => (format!("{s}.link"), "link up".into()),
                FaultEvent::NatReboot(nat) => (nat.to_string(), "FAULT: rebooting".into()),
                FaultEvent::Crash(s) => (s.to_string(), "FAULT: process crashed".into()),
                FaultEvent::Restarted(s) => (s.to_string(), "process restarted (listening again if a server)".into()),
            },
            TraceEvent::Proxy(p) => (
                "proxy".into(),
                match *p {
                    ProxyEvent::BackendOpened { slot } => format!("connection {slot} accepted; opens its own to the server"),
                    ProxyEvent::LegEnded { slot, front, eof, forwarded } => format!(
                        "connection {slot}: the {} leg ended ({}); {} the other",
                        if front { "client's" } else { "server's" },
                        if eof { "FIN" } else { "error" },
                        if forwarded { "passes the FIN on to" } else { "resets" }
                    ),
                    ProxyEvent::IdleClose { slot, on_idle } => {
                        format!("connection {slot} idle for the proxy's timeout: closes both legs ({})", on_idle.name())
                    }
                    ProxyEvent::HalfClose { slot, toward_server } => format!(
                        "connection {slot} idle for the proxy's {} timeout: half-closes (FIN to the {}; the other way stays open)",
                        if toward_server { "client" } else { "server" },
                        if toward_server { "server" } else { "client" }
                    ),
                },
            ),
            TraceEvent::ClosedOnPurpose { side } => (named(*side), "closed the connection on purpose (idle timeout): FIN".into()),
            TraceEvent::QuicIdleClose { side } => {
                (named(*side), "QUIC idle timeout on a connection that was not broken: an orderly end (idle_closes)".into())
            }
            TraceEvent::Accepted { waited } => {
                ("server".to_string(), format!("accepted a connection ({:.3} s in the listen queue)", waited.as_secs_f64()))
            }
            TraceEvent::Declared { side, cause, verdict, echo } => {
                let judged = match verdict {
                    _ if *echo => "the peer's own decision reaching us, not counted".to_string(),
                    Verdict::Detection { latency } => format!("broken {} ago", reports::render::seconds(Some(latency.as_secs_f64()))),
                    Verdict::FalsePositive { condition } => format!("FALSE POSITIVE: the connection was fine ({})", condition.name()),
                    Verdict::OrderlyEnd => "after the connection was closed on purpose: an orderly end, not counted".to_string(),
                };
                (named(*side), format!("declared dead: {cause} ({judged})"))
            }
        };
        // The server's end of a fleet's connection: which connection it
        // serves, said in the words (numbers aside, a fleet's like lines at
        // one instant still fold into one).
        let event = match r.conn.filter(|_| fleet && place == "server") {
            Some(c) => format!("connection {}: {event}", c.slot),
            None => event,
        };
        out.push(Line { at_s: r.at.as_secs_f64(), at: r.at, topic: Topic::of(&r.event), place, event });
    }
    out
}

/// Render lines as text.
/// A line with its numbers blotted out: lines that differ only in times,
/// sizes or sequence numbers tell the same thing.
fn shape(l: &Line) -> String {
    let mut out = l.place.clone();
    out.push(' ');
    let mut in_number = false;
    for c in l.event.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The timeline as text. A block of one to three lines told three or more
/// times in a row (the same places and words, numbers aside: a RST answering
/// each retransmission and its wait in the queue) is told once, with its count
/// and the time it last began.
pub fn render(lines: &[Line]) -> String {
    let shapes: Vec<String> = lines.iter().map(shape).collect();
    let mut s = String::new();
    let mut i = 0;
    while i < lines.len() {
        let mut best = (1, 1); // (period, repetitions)
        for period in 1..=3 {
            let reps = (1..)
                .take_while(|k| {
                    let start = i + k * period;
                    start + period <= lines.len() && shapes[start..start + period] == shapes[i..i + period]
                })
                .count()
                + 1;
            if reps >= 3 && reps * period > best.0 * best.1 {
                best = (period, reps);
            }
        }
        let (period, reps) = best;
        for (j, l) in lines[i..i + period].iter().enumerate() {
            if reps >= 3 && j == 0 {
                let last = &lines[i + (reps - 1) * period];
                let what = if period == 1 { "this line".to_string() } else { format!("these {period} lines") };
                s.push_str(&format!("{} {:<12} {}   [{what} ×{reps}, the last from {}]\n", l.at, l.place, l.event, last.at));
            } else {
                s.push_str(&format!("{} {:<12} {}\n", l.at, l.place, l.event));
            }
        }
        i += if reps >= 3 { period * reps } else { 1 };
    }
    s
}

#[cfg(test)]
mod render_tests {
    use super::*;

    fn line(at_ms: u64, place: &str, event: &str) -> Line {
        let at = Instant::from_millis(at_ms);
        Line { at_s: at.as_secs_f64(), at, topic: Topic::Packets, place: place.into(), event: event.into() }
    }

    #[test]
    fn repeated_blocks_are_told_once_with_their_count() {
        let mut lines = vec![line(0, "client", "connected")];
        // A RST and its wait in the queue, four times, numbers differing.
        for k in 0..4u64 {
            lines.push(line(1000 + k, "client", "sends RST 1.2.3.4:5 -> 6.7.8.9:10"));
            lines.push(line(1000 + k, "client.link", &format!("RST waits {}.{}s in the queue", 450 - k, k)));
        }
        lines.push(line(2000, "client", "declared dead"));
        // Two alike are told as they are.
        lines.push(line(3000, "server", "sends RST"));
        lines.push(line(3001, "server", "sends RST"));
        let text = render(&lines);
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 6, "{text}");
        assert_eq!(
            got[1],
            "+00:00:01.000 client       sends RST 1.2.3.4:5 -> 6.7.8.9:10   [these 2 lines ×4, the last from +00:00:01.003]"
        );
        assert_eq!(got[2], "+00:00:01.000 client.link  RST waits 450.0s in the queue");
        assert!(got[3].ends_with("declared dead") && got[4].ends_with("sends RST") && got[5].ends_with("sends RST"));
    }
}
