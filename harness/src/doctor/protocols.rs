//! The doctor's rules about protocols and fleets: what a protocol's own
//! keepalive contract promises (gRPC's ping enforcement, MQTT's 1.5 × Keep
//! Alive) against the path, and a fleet coming back all at once. Why apart
//! from the path rules: each reads one protocol's parameters, and its
//! evidence is a false positive of that protocol's own making.

use super::{evidence, first_showing, seconds};
use crate::scenario::Scenario;
use crate::strategy::{StrategyKind, StrategySpec};
use crate::summary::RunSummary;

/// Did a run's `side` declare a healthy connection dead?
fn false_positive(r: &RunSummary, side: sim::Side) -> bool {
    r.outcomes(side).any(|o| matches!(o, crate::summary::SideOutcome::FalsePositive(_)))
}

/// `grpc-ping-too-often`: a gRPC client that pings an idle connection every
/// `time` against a server that expects pings no closer than `min_time`
/// (without `permit_without_stream`, no closer than 2 hours): its third
/// ping too soon brings GOAWAY `too_many_pings`, and a healthy connection
/// is closed (grpc/grpc-go's enforcement policy).
pub(super) fn grpc_pings_too_often(
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    use crate::strategy::GrpcServer;
    for (st, runs) in strategies.iter().zip(runs) {
        let StrategyKind::Grpc { time, permit_without_calls: true, min_time, permit_without_stream, .. } = *st.kind() else { continue };
        if time.is_zero() || !st.sides.contains(&sim::Side::Server) {
            continue;
        }
        let (spacing, why) = match permit_without_stream {
            true => (min_time, "(its min_time)"),
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
pub(super) fn herd_without_jitter(
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
    let (strategy, seed) = first_showing(strategies, runs, |x| {
        false_positive(x, sim::Side::Client) || x.session.as_ref().is_some_and(|x| x.requests.failed > 0)
    });
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

/// Is `st` an MQTT client whose grace (K to 1.5 × K) holds `timeout`?
pub(super) fn inside_grace(st: &StrategySpec, timeout: std::time::Duration) -> bool {
    let StrategyKind::Mqtt { keep_alive: k } = *st.kind() else { return false };
    st.sides.contains(&sim::Side::Client) && !k.is_zero() && k < timeout && timeout <= k * 3 / 2
}

/// `mqtt-box-inside-grace`: MQTT holds a client alive until 1.5 × its Keep
/// Alive K has passed without a packet from it (the broker's limit, MQTT
/// 3.1.1 §3.1.2.10); the client pings after K, so a PINGREQ may be late by
/// up to K/2 (a lost packet's retransmissions, a busy client loop, a timer
/// that checks once a second) and MQTT still keeps the session. A box on
/// the path that forgets an idle flow (or closes an idle connection) after
/// T with K < T <= 1.5 × K is stricter than MQTT itself: a PINGREQ later
/// than T - K loses the connection in the box. (K >= T is
/// `nat-forgets-idle-connection`'s or `proxy-closes-idle-connection`'s.)
pub(super) fn mqtt_box_inside_grace(
    s: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    let proxy_at = s.proxy_position().unwrap_or(usize::MAX);
    // The boxes the client's packets keep open: NATs in front of the proxy, and the proxy's client-side timer.
    let nats = s.nats().filter(|&(k, _)| k < proxy_at).map(|(k, n)| (k, n.idle_timeout, true));
    let proxy = s.proxy().and_then(|p| p.forwards_for()).map(|t| (proxy_at, t, false));
    let boxes: Vec<(usize, std::time::Duration, bool)> = nats.chain(proxy).collect();
    for (st, runs) in strategies.iter().zip(runs) {
        let StrategyKind::Mqtt { keep_alive: k } = *st.kind() else { continue };
        let grace = k * 3 / 2;
        for &(at, timeout, nat) in &boxes {
            if !inside_grace(st, timeout) {
                continue;
            }
            let (seed, count) = evidence(runs, |r| if nat { r.expiries_while_held() > 0 } else { r.orderly_ends > 0 });
            let name = match (s.chained, nat) {
                (_, false) => super::proxy::the_proxy(s, at),
                (true, true) => s.box_name(at),
                (false, true) => "the NAT".to_string(),
            };
            let message = format!(
                "MQTT keeps a client alive until 1.5 x its Keep Alive ({} x 1.5 = {}) passes without a packet, but {name} {} \
                 after {}: a PINGREQ later than {} past K (a lost packet's retransmissions, a busy client loop) loses a \
                 connection MQTT would keep; keep the box's idle timeout above {}, or the Keep Alive under {}: {}",
                seconds(k),
                seconds(grace),
                if nat { "forgets an idle flow" } else { "closes an idle connection" },
                seconds(timeout),
                seconds(timeout - k),
                seconds(grace),
                seconds(timeout * 2 / 3),
                match seed {
                    Some(seed) => format!("{count} of {} seeds show it (first: seed {seed})", runs.len()),
                    None => format!("none of {} seeds showed it", runs.len()),
                }
            );
            finding(&st.name, "mqtt-box-inside-grace", message, seed);
        }
    }
}
