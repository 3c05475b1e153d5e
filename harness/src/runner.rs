//! Runs: scenario × strategy × seed → a simulated world each → metrics.
//!
//! Every run is a pure function of (scenario, strategy, seed): the fault
//! times and traffic gaps are drawn from ChaCha streams seeded by the seed,
//! one stream per fault and per traffic entry. Runs are spread over a rayon
//! pool and collected in order, so results are identical at any `--jobs`.

use crate::driver::{AppDriver, ClientSession, DriverStats};
use crate::metrics;
use crate::record::{DerivedFault, Probes, RunRecord};
use crate::scenario::{FaultKind, FaultWhen, Reconnect, ReconnectMode, Scenario, MAX_OCCURRENCES};
use crate::session::{Reconnector, RequestBook};
use crate::strategy::{Strategy, StrategyKind, StrategySpec, Transport};
use crate::summary::RunSummary;
use rayon::prelude::*;
use reports::model::{ScenarioReport, StrategyReport};
use sim::world::{AppFactory, HostRef};
use sim::{Fault, Instant, Side, World, WorldConfig};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// The fault times a seed gives (faults drawn past the horizon are dropped).
///
/// Each fault draws from its own stream; a fault on every client of a fleet
/// draws from one stream per client (client 0's is the one-client stream),
/// so adding a client or a fault never shifts another's times.
pub fn derive_faults(scenario: &Scenario, seed: u64) -> Vec<DerivedFault> {
    let mut out = Vec::new();
    for (i, f) in scenario.faults.iter().enumerate() {
        let hosts: Vec<Option<HostRef>> = match (f.side, f.client) {
            _ if f.proxy => vec![Some(HostRef::Proxy)],
            (Some(Side::Client), Some(c)) => vec![Some(HostRef::Client(c))],
            (Some(Side::Client), None) => (0..scenario.clients).map(|c| Some(HostRef::Client(c))).collect(),
            (Some(Side::Server), _) => vec![Some(HostRef::Server)],
            (None, _) => vec![None],
        };
        for host in hosts {
            let index = match host {
                Some(HostRef::Client(c)) => c,
                _ => 0,
            };
            let mut rng = sim::rng::chacha(seed, sim::rng::streams::fault(i, index));
            let name = match (host, f.middlebox) {
                (Some(HostRef::Client(c)), _) if scenario.clients > 1 => format!("client:{c}"),
                (Some(HostRef::Proxy) | None, Some(k)) => scenario.box_name(k as usize),
                (Some(HostRef::Proxy), None) => "proxy".to_string(),
                (Some(h), _) => h.side().to_string(),
                (None, None) => "nat".to_string(),
            };
            let target = if f.kind == FaultKind::Outage { format!("{name}.link") } else { name };
            let mut occur = |at: Duration, rng: &mut rand_chacha::ChaCha8Rng| {
                let duration = f.duration.map(|d| d.sample(rng).max(Duration::from_millis(1)));
                out.push(DerivedFault { kind: f.kind, side: f.side, host, target: target.clone(), at, duration, middlebox: f.middlebox });
                duration
            };
            match f.when {
                FaultWhen::At(at) => {
                    // Drawn past the horizon: no fault this seed.
                    let at = at.sample(&mut rng);
                    if at < scenario.horizon {
                        occur(at, &mut rng);
                    }
                }
                FaultWhen::Every(gap) => {
                    // Each gap from the end of the previous occurrence, each with its own duration.
                    let mut t = Duration::ZERO;
                    for _ in 0..MAX_OCCURRENCES {
                        t += gap.sample(&mut rng).max(Duration::from_millis(1));
                        if t >= scenario.horizon {
                            break;
                        }
                        t += occur(t, &mut rng).unwrap_or_default();
                    }
                }
            }
        }
    }
    out
}

fn to_sim(f: &DerivedFault) -> Fault {
    let at = Instant::ZERO + f.at;
    let duration = f.duration.unwrap_or_default();
    match (f.kind, f.host) {
        (FaultKind::Vanish, Some(host)) => Fault::Vanish { host, at },
        (FaultKind::Reboot, Some(host)) => Fault::Reboot { host, at, duration },
        (FaultKind::Suspend, Some(host)) => Fault::Suspend { host, at, duration },
        (FaultKind::Outage, Some(link)) => Fault::Outage { link, at, duration },
        (FaultKind::Crash, Some(host)) => Fault::Crash { host, at, restart_after: f.duration },
        _ => Fault::NatReboot { at, middlebox: f.middlebox.unwrap_or(0) },
    }
}

/// Makes a fresh strategy for a side, or `None` to leave that side without one.
pub type StrategyFactory = Rc<dyn Fn(Side) -> Option<Box<dyn Strategy>>>;

/// Build the world for one run of a declared strategy.
pub fn world(scenario: &Scenario, strategy: &StrategySpec, seed: u64, trace: bool) -> (World, Vec<DerivedFault>, Probes) {
    build_world(scenario, declared(strategy), strategy.detection_window(), seed, trace.then_some(None), strategy.transport())
}

/// The factory of a declared strategy: a fresh instance on each side it names.
fn declared(strategy: &StrategySpec) -> StrategyFactory {
    let spec = strategy.clone();
    Rc::new(move |side: Side| spec.sides.contains(&side).then(|| spec.build(side)))
}

/// The application of every connection: the scenario's workload and a fresh
/// strategy instance, its random streams derived from (seed, slot).
struct SlotApps {
    traffic: Rc<[crate::scenario::Traffic]>,
    seed: u64,
    factory: StrategyFactory,
    stats: [Rc<RefCell<DriverStats>>; 2],
    /// `[client.app]` and `[server.app]` idle timeouts.
    idle_timeouts: [Option<Duration>; 2],
    /// Sessions: the reconnect policy and the run's request outcomes.
    sessions: Option<(Reconnect, Rc<RefCell<RequestBook>>)>,
}

impl SlotApps {
    fn make(&self, side: Side, slot: u32) -> Box<dyn sim::Application> {
        let app = AppDriver::new(side, self.traffic.clone(), self.seed, slot, (self.factory)(side), self.stats[side.index()].clone());
        let app = app.with_idle_timeout(self.idle_timeouts[side.index()]);
        match (&self.sessions, side) {
            (Some((policy, book)), Side::Client) => {
                let rng = sim::rng::chacha(self.seed, sim::rng::streams::session(slot));
                let factory = self.factory.clone();
                let make = Rc::new(move || factory(Side::Client));
                let session = ClientSession::new(slot, Reconnector::new(*policy, rng), book.clone(), make);
                Box::new(app.with_session(Instant::ZERO, session))
            }
            _ => Box::new(app),
        }
    }
}

impl AppFactory for SlotApps {
    fn client(&mut self, slot: u32) -> Box<dyn sim::Application> {
        self.make(Side::Client, slot)
    }
    fn server(&mut self, slot: u32) -> Box<dyn sim::Application> {
        self.make(Side::Server, slot)
    }
    /// A rebooted client's process starts again and connects (unless its
    /// session never reconnects).
    fn restarted(&mut self, slot: u32) -> Option<Box<dyn sim::Application>> {
        let (policy, _) = self.sessions.as_ref()?;
        (policy.mode != ReconnectMode::Off).then(|| self.make(Side::Client, slot))
    }
}

/// Build the world for one run of any strategy: `factory` makes each
/// connection's instance for a side; `lookback` is how far back a false
/// positive looks for a cause.
pub fn world_with(
    scenario: &Scenario,
    factory: StrategyFactory,
    lookback: Duration,
    seed: u64,
    trace: bool,
) -> (World, Vec<DerivedFault>, Probes) {
    build_world(scenario, factory, lookback, seed, trace.then_some(None), Transport::Tcp)
}

/// [`world_with`], over the given transport; `trace`: record a trace
/// (`Some`), of every record (`Some(None)`) or only a focus's.
fn build_world(
    scenario: &Scenario,
    factory: StrategyFactory,
    lookback: Duration,
    seed: u64,
    trace: Option<Option<sim::trace::TraceFocus>>,
    transport: Transport,
) -> (World, Vec<DerivedFault>, Probes) {
    let faults = derive_faults(scenario, seed);
    let cfg = WorldConfig {
        seed,
        horizon: scenario.horizon,
        clients: scenario.clients,
        connections_per_client: scenario.connections,
        client_link: scenario.client_link.clone(),
        server_link: scenario.server_link.clone(),
        nat: (!scenario.chained).then(|| scenario.nat().cloned()).flatten(),
        proxy: (!scenario.chained).then(|| scenario.proxy()).flatten(),
        middleboxes: if scenario.chained { scenario.middleboxes.clone() } else { Vec::new() },
        accept: scenario.accept,
        quic: match transport {
            Transport::Quic(q) => Some(q),
            _ => None,
        },
        tunnel: match transport {
            Transport::Tunnel(t) => Some(t),
            _ => None,
        },
        tcp: scenario.tcp.clone(),
        client_tcp: scenario.client_os.map(|os| os.tcp_config(&scenario.tcp)),
        server_tcp: scenario.server_os.map(|os| os.tcp_config(&scenario.tcp)),
        faults: faults.iter().map(to_sim).collect(),
        trace: trace.is_some(),
        trace_focus: trace.clone().flatten(),
        condition_lookback: lookback,
        ..WorldConfig::default()
    };
    let stats = [Rc::new(RefCell::new(DriverStats::default())), Rc::new(RefCell::new(DriverStats::default()))];
    let book =
        scenario.sessions().then(|| Rc::new(RefCell::new(if trace.is_some() { RequestBook::logging() } else { RequestBook::default() })));
    let apps = SlotApps {
        traffic: scenario.traffic.clone().into(),
        seed,
        factory,
        stats: stats.clone(),
        idle_timeouts: [scenario.client_idle_timeout, scenario.server_idle_timeout],
        sessions: book.clone().map(|b| (scenario.reconnect_policy(), b)),
    };
    let world = World::with_apps(cfg, Box::new(apps)).expect("a validated scenario builds a valid world");
    (world, faults, Probes { stats, book })
}

/// Run one seed of one declared strategy.
pub fn run_one(scenario: &Scenario, strategy: &StrategySpec, seed: u64, trace: bool) -> RunRecord {
    finish(scenario, seed, world(scenario, strategy, seed, trace))
}

/// [`run_one`] with a trace of only what concerns `focus` (some slots of a
/// fleet): a replay of one connection keeps in memory only what it prints.
pub fn run_one_focused(scenario: &Scenario, strategy: &StrategySpec, seed: u64, focus: sim::trace::TraceFocus) -> RunRecord {
    let world = build_world(scenario, declared(strategy), strategy.detection_window(), seed, Some(Some(focus)), strategy.transport());
    finish(scenario, seed, world)
}

/// [`run_one`] with a trace (of `focus` only, if given) that keeps nothing
/// after `until`: a replay that prints up to a time holds only that much.
pub fn run_one_until(
    scenario: &Scenario,
    strategy: &StrategySpec,
    seed: u64,
    focus: Option<sim::trace::TraceFocus>,
    until: Option<sim::Instant>,
) -> RunRecord {
    let (mut world, faults, probes) =
        build_world(scenario, declared(strategy), strategy.detection_window(), seed, Some(focus), strategy.transport());
    if let Some(at) = until {
        world.trace_until(at);
    }
    finish(scenario, seed, (world, faults, probes))
}

/// Run one seed of any strategy (see [`world_with`]).
pub fn run_with(scenario: &Scenario, factory: StrategyFactory, lookback: Duration, seed: u64, trace: bool) -> RunRecord {
    finish(scenario, seed, world_with(scenario, factory, lookback, seed, trace))
}

/// [`run_with`] over a chosen transport (QUIC, a datagram tunnel) instead of TCP.
pub fn run_with_transport(scenario: &Scenario, factory: StrategyFactory, lookback: Duration, seed: u64, transport: Transport) -> RunRecord {
    finish(scenario, seed, build_world(scenario, factory, lookback, seed, None, transport))
}

/// Run a built world (see [`world`]) to its horizon and collect its record; a world
/// already run part of the way (a fuzzer's budget) carries on from where it stopped.
pub fn finish(scenario: &Scenario, seed: u64, (world, faults, probes): (World, Vec<DerivedFault>, Probes)) -> RunRecord {
    let outcome = world.run();
    let endpoints = [*probes.stats[0].borrow(), *probes.stats[1].borrow()];
    let (requests, request_log) = match probes.book {
        Some(b) => {
            let clock = |slot: u32| outcome.slots.get(slot as usize).map_or(outcome.ended_at, |s| s.client_clock);
            let (counts, log) = std::mem::take(&mut *b.borrow_mut()).finish(clock);
            (Some(counts), log)
        }
        None => (None, Vec::new()),
    };
    RunRecord { seed, faults, outcome, endpoints, horizon: scenario.horizon, requests, request_log }
}

/// Aggregate the runs of one declared strategy into the contract's figures.
pub fn aggregate(strategy: &StrategySpec, horizon: Duration, runs: &[RunSummary]) -> StrategyReport {
    metrics::aggregate(&strategy.name, strategy.kind_name(), strategy.transport().kind(), horizon, runs)
}

/// A rough count of the events one run of `scenario` with `strategy` makes
/// (for warning a user before a run that would take minutes): per
/// connection, the messages of every traffic entry (a gap's typical value
/// over the horizon, or its count) times the segments each takes, each sent,
/// received and acknowledged; the strategy's heartbeats (every period it
/// names, four events each: ping, pong and their ACKs); and, when sessions
/// reconnect and a fault can end a connection, attempts failing for the
/// whole run at the pause the backoff settles on (`max_backoff`, or
/// `initial_backoff` when `multiplier` is 1), six events each (the SYN, the
/// answer, the wake-ups).
pub fn estimated_events(scenario: &Scenario, strategy: &StrategySpec) -> f64 {
    let traffic = traffic_events(scenario);
    let horizon = scenario.horizon.as_secs_f64();
    // The shortest period the strategy names: its heartbeat.
    let period = match strategy.kind() {
        // Its probes, once it probes, come every `interval`.
        StrategyKind::TcpKeepalive { keepalive, .. } => Some(keepalive.idle.min(keepalive.interval)),
        kind => kind.quiet_period().map(|(p, _)| p),
    }
    .map_or(f64::INFINITY, |p| p.as_secs_f64());
    let heartbeats = if period.is_finite() { horizon / period.max(1e-3) * 4.0 } else { 0.0 };
    let attempts = match (scenario.reconnect_policy(), scenario.faults.first()) {
        (r, Some(_)) if r.mode != crate::scenario::ReconnectMode::Off => {
            let settled = if r.multiplier <= 1.0 { r.initial_backoff } else { r.max_backoff };
            horizon / settled.as_secs_f64().max(1e-3) * 6.0
        }
        _ => 0.0,
    };
    traffic + (heartbeats + attempts) * f64::from(scenario.clients * scenario.connections)
}

/// The traffic's part of [`estimated_events`], every connection's.
fn traffic_events(scenario: &Scenario) -> f64 {
    let horizon = scenario.horizon.as_secs_f64();
    let per_connection: f64 = scenario
        .traffic
        .iter()
        .map(|t| {
            let messages = match t.schedule {
                crate::scenario::Schedule::At(_) => 1.0,
                crate::scenario::Schedule::Every(gap) => {
                    let typical = match gap {
                        crate::units::RandomTime::Fixed(d) | crate::units::RandomTime::Exp(d) => d,
                        crate::units::RandomTime::Uniform(a, b) => (a + b) / 2,
                    };
                    horizon / typical.as_secs_f64().max(1e-3)
                }
            };
            let messages = t.count.map_or(messages, |c| messages.min(c as f64));
            // Each segment is a send, an arrival and an ACK's send and arrival.
            let segments = ((t.size + t.reply) as f64 / f64::from(sim::packet::DEFAULT_MSS)).ceil().max(1.0);
            messages * segments * 4.0
        })
        .sum();
    per_connection * f64::from(scenario.clients * scenario.connections)
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
        source: None,
        strategies: strategies.iter().zip(runs).map(|(s, r)| aggregate(s, scenario.horizon, r)).collect(),
    }
}
