//! Hand-computed cases: each asserts a number worked out in its comment from
//! the strategy's rule, the kernel's timers, or the link arithmetic.

use crate::common::inline as load;
use harness::runner;
use harness::summary::{side_outcome, SideOutcome};
use sim::oracle::{Condition, Verdict};
use sim::trace::TraceEvent;
use sim::{Instant, Side};
use std::path::Path;
use std::time::Duration;

#[test]
fn default_keepalive_after_a_vanish_detects_7875_s_after_the_last_receipt() {
    let s = load(
        r#"
        name = "t"
        horizon = "4h"
        [tcp]
        timers = "exact"
        [[fault]]
        kind = "vanish"
        target = "server"
        at = "10s"
        [[strategy]]
        name = "linux-default"
        kind = "tcp_keepalive"
        sides = ["client"]
        "#,
    );
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let last_rx =
        r.outcome.trace.iter().filter(|t| matches!(t.event, TraceEvent::Delivered { side: Side::Client, .. })).map(|t| t.at).max().unwrap();
    let d = &r.outcome.declarations[0];
    // 7200 s idle + 9 probes x 75 s, counted from the SYN-ACK (the last receipt).
    assert_eq!(d.at - last_rx, Duration::from_secs(7875));
    assert_eq!(d.cause, "ETIMEDOUT");
    assert_eq!(d.verdict, Verdict::Detection { latency: d.at - Instant::from_secs(10) });
}

const PING_BEHIND_NAT: &str = r#"
    name = "t"
    horizon = "3d"
    seeds = 5
    [client.link]
    delay = "50ms"
    [nat]
    idle_timeout = "20m"
    on_expired = "drop"
    [[strategy]]
    name = "ping"
    kind = "app_ping"
    sides = ["client"]
    interval = "10m"
    timeout = "3m"
"#;

#[test]
fn ping_10m_3m_behind_a_20m_nat_never_loses_the_mapping_nor_fires_on_a_healthy_path() {
    let s = load(PING_BEHIND_NAT);
    let strategies: Vec<_> = s.strategies.iter().collect();
    let runs = runner::run_scenario(&s, &strategies, None, &|| {});
    let report = runner::aggregate(&s.strategies[0], s.horizon, &runs[0]);
    assert_eq!(report.nat_expiries, 0);
    assert_eq!(report.client.false_positives + report.server.false_positives, 0);
    // The pings did happen: one every 10 minutes from the connection (t ~ 0.1 s)
    // to the 72 h horizon is 431 pings (the 432nd would be at 72 h + 0.1 s), each
    // answered by a pong: 862 packets over 72 h = 11.972 per hour.
    assert_eq!(report.keepalive_packets_per_hour, 11.972);
}

const PING_BEHIND_UPLOAD: &str = r#"
    name = "t"
    horizon = "3h"
    [client.link]
    up = "56kbit/s"
    down = "56kbit/s"
    [[traffic]]
    kind = "upload"
    at = "65m"
    size = "10MB"
    [[strategy]]
    name = "pong"
    kind = "app_ping"
    sides = ["client"]
    interval = "10m"
    timeout = "3m"
    [[strategy]]
    name = "ack-progress"
    kind = "app_ping"
    sides = ["client"]
    interval = "10m"
    timeout = "3m"
    liveness = "ack_progress"
"#;

#[test]
fn ping_behind_a_10_mb_upload_on_56k_is_a_false_positive_unless_ack_progress_counts() {
    let s = load(PING_BEHIND_UPLOAD);
    // The upload takes 10 MB x (1 + 66/1448) x 8 / 56 kbit/s = 1494 s (about 25 min),
    // so the 70-minute ping waits ~20 minutes behind it: the pong cannot come within 3.
    let pong = runner::run_one(&s, &s.strategies[0], 0, false);
    let d = &pong.outcome.declarations[0];
    assert_eq!(d.side, Side::Client);
    // Declared exactly 3 minutes after the ping at 70 minutes (+ handshake).
    let ping_at = Instant::from_secs(70 * 60);
    assert!(d.at - ping_at >= Duration::from_secs(180) && d.at - ping_at < Duration::from_secs(181), "{:?}", d.at);
    assert_eq!(side_outcome(&pong.outcome, Side::Client), SideOutcome::FalsePositive(Condition::Queue));

    let ack = runner::run_one(&s, &s.strategies[1], 0, true);
    assert!(ack.outcome.declarations.is_empty(), "{:?}", ack.outcome.declarations);
    // The stuck ping's pong arrives once the upload has drained: after 65 + 24.9 minutes.
    let first_pong_after_upload = ack
        .outcome
        .trace
        .iter()
        .filter(|t| matches!(t.event, TraceEvent::AppMessage { side: Side::Client, tag, .. } if tag >> 56 == 6))
        .map(|t| t.at)
        .find(|t| *t > Instant::from_secs(70 * 60))
        .unwrap();
    let drained = Instant::from_secs(65 * 60) + Duration::from_secs(1494);
    assert!(first_pong_after_upload >= drained, "{first_pong_after_upload} < {drained}");
}

#[test]
fn ping_30m_behind_a_20m_drop_nat_detects_13_minutes_after_the_mapping_was_lost() {
    let s = load(
        r#"
        name = "t"
        horizon = "2h"
        [nat]
        idle_timeout = "20m"
        on_expired = "drop"
        [[strategy]]
        name = "ping"
        kind = "app_ping"
        sides = ["client"]
        interval = "30m"
        timeout = "3m"
        "#,
    );
    let r = runner::run_one(&s, &s.strategies[0], 0, false);
    // Mapping lost 20 minutes after the handshake; the ping at 30 minutes is dropped;
    // dead at 33 minutes: 13 minutes after the loss (to within the handshake's ~1 µs).
    let (broken, _) = r.outcome.broken.unwrap();
    assert!(broken >= Instant::from_secs(1200) && broken < Instant::from_millis(1_200_001));
    match side_outcome(&r.outcome, Side::Client) {
        SideOutcome::Detected(l) => assert!((l.as_secs_f64() - 780.0).abs() < 0.001, "{l:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn runs_are_identical_at_any_job_count() {
    let s = harness::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cellular-carrier-nat.toml")).unwrap();
    let strategies: Vec<_> = s.strategies.iter().collect();
    let render = |jobs| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().unwrap();
        let runs = pool.install(|| runner::run_scenario(&s, &strategies, Some(12), &|| {}));
        let report = reports::Report { scenarios: vec![runner::scenario_report(&s, &strategies, &runs, 12)], ..Default::default() };
        reports::render::json(&report)
    };
    let one = render(1);
    assert_eq!(one, render(2));
    assert_eq!(one, render(3));
}
