//! Each protocol preset's detection time after a vanish, computed from the
//! rule its module cites (harness/src/strategy/{phi,presets}.rs). Links are
//! fast and direct (round trips of microseconds), so the numbers are the
//! rules' own.

use harness::runner;
use harness::summary::{side_outcome, SideOutcome};
use sim::oracle::{Condition, Verdict};
use sim::trace::{TraceEvent, TraceRecord};
use sim::{Instant, Side};
use std::time::Duration;

fn run(strategy: &str, vanish: &str, at: &str, extra: &str) -> harness::record::RunRecord {
    let src = format!(
        "name = \"t\"\nhorizon = \"2h\"\n{extra}\n[[fault]]\nkind = \"vanish\"\ntarget = \"{vanish}\"\nat = \"{at}\"\n[[strategy]]\nname = \"s\"\n{strategy}\n"
    );
    let s = crate::common::inline(&src);
    runner::run_one(&s, &s.strategies[0], 0, true)
}

/// The first declaration by `side`: (when, cause).
fn declared(r: &harness::record::RunRecord, side: Side) -> (Instant, String) {
    let d = r.outcome.declarations.iter().find(|d| d.side == side).unwrap_or_else(|| panic!("{side} declared nothing"));
    (d.at, d.cause.clone())
}

/// The last time `side`'s application read a message (what application-level
/// presets count as "received").
fn last_receipt(trace: &[TraceRecord], side: Side, before: Instant) -> Instant {
    trace
        .iter()
        .filter(|t| t.at <= before && matches!(t.event, TraceEvent::AppMessage { side: s, .. } if s == side))
        .map(|t| t.at)
        .max()
        .unwrap()
}

/// The last segment `side`'s kernel received (what TCP keepalive counts).
fn last_segment(trace: &[TraceRecord], side: Side, before: Instant) -> Instant {
    trace
        .iter()
        .filter(|t| t.at <= before && matches!(t.event, TraceEvent::Delivered { side: s, .. } if s == side))
        .map(|t| t.at)
        .max()
        .unwrap()
}

fn connected(trace: &[TraceRecord], side: Side) -> Instant {
    trace
        .iter()
        .find(|t| matches!(t.event, TraceEvent::Socket { side: s, event: sim::socket::SocketEvent::Connected } if s == side))
        .unwrap()
        .at
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn phi_accrual_akka_defaults_detects_4_52_s_after_the_last_heartbeat() {
    let r = run("kind = \"phi_accrual\"\nsides = [\"client\"]", "server", "100500ms", "");
    let (at, cause) = declared(&r, Side::Client);
    assert_eq!(cause, "phi > 8");
    let last = last_receipt(&r.outcome.trace, Side::Client, at);
    // Steady 1 s heartbeats: window mean 1 s (+3 s pause), σ floored at 100 ms;
    // φ = 8 where y(1.5976 + 0.070566 y²) = ln(10^8 - 1) = 18.4207 -> y = 5.226:
    // 4 + 0.5226 = 4.5226 s after the last heartbeat.
    assert!((secs(at - last) - 4.5226).abs() < 0.0005, "{:?}", at - last);
}

#[test]
fn grpc_client_closes_time_plus_timeout_after_its_last_read() {
    let r = run("kind = \"grpc\"\nsides = [\"client\"]\ntime = \"60s\"\npermit_without_calls = true", "server", "1000s", "");
    let (at, cause) = declared(&r, Side::Client);
    assert_eq!(cause, "keepalive ping failed to receive ACK within timeout");
    // Ping `time` = 60 s after the last read, then the 20 s default timeout.
    let last = last_receipt(&r.outcome.trace, Side::Client, at);
    assert!((secs(at - last) - 80.0).abs() < 1e-6, "{:?}", at - last);
}

#[test]
fn grpc_client_without_calls_stays_dormant_by_default() {
    let r = run("kind = \"grpc\"\nsides = [\"client\"]\ntime = \"60s\"", "server", "1000s", "");
    assert!(r.outcome.declarations.is_empty(), "permit_without_calls = false: no ping, no detection");
    assert_eq!(r.endpoints[0].pings, 0);
}

#[test]
fn grpc_aggressive_client_against_a_default_server_gets_goaway_too_many_pings() {
    // Client pings every 10 s with no call; the default server (min_time 5 min, no
    // pings without a stream more often than every 2 h) strikes the 2nd, 3rd and
    // 4th ping; more than 2 strikes -> GOAWAY at the 4th ping, ~40 s in.
    let r = run("kind = \"grpc\"\ntime = \"10s\"\npermit_without_calls = true", "server", "1h30m", "");
    let (at, cause) = declared(&r, Side::Server);
    assert_eq!(cause, "GOAWAY too_many_pings");
    assert!((secs(at.since_start()) - 40.0).abs() < 0.001, "{at}");
    assert_eq!(side_outcome(&r.outcome, Side::Server), SideOutcome::FalsePositive(Condition::Healthy));
}

#[test]
fn ssh_gives_up_count_max_plus_one_intervals_after_the_last_receipt() {
    let r = run("kind = \"ssh\"\ninterval = \"15s\"", "server", "1000s", "");
    let (at, _) = declared(&r, Side::Client);
    let last = last_receipt(&r.outcome.trace, Side::Client, at);
    // (ServerAliveCountMax 3 + 1) x 15 s.
    assert!((secs(at - last) - 60.0).abs() < 1e-6, "{:?}", at - last);
}

#[test]
fn mqtt_client_gives_up_k_after_an_unanswered_pingreq_and_the_broker_after_1_5_k() {
    let r = run("kind = \"mqtt\"\nkeep_alive = \"30s\"", "server", "1000s", "");
    let (at, _) = declared(&r, Side::Client);
    let pings: Vec<Instant> = r
        .outcome
        .trace
        .iter()
        .filter(|t| matches!(t.event, TraceEvent::AppWrite { side: Side::Client, tag, .. } if tag >> 56 == 5))
        .map(|t| t.at)
        .collect();
    let last_ping = *pings.iter().filter(|p| **p < at).max().unwrap();
    // PINGREQ every K = 30 s of silence; the one after the vanish is unanswered: dead K later.
    assert!((secs(at - last_ping) - 30.0).abs() < 1e-6);
    assert!(secs(at - Instant::from_secs(1000)) <= 60.0);

    let r = run("kind = \"mqtt\"\nkeep_alive = \"30s\"", "client", "1000s", "");
    let (at, cause) = declared(&r, Side::Server);
    assert_eq!(cause, "keep alive exceeded (1.5 x K without a packet)");
    let last = last_receipt(&r.outcome.trace, Side::Server, at);
    assert!((secs(at - last) - 45.0).abs() < 1e-6, "{:?}", at - last);
}

#[test]
fn amqp_closes_after_two_heartbeat_checks_without_octets() {
    let r = run("kind = \"amqp\"", "server", "1010s", "");
    let (at, _) = declared(&r, Side::Client);
    // H = 60 s. The server's heartbeats (every 30 s) last arrived at ~990 s; the
    // client checks every 60 s from its connection: 1020 s saw them, 1080 s and
    // 1140 s saw nothing: dead at 1140 s after connecting (latency 130 s, in (2H-H/2, 3H]).
    let t0 = connected(&r.outcome.trace, Side::Client);
    assert!((secs(at - t0) - 1140.0).abs() < 1e-6, "{:?}", at - t0);
    match r.outcome.declarations[0].verdict {
        Verdict::Detection { latency } => assert!((secs(latency) - 130.0).abs() < 0.001),
        v => panic!("{v:?}"),
    }
}

#[test]
fn redis_tcp_keepalive_300_gives_up_after_600_s() {
    let r = run("kind = \"redis\"", "client", "1000s", "[tcp]\ntimers = \"exact\"");
    let (at, cause) = declared(&r, Side::Server);
    assert_eq!(cause, "ETIMEDOUT");
    let last = last_segment(&r.outcome.trace, Side::Server, at);
    // idle 300 s, then 3 probes 100 s apart: 300 + 3 x 100 = 600 s = 2N.
    assert_eq!(at - last, Duration::from_secs(600));
}

#[test]
fn erlang_net_ticktime_60_detects_within_45_to_75_s() {
    let r = run("kind = \"erlang\"", "server", "1012s", "");
    let (at, cause) = declared(&r, Side::Client);
    assert_eq!(cause, "net_tick_timeout");
    // Ticks every 15 s. The server's last tick arrived at ~1005 s; the client's
    // checks at 1020 (saw it), 1035, 1050, 1065, 1080 s (four silent periods): dead
    // at 1080 s after connecting, 68 s after the vanish, inside (45, 75].
    let t0 = connected(&r.outcome.trace, Side::Client);
    assert!((secs(at - t0) - 1080.0).abs() < 1e-6, "{:?}", at - t0);
    let latency = secs(at - Instant::from_secs(1012));
    assert!(latency > 45.0 && latency <= 75.0, "{latency}");
}
