//! From runs' summaries to the contract's figures: one strategy's report
//! (latency percentiles, false positives by cause, NAT expiries, overhead,
//! sessions), with each figure's 95 % interval from `confidence`. The runs
//! must come in seed order, so the same runs give the same bytes however
//! they were computed (one process, shards merged, any `--jobs`).

use crate::session::RequestCounts;
use crate::strategy::TransportKind;
use crate::summary::{RunSummary, SideOutcome};
use reports::model::{round_ms, Latency, RequestsReport, SessionReport, SideReport, StrategyReport};
use sim::oracle::Condition;
use sim::Side;
use std::time::Duration;

/// Aggregate runs of a strategy, named `name` of kind `kind` in the report;
/// each run lasted `horizon`. Detections and false positives count
/// connections (a run of 100 connections can detect 100 breaks); rates are
/// per connection-hour. The runs must be in seed order: sums of floats
/// depend on it, and reports must not. With every figure's 95 % interval.
pub fn aggregate(name: &str, kind: &str, transport: TransportKind, horizon: Duration, runs: &[RunSummary]) -> StrategyReport {
    let mut report = figures(name, kind, transport, horizon, runs);
    let (ci95, server_ci95) = crate::confidence::ci95(runs, horizon, transport == TransportKind::Quic);
    report.ci95 = ci95;
    report.server.ci95 = server_ci95;
    report
}

/// [`aggregate`] without the intervals: the figures alone (what a
/// bootstrap resample of `kasim diff` needs, two thousand times over).
pub fn figures(name: &str, kind: &str, transport: TransportKind, horizon: Duration, runs: &[RunSummary]) -> StrategyReport {
    let side_report = |side: Side| {
        let mut r = SideReport::default();
        for c in Condition::ALL {
            r.false_positives_by_cause.insert(c.name().to_string(), 0);
        }
        let mut latencies = Vec::new();
        for outcome in runs.iter().flat_map(|run| run.outcomes(side)) {
            match outcome {
                SideOutcome::Detected(l) => {
                    r.detected += 1;
                    latencies.push(l.as_secs_f64());
                }
                SideOutcome::Undetected => r.undetected += 1,
                SideOutcome::FalsePositive(c) => {
                    r.false_positives += 1;
                    *r.false_positives_by_cause.entry(c.name().to_string()).or_default() += 1;
                }
                SideOutcome::Quiet | SideOutcome::NotApplicable => {}
            }
        }
        r.latency_s = Latency::from_samples(&latencies);
        r
    };
    let client = side_report(Side::Client);
    let server = side_report(Side::Server);
    let slots = runs.iter().flat_map(|r| &r.slots);
    let hours: f64 = slots.clone().map(|s| Duration::from_nanos(s.healthy_ns).as_secs_f64() / 3600.0).sum();
    let total_fp = client.false_positives + server.false_positives;
    // Connection-hours: every connection for the whole run.
    let conn_hours: f64 = slots.clone().map(|_| horizon.as_secs_f64() / 3600.0).sum();
    let (packets, bytes) = runs.iter().fold((0, 0), |a, r| (a.0 + r.keepalive_packets, a.1 + r.keepalive_bytes));
    let per_hour = |x: u64| if conn_hours > 0.0 { round_ms(x as f64 / conn_hours) } else { 0.0 };
    StrategyReport {
        name: name.to_string(),
        kind: kind.to_string(),
        runs: runs.len() as u64,
        connections: runs.first().map_or(1, |r| r.slots.len() as u64),
        client,
        server,
        false_positives_per_1000_conn_hours: if hours > 0.0 { round_ms(total_fp as f64 * 1000.0 / hours) } else { 0.0 },
        nat_expiries: slots.map(|s| s.expiries_while_held).sum(),
        keepalive_packets_per_hour: per_hour(packets),
        keepalive_bytes_per_hour: per_hour(bytes),
        session: session_report(horizon, runs),
        idle_closes: (transport == TransportKind::Quic).then(|| runs.iter().map(|r| u64::from(r.idle_closes)).sum()),
        ci95: Default::default(),
        per_seed: None,
        engine: None,
        lateness_ms: None,
    }
}

/// The session figures of runs that measured them (`None` otherwise).
fn session_report(horizon: Duration, runs: &[RunSummary]) -> Option<SessionReport> {
    if runs.is_empty() || runs.iter().any(|r| r.session.is_none()) {
        return None;
    }
    let sessions = runs.iter().filter_map(|r| r.session.as_ref());
    let mut requests = RequestCounts::default();
    let mut restores = Vec::new();
    let (mut unavailable, mut working, mut reconnects, mut unrestored) = (0u128, 0u128, 0, 0);
    for s in sessions {
        requests.add(&s.requests);
        restores.extend(s.restore_ns.iter().map(|ns| ns as f64 / 1e9));
        unavailable += u128::from(s.unavailable_ns);
        working += u128::from(s.working_ns);
        reconnects += s.reconnects;
        unrestored += s.unrestored;
    }
    let slot_ns: u128 = runs.iter().map(|r| r.slots.len() as u128).sum::<u128>() * horizon.as_nanos();
    let availability = if slot_ns > 0 { 1.0 - unavailable as f64 / slot_ns as f64 } else { 1.0 };
    let working_hours = working as f64 / 3.6e12;
    let sent = requests.sent();
    Some(SessionReport {
        requests: RequestsReport {
            sent,
            ok: requests.ok,
            failed: requests.failed,
            hung: requests.hung,
            latency_s: Latency::from_counts(&requests.latency_ms, requests.latency_sum_us),
        },
        time_to_restore_s: (!restores.is_empty()).then(|| Latency::from_samples(&restores)),
        // Six decimals: enough for the nines a reader expects (99.9999 %).
        availability: (availability * 1e6).round() / 1e6,
        reconnects,
        unrestored,
        failed_requests_per_1000: if sent > 0 { round_ms(requests.failed as f64 * 1000.0 / sent as f64) } else { 0.0 },
        reconnects_per_1000_conn_hours: if working_hours > 0.0 { round_ms(reconnects as f64 * 1000.0 / working_hours) } else { 0.0 },
    })
}
