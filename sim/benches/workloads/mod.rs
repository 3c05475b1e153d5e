//! The engine's workloads, shared by the timed bench (`engine.rs`) and the
//! fixed-work example (`examples/workload.rs`, for callgrind/cachegrind,
//! whose instruction and cache-miss counts do not depend on a noisy machine).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::app::{AppEvent, AppIo, Application};
use sim::nat::{NatConfig, OnExpired};
use sim::tcp::Keepalive;
use sim::world::AppFactory;
use sim::{Instant, WorldConfig};
use std::time::Duration;

/// A client that writes a 200 B request after exponentially distributed gaps
/// (mean 10 min) and keeps SO_KEEPALIVE at 75 s.
pub struct Poisson {
    rng: ChaCha8Rng,
    next: Option<Instant>,
}
impl Poisson {
    pub fn new(seed: u64, slot: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::from(slot));
        Poisson { rng, next: None }
    }
    fn gap(&mut self) -> Duration {
        Duration::from_secs_f64(-600.0 * (1.0 - self.rng.random::<f64>()).ln()).max(Duration::from_millis(1))
    }
}
impl Application for Poisson {
    fn on_event(&mut self, now: Instant, ev: AppEvent, io: &mut AppIo) {
        if ev == AppEvent::Connected {
            io.set_keepalive(Some(Keepalive { idle: Duration::from_secs(75), interval: Duration::from_secs(75), count: 9 }));
            self.next = Some(now + self.gap());
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        if let Some(t) = self.next.filter(|t| *t <= now) {
            io.write(200, 1);
            self.next = Some(t + self.gap());
        }
    }
}

pub struct Fleet {
    pub seed: u64,
    pub idle: bool,
}
impl AppFactory for Fleet {
    fn client(&mut self, slot: u32) -> Box<dyn Application> {
        if self.idle {
            Box::new(KeepaliveOnly)
        } else {
            Box::new(Poisson::new(self.seed, slot))
        }
    }
    fn server(&mut self, _slot: u32) -> Box<dyn Application> {
        Box::new(Replier)
    }
}

pub fn nat_cfg(seed: u64, clients: u32, connections: u32, hours: u64) -> WorldConfig {
    WorldConfig {
        seed,
        horizon: Duration::from_secs(hours * 3600),
        clients,
        connections_per_client: connections,
        nat: Some(NatConfig::new(Duration::from_secs(350), OnExpired::Rst)),
        ..WorldConfig::default()
    }
}

pub const DAYS: u64 = 3;

pub struct Requester {
    pub next: Option<Instant>,
}
impl Application for Requester {
    fn on_event(&mut self, now: Instant, ev: AppEvent, _io: &mut AppIo) {
        if ev == AppEvent::Connected {
            self.next = Some(now + Duration::from_secs(600));
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        if let Some(t) = self.next.filter(|t| *t <= now) {
            io.write(200, 1);
            self.next = Some(t + Duration::from_secs(600));
        }
    }
}

pub struct Replier;
impl Application for Replier {
    fn on_event(&mut self, _now: Instant, ev: AppEvent, io: &mut AppIo) {
        if let AppEvent::Message { .. } = ev {
            io.write(1024, 2);
        }
    }
}

pub struct KeepaliveOnly;
impl Application for KeepaliveOnly {
    fn on_event(&mut self, _now: Instant, ev: AppEvent, io: &mut AppIo) {
        if ev == AppEvent::Connected {
            io.set_keepalive(Some(Keepalive { idle: Duration::from_secs(75), interval: Duration::from_secs(75), count: 9 }));
        }
    }
}

pub fn cfg(seed: u64) -> WorldConfig {
    WorldConfig { seed, horizon: Duration::from_secs(DAYS * 86_400), ..WorldConfig::default() }
}
