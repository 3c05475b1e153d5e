//! A record of everything that happened, with its time: every packet sent,
//! queued, dropped (and why) and delivered, every timer firing, NAT mapping
//! change, fault, application message and death declaration. It is the raw
//! material for replays, timelines and pcap export.
//!
//! Recording is off by default and then costs one branch: events are built
//! inside a closure that only runs when the trace is on.

use crate::link::LinkDrop;
use crate::nat::{Mapping, NatDrop};
use crate::oracle::Verdict;
use crate::packet::Segment;
use crate::side::Side;
use crate::socket::SocketEvent;
use crate::tcp::TimerKind;
use crate::time::Instant;
use std::time::Duration;

/// Which NAT-like box: the world's one `[nat]` (as v1 and v2 name it), or
/// box N of a `[[middlebox]]` chain, counted from the clients (proxy
/// included), as fault targets name it (`middlebox:N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatRef {
    /// The `[nat]` of a topology without a chain.
    Only,
    /// Box N of the chain.
    Chain(u8),
}

impl std::fmt::Display for NatRef {
    /// `nat`, or `middlebox:N`: what a scenario file calls the box.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatRef::Only => f.write_str("nat"),
            NatRef::Chain(k) => write!(f, "middlebox:{k}"),
        }
    }
}

/// A place on the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A host's access link, leaving the host.
    Uplink(Side),
    /// A host's access link, toward the host.
    Downlink(Side),
    /// A NAT-like box on the path (the one `[nat]`, or one of a chain).
    Nat(NatRef),
    /// A host's stack, as a packet arrives off its link.
    Host(Side),
}

/// Why a packet went nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The link dropped it: tail drop, random loss, or an outage.
    Link(LinkDrop),
    /// The NAT had no mapping for it.
    Nat(NatDrop),
    /// The host is powered off or rebooting.
    HostDown,
    /// The host is suspended.
    HostSuspended,
    /// The listen queue is full (Linux `ListenOverflows`): a SYN, or the ACK
    /// that would complete a handshake, is dropped.
    ListenOverflow,
    /// No socket on that UDP port (a client's QUIC connection that is gone):
    /// dropped without an answer, as ICMP is not modelled.
    NoSocket,
}

/// A fault as it starts or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    /// A host of that side powered off for good.
    Vanish(Side),
    /// A host of that side went down to reboot, losing its connections.
    RebootStart(Side),
    /// It is up again; its applications start anew.
    RebootDone(Side),
    /// A host of that side froze: no packets, its clock stopped.
    SuspendStart(Side),
    /// It resumed where it was.
    SuspendEnd(Side),
    /// The access link of a host of that side stopped passing packets.
    OutageStart(Side),
    /// It passes packets again.
    OutageEnd(Side),
    /// A NAT-like box rebooted, forgetting every mapping.
    NatReboot(NatRef),
    /// The application process of a host of that side died; its kernel
    /// closed its TCP sockets with FIN.
    Crash(Side),
    /// A crashed process started again (its supervisor's restart).
    Restarted(Side),
}

/// One thing that happened in a run. Sides name the role of the host or
/// connection concerned (a proxy's leg toward the server is a client), not
/// which client host it was.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceEvent {
    /// A host put a segment on its uplink.
    Sent {
        /// The sending connection's side (a stack's own RST: the host's).
        side: Side,
        /// The segment as it left the host (before any NAT).
        seg: Segment,
    },
    /// A packet had to wait behind others before its first bit left.
    Queued {
        /// The link direction it waited on.
        place: Place,
        /// The packet.
        seg: Segment,
        /// How long it waited for the transmitter.
        wait: Duration,
    },
    /// A packet went nowhere.
    Dropped {
        /// Where it was lost.
        place: Place,
        /// The packet, as it was there.
        seg: Segment,
        /// Why.
        reason: DropReason,
    },
    /// A NAT rewrote a packet.
    Translated {
        /// As it reached the NAT.
        before: Segment,
        /// As the NAT passed it on.
        after: Segment,
        /// Which box.
        nat: NatRef,
    },
    /// A NAT answered an inside packet of a forgotten flow with this RST (policy `rst`).
    NatReset {
        /// The RST, on its way back to the inside host.
        seg: Segment,
        /// Which box.
        nat: NatRef,
    },
    /// A segment reached a host.
    Delivered {
        /// The receiving host's side.
        side: Side,
        /// The segment as it arrived (translated, behind a NAT).
        seg: Segment,
    },
    /// The NAT made a mapping ([`NatEvent::Created`](crate::nat::NatEvent::Created)).
    NatMappingCreated {
        /// The new mapping.
        mapping: Mapping,
        /// Made for a flow already under way (see the NAT event).
        recreated: bool,
        /// Which box.
        nat: NatRef,
    },
    /// A NAT forgot an idle mapping.
    NatMappingExpired {
        /// The mapping as it was.
        mapping: Mapping,
        /// How long the flow had been silent.
        idle: Duration,
        /// Which box.
        nat: NatRef,
    },
    /// A NAT rebooted.
    NatRebooted {
        /// How many mappings it lost.
        lost: usize,
        /// Which box.
        nat: NatRef,
    },
    /// A TCP timer ran.
    TimerFired {
        /// The side of the connection whose timer it was.
        side: Side,
        /// Which timer.
        timer: TimerKind,
        /// After the instant it was asked for: the kernel's timer wheel
        /// (jiffies, then the wheel level's granularity); zero with exact timers.
        late: Duration,
    },
    /// A socket told its application something.
    Socket {
        /// The connection's side.
        side: Side,
        /// What it told.
        event: SocketEvent,
    },
    /// An application wrote a message.
    AppWrite {
        /// The writer's side.
        side: Side,
        /// The message's tag.
        tag: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// An application received a whole message.
    AppMessage {
        /// The receiver's side.
        side: Side,
        /// The message's tag, as the writer gave it.
        tag: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// A fault started or ended.
    Fault(FaultEvent),
    /// A log line captured in live mode (the user's tokio code, or turmoil's
    /// own), on the host it ran on (`None`: outside any host).
    Log {
        /// The host's side, if the line came from inside one.
        side: Option<Side>,
        /// The line's level.
        level: tracing::Level,
        /// Its `tracing` target (module path, or the one the caller named).
        target: String,
        /// The formatted message with its fields.
        message: String,
    },
    /// An application declared its peer dead.
    Declared {
        /// The declaring side.
        side: Side,
        /// The detector's reason.
        cause: String,
        /// The oracle's judgement of it.
        verdict: Verdict,
        /// Only the peer's decision reaching us ([`Declaration::echo`](crate::oracle::Declaration::echo)).
        echo: bool,
    },
    /// A datagram tunnel lost a message on its way to `side` (a datagram of it never arrived).
    MessageLost {
        /// The side it was going to.
        side: Side,
        /// The message's tag.
        tag: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// An application closed its connection on purpose (an idle timeout).
    ClosedOnPurpose {
        /// The closing side.
        side: Side,
    },
    /// A QUIC connection's idle timeout ended a connection that was not
    /// broken: an orderly end of its own kind (`idle_closes`), not a detection.
    QuicIdleClose {
        /// The side whose connection timed out.
        side: Side,
    },
    /// What a TCP-terminating proxy did with a client's connection.
    Proxy(ProxyEvent),
    /// The server's application accepted a connection that waited `waited`
    /// in its listen queue since the handshake completed.
    Accepted {
        /// Time in the listen queue.
        waited: std::time::Duration,
    },
}

/// A proxy's decisions (its packets are traced like any host's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyEvent {
    /// A client's connection is established at the proxy; it opens its own to the server.
    BackendOpened {
        /// The client connection's slot.
        slot: u32,
    },
    /// One leg ended (`front`: the client's; else the server's), so the proxy ends the other.
    LegEnded {
        /// The client connection's slot.
        slot: u32,
        /// The leg toward the client ended (else the one toward the server).
        front: bool,
        /// It ended with the peer's FIN (the proxy closes that leg in turn);
        /// otherwise with an error (a RST, or a timeout).
        eof: bool,
        /// The proxy passed the FIN on to the other leg (haproxy's two
        /// timers: a TCP relay); otherwise it reset the other leg.
        forwarded: bool,
    },
    /// The shorter of haproxy's two timers struck alone: the proxy sent a
    /// FIN toward one side and keeps the other direction open.
    HalfClose {
        /// The client connection's slot.
        slot: u32,
        /// The client's timer struck, so the FIN went to the server (else the
        /// server's timer struck and the FIN went to the client).
        toward_server: bool,
    },
    /// The client connection was idle for the proxy's timeout; closed as `on_idle` says.
    IdleClose {
        /// The client connection's slot.
        slot: u32,
        /// What the proxy did to both legs.
        on_idle: crate::proxy_config::OnIdle,
    },
}

/// Does any `tracing` subscriber want events at all? One atomic load per
/// trace point when no one listens (see the README's engine bench figures).
#[inline]
pub fn logging() -> bool {
    tracing::level_filters::LevelFilter::current() != tracing::level_filters::LevelFilter::OFF
}

/// Build and emit out of line: the event's construction stays off the hot
/// path when nobody listens (measured: inlined, it cost 25-40 % per event).
#[cold]
#[inline(never)]
fn emit_with(make: impl FnOnce() -> TraceEvent) {
    emit(&make());
}

/// One trace event as a `tracing` event of target `sim`, at the level its
/// kind deserves: faults and death declarations at INFO; socket state
/// changes, timers firing, NAT mappings and the proxy's decisions at DEBUG;
/// every packet and application message at TRACE. The subscriber stamps the
/// line with the simulated time ([`crate::time::current`]).
#[cold]
#[inline(never)]
fn emit(event: &TraceEvent) {
    use tracing::{debug, info, trace};
    match event {
        // As v1 and v2 logged it, without the box.
        TraceEvent::Fault(FaultEvent::NatReboot(NatRef::Only)) => info!(target: "sim", fault = ?format_args!("NatReboot"), "fault"),
        TraceEvent::Fault(f) => info!(target: "sim", fault = ?f, "fault"),
        TraceEvent::Declared { side, cause, verdict, echo } => info!(target: "sim", %side, cause, ?verdict, echo, "declared dead"),
        TraceEvent::NatRebooted { lost, nat: NatRef::Only } => info!(target: "sim", lost, "NAT rebooted"),
        TraceEvent::NatRebooted { lost, nat } => info!(target: "sim", lost, %nat, "NAT rebooted"),
        TraceEvent::Socket { side, event } => debug!(target: "sim", %side, ?event, "socket"),
        TraceEvent::TimerFired { side, timer, late } => debug!(target: "sim", %side, ?timer, ?late, "timer fired"),
        TraceEvent::NatMappingCreated { mapping, recreated, nat: NatRef::Only } => {
            debug!(target: "sim", inside = %mapping.inside, public = %mapping.public, recreated, "NAT mapping created")
        }
        TraceEvent::NatMappingCreated { mapping, recreated, nat } => {
            debug!(target: "sim", %nat, inside = %mapping.inside, public = %mapping.public, recreated, "NAT mapping created")
        }
        TraceEvent::NatMappingExpired { mapping, idle, nat: NatRef::Only } => {
            debug!(target: "sim", inside = %mapping.inside, public = %mapping.public, ?idle, "NAT mapping expired")
        }
        TraceEvent::NatMappingExpired { mapping, idle, nat } => {
            debug!(target: "sim", %nat, inside = %mapping.inside, public = %mapping.public, ?idle, "NAT mapping expired")
        }
        TraceEvent::ClosedOnPurpose { side } => debug!(target: "sim", %side, "closed on purpose"),
        TraceEvent::QuicIdleClose { side } => debug!(target: "sim", %side, "QUIC idle close"),
        TraceEvent::Proxy(p) => debug!(target: "sim", proxy = ?p, "proxy"),
        TraceEvent::Accepted { waited } => debug!(target: "sim", ?waited, "accepted"),
        TraceEvent::Sent { side, seg } => trace!(target: "sim", %side, kind = ?seg.kind, "sent {seg}"),
        TraceEvent::Delivered { side, seg } => trace!(target: "sim", %side, kind = ?seg.kind, "delivered {seg}"),
        TraceEvent::Queued { place, seg, wait } => trace!(target: "sim", ?place, ?wait, "queued {seg}"),
        TraceEvent::Dropped { place, seg, reason } => trace!(target: "sim", ?place, ?reason, "dropped {seg}"),
        TraceEvent::Translated { before, after, nat: NatRef::Only } => trace!(target: "sim", "NAT translated {before} to {after}"),
        TraceEvent::Translated { before, after, nat } => trace!(target: "sim", "{nat} translated {before} to {after}"),
        TraceEvent::NatReset { seg, nat: NatRef::Only } => trace!(target: "sim", "NAT reset {seg}"),
        TraceEvent::NatReset { seg, nat } => trace!(target: "sim", "{nat} reset {seg}"),
        TraceEvent::AppWrite { side, tag, size } => trace!(target: "sim", %side, tag, size, "application wrote"),
        TraceEvent::AppMessage { side, tag, size } => trace!(target: "sim", %side, tag, size, "application received"),
        TraceEvent::MessageLost { side, tag, size } => trace!(target: "sim", %side, tag, size, "message lost"),
        // It came from `tracing` in the first place.
        TraceEvent::Log { .. } => {}
    }
}

/// One event of the trace and when it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRecord {
    /// When, on the world's global clock.
    pub at: Instant,
    /// What.
    pub event: TraceEvent,
    /// The connection the event is about, where one is (a socket event, a
    /// timer, a message written, received or lost, a close on purpose, a
    /// QUIC idle close, a declaration, a packet it sent that was dropped),
    /// so a fleet's timeline can say which one; `None` for everything else
    /// (other packets carry their addresses and their sender).
    pub conn: Option<ConnRef>,
}

/// Which connection a trace record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnRef {
    /// The world's index of the connection (a segment's [`Segment::sender`]).
    pub index: u32,
    /// Its client host (0-based), if it is a client's connection.
    pub client: Option<u32>,
    /// The connection slot it serves (a server's or a proxy's end too), so
    /// a fleet's server-side lines can say which connection.
    pub slot: u32,
}

/// Record only what concerns some connection slots of a fleet (one, or a
/// client host's pool), and what concerns every connection (the server's and
/// the NAT's faults, the NAT's reboot), so that replaying one connection of
/// a big fleet keeps in memory only what it will print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFocus {
    /// The slots whose records are kept.
    pub slots: std::ops::Range<u32>,
    /// Their client host: packets without a connection (a stack's or the
    /// NAT's RST) and NAT mappings are kept when they carry its address.
    pub client: u32,
}

/// A focus and the slot of every connection opened so far (a segment names
/// its sending connection by index).
#[derive(Clone, Debug)]
struct Focus {
    spec: TraceFocus,
    client_ip: std::net::Ipv4Addr,
    conn_slot: Vec<u32>,
    /// The client host the fault being applied is on (the world says so
    /// before it applies each fault; a fault event names only the side).
    fault_client: Option<u32>,
}

impl Focus {
    fn slot_kept(&self, slot: u32) -> bool {
        self.spec.slots.contains(&slot)
    }

    fn segment_kept(&self, seg: &Segment) -> bool {
        match self.conn_slot.get(seg.sender as usize) {
            Some(&slot) => self.slot_kept(slot),
            None => *seg.src.ip() == self.client_ip || *seg.dst.ip() == self.client_ip,
        }
    }

    fn keeps(&self, r: &TraceRecord) -> bool {
        if let Some(c) = r.conn {
            return self.slot_kept(c.slot);
        }
        match &r.event {
            TraceEvent::Sent { seg, .. }
            | TraceEvent::Queued { seg, .. }
            | TraceEvent::Dropped { seg, .. }
            | TraceEvent::Delivered { seg, .. }
            | TraceEvent::NatReset { seg, .. } => self.segment_kept(seg),
            TraceEvent::Translated { before, after, .. } => self.segment_kept(before) || self.segment_kept(after),
            TraceEvent::NatMappingCreated { mapping, .. } | TraceEvent::NatMappingExpired { mapping, .. } => {
                *mapping.inside.ip() == self.client_ip
            }
            TraceEvent::Fault(_) => self.fault_client.is_none_or(|c| c == self.spec.client),
            TraceEvent::Proxy(p) => self.slot_kept(match *p {
                ProxyEvent::BackendOpened { slot }
                | ProxyEvent::LegEnded { slot, .. }
                | ProxyEvent::IdleClose { slot, .. }
                | ProxyEvent::HalfClose { slot, .. } => slot,
            }),
            _ => true,
        }
    }
}

/// The trace of one run (empty when recording is off).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    records: Option<Vec<TraceRecord>>,
    focus: Option<Box<Focus>>,
    /// Keep nothing that happens after this ([`Trace::keep_until`]).
    until: Option<Instant>,
}

impl Trace {
    /// A trace that records if `enabled` (events still reach `tracing` either way).
    pub fn new(enabled: bool) -> Self {
        Trace { records: enabled.then(Vec::new), focus: None, until: None }
    }

    /// A recording trace that keeps only what concerns `focus`.
    pub fn focused(focus: TraceFocus) -> Self {
        let client_ip = crate::packet::addr::client_ip(focus.client);
        Trace {
            records: Some(Vec::new()),
            focus: Some(Box::new(Focus { spec: focus, client_ip, conn_slot: Vec::new(), fault_client: None })),
            until: None,
        }
    }

    /// Keep only what happens up to `at` (a replay that prints up to a
    /// time needs nothing later; a reconnect storm's hour would otherwise
    /// fill gigabytes with records nobody reads). The run goes on.
    pub fn keep_until(&mut self, at: Instant) {
        self.until = Some(at);
    }

    /// The fault about to be applied (its start or end) is on client host
    /// `client` (`None`: the server, the proxy, the NAT): a focused trace
    /// keeps its fault events only when it concerns the focus.
    #[inline]
    pub fn note_fault_on(&mut self, client: Option<u32>) {
        if let Some(f) = &mut self.focus {
            f.fault_client = client;
        }
    }

    /// A connection was opened with world index `index` for `slot` (a
    /// focused trace needs it to know whose segments are whose).
    #[inline]
    pub fn note_connection(&mut self, index: usize, slot: u32) {
        if let Some(f) = &mut self.focus {
            debug_assert_eq!(index, f.conn_slot.len());
            f.conn_slot.push(slot);
        }
    }

    /// Does it keep records?
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.records.is_some()
    }

    /// Record the event `make` builds, if recording; and hand it to
    /// `tracing` (target `sim`) if a subscriber wants it. With neither, this
    /// is two branches: `make` is not called.
    #[inline(always)]
    pub fn record(&mut self, at: Instant, make: impl FnOnce() -> TraceEvent) {
        self.record_for(at, None, make);
    }

    /// [`record`](Self::record) an event about connection `conn` (see
    /// [`TraceRecord::conn`]). The check that nobody records or listens is
    /// inlined at every trace point; the rest is not.
    #[inline(always)]
    pub fn record_for(&mut self, at: Instant, conn: Option<ConnRef>, make: impl FnOnce() -> TraceEvent) {
        if self.records.is_some() || logging() {
            self.keep(at, conn, make);
        }
    }

    #[inline(never)]
    fn keep(&mut self, at: Instant, conn: Option<ConnRef>, make: impl FnOnce() -> TraceEvent) {
        match &mut self.records {
            // Past what a replay keeps: only a log subscriber hears of it.
            Some(_) if self.until.is_some_and(|u| at > u) && logging() => emit_with(make),
            Some(_) if self.until.is_some_and(|u| at > u) => {}
            Some(r) => {
                let event = make();
                if logging() {
                    emit(&event);
                }
                let record = TraceRecord { at, event, conn };
                if self.focus.as_ref().is_none_or(|f| f.keeps(&record)) {
                    r.push(record);
                }
            }
            None if logging() => emit_with(make),
            None => {}
        }
    }

    /// The records so far, in time order.
    pub fn records(&self) -> &[TraceRecord] {
        self.records.as_deref().unwrap_or(&[])
    }

    /// The records, taken out of the trace.
    pub fn into_records(self) -> Vec<TraceRecord> {
        self.records.unwrap_or_default()
    }
}
