//! `kasim calibrate PATH...`: one scenario on both engines, seed by seed,
//! figure by figure.
//!
//! The event engine and real stacks see the same faults at the same
//! instants and the same network model, so for each seed they should reach
//! the same verdicts at nearly the same times. What is compared, per seed:
//! each connection's first verdict per side (its class, and for a detection
//! its latency, for an orderly end its time, within 2 % or 50 ms, whichever
//! is larger, as `calibrate` holds the kernel cases), the false positives, the NAT expiries, and in a
//! scenario with sessions the failed requests.

use crate::record::RunRecord;
use serde::Serialize;
use sim::oracle::Verdict;
use sim::world::Outcome;
use sim::Side;
use std::collections::BTreeMap;

/// One figure of one seed on both engines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The scenario's name.
    pub scenario: String,
    /// The strategy's name.
    pub strategy: String,
    /// The seed.
    pub seed: u64,
    /// What is compared (`client:0 verdict`, `false positives`, …).
    pub figure: String,
    /// The event engine's value, as text.
    pub event: String,
    /// The real stacks' value, as text.
    pub netns: String,
    /// Within the bound (or equal, for counts and classes).
    pub ok: bool,
}

/// The tolerance of a time: 2 % of the model's, or 50 ms, whichever is larger.
pub fn within(real: f64, model: f64) -> bool {
    (real - model).abs() <= (0.02 * model.abs()).max(0.050)
}

/// Each (slot, side)'s first verdict that is not an echo: its class and,
/// for a detection, its latency in seconds (for an orderly end, when it
/// came, from the start of the run).
fn first_verdicts(o: &Outcome) -> BTreeMap<(u32, Side), (String, Option<f64>)> {
    let mut m = BTreeMap::new();
    for d in o.declarations.iter().filter(|d| !d.echo) {
        m.entry((d.slot, d.side)).or_insert_with(|| match d.verdict {
            Verdict::Detection { latency } => ("detection".to_string(), Some(latency.as_secs_f64())),
            Verdict::FalsePositive { condition } => (format!("false positive ({})", condition.name()), None),
            // When a connection was closed on purpose (an idle timeout) is a time to hold too.
            Verdict::OrderlyEnd => ("orderly end".to_string(), Some(d.at.since_start().as_secs_f64())),
        });
    }
    m
}

fn false_positives(o: &Outcome) -> usize {
    o.declarations.iter().filter(|d| !d.echo && matches!(d.verdict, Verdict::FalsePositive { .. })).count()
}

/// Compare one seed's runs; `head` = (scenario, strategy, seed).
pub fn compare(head: (&str, &str, u64), event: &RunRecord, netns: &RunRecord) -> Vec<Row> {
    let mut rows = compare_outcomes(head, &event.outcome, &netns.outcome);
    if let (Some(e), Some(n)) = (&event.requests, &netns.requests) {
        rows.push(Row {
            scenario: head.0.to_string(),
            strategy: head.1.to_string(),
            seed: head.2,
            figure: "failed requests".into(),
            event: format!("{} of {}", e.failed, e.sent()),
            netns: format!("{} of {}", n.failed, n.sent()),
            ok: e.failed == n.failed,
        });
    }
    rows
}

/// [`compare`] on the outcomes alone.
pub fn compare_outcomes(head: (&str, &str, u64), event: &Outcome, netns: &Outcome) -> Vec<Row> {
    let row = |figure: String, e: String, n: String, ok: bool| Row {
        scenario: head.0.to_string(),
        strategy: head.1.to_string(),
        seed: head.2,
        figure,
        event: e,
        netns: n,
        ok,
    };
    let mut rows = Vec::new();
    let (ev, nv) = (first_verdicts(event), first_verdicts(netns));
    let mut keys: Vec<(u32, Side)> = ev.keys().chain(nv.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&(String, Option<f64>)>| match v {
        None => "none".to_string(),
        Some((class, Some(t))) if class == "orderly end" => format!("{class} at {t:.3} s"),
        Some((class, Some(l))) => format!("{class} after {l:.3} s"),
        Some((class, None)) => class.clone(),
    };
    for (slot, side) in keys {
        let (e, n) = (ev.get(&(slot, side)), nv.get(&(slot, side)));
        let ok = match (e, n) {
            (Some((ce, le)), Some((cn, ln))) => ce == cn && le.zip(*ln).is_none_or(|(a, b)| within(b, a)),
            _ => false,
        };
        rows.push(row(format!("{side}:{slot} first verdict"), show(e), show(n), ok));
    }
    let (fe, fnn) = (false_positives(event), false_positives(netns));
    rows.push(row("false positives".into(), fe.to_string(), fnn.to_string(), fe == fnn));
    rows.push(row(
        "nat expiries".into(),
        event.mappings_expired.to_string(),
        netns.mappings_expired.to_string(),
        event.mappings_expired == netns.mappings_expired,
    ));
    rows
}

/// The rows as a table, one line each, with a verdict column.
pub fn table(rows: &[Row]) -> String {
    let mut cells: Vec<[String; 7]> = vec![["scenario", "strategy", "seed", "figure", "event", "netns", "verdict"].map(String::from)];
    for r in rows {
        let verdict = if r.ok { "ok" } else { "DIFFERS" };
        cells.push([&r.scenario, &r.strategy, &r.seed.to_string(), &r.figure, &r.event, &r.netns, verdict].map(|c| c.to_string()));
    }
    let widths: Vec<usize> = (0..7).map(|i| cells.iter().map(|c| c[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for c in &cells {
        let line: Vec<String> = c.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let bad = rows.iter().filter(|r| !r.ok).count();
    out.push_str(&format!("{} figures, {} within 2 % or 50 ms (counts and classes equal), {bad} differ\n", rows.len(), rows.len() - bad));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::oracle::{Condition, Declaration};
    use sim::Instant;
    use std::time::Duration;

    fn outcome(declarations: Vec<Declaration>, mappings_expired: u64) -> Outcome {
        Outcome {
            ended_at: Instant::from_secs(10),
            broken: None,
            declarations,
            slots: Vec::new(),
            stats: Default::default(),
            mappings_expired,
            nat_expired_at: Vec::new(),
            messages_received: [0; 2],
            events_processed: 0,
            trace: Vec::new(),
            stopped: None,
        }
    }

    fn detection(side: Side, ms: u64) -> Declaration {
        Declaration {
            side,
            at: Instant::from_millis(ms),
            cause: "ETIMEDOUT".into(),
            verdict: Verdict::Detection { latency: Duration::from_millis(ms) },
            slot: 0,
            conn: 0,
            echo: false,
        }
    }

    #[test]
    fn latencies_within_50_ms_agree_and_classes_must_match() {
        // 4.088 s in the model, 4.130 s real: 42 ms apart, within the 50 ms floor.
        let rows = compare_outcomes(
            ("s", "k", 0),
            &outcome(vec![detection(Side::Client, 4088)], 0),
            &outcome(vec![detection(Side::Client, 4130)], 0),
        );
        assert!(rows.iter().all(|r| r.ok), "{rows:?}");
        // 100 s vs 102.5 s: 2.5 s apart, over the 2 % (2 s) bound.
        let rows = compare_outcomes(
            ("s", "k", 0),
            &outcome(vec![detection(Side::Client, 100_000)], 0),
            &outcome(vec![detection(Side::Client, 102_500)], 0),
        );
        assert!(!rows[0].ok);
        // A detection against a false positive differs whatever the times.
        let fp = Declaration { verdict: Verdict::FalsePositive { condition: Condition::Outage }, ..detection(Side::Client, 4088) };
        let rows = compare_outcomes(("s", "k", 0), &outcome(vec![detection(Side::Client, 4088)], 1), &outcome(vec![fp], 0));
        assert_eq!(rows.iter().filter(|r| !r.ok).count(), 3, "{rows:?}");
        assert_eq!(rows[0].netns, "false positive (outage)");
    }
}
