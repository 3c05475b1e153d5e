//! `kasim tune`: the grid, its table, JSON (CONTRACT.md v2) and markdown,
//! and with `--out` an HTML page whose plot shows the frontier.

use super::files::{print_out, write_set};
use super::{CliError, Format, TuneArgs};
use crate::runner;
use crate::scenario::Metric;
use crate::strategy::ParamType;
use crate::tune::{self, Plan, Tuned};
use crate::units;
use reports::plot_input::TunePoint;
use reports::render::seconds;
use serde_json::{json, Map, Value};
use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;

pub fn tune(args: &TuneArgs) -> Result<ExitCode, CliError> {
    let s = super::load_one(&args.path)?;
    let Some(strategy) = s.strategies.iter().find(|st| st.name == args.strategy) else {
        let names: Vec<String> = s.strategies.iter().map(|st| format!("\"{}\"", st.name)).collect();
        return Err(CliError::UnknownStrategy { name: args.strategy.clone(), allowed: names.join(", ") });
    };
    let pool = super::worker_pool(args.seeds, args.jobs)?;
    super::check_seed_range(std::slice::from_ref(&s), args.seeds)?;
    super::netns::refuse_programs(&s, &[strategy])?;
    let plan = Plan::new(strategy, &args.vary, &args.require, &args.minimize, runner::seeds(&s, args.seeds), args.halving)?;
    plan.check_sessions(s.sessions())?;
    let total = (plan.grid().len() * plan.seeds.len()) as u64;
    let bar = if std::io::stderr().is_terminal() { indicatif::ProgressBar::new(total) } else { indicatif::ProgressBar::hidden() };
    let tuned = pool.install(|| tune::tune(&s, &plan, &|| bar.inc(1)));
    bar.finish_and_clear();
    let explanation = tune::explain(&s, &plan, &tuned);
    let doc = document(&s.name, &plan, &tuned, &explanation);
    let text = match args.format {
        Format::Json => json_text(&doc),
        Format::Table => table(&s.name, &plan, &tuned, &explanation),
        Format::Markdown => markdown(&s.name, &plan, &tuned, &explanation),
    };
    if let Some(dir) = &args.out {
        let points: Vec<TunePoint> = tuned
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| TunePoint {
                label: label(&plan, &p.values),
                p99_s: tune::detection_p99(&p.report, plan.detection_side()),
                packets_per_hour: p.report.keepalive_packets_per_hour,
                feasible: p.feasible,
                pareto: p.pareto,
                recommended: tuned.recommended == Some(i),
            })
            .collect();
        let title = format!("kasim tune: {} / {}", s.name, plan.strategy.name);
        let table = markdown(&s.name, &plan, &tuned, &explanation);
        let page = reports::html::tune_page(&title, &explanation, &points, &table);
        write_set(dir, &[("tune.json", json_text(&doc)), ("tune.md", table), ("index.html", page)])?;
        eprintln!("wrote {0}/tune.json, {0}/tune.md and {0}/index.html", dir.display());
    }
    print_out(&text)?;
    // No point meets every constraint: the explanation names the closest
    // and what it misses; a script needs to see it failed.
    Ok(if tuned.recommended.is_none() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn json_text(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// A number as JSON: whole values as integers (counts read as counts).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// A parameter value as JSON: durations in seconds, counts as integers.
fn param_value(ty: ParamType, v: &str) -> Value {
    match ty {
        ParamType::Duration | ParamType::KernelSeconds | ParamType::DurationOrOff => {
            units::parse_duration(v).map_or(Value::Null, |d| number(d.as_secs_f64()))
        }
        ParamType::Count { .. } => v.parse::<i64>().map_or(Value::Null, |n| json!(n)),
        ParamType::Number { .. } => v.parse::<f64>().map_or(Value::Null, number),
        ParamType::Bool => json!(v == "true"),
        _ => json!(v),
    }
}

fn params(plan: &Plan, values: &[String]) -> Value {
    Value::Object(plan.axes.iter().zip(values).map(|(a, v)| (a.param.to_string(), param_value(a.ty, v))).collect())
}

/// Every metric of `[[expect]]`: per-side ones for the client under their
/// name and for the server as `server.NAME`.
fn metrics(r: &reports::StrategyReport) -> Value {
    let mut m = Map::new();
    for (name, metric) in Metric::ALL {
        if metric.is_session() && r.session.is_none() {
            continue;
        }
        let value = |side| crate::check::value(r, metric, Some(side)).map_or(Value::Null, number);
        m.insert(name.to_string(), value(sim::Side::Client));
        if metric.per_side() {
            m.insert(format!("server.{name}"), value(sim::Side::Server));
        }
    }
    Value::Object(m)
}

/// The point's 95 % intervals, keyed as [`metrics`] keys its figures.
fn intervals(r: &reports::StrategyReport) -> Value {
    let mut m = Map::new();
    for (name, pair) in &r.ci95 {
        m.insert(name.clone(), json!(pair));
    }
    for (name, pair) in &r.server.ci95 {
        m.insert(format!("server.{name}"), json!(pair));
    }
    Value::Object(m)
}

/// The contract's JSON (plus `seeds`, `dropped`, the plan and the explanation).
pub fn document(scenario: &str, plan: &Plan, tuned: &Tuned, explanation: &str) -> Value {
    let points: Vec<Value> = tuned
        .points
        .iter()
        .map(|p| {
            json!({
                "params": params(plan, &p.values),
                "metrics": metrics(&p.report),
                "ci95": intervals(&p.report),
                "feasible": p.feasible,
                "pareto": p.pareto,
                "seeds": p.seeds,
                "dropped": p.dropped,
            })
        })
        .collect();
    json!({
        "scenario": scenario,
        "strategy": plan.strategy.name,
        "seeds": plan.seeds.len(),
        "require": plan.constraints.iter().map(|c| c.text.clone()).collect::<Vec<_>>(),
        "minimize": plan.minimize.to_string(),
        "halving": plan.halving,
        "runs": tuned.runs,
        "points": points,
        "recommended": tuned.recommended.map(|i| json!({ "params": params(plan, &tuned.points[i].values), "explanation": explanation })),
    })
}

fn label(plan: &Plan, values: &[String]) -> String {
    plan.axes.iter().zip(values).map(|(a, v)| tune::show(a, v)).collect::<Vec<_>>().join(" ")
}

/// Columns: the varied parameters, the frontier's three figures, every
/// constrained or minimised metric not already shown, feasible, pareto.
fn rows(plan: &Plan, tuned: &Tuned) -> (Vec<String>, Vec<Vec<String>>) {
    let mut extra: Vec<tune::MetricRef> = plan.constraints.iter().map(|c| c.metric).collect();
    extra.push(plan.minimize);
    let shown = ["detection_p99", "false_positives_per_1000_conn_hours", "keepalive_packets_per_hour"];
    extra.retain(|m| !shown.contains(&m.to_string().as_str()));
    extra.dedup();
    let mut headers: Vec<String> = plan.axes.iter().map(|a| a.param.to_string()).collect();
    headers.push(format!("{} p99", plan.detection_side()));
    headers.extend(["FP/1000h", "keepalive pkt/h"].map(String::from));
    headers.extend(extra.iter().map(|m| m.to_string()));
    headers.extend(["feasible", "pareto"].map(String::from));
    if plan.halving {
        headers.push("seeds".into());
    }
    let rows = tuned
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = p.values.clone();
            row.push(seconds(tune::detection_p99(&p.report, plan.detection_side())));
            row.push(format!("{}", p.report.false_positives_per_1000_conn_hours));
            row.push(format!("{:.1}", p.report.keepalive_packets_per_hour));
            for m in &extra {
                row.push(m.value(&p.report).map_or("-".into(), |v| format!("{}", reports::model::round_ms(v))));
            }
            let mark = match () {
                _ if tuned.recommended == Some(i) => "yes (recommended)",
                _ if p.feasible => "yes",
                _ if p.dropped.is_some() => "no (dropped)",
                _ => "no",
            };
            row.push(mark.into());
            row.push(if p.pareto { "*".into() } else { String::new() });
            if plan.halving {
                row.push(p.seeds.to_string());
            }
            row
        })
        .collect();
    (headers, rows)
}

fn heading(scenario: &str, plan: &Plan, tuned: &Tuned) -> String {
    let require = if plan.constraints.is_empty() {
        "no constraints".to_string()
    } else {
        format!("requires {}", plan.constraints.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(", "))
    };
    format!(
        "tune {scenario} / {}: {} points, {} seeds each{}, {} runs; {require}; minimises {}",
        plan.strategy.name,
        tuned.points.len(),
        plan.seeds.len(),
        if plan.halving { " at most (successive halving)" } else { "" },
        tuned.runs,
        plan.minimize
    )
}

fn table(scenario: &str, plan: &Plan, tuned: &Tuned, explanation: &str) -> String {
    let (headers, rows) = rows(plan, tuned);
    let widths: Vec<usize> =
        (0..headers.len()).map(|i| rows.iter().map(|r| r[i].len()).chain([headers[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| {
        let mut l = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(l, " {:<w$} ", c, w = widths[i]);
        }
        l.trim_end().to_string()
    };
    let mut out = format!("{}\n{}\n", heading(scenario, plan, tuned), line(&headers));
    for r in &rows {
        out += &line(r);
        out.push('\n');
    }
    let _ = writeln!(out, "recommended: {explanation}");
    out
}

fn markdown(scenario: &str, plan: &Plan, tuned: &Tuned, explanation: &str) -> String {
    let (headers, rows) = rows(plan, tuned);
    let mut out = format!("# kasim tune\n\n{}\n\n**Recommended**: {explanation}\n\n", heading(scenario, plan, tuned));
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(headers.len()));
    for r in &rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}
