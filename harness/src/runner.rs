//! Runs: scenario × strategy × seed → a simulated world each → metrics.
//!
//! Every run is a pure function of (scenario, strategy, seed): the fault
//! times and traffic gaps are drawn from ChaCha streams seeded by the seed,
//! one stream per fault and per traffic entry. Runs are spread over a rayon
//! pool and collected in order, so results are identical at any `--jobs`.

use crate::endpoint::{Endpoint, EndpointStats};
use crate::metrics::{self, RunSummary};
pub use crate::metrics::{counted_declaration, echoes_peer, side_outcome, SideOutcome};
use crate::scenario::{FaultKind, Scenario};
use crate::strategy::{Strategy, StrategySpec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use reports::model::{ScenarioReport, StrategyReport};
use sim::{Fault, Instant, Outcome, Side, World, WorldConfig};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// A fault with its times drawn for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedFault {
    pub kind: FaultKind,
    /// The host, or the host whose link; `None` for the NAT.
    pub side: Option<Side>,
    pub target: String,
    pub at: Duration,
    pub duration: Option<Duration>,
}

/// The fault times a seed gives (faults drawn past the horizon are dropped).
pub fn derive_faults(scenario: &Scenario, seed: u64) -> Vec<DerivedFault> {
    let mut out = Vec::new();
    for (i, f) in scenario.faults.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2000 + i as u64);
        let at = f.at.sample(&mut rng);
        let duration = f.duration.map(|d| d.sample(&mut rng).max(Duration::from_millis(1)));
        if at >= scenario.horizon {
            continue;
        }
        let target = match (f.kind, f.side) {
            (FaultKind::Outage, Some(s)) => format!("{s}.link"),
            (_, Some(s)) => s.to_string(),
            (_, None) => "nat".to_string(),
        };
        out.push(DerivedFault { kind: f.kind, side: f.side, target, at, duration });
    }
    out
}

fn to_sim(f: &DerivedFault) -> Fault {
    let at = Instant::ZERO + f.at;
    let duration = f.duration.unwrap_or_default();
    match (f.kind, f.side) {
        (FaultKind::Vanish, Some(side)) => Fault::Vanish { side, at },
        (FaultKind::Reboot, Some(side)) => Fault::Reboot { side, at, duration },
        (FaultKind::Suspend, Some(side)) => Fault::Suspend { side, at, duration },
        (FaultKind::Outage, Some(link)) => Fault::Outage { link, at, duration },
        (FaultKind::Crash, Some(side)) => Fault::Crash { side, at },
        _ => Fault::NatReboot { at },
    }
}

/// One run's raw result.
#[derive(Debug)]
pub struct RunRecord {
    pub seed: u64,
    pub faults: Vec<DerivedFault>,
    pub outcome: Outcome,
    pub endpoints: [EndpointStats; 2],
    pub horizon: Duration,
}

/// Makes a fresh strategy for a side, or `None` to leave that side without one.
pub type StrategyFactory<'a> = &'a dyn Fn(Side) -> Option<Box<dyn Strategy>>;

/// Build the world for one run of a declared strategy.
pub fn world(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    trace: bool,
) -> (World, Vec<DerivedFault>, [Rc<RefCell<EndpointStats>>; 2]) {
    let factory = |side: Side| strategy.sides.contains(&side).then(|| strategy.build(side));
    world_with(scenario, &factory, strategy.detection_window(), seed, trace)
}

/// Build the world for one run of any strategy: `factory` makes each side's
/// instance; `lookback` is how far back a false positive looks for a cause.
pub fn world_with(
    scenario: &Scenario,
    factory: StrategyFactory,
    lookback: Duration,
    seed: u64,
    trace: bool,
) -> (World, Vec<DerivedFault>, [Rc<RefCell<EndpointStats>>; 2]) {
    let faults = derive_faults(scenario, seed);
    let cfg = WorldConfig {
        seed,
        horizon: scenario.horizon,
        client_link: scenario.client_link.clone(),
        server_link: scenario.server_link.clone(),
        nat: scenario.nat.clone(),
        tcp: scenario.tcp.clone(),
        faults: faults.iter().map(to_sim).collect(),
        trace,
        condition_lookback: lookback,
        ..WorldConfig::default()
    };
    let stats = [Rc::new(RefCell::new(EndpointStats::default())), Rc::new(RefCell::new(EndpointStats::default()))];
    let app = |side: Side| Box::new(Endpoint::new(side, &scenario.traffic, seed, factory(side), stats[side.index()].clone()));
    let world = World::new(cfg, app(Side::Client), app(Side::Server)).expect("a validated scenario builds a valid world");
    (world, faults, stats)
}

/// Run one seed of one declared strategy.
pub fn run_one(scenario: &Scenario, strategy: &StrategySpec, seed: u64, trace: bool) -> RunRecord {
    finish(scenario, seed, world(scenario, strategy, seed, trace))
}

/// Run one seed of any strategy (see [`world_with`]).
pub fn run_with(scenario: &Scenario, factory: StrategyFactory, lookback: Duration, seed: u64, trace: bool) -> RunRecord {
    finish(scenario, seed, world_with(scenario, factory, lookback, seed, trace))
}

fn finish(
    scenario: &Scenario,
    seed: u64,
    (world, faults, stats): (World, Vec<DerivedFault>, [Rc<RefCell<EndpointStats>>; 2]),
) -> RunRecord {
    let outcome = world.run();
    let endpoints = [*stats[0].borrow(), *stats[1].borrow()];
    RunRecord { seed, faults, outcome, endpoints, horizon: scenario.horizon }
}

/// Aggregate the runs of one declared strategy into the contract's figures.
pub fn aggregate(strategy: &StrategySpec, horizon: Duration, runs: &[RunSummary]) -> StrategyReport {
    metrics::aggregate(&strategy.name, strategy.kind, horizon, runs)
}

/// The seeds a scenario runs.
pub fn seeds(scenario: &Scenario, override_seeds: Option<u64>) -> Vec<u64> {
    (0..override_seeds.unwrap_or(scenario.seeds)).map(|i| scenario.base_seed.wrapping_add(i)).collect()
}

/// All runs of a scenario for the selected strategies, in (strategy, seed) order.
pub fn run_scenario(
    scenario: &Scenario,
    strategies: &[&StrategySpec],
    override_seeds: Option<u64>,
    progress: &(dyn Fn() + Sync),
) -> Vec<Vec<RunSummary>> {
    let seeds = seeds(scenario, override_seeds);
    let jobs: Vec<(usize, u64)> = (0..strategies.len()).flat_map(|s| seeds.iter().map(move |&seed| (s, seed))).collect();
    run_jobs(scenario, strategies, &jobs, progress)
}

/// The given (strategy index, seed) runs, in parallel, grouped per strategy
/// in the order given. Each run is summarised as soon as it ends, so memory
/// does not grow with what a run did.
pub fn run_jobs(
    scenario: &Scenario,
    strategies: &[&StrategySpec],
    jobs: &[(usize, u64)],
    progress: &(dyn Fn() + Sync),
) -> Vec<Vec<RunSummary>> {
    let summaries: Vec<(usize, RunSummary)> = jobs
        .par_iter()
        .map(|&(s, seed)| {
            let r = RunSummary::of(&run_one(scenario, strategies[s], seed, false));
            progress();
            (s, r)
        })
        .collect();
    let mut grouped: Vec<Vec<RunSummary>> = strategies.iter().map(|_| Vec::new()).collect();
    for (s, r) in summaries {
        grouped[s].push(r);
    }
    grouped
}

/// The report section for one scenario.
pub fn scenario_report(scenario: &Scenario, strategies: &[&StrategySpec], runs: &[Vec<RunSummary>], seeds: u64) -> ScenarioReport {
    ScenarioReport {
        name: scenario.name.clone(),
        seeds,
        description: scenario.description.clone(),
        horizon_s: scenario.horizon.as_secs_f64(),
        strategies: strategies.iter().zip(runs).map(|(s, r)| aggregate(s, scenario.horizon, r)).collect(),
    }
}
