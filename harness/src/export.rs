//! `kasim replay … --export-scenario FILE`: one seed of one strategy as a
//! scenario with every random value made fixed, so a failure found by
//! `kasim check` can be committed as a deterministic regression test.
//!
//! Starting from the original file's TOML (so links, NAT and TCP settings
//! stay exactly as written), the export:
//! * sets `seeds = 1` and `base_seed` = the seed (link loss, ISNs and NAT
//!   ports keep drawing from the same streams);
//! * replaces every fault by its drawn instant and duration;
//! * replaces every traffic entry with a random schedule by one `at` entry per
//!   message that seed wrote (in the host's own clock, which a suspension
//!   stops), to the nanosecond;
//! * keeps only the replayed strategy, and replaces the expectations by ones
//!   that pin the seed's outcome (the detection latency, or the false positive,
//!   or the miss), so the file fails if the behaviour ever changes.

use crate::driver::Class;
use crate::record::RunRecord;
use crate::scenario::{FaultKind, Scenario, Schedule};
use crate::strategy::StrategySpec;
use crate::summary::SideOutcome;
use crate::units::RandomTime;
use reports::model::round_ms;
use sim::trace::TraceEvent;
use sim::{Instant, Side};
use std::time::Duration;
use toml::{Table, Value};

/// Exact to the nanosecond, and readable: "8m28.447144042s", "26h",
/// "1h0m0.5s" (hours, minutes, then seconds with only the decimals needed),
/// which the scenario parser reads back to the same nanosecond.
fn exact(d: Duration) -> Value {
    Value::String(readable(d))
}

fn readable(d: Duration) -> String {
    use std::fmt::Write;
    let (total, nanos) = (d.as_secs(), d.subsec_nanos());
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 || (h > 0 && (s > 0 || nanos > 0)) {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || nanos > 0 || out.is_empty() {
        let _ = write!(out, "{s}");
        if nanos > 0 {
            let _ = write!(out, ".{}", format!("{nanos:09}").trim_end_matches('0'));
        }
        out.push('s');
    }
    out
}

/// How far `side`'s clock is behind the world's at `at` (completed
/// suspensions; of a fleet, client `client`'s own).
fn clock_offset(run: &RunRecord, side: Side, client: Option<u32>, at: Instant) -> Duration {
    run.faults
        .iter()
        .filter(|f| f.kind == FaultKind::Suspend && f.side == Some(side))
        .filter(|f| match (client, f.host) {
            (Some(c), Some(sim::world::HostRef::Client(i))) => i == c,
            _ => true,
        })
        .filter_map(|f| f.duration.filter(|d| Instant::ZERO + f.at + *d <= at))
        .sum()
}

fn is_random(t: &RandomTime) -> bool {
    !matches!(t, RandomTime::Fixed(_))
}

/// How each side fared on connection `slot` of `run` (`[client, server]`):
/// what an exported file's expectations pin.
pub fn outcomes(run: &RunRecord, slot: u32) -> [SideOutcome; 2] {
    let declarations: Vec<&sim::oracle::Declaration> = run.outcome.declarations.iter().filter(|d| d.slot == slot).collect();
    let broken = match run.outcome.slots.get(slot as usize) {
        Some(s) if run.outcome.slots.len() > 1 => s.connections.iter().filter_map(|c| c.broken).min_by_key(|b| b.0),
        _ => run.outcome.broken,
    };
    Side::BOTH.map(|side| crate::summary::slot_side_outcome(&declarations, broken, side))
}

/// The exported scenario as TOML text. `run` must have been traced. With
/// `client`, `run` is a fleet of one-connection clients and the file is that
/// client's world alone: its own faults (as `client`), the server's, its
/// connection's messages, and its connection's outcome pinned.
pub fn export(
    scenario: &Scenario,
    source: &str,
    strategy: &StrategySpec,
    run: &RunRecord,
    client: Option<u32>,
) -> Result<String, toml::de::Error> {
    let mut doc: Table = toml::from_str(source)?;
    let slot = client.unwrap_or(0);
    let name = match client {
        Some(c) => format!("{}-seed{}-{}-client{c}", scenario.name, run.seed, strategy.name),
        None => format!("{}-seed{}-{}", scenario.name, run.seed, strategy.name),
    };
    doc.insert("name".into(), Value::String(name));
    doc.insert(
        "description".into(),
        Value::String(format!(
            "Seed {} of scenario \"{}\" ({}) with strategy \"{}\", every random value fixed by \
             `kasim replay --export-scenario`. Its expectations pin that run's outcome.\n\n{}",
            run.seed,
            scenario.name,
            scenario.path.display(),
            strategy.name,
            scenario.description
        )),
    );
    doc.insert("seeds".into(), Value::Integer(1));
    doc.insert("base_seed".into(), Value::Integer(run.seed as i64));

    if client.is_some() {
        if let Some(Value::Table(c)) = doc.get_mut("client") {
            c.remove("count");
        }
    }
    // A fleet's client alone: its own faults (named as a one-client file names
    // them) and those every connection meets; the other clients' are gone.
    let own = |f: &&crate::record::DerivedFault| match (client, f.host) {
        (Some(c), Some(sim::world::HostRef::Client(i))) => i == c,
        _ => true,
    };
    let faults: Vec<Value> = run
        .faults
        .iter()
        .filter(own)
        .map(|f| {
            let mut t = Table::new();
            let target = match client {
                Some(c) => f.target.replace(&format!("client:{c}"), "client"),
                None => f.target.clone(),
            };
            t.insert("kind".into(), Value::String(f.kind.name().into()));
            t.insert("target".into(), Value::String(target));
            t.insert("at".into(), exact(f.at));
            if let Some(d) = f.duration {
                t.insert("duration".into(), exact(d));
            }
            Value::Table(t)
        })
        .collect();
    doc.insert("fault".into(), Value::Array(faults));

    let raw_traffic: Vec<Value> = doc.get("traffic").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut traffic = Vec::new();
    for (i, (t, raw)) in scenario.traffic.iter().zip(raw_traffic).enumerate() {
        let random = match t.schedule {
            Schedule::Every(g) | Schedule::At(g) => is_random(&g),
        };
        if !random {
            traffic.push(raw);
            continue;
        }
        for r in &run.outcome.trace {
            let TraceEvent::AppWrite { side, tag, .. } = r.event else { continue };
            if client.is_some() && r.conn.is_some_and(|c| c.slot != slot) {
                continue;
            }
            let workload = matches!(Class::of(tag), Some(Class::Request | Class::Upload | Class::Download));
            if !workload || side != t.from || crate::driver::traffic_index(tag) != i {
                continue;
            }
            let mut entry = raw.as_table().cloned().unwrap_or_default();
            entry.remove("every");
            entry.remove("count");
            let local = r.at.since_start() - clock_offset(run, side, client, r.at);
            entry.insert("at".into(), exact(local));
            traffic.push(Value::Table(entry));
        }
    }
    doc.insert("traffic".into(), Value::Array(traffic));

    let raw_strategy = doc
        .get("strategy")
        .and_then(Value::as_array)
        .and_then(|all| all.iter().find(|s| s.get("name").and_then(Value::as_str) == Some(strategy.name.as_str())).cloned());
    doc.insert("strategy".into(), Value::Array(raw_strategy.into_iter().collect()));

    pin(&mut doc, strategy, outcomes(run, slot));
    let body = toml::to_string(&doc).unwrap_or_default();
    let picked = client.map_or(String::new(), |c| format!(" --client {c}"));
    Ok(format!(
        "# Exported by `kasim replay {} --strategy {} --seed {}{picked} --export-scenario`.\n# Commit it as a regression test; `kasim check` holds the outcome below.\n\n{body}",
        scenario.path.display(),
        strategy.name,
        run.seed
    ))
}

/// An outcome in words, for the note an export prints.
pub fn said(o: SideOutcome) -> String {
    match o {
        SideOutcome::Detected(l) => format!("detected after {:.3} s", l.as_secs_f64()),
        SideOutcome::Undetected => "never detected".into(),
        SideOutcome::FalsePositive(c) => format!("a false positive ({})", c.name()),
        SideOutcome::Quiet => "nothing to detect".into(),
        SideOutcome::NotApplicable => "not its to detect".into(),
    }
}

/// `text` (an export) with its expectations pinning `outcomes` instead, and
/// a comment line saying why.
pub fn repin(text: &str, strategy: &StrategySpec, outcomes: [SideOutcome; 2], why: &str) -> Result<String, toml::de::Error> {
    let mut doc: Table = toml::from_str(text)?;
    pin(&mut doc, strategy, outcomes);
    let header: String = text.lines().take_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    Ok(format!("{header}# {why}\n\n{}", toml::to_string(&doc).unwrap_or_default()))
}

/// The expectation that pins `outcome`: its metric and value (none for
/// "not its to detect").
fn pinned(outcome: SideOutcome) -> Option<(&'static str, Value)> {
    Some(match outcome {
        SideOutcome::Detected(l) => ("detection_max", Value::Float(round_ms(l.as_secs_f64()))),
        SideOutcome::Undetected => ("undetected", Value::Integer(1)),
        SideOutcome::FalsePositive(_) => ("false_positives", Value::Integer(1)),
        SideOutcome::Quiet => ("false_positives", Value::Integer(0)),
        SideOutcome::NotApplicable => return None,
    })
}

/// Would the two outcomes be pinned by the same expectations?
pub fn same_pins(a: [SideOutcome; 2], b: [SideOutcome; 2]) -> bool {
    a.into_iter().zip(b).all(|(a, b)| pinned(a) == pinned(b))
}

/// Replace `doc`'s expectations by ones that hold exactly `outcomes` (`[client, server]`).
fn pin(doc: &mut Table, strategy: &StrategySpec, outcomes: [SideOutcome; 2]) {
    let mut expects = Vec::new();
    for (side, outcome) in Side::BOTH.into_iter().zip(outcomes) {
        let Some((metric, value)) = pinned(outcome) else { continue };
        let mut e = Table::new();
        e.insert("strategy".into(), Value::String(strategy.name.clone()));
        e.insert("side".into(), Value::String(side.name().into()));
        e.insert("metric".into(), Value::String(metric.into()));
        e.insert("eq".into(), value);
        expects.push(Value::Table(e));
    }
    doc.insert("expect".into(), Value::Array(expects));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them_and_parse_back_exactly() {
        let cases = [
            (Duration::new(508, 447_144_042), "8m28.447144042s"),
            (Duration::from_secs(26 * 3600), "26h"),
            (Duration::new(3600, 500_000_000), "1h0m0.5s"),
            (Duration::from_nanos(1), "0.000000001s"),
            (Duration::ZERO, "0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::new(59, 999_999_999), "59.999999999s"),
        ];
        for (d, text) in cases {
            assert_eq!(readable(d), text);
            assert_eq!(crate::units::parse_duration(text), Ok(d), "{text} parses back");
        }
    }
}
