//! A user-defined strategy, written only against kasim's public trait, run on
//! a bundled scenario and compared with the scenario's own strategies.
//!
//! "Two strikes": ping every 30 s; a ping unanswered when the next one is due
//! is a strike; two strikes in a row and the peer is dead. Expected detection
//! after a vanish: between 60 and 90 s (the last answered ping was at most
//! 30 s before the vanish; strikes at the next two ticks).
//!
//!     cargo run --release --example custom_strategy

use harness::runner;
use harness::scenario;
use harness::strategy::{Control, Observed, Strategy};
use sim::{Instant, Side};
use std::path::Path;
use std::time::Duration;

struct TwoStrikes {
    every: Duration,
    next: Instant,
    outstanding: Option<u64>,
    strikes: u32,
    seq: u64,
}

impl Strategy for TwoStrikes {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.next = now + self.every;
    }
    fn on_event(&mut self, _now: Instant, event: Observed, _ctl: &mut Control) {
        if let Observed::Pong { id } = event {
            if self.outstanding == Some(id) {
                self.outstanding = None;
                self.strikes = 0;
            }
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if now < self.next {
            return;
        }
        self.next = now + self.every;
        if self.outstanding.is_some() {
            self.strikes += 1;
            if self.strikes >= 2 {
                ctl.declare_dead("two pings unanswered");
                return;
            }
        }
        self.seq += 1;
        self.outstanding = Some(self.seq);
        ctl.ping(self.seq, 8);
    }
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/server-power-off.toml");
    let scenario = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let factory: runner::StrategyFactory = std::rc::Rc::new(|side: Side| -> Option<Box<dyn Strategy>> {
        (side == Side::Client).then(|| {
            Box::new(TwoStrikes { every: Duration::from_secs(30), next: Instant::MAX, outstanding: None, strikes: 0, seq: 0 })
                as Box<dyn Strategy>
        })
    });
    let seeds = runner::seeds(&scenario, None);
    let runs: Vec<_> = seeds
        .iter()
        .map(|&seed| harness::summary::RunSummary::of(&runner::run_with(&scenario, factory.clone(), Duration::from_secs(90), seed, false)))
        .collect();
    let mut report = reports::Report::default();
    let strategies: Vec<_> = scenario.strategies.iter().collect();
    let mut section =
        runner::scenario_report(&scenario, &strategies, &runner::run_scenario(&scenario, &strategies, None, &|| {}), scenario.seeds);
    section.strategies.push(harness::metrics::aggregate(
        "two-strikes-30s",
        "custom",
        harness::strategy::TransportKind::Tcp,
        scenario.horizon,
        &runs,
    ));
    report.scenarios.push(section);
    print!("{}", reports::render::table(&report));
    let two = report.scenarios[0].strategies.last().expect("ours");
    let max = two.client.latency_s.max.unwrap_or(f64::NAN);
    println!(
        "two-strikes-30s: detected {}/{}, worst {max:.1} s (expected 60-90 s)",
        two.client.detected,
        two.client.detected + two.client.undetected
    );
}
