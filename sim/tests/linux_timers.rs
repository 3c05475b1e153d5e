//! The TCP model's timers against Linux 6.18 (HZ = 250), measured on this
//! machine's kernel. Each test asserts the instant the model produces, worked
//! out by hand in its comment, and that it lies within the calibration bar of
//! the kernel's measurement where there is one.

mod common;
use common::*;
use sim::packet::SegmentKind;
use sim::socket::SocketError;
use sim::timer::TimerModel;
use sim::{Fault, Instant, Side, WorldConfig};
use std::time::Duration;

fn vanish_server(at: Instant, horizon_s: u64) -> WorldConfig {
    WorldConfig {
        horizon: Duration::from_secs(horizon_s),
        faults: vec![Fault::Vanish { host: Side::Server.into(), at }],
        ..WorldConfig::default()
    }
}

#[test]
fn default_keepalive_with_exact_timers_times_out_7875_s_after_the_last_receipt() {
    let mut cfg = vanish_server(Instant::from_secs(10), 3 * 3600);
    cfg.tcp.timers = TimerModel::Exact;
    let client = Script::new().keepalive(7200, 75, 9);
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let err = error_at(&log, SocketError::TimedOut).expect("keepalive gives up");
    let last_rx = last_delivery(&out.trace, Side::Client, err);
    // idle 7200 s, then 9 probes 75 s apart, dead at the timer after the 9th:
    // 7200 + 9·75 = 7875 s, exactly.
    assert_eq!(err - last_rx, Duration::from_secs(7875));
    assert_eq!(sent_times(&out.trace, Side::Client, SegmentKind::KeepaliveProbe).len(), 9);
}

#[test]
fn default_keepalive_on_the_linux_timer_wheel_is_late_by_the_wheel_granularity() {
    let cfg = vanish_server(Instant::from_secs(10), 3 * 3600);
    let client = Script::new().keepalive(7200, 75, 9);
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let err = error_at(&log, SocketError::TimedOut).unwrap();
    // Armed at jiffy 0 (the SYN-ACK arrives after ~1 µs). 7200 s = 1 800 000
    // jiffies: wheel level 5, granularity 32768 jiffies, so the first probe
    // goes at ((1800000 >> 15) + 1) << 15 = 1 802 240 jiffies = 7208.96 s.
    // Each 75 s (18 750 jiffies, level 3, granularity 512) re-arm rounds up:
    // 7284.736, 7360.512, ... , 7815.168 (9th probe), and the timer after it
    // finds 9 probes out at 1 972 736 jiffies = 7890.944 s.
    assert_eq!(err, Instant::from_millis(7_890_944));
    let probes = sent_times(&out.trace, Side::Client, SegmentKind::KeepaliveProbe);
    assert_eq!(probes.first(), Some(&Instant::from_millis(7_208_960)));
    assert_eq!(probes.last(), Some(&Instant::from_millis(7_815_168)));
    // Never earlier than the exact model, at most one level-5 and nine level-3
    // granules later.
    let last_rx = last_delivery(&out.trace, Side::Client, err);
    let late = (err - last_rx).as_secs_f64() - 7875.0;
    assert!((0.0..=131.072 + 9.0 * 2.048).contains(&late), "late by {late}");
}

#[test]
fn keepalive_2_1_3_matches_linux() {
    let client = Script::new().keepalive(2, 1, 3);
    let log = client.log();
    let out = run(vanish_server(Instant::from_millis(500), 60), client, Script::new());
    let err = error_at(&log, SocketError::TimedOut).unwrap();
    // 500 jiffies (level 1) from jiffy 0 -> 504 = 2.016 s (probe 1);
    // +250 -> 760 = 3.040 (probe 2); +250 -> 1016 = 4.064 (probe 3);
    // +250 -> 1272 jiffies = 5.088 s: 3 probes out, dead.
    assert_eq!(err, Instant::from_millis(5088));
    assert_eq!(
        sent_times(&out.trace, Side::Client, SegmentKind::KeepaliveProbe),
        vec![Instant::from_millis(2016), Instant::from_millis(3040), Instant::from_millis(4064)]
    );
    assert_near_kernel("keepalive 2/1/3", err.as_secs_f64(), 5.08);
    // The keepalive abort sends a RST, as tcp_send_active_reset does.
    assert_eq!(sent_times(&out.trace, Side::Client, SegmentKind::Reset), vec![err]);
}

#[test]
fn keepalive_2_1_3_with_user_timeout_4_s_matches_linux() {
    let client = Script::new().keepalive(2, 1, 3).user_timeout(Duration::from_secs(4));
    let log = client.log();
    run(vanish_server(Instant::from_millis(500), 60), client, Script::new());
    let err = error_at(&log, SocketError::TimedOut).unwrap();
    // Probes at 2.016 and 3.040 s; at 4.064 s the idle time (4.064 s) is at least
    // the user timeout and a probe is out: dead before the count of 3 is reached.
    assert_eq!(err, Instant::from_millis(4064));
    assert_near_kernel("keepalive + user timeout", err.as_secs_f64(), 4.05);
}

/// Data written at 1 s into a server that vanished at 0.5 s, on a ~0 ms link.
/// Returns (retransmission times, probe time, abort time) in seconds after the send.
fn black_hole(retries2: u32, user_timeout: Option<Duration>) -> (Vec<f64>, f64, f64) {
    black_hole_on(TimerModel::default(), retries2, user_timeout)
}

/// [`black_hole`] with the given timer model.
fn black_hole_on(timers: TimerModel, retries2: u32, user_timeout: Option<Duration>) -> (Vec<f64>, f64, f64) {
    let mut cfg = vanish_server(Instant::from_millis(500), 4000);
    cfg.tcp.timers = timers;
    cfg.tcp.retries2 = retries2;
    let mut client = Script::new().write_at(Instant::from_secs(1), 100, 1);
    client.user_timeout = user_timeout;
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let err = error_at(&log, SocketError::TimedOut).expect("gives up");
    let send = Instant::from_secs(1);
    let probe = sent_times(&out.trace, Side::Client, SegmentKind::LossProbe);
    assert_eq!(probe.len(), 1, "one tail-loss probe");
    // Whole microseconds: every instant here is a multiple of a 4 ms jiffy.
    let us = |t: Instant| (t - send).as_micros() as f64 / 1e6;
    let rtx: Vec<f64> = sent_times(&out.trace, Side::Client, SegmentKind::Retransmit).into_iter().map(us).collect();
    (rtx, us(probe[0]), us(err))
}

#[test]
fn retries2_5_black_hole_matches_linux() {
    let (rtx, probe, abort) = black_hole(5, None);
    // Send at jiffy 250. srtt ≈ 1 µs so rto = 200.001 ms -> 51 jiffies.
    // Probe: PTO = 2·srtt + 200 ms (one packet out) -> 51 jiffies, level 0 -> +52 = 1.208 s.
    // RTOs re-armed from each expiry with the doubled rto: 302+51 -> 354 (1.416),
    // +102 -> 464 (1.856), +204 -> 672 (2.688), +408 -> 1088 (4.352),
    // +816 (level 2) -> 1920 (7.680), +1632 -> 3584 jiffies = 14.336 s, where
    // 14.336 - 1.416 = 12.92 s >= tcp_model_timeout(5) = 12.6 s: abort.
    assert_eq!(probe, 0.208);
    assert_eq!(rtx, vec![0.416, 0.856, 1.688, 3.352, 6.68]);
    assert!((abort - 13.336).abs() < 1e-9, "{abort}");
    // Linux: probe +0.206, retransmits +0.414, +0.842, +1.674, +3.338, +6.73, abort 13.39-13.49.
    for (model, kernel) in rtx.iter().zip([0.414, 0.842, 1.674, 3.338, 6.73]) {
        assert_near_kernel("retransmission", *model, kernel);
    }
    assert_near_kernel("tail-loss probe", probe, 0.206);
    assert_near_kernel("retries2=5 abort", abort, 13.39);
}

/// The README's "it matters": without the timer wheel's rounding the same
/// black hole takes twice as long. Probe at PTO = 2·srtt + 200 ms = 0.2 s;
/// RTOs from there double from 200 ms: 0.4, 0.8, 1.6, 3.2, 6.4, 12.8 s. At
/// 12.8 s only 12.4 s have passed since the first retransmission, under
/// tcp_model_timeout(5) = 12.6 s, so a sixth goes out; its RTO of 12.8 s
/// expires at 25.6 s, 25.2 s after the first: abort.
#[test]
fn retries2_5_with_exact_timers_aborts_at_25_6_s() {
    let (rtx, probe, abort) = black_hole_on(TimerModel::Exact, 5, None);
    let ms = |v: f64| (v * 1000.0).round();
    assert_eq!(ms(probe), 200.0);
    assert_eq!(rtx.iter().map(|&v| ms(v)).collect::<Vec<_>>(), vec![400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0]);
    assert_eq!(ms(abort), 25_600.0, "{abort}");
}

#[test]
fn retries2_15_aborts_at_the_first_rto_expiry_past_924_6_s() {
    let (rtx, _, abort) = black_hole(15, None);
    let first = rtx[0];
    let bound = 924.6; // 1023 · 0.2 s + 6 · 120 s
                       // The expiry before the abort was still short of the bound; the abort is at
                       // the next expiry, no earlier than the bound.
    let last_rtx = *rtx.last().unwrap();
    assert!(abort - first >= bound, "abort {abort} first {first}");
    assert!(last_rtx - first < bound);
    assert_eq!(rtx.len(), 15, "tcp_retries2 = 15 retransmissions");
    // By the wheel: retrans_stamp 1.416 s, expiries ... 819.2, 940.032 s after
    // the send; 940.032 - 1.416 = 938.616 s >= 924.6 s.
    assert!((abort - 939.032).abs() < 1e-9, "{abort}");
}

#[test]
fn user_timeout_alone_black_hole_matches_linux() {
    let (rtx, _, abort) = black_hole(15, Some(Duration::from_secs(4)));
    // retrans_stamp = 1.416 s (first RTO retransmission). Expiries 1.856, 2.688,
    // 4.352 (2.936 s elapsed < 4 s); the next RTO (3.264 s) is clamped to the
    // 1.064 s remaining = 266 jiffies: 1088 + 266 -> 1360 jiffies = 5.44 s,
    // 4.024 s since the stamp: ETIMEDOUT at 4.44 s after the send.
    assert_eq!(rtx, vec![0.416, 0.856, 1.688, 3.352]);
    assert!((abort - 4.44).abs() < 1e-9, "{abort}");
    assert_near_kernel("user timeout 4 s", abort, 4.43);
}
