//! A fixed amount of the engine bench's work, for instruction and cache
//! counts that a shared, noisy machine cannot blur (the timed figures are
//! `cargo bench -p sim`'s). Compare two builds with:
//!
//! ```text
//! cargo build --release -p sim --example workload
//! valgrind --tool=callgrind target/release/examples/workload idle 20      # instructions
//! valgrind --tool=cachegrind --cache-sim=yes target/release/examples/workload fleet 1
//! ```
//!
//! Workloads (the bench's): `requests` is (a), a 200 B request every 10
//! minutes for 3 days; `idle` is (b), keepalive every 75 s for 3 days;
//! `fleet` is (c), 10 000 connections (1000 clients x 10) behind one NAT for
//! 6 hours; `hundred` is the bench's 100-connection size (10 clients x 10),
//! small enough to stay in the cache, so its instructions are its cost;
//! `single` is (d), one connection of (c)'s workload. The second argument is
//! how many seeds (worlds) to run.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use sim::app::Idle;
use sim::World;
use std::hint::black_box;
use workloads::{cfg, nat_cfg, Fleet, KeepaliveOnly, Replier, Requester};

fn main() {
    let usage = "usage: workload requests|idle|fleet|hundred|single SEEDS";
    let which = std::env::args().nth(1).expect(usage);
    let seeds: u64 = std::env::args().nth(2).and_then(|n| n.parse().ok()).expect(usage);
    let (mut events, mut connections) = (0u64, 0u64);
    let start = std::time::Instant::now();
    for s in 0..seeds {
        let (world, conns) = match which.as_str() {
            "requests" => (World::new(cfg(s), Box::new(Requester { next: None }), Box::new(Replier)), 1),
            "idle" => (World::new(cfg(s), Box::new(KeepaliveOnly), Box::new(Idle)), 1),
            "fleet" => (World::with_apps(nat_cfg(s, 1000, 10, 6), Box::new(Fleet { seed: s, idle: false })), 10_000),
            "hundred" => (World::with_apps(nat_cfg(s, 10, 10, 6), Box::new(Fleet { seed: s, idle: false })), 100),
            "single" => (World::with_apps(nat_cfg(s, 1, 1, 6), Box::new(Fleet { seed: s, idle: false })), 1),
            _ => panic!("{usage}"),
        };
        let out = world.expect("the bench's worlds are valid").run();
        events += out.events_processed;
        connections += conns;
        black_box(&out);
    }
    let ns = start.elapsed().as_secs_f64() * 1e9 / events as f64;
    println!("{which}: {seeds} worlds, {connections} connections, {events} events, {ns:.1} ns/event");
}
