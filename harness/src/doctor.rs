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

use crate::metrics::RunSummary;
use crate::runner;
use crate::scenario::Scenario;
use crate::strategy::StrategySpec;
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
    /// `server-closes-before-proxy`, `pool-outlives-server-idle`,
    /// `grpc-ping-too-often`, `herd-without-jitter`.
    pub rule: &'static str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The rule, the numbers, and what the seeds showed.
    pub message: String,
    /// A command that replays a seed showing it (null when no seed did).
    pub replay: Option<String>,
}

/// The longest a strategy stays quiet on an idle connection: a kernel
/// keepalive's `idle` (its `interval` only spaces unanswered probes), else
/// the shortest period it names (a ping's interval, a heartbeat); `None`
/// for a strategy that sends nothing of its own (`none`, a period of 0).
pub fn quiet_period(st: &StrategySpec) -> Option<(Duration, &'static str)> {
    const PERIODS: [&str; 8] =
        ["interval", "keep_alive", "heartbeat", "time", "persistent_keepalive", "keep_alive_interval", "net_ticktime", "tcp_keepalive"];
    if st.params.contains_key("idle") {
        let idle = st.duration("idle");
        return (!idle.is_zero()).then_some((idle, "idle"));
    }
    PERIODS
        .iter()
        .filter(|k| st.params.contains_key(*k))
        .map(|k| (st.duration(k), *k))
        .filter(|(d, _)| !d.is_zero())
        .min_by_key(|(d, _)| *d)
}

/// Strategies whose connection is a UDP flow through the NAT.
fn over_udp(st: &StrategySpec) -> bool {
    matches!(st.kind, "quic" | "udp_keepalive")
}

fn seconds(d: Duration) -> String {
    format_duration(d)
}

/// The first run of `runs` that shows `shows`, and how many do.
fn evidence(runs: &[RunSummary], shows: impl Fn(&RunSummary) -> bool) -> (Option<u64>, usize) {
    let hits: Vec<u64> = runs.iter().filter(|r| shows(r)).map(|r| r.seed).collect();
    (hits.first().copied(), hits.len())
}

/// Every finding of one scenario, its strategies run over `seeds` seeds.
pub fn examine(s: &Scenario, seeds: Option<u64>) -> Vec<Finding> {
    // A real program has no model to run; its twin (if the file has one) speaks for it.
    let strategies: Vec<&StrategySpec> = s.strategies.iter().filter(|st| !st.kind.starts_with("live_") && st.kind != "program").collect();
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
            let quiet = quiet_period(st);
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
                Some((q, "idle")) if st.kind == "tcp_keepalive" => timers.granularity(q),
                _ => Duration::ZERO,
            };
            let too_slow = quiet.is_some_and(|(q, _)| q + late >= timeout);
            let (seed, count) = evidence(runs, |r| r.nat_expiries() > 0);
            // Nothing to say: the period is short enough and no seed lost a mapping (or
            // another box forgets sooner), or the strategy sends nothing and its traffic
            // (or its own idle close) kept the flow.
            if !too_slow && (seed.is_none() || Some(nat.idle_timeout) != soonest) {
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
    box_before_proxy(s, &strategies, &runs, &mut finding);
    grpc_pings_too_often(&strategies, &runs, &mut finding);
    herd_without_jitter(s, &strategies, &runs, &mut finding);
    let any_failed = || strategies.iter().zip(&runs).find_map(|(st, r)| evidence(r, failed).0.map(|seed| (st.name.as_str(), seed)));
    let first = strategies.first().map_or("", |st| st.name.as_str());
    if let (Some(server), Some(proxy_idle)) = (s.server_idle_timeout, s.proxy().and_then(|p| p.forwards_for())) {
        if server <= proxy_idle {
            let (strategy, seed) = any_failed().map_or((first, None), |(st, seed)| (st, Some(seed)));
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
            let (strategy, seed) = any_failed().map_or((first, None), |(st, seed)| (st, Some(seed)));
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
    out
}

/// `box-forgets-before-proxy`: a NAT-like box next to the proxy that forgets
/// an idle flow before the proxy closes that connection: on the clients'
/// side, an idle client connection is lost in the box (a RST or a silent
/// drop) where the proxy would have closed it with a FIN the client sees;
/// on the server's side, the proxy's backend connection is. The question
/// of kubernetes/ingress-nginx#5695 ("NLB in front of ingress-nginx: which
/// timeout must be larger?"): the proxy's, shorter.
fn box_before_proxy(
    s: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    let (Some(at), Some(proxy)) = (s.proxy_position(), s.proxy()) else { return };
    let proxy_name = s.box_name(at);
    for (k, nat) in s.nats() {
        // The proxy's timer on that side: the client's leg in front of it, the server's behind.
        let (keeps, leg) = match (k < at, proxy.per_side()) {
            (true, true) => (proxy.client_timeout, "client connection"),
            (false, true) => (proxy.server_timeout, "connection to the server"),
            (true, false) => (proxy.idle_timeout, "client connection"),
            (false, false) => (proxy.idle_timeout, "connection to the server"),
        };
        if keeps.is_some_and(|p| p < nat.idle_timeout) {
            continue;
        }
        let first =
            strategies.iter().zip(runs).find_map(|(st, r)| evidence(r, |x| x.nat_expiries() > 0).0.map(|seed| (st.name.as_str(), seed)));
        let (strategy, seed) = first.map_or((strategies.first().map_or("", |st| st.name.as_str()), None), |(st, seed)| (st, Some(seed)));
        let box_name = s.box_name(k);
        let side = if k < at { "in front of" } else { "behind" };
        let message = format!(
            "{box_name} {side} the proxy ({proxy_name}) forgets a TCP flow idle for {} but the proxy keeps an idle {leg} {}: \
             the connection is lost in the box ({}) where the proxy would have closed it with a FIN; make the proxy's idle \
             timeout shorter than the box's, or keep the flow busy{}",
            seconds(nat.idle_timeout),
            keeps.map_or("for ever".to_string(), |p| format!("for {}", seconds(p))),
            if nat.on_expired == sim::nat::OnExpired::Rst { "its next packet meets a RST" } else { "its next packet is dropped" },
            seed.map_or(" (no seed run lost a mapping)".to_string(), |seed| format!(" (seed {seed} loses one)"))
        );
        finding(strategy, "box-forgets-before-proxy", message, seed);
    }
}

/// Did a run's `side` declare a healthy connection dead?
fn false_positive(r: &RunSummary, side: sim::Side) -> bool {
    r.outcomes(side).any(|o| matches!(o, crate::metrics::SideOutcome::FalsePositive(_)))
}

/// `grpc-ping-too-often`: a gRPC client that pings an idle connection every
/// `time` against a server that expects pings no closer than `min_time`
/// (without `permit_without_stream`, no closer than 2 hours): its third
/// ping too soon brings GOAWAY `too_many_pings`, and a healthy connection
/// is closed (grpc/grpc-go's enforcement policy).
fn grpc_pings_too_often(
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    use crate::strategy::GrpcServer;
    for (st, runs) in strategies.iter().zip(runs) {
        let time = st.duration("time");
        let idle_pings = st.params.get("permit_without_calls").is_some_and(|v| v == "true");
        if st.kind != "grpc" || time.is_zero() || !idle_pings || !st.sides.contains(&sim::Side::Server) {
            continue;
        }
        let without_stream = st.params.get("permit_without_stream").is_some_and(|v| v == "true");
        let (spacing, why) = match without_stream {
            true => (st.duration("min_time"), "(its min_time)"),
            false => (GrpcServer::NO_STREAM_MIN, "(with no active stream, as permit_without_stream is off)"),
        };
        if time >= spacing {
            continue;
        }
        let (seed, count) = evidence(runs, |r| false_positive(r, sim::Side::Server));
        let message = format!(
            "the client pings an idle connection every {} but the server expects pings no closer than {} {why}: after {} \
             pings too soon it sends GOAWAY too_many_pings and closes a healthy connection; set the server's min_time (and \
             permit_without_stream) under the client's time, or the client's time above them: {}",
            seconds(time),
            seconds(spacing),
            GrpcServer::MAX_PING_STRIKES + 1,
            match seed {
                Some(seed) => format!("{count} of {} seeds show it (first: seed {seed})", runs.len()),
                None => format!("none of {} seeds showed it", runs.len()),
            }
        );
        finding(&st.name, "grpc-ping-too-often", message, seed);
    }
}

/// `herd-without-jitter`: a fleet that reconnects with no jitter after the
/// server restarts comes back in lockstep, every client in the same
/// instant, into a listen queue that holds only `backlog + 1`: the rest
/// wait half-open, and clients not accepted in time declare a live server
/// dead (the herd of fleet-restart-herd).
fn herd_without_jitter(
    s: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    use crate::scenario::{FaultKind, ReconnectMode};
    let (Some(reconnect), Some(queue)) = (s.reconnect, s.accept) else { return };
    let restarts = s.faults.iter().any(|f| {
        f.side == Some(sim::Side::Server) && !f.proxy && matches!(f.kind, FaultKind::Crash | FaultKind::Reboot) && f.duration.is_some()
    });
    let fleet = u64::from(s.clients) * u64::from(s.connections);
    if reconnect.mode == ReconnectMode::Off || reconnect.jitter > 0.0 || !restarts || fleet <= u64::from(queue.backlog) + 1 {
        return;
    }
    let first = strategies.iter().zip(runs).find_map(|(st, r)| {
        evidence(r, |x| false_positive(x, sim::Side::Client) || x.session.as_ref().is_some_and(|x| x.requests.failed > 0))
            .0
            .map(|seed| (st.name.as_str(), seed))
    });
    let (strategy, seed) = first.map_or((strategies.first().map_or("", |st| st.name.as_str()), None), |(st, seed)| (st, Some(seed)));
    let message = format!(
        "{fleet} connections reconnect without jitter after the server restarts: they return in lockstep into a listen \
         queue of {} (backlog {}), the rest wait half-open and may declare a live server dead; give the backoff jitter \
         ([client.reconnect] jitter, e.g. 0.5){}",
        queue.backlog + 1,
        queue.backlog,
        seed.map_or(" (no seed run showed a false positive or a failed request)".to_string(), |seed| format!(" (seed {seed} shows it)"))
    );
    finding(strategy, "herd-without-jitter", message, seed);
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
