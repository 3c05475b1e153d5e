//! Event engine vs live mode, same scenario: a 10-minute ping (3-minute
//! timeout) for 3 simulated days, the server vanishing on day 2.
//! `cargo bench -p harness --features live` prints the wall time of each and
//! the ratio; live mode at turmoil's default 1 ms tick and at 100 ms.
//! (The live run stops at the detection, ~30 h in; the event engine runs all 3 days.)

use harness::live::{self, LiveConfig, TokioPing};
use harness::runner;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
name = "bench"
horizon = "3d"
[client.link]
delay = "20ms"
[[fault]]
kind = "vanish"
target = "server"
at = "30h"
[[strategy]]
name = "ping"
kind = "live_ping"
interval = "10m"
timeout = "3m"
"#;

fn main() {
    let s = harness::scenario::parse(Path::new("bench.toml"), SCENARIO).unwrap();
    let st = &s.strategies[0];
    let t = Instant::now();
    let reps = 200;
    let mut detected = None;
    for _ in 0..reps {
        let r = runner::run_one(&s, st, 0, false);
        detected = r.outcome.declarations.first().map(|d| d.at);
    }
    let event = t.elapsed().as_secs_f64() / reps as f64;
    println!("event engine:        {:>10.6} s wall per run (detected at {:?})", event, detected);
    for tick in [Duration::from_millis(100), Duration::from_millis(1)] {
        let t = Instant::now();
        let strategy: Rc<dyn live::LiveStrategy> =
            Rc::new(TokioPing { interval: Duration::from_secs(600), timeout: Duration::from_secs(180) });
        let r = live::run(&s, strategy, Duration::from_secs(780), 0, LiveConfig { tick, ..Default::default() }).unwrap();
        let wall = t.elapsed().as_secs_f64();
        println!(
            "live, tick {:>6?}:  {:>10.3} s wall per run (detected at {:?}) = {:>9.0}x the event engine",
            tick,
            wall,
            r.outcome.declarations.first().map(|d| d.at),
            wall / event
        );
    }
}
