//! What `kasim tune`'s command line asks for: the axes of the grid
//! (`--vary`, each value checked as the scenario file would check it), the
//! constraints (`--require`) and the objective (`--minimize`), named as
//! `[[expect]]` names its metrics.

use super::{TuneError, MAX_POINTS};
use crate::check;
use crate::scenario::{Metric, Op};
use crate::strategy::{KindSpec, ParamSpec, ParamType};
use crate::units;
use reports::model::StrategyReport;
use sim::Side;
use std::fmt;

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
