//! `kasim run|check|replay --engine netns` and `kasim calibrate PATH...`: the
//! checks before real hosts are made (root, `--max-wall`, what the engine
//! cannot run yet; program strategies only here), the runs in parallel, and
//! what the report adds (`"engine": "netns"`, packet lateness).

use super::{CliError, RunArgs};
use crate::netns::{self, NetnsConfig, NetnsError};
use crate::scenario::Scenario;
use crate::strategy::{StrategyKind, StrategySpec};
use crate::summary::RunSummary;
use rayon::prelude::*;
use reports::Lateness;
use std::time::Duration;

/// Real-time runs in parallel when `--jobs` is not given: they mostly wait,
/// so more than the cores (the accuracy bound is for 8 at once).
pub const DEFAULT_JOBS: usize = 8;

/// The 1-based line of strategy `index`'s `kind` key in its file (or of its
/// `[[strategy]]` header), for errors; `None` for a bundled scenario.
pub fn strategy_line(s: &Scenario, index: usize) -> Option<usize> {
    let text = std::fs::read_to_string(&s.path).ok()?;
    let mut seen = 0;
    let mut header = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with("[[strategy]]") {
            if header.is_some() {
                break;
            }
            if seen == index {
                header = Some(n + 1);
            }
            seen += 1;
        } else if header.is_some() && t.starts_with('[') {
            break;
        } else if header.is_some() && t.starts_with("kind") {
            return Some(n + 1);
        }
    }
    header
}

fn at(s: &Scenario, index: usize) -> String {
    match strategy_line(s, index) {
        Some(line) => format!("{}:{line}", s.path.display()),
        None => s.path.display().to_string(),
    }
}

/// Under the event engine: a `program` strategy cannot run (exit 2, naming it).
pub fn refuse_programs(s: &Scenario, strategies: &[&StrategySpec]) -> Result<(), CliError> {
    if let Some(st) = strategies.iter().find(|st| matches!(st.kind(), StrategyKind::Program { .. })) {
        let index = s.strategies.iter().position(|x| x.name == st.name).unwrap_or(0);
        return Err(CliError::Netns(format!(
            "{}: strategy[{index}].kind: \"program\" (strategy \"{}\") runs real programs, which the event engine cannot; allowed: --engine netns (needs root), or leave it out with --strategy",
            at(s, index),
            st.name
        )));
    }
    Ok(())
}

/// Before any namespace is made: root, the horizons against `--max-wall`,
/// what the engine cannot run; then reap what a killed run left.
pub fn prepare(args: &RunArgs, scenarios: &[Scenario]) -> Result<NetnsConfig, CliError> {
    let max_wall = args.max_wall;
    refuse_unrunnable(scenarios, &args.strategies, max_wall)?;
    crate::calibrate::available().map_err(|why| CliError::Netns(format!("--engine netns needs real network namespaces: {why}")))?;
    // With --out, every run keeps its trace: the HTML report's timeline is
    // one of them (another real-time run only for a picture would be another
    // run, with other timings).
    make_ready(args.out.is_some())
}

/// Every scenario fits in `max_wall`, and every strategy the engine cannot
/// run is either left out with a note (as `--engine live` leaves out what is
/// not `live_*`: a scenario may hold a program beside its event-engine twin)
/// or, when `--strategy` named it, refused.
fn refuse_unrunnable(scenarios: &[Scenario], named: &[String], max_wall: Duration) -> Result<(), CliError> {
    for s in scenarios {
        if s.horizon > max_wall {
            return Err(CliError::Netns(format!(
                "{}: horizon {} runs in real time under --engine netns, longer than --max-wall {}; allowed: a horizon up to --max-wall (raise it, or shorten the horizon)",
                s.path.display(),
                crate::units::format_duration(s.horizon),
                crate::units::format_duration(max_wall)
            )));
        }
        let mut runnable = 0;
        let mut reasons = Vec::new();
        for (i, st) in s.strategies.iter().enumerate().filter(|(_, st)| named.is_empty() || named.contains(&st.name)) {
            let parts = netns::unsupported(s, st);
            if parts.is_empty() {
                runnable += 1;
                continue;
            }
            let why = format!("{}: strategy \"{}\": --engine netns cannot run it yet: {}", at(s, i), st.name, parts.join("; "));
            if !named.is_empty() {
                return Err(CliError::Netns(why));
            }
            eprintln!("note: left out: {why}");
            reasons.push(why);
        }
        if runnable == 0 && !reasons.is_empty() {
            return Err(CliError::Netns(format!(
                "{}: no strategy runs under --engine netns:\n  {}",
                s.path.display(),
                reasons.join("\n  ")
            )));
        }
    }
    Ok(())
}

/// Reap what a killed run left, arrange for this run's namespaces to go on a
/// signal, and find the agent (this binary).
pub fn make_ready(trace: bool) -> Result<NetnsConfig, CliError> {
    super::signals::on_signal(crate::calibrate::remove_all);
    let reaped = crate::calibrate::reap_stale();
    if !reaped.is_empty() {
        eprintln!("removed {} network namespaces left by an earlier run that was killed: {}", reaped.len(), reaped.join(", "));
    }
    let agent = std::env::current_exe().map_err(|e| CliError::Netns(format!("cannot find kasim's own binary for its agent: {e}")))?;
    Ok(NetnsConfig { agent, trace })
}

/// What the runs of one scenario left: per strategy, its runs' summaries in
/// seed order, the lateness of its packets, and (when traced) each run's
/// record, for the HTML report's timeline.
pub struct NetnsRuns {
    /// Per strategy, its runs' summaries, in seed order.
    pub summaries: Vec<Vec<RunSummary>>,
    /// Per strategy, the lateness of its packets against the model.
    pub lateness: Vec<Option<Lateness>>,
    /// Per strategy, its traced runs' records by seed (empty unless traced).
    pub traced: Vec<std::collections::BTreeMap<u64, crate::record::RunRecord>>,
}

/// Every seed of every strategy of `s` on real hosts, `jobs` runs at a time
/// (strategies and seeds alike); the summaries in seed order and each
/// strategy's lateness over its runs.
pub fn run_scenario(
    s: &Scenario,
    strategies: &[&StrategySpec],
    seeds: &[u64],
    cfg: &NetnsConfig,
    pool: &rayon::ThreadPool,
    tick: &(dyn Fn() + Sync),
) -> Result<NetnsRuns, CliError> {
    let jobs: Vec<(usize, u64)> = (0..strategies.len()).flat_map(|st| seeds.iter().map(move |&seed| (st, seed))).collect();
    let runs: Vec<Result<netns::NetnsRun, NetnsError>> = pool.install(|| {
        jobs.par_iter()
            .map(|&(st, seed)| {
                let r = netns::run(s, strategies[st], seed, cfg);
                tick();
                r
            })
            .collect()
    });
    let mut summaries: Vec<Vec<RunSummary>> = vec![Vec::new(); strategies.len()];
    let mut late: Vec<Vec<u64>> = vec![Vec::new(); strategies.len()];
    let mut traced: Vec<std::collections::BTreeMap<u64, crate::record::RunRecord>> =
        strategies.iter().map(|_| Default::default()).collect();
    for (&(st, seed), r) in jobs.iter().zip(runs) {
        let r = r.map_err(|e| {
            let name = &strategies[st].name;
            let index = s.strategies.iter().position(|x| &x.name == name).unwrap_or(0);
            CliError::Netns(format!("{}: strategy \"{name}\": {e}", at(s, index)))
        })?;
        summaries[st].push(RunSummary::of(&r.record));
        late[st].extend(r.lateness_ns);
        if cfg.trace {
            traced[st].insert(seed, r.record);
        }
    }
    Ok(NetnsRuns { summaries, lateness: late.into_iter().map(Lateness::of).collect(), traced })
}

/// `kasim calibrate PATH...`: every strategy the netns engine runs, every
/// seed, on both engines; rows compared figure by figure ([`netns::compare`]).
/// Strategies it cannot run are named on stderr and left out.
pub fn calibrate_scenarios(scenarios: &[Scenario], seeds: Option<u64>, max_wall: Duration) -> Result<Vec<netns::compare::Row>, CliError> {
    let mut plan: Vec<(&Scenario, &StrategySpec, u64)> = Vec::new();
    for s in scenarios {
        for st in &s.strategies {
            let mut why = netns::unsupported(s, st);
            if matches!(st.kind(), StrategyKind::Program { .. }) {
                why.push(
                    "a program has no model in the event engine (compare it with its twin strategy in `kasim run --engine netns`)".into(),
                );
            }
            if s.horizon > max_wall {
                why.push(format!("horizon {} over --max-wall", crate::units::format_duration(s.horizon)));
            }
            if why.is_empty() {
                plan.extend(crate::runner::seeds(s, seeds).into_iter().map(|seed| (s, st, seed)));
            } else {
                eprintln!("skipped {} / {}: {}", s.name, st.name, why.join("; "));
            }
        }
    }
    if plan.is_empty() {
        return Err(CliError::Netns(
            "nothing to calibrate: no strategy of these scenarios runs on real hosts (see the lines above)".into(),
        ));
    }
    let cfg = make_ready(false)?;
    let pool = super::worker_pool(None, Some(DEFAULT_JOBS))?;
    eprintln!("calibrating {} runs on both engines, {DEFAULT_JOBS} real-time runs at a time...", plan.len());
    let results: Vec<Result<Vec<netns::compare::Row>, CliError>> = pool.install(|| {
        plan.par_iter()
            .map(|&(s, st, seed)| {
                let event = crate::runner::run_one(s, st, seed, false);
                let real = netns::run(s, st, seed, &cfg)
                    .map_err(|e| CliError::Netns(format!("{}: strategy \"{}\": {e}", s.path.display(), st.name)))?;
                Ok(netns::compare::compare((&s.name, &st.name, seed), &event, &real.record))
            })
            .collect()
    });
    let mut rows = Vec::new();
    for r in results {
        rows.extend(r?);
    }
    Ok(rows)
}

/// `kasim replay --engine netns`: one traced run on real hosts; the record
/// (its trace renders as the event engine's does), the real packets, and the
/// lateness of the run's packets.
pub fn replay(s: &Scenario, strategy: &StrategySpec, seed: u64, max_wall: Duration) -> Result<netns::NetnsRun, CliError> {
    let index = s.strategies.iter().position(|x| x.name == strategy.name).unwrap_or(0);
    refuse_unrunnable(std::slice::from_ref(s), std::slice::from_ref(&strategy.name), max_wall)?;
    crate::calibrate::available().map_err(|why| CliError::Netns(format!("--engine netns needs real network namespaces: {why}")))?;
    let cfg = make_ready(true)?;
    let run =
        netns::run(s, strategy, seed, &cfg).map_err(|e| CliError::Netns(format!("{}: strategy \"{}\": {e}", at(s, index), strategy.name)));
    crate::calibrate::remove_all();
    run
}
