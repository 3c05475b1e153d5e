//! `kasim diff`'s outputs: a terminal table, markdown for a pull request or
//! a job summary, the contract's JSON, and JUnit. Tables list what is not
//! `same` (and say how many figures are); the JSON lists every comparison.

use super::compare::DiffVerdict;
use super::{Comparison, DiffReport};
use reports::render::{aligned, markdown_table, md_text};
use std::fmt::Write;

const HEADERS: [&str; 8] = ["scenario", "strategy", "metric", "base", "new", "delta", "95 % interval", "verdict"];

fn number(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v}"))
}

fn row(c: &Comparison) -> Vec<String> {
    let strategy = match &c.base_strategy {
        Some(a) => format!("{a} -> {}", c.strategy),
        None => c.strategy.clone(),
    };
    let end = |v: Option<f64>| v.map_or("…".to_string(), |v| format!("{v}"));
    let verdict =
        if c.verdict == DiffVerdict::Same { "same".to_string() } else { format!("{} ({:?})", c.verdict.name(), c.method).to_lowercase() };
    vec![
        c.scenario.clone(),
        strategy,
        c.metric.clone(),
        number(c.base),
        number(c.new),
        number(c.delta),
        format!("[{}, {}]", end(c.ci95[0]), end(c.ci95[1])),
        verdict,
    ]
}

/// What was not compared, for a reader: whole scenarios and strategies by
/// name; figures with a value on one side only, as one line per strategy.
fn not_compared(r: &DiffReport) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut figures: Vec<(String, Vec<String>)> = Vec::new();
    for u in &r.not_compared {
        match u.split_once(": a value in") {
            Some((head, _)) => {
                let (who, metric) = head.rsplit_once(' ').unwrap_or((head, ""));
                match figures.iter_mut().find(|(w, _)| w == who) {
                    Some((_, m)) => m.push(metric.to_string()),
                    None => figures.push((who.to_string(), vec![metric.to_string()])),
                }
            }
            None => lines.push(u.clone()),
        }
    }
    lines.extend(figures.into_iter().map(|(who, m)| format!("{who}: {} (a value on one side only)", m.join(", "))));
    lines
}

fn shown(r: &DiffReport) -> Vec<Vec<String>> {
    r.comparisons.iter().filter(|c| c.verdict != DiffVerdict::Same).map(row).collect()
}

fn summary(r: &DiffReport) -> String {
    let same = r.comparisons.iter().filter(|c| c.verdict == DiffVerdict::Same).count();
    let better = r.comparisons.iter().filter(|c| c.verdict == DiffVerdict::Better).count();
    format!(
        "{} figures compared: {} worse, {} better, {} inconclusive, {} the same",
        r.comparisons.len(),
        r.regressions,
        better,
        r.inconclusive,
        same
    )
}

fn model_line(r: &DiffReport) -> Option<String> {
    if !r.model.changed {
        return r.model.note.as_ref().map(|n| format!("note: {n}"));
    }
    let mut line =
        format!("kasim's model changed (build {} -> {}): ", r.model.base.as_deref().unwrap_or("?"), r.model.new.as_deref().unwrap_or("?"));
    match &r.model.note {
        Some(why) => line.push_str(&format!("its effect could not be told apart ({why}); each difference mixes it with the policy's")),
        None => line.push_str(
            "the baseline was run again by the new build; the figures above are the policy's change alone, the model's own is below",
        ),
    }
    Some(line)
}

/// The terminal table.
pub fn table(r: &DiffReport) -> String {
    let mut out = String::new();
    for c in &r.changes {
        let _ = writeln!(
            out,
            "changed in {}: {}: {} -> {}",
            c.scenario,
            c.key,
            c.base.as_deref().unwrap_or("(absent)"),
            c.new.as_deref().unwrap_or("(absent)")
        );
    }
    if !r.changes.is_empty() {
        out.push('\n');
    }
    let rows = shown(r);
    if !rows.is_empty() {
        aligned(&mut out, &HEADERS, &rows);
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(r));
    if let Some(line) = model_line(r) {
        let _ = writeln!(out, "{line}");
        let model: Vec<Vec<String>> = r.model.comparisons.iter().filter(|c| c.verdict != DiffVerdict::Same).map(row).collect();
        if !model.is_empty() {
            aligned(&mut out, &HEADERS, &model);
        }
    }
    for u in not_compared(r) {
        let _ = writeln!(out, "not compared: {u}");
    }
    out
}

/// Markdown for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
pub fn markdown(r: &DiffReport) -> String {
    let mut out = String::from("# kasim diff\n\n");
    let verdict = if r.regressions > 0 { format!("**{} regression(s)**", r.regressions) } else { "**no regression**".to_string() };
    let _ = writeln!(out, "{verdict}: {}.\n", summary(r));
    if !r.changes.is_empty() {
        out.push_str("Changed in the scenarios:\n\n");
        for c in &r.changes {
            let _ = writeln!(
                out,
                "- {}: `{}`: `{}` → `{}`",
                md_text(&c.scenario),
                c.key,
                c.base.as_deref().unwrap_or("(absent)"),
                c.new.as_deref().unwrap_or("(absent)")
            );
        }
        out.push('\n');
    }
    let rows = shown(r);
    if !rows.is_empty() {
        markdown_table(&mut out, &HEADERS, &rows);
        out.push('\n');
    }
    if let Some(line) = model_line(r) {
        let _ = writeln!(out, "{line}.\n");
        let model: Vec<Vec<String>> = r.model.comparisons.iter().filter(|c| c.verdict != DiffVerdict::Same).map(row).collect();
        if !model.is_empty() {
            markdown_table(&mut out, &HEADERS, &model);
            out.push('\n');
        }
    }
    for u in not_compared(r) {
        let _ = writeln!(out, "- not compared: {}", md_text(&u));
    }
    out.push_str("_[lo, hi]: the 95 % interval of new − base (paired seed by seed where both runs hold the same seeds); `same` lies within the tolerance, `worse`/`better` wholly beyond it._\n");
    out
}

/// The contract's JSON, pretty-printed.
pub fn json(r: &DiffReport) -> String {
    let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// JUnit XML: a suite per scenario, a case per comparison; `worse` fails
/// (and `inconclusive` with `fail_on_any`).
pub fn junit(r: &DiffReport, fail_on_any: bool) -> String {
    let fails = |c: &Comparison| c.verdict == DiffVerdict::Worse || (fail_on_any && c.verdict == DiffVerdict::Inconclusive);
    let mut suites: Vec<(&str, Vec<&Comparison>)> = Vec::new();
    for c in &r.comparisons {
        match suites.iter_mut().find(|(n, _)| *n == c.scenario) {
            Some((_, v)) => v.push(c),
            None => suites.push((&c.scenario, vec![c])),
        }
    }
    let total = r.comparisons.iter().filter(|c| fails(c)).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kasim diff\" tests=\"{}\" failures=\"{total}\">\n",
        r.comparisons.len()
    );
    for (scenario, cases) in suites {
        let f = cases.iter().filter(|c| fails(c)).count();
        let _ = writeln!(out, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\">", xml(scenario), cases.len());
        for c in cases {
            let cells = row(c);
            let name = format!("{} {}", cells[1], c.metric);
            let _ = write!(out, "    <testcase classname=\"{}\" name=\"{}\"", xml(scenario), xml(&name));
            if fails(c) {
                let message =
                    format!("{}: {} -> {} (delta {}, 95 % interval {})", c.verdict.name(), cells[3], cells[4], cells[5], cells[6]);
                let _ = writeln!(out, ">\n      <failure message=\"{}\" type=\"{}\"/>\n    </testcase>", xml(&message), c.verdict.name());
            } else {
                out.push_str("/>\n");
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
