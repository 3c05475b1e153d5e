//! `kasim replay` of a fleet or a pool: which connections to tell
//! (`--connection N`, `--client N`), a summary of the whole fleet before any
//! one story, and faults folded per kind. Apart from `replay.rs` because a
//! 500-device fleet needs its own reading aids: its full story is hundreds of
//! thousands of lines, so the summary names the connections worth replaying
//! alone and prints the command that does it.

use super::{CliError, ReplayArgs};
use crate::record::{DerivedFault, RunRecord};
use crate::scenario::Scenario;
use crate::units::format_duration;
use sim::oracle::Verdict;
use sim::trace::TraceFocus;
use sim::world::HostRef;
use std::fmt::Write as _;

/// More faults than this are folded per kind in a replay's header.
const FAULTS_LISTED: usize = 10;
/// More declarations than this are cut short in a fleet's header.
const DECLARATIONS_LISTED: usize = 20;

/// The slots `--connection`/`--client` pick, as a trace focus; `None`
/// without either. Exit 2 past the fleet's end.
pub(super) fn focus(args: &ReplayArgs, s: &Scenario) -> Result<Option<TraceFocus>, CliError> {
    let (clients, per_client) = (s.clients, s.connections);
    let slots = clients * per_client;
    if let Some(n) = args.connection {
        if n >= slots {
            return Err(CliError::BadFlag {
                flag: "connection",
                message: format!("{n} is past the scenario's {slots} connection(s); allowed: 0 to {}", slots - 1),
            });
        }
        return Ok(Some(TraceFocus { slots: n..n + 1, client: n / per_client }));
    }
    if let Some(c) = args.client {
        if c >= clients {
            return Err(CliError::BadFlag {
                flag: "client",
                message: format!("{c} is past the scenario's {clients} client host(s); allowed: 0 to {}", clients - 1),
            });
        }
        return Ok(Some(TraceFocus { slots: c * per_client..(c + 1) * per_client, client: c }));
    }
    Ok(None)
}

/// Does fault `f` concern the focused slots (their client host, or every connection)?
pub(super) fn fault_concerns(f: &DerivedFault, focus: Option<&TraceFocus>) -> bool {
    match (focus, f.host) {
        (Some(focus), Some(HostRef::Client(i))) => i == focus.client,
        _ => true,
    }
}

/// The header's fault lines: each fault, or past [`FAULTS_LISTED`] one line
/// per kind and target (a fleet's clients as `client:*`) with how many and
/// when the first and the last began.
pub(super) fn fault_lines(out: &mut String, faults: &[DerivedFault]) {
    if faults.is_empty() {
        out.push_str("faults: none\n");
        return;
    }
    if faults.len() <= FAULTS_LISTED {
        for f in faults {
            let dur = f.duration.map(|d| format!(" for {}", format_duration(d))).unwrap_or_default();
            let _ = writeln!(out, "fault: {} {} at {}{dur}", f.kind.name(), f.target, sim::Instant::ZERO + f.at);
        }
        return;
    }
    // (kind, target with the client's number hidden) → (count, first, last), in order of first.
    let mut groups: Vec<(&'static str, String, usize, std::time::Duration, std::time::Duration)> = Vec::new();
    for f in faults {
        let target = match f.host {
            Some(HostRef::Client(_)) => f.target.split_once('.').map_or("client:*".to_string(), |(_, rest)| format!("client:*.{rest}")),
            _ => f.target.clone(),
        };
        match groups.iter_mut().find(|g| g.0 == f.kind.name() && g.1 == target) {
            Some(g) => {
                g.2 += 1;
                g.4 = g.4.max(f.at);
            }
            None => groups.push((f.kind.name(), target, 1, f.at, f.at)),
        }
    }
    let _ = writeln!(out, "faults: {} in all, folded per kind (--connection N or --client N lists one client's)", faults.len());
    for (kind, target, n, first, last) in groups {
        let when = if n == 1 {
            format!("at {}", sim::Instant::ZERO + first)
        } else {
            format!("from {} to {}", sim::Instant::ZERO + first, sim::Instant::ZERO + last)
        };
        let _ = writeln!(out, "fault: {kind} {target} x{n}, {when}");
    }
}

/// One connection's first detection: its latency and who made it.
struct Detected {
    slot: usize,
    latency: std::time::Duration,
}

/// A fleet's summary, before any one connection's story: how many of its
/// connections broke, how many were detected and by whom, false positives,
/// and the median, the worst and an undetected connection, each with the
/// command that replays it alone.
pub(super) fn summary(out: &mut String, r: &RunRecord, s: &Scenario, strategy: &str, seed: u64) {
    let slots = &r.outcome.slots;
    let broke: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].connections.iter().any(|c| c.broken.is_some())).collect();
    let mut detected: Vec<Detected> = Vec::new();
    let mut by = [0usize; 2];
    let mut false_positives = 0;
    for d in r.outcome.declarations.iter().filter(|d| !d.echo) {
        match d.verdict {
            Verdict::Detection { latency } if !detected.iter().any(|x| x.slot == d.slot as usize) => {
                detected.push(Detected { slot: d.slot as usize, latency });
                by[d.side.index()] += 1;
            }
            Verdict::FalsePositive { .. } => false_positives += 1,
            _ => {}
        }
    }
    let undetected: Vec<usize> = broke.iter().copied().filter(|i| !detected.iter().any(|d| d.slot == *i)).collect();
    let _ = writeln!(
        out,
        "fleet: {} connections; {} broke, {} detected (by the client {}, by the server {}), {} undetected; {false_positives} false positive{}",
        slots.len(),
        broke.len(),
        detected.len(),
        by[0],
        by[1],
        undetected.len(),
        if false_positives == 1 { "" } else { "s" }
    );
    let command = |slot: usize| format!("{} --connection {slot}", crate::paste::replay(&s.path, strategy, seed));
    detected.sort_by_key(|d| (d.latency, d.slot));
    let line = |out: &mut String, what: &str, d: &Detected| {
        let latency = reports::render::seconds(Some(d.latency.as_secs_f64()));
        let _ = writeln!(out, "  {what} detection: connection {}, {latency} after its break: {}", d.slot, command(d.slot));
    };
    if let Some(median) = detected.get((detected.len().saturating_sub(1)) / 2) {
        line(out, "median", median);
    }
    // The slowest; among equals, the lowest-numbered (the list is sorted so).
    let slowest = detected.last().map(|d| d.latency);
    if let Some(worst) = detected.iter().find(|d| Some(d.latency) == slowest) {
        line(out, "worst", worst);
    }
    if let Some(&first) = undetected.first() {
        let more = if undetected.len() > 1 { format!(" (and {} more)", undetected.len() - 1) } else { String::new() };
        let _ = writeln!(out, "  undetected: connection {first}{more}: {}", command(first));
    }
}

/// How many of a fleet's declarations its header lists when no connection is picked.
pub(super) fn declarations_listed(many: bool, focused: bool, total: usize) -> usize {
    if many && !focused {
        total.min(DECLARATIONS_LISTED)
    } else {
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::DerivedFault;
    use crate::scenario::FaultKind;
    use std::time::Duration;

    fn outage(i: u32, at: u64) -> DerivedFault {
        DerivedFault {
            kind: FaultKind::Outage,
            side: Some(sim::Side::Client),
            host: Some(HostRef::Client(i)),
            target: format!("client:{i}.link"),
            at: Duration::from_secs(at),
            duration: Some(Duration::from_secs(30)),
            middlebox: None,
        }
    }

    #[test]
    fn many_faults_fold_per_kind_and_target_with_their_first_and_last() {
        let mut faults: Vec<DerivedFault> = (0..12).map(|i| outage(i, 60 + u64::from(i))).collect();
        faults.push(DerivedFault { host: Some(HostRef::Server), side: Some(sim::Side::Server), target: "server".into(), ..outage(0, 90) });
        let mut out = String::new();
        fault_lines(&mut out, &faults);
        assert_eq!(
            out,
            "faults: 13 in all, folded per kind (--connection N or --client N lists one client's)\n\
             fault: outage client:*.link x12, from +00:01:00.000 to +00:01:11.000\n\
             fault: outage server x1, at +00:01:30.000\n"
        );
        let mut out = String::new();
        fault_lines(&mut out, &faults[..2]);
        assert_eq!(out, "fault: outage client:0.link at +00:01:00.000 for 30s\nfault: outage client:1.link at +00:01:01.000 for 30s\n");
    }

    #[test]
    fn a_focus_keeps_its_own_clients_faults_and_everyones() {
        let focus = TraceFocus { slots: 6..8, client: 3 };
        assert!(fault_concerns(&outage(3, 1), Some(&focus)));
        assert!(!fault_concerns(&outage(4, 1), Some(&focus)));
        let server = DerivedFault { host: Some(HostRef::Server), ..outage(4, 1) };
        assert!(fault_concerns(&server, Some(&focus)));
        assert!(fault_concerns(&outage(4, 1), None));
    }
}
