//! The TCP endpoint driven by hand, sans IO: two endpoints, segments passed
//! (or lost) between them by the test, time advanced explicitly. These pin
//! rules that only show when the two ends disagree about what was received.

use sim::packet::{addr, Flags, Segment, SegmentKind};
use sim::tcp::{TcpConfig, TcpEndpoint, TcpState};
use sim::timer::TimerModel;
use sim::Instant;

const MSS: u64 = 1448;

fn cfg() -> TcpConfig {
    // Exact timers and no tail-loss probe: the first timer after the data is
    // the RTO, at a time this file can state.
    TcpConfig { timers: TimerModel::Exact, tail_loss_probe: false, ..TcpConfig::default() }
}

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

fn drain(ep: &mut TcpEndpoint, now: Instant) -> Vec<Segment> {
    std::iter::from_fn(|| ep.poll_transmit(now)).collect()
}

fn deliver(ep: &mut TcpEndpoint, now: Instant, segs: &[Segment]) {
    for s in segs {
        ep.handle_segment(now, s);
    }
}

/// A connected pair, 10 ms apart one way; returns them at t = 20 ms.
fn connected() -> (TcpEndpoint, TcpEndpoint) {
    let mut c = TcpEndpoint::client(cfg(), addr::CLIENT, addr::SERVER, 1000);
    let mut s = TcpEndpoint::server(cfg(), addr::SERVER, 5000);
    c.connect(ms(0));
    let syn = drain(&mut c, ms(0));
    deliver(&mut s, ms(10), &syn);
    let syn_ack = drain(&mut s, ms(10));
    deliver(&mut c, ms(20), &syn_ack);
    let ack = drain(&mut c, ms(20));
    deliver(&mut s, ms(30), &ack);
    assert_eq!((c.state(), s.state()), (TcpState::Established, TcpState::Established));
    (c, s)
}

#[test]
fn after_going_back_an_ack_carries_the_highest_sequence_sent() {
    let (mut c, mut s) = connected();
    // Both ends send three segments at once; all six arrive, every ACK is lost.
    c.write(3 * MSS);
    s.write(3 * MSS);
    let from_client = drain(&mut c, ms(100));
    let from_server = drain(&mut s, ms(100));
    assert_eq!((from_client.len(), from_server.len()), (3, 3));
    deliver(&mut s, ms(110), &from_client);
    deliver(&mut c, ms(110), &from_server);
    drain(&mut s, ms(110));
    drain(&mut c, ms(110));
    // Each RTO goes back to its first segment: snd_nxt = ISN + 1 + 1448,
    // while the highest sequence sent is ISN + 1 + 3·1448.
    for ep in [&mut c, &mut s] {
        let at = ep.poll_timeout().expect("RTO armed");
        ep.handle_timeout(at, |_, _| {});
    }
    let at = ms(2000);
    let again = drain(&mut c, at);
    assert_eq!(again.len(), 1, "cwnd = 1 MSS after an RTO");
    assert_eq!((again[0].seq, again[0].kind), (1001, SegmentKind::Retransmit));
    drain(&mut s, at);
    // The client's retransmission is old news to the server, which answers
    // with a duplicate ACK. Its sequence number is Linux's
    // tcp_acceptable_seq: snd_nxt, which never goes back — our snd_max.
    deliver(&mut s, at, &again);
    let dup = drain(&mut s, at);
    assert_eq!(dup.len(), 1);
    assert_eq!((dup[0].seq, dup[0].len, dup[0].ack), (5001 + 3 * MSS, 0, 1001 + 3 * MSS));
    // So the client, which has the server's bytes up to 5001 + 3·1448, accepts
    // it and learns all its data arrived. Stamped with the go-back pointer
    // (5001 + 1448) it would be out of window: answered with another
    // duplicate ACK, its acknowledgement ignored — by both ends, for ever.
    deliver(&mut c, at, &dup);
    assert_eq!(c.acked_bytes(), 3 * MSS);
}

#[test]
fn out_of_window_empty_segments_are_answered_at_most_every_500_ms() {
    let (_, mut s) = connected();
    // A pure ACK below the server's rcv_nxt (1001): out of window.
    let stale = Segment {
        src: addr::CLIENT,
        dst: addr::SERVER,
        seq: 990,
        ack: 5001,
        flags: Flags::ACK,
        len: 0,
        window: 65_535,
        tsval: 1,
        tsecr: 0,
        kind: SegmentKind::Ack,
        sender: Segment::NO_SENDER,
        proto: sim::packet::Proto::Tcp,
        payload: Segment::NO_PAYLOAD,
    };
    let mut answered = Vec::new();
    // At 1000, 1100, …, 2900 ms: tcp_invalid_ratelimit (500 ms) lets through
    // the ones at 1000, 1500, 2000 and 2500 ms.
    for t in (1000..3000).step_by(100) {
        s.handle_segment(ms(t), &stale);
        if !drain(&mut s, ms(t)).is_empty() {
            answered.push(t);
        }
    }
    assert_eq!(answered, [1000, 1500, 2000, 2500]);
}

/// Linux `tcp_rcv_state_process` in FIN_WAIT1/2: once the application has
/// closed the socket, new data is answered with RST (TCPAbortOnData) and the
/// socket is gone; the RST carries the data's acknowledgement number as its
/// sequence (`tcp_v4_send_reset` for a segment with ACK).
#[test]
fn data_reaching_a_socket_its_application_closed_is_answered_with_rst() {
    let (mut c, mut s) = connected();
    s.close();
    let fin = drain(&mut s, ms(40));
    assert_eq!(fin.len(), 1);
    assert!(fin[0].flags.contains(Flags::FIN));
    // The client writes before the FIN arrives: its 200 bytes cross it.
    c.write(200);
    let data = drain(&mut c, ms(41));
    assert_eq!((data.len(), data[0].len), (1, 200));
    deliver(&mut s, ms(51), &data);
    let answer = drain(&mut s, ms(51));
    assert_eq!(answer.len(), 1);
    assert_eq!((answer[0].flags, answer[0].seq, answer[0].kind), (Flags::RST, data[0].ack, SegmentKind::Reset));
    assert_eq!(s.state(), TcpState::Closed);
    // A pure ACK (no new data) to a closed-by-the-application socket is not a reason to reset.
    let (mut c, mut s) = connected();
    s.close();
    let fin = drain(&mut s, ms(40));
    deliver(&mut c, ms(50), &fin);
    let ack = drain(&mut c, ms(50));
    deliver(&mut s, ms(60), &ack);
    assert!(drain(&mut s, ms(60)).iter().all(|seg| !seg.flags.contains(Flags::RST)));
}

/// `tcp_write_timeout` counts during the handshake: with `tcp_syn_retries =
/// 2` an unanswered connect sends SYNs at 0, 1 and 3 s (initial RTO 1 s,
/// doubling) and gives up when the timer after the second retransmission
/// fires, at 7 s — whatever the clock since the first retransmission says
/// (it would say only 6 s, under the 7 s of `tcp_model_timeout(2, 1 s)`).
/// `kasim calibrate` holds this to the kernel (7.13 s there, on its wheel).
#[test]
fn a_connect_gives_up_after_syn_retries_retransmissions() {
    // `unanswered_connect` checks the socket ends with ETIMEDOUT.
    let (syns, gave_up) = unanswered_connect(TcpConfig { syn_retries: 2, ..cfg() }, 60_000);
    assert_eq!(gave_up, Some(7_000));
    assert_eq!(syns, [0, 1_000, 3_000]);
}

/// Drive an unanswered connect (with `user_timeout`, if any) until it gives
/// up or `limit_ms` passes; the SYNs' send times and the give-up, in ms.
fn unanswered_connect_with(cfg: TcpConfig, user_timeout: Option<std::time::Duration>, limit_ms: u64) -> (Vec<u64>, Option<u64>) {
    let mut c = TcpEndpoint::client(cfg, addr::CLIENT, addr::SERVER, 1000);
    c.set_user_timeout(user_timeout);
    c.connect(ms(0));
    let syn_count = |segs: Vec<Segment>| segs.iter().filter(|s| s.flags.contains(Flags::SYN)).count();
    let mut syns = vec![0; syn_count(drain(&mut c, ms(0)))];
    while let Some(at) = c.poll_timeout().filter(|t| *t <= ms(limit_ms)) {
        c.handle_timeout(at, |_, _| {});
        let at_ms = at.as_nanos() / 1_000_000;
        if c.state() == TcpState::Closed {
            assert_eq!(c.poll_event(), Some(sim::socket::SocketEvent::Error(sim::socket::SocketError::TimedOut)));
            return (syns, Some(at_ms));
        }
        syns.extend(std::iter::repeat_n(at_ms, syn_count(drain(&mut c, at))));
    }
    (syns, None)
}

fn unanswered_connect(cfg: TcpConfig, limit_ms: u64) -> (Vec<u64>, Option<u64>) {
    unanswered_connect_with(cfg, None, limit_ms)
}

/// Linux 6.5+ (`tcp_syn_linear_timeouts = 4`, its default): the RTO stays at
/// 1 s until a connect's fifth retransmission has gone (`total_rto` > 4),
/// then doubles: SYNs at 0, 1, 2, 3, 4, 5, 7 s. With `syn_retries = 2` the
/// connect gives up once `tcp_model_timeout(2, 1 s)` = 1 + 2 + 4 = 7 s have
/// passed since the first SYN — at the timer of 7 s, instead of sending a
/// seventh SYN (the count, 2 + 4 = 6 retransmissions, is not reached:
/// 5 were sent). Measured on Linux 6.18: SYNs at 0, 1.03, 2.05, 3.08, 4.10,
/// 5.13 s, ETIMEDOUT at 7.12 s (`kasim calibrate` holds the give-up).
#[test]
fn linear_syn_timeouts_resend_every_second_then_back_off() {
    let linear = TcpConfig { syn_retries: 2, syn_linear_timeouts: 4, ..cfg() };
    assert_eq!(unanswered_connect(linear, 60_000), (vec![0, 1_000, 2_000, 3_000, 4_000, 5_000], Some(7_000)));
    // The default syn_retries = 6: 6 + 4 = 10 retransmissions (at 1, 2, 3,
    // 4, 5, 7, 11, 19, 35, 67 s); the timer after the tenth, at 67 + 64 =
    // 131 s, finds both the count reached and 131 s >= tcp_model_timeout(6)
    // = 127 s. (Measured elsewhere on 6.12: 11 SYNs, the last at ~68 s,
    // ETIMEDOUT at 133-135 s.)
    let default = TcpConfig { syn_linear_timeouts: 4, ..cfg() };
    let (syns, gave_up) = unanswered_connect(default, 300_000);
    let secs: Vec<u64> = syns.iter().map(|ms| ms / 1000).collect();
    assert_eq!(secs, [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    assert_eq!(gave_up, Some(131_000));
    // Without linear timeouts (kasim v1, Linux before 6.5): 1 + 2 + ... + 64.
    assert_eq!(unanswered_connect(cfg(), 300_000).1, Some(127_000));
}

/// With TCP_USER_TIMEOUT set, Linux's `retransmits_timed_out` does not use
/// `tcp_model_timeout`: a linear-timeout connect with `syn_retries = 2` and
/// a 30 s user timeout gives up by count, after 2 + 4 = 6 retransmissions
/// (SYNs at 0, 1, 2, 3, 4, 5, 7 s; the timer after the sixth at 7 + 4 = 11 s),
/// not at 7 s.
#[test]
fn with_a_user_timeout_a_linear_connect_gives_up_by_count() {
    let linear = TcpConfig { syn_retries: 2, syn_linear_timeouts: 4, ..cfg() };
    let (syns, gave_up) = unanswered_connect_with(linear, Some(std::time::Duration::from_secs(30)), 60_000);
    assert_eq!(syns, [0, 1_000, 2_000, 3_000, 4_000, 5_000, 7_000]);
    assert_eq!(gave_up, Some(11_000));
}

/// TCP_USER_TIMEOUT on a connect counts from the first SYN (Linux's
/// `tcp_connect` stamps `retrans_stamp` there): `syn_retries = 6`, a 20 s user
/// timeout, exact timers: SYNs at 0, 1, 3, 7, 15 s; the RTO after the one at
/// 15 s (16 s) is clamped to the 5 s left, and the timer at 20 s gives up —
/// 20 s after the first SYN, not 21 s (one initial RTO late, as when the
/// clock started at the first retransmission).
#[test]
fn a_connects_user_timeout_counts_from_the_first_syn() {
    let (syns, gave_up) = unanswered_connect_with(cfg(), Some(std::time::Duration::from_secs(20)), 60_000);
    assert_eq!(syns, [0, 1_000, 3_000, 7_000, 15_000]);
    assert_eq!(gave_up, Some(20_000));
}

/// Other operating systems' connects ([`sim::tcp::Os`]). Windows (its
/// documented TcpInitialRTT 3 s and TcpMaxConnectRetransmissions 2): SYNs at
/// 0, 3 and 9 s, and after the last "TCP/IP waits for an interval equal to
/// double the last delay": ETIMEDOUT at 9 + 12 = 21 s (what GitHub's Windows
/// runners measured, 21.0 s). macOS/iOS (XNU's tcp_syn_backoff {1, 1, 1, 1,
/// 1, 2, 4, 8, 16, 32, 64, ...} from a 1 s RTO): SYNs at 0, 1, 2, 3, 4, 5, 7,
/// 11, 19, 35, 67 s, and TCPTV_KEEP_INIT drops the connect at 75 s, before
/// its next SYN (131 s).
#[test]
fn windows_and_xnu_connects_give_up_at_21_s_and_75_s() {
    let (syns, gave_up) = unanswered_connect(sim::tcp::Os::Windows.tcp_config(&cfg()), 300_000);
    assert_eq!((syns, gave_up), (vec![0, 3_000, 9_000], Some(21_000)));
    let (syns, gave_up) = unanswered_connect(sim::tcp::Os::Macos.tcp_config(&cfg()), 300_000);
    let secs: Vec<u64> = syns.iter().map(|ms| ms / 1000).collect();
    assert_eq!(secs, [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    assert_eq!(gave_up, Some(75_000));
}

/// A connected pair on `cfg`; the client writes at 100 ms and the server is
/// gone: when the client's retransmissions give up (ms), and its RTO before
/// any backoff.
fn data_give_up(cfg: TcpConfig) -> (u64, std::time::Duration) {
    let mut c = TcpEndpoint::client(cfg.clone(), addr::CLIENT, addr::SERVER, 1000);
    let mut s = TcpEndpoint::server(cfg, addr::SERVER, 5000);
    c.connect(ms(0));
    let syn = drain(&mut c, ms(0));
    deliver(&mut s, ms(10), &syn);
    let syn_ack = drain(&mut s, ms(10));
    deliver(&mut c, ms(20), &syn_ack);
    drain(&mut c, ms(20));
    c.write(100);
    drain(&mut c, ms(100));
    let base = c.rto();
    while let Some(at) = c.poll_timeout().filter(|t| *t <= ms(3_600_000)) {
        c.handle_timeout(at, |_, _| {});
        drain(&mut c, at);
        if c.state() == TcpState::Closed {
            let last = std::iter::from_fn(|| c.poll_event()).last();
            assert_eq!(last, Some(sim::socket::SocketEvent::Error(sim::socket::SocketError::TimedOut)));
            return (at.as_nanos() / 1_000_000, base);
        }
    }
    panic!("never gave up");
}

/// Established give-ups by count. The handshake's 20 ms sample makes srtt
/// 20 ms and rttvar 10 ms (RFC 6298's first sample), so the RTO is
/// srtt + max(4 rttvar, min RTO):
/// - Windows (MinRto 300 ms): 320 ms; TcpMaxDataRetransmissions 5 with a
///   doubling RTO gives up at the timer after the fifth: 320 ms x (1 + 2 +
///   4 + 8 + 16 + 32) = 20.16 s after the write at 0.1 s: 20.26 s.
/// - XNU (t_rttmin 30 ms): 60 ms, and each RTO is min(60 ms x tcp_backoff[k]
///   plus 200 ms slop, 64 s) over 13 expiries: 260 + 320 + 440 + 680 +
///   1160 + 2120 + 7 x 4040 = 33 260 ms after the write: 33.36 s.
/// - Linux: tcp_retries2 = 15 as time: tcp_model_timeout(15, 200 ms) =
///   924.6 s since the first retransmission (at 0.1 + 0.22 = 0.32 s), seen
///   at the first expiry past it. From there the RTOs are 0.44, 0.88, ...,
///   112.64 s, then 120 s each: expiries 0.44, 1.32, 3.08, 6.6, 13.64,
///   27.72, 55.88, 112.2, 224.84, 344.84, ..., 824.84, 944.84 s after it;
///   the give-up at 0.32 + 944.84 = 945.16 s.
#[test]
fn windows_and_xnu_give_up_by_count_where_linux_gives_up_by_time() {
    let (windows, rto) = data_give_up(sim::tcp::Os::Windows.tcp_config(&cfg()));
    assert_eq!((windows, rto), (20_260, std::time::Duration::from_millis(320)));
    let (xnu, rto) = data_give_up(sim::tcp::Os::Macos.tcp_config(&cfg()));
    // The RTO it reports includes the slop: 60 + 200 ms.
    assert_eq!((xnu, rto), (33_360, std::time::Duration::from_millis(260)));
    let (linux, rto) = data_give_up(cfg());
    assert_eq!((linux, rto), (945_160, std::time::Duration::from_millis(220)));
}
