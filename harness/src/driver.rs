//! The application driver on each end of every connection: the scenario's
//! workload plus (optionally) a strategy.
//!
//! It writes the scenario's traffic, answers requests and pings, hands the
//! strategy what it observes, and turns a strategy's verdict or a socket
//! error into one death declaration, after which it aborts the connection and
//! goes quiet (no more timers), like a real client that gives up.

use crate::scenario::{Schedule, Traffic, TrafficKind};
use crate::strategy::{Control, Observed, Strategy};
use crate::wire::traffic_tag;
pub use crate::wire::{tag, tag_id, traffic_index, Class};
use rand_chacha::ChaCha8Rng;
use sim::{AppEvent, AppIo, Application, Instant, Side};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Counters the runner reads after the run.
#[derive(Debug, Default, Clone, Copy)]
pub struct DriverStats {
    pub pings: u64,
    pub ping_bytes: u64,
    pub pongs: u64,
    pub pong_bytes: u64,
}

struct Generator {
    traffic: Traffic,
    index: usize,
    rng: ChaCha8Rng,
    next: Option<Instant>,
    sent: u64,
}

pub struct AppDriver {
    side: Side,
    traffic: std::rc::Rc<[Traffic]>,
    generators: Vec<Generator>,
    strategy: Option<Box<dyn Strategy>>,
    dead: Option<String>,
    done: bool,
    stats: Rc<RefCell<DriverStats>>,
    /// Close the connection on purpose after this much idleness (see [`AppDriver::with_idle_timeout`]).
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Instant>,
    /// Client: its requests still waiting for their replies.
    outstanding: u64,
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
            .map(|(index, t)| {
                let rng = sim::rng::chacha(seed, sim::rng::streams::traffic(index, slot));
                Generator { traffic: t.clone(), index, rng, next: None, sent: 0 }
            })
            .collect();
        AppDriver {
            side,
            traffic,
            generators,
            strategy,
            dead: None,
            done: false,
            stats,
            idle_timeout: None,
            idle_deadline: None,
            outstanding: 0,
        }
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

    /// A verdict was reached: declare once, abort, go quiet.
    fn settle(&mut self, io: &mut AppIo) {
        if let Some(cause) = self.dead.take() {
            if !self.done {
                io.declare_dead(cause);
                io.abort();
                self.done = true;
            }
        }
    }
}

impl Application for AppDriver {
    fn on_event(&mut self, now: Instant, event: AppEvent, io: &mut AppIo) {
        if self.done {
            return;
        }
        let written = io.written();
        match event {
            AppEvent::Connected => {
                self.touch(now);
                for g in &mut self.generators {
                    g.next = Some(match g.traffic.schedule {
                        Schedule::Every(gap) => now + gap.sample(&mut g.rng),
                        Schedule::At(at) => Instant::ZERO + at.sample(&mut g.rng),
                    });
                }
                self.with_strategy(io, |s, ctl| s.on_connected(now, ctl));
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
        self.settle(io);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let workload = self.generators.iter().filter_map(|g| g.next).min();
        let strategy = self.strategy.as_ref().and_then(|s| s.poll_timeout());
        [workload, strategy, self.idle_deadline].into_iter().flatten().min()
    }

    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        if self.done {
            return;
        }
        if self.idle_deadline.is_some_and(|t| t <= now) {
            // Idle too long: close on purpose (an orderly end), and go quiet.
            io.close_on_purpose();
            self.done = true;
            return;
        }
        let written = io.written();
        let mut wrote = Vec::new();
        for g in &mut self.generators {
            while let Some(at) = g.next.filter(|t| *t <= now) {
                let class = match g.traffic.kind {
                    TrafficKind::Requests => Class::Request,
                    TrafficKind::Upload => Class::Upload,
                    TrafficKind::Download => Class::Download,
                };
                io.write(g.traffic.size, traffic_tag(class, g.index, g.sent));
                wrote.push((class, g.traffic.size));
                g.sent += 1;
                let more = g.traffic.count.is_none_or(|c| g.sent < c);
                g.next = match g.traffic.schedule {
                    Schedule::Every(gap) if more => Some(at + gap.sample(&mut g.rng).max(Duration::from_millis(1))),
                    _ => None,
                };
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
        if self.strategy.as_ref().and_then(|s| s.poll_timeout()).is_some_and(|t| t <= now) {
            self.with_strategy(io, |s, ctl| s.on_timeout(now, ctl));
        }
        self.wrote_since(now, written, io);
        self.settle(io);
    }
}
