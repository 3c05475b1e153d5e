//! Runs: scenario × strategy × seed → a simulated world each → metrics.
//!
//! Every run is a pure function of (scenario, strategy, seed): the fault
//! times and traffic gaps are drawn from ChaCha streams seeded by the seed,
//! one stream per fault and per traffic entry. Runs are spread over a rayon
//! pool and collected in order, so results are identical at any `--jobs`.

use crate::endpoint::{Endpoint, EndpointStats};
use crate::scenario::{FaultKind, Scenario};
use crate::strategy::{Strategy, StrategySpec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use reports::model::{round_ms, Latency, ScenarioReport, SideReport, StrategyReport};
use sim::oracle::{BreakCause, Condition, Declaration, Verdict};
use sim::packet::{SegmentKind, HEADER_BYTES};
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

/// How one side fared in one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SideOutcome {
    /// The connection broke and this side declared it, after `latency`.
    Detected(Duration),
    /// The connection broke and this side never noticed before the horizon.
    Undetected,
    /// This side declared a healthy connection dead.
    FalsePositive(Condition),
    /// Nothing to detect and no false alarm.
    Quiet,
    /// Not this side's to detect: its own host failed, or the peer's decision
    /// closed the connection first.
    NotApplicable,
}

/// Is a declaration with this cause only the peer's own decision reaching us
/// (the peer declared first and aborted; we saw ECONNRESET or EOF)? Such a
/// declaration is neither a detection nor a false positive.
pub fn echoes_peer(cause: &str, peer_declared_first: bool) -> bool {
    peer_declared_first && matches!(cause, "ECONNRESET" | "EOF")
}

/// The declaration that counts for `side`: its first, unless it [echoes the peer](echoes_peer).
pub fn counted_declaration(outcome: &Outcome, side: Side) -> Option<&Declaration> {
    let mine = outcome.declarations.iter().find(|d| d.side == side)?;
    let peer_first = outcome.declarations.iter().find(|d| d.side == side.peer()).is_some_and(|p| p.at <= mine.at);
    (!echoes_peer(&mine.cause, peer_first)).then_some(mine)
}

pub fn side_outcome(outcome: &Outcome, side: Side) -> SideOutcome {
    let declaration = counted_declaration(outcome, side);
    // A false alarm counts even if this side's own host fails later.
    if let Some(Declaration { verdict: Verdict::FalsePositive { condition }, .. }) = declaration {
        return SideOutcome::FalsePositive(*condition);
    }
    let failed_here =
        matches!(outcome.broken, Some((_, BreakCause::Vanish(s) | BreakCause::Reboot(s) | BreakCause::Crash(s))) if s == side);
    if failed_here {
        return SideOutcome::NotApplicable;
    }
    match declaration {
        Some(d) => match d.verdict {
            Verdict::Detection { latency } => SideOutcome::Detected(latency),
            Verdict::FalsePositive { condition } => SideOutcome::FalsePositive(condition),
        },
        None => {
            let peer_declared = outcome.declarations.iter().any(|d| d.side == side.peer());
            match outcome.broken {
                Some((at, _)) if !outcome.declarations.iter().any(|d| d.side == side.peer() && d.at < at) => SideOutcome::Undetected,
                Some(_) => SideOutcome::NotApplicable,
                None if peer_declared => SideOutcome::NotApplicable,
                None => SideOutcome::Quiet,
            }
        }
    }
}

/// NAT mappings lost to idleness while the connection was still held (before
/// either side declared it dead).
pub fn nat_expiries(r: &RunRecord) -> u64 {
    let end = r.outcome.declarations.iter().map(|d| d.at).min().unwrap_or(Instant::MAX);
    r.outcome.nat_expired_at.iter().filter(|t| **t <= end).count() as u64
}

/// Hours the connection was up and healthy in this run (for false-positive rates).
fn healthy_hours(r: &RunRecord) -> f64 {
    let end = r.outcome.declarations.iter().map(|d| d.at).chain(r.outcome.broken.map(|b| b.0)).min().unwrap_or(Instant::ZERO + r.horizon);
    end.since_start().as_secs_f64() / 3600.0
}

/// Keepalive packets and bytes (both directions): TCP keepalive probes and
/// their ACKs, application pings and pongs (their ACKs are not counted).
fn keepalive_overhead(r: &RunRecord) -> (u64, u64) {
    let mut packets = 0;
    let mut bytes = 0;
    for side in 0..2 {
        let s = &r.outcome.stats[side];
        for kind in [SegmentKind::KeepaliveProbe, SegmentKind::KeepaliveAck] {
            packets += s.packets_of(kind);
            bytes += s.bytes_of(kind);
        }
        let e = &r.endpoints[side];
        packets += e.pings + e.pongs;
        bytes += e.ping_bytes + e.pong_bytes + (e.pings + e.pongs) * u64::from(HEADER_BYTES);
    }
    (packets, bytes)
}

/// Aggregate the runs of one declared strategy into the contract's figures.
pub fn aggregate(strategy: &StrategySpec, runs: &[RunRecord]) -> StrategyReport {
    aggregate_named(&strategy.name, strategy.kind, runs)
}

/// Aggregate runs of any strategy, named `name` of kind `kind` in the report.
pub fn aggregate_named(name: &str, kind: &str, runs: &[RunRecord]) -> StrategyReport {
    let side_report = |side: Side| {
        let mut r = SideReport::default();
        for c in Condition::ALL {
            r.false_positives_by_cause.insert(c.name().to_string(), 0);
        }
        let mut latencies = Vec::new();
        for run in runs {
            match side_outcome(&run.outcome, side) {
                SideOutcome::Detected(l) => {
                    r.detected += 1;
                    latencies.push(l.as_secs_f64());
                }
                SideOutcome::Undetected => r.undetected += 1,
                SideOutcome::FalsePositive(c) => {
                    r.false_positives += 1;
                    *r.false_positives_by_cause.entry(c.name().to_string()).or_default() += 1;
                }
                SideOutcome::Quiet | SideOutcome::NotApplicable => {}
            }
        }
        r.latency_s = Latency::from_samples(&latencies);
        r
    };
    let client = side_report(Side::Client);
    let server = side_report(Side::Server);
    let hours: f64 = runs.iter().map(healthy_hours).sum();
    let total_fp = client.false_positives + server.false_positives;
    let run_hours: f64 = runs.iter().map(|r| r.horizon.as_secs_f64() / 3600.0).sum();
    let (packets, bytes) = runs.iter().map(keepalive_overhead).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let per_hour = |x: u64| if run_hours > 0.0 { round_ms(x as f64 / run_hours) } else { 0.0 };
    StrategyReport {
        name: name.to_string(),
        kind: kind.to_string(),
        runs: runs.len() as u64,
        client,
        server,
        false_positives_per_1000_conn_hours: if hours > 0.0 { round_ms(total_fp as f64 * 1000.0 / hours) } else { 0.0 },
        nat_expiries: runs.iter().map(nat_expiries).sum(),
        keepalive_packets_per_hour: per_hour(packets),
        keepalive_bytes_per_hour: per_hour(bytes),
    }
}

/// The seeds a scenario runs.
pub fn seeds(scenario: &Scenario, override_seeds: Option<u64>) -> Vec<u64> {
    (0..override_seeds.unwrap_or(scenario.seeds)).map(|i| scenario.base_seed + i).collect()
}

/// All runs of a scenario for the selected strategies, in (strategy, seed) order.
pub fn run_scenario(
    scenario: &Scenario,
    strategies: &[&StrategySpec],
    override_seeds: Option<u64>,
    progress: &(dyn Fn() + Sync),
) -> Vec<Vec<RunRecord>> {
    let seeds = seeds(scenario, override_seeds);
    let jobs: Vec<(usize, u64)> = (0..strategies.len()).flat_map(|s| seeds.iter().map(move |&seed| (s, seed))).collect();
    let records: Vec<(usize, RunRecord)> = jobs
        .par_iter()
        .map(|&(s, seed)| {
            let r = run_one(scenario, strategies[s], seed, false);
            progress();
            (s, r)
        })
        .collect();
    let mut grouped: Vec<Vec<RunRecord>> = strategies.iter().map(|_| Vec::new()).collect();
    for (s, r) in records {
        grouped[s].push(r);
    }
    grouped
}

/// The report section for one scenario.
pub fn scenario_report(scenario: &Scenario, strategies: &[&StrategySpec], runs: &[Vec<RunRecord>], seeds: u64) -> ScenarioReport {
    ScenarioReport {
        name: scenario.name.clone(),
        seeds,
        description: scenario.description.clone(),
        horizon_s: scenario.horizon.as_secs_f64(),
        strategies: strategies.iter().zip(runs).map(|(s, r)| aggregate(s, r)).collect(),
    }
}
