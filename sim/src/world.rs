//! The world: two hosts, their access links, an optional NAT, faults, and the
//! discrete-event loop that runs them.
//!
//! ```text
//! client ── client link (up/down) ── [NAT] ── server link (down/up) ── server
//! ```
//!
//! Events sit in a binary heap ordered by `(time, sequence)`: ties run in the
//! order they were scheduled, so a run is a pure function of its
//! configuration, its seed and its applications. Idle time costs nothing: a
//! host with no timer due and no packet in flight schedules nothing.
//!
//! Each host owns a clock offset: while suspended its clock stops (as
//! `CLOCK_MONOTONIC` and jiffies do), so its TCP timers and its application's
//! deadlines resume where they were instead of all firing at once.

use crate::app::{AppCommand, AppEvent, AppIo, Application, Idle, Side};
use crate::error::{positive, ConfigError};
use crate::link::{LinkConfig, LinkDir, LinkDrop, Offer, Outage};
use crate::nat::{Nat, NatConfig, NatEvent, NatVerdict};
use crate::oracle::{BreakCause, Condition, Declaration, Oracle};
use crate::packet::{addr, Segment, SegmentKind};
use crate::rng::{Purpose, Stream};
use crate::tcp::{SocketEvent, TcpConfig, TcpEndpoint, TcpState};
use crate::time::Instant;
use crate::trace::{DropReason, FaultEvent, Place, Trace, TraceEvent, TraceRecord};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

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

/// Something that goes wrong, at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Power-off: silent forever, no FIN, no RST.
    Vanish { side: Side, at: Instant },
    /// Silent for `duration`, then up again without the connection: every
    /// segment of it is answered with RST.
    Reboot { side: Side, at: Instant, duration: Duration },
    /// Frozen for `duration` (no packets, no timers), then resumes with its state.
    Suspend { side: Side, at: Instant, duration: Duration },
    /// The side's access link passes nothing, both ways, for `duration`.
    Outage { link: Side, at: Instant, duration: Duration },
    /// The NAT forgets every mapping.
    NatReboot { at: Instant },
    /// The application process dies; its kernel closes the socket (FIN).
    Crash { side: Side, at: Instant },
}

impl Fault {
    pub fn at(&self) -> Instant {
        match *self {
            Fault::Vanish { at, .. }
            | Fault::Reboot { at, .. }
            | Fault::Suspend { at, .. }
            | Fault::Outage { at, .. }
            | Fault::NatReboot { at }
            | Fault::Crash { at, .. } => at,
        }
    }
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
    fn duration(&self) -> Option<Duration> {
        match *self {
            Fault::Reboot { duration, .. } | Fault::Suspend { duration, .. } | Fault::Outage { duration, .. } => Some(duration),
            _ => None,
        }
    }
}

/// Everything that defines a run besides the applications.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    pub seed: u64,
    /// Simulated time the run covers.
    pub horizon: Duration,
    pub client_link: AccessLink,
    pub server_link: AccessLink,
    pub nat: Option<NatConfig>,
    /// Sysctls of both hosts.
    pub tcp: TcpConfig,
    pub faults: Vec<Fault>,
    /// Record a [`Trace`].
    pub trace: bool,
    /// How far back a false positive looks for a transient condition to blame.
    pub condition_lookback: Duration,
    /// A queue this long (link backlog, or unacknowledged bytes at the uplink's
    /// rate) counts as the `queue` condition.
    pub queue_condition: Duration,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 0,
            horizon: Duration::from_secs(24 * 3600),
            client_link: AccessLink::default(),
            server_link: AccessLink::default(),
            nat: None,
            tcp: TcpConfig::default(),
            faults: Vec::new(),
            trace: false,
            condition_lookback: Duration::from_secs(600),
            queue_condition: Duration::from_secs(1),
        }
    }
}

impl WorldConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("horizon", self.horizon)?;
        self.client_link.up.validate("client.link.up")?;
        self.client_link.down.validate("client.link.down")?;
        self.server_link.up.validate("server.link.up")?;
        self.server_link.down.validate("server.link.down")?;
        if let Some(nat) = &self.nat {
            nat.validate()?;
        }
        self.tcp.validate()?;
        let horizon = Instant::ZERO + self.horizon;
        for (index, f) in self.faults.iter().enumerate() {
            let kind = f.kind_name();
            if f.at() >= horizon {
                return Err(ConfigError::FaultAfterHorizon { index, kind, at: f.at().since_start(), horizon: self.horizon });
            }
            if f.duration().is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::FaultNeedsDuration { index, kind });
            }
            if matches!(f, Fault::NatReboot { .. }) && self.nat.is_none() {
                return Err(ConfigError::NoNat { index, kind });
            }
        }
        Ok(())
    }
}

/// Packets and bytes a host sent, indexed by [`SegmentKind`] (`kind as usize`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    pub packets: [u64; SegmentKind::COUNT],
    pub bytes: [u64; SegmentKind::COUNT],
}

impl WireStats {
    pub fn packets_of(&self, kind: SegmentKind) -> u64 {
        self.packets[kind as usize]
    }
    pub fn bytes_of(&self, kind: SegmentKind) -> u64 {
        self.bytes[kind as usize]
    }
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostState {
    Up,
    Suspended,
    /// Rebooting: silent until it comes back without the connection.
    Down,
    /// Powered off for good.
    Gone,
}

struct Host {
    state: HostState,
    /// `None` after a reboot: the stack answers every segment with RST.
    tcp: Option<TcpEndpoint>,
    app: Box<dyn Application>,
    app_alive: bool,
    /// Total time spent suspended: local clock = global − offset.
    offset: Duration,
    /// The earliest wake-up already in the event queue.
    wake: Option<Instant>,
    /// Message boundaries of this host's outgoing stream: (end offset, tag, size).
    ledger: VecDeque<(u64, u64, u64)>,
    written: u64,
}

impl Host {
    fn local(&self, now: Instant) -> Instant {
        now - self.offset
    }
    fn global(&self, local: Instant) -> Instant {
        local + self.offset
    }
}

#[derive(Clone, Copy, Debug)]
enum Hop {
    /// Leaving `from`'s access link toward the middle (NAT or plain wire).
    Middle { from: Side },
    /// Arriving at a host.
    Host(Side),
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrive { hop: Hop, seg: Segment },
    Wake(Side),
    NatWake,
    FaultStart(usize),
    FaultEnd(usize),
}

struct Scheduled {
    at: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// When the run stopped (the horizon, or earlier when nothing was left to happen).
    pub ended_at: Instant,
    pub broken: Option<(Instant, BreakCause)>,
    pub declarations: Vec<Declaration>,
    pub stats: [WireStats; 2],
    pub nat_expiries: u64,
    /// When each of those mappings (of flows not yet closing) expired.
    pub nat_expired_at: Vec<Instant>,
    /// Messages each side's application received.
    pub messages_received: [u64; 2],
    pub events_processed: u64,
    pub trace: Vec<TraceRecord>,
}

/// A simulated network with one TCP connection. See the module docs.
pub struct World {
    now: Instant,
    horizon: Instant,
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    hosts: [Host; 2],
    /// `[side][0 = up, 1 = down]`.
    links: [[LinkDir; 2]; 2],
    nat: Option<Nat>,
    nat_wake: Option<Instant>,
    faults: Vec<Fault>,
    oracle: Oracle,
    trace: Trace,
    declarations: Vec<Declaration>,
    io: AppIo,
    stats: [WireStats; 2],
    messages_received: [u64; 2],
    nat_expired_at: Vec<Instant>,
    events_processed: u64,
    lookback: Duration,
    queue_condition: Duration,
    started: bool,
}

const UP: usize = 0;
const DOWN: usize = 1;

impl World {
    /// Build a world; the client connects at time 0 when it first runs.
    pub fn new(cfg: WorldConfig, client: Box<dyn Application>, server: Box<dyn Application>) -> Result<World, ConfigError> {
        cfg.validate()?;
        let seed = cfg.seed;
        let mut client_isn = Stream::new(seed, Purpose::ClientIsn);
        let mut server_isn = Stream::new(seed, Purpose::ServerIsn);
        let nat = cfg.nat.clone().map(|n| Nat::new(n, Stream::new(seed, Purpose::NatPorts)));
        let host = |tcp, app| Host {
            state: HostState::Up,
            tcp: Some(tcp),
            app,
            app_alive: true,
            offset: Duration::ZERO,
            wake: None,
            ledger: VecDeque::new(),
            written: 0,
        };
        let client_tcp = TcpEndpoint::client(cfg.tcp.clone(), addr::CLIENT, addr::SERVER, client_isn.u32());
        let server_tcp = TcpEndpoint::server(cfg.tcp.clone(), addr::SERVER, server_isn.u32());
        let mut links = [
            [
                LinkDir::new(cfg.client_link.up.clone(), Stream::new(seed, Purpose::ClientUpLoss)),
                LinkDir::new(cfg.client_link.down.clone(), Stream::new(seed, Purpose::ClientDownLoss)),
            ],
            [
                LinkDir::new(cfg.server_link.up.clone(), Stream::new(seed, Purpose::ServerUpLoss)),
                LinkDir::new(cfg.server_link.down.clone(), Stream::new(seed, Purpose::ServerDownLoss)),
            ],
        ];
        for f in &cfg.faults {
            if let Fault::Outage { link, at, duration } = *f {
                for dir in &mut links[link.index()] {
                    dir.add_outage(Outage::new(at, duration));
                }
            }
        }
        Ok(World {
            now: Instant::ZERO,
            horizon: Instant::ZERO + cfg.horizon,
            queue: BinaryHeap::new(),
            next_seq: 0,
            hosts: [host(client_tcp, client), host(server_tcp, server)],
            links,
            nat,
            nat_wake: None,
            faults: cfg.faults,
            oracle: Oracle::default(),
            trace: Trace::new(cfg.trace),
            declarations: Vec::new(),
            io: AppIo::default(),
            stats: [WireStats::default(); 2],
            messages_received: [0; 2],
            nat_expired_at: Vec::new(),
            events_processed: 0,
            lookback: cfg.condition_lookback,
            queue_condition: cfg.queue_condition,
            started: false,
        })
    }

    pub fn now(&self) -> Instant {
        self.now
    }
    pub fn oracle(&self) -> &Oracle {
        &self.oracle
    }
    pub fn declarations(&self) -> &[Declaration] {
        &self.declarations
    }
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
    /// The side's TCP endpoint (gone after a reboot).
    pub fn tcp(&self, side: Side) -> Option<&TcpEndpoint> {
        self.hosts[side.index()].tcp.as_ref()
    }
    pub fn nat(&self) -> Option<&Nat> {
        self.nat.as_ref()
    }
    pub fn stats(&self, side: Side) -> &WireStats {
        &self.stats[side.index()]
    }

    /// Run to the horizon and return what happened.
    pub fn run(mut self) -> Outcome {
        self.run_until(self.horizon);
        self.finish()
    }

    /// Process every event up to and including `until` (capped at the horizon).
    pub fn run_until(&mut self, until: Instant) {
        let until = until.min(self.horizon);
        if !self.started {
            self.start();
        }
        while let Some(top) = self.queue.peek() {
            if top.at > until {
                break;
            }
            let Scheduled { at, ev, .. } = self.queue.pop().expect("peeked");
            self.now = at;
            self.events_processed += 1;
            self.dispatch(ev);
        }
        self.now = self.now.max(until);
    }

    /// What the run produced so far.
    pub fn finish(self) -> Outcome {
        Outcome {
            ended_at: self.now,
            broken: self.oracle.broken(),
            declarations: self.declarations,
            stats: self.stats,
            nat_expiries: self.nat.as_ref().map_or(0, Nat::expiries),
            nat_expired_at: self.nat_expired_at,
            messages_received: self.messages_received,
            events_processed: self.events_processed,
            trace: self.trace.into_records(),
        }
    }

    fn start(&mut self) {
        self.started = true;
        for i in 0..self.faults.len() {
            let f = self.faults[i];
            let (at, end) = (f.at(), f.duration().map(|d| f.at() + d));
            self.schedule_raw(at, Ev::FaultStart(i));
            if let Some(end) = end {
                self.schedule_raw(end, Ev::FaultEnd(i));
            }
        }
        let now = self.now;
        if let Some(tcp) = &mut self.hosts[0].tcp {
            tcp.connect(now);
        }
        self.pump(Side::Client);
    }

    fn schedule_raw(&mut self, at: Instant, ev: Ev) {
        self.next_seq += 1;
        self.queue.push(Scheduled { at, seq: self.next_seq, ev });
    }

    fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive { hop: Hop::Middle { from }, seg } => self.at_middle(from, seg),
            Ev::Arrive { hop: Hop::Host(side), seg } => self.at_host(side, seg),
            Ev::Wake(side) => self.wake(side),
            Ev::NatWake => {
                self.nat_wake = None;
                let now = self.now;
                if let Some(nat) = &mut self.nat {
                    nat.handle_timeout(now);
                }
                self.after_nat();
            }
            Ev::FaultStart(i) => self.fault_start(i),
            Ev::FaultEnd(i) => self.fault_end(i),
        }
    }

    // ----- packets -------------------------------------------------------------

    /// Put `seg` on `side`'s link in direction `dir`; schedule its arrival.
    fn offer(&mut self, side: Side, dir: usize, seg: Segment, hop: Hop) {
        let now = self.now;
        let place = if dir == UP { Place::Uplink(side) } else { Place::Downlink(side) };
        match self.links[side.index()][dir].offer(now, seg.ip_bytes()) {
            Offer::Arrives { at, queued } => {
                if !queued.is_zero() {
                    self.trace.record(now, || TraceEvent::Queued { place, seg, wait: queued });
                }
                self.schedule_raw(at, Ev::Arrive { hop, seg });
            }
            Offer::Dropped(reason) => {
                if reason == LinkDrop::RandomLoss {
                    self.oracle.record_random_loss(now);
                }
                self.trace.record(now, || TraceEvent::Dropped { place, seg, reason: DropReason::Link(reason) });
            }
        }
    }

    fn transmit(&mut self, side: Side, seg: Segment) {
        let st = &mut self.stats[side.index()];
        st.packets[seg.kind as usize] += 1;
        st.bytes[seg.kind as usize] += u64::from(seg.ip_bytes());
        self.trace.record(self.now, || TraceEvent::Sent { side, seg });
        self.offer(side, UP, seg, Hop::Middle { from: side });
    }

    fn at_middle(&mut self, from: Side, seg: Segment) {
        let to = from.peer();
        let now = self.now;
        let Some(nat) = &mut self.nat else {
            self.offer(to, DOWN, seg, Hop::Host(to));
            return;
        };
        let verdict = match from {
            Side::Client => nat.outbound(now, &seg),
            Side::Server => nat.inbound(now, &seg),
        };
        self.after_nat();
        match verdict {
            NatVerdict::Forward(after) => {
                if after != seg {
                    self.trace.record(now, || TraceEvent::Translated { before: seg, after });
                }
                self.offer(to, DOWN, after, Hop::Host(to));
            }
            NatVerdict::Drop(reason) => {
                self.trace.record(now, || TraceEvent::Dropped { place: Place::Nat, seg, reason: DropReason::Nat(reason) });
            }
            NatVerdict::Reset(rst) => {
                self.trace.record(now, || TraceEvent::Dropped {
                    place: Place::Nat,
                    seg,
                    reason: DropReason::Nat(crate::nat::NatDrop::NoMappingOutbound),
                });
                self.trace.record(now, || TraceEvent::NatReset { seg: rst });
                self.offer(from, DOWN, rst, Hop::Host(from));
            }
        }
    }

    fn at_host(&mut self, side: Side, seg: Segment) {
        let now = self.now;
        let host = &mut self.hosts[side.index()];
        let reason = match host.state {
            HostState::Up => None,
            HostState::Suspended => Some(DropReason::HostSuspended),
            HostState::Down | HostState::Gone => Some(DropReason::HostDown),
        };
        if let Some(reason) = reason {
            self.trace.record(now, || TraceEvent::Dropped { place: Place::Host(side), seg, reason });
            return;
        }
        self.trace.record(now, || TraceEvent::Delivered { side, seg });
        let local = host.local(now);
        match &mut host.tcp {
            Some(tcp) if tcp.matches(&seg) && tcp.state() != TcpState::Closed => {
                tcp.handle_segment(local, &seg);
                self.pump(side);
            }
            _ => {
                // No such connection here: the stack answers with RST.
                if let Some(rst) = seg.reset_reply() {
                    self.transmit(side, rst);
                }
            }
        }
    }

    // ----- hosts -----------------------------------------------------------------

    fn wake(&mut self, side: Side) {
        let now = self.now;
        let host = &mut self.hosts[side.index()];
        if host.wake == Some(now) {
            host.wake = None;
        }
        if host.state != HostState::Up {
            return;
        }
        let local = host.local(now);
        if let Some(tcp) = &mut host.tcp {
            let trace = &mut self.trace;
            tcp.handle_timeout(local, |timer| trace.record(now, || TraceEvent::TimerFired { side, timer }));
        }
        if host.app_alive && host.app.poll_timeout().is_some_and(|t| t <= local) {
            let acked = host.tcp.as_ref().map_or(0, TcpEndpoint::acked_bytes);
            self.io.reset(host.written, acked);
            host.app.on_timeout(local, &mut self.io);
            self.apply_commands(side);
        }
        self.pump(side);
    }

    /// Hand socket events to the application, apply what it asks, transmit,
    /// and schedule the next wake-up. Loops until the socket is quiet.
    fn pump(&mut self, side: Side) {
        let now = self.now;
        let i = side.index();
        while let Some(event) = self.hosts[i].tcp.as_mut().and_then(TcpEndpoint::poll_event) {
            self.trace.record(now, || TraceEvent::Socket { side, event });
            match event {
                SocketEvent::Connected => self.deliver(side, AppEvent::Connected),
                SocketEvent::Received { up_to } => {
                    self.deliver(side, AppEvent::Readable { bytes: up_to });
                    // Whole messages of the peer's stream now readable, in order.
                    while let Some(&(end, tag, size)) = self.hosts[side.peer().index()].ledger.front() {
                        if end > up_to {
                            break;
                        }
                        self.hosts[side.peer().index()].ledger.pop_front();
                        self.messages_received[i] += 1;
                        self.trace.record(now, || TraceEvent::AppMessage { side, tag, size });
                        self.deliver(side, AppEvent::Message { tag, size });
                    }
                }
                SocketEvent::Acked { up_to } => self.deliver(side, AppEvent::Acked { bytes: up_to }),
                SocketEvent::Eof => self.deliver(side, AppEvent::Eof),
                SocketEvent::Error(e) => self.deliver(side, AppEvent::Error(e)),
                // Never accepted, so the application is not told.
                SocketEvent::HalfOpenDropped => {}
            }
        }
        self.flush(side);
        self.reschedule(side);
    }

    /// Give one event to the side's application and apply its commands.
    fn deliver(&mut self, side: Side, ev: AppEvent) {
        let host = &mut self.hosts[side.index()];
        if !host.app_alive {
            return;
        }
        let acked = host.tcp.as_ref().map_or(0, TcpEndpoint::acked_bytes);
        self.io.reset(host.written, acked);
        host.app.on_event(host.local(self.now), ev, &mut self.io);
        self.apply_commands(side);
    }

    fn flush(&mut self, side: Side) {
        let local = self.hosts[side.index()].local(self.now);
        while let Some(seg) = self.hosts[side.index()].tcp.as_mut().and_then(|t| t.poll_transmit(local)) {
            self.transmit(side, seg);
        }
    }

    fn reschedule(&mut self, side: Side) {
        let host = &self.hosts[side.index()];
        if host.state != HostState::Up {
            return;
        }
        let tcp_t = host.tcp.as_ref().and_then(TcpEndpoint::poll_timeout);
        let app_t = if host.app_alive { host.app.poll_timeout() } else { None };
        let next = match (tcp_t, app_t) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(next) = next.map(|t| host.global(t).max(self.now)) else { return };
        if host.wake.is_none_or(|w| next < w || w < self.now) {
            self.hosts[side.index()].wake = Some(next);
            self.schedule_raw(next, Ev::Wake(side));
        }
    }

    fn apply_commands(&mut self, side: Side) {
        let now = self.now;
        let i = side.index();
        let mut commands = std::mem::take(&mut self.io);
        for cmd in commands.take() {
            let host = &mut self.hosts[i];
            let local = host.local(now);
            match cmd {
                AppCommand::Write { size, tag } => {
                    let Some(tcp) = &mut host.tcp else { continue };
                    if tcp.state() == TcpState::Closed {
                        continue;
                    }
                    tcp.write(size);
                    host.written += size;
                    host.ledger.push_back((host.written, tag, size));
                    self.trace.record(now, || TraceEvent::AppWrite { side, tag, size });
                }
                AppCommand::Close => {
                    if let Some(tcp) = &mut host.tcp {
                        tcp.close();
                    }
                }
                AppCommand::Abort => {
                    if let Some(tcp) = &mut host.tcp {
                        tcp.abort();
                    }
                }
                AppCommand::SetKeepalive(ka) => {
                    if let Some(tcp) = &mut host.tcp {
                        tcp.set_keepalive(local, ka);
                    }
                }
                AppCommand::SetUserTimeout(ut) => {
                    if let Some(tcp) = &mut host.tcp {
                        tcp.set_user_timeout(ut);
                    }
                }
                AppCommand::DeclareDead { cause } => {
                    let queued = self.long_queue();
                    let verdict = self.oracle.judge(now, self.lookback, queued);
                    let c = cause.clone();
                    self.trace.record(now, || TraceEvent::Declared { side, cause: c, verdict });
                    self.declarations.push(Declaration { side, at: now, cause, verdict });
                }
            }
        }
        self.io = commands;
    }

    /// Does a long queue stand anywhere on the path right now?
    fn long_queue(&self) -> bool {
        let limit = self.queue_condition;
        let links = self.links.iter().flatten().any(|l| l.backlog_delay(self.now) >= limit);
        let buffers = Side::BOTH.iter().any(|&s| {
            let pending = self.hosts[s.index()].tcp.as_ref().map_or(0, TcpEndpoint::unacked_bytes);
            let rate = self.links[s.index()][UP].config().rate_bps;
            Duration::from_secs_f64(pending as f64 * 8.0 / rate as f64) >= limit
        });
        links || buffers
    }

    // ----- NAT ---------------------------------------------------------------------

    fn after_nat(&mut self) {
        let now = self.now;
        let Some(nat) = &mut self.nat else { return };
        let breaks = nat.config().on_expired.breaks_connection();
        while let Some(ev) = nat.poll_event() {
            match ev {
                NatEvent::Created { mapping, recreated } => {
                    if recreated && !breaks {
                        self.oracle.close_transient(now, Condition::NatIdle);
                    }
                    self.trace.record(now, || TraceEvent::NatMappingCreated { mapping, recreated });
                }
                NatEvent::Expired { mapping, idle } => {
                    if mapping.closing {
                        // The flow was already closed: nothing is lost.
                    } else if breaks {
                        self.nat_expired_at.push(now);
                        self.oracle.record_break(now, BreakCause::NatExpired);
                    } else {
                        self.nat_expired_at.push(now);
                        self.oracle.open_transient(now, Condition::NatIdle);
                    }
                    self.trace.record(now, || TraceEvent::NatMappingExpired { mapping, idle });
                }
                NatEvent::Rebooted { lost } => {
                    if lost > 0 {
                        if breaks {
                            self.oracle.record_break(now, BreakCause::NatReboot);
                        } else {
                            self.oracle.open_transient(now, Condition::NatIdle);
                        }
                    }
                    self.trace.record(now, || TraceEvent::NatRebooted { lost });
                }
            }
        }
        let next = nat.poll_timeout();
        if let Some(next) = next {
            if self.nat_wake.is_none_or(|w| next < w || w < now) {
                self.nat_wake = Some(next);
                self.schedule_raw(next.max(now), Ev::NatWake);
            }
        }
    }

    // ----- faults ------------------------------------------------------------------

    fn fault_start(&mut self, i: usize) {
        let now = self.now;
        let fault = self.faults[i];
        let ev = match fault {
            Fault::Vanish { side, .. } => {
                self.hosts[side.index()].state = HostState::Gone;
                self.oracle.record_break(now, BreakCause::Vanish(side));
                FaultEvent::Vanish(side)
            }
            Fault::Reboot { side, .. } => {
                let host = &mut self.hosts[side.index()];
                host.state = HostState::Down;
                host.tcp = None;
                host.app = Box::new(Idle);
                host.app_alive = false;
                self.oracle.record_break(now, BreakCause::Reboot(side));
                FaultEvent::RebootStart(side)
            }
            Fault::Suspend { side, .. } => {
                self.hosts[side.index()].state = HostState::Suspended;
                self.oracle.open_transient(now, Condition::Suspend);
                FaultEvent::SuspendStart(side)
            }
            Fault::Outage { link, .. } => {
                self.oracle.open_transient(now, Condition::Outage);
                FaultEvent::OutageStart(link)
            }
            Fault::NatReboot { .. } => {
                if let Some(nat) = &mut self.nat {
                    nat.reboot();
                }
                self.trace.record(now, || TraceEvent::Fault(FaultEvent::NatReboot));
                self.after_nat();
                return;
            }
            Fault::Crash { side, .. } => {
                // The application is gone: the connection can never serve it again.
                self.oracle.record_break(now, BreakCause::Crash(side));
                let host = &mut self.hosts[side.index()];
                host.app_alive = false;
                if let Some(tcp) = &mut host.tcp {
                    tcp.close();
                }
                self.trace.record(now, || TraceEvent::Fault(FaultEvent::Crash(side)));
                self.pump(side);
                return;
            }
        };
        self.trace.record(now, || TraceEvent::Fault(ev));
    }

    fn fault_end(&mut self, i: usize) {
        let now = self.now;
        let ev = match self.faults[i] {
            Fault::Reboot { side, .. } => {
                let host = &mut self.hosts[side.index()];
                if host.state == HostState::Down {
                    host.state = HostState::Up;
                }
                FaultEvent::RebootDone(side)
            }
            Fault::Suspend { side, duration, .. } => {
                let host = &mut self.hosts[side.index()];
                if host.state == HostState::Suspended {
                    host.state = HostState::Up;
                    host.offset += duration;
                    host.wake = None;
                }
                self.oracle.close_transient(now, Condition::Suspend);
                self.trace.record(now, || TraceEvent::Fault(FaultEvent::SuspendEnd(side)));
                self.reschedule(side);
                return;
            }
            Fault::Outage { link, .. } => {
                self.oracle.close_transient(now, Condition::Outage);
                FaultEvent::OutageEnd(link)
            }
            _ => return,
        };
        self.trace.record(now, || TraceEvent::Fault(ev));
    }
}
