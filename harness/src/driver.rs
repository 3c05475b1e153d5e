//! The application driver on each end of every connection: the scenario's
//! workload plus (optionally) a strategy.
//!
//! It writes the scenario's traffic, answers requests and pings, hands the
//! strategy what it observes, and turns a strategy's verdict or a socket
//! error into one death declaration, after which it aborts the connection and
//! goes quiet (no more timers), like a real client that gives up.

use crate::scenario::{ReconnectMode, Schedule, Traffic, TrafficKind};
use crate::session::{Reconnector, RequestBook};
use crate::strategy::{Control, Observed, Strategy};
use crate::wire::traffic_tag;
pub use crate::wire::{tag, tag_id, traffic_index, traffic_seq, Class};
use rand_chacha::ChaCha8Rng;
use sim::{AppEvent, AppIo, Application, Instant, Side};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Counters the runner reads after the run.
#[derive(Debug, Default, Clone, Copy)]
pub struct DriverStats {
    /// Pings and one-way heartbeat frames this side's strategy wrote ([`Control::ping`](crate::strategy::Control::ping), [`Control::beat`](crate::strategy::Control::beat)).
    pub pings: u64,
    /// Bytes of those pings and frames (application payload, not IP bytes).
    pub ping_bytes: u64,
    /// Pongs this side's application wrote in answer to the peer's pings.
    pub pongs: u64,
    /// Bytes of those pongs (the same size as the pings they answer).
    pub pong_bytes: u64,
}

/// One `[[traffic]]` entry's schedule on this side: its entry is
/// `AppDriver::traffic[index]`.
struct Generator {
    index: usize,
    rng: ChaCha8Rng,
    next: Option<Instant>,
    sent: u64,
}

/// The application on one end of one connection slot: it writes the side's `[[traffic]]`,
/// answers requests and pings, feeds its strategy (if any), and declares the peer dead
/// once (a strategy's verdict, ETIMEDOUT, ECONNRESET, EOF), then aborts and goes quiet.
/// A client with a [`ClientSession`] reconnects instead of going quiet for good.
pub struct AppDriver {
    side: Side,
    traffic: std::rc::Rc<[Traffic]>,
    generators: Box<[Generator]>,
    /// The strategy of the current connection once it is established: only
    /// then is it polled and fed events (see [`Strategy`]'s contract).
    strategy: Option<Box<dyn Strategy>>,
    /// The strategy made for a connection that is not established yet. A
    /// server's application exists from the first SYN; a strategy polled
    /// before `on_connected` would judge a handshake by its initial state
    /// (an MQTT broker's `last_in = 0` declared every reconnect dead at its
    /// SYN-ACK).
    unstarted: Option<Box<dyn Strategy>>,
    dead: Option<String>,
    done: bool,
    stats: Rc<RefCell<DriverStats>>,
    /// Close the connection on purpose after this much idleness (see [`AppDriver::with_idle_timeout`]).
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Instant>,
    /// Client: its requests still waiting for their replies.
    outstanding: u64,
    /// The client's session across connections (a scenario that measures
    /// sessions). Boxed: it is half a kilobyte (its reconnect jitter's
    /// generator), and servers and v1 clients have none.
    session: Option<Box<ClientSession>>,
}

/// What a client application keeps across its slot's connections.
pub struct ClientSession {
    /// The connection slot this session is (0-based, over every client host of the world).
    pub slot: u32,
    /// Decides when the next connection attempt may start (`[client.reconnect]`).
    pub reconnect: Reconnector,
    /// Where the slot's requests' outcomes go; shared by every client application of the run.
    pub book: Rc<RefCell<RequestBook>>,
    /// A fresh strategy for each new connection.
    pub make_strategy: Rc<dyn Fn() -> Option<Box<dyn Strategy>>>,
    /// Which connection of the slot is current (0 = the first).
    conn: u32,
    phase: Phase,
    /// Requests issued while there was no open connection, in order: (traffic entry, id, size).
    waiting: Vec<(usize, u64, u64)>,
    started: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A SYN is out.
    Connecting,
    Open,
    /// No connection: the last one ended or an attempt failed.
    Closed,
}

impl ClientSession {
    /// Between connections: does it want the next one (eager: always, when
    /// the backoff allows; lazy: for a waiting request; off: never)?
    fn wants_connection(&self) -> bool {
        match self.reconnect.mode() {
            ReconnectMode::Off => false,
            ReconnectMode::Eager => true,
            ReconnectMode::Lazy => !self.waiting.is_empty(),
        }
    }

    /// A session for `slot` whose first connection attempt is the world's, at time 0.
    pub fn new(
        slot: u32,
        reconnect: Reconnector,
        book: Rc<RefCell<RequestBook>>,
        make_strategy: Rc<dyn Fn() -> Option<Box<dyn Strategy>>>,
    ) -> Self {
        ClientSession { slot, reconnect, book, make_strategy, conn: 0, phase: Phase::Connecting, waiting: Vec::new(), started: false }
    }
}

impl AppDriver {
    /// The application of one end of connection `slot`. `seed` feeds the
    /// traffic's random gaps: one stream per traffic entry and slot (slot 0's
    /// are a one-connection world's), so adding a connection shifts no other's.
    pub fn new(
        side: Side,
        traffic: Rc<[Traffic]>,
        seed: u64,
        slot: u32,
        strategy: Option<Box<dyn Strategy>>,
        stats: Rc<RefCell<DriverStats>>,
    ) -> Self {
        let generators = traffic
            .iter()
            .enumerate()
            .filter(|(_, t)| t.from == side)
            .map(|(index, _)| {
                let rng = sim::rng::chacha(seed, sim::rng::streams::traffic(index, slot));
                Generator { index, rng, next: None, sent: 0 }
            })
            .collect::<Vec<_>>()
            // No spare room: a fleet has one per connection, and a generator is 300 bytes.
            .into_boxed_slice();
        AppDriver {
            side,
            traffic,
            generators,
            strategy: None,
            unstarted: strategy,
            dead: None,
            done: false,
            stats,
            idle_timeout: None,
            idle_deadline: None,
            outstanding: 0,
            session: None,
        }
    }

    /// A client that keeps a session: it reconnects as `session.reconnect`
    /// says, and its requests' outcomes go to `session.book`. The first
    /// attempt is already under way (the world connects every slot at 0).
    pub fn with_session(mut self, now: Instant, mut session: ClientSession) -> Self {
        session.reconnect.attempt_started(now);
        self.session = Some(Box::new(session));
        self
    }

    /// An application idle timeout. On the server, the connection is closed
    /// (FIN, on purpose) `timeout` after its application last read or wrote
    /// data (nginx `keepalive_timeout`, node `keepAliveTimeout`); the timer
    /// starts at accept. On the client it is the pool's max-idle: the
    /// connection is closed once it has had no request outstanding for
    /// `timeout`. Application timers are exact (no timer wheel).
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// A server's application wrote data in this callback: that is activity.
    fn wrote_since(&mut self, now: Instant, before: u64, io: &AppIo) {
        if self.side == Side::Server && io.written() > before {
            self.touch(now);
        }
    }

    /// Restart the idle timer at `now` (when it runs and nothing holds it).
    fn touch(&mut self, now: Instant) {
        if let Some(t) = self.idle_timeout {
            if self.outstanding == 0 {
                self.idle_deadline = Some(now + t);
            }
        }
    }

    /// The connection is established: its strategy starts now.
    fn start_strategy(&mut self, now: Instant, io: &mut AppIo) {
        if let Some(strategy) = self.unstarted.take() {
            self.strategy = Some(strategy);
        }
        self.with_strategy(io, |s, ctl| s.on_connected(now, ctl));
    }

    fn with_strategy(&mut self, io: &mut AppIo, f: impl FnOnce(&mut dyn Strategy, &mut Control)) {
        let Some(strategy) = self.strategy.as_deref_mut() else { return };
        let mut st = self.stats.borrow_mut();
        let DriverStats { pings, ping_bytes, .. } = &mut *st;
        let mut ctl = Control { io, pings, ping_bytes, dead: &mut self.dead };
        f(strategy, &mut ctl);
    }

    fn observe(&mut self, now: Instant, ev: Observed, io: &mut AppIo) {
        self.with_strategy(io, |s, ctl| s.on_event(now, ev, ctl));
    }

    /// A verdict was reached: declare once, abort, go quiet (until a
    /// session opens the next connection).
    fn settle(&mut self, now: Instant, io: &mut AppIo) {
        if let Some(cause) = self.dead.take() {
            if !self.done {
                io.declare_dead(cause);
                io.abort();
                self.done = true;
                self.connection_over(now, io, false);
            }
        }
    }

    /// Session: the connection that was open has ended at `now` (`on_purpose`:
    /// this client's own idle close). Its unanswered requests fail; an eager
    /// session reconnects at once, a lazy one when a request is waiting. A
    /// pool does not reopen what it closed for idleness until it needs it.
    fn connection_over(&mut self, now: Instant, io: &mut AppIo, on_purpose: bool) {
        let Some(s) = self.session.as_mut() else { return };
        if s.phase != Phase::Open {
            return;
        }
        s.book.borrow_mut().connection_ended(s.slot, s.conn, now);
        s.phase = Phase::Closed;
        s.reconnect.ended();
        self.strategy = None;
        self.unstarted = None;
        self.idle_deadline = None;
        self.outstanding = 0;
        let eager = s.reconnect.mode() == ReconnectMode::Eager && !on_purpose;
        if eager || !s.waiting.is_empty() {
            self.try_connect(now, io);
        }
    }

    /// Session: start an attempt now if the policy allows.
    fn try_connect(&mut self, now: Instant, io: &mut AppIo) {
        let Some(s) = self.session.as_mut() else { return };
        if s.phase != Phase::Closed || !s.reconnect.may_attempt(now) {
            return;
        }
        io.connect();
        s.conn += 1;
        s.phase = Phase::Connecting;
        s.reconnect.attempt_started(now);
    }

    /// Session: the attempt failed at `now` (refused, reset, timed out).
    fn attempt_failed(&mut self, now: Instant) {
        let Some(s) = self.session.as_mut() else { return };
        s.phase = Phase::Closed;
        s.reconnect.attempt_failed(now);
    }

    /// Session: the attempt succeeded. A reconnect gets a fresh strategy and
    /// writes the requests that waited; the workload keeps its schedule.
    fn session_connected(&mut self, now: Instant, io: &mut AppIo) {
        let Some(s) = self.session.as_mut() else { return };
        s.phase = Phase::Open;
        s.reconnect.connected();
        if s.started {
            self.unstarted = (s.make_strategy)();
            self.done = false;
        }
        let waiting = std::mem::take(&mut s.waiting);
        let (slot, conn, book) = (s.slot, s.conn, s.book.clone());
        for (index, id, size) in waiting {
            io.write(size, traffic_tag(Class::Request, index, id));
            book.borrow_mut().written((slot, index as u32, id), conn);
            if self.idle_timeout.is_some() {
                self.outstanding += 1;
            }
            self.observe(now, Observed::Wrote { size }, io);
        }
        if self.outstanding > 0 {
            self.idle_deadline = None;
        }
    }

    /// Session: a request of traffic entry `index` was issued at `now`.
    /// Returns whether to write it on the open connection.
    fn issue(&mut self, now: Instant, index: usize, id: u64, size: u64) -> bool {
        let Some(s) = self.session.as_mut() else { return true };
        let t = &self.traffic[index];
        let tracked = t.kind == TrafficKind::Requests && t.reply > 0;
        let key = (s.slot, index as u32, id);
        match s.phase {
            Phase::Open => {
                if tracked {
                    s.book.borrow_mut().issue(key, now, t.timeout, Some(s.conn));
                }
                true
            }
            _ if t.kind != TrafficKind::Requests => false,
            _ if s.reconnect.mode() == ReconnectMode::Off => {
                if tracked {
                    s.book.borrow_mut().fail_now(key, now);
                }
                false
            }
            _ => {
                if tracked {
                    s.book.borrow_mut().issue(key, now, t.timeout, None);
                }
                s.waiting.push((index, id, size));
                false
            }
        }
    }

    fn phase(&self) -> Option<Phase> {
        self.session.as_ref().map(|s| s.phase)
    }

    /// May the workload and the strategy use the connection now?
    fn writable(&self) -> bool {
        !self.done && self.phase().is_none_or(|p| p == Phase::Open)
    }

    /// Start the workload's schedule (at the first connection).
    fn start_generators(&mut self, now: Instant) {
        if let Some(s) = self.session.as_mut() {
            if std::mem::replace(&mut s.started, true) {
                return;
            }
        }
        for g in &mut self.generators {
            g.next = Some(match self.traffic[g.index].schedule {
                Schedule::Every(gap) => now + gap.sample(&mut g.rng),
                Schedule::At(at) => Instant::ZERO + at.sample(&mut g.rng),
            });
        }
    }
}

impl Application for AppDriver {
    fn on_event(&mut self, now: Instant, event: AppEvent, io: &mut AppIo) {
        match (self.phase(), event) {
            (Some(Phase::Connecting), AppEvent::Connected) => {
                self.touch(now);
                self.start_generators(now);
                self.session_connected(now, io);
                self.start_strategy(now, io);
                self.settle(now, io);
                return;
            }
            // An attempt that never connected: a failure, not a detection.
            (Some(Phase::Connecting), AppEvent::Error(_) | AppEvent::Eof) => {
                io.abort();
                self.attempt_failed(now);
                return;
            }
            (Some(Phase::Closed), _) => return,
            _ => {}
        }
        if self.done {
            return;
        }
        let written = io.written();
        match event {
            AppEvent::Connected => {
                self.touch(now);
                self.start_generators(now);
                self.start_strategy(now, io);
            }
            AppEvent::Readable { bytes } => {
                if self.side == Side::Server {
                    self.touch(now);
                }
                self.observe(now, Observed::Received { total: bytes }, io)
            }
            AppEvent::Message { tag, size } => match Class::of(tag) {
                Some(Class::Ping) => {
                    self.observe(now, Observed::Ping { id: tag_id(tag) }, io);
                    let mut st = self.stats.borrow_mut();
                    st.pongs += 1;
                    st.pong_bytes += size;
                    drop(st);
                    io.write(size, self::tag(Class::Pong, tag_id(tag)));
                    self.observe(now, Observed::Answered { size }, io);
                }
                Some(Class::Beat) => {}
                Some(Class::Pong) => self.observe(now, Observed::Pong { id: tag_id(tag) }, io),
                Some(Class::Reply) if self.side == Side::Client => {
                    if let Some(s) = &self.session {
                        s.book.borrow_mut().answered((s.slot, traffic_index(tag) as u32, traffic_seq(tag)), now);
                    }
                    self.outstanding = self.outstanding.saturating_sub(1);
                    self.touch(now);
                    self.observe(now, Observed::WorkloadMessage { size }, io);
                }
                class => {
                    if class == Some(Class::Request) {
                        let index = traffic_index(tag);
                        if let Some(t) = self.traffic.get(index).filter(|t| t.reply > 0) {
                            io.write(t.reply, traffic_tag(Class::Reply, index, tag_id(tag)));
                            self.observe(now, Observed::Wrote { size: t.reply }, io);
                        }
                    }
                    self.observe(now, Observed::WorkloadMessage { size }, io);
                }
            },
            AppEvent::Acked { bytes } => self.observe(now, Observed::Acked { total: bytes }, io),
            AppEvent::Eof => {
                self.dead.get_or_insert_with(|| "EOF".to_string());
            }
            AppEvent::Error(e) => {
                self.dead.get_or_insert_with(|| e.errno_name().to_string());
            }
        }
        self.wrote_since(now, written, io);
        self.settle(now, io);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        /// The earlier of two optional deadlines.
        fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        let workload = self.generators.iter().filter_map(|g| g.next).min();
        let connection = match self.phase() {
            None | Some(Phase::Open) if !self.done => earliest(self.strategy.as_ref().and_then(|s| s.poll_timeout()), self.idle_deadline),
            None | Some(Phase::Open) => None,
            Some(Phase::Connecting) => self.session.as_ref().and_then(|s| s.reconnect.attempt_deadline()),
            Some(Phase::Closed) => self.session.as_ref().and_then(|s| s.reconnect.not_before().filter(|_| s.wants_connection())),
        };
        // v1 (no session): a connection given up schedules nothing more.
        if self.done && self.session.is_none() {
            return None;
        }
        earliest(workload, connection)
    }

    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        let phase = self.phase();
        if self.done && phase.is_none() {
            return;
        }
        if phase == Some(Phase::Connecting) && self.session.as_ref().and_then(|s| s.reconnect.attempt_deadline()).is_some_and(|t| t <= now)
        {
            // connect_timeout: abandon the attempt.
            io.abort();
            self.attempt_failed(now);
        }
        if self.writable() && self.idle_deadline.is_some_and(|t| t <= now) {
            // Idle too long: close on purpose (an orderly end), and go quiet.
            io.close_on_purpose();
            self.done = true;
            self.connection_over(now, io, true);
            if self.session.is_none() {
                return;
            }
        }
        let open = self.writable();
        let written = io.written();
        let mut wrote = Vec::new();
        let mut issued = Vec::new();
        for g in &mut self.generators {
            let traffic = &self.traffic[g.index];
            while let Some(at) = g.next.filter(|t| *t <= now) {
                let class = match traffic.kind {
                    TrafficKind::Requests => Class::Request,
                    TrafficKind::Upload => Class::Upload,
                    TrafficKind::Download => Class::Download,
                };
                issued.push((class, g.index, g.sent, traffic.size));
                g.sent += 1;
                let more = traffic.count.is_none_or(|c| g.sent < c);
                g.next = match traffic.schedule {
                    Schedule::Every(gap) if more => Some(at + gap.sample(&mut g.rng).max(Duration::from_millis(1))),
                    _ => None,
                };
            }
        }
        for (class, index, id, size) in issued {
            if self.issue(now, index, id, size) && open {
                io.write(size, traffic_tag(class, index, id));
                wrote.push((class, size));
            }
        }
        for (class, size) in wrote {
            if class == Class::Request && self.side == Side::Client && self.idle_timeout.is_some() {
                // A request holds the pooled connection until its reply.
                self.outstanding += 1;
                self.idle_deadline = None;
            }
            self.observe(now, Observed::Wrote { size }, io);
        }
        if open && self.strategy.as_ref().and_then(|s| s.poll_timeout()).is_some_and(|t| t <= now) {
            self.with_strategy(io, |s, ctl| s.on_timeout(now, ctl));
        }
        if open {
            self.wrote_since(now, written, io);
            self.settle(now, io);
        }
        if self.session.as_ref().is_some_and(|s| s.wants_connection()) {
            self.try_connect(now, io);
        }
    }
}
