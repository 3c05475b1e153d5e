//! Engine speed: `cargo bench -p sim`.
//!
//! Prints simulated events per second and connection-days per second for
//! (a) a connection exchanging a 200 B request / 1 KiB reply every 10 minutes
//! for 3 simulated days and (b) an idle connection with a 75 s keepalive for
//! 3 days, and the cost of a bare `BinaryHeap` push+pop of a same-sized
//! entry, so the engine's per-event cost reads as a ratio to it.
//! Targets (issue #2): (a) ≥ 5000 connection-days/s on one core; ≤ 5× heap.
//!
//! Fleets (issues "many hosts and connections" and 28): (c) one world of
//! 10 000 connections (1000 clients × 10, one NAT, requests every exp(10
//! min), keepalive 75 s) against (d) single-connection worlds of the same
//! per-connection workload. Goals: the fleet at ≥ 50 % of (d)'s
//! connection-days per second (100 connections: ≥ 70 %), and ≤ 4 KiB per
//! idle connection (measured with a counting allocator). What kasim's own
//! runner adds on top is `cargo bench -p harness --bench fleet_run`'s.

mod workloads;

use sim::app::Idle;
use sim::{Instant, World, WorldConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;
use workloads::{cfg, nat_cfg, Fleet, KeepaliveOnly, Replier, Requester, DAYS};

/// Counts the bytes currently allocated, to measure memory per connection.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

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

/// A bare heap push+pop of an entry the size of the engine's queue entry
/// (32 bytes: time, sequence, event; it was 80 before segments moved to a
/// side table), on a small heap: the cost of the event loop's own work.
fn heap_op_ns() -> f64 {
    #[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
    struct Entry(u64, u64, [u64; 2]);
    let mut heap = BinaryHeap::with_capacity(64);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..16 {
        heap.push(Entry(i, i, [0; 2]));
    }
    let n = 20_000_000u64;
    let start = std::time::Instant::now();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        heap.push(Entry(x >> 40, i, [i; 2]));
        black_box(heap.pop());
    }
    start.elapsed().as_secs_f64() * 1e9 / n as f64
}

fn main() {
    // `cargo test --benches` runs this binary with --bench absent; stay quick then.
    let budget = if std::env::args().any(|a| a == "--bench") { Duration::from_secs(3) } else { Duration::from_millis(200) };
    let heap = heap_op_ns();
    println!("bare BinaryHeap push+pop: {heap:.1} ns");
    // `cargo bench -p sim --bench engine -- fleet`: only the fleet figures (for profiling).
    let only_fleet = std::env::args().any(|a| a == "fleet");
    if !only_fleet {
        single_connection(budget, heap);
    }
    // `... -- single`: only (a) and (b), to set beside an older build's.
    if std::env::args().any(|a| a == "single") {
        return;
    }
    // Fleets: the same per-connection workload alone and 10 000 to a world.
    let hours = 6;
    let single = measure_fleet(budget, hours, 1, 1);
    let fleet = measure_fleet(budget, hours, 1000, 10);
    report_fleet("(d) 1 connection, exp(10m) + ka 75s + NAT", single, heap, None);
    report_fleet("(c) 10 000 connections in one world", fleet, heap, Some(single));
    // `... -- sizes`: how the per-event cost grows with the world (cache, not algorithm).
    if std::env::args().any(|a| a == "sizes") {
        for (clients, per) in [(10, 10), (100, 10), (300, 10), (1000, 10)] {
            let m = measure_fleet(budget, hours, clients, per);
            report_fleet(&format!("    {} connections in one world", clients * per), m, heap, Some(single));
        }
    }
    // Memory: a world of 10 000 idle keepalive connections after its handshakes.
    let before = LIVE.load(Ordering::Relaxed);
    let mut w = World::with_apps(nat_cfg(0, 1000, 10, 1), Box::new(Fleet { seed: 0, idle: true })).unwrap();
    w.run_until(Instant::from_secs(1));
    let per_conn = (LIVE.load(Ordering::Relaxed) - before) as f64 / 10_000.0;
    println!("memory per idle connection (both ends, NAT flow, link, queue): {per_conn:.0} B ({} endpoints)", w.connections());
    black_box(w);
}

/// (a), (b) and (a) traced: one connection per world.
fn single_connection(budget: Duration, heap: f64) {
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

/// Run fleets of `clients × connections` for `hours` until `budget` is spent.
fn measure_fleet(budget: Duration, hours: u64, clients: u32, connections: u32) -> (f64, u64, f64) {
    let start = std::time::Instant::now();
    let (mut conn_days, mut events, mut runs) = (0.0, 0u64, 0u64);
    while start.elapsed() < budget || runs == 0 {
        let w = World::with_apps(nat_cfg(runs, clients, connections, hours), Box::new(Fleet { seed: runs, idle: false })).unwrap();
        let out = w.run();
        events += out.events_processed;
        conn_days += f64::from(clients * connections) * hours as f64 / 24.0;
        runs += 1;
        black_box(&out);
    }
    (conn_days, events, start.elapsed().as_secs_f64())
}

fn report_fleet(name: &str, (conn_days, events, secs): (f64, u64, f64), heap_ns: f64, against: Option<(f64, u64, f64)>) {
    let ns_per_event = secs * 1e9 / events as f64;
    let rate = conn_days / secs;
    let ratio = against.map(|(d, _, s)| format!(" = {:.0} % of (d)", 100.0 * rate / (d / s))).unwrap_or_default();
    println!("{name:<40} {rate:>9.0} conn-days/s{ratio} {ns_per_event:>7.1} ns/event = {:>4.1}x heap op", ns_per_event / heap_ns);
}
