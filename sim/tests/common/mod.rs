//! Fixtures for the engine's integration tests: a scripted application that
//! writes at given instants, sets socket options when connected, and logs
//! every event it sees with its time.
#![allow(dead_code)]

use sim::app::{AppEvent, AppIo, Application};
use sim::socket::SocketError;
use sim::tcp::Keepalive;
use sim::trace::{TraceEvent, TraceRecord};
use sim::{Instant, Outcome, Side, World, WorldConfig};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

pub type Log = Rc<RefCell<Vec<(Instant, AppEvent)>>>;

#[derive(Default)]
pub struct Script {
    pub keepalive: Option<Keepalive>,
    pub user_timeout: Option<Duration>,
    /// (at, size, tag), in the host's local time.
    pub writes: VecDeque<(Instant, u64, u64)>,
    pub log: Log,
    connected: bool,
}

impl Script {
    pub fn new() -> Self {
        Script::default()
    }
    pub fn keepalive(mut self, idle: u64, interval: u64, count: u32) -> Self {
        self.keepalive = Some(Keepalive { idle: Duration::from_secs(idle), interval: Duration::from_secs(interval), count });
        self
    }
    pub fn user_timeout(mut self, t: Duration) -> Self {
        self.user_timeout = Some(t);
        self
    }
    pub fn write_at(mut self, at: Instant, size: u64, tag: u64) -> Self {
        self.writes.push_back((at, size, tag));
        self
    }
    pub fn log(&self) -> Log {
        self.log.clone()
    }
}

impl Application for Script {
    fn on_event(&mut self, now: Instant, event: AppEvent, io: &mut AppIo) {
        self.log.borrow_mut().push((now, event));
        if event == AppEvent::Connected {
            self.connected = true;
            if self.keepalive.is_some() {
                io.set_keepalive(self.keepalive);
            }
            if self.user_timeout.is_some() {
                io.set_user_timeout(self.user_timeout);
            }
        }
        if matches!(event, AppEvent::Error(_)) {
            self.writes.clear();
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.writes.front().filter(|_| self.connected).map(|w| w.0)
    }
    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        while let Some(&(at, size, tag)) = self.writes.front() {
            if at > now {
                break;
            }
            self.writes.pop_front();
            io.write(size, tag);
        }
    }
}

/// Run a world with two scripts and tracing on.
pub fn run(mut cfg: WorldConfig, client: Script, server: Script) -> Outcome {
    cfg.trace = true;
    World::new(cfg, Box::new(client), Box::new(server)).expect("valid config").run()
}

/// When the log first shows this error.
pub fn error_at(log: &Log, err: SocketError) -> Option<Instant> {
    log.borrow().iter().find(|(_, e)| *e == AppEvent::Error(err)).map(|(t, _)| *t)
}

/// When a message with this tag arrived.
pub fn message_at(log: &Log, tag: u64) -> Option<Instant> {
    log.borrow().iter().find(|(_, e)| matches!(e, AppEvent::Message { tag: t, .. } if *t == tag)).map(|(t, _)| *t)
}

/// The last time `side` received a segment before `before`.
pub fn last_delivery(trace: &[TraceRecord], side: Side, before: Instant) -> Instant {
    trace
        .iter()
        .filter(|r| r.at < before && matches!(&r.event, TraceEvent::Delivered { side: s, .. } if *s == side))
        .map(|r| r.at)
        .next_back()
        .expect("a delivery")
}

/// Instants at which `side` sent segments of `kind`.
pub fn sent_times(trace: &[TraceRecord], side: Side, kind: sim::packet::SegmentKind) -> Vec<Instant> {
    trace.iter().filter(|r| matches!(&r.event, TraceEvent::Sent { side: s, seg } if *s == side && seg.kind == kind)).map(|r| r.at).collect()
}

/// Seconds between two instants.
pub fn secs(later: Instant, earlier: Instant) -> f64 {
    (later - earlier).as_secs_f64()
}

/// The calibration bar: within 2 % or 50 ms of the kernel, whichever is larger.
pub fn assert_near_kernel(what: &str, model: f64, kernel: f64) {
    let tol = (kernel * 0.02).max(0.050);
    assert!((model - kernel).abs() <= tol, "{what}: model {model:.4} s, Linux {kernel:.4} s (tolerance {tol:.3} s)");
}
