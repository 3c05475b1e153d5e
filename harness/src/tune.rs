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

use crate::check;
use crate::metrics;
use crate::runner;
use crate::scenario::{Metric, Op, Scenario};
use crate::strategy::{KindSpec, ParamSpec, ParamType, StrategyKind, StrategySpec};
use crate::summary::{RunSummary, SideOutcome};
use crate::units;
use rayon::prelude::*;
use reports::model::StrategyReport;
use sim::Side;
use std::fmt;
use std::time::Duration;

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

/// One varied parameter and its values in grid order.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The parameter's key in the strategy's table (`idle`, `interval`, …).
    pub param: &'static str,
    /// Its type, as the kind declares it (values are checked against it).
    pub ty: ParamType,
    /// Canonical values as a scenario would write them ("330s", "3", "true").
    pub values: Vec<String>,
}

/// A metric on one side (`server.` prefix) or the strategy as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricRef {
    /// The metric, named as in `[[expect]]`.
    pub metric: Metric,
    /// For a per-side metric, the side (the client unless `server.` was written);
    /// `None` for a per-strategy one.
    pub side: Option<Side>,
}

impl fmt::Display for MetricRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.side {
            Some(Side::Server) => write!(f, "server.{}", self.metric.name()),
            _ => f.write_str(self.metric.name()),
        }
    }
}

impl MetricRef {
    /// Read `METRIC`, `client.METRIC` or `server.METRIC`; the side prefix is allowed
    /// only on a per-side metric. The error names every metric allowed.
    pub fn parse(s: &str) -> Result<MetricRef, String> {
        let (side, name) = match s.split_once('.') {
            Some(("client", n)) => (Some(Side::Client), n),
            Some(("server", n)) => (Some(Side::Server), n),
            _ => (None, s),
        };
        let Some(&(_, metric)) = Metric::ALL.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = Metric::ALL.iter().map(|(n, _)| *n).collect();
            return Err(format!("unknown metric \"{name}\"; allowed: {} (\"server.\" before a per-side one)", names.join(", ")));
        };
        if side.is_some() && !metric.per_side() {
            return Err(format!("{name} is not per side; drop the \"{}.\"", s.split('.').next().unwrap_or("")));
        }
        Ok(MetricRef { metric, side: if metric.per_side() { side.or(Some(Side::Client)) } else { None } })
    }

    /// The metric's value in a strategy's report, as `[[expect]]` reads it (seconds
    /// for latencies); `None` when it has none (nothing detected, no session figures).
    pub fn value(&self, r: &StrategyReport) -> Option<f64> {
        check::value(r, self.metric, self.side)
    }
}

/// `METRIC<=X` or `METRIC>=X`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// What is bounded.
    pub metric: MetricRef,
    /// [`Op::Le`] or [`Op::Ge`] (`--require` has no `==`).
    pub op: Op,
    /// The bound: a plain number, or a duration converted to seconds.
    pub bound: f64,
    /// As the user wrote it.
    pub text: String,
}

impl Constraint {
    /// Read one `--require` value: `METRIC<=X` or `METRIC>=X`, X a finite number or
    /// a duration ("2m", compared in seconds).
    pub fn parse(spec: &str) -> Result<Constraint, TuneError> {
        let err = |message: String| TuneError::Require { spec: spec.to_string(), message };
        let (name, op, value) = if let Some((n, v)) = spec.split_once("<=") {
            (n, Op::Le, v)
        } else if let Some((n, v)) = spec.split_once(">=") {
            (n, Op::Ge, v)
        } else {
            return Err(err("allowed: METRIC<=X or METRIC>=X, X a number or a duration (\"2m\")".into()));
        };
        let metric = MetricRef::parse(name.trim()).map_err(err)?;
        let v = value.trim();
        let bound = match v.parse::<f64>() {
            Ok(x) if x.is_finite() => x,
            Ok(_) => return Err(err(format!("{v} is not a finite number"))),
            Err(_) => units::parse_duration(v).map(|d| d.as_secs_f64()).map_err(|e| err(format!("bound: {e}, or a number")))?,
        };
        Ok(Constraint { metric, op, bound, text: spec.trim().to_string() })
    }

    /// How far a point with this report is from meeting it, relative to the
    /// bound's size (0 when it holds; infinite when the metric has no value).
    pub fn shortfall(&self, r: &StrategyReport) -> f64 {
        match self.metric.value(r) {
            None => f64::INFINITY,
            Some(v) => {
                let over = match self.op {
                    Op::Le => v - self.bound,
                    _ => self.bound - v,
                };
                (over.max(0.0)) / self.bound.abs().max(1.0)
            }
        }
    }

    /// Does a point with this report meet it? No value (nothing detected) does not.
    pub fn holds(&self, r: &StrategyReport) -> bool {
        self.metric.value(r).is_some_and(|v| match self.op {
            Op::Le => v <= self.bound + 1e-9,
            _ => v + 1e-9 >= self.bound,
        })
    }
}

/// Parse `PARAM=FROM..TO/STEP` or `PARAM=A,B,C` for a parameter of `kind`.
pub fn parse_vary(kind_spec: &KindSpec, spec: &str) -> Result<Axis, TuneError> {
    let err = |message: String| TuneError::Vary { spec: spec.to_string(), message };
    let kind = kind_spec.kind;
    let (name, values) = spec.split_once('=').ok_or_else(|| err("allowed: PARAM=FROM..TO/STEP or PARAM=A,B,C".into()))?;
    let name = name.trim();
    let Some(p) = kind_spec.params.iter().find(|p| p.name == name) else {
        let allowed: Vec<&str> = kind_spec.params.iter().map(|p| p.name).collect();
        let allowed = if allowed.is_empty() { "none (this kind takes no parameters)".to_string() } else { allowed.join(", ") };
        return Err(err(format!("{kind} has no parameter `{name}`; allowed: {allowed}")));
    };
    let raw: Vec<String> = match values.split_once("..") {
        Some((from, rest)) => {
            let (to, step) = rest.split_once('/').ok_or_else(|| err("a range needs a step: FROM..TO/STEP".into()))?;
            range(p, from.trim(), to.trim(), step.trim()).map_err(err)?
        }
        None => values.split(',').map(|v| v.trim().to_string()).collect(),
    };
    if raw.is_empty() || raw.iter().any(String::is_empty) {
        return Err(err("no values".into()));
    }
    if raw.len() > MAX_POINTS {
        return Err(err(format!("{} values; allowed: at most {MAX_POINTS}", raw.len())));
    }
    let mut canonical = Vec::new();
    for v in &raw {
        let value = toml_value(p.ty, v).map_err(|m| err(format!("{name} = {v}: {m}")))?;
        canonical.push(crate::scenario::check_param(p, &value).map_err(|m| err(format!("{name} = {v}: {m}")))?);
    }
    Ok(Axis { param: p.name, ty: p.ty, values: canonical })
}

/// A value as the scenario file would hold it, for the parameter's checks.
fn toml_value(ty: ParamType, v: &str) -> Result<toml::Value, String> {
    Ok(match ty {
        ParamType::Count { .. } => toml::Value::Integer(v.parse().map_err(|_| "must be an integer".to_string())?),
        ParamType::Number { .. } => toml::Value::Float(v.parse().map_err(|_| "must be a number".to_string())?),
        ParamType::Bool => toml::Value::Boolean(v.parse().map_err(|_| "allowed: true, false".to_string())?),
        _ => toml::Value::String(v.to_string()),
    })
}

/// FROM..TO/STEP, inclusive of TO when a step lands on it.
fn range(p: &ParamSpec, from: &str, to: &str, step: &str) -> Result<Vec<String>, String> {
    let too_many = || format!("more than {MAX_POINTS} values");
    match p.ty {
        ParamType::Duration | ParamType::KernelSeconds | ParamType::DurationOrOff => {
            let d = |s: &str| units::parse_duration(s).map_err(|e| e.to_string());
            let (a, b, s) = (d(from)?, d(to)?, d(step)?);
            if s.is_zero() || a > b {
                return Err("allowed: FROM <= TO and a STEP above zero".into());
            }
            let n = ((b - a).as_nanos() / s.as_nanos()) as usize + 1;
            if n > MAX_POINTS {
                return Err(too_many());
            }
            Ok((0..n).map(|i| units::format_duration(a + s * i as u32)).collect())
        }
        ParamType::Count { .. } => {
            let i = |s: &str| s.parse::<i64>().map_err(|_| format!("{s} is not an integer"));
            let (a, b, s) = (i(from)?, i(to)?, i(step)?);
            if s <= 0 || a > b {
                return Err("allowed: FROM <= TO and a STEP above zero".into());
            }
            let n = ((b - a) / s) as usize + 1;
            if n > MAX_POINTS {
                return Err(too_many());
            }
            Ok((0..n as i64).map(|k| (a + k * s).to_string()).collect())
        }
        ParamType::Number { .. } => {
            let f = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| format!("{s} is not a number"));
            let (a, b, s) = (f(from)?, f(to)?, f(step)?);
            if s <= 0.0 || a > b {
                return Err("allowed: FROM <= TO and a STEP above zero".into());
            }
            let n = ((b - a) / s + 1e-9).floor() as usize + 1;
            if n > MAX_POINTS {
                return Err(too_many());
            }
            // Round away the float steps' noise (0.1 * 3 = 0.30000000000000004).
            Ok((0..n).map(|k| format!("{}", ((a + k as f64 * s) * 1e9).round() / 1e9)).collect())
        }
        _ => Err("a range needs a duration or number parameter; list the values instead: A,B,C".into()),
    }
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
            let axis = parse_vary(strategy.kind.spec(), v)?;
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

/// Drop the points that can no longer be recommended (module docs).
fn prune(scenario: &Scenario, plan: &Plan, specs: &[StrategySpec], runs: &[Vec<RunSummary>], dropped: &mut [Option<String>]) {
    let n = plan.seeds.len();
    let mut looks_feasible: Vec<(usize, f64)> = Vec::new();
    for i in 0..specs.len() {
        if dropped[i].is_some() {
            continue;
        }
        if let Some(c) = plan.constraints.iter().find(|c| surely_breaks(c, scenario.horizon, &runs[i], n)) {
            dropped[i] = Some(format!("breaks {} already at {} seeds", c.text, runs[i].len()));
            continue;
        }
        let report = metrics::aggregate(&specs[i].name, specs[i].kind_name(), specs[i].transport().kind(), scenario.horizon, &runs[i]);
        if plan.constraints.iter().all(|c| c.holds(&report)) {
            if let Some(v) = plan.minimize.value(&report) {
                looks_feasible.push((i, v));
            }
        }
    }
    looks_feasible.sort_by(|a, b| a.1.total_cmp(&b.1));
    let Some(&(_, reserve)) = looks_feasible.get(RESERVE - 1) else { return };
    let limit = reserve + reserve.abs() * MARGIN;
    for &(i, v) in &looks_feasible[RESERVE..] {
        if v > limit {
            dropped[i] = Some(format!(
                "{} {v} is over 10 % worse than {RESERVE} points that look feasible at {} seeds",
                plan.minimize,
                runs[i].len()
            ));
        }
    }
}

/// Is `c` broken whatever the remaining `n - runs.len()` seeds show?
fn surely_breaks(c: &Constraint, horizon: Duration, runs: &[RunSummary], n: usize) -> bool {
    if c.op != Op::Le {
        return false;
    }
    let side = c.metric.side.unwrap_or(Side::Client);
    let count = |f: &dyn Fn(SideOutcome) -> bool| runs.iter().flat_map(|r| r.outcomes(side)).filter(|o| f(*o)).count() as f64;
    let per_run = runs.first().map_or(1, |r| r.slots.len()) as f64;
    let (n, rest) = (n as f64, (n - runs.len()) as f64);
    let b = c.bound + 1e-9;
    let conn_hours = horizon.as_secs_f64() / 3600.0 * per_run;
    let over = |l: Duration| l.as_secs_f64() > b;
    let detections_over = count(&|o| matches!(o, SideOutcome::Detected(l) if over(l)));
    // Nearest-rank p-th percentile of m samples is sample ceil(p m / 100): it stays
    // <= b only while at most m - ceil(p m / 100) samples exceed b, and m is at
    // most one per connection of the n runs — unless connections reconnect
    // (sessions): then every new connection may add a sample, m has no bound,
    // and a percentile is never decided early.
    let samples = (n * per_run) as u64;
    let bounded = runs.iter().all(|r| r.session.is_none());
    let percentile = |p: u64| bounded && detections_over > (samples - (p * samples).div_ceil(100)) as f64;
    let nat: f64 = runs.iter().map(|r| r.expiries_while_held() as f64).sum();
    let fps = |o: SideOutcome| matches!(o, SideOutcome::FalsePositive(_));
    match c.metric.metric {
        Metric::NatExpiries => nat > b,
        Metric::NatExpiriesPerRun => nat / n > b,
        Metric::FalsePositives => count(&fps) > b,
        Metric::FalsePositivesPerRun => count(&fps) / n > b,
        Metric::Detected => count(&|o| matches!(o, SideOutcome::Detected(_))) > b,
        Metric::Undetected => count(&|o| o == SideOutcome::Undetected) > b,
        Metric::FalsePositiveRate => {
            let fp: f64 = runs.iter().flat_map(|r| &r.slots).map(|s| s.sides.iter().filter(|o| fps(o.get())).count() as f64).sum();
            let hours: f64 = runs.iter().map(RunSummary::healthy_hours).sum::<f64>() + rest * conn_hours;
            hours > 0.0 && fp * 1000.0 / hours > b
        }
        Metric::KeepalivePacketsPerHour => runs.iter().map(|r| r.keepalive_packets).sum::<u64>() as f64 / (n * conn_hours) > b,
        Metric::KeepaliveBytesPerHour => runs.iter().map(|r| r.keepalive_bytes).sum::<u64>() as f64 / (n * conn_hours) > b,
        Metric::DetectionMax => detections_over > 0.0,
        Metric::DetectionP50 => percentile(50),
        Metric::DetectionP90 => percentile(90),
        Metric::DetectionP99 => percentile(99),
        Metric::DetectionMean => false,
        // Counts only grow with more seeds; the session rates and percentiles can still move either way.
        Metric::RequestsFailed => runs.iter().filter_map(|r| r.session.as_ref()).map(|s| s.requests.failed as f64).sum::<f64>() > b,
        Metric::RequestsHung => runs.iter().filter_map(|r| r.session.as_ref()).map(|s| s.requests.hung as f64).sum::<f64>() > b,
        Metric::IdleCloses => runs.iter().map(|r| u64::from(r.idle_closes)).sum::<u64>() as f64 > b,
        _ => false,
    }
}

/// A value of `axis` for people: durations as written, the rest as is.
pub fn show(axis: &Axis, value: &str) -> String {
    format!("{}={value}", axis.param)
}

/// The one-line reason for the recommendation.
pub fn explain(scenario: &Scenario, plan: &Plan, tuned: &Tuned) -> String {
    let Some(r) = tuned.recommended else {
        let complete = tuned.points.iter().filter(|p| p.dropped.is_none()).count();
        let mut line = format!("no point meets every constraint ({complete} of {} points ran every seed)", tuned.points.len());
        // The closest point: fewest constraints broken, then the least relative shortfall
        // (the first in grid order among equals), and by how much it misses each.
        let broken = |q: &Point| plan.constraints.iter().filter(|c| !c.holds(&q.report)).collect::<Vec<_>>();
        let score = |q: &Point| (broken(q).len(), plan.constraints.iter().map(|c| c.shortfall(&q.report)).sum::<f64>());
        let closest = tuned
            .points
            .iter()
            .filter(|q| q.dropped.is_none())
            .min_by(|a, b| score(a).0.cmp(&score(b).0).then(score(a).1.total_cmp(&score(b).1)));
        if let Some(q) = closest {
            let name = plan.axes.iter().zip(&q.values).map(|(a, v)| show(a, v)).collect::<Vec<_>>().join(" ");
            let misses: Vec<String> = broken(q)
                .iter()
                .map(|c| format!("{} (observed {})", c.text, c.metric.value(&q.report).map_or("no value".to_string(), |v| v.to_string())))
                .collect();
            line += &format!("; the closest, {name}, breaks {}", misses.join(" and "));
        }
        return line;
    };
    let p = &tuned.points[r];
    let name = |p: &Point| plan.axes.iter().zip(&p.values).map(|(a, v)| show(a, v)).collect::<Vec<_>>().join(" ");
    let objective = plan.minimize.value(&p.report).unwrap_or(f64::NAN);
    let feasible = tuned.points.iter().filter(|p| p.feasible).count();
    let mut line =
        format!("{}: the least {} ({objective}) of the {feasible} feasible points of {}", name(p), plan.minimize, tuned.points.len());
    // A keepalive idle against a NAT: the kernel fires it late, by up to its wheel level's
    // granularity. Said of each point it names, right after the point (issue 29: the
    // recommendation's 330 s figures read as if they were the cheaper 6m point's).
    let idle = plan.axes.iter().position(|a| a.param == "idle" && matches!(plan.strategy.kind, StrategyKind::TcpKeepalive { .. }));
    // The box of the path that forgets soonest is the one the keepalive must beat.
    let soonest = scenario.nats().min_by_key(|(_, n)| n.idle_timeout);
    let wheel = |q: &Point| match (idle, soonest) {
        (Some(i), Some((k, nat))) => {
            let whose = if scenario.chained { format!("{}'s", scenario.box_name(k)) } else { "the NAT's".to_string() };
            let idle = units::parse_duration(&q.values[i]).unwrap_or_default();
            let late = scenario.tcp.timers.granularity(idle);
            format!(
                "its probes fire up to {:.1} s late on the kernel's timer wheel ({:.1} s {} {whose} {:.1} s)",
                late.as_secs_f64(),
                (idle + late).as_secs_f64(),
                if idle + late < nat.idle_timeout { "<" } else { ">=" },
                nat.idle_timeout.as_secs_f64()
            )
        }
        _ => String::new(),
    };
    let own = wheel(p);
    if !own.is_empty() {
        line += &format!("; {own}");
    }
    // The cheaper point nearest in objective (the first in grid order among equals), and what it breaks.
    let mut cheaper: Option<(&Point, f64)> = None;
    for q in tuned.points.iter().filter(|q| !q.feasible) {
        if let Some(v) = plan.minimize.value(&q.report).filter(|v| *v < objective) {
            if cheaper.is_none_or(|(_, best)| v > best) {
                cheaper = Some((q, v));
            }
        }
    }
    let cheaper = cheaper.map(|(q, _)| q);
    if let Some(q) = cheaper {
        if let Some(c) = plan.constraints.iter().find(|c| !c.holds(&q.report)) {
            let observed = c.metric.value(&q.report).map_or("no value".to_string(), |v| v.to_string());
            line += &format!("; {} would be cheaper but breaks {} (observed {observed})", name(q), c.text);
            let theirs = wheel(q);
            if !theirs.is_empty() {
                line += &format!(": {theirs}");
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use reports::model::SideReport;

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
