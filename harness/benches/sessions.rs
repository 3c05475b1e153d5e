//! What sessions cost: the same workload with and without them, per simulated
//! connection-day. `cargo bench -p harness --bench sessions` prints both and
//! the ratio, interleaved (A, B, A, B, …) so the shared machine's noise hits
//! both alike.
//!
//! The workload: 20 pooled connections behind a NAT (350 s, RST), a request
//! every exp(1 min) with a 4 KiB reply, kernel keepalive at 300 s, one day.
//! "Sessions" adds `[client.reconnect]` (eager) and a request timeout: the
//! request book, the per-connection records and the period derivation. With
//! no faults both runs make the same packets, so the difference is the
//! bookkeeping alone; the second pair adds server reboots, where the session
//! run also reconnects — more events, because the connections come back and
//! carry traffic again, so compare its cost per event.

use harness::runner;
use harness::summary::RunSummary;
use std::path::Path;
use std::time::Instant;

fn scenario(sessions: bool, faults: bool) -> harness::scenario::Scenario {
    let session = if sessions { "[client.reconnect]\nmode = \"eager\"\n" } else { "" };
    let timeout = if sessions { "timeout = \"5s\"\n" } else { "" };
    let fault = if faults { "[[fault]]\nkind = \"reboot\"\ntarget = \"server\"\nevery = \"exp(6h)\"\nduration = \"1m\"\n" } else { "" };
    let text = format!(
        r#"
name = "bench"
horizon = "1d"
[client]
connections = 20
[client.link]
delay = "5ms"
{session}
[nat]
idle_timeout = "350s"
on_expired = "rst"
[[traffic]]
kind = "requests"
every = "exp(1m)"
size = "500B"
reply = "4KiB"
{timeout}
{fault}
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "300s"
interval = "30s"
count = 3
"#
    );
    harness::scenario::parse(Path::new("bench.toml"), &text).expect("bench scenario")
}

/// Connection-days per wall second over `seeds` runs, and the events per run.
fn measure(s: &harness::scenario::Scenario, seeds: std::ops::Range<u64>) -> (f64, f64, u64) {
    let st = &s.strategies[0];
    let t = Instant::now();
    let mut events = 0;
    for seed in seeds.clone() {
        let r = runner::run_one(s, st, seed, false);
        events += r.outcome.events_processed;
        std::hint::black_box(RunSummary::of(&r));
    }
    let wall = t.elapsed().as_secs_f64();
    let runs = (seeds.end - seeds.start) as f64;
    let conn_days = runs * 20.0 * s.horizon.as_secs_f64() / 86400.0;
    (conn_days / wall, wall / events as f64 * 1e9, events / (seeds.end - seeds.start))
}

fn main() {
    for faults in [false, true] {
        let (plain, with) = (scenario(false, faults), scenario(true, faults));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..5u64 {
            let seeds = round * 4..round * 4 + 4;
            a.push(measure(&plain, seeds.clone()));
            b.push(measure(&with, seeds));
        }
        let median = |v: &mut Vec<(f64, f64, u64)>| {
            v.sort_by(|x, y| x.0.total_cmp(&y.0));
            v[v.len() / 2]
        };
        let (pa, pb) = (median(&mut a), median(&mut b));
        let label = if faults { "with server reboots every exp(6h)" } else { "no faults" };
        println!("{label}:");
        println!("  without sessions: {:>8.0} connection-days/s  ({:.0} ns/event, {} events/run)", pa.0, pa.1, pa.2);
        println!("  with sessions:    {:>8.0} connection-days/s  ({:.0} ns/event, {} events/run)", pb.0, pb.1, pb.2);
        println!(
            "  sessions: {:+.1} % wall per connection-day, {:.2}x the events, {:+.1} % per event",
            (pa.0 / pb.0 - 1.0) * 100.0,
            pb.2 as f64 / pa.2 as f64,
            (pb.1 / pa.1 - 1.0) * 100.0
        );
    }
}
