//! `kasim tune`: which setting of one strategy is cheapest while it still
//! meets the constraints?
//!
//! A grid over one or more of the strategy's parameters (`--vary`), each point
//! run over the same seeds as `kasim run` would and aggregated by the same
//! code, so a point's figures are exactly what a `[[strategy]]` with those
//! parameters reports. Constraints (`--require`) use the `[[expect]]` metric
//! names; a point is feasible when it meets all of them. The recommendation
//! is the feasible point with the least objective (`--minimize`, default
//! keepalive packets per hour; ties go to the later point in grid order). The
//! Pareto frontier over (client detection p99, false positives per 1000
//! connection-hours, keepalive packets per hour) shows what else was on offer.
//!
//! **Successive halving** (`--halving`) spends seeds where they decide
//! something. All points run on the first n/8 seeds, then the survivors on
//! twice as many, and so on up to n. Between rounds a point is dropped when:
//! 1. *it is infeasible whatever the remaining seeds show*: a `<=` bound on a
//!    count that the seeds so far already exceed, a rate whose lower bound
//!    (the remaining runs adding nothing to the count and the most they can to
//!    the denominator) exceeds it, or a percentile bound that more samples
//!    already exceed than the full set could hide. This rule is never wrong.
//! 2. *it is dominated with a margin*: among the points that look feasible so
//!    far, it is more than [`MARGIN`] (10 %) worse on the objective than the
//!    [`RESERVE`]-th best (3). It could only be recommended if all three
//!    better ones turned infeasible on the remaining seeds. This rule can be
//!    wrong (the README says when); the exhaustive grid, the default, never is.
//!
//! Survivors end with all n seeds, so their figures equal the exhaustive
//! grid's; dropped points show the figures of the seeds they ran (`seeds`).

use crate::metrics;
use crate::runner;
use crate::scenario::Scenario;
use crate::strategy::StrategySpec;
use crate::summary::RunSummary;
use rayon::prelude::*;
use reports::model::StrategyReport;
use sim::Side;

mod axes;
mod explain;
mod halving;

pub use axes::{parse_vary, Axis, Constraint, MetricRef};
pub use explain::{explain, show};
use halving::prune;

/// Most points in a grid.
pub const MAX_POINTS: usize = 10_000;
/// Halving keeps at least this many look-feasible points, best objective first…
pub const RESERVE: usize = 3;
/// …and every look-feasible point within this fraction of the reserve's worst.
pub const MARGIN: f64 = 0.10;

/// Bad `--vary`, `--require` or `--minimize` (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TuneError {
    /// A `--vary` that names no parameter of the kind, gives no values or bad ones,
    /// repeats a parameter, or makes more than [`MAX_POINTS`] points.
    #[error("--vary {spec:?}: {message}")]
    Vary {
        /// The `--vary` value as given.
        spec: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A `--require` that is not `METRIC<=X` or `METRIC>=X` with a known metric and a
    /// finite bound, or that needs session figures the scenario does not measure.
    #[error("--require {spec:?}: {message}")]
    Require {
        /// The `--require` value as given.
        spec: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A `--minimize` that names no metric, or a session metric the scenario does not measure.
    #[error("--minimize {spec:?}: {message}")]
    Minimize {
        /// The `--minimize` value as given.
        spec: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// No seed to run (`--seeds 0`).
    #[error("--seeds: must be at least 1")]
    Seeds,
}

/// What to tune: the parsed command line.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The strategy as the scenario declares it (`--strategy`); parameters not varied
    /// keep its values.
    pub strategy: StrategySpec,
    /// One axis per `--vary`, in command-line order (the first varies slowest).
    pub axes: Vec<Axis>,
    /// Every `--require`; a point is feasible when it meets them all.
    pub constraints: Vec<Constraint>,
    /// `--minimize`: the objective of the recommendation (default
    /// `keepalive_packets_per_hour`).
    pub minimize: MetricRef,
    /// The seeds every point runs (those `kasim run` would use), in order; not empty.
    pub seeds: Vec<u64>,
    /// `--halving`: successive halving instead of the exhaustive grid (module docs).
    pub halving: bool,
}

impl Plan {
    /// The side whose detection latency the frontier and the table show: the
    /// client's when the strategy runs there, else the server's (a broker-side
    /// or server-side strategy showed "-" on every row and never ranked).
    pub fn detection_side(&self) -> Side {
        if self.strategy.sides.contains(&Side::Client) {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// Check and parse the command line's `--vary`, `--require` and `--minimize` for
    /// `strategy`: every axis names a parameter of its kind once, the grid has at
    /// most [`MAX_POINTS`] points, and there is at least one seed.
    pub fn new(
        strategy: &StrategySpec,
        vary: &[String],
        require: &[String],
        minimize: &str,
        seeds: Vec<u64>,
        halving: bool,
    ) -> Result<Plan, TuneError> {
        if seeds.is_empty() {
            return Err(TuneError::Seeds);
        }
        let mut axes: Vec<Axis> = Vec::new();
        for v in vary {
            let axis = parse_vary(strategy.kind().spec(), v)?;
            // Each value parses as its parameter (so every point's strategy does).
            for value in &axis.values {
                strategy.with_param(axis.param, value.clone()).map_err(|e| TuneError::Vary { spec: v.clone(), message: e.to_string() })?;
            }
            if axes.iter().any(|a| a.param == axis.param) {
                return Err(TuneError::Vary { spec: v.clone(), message: format!("{} is already varied", axis.param) });
            }
            axes.push(axis);
        }
        let points: usize = axes.iter().map(|a| a.values.len()).product();
        if points > MAX_POINTS {
            return Err(TuneError::Vary { spec: vary.join(" "), message: format!("{points} points; allowed: at most {MAX_POINTS}") });
        }
        let constraints = require.iter().map(|r| Constraint::parse(r)).collect::<Result<_, _>>()?;
        let minimize = MetricRef::parse(minimize).map_err(|message| TuneError::Minimize { spec: minimize.to_string(), message })?;
        Ok(Plan { strategy: strategy.clone(), axes, constraints, minimize, seeds, halving })
    }

    /// A session metric needs a scenario that measures sessions.
    pub fn check_sessions(&self, sessions: bool) -> Result<(), TuneError> {
        const WHY: &str = "is a session metric; the scenario needs a [client.reconnect] table or a request `timeout`";
        if sessions {
            return Ok(());
        }
        if let Some(c) = self.constraints.iter().find(|c| c.metric.metric.is_session()) {
            return Err(TuneError::Require { spec: c.text.clone(), message: format!("{} {WHY}", c.metric) });
        }
        if self.minimize.metric.is_session() {
            return Err(TuneError::Minimize { spec: self.minimize.to_string(), message: format!("{} {WHY}", self.minimize) });
        }
        Ok(())
    }

    /// Every combination, the first axis slowest.
    pub fn grid(&self) -> Vec<Vec<String>> {
        let mut grid = vec![Vec::new()];
        for axis in &self.axes {
            grid = grid.into_iter().flat_map(|p| axis.values.iter().map(move |v| [p.clone(), vec![v.clone()]].concat())).collect();
        }
        grid
    }

    /// The strategy with one point's parameters.
    pub fn spec_at(&self, values: &[String]) -> StrategySpec {
        let mut spec = self.strategy.clone();
        for (axis, v) in self.axes.iter().zip(values) {
            spec = spec.with_param(axis.param, v.clone()).expect("Plan::new checked that every axis value parses");
        }
        spec
    }
}

/// One point of the grid, evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// One value per axis, canonical.
    pub values: Vec<String>,
    /// Its figures over the seeds it ran, exactly as a `[[strategy]]` with these
    /// parameters would report them.
    pub report: StrategyReport,
    /// Seeds it ran (all of them unless halving dropped it).
    pub seeds: usize,
    /// Why halving dropped it, if it did.
    pub dropped: Option<String>,
    /// It ran every seed and meets every constraint (JSON `feasible`).
    pub feasible: bool,
    /// It ran every seed and no other such point dominates it on client
    /// detection p99, false positives per 1000 connection-hours and keepalive
    /// packets per hour (JSON `pareto`).
    pub pareto: bool,
}

/// The outcome of a tune.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuned {
    /// Every point of the grid, in grid order (the first axis slowest).
    pub points: Vec<Point>,
    /// Index into `points`.
    pub recommended: Option<usize>,
    /// Runs made in all.
    pub runs: u64,
}

/// Run the plan on `scenario`; `progress` ticks once per run.
pub fn tune(scenario: &Scenario, plan: &Plan, progress: &(dyn Fn() + Sync)) -> Tuned {
    let grid = plan.grid();
    let specs: Vec<StrategySpec> = grid.iter().map(|v| plan.spec_at(v)).collect();
    let n = plan.seeds.len();
    let mut runs: Vec<Vec<RunSummary>> = vec![Vec::new(); grid.len()];
    let mut dropped: Vec<Option<String>> = vec![None; grid.len()];
    let mut made = 0u64;
    let mut upto = if plan.halving { n.div_ceil(8).max(1) } else { n };
    loop {
        let jobs: Vec<(usize, u64)> = (0..grid.len())
            .filter(|&i| dropped[i].is_none())
            .flat_map(|i| plan.seeds[runs[i].len()..upto].iter().map(move |&s| (i, s)))
            .collect();
        let done: Vec<(usize, RunSummary)> = jobs
            .par_iter()
            .map(|&(i, seed)| {
                let r = RunSummary::of(&runner::run_one(scenario, &specs[i], seed, false));
                progress();
                (i, r)
            })
            .collect();
        made += done.len() as u64;
        for (i, r) in done {
            // A run stopped at its connection limit has no whole figures: the point is out.
            if let (Some((at, held)), None) = (r.stopped, &dropped[i]) {
                dropped[i] = Some(format!(
                    "seed {} held {held} connection records by {} (a reconnect storm) and was stopped",
                    r.seed,
                    sim::Instant::from_nanos(at)
                ));
            }
            runs[i].push(r);
        }
        if upto == n {
            break;
        }
        prune(scenario, plan, &specs, &runs, &mut dropped);
        upto = (upto * 2).min(n);
    }
    let mut points: Vec<Point> = grid
        .into_iter()
        .enumerate()
        .map(|(i, values)| {
            let report = metrics::aggregate(&specs[i].name, specs[i].kind_name(), specs[i].transport().kind(), scenario.horizon, &runs[i]);
            let feasible = dropped[i].is_none() && plan.constraints.iter().all(|c| c.holds(&report));
            Point { values, seeds: runs[i].len(), dropped: dropped[i].take(), feasible, pareto: false, report }
        })
        .collect();
    mark_pareto(&mut points, plan.detection_side());
    let recommended = recommend(&points, plan.minimize);
    Tuned { points, recommended, runs: made }
}

/// The detection p99 a point is judged by: `side`'s (see [`Plan::detection_side`]).
pub fn detection_p99(r: &StrategyReport, side: Side) -> Option<f64> {
    match side {
        Side::Client => r.client.latency_s.p99,
        Side::Server => r.server.latency_s.p99,
    }
}

/// The three objectives of the frontier, all to minimise; no detection is the worst.
fn objectives(r: &StrategyReport, side: Side) -> [f64; 3] {
    [detection_p99(r, side).unwrap_or(f64::INFINITY), r.false_positives_per_1000_conn_hours, r.keepalive_packets_per_hour]
}

/// Mark every complete point that no other complete point dominates (at least
/// as good on all three objectives, better on one), detection on `side`.
pub fn mark_pareto(points: &mut [Point], side: Side) {
    let objs: Vec<Option<[f64; 3]>> = points.iter().map(|p| p.dropped.is_none().then(|| objectives(&p.report, side))).collect();
    for i in 0..points.len() {
        let Some(a) = objs[i] else { continue };
        let dominated = objs.iter().flatten().any(|b| b.iter().zip(&a).all(|(x, y)| x <= y) && b.iter().zip(&a).any(|(x, y)| x < y));
        points[i].pareto = !dominated;
    }
}

/// The feasible point with the least objective; ties go to the later point.
pub fn recommend(points: &[Point], minimize: MetricRef) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, p) in points.iter().enumerate() {
        let Some(v) = minimize.value(&p.report).filter(|_| p.feasible) else { continue };
        if best.is_none_or(|(_, b)| v <= b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::halving::surely_breaks;
    use super::*;
    use crate::scenario::{Metric, Op};
    use crate::strategy::KindSpec;
    use crate::summary::SideOutcome;
    use reports::model::SideReport;
    use std::time::Duration;

    fn report(p99: Option<f64>, fp: f64, pkts: f64) -> StrategyReport {
        let mut client = SideReport::default();
        client.latency_s.p99 = p99;
        StrategyReport {
            session: None,
            idle_closes: None,
            name: "s".into(),
            kind: "tcp_keepalive".into(),
            runs: 1,
            connections: 1,
            client,
            server: SideReport::default(),
            false_positives_per_1000_conn_hours: fp,
            nat_expiries: 0,
            keepalive_packets_per_hour: pkts,
            keepalive_bytes_per_hour: 0.0,
            ci95: Default::default(),
            per_seed: None,
            engine: None,
            lateness_ms: None,
        }
    }

    fn point(p99: Option<f64>, fp: f64, pkts: f64, feasible: bool) -> Point {
        Point { values: vec![], report: report(p99, fp, pkts), seeds: 1, dropped: None, feasible, pareto: false }
    }

    #[test]
    fn ranges_and_lists() {
        let a = parse_vary(KindSpec::named("tcp_keepalive").unwrap(), "idle=60s..600s/30s").unwrap();
        assert_eq!(a.values.len(), 19); // (600 - 60) / 30 + 1
        assert_eq!((a.values[0].as_str(), a.values[9].as_str(), a.values[18].as_str()), ("1m", "330s", "10m"));
        let c = parse_vary(KindSpec::named("tcp_keepalive").unwrap(), "count=3,5,9").unwrap();
        assert_eq!(c.values, ["3", "5", "9"]);
        // A step that does not land on TO stops below it.
        assert_eq!(parse_vary(KindSpec::named("tcp_keepalive").unwrap(), "count=1..10/4").unwrap().values, ["1", "5", "9"]);
        assert_eq!(parse_vary(KindSpec::named("phi_accrual").unwrap(), "threshold=0.1..0.3/0.1").unwrap().values, ["0.1", "0.2", "0.3"]);
        assert_eq!(
            parse_vary(KindSpec::named("app_ping").unwrap(), "liveness=pong,ack_progress").unwrap().values,
            ["pong", "ack_progress"]
        );
    }

    #[test]
    fn bad_specs_name_the_parameter_and_what_is_allowed() {
        let msg = |s: &str| parse_vary(KindSpec::named("tcp_keepalive").unwrap(), s).unwrap_err().to_string();
        assert!(msg("idel=60s..90s/30s").contains("allowed: idle, interval, count, user_timeout"), "{}", msg("idel=1s"));
        assert!(msg("idle=600s..60s/30s").contains("FROM <= TO"));
        assert!(msg("idle=60s..600s").contains("needs a step"));
        // The kernel takes whole seconds 1..=32767 for TCP_KEEPIDLE.
        assert!(msg("idle=0.5s,1s").contains("whole seconds from 1s to 32767s"), "{}", msg("idle=0.5s,1s"));
        assert!(msg("count=0,3").contains("allowed: 1..=127"));
        assert!(msg("count=a").contains("must be an integer"));
        assert!(msg("idle").contains("PARAM=FROM..TO/STEP"));
        assert!(msg("idle=1s..1000000s/1s").contains("more than 10000"));
    }

    #[test]
    fn constraints() {
        let c = Constraint::parse("detection_p99<=2m").unwrap();
        assert_eq!((c.metric, c.op, c.bound), (MetricRef { metric: Metric::DetectionP99, side: Some(Side::Client) }, Op::Le, 120.0));
        let c = Constraint::parse("server.detected>=3").unwrap();
        assert_eq!((c.metric.side, c.op, c.bound), (Some(Side::Server), Op::Ge, 3.0));
        let c = Constraint::parse("false_positives_per_1000_conn_hours<=0.1").unwrap();
        assert_eq!((c.metric.metric, c.metric.side), (Metric::FalsePositiveRate, None));
        for bad in ["detection_p99<2m", "latency<=1", "nat_expiries_per_run<=nan", "server.nat_expiries<=0", "detection_p99<=soon"] {
            assert!(matches!(Constraint::parse(bad), Err(TuneError::Require { .. })), "{bad}");
        }
        // No detection does not meet a latency bound.
        assert!(!Constraint::parse("detection_p99<=2m").unwrap().holds(&report(None, 0.0, 0.0)));
        assert!(Constraint::parse("detection_p99<=2m").unwrap().holds(&report(Some(120.0), 0.0, 0.0)));
    }

    #[test]
    fn pareto_on_a_hand_made_set() {
        // (p99, fp, pkts): a and b trade latency for packets; c is worse than a on
        // everything; d equals a (neither dominates the other); e never detects.
        let mut pts = vec![
            point(Some(30.0), 0.0, 10.0, true), // a
            point(Some(90.0), 0.0, 4.0, true),  // b
            point(Some(40.0), 0.5, 12.0, true), // c: dominated by a
            point(Some(30.0), 0.0, 10.0, true), // d = a
            point(None, 0.0, 4.0, true),        // e: dominated by b (no detection is the worst latency)
            point(Some(10.0), 2.0, 20.0, true), // f: fastest, but false positives
        ];
        mark_pareto(&mut pts, Side::Client);
        let marks: Vec<bool> = pts.iter().map(|p| p.pareto).collect();
        assert_eq!(marks, [true, true, false, true, false, true]);
    }

    #[test]
    fn recommendation_is_the_cheapest_feasible_and_ties_go_later() {
        let pkts = MetricRef::parse("keepalive_packets_per_hour").unwrap();
        let pts = vec![point(Some(1.0), 0.0, 5.0, true), point(Some(1.0), 0.0, 3.0, false), point(Some(1.0), 0.0, 5.0, true)];
        assert_eq!(recommend(&pts, pkts), Some(2));
        assert_eq!(recommend(&pts[1..2], pkts), None);
    }

    fn run(sides: [SideOutcome; 2], nat: u64) -> RunSummary {
        let slot = crate::summary::SlotSummary {
            sides: sides.map(Into::into),
            expiries_while_held: nat,
            healthy_ns: 3_600_000_000_000,
            later: None,
        };
        RunSummary {
            seed: 0,
            slots: vec![slot].into(),
            keepalive_packets: 10,
            keepalive_bytes: 0,
            declared: false,
            session: None,
            idle_closes: 0,
            stopped: None,
            orderly_ends: 0,
        }
    }

    #[test]
    fn surely_breaks_only_when_no_remaining_seed_could_save_it() {
        let hour = Duration::from_secs(3600);
        let q = SideOutcome::Quiet;
        let nat = Constraint::parse("nat_expiries_per_run<=0").unwrap();
        assert!(surely_breaks(&nat, hour, &[run([q, q], 1)], 8));
        assert!(!surely_breaks(&nat, hour, &[run([q, q], 0)], 8));
        // 1 expiry over 8 runs is 0.125 per run: not yet over 0.2.
        assert!(!surely_breaks(&Constraint::parse("nat_expiries_per_run<=0.2").unwrap(), hour, &[run([q, q], 1)], 8));
        // p99 of up to 100 samples tolerates 1 sample over the bound (100 - ceil(99)) = 1; two break it.
        let slow = SideOutcome::Detected(Duration::from_secs(200));
        let p99 = Constraint::parse("detection_p99<=2m").unwrap();
        assert!(!surely_breaks(&p99, hour, &[run([slow, q], 0)], 100));
        assert!(surely_breaks(&p99, hour, &[run([slow, q], 0), run([slow, q], 0)], 100));
        // With sessions a run can reconnect and add samples without bound: never decided early.
        let session = |r: RunSummary| RunSummary { session: Some(Box::default()), ..r };
        assert!(!surely_breaks(&p99, hour, &[session(run([slow, q], 0)), session(run([slow, q], 0))], 100));
        // A `>=` bound is never decided early.
        assert!(!surely_breaks(&Constraint::parse("detected>=5").unwrap(), hour, &[run([q, q], 0)], 8));
        // 10 packets in 1 run of 1 h over 8 runs: at least 1.25 per hour in the end.
        assert!(surely_breaks(&Constraint::parse("keepalive_packets_per_hour<=1").unwrap(), hour, &[run([q, q], 0)], 8));
        assert!(!surely_breaks(&Constraint::parse("keepalive_packets_per_hour<=1.3").unwrap(), hour, &[run([q, q], 0)], 8));
    }
}
