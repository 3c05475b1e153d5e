//! `kasim diff`: what changed between a committed baseline and a new run
//! (or between two strategies of one run), figure by figure, each with the
//! 95 % interval of its difference and a verdict a CI can act on.
//!
//! The statistics are in [`compare`] (paired bootstrap over seeds when both
//! documents hold the same seeds' summaries, MOVER otherwise), the policy
//! change under review in [`keys`], the outputs in [`render`]. A change of
//! kasim's own model between the two documents would mix with the change of
//! policy: two builds are refused unless `--allow-model-change`, and then,
//! when this binary is the new build and the baseline carries its scenario
//! text and seeds, the baseline is run again under this build, so the
//! model's effect (baseline → baseline rerun) is reported apart from the
//! policy's (baseline rerun → new).

pub mod compare;
pub mod keys;
pub mod render;

use crate::check;
use crate::confidence::{Interval, REPORT_LEVEL};
use crate::strategy::{KindSpec, TransportKind};
use crate::summary::RunSummary;
use compare::{Arm, DiffVerdict};
use keys::KeyChange;
use reports::model::{Report, ScenarioReport, StrategyReport};
use serde::Serialize;
use sim::Side;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why `diff` cannot compare.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The file is not the JSON of `kasim run`, `check` or `merge`.
    #[error("{}: not a kasim run document ({why}); allowed: the JSON of `kasim run --format json` (with --per-seed for paired comparisons), `check` or `merge`", path.display())]
    NotARun {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A shard's partial result: it holds part of the runs.
    #[error("{}: a shard's partial result, not a whole run; allowed: a whole run (merge the shards first: kasim merge FILE... --format json --per-seed)", path.display())]
    Partial {
        /// The file.
        path: PathBuf,
    },
    /// The documents come from two kasim builds.
    #[error("{} was made by kasim build {base_build}, {} by build {new_build}: a change of kasim's model would mix with the change of policy; allowed: documents of one build, or --allow-model-change to compare anyway (the model's effect is then reported apart)", base.display(), new.display())]
    ModelChanged {
        /// The baseline.
        base: PathBuf,
        /// The new run.
        new: PathBuf,
        /// The baseline's build.
        base_build: String,
        /// The new run's build.
        new_build: String,
    },
    /// `--between` names a strategy no scenario of the run has.
    #[error("{}: no scenario has a strategy named \"{name}\"; allowed: {allowed}", path.display())]
    UnknownStrategy {
        /// The run.
        path: PathBuf,
        /// The name given.
        name: String,
        /// The run's strategy names.
        allowed: String,
    },
    /// Nothing in common: no scenario and strategy appear in both documents.
    #[error("{} and {} have no scenario and strategy in common; allowed: two runs of the same scenarios (names as in their `name` keys)", base.display(), new.display())]
    NothingInCommon {
        /// The baseline.
        base: PathBuf,
        /// The new run.
        new: PathBuf,
    },
}

/// `--tolerance`: how large a difference still counts as `same`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// A share of the baseline's figure (`5%`).
    Relative(f64),
    /// In the metric's own unit (`0.5`).
    Absolute(f64),
}

impl Tolerance {
    /// `5%` (of the baseline's figure) or a plain number (the metric's unit); not negative.
    pub fn parse(s: &str) -> Result<Tolerance, String> {
        let bad = || {
            format!(
                "\"{s}\" is not a tolerance; allowed: a percentage of the baseline's figure (\"5%\") or a number >= 0 in the metric's unit"
            )
        };
        let t = s.trim();
        let (number, relative) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (t, false),
        };
        let v: f64 = number.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        Ok(if relative { Tolerance::Relative(v / 100.0) } else { Tolerance::Absolute(v) })
    }

    fn of(self, base: f64) -> f64 {
        match self {
            Tolerance::Relative(r) => r * base.abs(),
            Tolerance::Absolute(a) => a,
        }
    }
}

/// One document, as read.
pub struct Document {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its report.
    pub report: Report,
}

impl Document {
    /// Parse a run document; a partial result or anything else is refused.
    pub fn parse(path: &Path, text: &str) -> Result<Document, DiffError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DiffError::NotARun { path: path.to_path_buf(), why: format!("not JSON: {e}") })?;
        if value.get("partial").and_then(serde_json::Value::as_bool) == Some(true) {
            return Err(DiffError::Partial { path: path.to_path_buf() });
        }
        if value.get("scenarios").is_none() {
            let why =
                if value.get("points").is_some() { "a `kasim tune` document".to_string() } else { "it has no \"scenarios\"".to_string() };
            return Err(DiffError::NotARun { path: path.to_path_buf(), why });
        }
        let report: Report =
            serde_json::from_value(value).map_err(|e| DiffError::NotARun { path: path.to_path_buf(), why: e.to_string() })?;
        for sc in &report.scenarios {
            for st in &sc.strategies {
                summaries(path, st)?;
            }
        }
        Ok(Document { path: path.to_path_buf(), report })
    }
}

/// A strategy's per-seed summaries, if the document has them.
fn summaries(path: &Path, st: &StrategyReport) -> Result<Option<Vec<RunSummary>>, DiffError> {
    let Some(values) = &st.per_seed else { return Ok(None) };
    values
        .iter()
        .map(|v| serde_json::from_value::<RunSummary>(v.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|e| DiffError::NotARun { path: path.to_path_buf(), why: format!("strategy \"{}\": per_seed: {e}", st.name) })
}

/// How a difference was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Seed by seed: both documents hold the same seeds' summaries.
    Paired,
    /// From each figure's own interval (no per-seed summaries, or other seeds).
    Unpaired,
    /// Every figure and interval of the two is the same, from the same seeds
    /// (kasim is deterministic: the same runs).
    Identical,
}

/// One figure compared (the contract's fields, then `method`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// The scenario's name.
    pub scenario: String,
    /// The strategy (with `--between`: the second, B).
    pub strategy: String,
    /// With `--between`: the first strategy, A (the base).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_strategy: Option<String>,
    /// The metric (`server.` before a server-side one).
    pub metric: String,
    /// The baseline's figure (null: no value, as nothing detected).
    pub base: Option<f64>,
    /// The new figure.
    pub new: Option<f64>,
    /// `new − base` (null when either is).
    pub delta: Option<f64>,
    /// The 95 % interval of the difference (null at an unbounded end).
    pub ci95: [Option<f64>; 2],
    /// `better`, `worse`, `same` or `inconclusive`.
    pub verdict: DiffVerdict,
    /// How the interval was made.
    pub method: Method,
}

/// The two builds, and what the model's change did when it could be told apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Model {
    /// The baseline's build (null: written without --per-seed).
    pub base: Option<String>,
    /// The new run's build.
    pub new: Option<String>,
    /// The two differ.
    pub changed: bool,
    /// With a change of model: the baseline against itself run again by this
    /// build (the model's effect alone); empty when it could not be rerun.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
    /// Why the model's effect could not be told apart, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything `diff` found: the contract's `comparisons` and `regressions`,
/// and what else a reviewer needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DiffReport {
    /// Every figure compared.
    pub comparisons: Vec<Comparison>,
    /// How many are `worse`.
    pub regressions: usize,
    /// How many are `inconclusive`.
    pub inconclusive: usize,
    /// The scenario keys that changed (the policy change under review).
    pub changes: Vec<KeyChange>,
    /// The two builds.
    pub model: Model,
    /// What was not compared: scenarios and strategies in only one of the
    /// documents, figures with a value in only one (a latency where nothing
    /// was detected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<String>,
}

impl DiffReport {
    fn count(&mut self) {
        self.regressions = self.comparisons.iter().filter(|c| c.verdict == DiffVerdict::Worse).count();
        self.inconclusive = self.comparisons.iter().filter(|c| c.verdict == DiffVerdict::Inconclusive).count();
    }
}

/// Compare a baseline with a new run.
pub fn documents(base: &Document, new: &Document, tolerance: Tolerance, allow_model_change: bool) -> Result<DiffReport, DiffError> {
    let mut out = DiffReport::default();
    out.model.base = base.report.kasim_build.clone();
    out.model.new = new.report.kasim_build.clone();
    if let (Some(a), Some(b)) = (&base.report.kasim_build, &new.report.kasim_build) {
        if a != b {
            if !allow_model_change {
                return Err(DiffError::ModelChanged {
                    base: base.path.clone(),
                    new: new.path.clone(),
                    base_build: a.clone(),
                    new_build: b.clone(),
                });
            }
            out.model.changed = true;
        }
    }
    if base.report.kasim_build.is_none() || new.report.kasim_build.is_none() {
        let which = if base.report.kasim_build.is_none() { &base.path } else { &new.path };
        out.model.note = Some(format!(
            "{} has no kasim_build (written without --per-seed): a change of kasim's model between the two cannot be ruled out",
            which.display()
        ));
    }
    let mut matched = false;
    for b in &base.report.scenarios {
        let Some(n) = new.report.scenarios.iter().find(|n| n.name == b.name) else {
            out.not_compared.push(format!("scenario \"{}\" only in {}", b.name, base.path.display()));
            continue;
        };
        if let (Some(x), Some(y)) = (&b.source, &n.source) {
            out.changes.extend(keys::changed(&b.name, x, y).unwrap_or_default());
        }
        let rerun = if out.model.changed { model_rerun(&base.path, b, &mut out.model) } else { None };
        for bs in &b.strategies {
            let Some(ns) = n.strategies.iter().find(|s| s.name == bs.name) else {
                out.not_compared.push(format!("strategy \"{}\" of \"{}\" only in {}", bs.name, b.name, base.path.display()));
                continue;
            };
            matched = true;
            let policy_base = rerun.as_ref().and_then(|r| r.strategies.iter().find(|s| s.name == bs.name)).unwrap_or(bs);
            if let Some(r) = rerun.as_ref().and_then(|r| r.strategies.iter().find(|s| s.name == bs.name)) {
                out.model.comparisons.extend(strategies(b, bs, r, tolerance, None)?.0);
            }
            let (compared, skipped) = strategies(b, policy_base, ns, tolerance, None)?;
            out.comparisons.extend(compared);
            out.not_compared.extend(skipped);
        }
        for ns in &n.strategies {
            if !b.strategies.iter().any(|s| s.name == ns.name) {
                out.not_compared.push(format!("strategy \"{}\" of \"{}\" only in {}", ns.name, n.name, new.path.display()));
            }
        }
    }
    for n in &new.report.scenarios {
        if !base.report.scenarios.iter().any(|b| b.name == n.name) {
            out.not_compared.push(format!("scenario \"{}\" only in {}", n.name, new.path.display()));
        }
    }
    if !matched {
        return Err(DiffError::NothingInCommon { base: base.path.clone(), new: new.path.clone() });
    }
    out.count();
    Ok(out)
}

/// Compare two strategies of one run, scenario by scenario (`--between A B`).
pub fn between(run: &Document, a: &str, b: &str, tolerance: Tolerance) -> Result<DiffReport, DiffError> {
    let all: Vec<&str> = run.report.scenarios.iter().flat_map(|s| s.strategies.iter().map(|st| st.name.as_str())).collect();
    for name in [a, b] {
        if !all.contains(&name) {
            let mut allowed: Vec<String> = all.iter().map(|n| format!("\"{n}\"")).collect();
            allowed.sort();
            allowed.dedup();
            return Err(DiffError::UnknownStrategy { path: run.path.clone(), name: name.to_string(), allowed: allowed.join(", ") });
        }
    }
    let mut out = DiffReport {
        model: Model { base: run.report.kasim_build.clone(), new: run.report.kasim_build.clone(), ..Model::default() },
        ..DiffReport::default()
    };
    for sc in &run.report.scenarios {
        match (sc.strategies.iter().find(|s| s.name == a), sc.strategies.iter().find(|s| s.name == b)) {
            (Some(x), Some(y)) => {
                let (compared, skipped) = strategies(sc, x, y, tolerance, Some(a))?;
                out.comparisons.extend(compared);
                out.not_compared.extend(skipped);
            }
            (None, None) => {}
            _ => out.not_compared.push(format!("scenario \"{}\" has only one of \"{a}\" and \"{b}\"", sc.name)),
        }
    }
    out.count();
    Ok(out)
}

/// Every compared metric of one pair of strategies, and what could not be
/// compared (a figure with a value on one side only).
fn strategies(
    sc: &ScenarioReport,
    base: &StrategyReport,
    new: &StrategyReport,
    tolerance: Tolerance,
    base_name: Option<&str>,
) -> Result<(Vec<Comparison>, Vec<String>), DiffError> {
    let horizon = Duration::from_secs_f64(sc.horizon_s);
    let metrics = compare::compared_metrics();
    let no_path = Path::new("");
    let (ra, rb) = (summaries(no_path, base)?, summaries(no_path, new)?);
    let seeds = |r: &[RunSummary]| r.iter().map(|x| x.seed).collect::<Vec<_>>();
    let method = if same_figures(base, new) {
        Method::Identical
    } else {
        match (&ra, &rb) {
            (Some(x), Some(y)) if !x.is_empty() && seeds(x) == seeds(y) => Method::Paired,
            _ => Method::Unpaired,
        }
    };
    let arms = match (&ra, &rb) {
        (Some(x), Some(y)) => {
            // A kind not in the table (a strategy made in code) ran over TCP.
            let transport = |kind: &str| KindSpec::named(kind).map_or(TransportKind::Tcp, |k| k.transport);
            let base_arm = Arm { name: &base.name, kind: &base.kind, transport: transport(&base.kind), runs: x };
            Some((base_arm, Arm { name: &new.name, kind: &new.kind, transport: transport(&new.kind), runs: y }))
        }
        _ => None,
    };
    let paired = match (method, &arms) {
        (Method::Paired, Some((x, y))) if x.runs.len() >= compare::MIN_PAIRED_SEEDS => {
            compare::paired(x, y, horizon, &metrics, REPORT_LEVEL)
        }
        (Method::Paired, _) => vec![Some(Interval { lo: None, hi: None }); metrics.len()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (k, &(metric, side, good)) in metrics.iter().enumerate() {
        let (bv, mut nv) = (check::value(base, metric, side), check::value(new, metric, side));
        let name = compare::metric_name(metric, side);
        match (bv, nv) {
            (None, None) => continue,
            (None, Some(_)) | (Some(_), None) => {
                let (has, lacks) = if bv.is_some() { ("the baseline", "the new run") } else { ("the new run", "the baseline") };
                skipped.push(format!("{} {} {name}: a value in {has} only ({lacks} has none: nothing to take it from)", sc.name, new.name));
                continue;
            }
            _ => {}
        }
        // Totals from other numbers of seeds are compared per the baseline's seeds.
        let rescale =
            if compare::is_total(metric) && new.runs > 0 && base.runs != new.runs { base.runs as f64 / new.runs as f64 } else { 1.0 };
        nv = nv.map(|v| v * rescale);
        let interval = match (bv, nv) {
            (Some(_), Some(_)) if method == Method::Identical => Some(Interval::point(0.0)),
            (Some(_), Some(_)) if method == Method::Paired => match &arms {
                Some((x, y)) if compare::is_total(metric) && x.runs.len() >= compare::MIN_PAIRED_SEEDS => {
                    Some(compare::discordant(x, y, horizon, metric, side, REPORT_LEVEL))
                }
                _ => paired[k],
            },
            (Some(b), Some(n)) => {
                let ci = |r: &StrategyReport, scale: f64| {
                    let map = if side == Some(Side::Server) { &r.server.ci95 } else { &r.ci95 };
                    map.get(metric.name()).map(|[lo, hi]| Interval { lo: lo.map(|v| v * scale), hi: hi.map(|v| v * scale) })
                };
                match (ci(base, 1.0), ci(new, rescale)) {
                    (Some(x), Some(y)) => Some(compare::mover(b, x, n, y)),
                    _ => None,
                }
            }
            _ => None,
        };
        let interval = interval.unwrap_or(Interval { lo: None, hi: None });
        let verdict = compare::verdict(interval, tolerance.of(bv.unwrap_or_default()), good);
        out.push(Comparison {
            scenario: sc.name.clone(),
            strategy: new.name.clone(),
            base_strategy: base_name.map(str::to_string),
            metric: name,
            base: bv,
            new: nv,
            delta: bv.zip(nv).map(|(b, n)| round6(n - b)),
            ci95: [interval.lo.map(round6), interval.hi.map(round6)],
            verdict,
            method,
        });
    }
    Ok((out, skipped))
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Every figure, interval and run count the same (names and summaries aside).
fn same_figures(a: &StrategyReport, b: &StrategyReport) -> bool {
    let strip = |s: &StrategyReport| {
        let mut s = s.clone();
        s.name.clear();
        s.per_seed = None;
        s
    };
    strip(a) == strip(b) && a.ci95.len() + a.server.ci95.len() > 0
}

/// The baseline's scenario run again by this build, at the baseline's
/// seeds: possible when this binary is the new build and the baseline
/// carries its scenario text and seeds. Says why not in `model.note` otherwise.
fn model_rerun(base_path: &Path, b: &ScenarioReport, model: &mut Model) -> Option<ScenarioReport> {
    let why_not = |model: &mut Model, why: String| {
        model.note.get_or_insert(why);
        None
    };
    if model.new.as_deref() != Some(crate::shard::BUILD) {
        return why_not(model, format!("this kasim is build {}, not the new run's: run `kasim diff` with the build that made the new run to tell the model's effect apart", crate::shard::BUILD));
    }
    let Some(source) = &b.source else {
        return why_not(model, format!("{} has no scenario text (written without --per-seed)", base_path.display()));
    };
    let scenario = match crate::scenario::parse(&PathBuf::from(format!("{}.toml", b.name)), source) {
        Ok(s) => s,
        Err(e) => return why_not(model, format!("the baseline's scenario \"{}\" does not load in this build: {e}", b.name)),
    };
    let mut runs = Vec::new();
    let mut specs = Vec::new();
    for st in &b.strategies {
        let Some(spec) = scenario.strategies.iter().find(|s| s.name == st.name) else { continue };
        let Ok(Some(done)) = summaries(base_path, st) else {
            return why_not(model, format!("{} has no per-seed summaries (written without --per-seed)", base_path.display()));
        };
        let jobs: Vec<(usize, u64)> = done.iter().map(|r| (0, r.seed)).collect();
        runs.push(crate::runner::run_jobs(&scenario, &[spec], &jobs, &|| {}).remove(0));
        specs.push(spec);
    }
    let mut report = crate::runner::scenario_report(&scenario, &specs, &runs, b.seeds);
    for (st, r) in report.strategies.iter_mut().zip(&runs) {
        st.per_seed = Some(r.iter().filter_map(|x| serde_json::to_value(x).ok()).collect());
    }
    Some(report)
}
