//! `kasim doctor`: read each scenario's timeout chain (the strategy's
//! quiet periods, the NAT's and the proxy's idle timers, the client pool's
//! and the server application's) and say which link breaks first, with a
//! seed that shows it.
//!
//! Why every finding carries a replay: a rule of thumb about timeouts is
//! easy to state and easy to get wrong (a keepalive that looks too slow may
//! be rescued by traffic; a NAT may refresh on inbound packets). The doctor
//! states the rule and the numbers, then runs the scenario's seeds: an
//! ordering the seeds show breaking is an `error`, with the first seed that
//! does as a `kasim replay` command; one they do not show is a `warning`.

mod protocols;
mod proxy;

use crate::runner;
use crate::scenario::Scenario;
use crate::strategy::{StrategyKind, StrategySpec};
use crate::summary::RunSummary;
use crate::units::format_duration;
use serde::Serialize;
use std::time::Duration;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The ordering is wrong and a seed shows it failing.
    Error,
    /// The ordering is wrong, but none of the seeds run showed it.
    Warning,
}

/// One finding (the contract's fields).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The scenario's name.
    pub scenario: String,
    /// The strategy the finding is about (or whose runs show it).
    pub strategy: String,
    /// Which rule: `nat-forgets-idle-connection`, `box-forgets-before-proxy`,
    /// `proxy-closes-idle-connection`, `mqtt-box-inside-grace`,
    /// `grpc-ping-too-often`, `herd-without-jitter`,
    /// `server-closes-before-proxy`, `pool-outlives-server-idle`,
    /// `pool-outlives-proxy-idle`.
    pub rule: &'static str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The rule, the numbers, and what the seeds showed.
    pub message: String,
    /// A command that replays a seed showing it (null when no seed did).
    pub replay: Option<String>,
}

/// Strategies whose connection is a UDP flow through the NAT.
fn over_udp(st: &StrategySpec) -> bool {
    st.transport() != crate::strategy::Transport::Tcp
}

fn seconds(d: Duration) -> String {
    format_duration(d)
}

/// The first run of `runs` that shows `shows`, and how many do.
fn evidence(runs: &[RunSummary], shows: impl Fn(&RunSummary) -> bool) -> (Option<u64>, usize) {
    let hits: Vec<u64> = runs.iter().filter(|r| shows(r)).map(|r| r.seed).collect();
    (hits.first().copied(), hits.len())
}

/// The first strategy (in file order) with a run that `shows` it, and that
/// run's seed; else the first strategy and no seed.
fn first_showing<'a>(
    strategies: &[&'a StrategySpec],
    runs: &[Vec<RunSummary>],
    shows: impl Fn(&RunSummary) -> bool,
) -> (&'a str, Option<u64>) {
    let found = strategies.iter().zip(runs).find_map(|(st, r)| evidence(r, &shows).0.map(|seed| (st.name.as_str(), seed)));
    found.map_or((strategies.first().map_or("", |st| st.name.as_str()), None), |(st, seed)| (st, Some(seed)))
}

/// Every finding of one scenario, its strategies run over `seeds` seeds.
pub fn examine(s: &Scenario, seeds: Option<u64>) -> Vec<Finding> {
    // A real program has no model to run; its twin (if the file has one) speaks for it.
    let strategies: Vec<&StrategySpec> =
        s.strategies.iter().filter(|st| !matches!(st.kind(), StrategyKind::LivePing { .. } | StrategyKind::Program { .. })).collect();
    let runs = runner::run_scenario(s, &strategies, seeds, &|| {});
    let n = runs.first().map_or(0, Vec::len);
    let mut out = Vec::new();
    let mut finding = |strategy: &str, rule: &'static str, message: String, seed: Option<u64>| {
        out.push(Finding {
            scenario: s.name.clone(),
            strategy: strategy.to_string(),
            rule,
            severity: if seed.is_some() { Severity::Error } else { Severity::Warning },
            message,
            replay: seed.map(|seed| crate::paste::replay(&s.path, strategy, seed)),
        });
    };
    let failed = |r: &RunSummary| r.session.as_ref().is_some_and(|x| x.requests.failed > 0);
    // The path's NATs, each judged on its own; the seeds' lost mappings are
    // counted over the whole path, so without a period too slow for any box
    // they are laid at the door of the box that forgets soonest.
    // A box behind the proxy never sees the client's keepalive (the proxy
    // answers it): `box-forgets-before-proxy` judges those.
    let proxy_at = s.proxy_position().unwrap_or(usize::MAX);
    let nats: Vec<(usize, &sim::nat::NatConfig)> = s.nats().filter(|&(k, _)| k < proxy_at).collect();
    let soonest = nats.iter().map(|(_, n)| n.idle_timeout).min();
    let the = |k: usize| if s.chained { s.box_name(k) } else { "the NAT".to_string() };
    for &(k, nat) in &nats {
        for (st, runs) in strategies.iter().zip(&runs) {
            let quiet = st.kind().quiet_period();
            // A one-way keepalive never lets a UDP flow reach its stream timer.
            let (timeout, flow) = if over_udp(st) {
                (
                    nat.udp_idle_timeout,
                    format!(
                        "a UDP flow idle for {} ({} once both directions were seen)",
                        seconds(nat.udp_idle_timeout),
                        seconds(nat.udp_stream_timeout)
                    ),
                )
            } else {
                (nat.idle_timeout, format!("a TCP flow idle for {}", seconds(nat.idle_timeout)))
            };
            // A kernel keepalive fires late by up to its stack's timer granularity
            // (a Linux wheel level's; none for the OSes whose timers are exact).
            let os = if st.sides.contains(&sim::Side::Client) { s.client_os } else { s.server_os };
            let timers = os.map_or(s.tcp.timers, |o| o.tcp_config(&s.tcp).timers);
            let late = match quiet {
                Some((q, "idle")) if matches!(st.kind(), StrategyKind::TcpKeepalive { .. }) => timers.granularity(q),
                _ => Duration::ZERO,
            };
            let too_slow = quiet.is_some_and(|(q, _)| q + late >= timeout);
            let (seed, count) = evidence(runs, |r| r.expiries_while_held() > 0);
            // Nothing to say: the period is short enough and no seed lost a mapping (or
            // another box forgets sooner), or the strategy sends nothing and its traffic
            // (or its own idle close) kept the flow.
            if !too_slow && (seed.is_none() || Some(nat.idle_timeout) != soonest) {
                continue;
            }
            // MQTT's own window holds the box's timer: `mqtt-box-inside-grace` says why it was lost.
            if !too_slow && protocols::inside_grace(st, nat.idle_timeout) {
                continue;
            }
            let says = match quiet {
                // The wheel's lateness is worth saying only where it tips the period over.
                Some((q, key)) if late.is_zero() || q >= timeout => format!("{} stays quiet up to {} ({key})", st.name, seconds(q)),
                Some((q, key)) => format!(
                    "{} stays quiet up to {} ({key}), and its probe fires up to {:.1}s late on the kernel's timer wheel: {:.1}s",
                    st.name,
                    seconds(q),
                    late.as_secs_f64(),
                    (q + late).as_secs_f64()
                ),
                None => format!("{} sends nothing of its own on an idle connection", st.name),
            };
            let shown = match seed {
                Some(seed) => format!("{count} of {n} seeds lost a mapping while the connection was held (first: seed {seed})"),
                None => format!("none of {n} seeds lost one (traffic kept it alive); more seeds may"),
            };
            let rule = format!(
                "{} forgets {flow}, then {}; {says}: {shown}. Keep the keepalive period under the NAT's idle timeout",
                the(k),
                match nat.on_expired {
                    sim::nat::OnExpired::Drop => "drops its packets",
                    sim::nat::OnExpired::Rst => "answers with RST",
                    sim::nat::OnExpired::NewPort => "maps the next packet to a new port",
                    sim::nat::OnExpired::Loose => "picks it up again from mid-stream packets",
                }
            );
            finding(&st.name, "nat-forgets-idle-connection", rule, seed);
        }
    }
    proxy::box_before_proxy(s, &strategies, &runs, &mut finding);
    proxy::proxy_closes_idle_connection(s, &strategies, &runs, &mut finding);
    protocols::mqtt_box_inside_grace(s, &strategies, &runs, &mut finding);
    protocols::grpc_pings_too_often(&strategies, &runs, &mut finding);
    protocols::herd_without_jitter(s, &strategies, &runs, &mut finding);
    if let (Some(server), Some(proxy_idle)) = (s.server_idle_timeout, s.proxy().and_then(|p| p.forwards_for())) {
        if server <= proxy_idle {
            let (strategy, seed) = first_showing(&strategies, &runs, failed);
            let message = format!(
                "the server application closes an idle connection after {} but the proxy keeps its side {}: a request the proxy forwards on a connection the server is closing fails (the ALB 502 race); make the server's idle timeout longer than the proxy's{}",
                seconds(server),
                seconds(proxy_idle),
                seed.map_or(" (no seed run showed a failed request)".to_string(), |seed| format!(" (seed {seed} shows a failed request)"))
            );
            finding(strategy, "server-closes-before-proxy", message, seed);
        }
    }
    if let (Some(server), None) = (s.server_idle_timeout, s.proxy()) {
        let pool = s.client_idle_timeout;
        if pool.is_none_or(|c| c >= server) {
            let (strategy, seed) = first_showing(&strategies, &runs, failed);
            let held = pool.map_or("for ever".to_string(), |c| format!("for {}", seconds(c)));
            let message = format!(
                "the client keeps an idle connection {held} but the server closes it after {}: the first request after an idle gap may meet a connection the server is closing; close idle connections in the client first ([client.app] idle_timeout under {}){}",
                seconds(server),
                seconds(server),
                seed.map_or(" (no seed run showed a failed request)".to_string(), |seed| format!(" (seed {seed} shows a failed request)"))
            );
            finding(strategy, "pool-outlives-server-idle", message, seed);
        }
    }
    proxy::pool_outlives_proxy_idle(s, &strategies, &runs, &mut finding);
    out
}

/// Findings as text: one block per finding.
pub fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!("{severity}[{}] {} / {}: {}\n", f.rule, f.scenario, f.strategy, f.message));
        if let Some(r) = &f.replay {
            out.push_str(&format!("  see it: {r}\n"));
        }
    }
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    out.push_str(&format!("{} findings: {errors} errors, {} warnings\n", findings.len(), findings.len() - errors));
    out
}
