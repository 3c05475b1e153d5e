//! `kasim replay`: one seed of one strategy, told as a story.

use super::files::{print_out, write_atomic, write_atomic_with};
use super::{CliError, Engine, ReplayArgs, ReplayFormat};
use crate::catalogue;
use crate::runner;
use crate::scenario::ScenarioError;
use crate::timeline;
use serde::Serialize;
use sim::oracle::Verdict;
use std::process::ExitCode;

#[derive(Serialize)]
struct ReplayFault {
    kind: &'static str,
    target: String,
    at_s: f64,
    duration_s: Option<f64>,
}

#[derive(Serialize)]
struct ReplayDeclaration {
    side: &'static str,
    at_s: f64,
    cause: String,
    false_positive: bool,
    /// Addition: detection latency (null for a false positive).
    latency_s: Option<f64>,
    /// Addition: the transient condition blamed for a false positive.
    condition: Option<&'static str>,
    /// v2 addition: made after the connection was closed on purpose (present only then).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    orderly_end: bool,
    /// Addition: which connection (slot, from 0) it is about; present only in
    /// worlds of more than one connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<u32>,
    /// Addition: which attempt of that connection (from 2; present only
    /// after a reconnect).
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
}

#[derive(Serialize)]
struct ReplayJson {
    scenario: String,
    strategy: String,
    seed: u64,
    faults: Vec<ReplayFault>,
    broken_at_s: Option<f64>,
    broken_cause: Option<String>,
    /// Addition: in a fleet or pool (where `broken_at_s` is connection 0's),
    /// how many of its connections broke in any of their attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    connections_broken: Option<usize>,
    /// Addition: the run was stopped at its connection limit (a reconnect
    /// storm) at this time; present only then.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped_at_s: Option<f64>,
    declarations: Vec<ReplayDeclaration>,
    timeline: Vec<timeline::Line>,
    /// `"netns"` for a run on real hosts (absent for the event engine's).
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<&'static str>,
    /// A real run's packet lateness against the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    lateness_ms: Option<reports::Lateness>,
}

/// Every fault occurrence in the order it happens (the scenario's order among equals).
fn in_time_order(faults: &[crate::record::DerivedFault]) -> Vec<crate::record::DerivedFault> {
    let mut v = faults.to_vec();
    v.sort_by_key(|f| f.at);
    v
}

pub fn replay(args: &ReplayArgs) -> Result<ExitCode, CliError> {
    let s = super::load_one(&args.path)?;
    // A fleet's client can be exported alone (`--client N`, or `--connection N`
    // of one-connection clients); a pool's connections share a host and cannot.
    let picked = args.client.or(args.connection).filter(|_| s.connections == 1);
    if args.export_scenario.is_some() && s.clients * s.connections > 1 && picked.is_none() {
        // Each connection's messages would need a schedule of their own; the
        // exported file's [[traffic]] entries would run on every connection.
        let way_out = if s.connections == 1 {
            "; allowed: add --client N to export that client's world alone"
        } else {
            " (a pool: its connections share one host); export works for one-connection scenarios and a fleet's client (--client N)"
        };
        return Err(CliError::BadFlag {
            flag: "export-scenario",
            message: format!(
                "{} has {} connections ([client] count x connections){way_out}",
                args.path.display(),
                s.clients * s.connections
            ),
        });
    }
    let Some(strategy) = s.strategies.iter().find(|st| st.name == args.strategy) else {
        let names: Vec<String> = s.strategies.iter().map(|st| format!("\"{}\"", st.name)).collect();
        return Err(CliError::UnknownStrategy { name: args.strategy.clone(), allowed: names.join(", ") });
    };
    if let (Some(pcap), Some(export)) = (&args.pcap, &args.export_scenario) {
        if super::files::same_output(pcap, export) {
            return Err(CliError::BadFlag {
                flag: "export-scenario",
                message: format!(
                    "{} is also the --pcap file: one would overwrite the other; allowed: two different paths",
                    export.display()
                ),
            });
        }
    }
    let focus = super::replay_fleet::focus(args, &s)?;
    let (r, real) = match args.engine {
        Engine::Netns if focus.is_some() => {
            return Err(CliError::BadFlag {
                flag: if args.connection.is_some() { "connection" } else { "client" },
                message: "picks connections of the event engine's replay; allowed with --engine event".into(),
            })
        }
        Engine::Netns => {
            let run = super::netns::replay(&s, strategy, args.seed, args.max_wall)?;
            (run.record, Some((run.packets, reports::Lateness::of(run.lateness_ns))))
        }
        Engine::Event => {
            super::netns::refuse_programs(&s, &[strategy])?;
            // Printing up to --until needs no later record, unless the pcap
            // or an exported scenario reads the whole run's trace, or the
            // timeline must see a proxy's first backend (which names it).
            let until = args.until.filter(|_| args.pcap.is_none() && args.export_scenario.is_none() && s.proxy().is_none());
            (runner::run_one_until(&s, strategy, args.seed, focus.clone(), until.map(|d| sim::Instant::ZERO + d)), None)
        }
        Engine::Live => {
            return Err(CliError::BadFlag {
                flag: "engine",
                message: "replay runs the event engine or netns; allowed: event, netns".into(),
            })
        }
    };
    if let Some(path) = &args.pcap {
        let mut count = 0;
        write_atomic_with(path, |f| {
            let out = std::io::BufWriter::new(f);
            count = match &real {
                // The real bytes, on both sides of the NAT.
                Some((packets, _)) => {
                    let packets: Vec<_> = packets.iter().map(|(at, b)| (at.since_start(), b.clone())).collect();
                    reports::pcap::write_raw(out, &packets)?
                }
                None => reports::pcap::write(out, &r.outcome.trace)?,
            };
            Ok(())
        })
        .map_err(|e| match e {
            CliError::Write { source, .. } => CliError::Pcap { path: path.clone(), message: source.to_string() },
            other => other,
        })?;
        eprintln!("wrote {count} packets to {}", path.display());
    }
    if let Some(path) = &args.export_scenario {
        let source = catalogue::source_text(&args.path).map_err(|e| {
            CliError::Scenario(ScenarioError { file: args.path.clone(), position: None, key: String::new(), message: e.to_string() })
        })?;
        let failed = |e: toml::de::Error| {
            CliError::Scenario(ScenarioError { file: args.path.clone(), position: None, key: String::new(), message: e.to_string() })
        };
        let client = picked.filter(|_| s.clients > 1);
        let mut text = crate::export::export(&s, &source, strategy, &r, client).map_err(failed)?;
        if let Some(c) = client {
            // Alone, the client draws its randomness as client 0 and shares
            // no NAT, listen queue or server with the others: run the file,
            // and pin what it does if that is not what the fleet showed.
            let alone = crate::scenario::parse(path, &text).map_err(CliError::Scenario)?;
            let run = runner::run_one(&alone, &alone.strategies[0], args.seed, false);
            let (fleet, solo) = (crate::export::outcomes(&r, c), crate::export::outcomes(&run, 0));
            if !crate::export::same_pins(fleet, solo) {
                let why = format!(
                    "Alone, this client fared otherwise than in the fleet (there: client {}, server {}; alone: client {}, server {}): the expectations pin the alone run.",
                    crate::export::said(fleet[0]),
                    crate::export::said(fleet[1]),
                    crate::export::said(solo[0]),
                    crate::export::said(solo[1])
                );
                eprintln!("note: {why}");
                text = crate::export::repin(&text, strategy, solo, &why).map_err(failed)?;
            }
        }
        write_atomic(path, &text)?;
        eprintln!("wrote {} (check it with: kasim check {})", path.display(), path.display());
    }
    let at = |d: Option<std::time::Duration>| d.map(|d| sim::Instant::ZERO + d);
    // A fleet or pool: its replay says which connection.
    let many = r.outcome.slots.len() > 1;
    let focused = |slot: u32| focus.as_ref().is_none_or(|f| f.slots.contains(&slot));
    // The faults of the focus's client host, and those every connection meets.
    let faults: Vec<crate::record::DerivedFault> =
        in_time_order(&r.faults).into_iter().filter(|f| super::replay_fleet::fault_concerns(f, focus.as_ref())).collect();
    let requests: Vec<_> = r.request_log.iter().filter(|o| focused(o.id.0)).cloned().collect();
    let trace_lines = timeline::lines_of(&r.outcome.trace, args.all, many);
    let lines = timeline::with_requests(trace_lines, &requests);
    let lines = timeline::filter(lines, at(args.since), at(args.until), &args.only);
    let declarations: Vec<&sim::oracle::Declaration> = r.outcome.declarations.iter().filter(|d| focused(d.slot)).collect();
    // One connection of a fleet picked: its own break and expiries.
    let alone = focus.as_ref().filter(|f| f.slots.len() == 1).and_then(|f| r.outcome.slots.get(f.slots.start as usize));
    let first_break = |slot: &sim::world::SlotOutcome| slot.connections.iter().filter_map(|c| c.broken).min_by_key(|b| b.0);
    let broken = match alone {
        Some(slot) => first_break(slot),
        None => r.outcome.broken,
    };
    match args.format {
        ReplayFormat::Text => {
            use std::fmt::Write as _;
            let mut out = String::new();
            let _ = writeln!(
                out,
                "scenario {} ({}), strategy {} ({}), seed {}",
                s.name,
                s.path.display(),
                strategy.name,
                strategy.kind_name(),
                args.seed
            );
            if let Some((at, held)) = r.outcome.stopped {
                let _ = writeln!(
                    out,
                    "STOPPED at {at}: the run held {held} connection records (a reconnect storm); nothing after this was simulated"
                );
            }
            if many {
                super::replay_fleet::summary(&mut out, &r, &s, &strategy.name, args.seed);
                if let Some(f) = &focus {
                    let _ = writeln!(out, "replaying connection(s) {} of client:{} alone", slots_named(&f.slots), f.client);
                }
            }
            super::replay_fleet::fault_lines(&mut out, &faults);
            let _ = match (many, alone) {
                (true, Some(_)) => match broken {
                    Some((at, cause)) => writeln!(out, "this connection broke at {at}: {cause}"),
                    None => writeln!(out, "this connection never broke"),
                },
                (true, None) => broken_connections(&mut out, &r.outcome.slots),
                (false, _) => match r.outcome.broken {
                    Some((at, cause)) => writeln!(out, "broken at {at}: {cause}"),
                    None => writeln!(out, "the connection never broke"),
                },
            };
            // The story in a few lines before the timeline: NAT expiries, every declaration and its verdict.
            let expired: Vec<sim::Instant> = match alone {
                Some(slot) => slot.connections.iter().flat_map(|c| c.nat_expired_at.iter().copied()).collect(),
                None => r.outcome.nat_expired_at.clone(),
            };
            if !expired.is_empty() {
                let at: Vec<String> = expired.iter().take(5).map(|t| t.to_string()).collect();
                let more = expired.len().saturating_sub(5);
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                let _ = writeln!(out, "NAT mappings expired: {} ({}{more})", expired.len(), at.join(", "));
            }
            let listed = super::replay_fleet::declarations_listed(many, focus.is_some(), declarations.len());
            for d in &declarations[..listed] {
                // The oracle's mark, which the timeline and the metrics read too.
                let verdict = match d.verdict {
                    _ if d.echo => "the peer's own decision reaching us, not counted".into(),
                    Verdict::Detection { latency } => {
                        format!("detection, {} after the break", reports::render::seconds(Some(latency.as_secs_f64())))
                    }
                    Verdict::FalsePositive { condition } => format!("FALSE POSITIVE ({})", condition.name()),
                    Verdict::OrderlyEnd => "after an orderly close, not counted".into(),
                };
                let _ = writeln!(out, "declared dead at {} by the {}{}: {} ({verdict})", d.at, d.side, whose(d, many), d.cause);
            }
            if listed < declarations.len() {
                let _ = writeln!(out, "(and {} more declarations: --connection N shows one connection's)", declarations.len() - listed);
            }
            if let Some(c) = r.requests.as_ref().filter(|c| c.issued > 0) {
                let _ = writeln!(
                    out,
                    "requests: {} sent: {} ok, {} failed, {} hung ({} still young at the horizon, not counted)",
                    c.sent(),
                    c.ok,
                    c.failed,
                    c.hung,
                    c.uncounted
                );
            }
            if r.requests.is_some() {
                session_summary(&mut out, &r, s.horizon, &|slot| focused(slot as u32));
            }
            if let Some((_, late)) = &real {
                let _ = match late {
                    Some(l) => writeln!(
                        out,
                        "real hosts (--engine netns): {} packets written into their hosts, late by p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms against the model",
                        l.packets, l.p50, l.p99, l.max
                    ),
                    None => writeln!(out, "real hosts (--engine netns): no packet written into a host"),
                };
            }
            let engine = if real.is_some() { " --engine netns" } else { "" };
            let picked = match (args.connection, args.client) {
                (Some(n), _) => format!(" --connection {n}"),
                (None, Some(c)) => format!(" --client {c}"),
                (None, None) => String::new(),
            };
            let _ = writeln!(out, "reproduce with: {}{picked}{engine}", crate::paste::replay(&s.path, &strategy.name, args.seed));
            out.push('\n');
            out.push_str(&timeline::render(&lines));
            print_out(&out)?;
        }
        ReplayFormat::Json => {
            let doc = ReplayJson {
                scenario: s.name.clone(),
                strategy: strategy.name.clone(),
                seed: args.seed,
                faults: faults
                    .iter()
                    .map(|f| ReplayFault {
                        kind: f.kind.name(),
                        target: f.target.clone(),
                        at_s: f.at.as_secs_f64(),
                        duration_s: f.duration.map(|d| d.as_secs_f64()),
                    })
                    .collect(),
                // With --connection, that connection's break.
                broken_at_s: broken.map(|b| b.0.as_secs_f64()),
                broken_cause: broken.map(|b| b.1.to_string()),
                connections_broken: many.then(|| broken_slots(&r.outcome.slots).len()),
                stopped_at_s: r.outcome.stopped.map(|(at, _)| at.as_secs_f64()),
                declarations: declarations
                    .iter()
                    .map(|d| ReplayDeclaration {
                        side: d.side.name(),
                        at_s: d.at.as_secs_f64(),
                        cause: d.cause.clone(),
                        false_positive: matches!(d.verdict, Verdict::FalsePositive { .. }),
                        latency_s: match d.verdict {
                            Verdict::Detection { latency } => Some(latency.as_secs_f64()),
                            _ => None,
                        },
                        condition: match d.verdict {
                            Verdict::FalsePositive { condition } => Some(condition.name()),
                            _ => None,
                        },
                        orderly_end: d.verdict == Verdict::OrderlyEnd,
                        connection: Some(d.slot).filter(|_| many),
                        attempt: Some(d.conn + 1).filter(|&a| a > 1),
                    })
                    .collect(),
                timeline: lines,
                engine: real.as_ref().map(|_| "netns"),
                lateness_ms: real.and_then(|(_, l)| l),
            };
            print_out(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "7" or "6 to 7": the slots a focus picks.
fn slots_named(slots: &std::ops::Range<u32>) -> String {
    if slots.len() == 1 {
        slots.start.to_string()
    } else {
        format!("{} to {}", slots.start, slots.end - 1)
    }
}

/// Which connection a declaration is about, where the world has a choice:
/// `" of connection 17"` in a fleet or pool, `" (attempt 2)"` after a
/// reconnect; nothing for a one-connection world's first connection.
fn whose(d: &sim::oracle::Declaration, many: bool) -> String {
    let connection = if many { format!(" of connection {}", d.slot) } else { String::new() };
    let attempt = if d.conn > 0 { format!(" (attempt {})", d.conn + 1) } else { String::new() };
    connection + &attempt
}

/// Each connection (slot) that broke in any of its attempts, with its first break.
fn broken_slots(slots: &[sim::world::SlotOutcome]) -> Vec<(usize, (sim::Instant, sim::oracle::BreakCause))> {
    slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.connections.iter().filter_map(|c| c.broken).min_by_key(|b| b.0).map(|b| (i, b)))
        .collect()
}

/// A fleet's or pool's breaks: how many of its connections broke (in any of
/// their attempts), and the first break.
fn broken_connections(out: &mut String, slots: &[sim::world::SlotOutcome]) -> std::fmt::Result {
    use std::fmt::Write as _;
    let broken = broken_slots(slots);
    match broken.iter().min_by_key(|(i, (at, _))| (*at, *i)) {
        Some((i, (at, cause))) => {
            writeln!(out, "connections broken: {} of {}; the first, connection {i}, at {at}: {cause}", broken.len(), slots.len())
        }
        None => writeln!(out, "none of the {} connections broke", slots.len()),
    }
}

/// Per connection slot that `shown` keeps (the first five): its attempts and unavailable periods.
fn session_summary(out: &mut String, r: &crate::record::RunRecord, horizon: std::time::Duration, shown: &dyn Fn(usize) -> bool) {
    use std::fmt::Write as _;
    let end = sim::Instant::ZERO + horizon;
    let picked: Vec<(usize, &sim::world::SlotOutcome)> = r.outcome.slots.iter().enumerate().filter(|(i, _)| shown(*i)).collect();
    for &(i, slot) in picked.iter().take(5) {
        let established = slot.connections.iter().filter(|c| c.established_at.is_some()).count();
        let periods: Vec<String> = crate::summary::unavailable_periods(&slot.connections, end)
            .iter()
            .map(|p| match p.end {
                Some(e) => format!("{} to {} ({})", p.start, e, reports::render::seconds(Some((e - p.start).as_secs_f64()))),
                None => format!("{} to the horizon (unrestored)", p.start),
            })
            .collect();
        let periods = if periods.is_empty() { "never unavailable".to_string() } else { format!("unavailable {}", periods.join(", ")) };
        let _ = writeln!(out, "connection {i}: {} attempts, {established} established; {periods}", slot.attempts());
    }
    if picked.len() > 5 {
        let _ = writeln!(out, "(and {} more connections)", picked.len() - 5);
    }
}

#[cfg(test)]
mod tests {
    use sim::oracle::{Declaration, Verdict};

    #[test]
    fn a_declaration_names_its_connection_and_attempt_only_where_there_is_a_choice() {
        let d = |slot, conn| Declaration {
            side: sim::Side::Client,
            at: sim::Instant::ZERO,
            cause: "x".into(),
            verdict: Verdict::OrderlyEnd,
            slot,
            conn,
            echo: false,
        };
        assert_eq!(super::whose(&d(0, 0), false), "");
        assert_eq!(super::whose(&d(0, 1), false), " (attempt 2)");
        assert_eq!(super::whose(&d(17, 0), true), " of connection 17");
        assert_eq!(super::whose(&d(17, 2), true), " of connection 17 (attempt 3)");
    }
}
