//! The data behind the HTML report's plots: every detection latency per
//! strategy, every restore time (sessions), and one representative run per strategy re-run with a trace
//! (the first seed in which someone declared the peer dead, else the first).

use crate::record::RunRecord;
use crate::runner;
use crate::scenario::Scenario;
use crate::strategy::StrategySpec;
use crate::summary::{RunSummary, SideOutcome};
use reports::plot_input::{FleetActivity, Mark, MarkKind, Row, RunTimeline, ScenarioPlots, StrategyPlots};
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
    Mark { at_s: at.as_secs_f64(), until_s: None, row: Row::Network, kind: MarkKind::Broken, label: format!("broken: {cause}") }
}

/// A declaration's mark; `echo` when it only carries the peer's decision.
fn declaration_mark(at: sim::Instant, side: Side, cause: &str, verdict: Verdict, echo: bool) -> Mark {
    let kind = match verdict {
        _ if echo => MarkKind::PeerClosed,
        Verdict::OrderlyEnd => MarkKind::PeerClosed,
        Verdict::Detection { .. } => MarkKind::Detection,
        Verdict::FalsePositive { .. } => MarkKind::FalsePositive,
    };
    Mark { at_s: at.as_secs_f64(), until_s: None, row: row(side), kind, label: cause.to_string() }
}

/// The end of a lasting fault: the latest still-open span of that label on
/// that row ends at `at_s` — or, for reboots and suspensions (`held`), every
/// open one: overlapping ones hold the host and end with one event, when
/// the last ends. Returns no new mark.
fn close_span(marks: &mut [Mark], label: &str, row: Row, at_s: f64) -> Option<Mark> {
    let held = matches!(label, "reboot" | "suspend");
    let open = |m: &&mut Mark| m.label == label && m.row == row && m.until_s.is_some_and(|u| u > at_s);
    let spans: Vec<&mut Mark> = marks.iter_mut().rev().filter(open).take(if held { usize::MAX } else { 1 }).collect();
    for m in spans {
        m.until_s = Some(at_s);
    }
    None
}

/// A traced re-run of `seed`, as timeline marks. A fleet or pool draws one
/// connection (every connection's marks would overprint into a band): its
/// [`representative_connection`], re-run with a trace of that connection
/// alone, so the memory is one connection's whatever the fleet's size.
pub fn timeline(scenario: &Scenario, strategy: &StrategySpec, seed: u64) -> RunTimeline {
    if scenario.clients * scenario.connections <= 1 {
        return traced_timeline(scenario, &runner::run_one(scenario, strategy, seed, true));
    }
    let whole = runner::run_one(scenario, strategy, seed, false);
    let slot = representative_connection(&whole);
    let per_client = scenario.connections;
    let focus = sim::trace::TraceFocus { slots: slot..slot + 1, client: slot / per_client };
    let r = runner::run_one_focused(scenario, strategy, seed, focus);
    let mut t = traced_timeline(scenario, &r);
    // Its own break, not connection 0's.
    t.marks.retain(|m| m.kind != MarkKind::Broken);
    let own = r.outcome.slots.get(slot as usize).and_then(|o| o.connections.iter().filter_map(|c| c.broken).min_by_key(|b| b.0));
    t.marks.extend(own.map(|(at, cause)| broken_mark(at, cause)));
    t.connection = Some(slot);
    t.fleet = Some(fleet_activity(&whole, scenario.horizon));
    t
}

/// Bins of a fleet's activity picture.
const FLEET_BINS: usize = 60;

/// A fleet run's breaks (every attempt's), detections and false positives
/// (echoes left out), counted in `FLEET_BINS` (60) stretches of the horizon.
pub fn fleet_activity(r: &RunRecord, horizon: std::time::Duration) -> FleetActivity {
    let bin_s = horizon.as_secs_f64() / FLEET_BINS as f64;
    let mut bins = vec![[0u32; 3]; FLEET_BINS];
    let mut count = |at: sim::Instant, k: usize| {
        let i = ((at.as_secs_f64() / bin_s) as usize).min(FLEET_BINS - 1);
        bins[i][k] += 1;
    };
    for slot in &r.outcome.slots {
        for (at, _) in slot.connections.iter().filter_map(|c| c.broken) {
            count(at, 0);
        }
    }
    for d in r.outcome.declarations.iter().filter(|d| !d.echo) {
        match d.verdict {
            Verdict::Detection { .. } => count(d.at, 1),
            Verdict::FalsePositive { .. } => count(d.at, 2),
            Verdict::OrderlyEnd => {}
        }
    }
    FleetActivity { connections: r.outcome.slots.len() as u32, bin_s, bins }
}

/// The connection of a fleet's run worth drawing: the first with a false
/// positive, else the one of the median first detection (the lower of an
/// even count), else connection 0.
pub fn representative_connection(r: &RunRecord) -> u32 {
    let counted = || r.outcome.declarations.iter().filter(|d| !d.echo);
    if let Some(d) = counted().find(|d| matches!(d.verdict, Verdict::FalsePositive { .. })) {
        return d.slot;
    }
    let mut firsts: Vec<(std::time::Duration, u32)> = Vec::new();
    for d in counted() {
        if let Verdict::Detection { latency } = d.verdict {
            if !firsts.iter().any(|f| f.1 == d.slot) {
                firsts.push((latency, d.slot));
            }
        }
    }
    firsts.sort();
    firsts.get(firsts.len().saturating_sub(1) / 2).map_or(0, |f| f.1)
}

/// A traced run's timeline marks (the event engine's, or a live run's).
pub fn traced_timeline(scenario: &Scenario, r: &RunRecord) -> RunTimeline {
    let seed = r.seed;
    let horizon_s = scenario.horizon.as_secs_f64();
    let mut marks = Vec::new();
    let mut nat = 0;
    for rec in &r.outcome.trace {
        let at_s = rec.at.as_secs_f64();
        let mark = |row, kind, label: &str| Mark { at_s, until_s: None, row, kind, label: label.to_string() };
        match &rec.event {
            TraceEvent::Fault(f) => {
                // A fault that lasts opens a span its end closes (the horizon if none does).
                let lasting = |label: &str, r: Row| Mark { until_s: Some(horizon_s), ..mark(r, MarkKind::Fault, label) };
                let m = match *f {
                    FaultEvent::Vanish(s) => Some(mark(row(s), MarkKind::Fault, "vanish")),
                    FaultEvent::RebootStart(s) => Some(lasting("reboot", row(s))),
                    FaultEvent::SuspendStart(s) => Some(lasting("suspend", row(s))),
                    FaultEvent::Crash(s) => Some(lasting("crash", row(s))),
                    FaultEvent::OutageStart(_) => Some(lasting("outage", Row::Network)),
                    FaultEvent::NatReboot(sim::trace::NatRef::Only) => Some(mark(Row::Network, MarkKind::Fault, "NAT reboot")),
                    FaultEvent::NatReboot(nat) => Some(mark(Row::Network, MarkKind::Fault, &format!("{nat} reboot"))),
                    FaultEvent::RebootDone(s) => close_span(&mut marks, "reboot", row(s), at_s),
                    FaultEvent::SuspendEnd(s) => close_span(&mut marks, "suspend", row(s), at_s),
                    FaultEvent::Restarted(s) => close_span(&mut marks, "crash", row(s), at_s),
                    FaultEvent::OutageEnd(_) => close_span(&mut marks, "outage", Row::Network, at_s),
                };
                marks.extend(m);
            }
            TraceEvent::NatMappingExpired { mapping, .. } if !mapping.closing && nat < MAX_NAT_MARKS => {
                nat += 1;
                marks.push(mark(Row::Network, MarkKind::NatExpiry, "NAT expiry"));
            }
            TraceEvent::Declared { side, cause, verdict, echo } => {
                marks.push(declaration_mark(rec.at, *side, cause, *verdict, *echo));
            }
            _ => {}
        }
    }
    if let Some((at, cause)) = r.outcome.broken {
        marks.push(broken_mark(at, cause));
    }
    RunTimeline { seed, horizon_s: scenario.horizon.as_secs_f64(), marks, connection: None, fleet: None }
}

/// A latency as a reader says it, to the tenth of a second: "1h54m18.9s",
/// "2m05.5s", "30.1s" (not "6858.9 s").
fn hours_minutes_seconds(d: std::time::Duration) -> String {
    let tenths = (d.as_secs_f64() * 10.0).round() as u64;
    let (h, m, s) = (tenths / 36_000, tenths / 600 % 60, (tenths % 600) as f64 / 10.0);
    match (h, m) {
        (0, 0) => format!("{s:.1}s"),
        (0, m) => format!("{m}m{s:04.1}s"),
        (h, m) => format!("{h}h{m:02}m{s:04.1}s"),
    }
}

/// The run worth drawing for a strategy, and why: the first false positive
/// (the mistake a reader wants to see), else the run of the median detection
/// (nearest rank, the lower one of an even count), else the first run.
pub fn representative(runs: &[RunSummary], base_seed: u64) -> (u64, String) {
    let fp = |o: SideOutcome| matches!(o, SideOutcome::FalsePositive(_));
    if let Some(r) = runs.iter().find(|r| Side::BOTH.iter().any(|&s| r.outcomes(s).any(fp))) {
        return (r.seed, "the first false positive".into());
    }
    let mut detections: Vec<(std::time::Duration, u64)> = runs
        .iter()
        .flat_map(|r| {
            Side::BOTH.into_iter().flat_map(move |s| {
                r.outcomes(s).filter_map(move |o| match o {
                    SideOutcome::Detected(l) => Some((l, r.seed)),
                    _ => None,
                })
            })
        })
        .collect();
    detections.sort();
    if let Some(&(latency, seed)) = detections.get(detections.len().saturating_sub(1) / 2) {
        return (seed, format!("the median detection, {}", hours_minutes_seconds(latency)));
    }
    (runs.first().map_or(base_seed, |r| r.seed), "no declaration in any run".into())
}

/// Plot data for one scenario, from its runs (one list per strategy, in order).
/// `timeline_of` draws the [`representative`] seed of each strategy.
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
            let restore_s =
                runs.iter().filter_map(|r| r.session.as_ref()).flat_map(|s| s.restore_ns.iter()).map(|ns| ns as f64 / 1e9).collect();
            let (seed, why) = representative(runs, scenario.base_seed);
            let timeline = timeline_of(st, seed);
            let (why, replay) = match timeline.connection {
                // A fleet's run is drawn as one of its connections.
                Some(c) => (
                    format!("{why}; connection {c} of that run"),
                    format!("{} --connection {c}", crate::paste::replay(&scenario.path, &st.name, seed)),
                ),
                None => (why, crate::paste::replay(&scenario.path, &st.name, seed)),
            };
            StrategyPlots { latencies_s, restore_s, timeline, why, replay }
        })
        .collect();
    ScenarioPlots { strategies }
}

/// An empty timeline: a run that could not be drawn (live mode unavailable).
pub fn no_timeline(scenario: &Scenario) -> RunTimeline {
    RunTimeline { seed: 0, horizon_s: scenario.horizon.as_secs_f64(), marks: Vec::new(), connection: None, fleet: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::SlotSummary;
    use std::time::Duration;

    fn run(seed: u64, client: SideOutcome) -> RunSummary {
        let slot = SlotSummary { sides: [client.into(), SideOutcome::Quiet.into()], expiries_while_held: 0, healthy_ns: 0, later: None };
        RunSummary {
            seed,
            slots: vec![slot].into(),
            keepalive_packets: 0,
            keepalive_bytes: 0,
            declared: false,
            session: None,
            idle_closes: 0,
            stopped: None,
            orderly_ends: 0,
        }
    }

    #[test]
    fn latencies_read_as_hours_minutes_and_seconds() {
        let t = |ms: u64| hours_minutes_seconds(Duration::from_millis(ms));
        assert_eq!(t(30_120), "30.1s");
        assert_eq!(t(125_500), "2m05.5s");
        // The catalogue's 6858.9 s: 1 h, 54 min, 18.9 s.
        assert_eq!(t(6_858_900), "1h54m18.9s");
        // Rounded before it is split: 59.96 s is a minute, not "0m60.0s".
        assert_eq!(t(59_960), "1m00.0s");
    }

    #[test]
    fn the_drawn_run_is_the_first_mistake_else_the_median_detection() {
        let d = |s: u64| SideOutcome::Detected(Duration::from_secs(s));
        // Detections of 9, 5 and 1 s: the median is 5 s, seed 1.
        let runs = [run(0, d(9)), run(1, d(5)), run(2, d(1))];
        assert_eq!(representative(&runs, 0), (1, "the median detection, 5.0s".into()));
        // An even count takes the lower middle: 1, 2, 3, 4 s -> 2 s.
        let runs = [run(10, d(4)), run(11, d(2)), run(12, d(3)), run(13, d(1))];
        assert_eq!(representative(&runs, 10).0, 11);
        // A false positive anywhere wins: the first one.
        let fp = SideOutcome::FalsePositive(sim::oracle::Condition::Healthy);
        let runs = [run(20, d(4)), run(21, fp), run(22, fp)];
        assert_eq!(representative(&runs, 20), (21, "the first false positive".into()));
        let runs = [run(30, SideOutcome::Quiet)];
        assert_eq!(representative(&runs, 30), (30, "no declaration in any run".into()));
    }

    #[test]
    fn a_held_faults_end_closes_every_open_span_an_outages_only_the_latest() {
        let span =
            |label: &str, at_s: f64| Mark { at_s, until_s: Some(100.0), row: Row::Server, kind: MarkKind::Fault, label: label.into() };
        // Reboots 10-40 s and 20-50 s end with one event at 50 s: both spans end there.
        let mut marks = vec![span("reboot", 10.0), span("reboot", 20.0)];
        close_span(&mut marks, "reboot", Row::Server, 50.0);
        assert_eq!(marks.iter().map(|m| m.until_s).collect::<Vec<_>>(), [Some(50.0), Some(50.0)]);
        // Outages end one by one: the latest opened ends first.
        let mut marks = vec![span("outage", 10.0), span("outage", 20.0)];
        close_span(&mut marks, "outage", Row::Server, 30.0);
        assert_eq!(marks.iter().map(|m| m.until_s).collect::<Vec<_>>(), [Some(100.0), Some(30.0)]);
    }

    /// fleet-behind-carrier-nat, seed 3, kernel defaults: all 50 workers'
    /// mappings expire at 20 min (the 20-minute NAT, no traffic before the
    /// first request), so the first 72-minute bin holds all 50 breaks; every
    /// detection and false positive is counted once, echoes left out; and the
    /// connection drawn has the lower median of the connections' first
    /// detection latencies.
    #[test]
    fn a_fleets_activity_counts_every_break_and_declaration_and_the_median_connection_is_drawn() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fleet-behind-carrier-nat.toml");
        let s = crate::scenario::load(&path).unwrap();
        let st = s.strategies.iter().find(|st| st.name == "linux-default").unwrap();
        let r = runner::run_one(&s, st, 3, false);
        let f = fleet_activity(&r, s.horizon);
        assert_eq!((f.connections, f.bins.len(), f.bin_s), (50, 60, 4320.0));
        assert_eq!(f.bins[0][0], 50);
        let counted = |v: fn(&Verdict) -> bool| r.outcome.declarations.iter().filter(|d| !d.echo && v(&d.verdict)).count() as u32;
        assert_eq!(f.bins.iter().map(|b| b[1]).sum::<u32>(), counted(|v| matches!(v, Verdict::Detection { .. })));
        assert_eq!(f.bins.iter().map(|b| b[2]).sum::<u32>(), counted(|v| matches!(v, Verdict::FalsePositive { .. })));
        // Each connection's first detection latency; the drawn one is the lower median.
        let mut firsts: Vec<(Duration, u32)> = Vec::new();
        for d in r.outcome.declarations.iter().filter(|d| !d.echo) {
            if let Verdict::Detection { latency } = d.verdict {
                if firsts.iter().all(|f| f.1 != d.slot) {
                    firsts.push((latency, d.slot));
                }
            }
        }
        assert_eq!(firsts.len(), 50);
        let slot = representative_connection(&r);
        let mine = firsts.iter().find(|f| f.1 == slot).unwrap().0;
        assert_eq!(firsts.iter().filter(|f| f.0 < mine).count(), 24, "below the lower median of 50: 24");
    }
}
