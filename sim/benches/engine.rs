//! Engine speed: `cargo bench -p sim`.
//!
//! Prints simulated events per second and connection-days per second for
//! (a) a connection exchanging a 200 B request / 1 KiB reply every 10 minutes
//! for 3 simulated days and (b) an idle connection with a 75 s keepalive for
//! 3 days, and the cost of a bare `BinaryHeap` push+pop of a same-sized
//! entry, so the engine's per-event cost reads as a ratio to it.
//! Targets (issue #2): (a) ≥ 5000 connection-days/s on one core; ≤ 5× heap.

use sim::app::{AppEvent, AppIo, Application, Idle};
use sim::tcp::Keepalive;
use sim::{Instant, World, WorldConfig};
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

const DAYS: u64 = 3;

struct Requester {
    next: Option<Instant>,
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

struct Replier;
impl Application for Replier {
    fn on_event(&mut self, _now: Instant, ev: AppEvent, io: &mut AppIo) {
        if let AppEvent::Message { .. } = ev {
            io.write(1024, 2);
        }
    }
}

struct KeepaliveOnly;
impl Application for KeepaliveOnly {
    fn on_event(&mut self, _now: Instant, ev: AppEvent, io: &mut AppIo) {
        if ev == AppEvent::Connected {
            io.set_keepalive(Some(Keepalive { idle: Duration::from_secs(75), interval: Duration::from_secs(75), count: 9 }));
        }
    }
}

fn cfg(seed: u64) -> WorldConfig {
    WorldConfig { seed, horizon: Duration::from_secs(DAYS * 86_400), ..WorldConfig::default() }
}

/// Run `make` repeatedly for about `budget`; return (runs, events, seconds).
fn measure(budget: Duration, mut make: impl FnMut(u64) -> World) -> (u64, u64, f64) {
    let start = std::time::Instant::now();
    let (mut runs, mut events) = (0u64, 0u64);
    while start.elapsed() < budget {
        let out = make(runs).run();
        events += out.events_processed;
        runs += 1;
        black_box(&out);
    }
    (runs, events, start.elapsed().as_secs_f64())
}

fn report(name: &str, (runs, events, secs): (u64, u64, f64), heap_ns: f64) {
    let ns_per_event = secs * 1e9 / events as f64;
    println!(
        "{name:<40} {:>9.0} conn-days/s {:>12.0} events/s {:>7.1} ns/event = {:>4.1}x heap op ({} events/run)",
        (runs * DAYS) as f64 / secs,
        events as f64 / secs,
        ns_per_event,
        ns_per_event / heap_ns,
        events / runs.max(1),
    );
}

/// A bare heap push+pop of an entry the size of the engine's (time, seq, event).
fn heap_op_ns() -> f64 {
    #[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
    struct Entry(u64, u64, [u64; 8]);
    let mut heap = BinaryHeap::with_capacity(64);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..16 {
        heap.push(Entry(i, i, [0; 8]));
    }
    let n = 20_000_000u64;
    let start = std::time::Instant::now();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        heap.push(Entry(x >> 40, i, [i; 8]));
        black_box(heap.pop());
    }
    start.elapsed().as_secs_f64() * 1e9 / n as f64
}

fn main() {
    // `cargo test --benches` runs this binary with --bench absent; stay quick then.
    let budget = if std::env::args().any(|a| a == "--bench") { Duration::from_secs(3) } else { Duration::from_millis(200) };
    let heap = heap_op_ns();
    println!("bare BinaryHeap push+pop: {heap:.1} ns");
    report(
        "(a) request every 10 min, 3 days",
        measure(budget, |s| World::new(cfg(s), Box::new(Requester { next: None }), Box::new(Replier)).unwrap()),
        heap,
    );
    report(
        "(b) idle, keepalive every 75 s, 3 days",
        measure(budget, |s| World::new(cfg(s), Box::new(KeepaliveOnly), Box::new(Idle)).unwrap()),
        heap,
    );
    // The trace's cost: off it is one branch per event; on it records everything.
    let traced = |s| World::new(WorldConfig { trace: true, ..cfg(s) }, Box::new(Requester { next: None }), Box::new(Replier)).unwrap();
    report("(a) with the trace recording", measure(budget, traced), heap);
}
