//! What a seed costs in memory once it has run: `kasim run` keeps one
//! `RunSummary` per (strategy, seed) until it aggregates, so `--seeds N`
//! holds N of them. The goal is at most 100 bytes per seed of a
//! one-connection scenario (a latency sample and counters), whatever the run
//! did. Measured with a counting allocator: the heap still held after N
//! summaries are collected, divided by N, for N = 5 000.
//!
//! ```text
//! cargo bench -p harness --bench bytes_per_seed
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SEEDS: u64 = 5_000;

fn per_seed(file: &str, text: &str) -> f64 {
    let scenario = harness::scenario::parse(Path::new(file), text).expect("a bundled scenario");
    let strategy = &scenario.strategies[0];
    let before = LIVE.load(Ordering::Relaxed);
    let mut kept = Vec::with_capacity(SEEDS as usize);
    for seed in 0..SEEDS {
        kept.push(harness::summary::RunSummary::of(&harness::runner::run_one(&scenario, strategy, seed, false)));
    }
    let after = LIVE.load(Ordering::Relaxed);
    let bytes = (after - before) as f64 / SEEDS as f64;
    drop(kept);
    bytes
}

fn main() {
    println!("size_of::<RunSummary>() = {} B", std::mem::size_of::<harness::summary::RunSummary>());
    for name in ["server-power-off.toml", "lossy-link.toml", "phone-flaky-cellular-sessions.toml"] {
        let (file, text) = harness::catalogue::texts().iter().find(|(f, _)| *f == name).expect("bundled");
        println!("{name:40} {:>7.1} B per seed ({SEEDS} seeds held, first strategy)", per_seed(file, text));
    }
}
