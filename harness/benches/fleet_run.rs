//! What a fleet costs through kasim's own runner (what `kasim run` does per
//! seed: build the world with kasim's applications and strategy, run it,
//! summarise it), against the same workload one connection per world.
//! `cargo bench -p harness --bench fleet_run` prints both CPU times, their
//! ratio and the fleet's peak heap.
//!
//! The workload (issue 28's): requests every exp(10 min), 200 B each way,
//! kernel keepalive 75 s / 15 s / 4, one NAT (350 s, RST), 6 hours. The fleet
//! is one world of 10 000 clients; the reference is 10 000 one-client worlds
//! (seeds 0..10 000). The goal: the fleet within 2.5x the reference's CPU
//! time, under 40 MB at its peak. Without `--bench` (as `cargo test
//! --benches` runs it) both sides are a tenth as large.

use harness::runner;
use harness::summary::RunSummary;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};

/// Counts the bytes allocated now and the most there were.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

fn scenario(clients: u32) -> harness::scenario::Scenario {
    let text = format!(
        r#"
name = "fleet-run"
horizon = "6h"
[client]
count = {clients}
[nat]
idle_timeout = "350s"
on_expired = "rst"
[[traffic]]
kind = "requests"
from = "client"
every = "exp(10m)"
size = "200B"
reply = "200B"
[[strategy]]
name = "ka-75"
kind = "tcp_keepalive"
idle = "75s"
interval = "15s"
count = 4
"#
    );
    harness::scenario::parse(Path::new("fleet-run.toml"), &text).expect("the bench's scenario")
}

/// This thread's CPU time so far, in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Run `seeds` of `s`: (CPU seconds, events, peak heap bytes above the start).
fn measure(s: &harness::scenario::Scenario, seeds: std::ops::Range<u64>) -> (f64, u64, f64) {
    let st = &s.strategies[0];
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start = cpu_seconds();
    let mut events = 0;
    for seed in seeds {
        let r = runner::run_one(s, st, seed, false);
        events += r.outcome.events_processed;
        std::hint::black_box(RunSummary::of(&r));
    }
    (cpu_seconds() - start, events, (PEAK.load(Ordering::Relaxed) - base) as f64)
}

fn main() {
    let n: u32 = if std::env::args().any(|a| a == "--bench") { 10_000 } else { 1_000 };
    let (single, fleet) = (scenario(1), scenario(n));
    let (s_cpu, s_events, s_peak) = measure(&single, 0..u64::from(n));
    let (f_cpu, f_events, f_peak) = measure(&fleet, 0..1);
    println!(
        "{n} one-connection worlds: {s_cpu:>6.2} s CPU, {s_events} events ({:.0} ns/event), peak heap {:.0} KB",
        s_cpu * 1e9 / s_events as f64,
        s_peak / 1e3
    );
    println!(
        "one world of {n}:       {f_cpu:>6.2} s CPU, {f_events} events ({:.0} ns/event), peak heap {:.1} MB",
        f_cpu * 1e9 / f_events as f64,
        f_peak / 1e6
    );
    println!(
        "the fleet takes {:.2}x the CPU of its connections alone (goal <= 2.5x), {:.0} B per connection at its peak",
        f_cpu / s_cpu,
        f_peak / f64::from(n)
    );
}
