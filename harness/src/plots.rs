//! The data behind the HTML report's plots: every detection latency per
//! strategy, every restore time (sessions), and one representative run per strategy re-run with a trace
//! (the first seed in which someone declared the peer dead, else the first).

use crate::metrics::{RunSummary, SideOutcome};
use crate::runner::{self, RunRecord};
use crate::scenario::Scenario;
use crate::strategy::StrategySpec;
use reports::html::{Mark, MarkKind, Row, RunTimeline, ScenarioPlots, StrategyPlots};
use sim::oracle::Verdict;
use sim::trace::{FaultEvent, TraceEvent};
use sim::Side;

/// Most NAT-expiry marks drawn per timeline (the rest would only overprint).
const MAX_NAT_MARKS: usize = 40;

fn row(side: Side) -> Row {
    match side {
        Side::Client => Row::Client,
        Side::Server => Row::Server,
    }
}

fn broken_mark(at: sim::Instant, cause: sim::oracle::BreakCause) -> Mark {
    Mark { at_s: at.as_secs_f64(), row: Row::Network, kind: MarkKind::Broken, label: format!("broken: {cause}") }
}

/// A declaration's mark; `echo` when it only carries the peer's decision.
fn declaration_mark(at: sim::Instant, side: Side, cause: &str, verdict: Verdict, echo: bool) -> Mark {
    let kind = match verdict {
        _ if echo => MarkKind::PeerClosed,
        Verdict::OrderlyEnd => MarkKind::PeerClosed,
        Verdict::Detection { .. } => MarkKind::Detection,
        Verdict::FalsePositive { .. } => MarkKind::FalsePositive,
    };
    Mark { at_s: at.as_secs_f64(), row: row(side), kind, label: cause.to_string() }
}

/// A traced re-run of `seed`, as timeline marks.
pub fn timeline(scenario: &Scenario, strategy: &StrategySpec, seed: u64) -> RunTimeline {
    let r = runner::run_one(scenario, strategy, seed, true);
    let mut marks = Vec::new();
    let mut nat = 0;
    let mut declared: Vec<Side> = Vec::new();
    for rec in &r.outcome.trace {
        let at_s = rec.at.as_secs_f64();
        let mark = |row, kind, label: &str| Mark { at_s, row, kind, label: label.to_string() };
        match &rec.event {
            TraceEvent::Fault(f) => {
                let m = match *f {
                    FaultEvent::Vanish(s) => mark(row(s), MarkKind::Fault, "vanish"),
                    FaultEvent::RebootStart(s) => mark(row(s), MarkKind::Fault, "reboot"),
                    FaultEvent::SuspendStart(s) => mark(row(s), MarkKind::Fault, "suspend"),
                    FaultEvent::Crash(s) => mark(row(s), MarkKind::Fault, "crash"),
                    FaultEvent::OutageStart(_) => mark(Row::Network, MarkKind::Fault, "outage"),
                    FaultEvent::NatReboot => mark(Row::Network, MarkKind::Fault, "NAT reboot"),
                    _ => continue,
                };
                marks.push(m);
            }
            TraceEvent::NatMappingExpired { mapping, .. } if !mapping.closing && nat < MAX_NAT_MARKS => {
                nat += 1;
                marks.push(mark(Row::Network, MarkKind::NatExpiry, if nat == 1 { "NAT expiry" } else { "" }));
            }
            TraceEvent::Declared { side, cause, verdict } => {
                let echo = crate::runner::echoes_peer(cause, declared.contains(&side.peer()));
                declared.push(*side);
                marks.push(declaration_mark(rec.at, *side, cause, *verdict, echo));
            }
            _ => {}
        }
    }
    if let Some((at, cause)) = r.outcome.broken {
        marks.push(broken_mark(at, cause));
    }
    RunTimeline { seed, horizon_s: scenario.horizon.as_secs_f64(), marks }
}

/// Plot data for one scenario, from its runs (one list per strategy, in order).
/// `timeline_of` draws one representative seed of a strategy: the first seed
/// in which someone declared the peer dead, else the first.
pub fn scenario_plots(
    scenario: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    timeline_of: &dyn Fn(&StrategySpec, u64) -> RunTimeline,
) -> ScenarioPlots {
    let strategies = strategies
        .iter()
        .zip(runs)
        .map(|(st, runs)| {
            // Every connection's, reconnects included (the CDF sorts them).
            let latencies_s = runs
                .iter()
                .flat_map(|r| Side::BOTH.into_iter().flat_map(move |side| r.outcomes(side)))
                .filter_map(|o| match o {
                    SideOutcome::Detected(l) => Some(l.as_secs_f64()),
                    _ => None,
                })
                .collect();
            let restore_s = runs.iter().filter_map(|r| r.session.as_ref()).flat_map(|s| &s.restore_ns).map(|ns| *ns as f64 / 1e9).collect();
            let seed = runs.iter().find(|r| r.declared).or(runs.first()).map_or(scenario.base_seed, |r| r.seed);
            StrategyPlots { latencies_s, restore_s, timeline: timeline_of(st, seed) }
        })
        .collect();
    ScenarioPlots { strategies }
}

/// A timeline from a run's record alone (no trace; live mode): faults, the break, declarations.
pub fn untraced_timeline(scenario: &Scenario, run: Option<&RunRecord>) -> RunTimeline {
    let mut t = RunTimeline { seed: run.map_or(0, |r| r.seed), horizon_s: scenario.horizon.as_secs_f64(), marks: Vec::new() };
    let Some(r) = run else { return t };
    for f in &r.faults {
        let row = match f.side {
            Some(s) if f.kind != crate::scenario::FaultKind::Outage => row(s),
            _ => Row::Network,
        };
        t.marks.push(Mark { at_s: f.at.as_secs_f64(), row, kind: MarkKind::Fault, label: f.kind.name().into() });
    }
    if let Some((at, cause)) = r.outcome.broken {
        t.marks.push(broken_mark(at, cause));
    }
    for d in &r.outcome.declarations {
        let echo = crate::runner::counted_declaration(&r.outcome, d.side).is_none_or(|c| c.at != d.at);
        t.marks.push(declaration_mark(d.at, d.side, &d.cause, d.verdict, echo));
    }
    t
}
