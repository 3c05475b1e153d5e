//! Links, NAT behaviours, host faults: each test injects a fault, shows it
//! fired (in the trace), and asserts what TCP made of it.

mod common;
use common::*;
use sim::app::AppEvent;
use sim::link::{LinkConfig, LinkDrop};
use sim::nat::{NatConfig, OnExpired};
use sim::oracle::BreakCause;
use sim::packet::{Flags, SegmentKind, DEFAULT_FRAMING_BYTES, HEADER_BYTES};
use sim::socket::{SocketError, SocketEvent};
use sim::tcp::TimerKind;
use sim::trace::{DropReason, FaultEvent, Place, TraceEvent};
use sim::world::AccessLink;
use sim::{Fault, Instant, Side, WorldConfig};
use std::time::Duration;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

#[test]
fn ping_behind_100_kib_on_56_kbit_uplink_arrives_15_3_s_later() {
    let mut cfg = WorldConfig { horizon: Duration::from_secs(60), ..WorldConfig::default() };
    cfg.client_link.up = LinkConfig { rate_bps: 56_000, ..LinkConfig::default() };
    let t0 = Instant::from_secs(1);
    let client = Script::new().write_at(t0, 100 * 1024, 1).write_at(t0, 4, 2);
    let server = Script::new();
    let log = server.log();
    let out = run(cfg, client, server);
    let arrived = message_at(&log, 2).expect("ping arrives");
    // Both writes sit in the send buffer before the tail is segmented, so the
    // 102 404 bytes go out in 71 segments (70 × 1448 + 1044), each with 52 bytes
    // of IP/TCP/timestamps and 14 of Ethernet: (102 404 + 71 × 66) · 8 / 56 000
    // = 15.2986 s of serialisation. (A ping in a 72nd segment would be 15.3080 s;
    // the kernel measured 15.31 s.)
    let wire_bytes = 102_400 + 4 + 71 * u64::from(HEADER_BYTES + DEFAULT_FRAMING_BYTES);
    let expected = wire_bytes as f64 * 8.0 / 56_000.0;
    let took = secs(arrived, t0);
    assert!((took - expected).abs() < 0.005, "took {took:.4} s, serialisation alone {expected:.4} s");
    assert_near_kernel("100 KiB + ping over 56 kbit/s", took, 15.31);
    // Nothing was sent twice: the slow link was never idle and never wasted.
    assert_eq!(out.stats[0].packets_of(SegmentKind::Retransmit), 0);
}

/// A client behind a 60 s NAT that writes at 100 s, after the mapping expired.
fn nat_case(on: OnExpired) -> (Outcome3, WorldConfig) {
    let mut cfg =
        WorldConfig { horizon: Duration::from_secs(400), nat: Some(NatConfig::new(Duration::from_secs(60), on)), ..WorldConfig::default() };
    cfg.tcp.retries2 = 5;
    cfg.client_link = AccessLink::symmetric(LinkConfig { delay: ms(20), ..LinkConfig::default() });
    cfg.server_link = AccessLink::symmetric(LinkConfig { delay: ms(20), ..LinkConfig::default() });
    let client = Script::new().write_at(Instant::from_secs(100), 500, 7);
    let server = Script::new();
    let (clog, slog) = (client.log(), server.log());
    let out = run(cfg.clone(), client, server);
    ((out, clog, slog), cfg)
}
type Outcome3 = (sim::Outcome, Log, Log);

fn nat_expired_at(out: &sim::Outcome) -> Instant {
    out.trace.iter().find(|r| matches!(r.event, TraceEvent::NatMappingExpired { .. })).expect("the mapping expired").at
}

#[test]
fn nat_drop_retransmissions_die_at_the_give_up_time() {
    let ((out, clog, slog), cfg) = nat_case(OnExpired::Drop);
    // Established at ~0.08 s (two 40 ms round trips' worth of handshake), idle
    // for 60 s: the mapping expires at the last packet + 60 s.
    let expired = nat_expired_at(&out);
    assert!(expired > Instant::from_secs(60) && expired < Instant::from_millis(60_200), "{expired}");
    assert_eq!(out.broken, Some((expired, BreakCause::NatExpired)));
    let err = error_at(&clog, SocketError::TimedOut).expect("retransmissions give up");
    let rtx = sent_times(&out.trace, Side::Client, SegmentKind::Retransmit);
    assert_eq!(rtx.len(), 5, "tcp_retries2 = 5");
    // Give-up: the first RTO expiry at least tcp_model_timeout(5) = 12.6 s after
    // the first retransmission; the expiry before it was short of that.
    let bound = cfg.tcp.model_timeout(5, ms(200));
    assert!(err - rtx[0] >= bound && rtx[4] - rtx[0] < bound, "{:?} {:?}", err - rtx[0], rtx[4] - rtx[0]);
    // Every copy died at the NAT: the server never heard a thing.
    let nat_drops = out.trace.iter().filter(|r| matches!(r.event, TraceEvent::Dropped { place: Place::Nat(_), .. })).count();
    assert_eq!(nat_drops, 1 + 1 + 5, "data, loss probe and 5 retransmissions");
    assert_eq!(message_at(&slog, 7), None);
}

#[test]
fn nat_rst_resets_the_client_within_one_round_trip() {
    let ((out, clog, _), _) = nat_case(OnExpired::Rst);
    let err = error_at(&clog, SocketError::Reset).expect("the NAT's RST is accepted");
    // Client -> NAT is 20 ms (+ serialisation), and the RST comes straight back:
    // one client-side round trip, 40 ms, well under a full end-to-end RTT (80 ms).
    let took = err - Instant::from_secs(100);
    assert!(took >= ms(40) && took < ms(41), "{took:?}");
    assert_eq!(out.broken.map(|b| b.1), Some(BreakCause::NatExpired));
}

#[test]
fn nat_new_port_the_server_answers_rst_and_the_client_sees_econnreset() {
    let ((out, clog, slog), _) = nat_case(OnExpired::NewPort);
    let err = error_at(&clog, SocketError::Reset).expect("reset");
    // A full round trip to the server and back: 4 × 20 ms.
    let took = err - Instant::from_secs(100);
    assert!(took >= ms(80) && took < ms(81), "{took:?}");
    let server_rsts = sent_times(&out.trace, Side::Server, SegmentKind::Reset);
    assert_eq!(server_rsts.len(), 1, "the server's stack answered the unknown port");
    let recreated: Vec<_> = out
        .trace
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::NatMappingCreated { mapping, recreated: true, .. } => Some(mapping.public.port()),
            _ => None,
        })
        .collect();
    assert_eq!(recreated.len(), 1);
    assert_ne!(recreated[0], 40000, "a new public port");
    // The server's own socket never learned anything: half-open.
    assert!(slog.borrow().iter().all(|(_, e)| !matches!(e, AppEvent::Error(_))));
}

#[test]
fn nat_loose_the_connection_survives_and_the_data_arrives() {
    let ((out, clog, slog), _) = nat_case(OnExpired::Loose);
    let at = message_at(&slog, 7).expect("data arrives");
    assert!(at - Instant::from_secs(100) < ms(41), "one way: {:?}", at - Instant::from_secs(100));
    assert!(clog.borrow().iter().all(|(_, e)| !matches!(e, AppEvent::Error(_))));
    assert_eq!(out.broken, None, "loose re-pickup is not a break");
    assert_eq!(out.mappings_expired, 2, "expired after the handshake, and again after the write");
}

#[test]
fn reboot_is_answered_with_rst_on_the_next_segment() {
    let cfg = WorldConfig {
        horizon: Duration::from_secs(120),
        faults: vec![Fault::Reboot { host: Side::Server.into(), at: Instant::from_secs(10), duration: Duration::from_secs(30) }],
        client_link: AccessLink::symmetric(LinkConfig { delay: ms(10), ..LinkConfig::default() }),
        ..WorldConfig::default()
    };
    let client = Script::new().write_at(Instant::from_secs(60), 100, 1);
    let clog = client.log();
    let out = run(cfg, client, Script::new());
    assert_eq!(out.broken, Some((Instant::from_secs(10), BreakCause::Reboot(Side::Server))));
    // 10 ms out, the rebooted stack answers at once, 10 ms back.
    let err = error_at(&clog, SocketError::Reset).expect("ECONNRESET");
    let took = err - Instant::from_secs(60);
    assert!(took >= ms(20) && took < ms(21), "{took:?}");
    // The data reached the rebooted server 10 ms after it left; the RST left at once.
    let rst = sent_times(&out.trace, Side::Server, SegmentKind::Reset);
    assert_eq!(rst.len(), 1);
    assert!(rst[0] - Instant::from_secs(60) >= ms(10) && rst[0] - Instant::from_secs(60) < ms(11));
}

#[test]
fn suspend_freezes_timers_and_resumes_with_state() {
    let cfg = WorldConfig {
        horizon: Duration::from_secs(400),
        faults: vec![Fault::Suspend { host: Side::Server.into(), at: Instant::from_secs(10), duration: Duration::from_secs(100) }],
        ..WorldConfig::default()
    };
    // The server probes after 30 s idle; the client writes during the suspension.
    let server = Script::new().keepalive(30, 5, 3);
    let slog = server.log();
    let client = Script::new().write_at(Instant::from_secs(50), 1000, 1);
    let clog = client.log();
    let out = run(cfg, client, server);
    let fired: Vec<Instant> = out
        .trace
        .iter()
        .filter(|r| matches!(r.event, TraceEvent::TimerFired { side: Side::Server, timer: TimerKind::Keepalive, .. }))
        .map(|r| r.at)
        .collect();
    // Keepalive armed at local jiffy 0 for 30 s = 7500 jiffies (wheel level 3,
    // granularity 512): ((7500 >> 9) + 1) << 9 = 7680 jiffies = 30.72 s. Frozen
    // from 10 to 110 s, the host's clock lost 100 s: it fires at 130.72 s.
    assert!(!fired.iter().any(|t| *t >= Instant::from_secs(10) && *t < Instant::from_secs(110)), "{fired:?}");
    assert_eq!(fired.first(), Some(&Instant::from_millis(130_720)));
    // Packets sent to the frozen host were dropped there...
    let dropped = out.trace.iter().filter(|r| matches!(r.event, TraceEvent::Dropped { reason: DropReason::HostSuspended, .. })).count();
    assert!(dropped >= 5, "{dropped}");
    // ... and the retransmission after the resume delivered the message once.
    let at = out.trace.iter().find(|r| matches!(r.event, TraceEvent::AppMessage { side: Side::Server, .. })).expect("delivered").at;
    assert!(at >= Instant::from_secs(110), "{at}");
    // The application sees its own clock, which stood still for 100 s.
    assert_eq!(message_at(&slog, 1), Some(at - Duration::from_secs(100)));
    assert_eq!(out.messages_received, [0, 1]);
    assert!(clog.borrow().iter().chain(slog.borrow().iter()).all(|(_, e)| !matches!(e, AppEvent::Error(_))));
    assert_eq!(out.broken, None);
}

#[test]
fn outage_shorter_than_give_up_recovers_every_byte_once_in_order() {
    let cfg = WorldConfig {
        horizon: Duration::from_secs(600),
        faults: vec![Fault::Outage { link: Side::Client.into(), at: Instant::from_secs(60), duration: Duration::from_secs(30) }],
        client_link: AccessLink::symmetric(LinkConfig { rate_bps: 1_000_000, delay: ms(25), ..LinkConfig::default() }),
        ..WorldConfig::default()
    };
    let mut client = Script::new();
    for i in 0..60u64 {
        client = client.write_at(Instant::from_secs(40 + i), 3000, i);
    }
    let server = Script::new();
    let slog = server.log();
    let out = run(cfg, client, server);
    let outage_drops =
        out.trace.iter().filter(|r| matches!(r.event, TraceEvent::Dropped { reason: DropReason::Link(LinkDrop::Outage), .. })).count();
    assert!(outage_drops > 0, "the outage fired");
    assert!(out.trace.iter().any(|r| r.event == TraceEvent::Fault(FaultEvent::OutageStart(Side::Client))));
    let tags: Vec<u64> = slog
        .borrow()
        .iter()
        .filter_map(|(_, e)| match e {
            AppEvent::Message { tag, .. } => Some(*tag),
            _ => None,
        })
        .collect();
    assert_eq!(tags, (0..60).collect::<Vec<_>>());
    assert_eq!(out.broken, None);
    assert!(out.declarations.is_empty());
}

/// Both access links 2 Mbit/s with 30 ms of delay each way, and one fault.
fn two_mbit_30ms(horizon: Duration, fault: Fault) -> WorldConfig {
    let link = LinkConfig { rate_bps: 2_000_000, delay: ms(30), ..LinkConfig::default() };
    WorldConfig {
        horizon,
        client_link: AccessLink::symmetric(link.clone()),
        server_link: AccessLink::symmetric(link),
        faults: vec![fault],
        ..WorldConfig::default()
    }
}

#[test]
fn a_repeated_syn_is_answered_with_the_syn_ack_again() {
    // The server's SYN-ACK is lost (client link down 50–100 ms). The client's
    // SYN retransmission (1.024 s: 1 s on a 32 ms wheel bucket) reaches the
    // server after 60.592 ms (2 × (a 74 B SYN frame — 60 B of IP/TCP with
    // options + 14 B framing — at 2 Mbit/s = 296 µs, + 30 ms)), at 1.084592 s.
    // Linux (tcp_check_req → inet_rtx_syn_ack) answers it with the SYN-ACK
    // again, which reaches the client at 1.145184 s — before the server's own
    // SYN-ACK retransmission (1.088 s) could (1.148592 s). The old model
    // answered with a bare ACK, which a client in SYN-SENT discards.
    let cfg =
        two_mbit_30ms(Duration::from_secs(10), Fault::Outage { link: Side::Client.into(), at: Instant::from_millis(50), duration: ms(50) });
    let client = Script::new();
    let clog = client.log();
    let out = run(cfg, client, Script::new());
    let synack_lost = out.trace.iter().any(|r| {
        matches!(r.event, TraceEvent::Dropped { seg, reason: DropReason::Link(LinkDrop::Outage), .. } if seg.flags.contains(Flags::SYN | Flags::ACK))
    });
    assert!(synack_lost, "the outage took the first SYN-ACK");
    let answer = out
        .trace
        .iter()
        .find(|r| matches!(r.event, TraceEvent::Sent { side: Side::Server, .. }) && r.at == Instant::from_nanos(1_084_592_000))
        .expect("the server answers the repeated SYN at once");
    let TraceEvent::Sent { seg, .. } = answer.event else { unreachable!() };
    assert_eq!(seg.flags, Flags::SYN | Flags::ACK);
    assert_eq!(clog.borrow().first(), Some(&(Instant::from_nanos(1_145_184_000), AppEvent::Connected)));
}

#[test]
fn a_server_forgets_a_half_open_connection_after_five_syn_acks() {
    // The SYN-ACK reaches the client at 0.121184 s (2 × 60.592 ms); the client
    // link goes down at 0.122 s for 100 s, so the client is connected but its
    // ACK and data never arrive. Linux's request timer (reqsk_timer_handler,
    // tcp_synack_retries = 5) resends the SYN-ACK 1, 3, 7, 15, 31 s after the
    // first and drops the request at 63 s. On the HZ-250 wheel, armed from the
    // SYN's arrival at 0.060592 s: 1.0606 → 1.088 (32 ms buckets), 3.088 →
    // 3.104 (32 ms), 7.104 → 7.168, 15.168 → 15.360, 31.360 → 31.488 (256 ms),
    // 63.488 → 65.536 (2.048 s). The application was never told of it; the
    // listener remains, and the client's first retransmission after the outage
    // meets a RST.
    let cfg = two_mbit_30ms(
        Duration::from_secs(300),
        Fault::Outage { link: Side::Client.into(), at: Instant::from_millis(122), duration: Duration::from_secs(100) },
    );
    let client = Script::new().write_at(Instant::from_millis(50), 100, 1);
    let clog = client.log();
    let server = Script::new();
    let slog = server.log();
    let out = run(cfg, client, server);
    let server_sends: Vec<(u64, Flags)> = out
        .trace
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::Sent { side: Side::Server, seg } => Some((r.at.since_start().as_micros() as u64, seg.flags)),
            _ => None,
        })
        .collect();
    let syn_ack = Flags::SYN | Flags::ACK;
    assert_eq!(
        server_sends[..6],
        [(60_592, syn_ack), (1_088_000, syn_ack), (3_104_000, syn_ack), (7_168_000, syn_ack), (15_360_000, syn_ack), (31_488_000, syn_ack)]
    );
    let gave_up =
        out.trace.iter().rfind(|r| matches!(r.event, TraceEvent::TimerFired { side: Side::Server, timer: TimerKind::Retransmit, .. }));
    assert_eq!(gave_up.map(|r| r.at), Some(Instant::from_millis(65_536)), "the sixth expiry drops the request");
    let dropped = out.trace.iter().find(|r| r.event == TraceEvent::Socket { side: Side::Server, event: SocketEvent::HalfOpenDropped });
    assert_eq!(dropped.map(|r| r.at), Some(Instant::from_millis(65_536)));
    // Then silence until the client's data arrives after the outage, answered with RST.
    let (rst_at, rst) = server_sends[6];
    assert_eq!(rst, Flags::RST);
    assert!(rst_at > 100_122_000, "after the outage, at {rst_at} µs");
    assert_eq!(server_sends.len(), 7);
    assert!(slog.borrow().is_empty(), "the server application never saw the connection: {:?}", slog.borrow());
    let log = clog.borrow();
    assert_eq!(log[0], (Instant::from_nanos(121_184_000), AppEvent::Connected));
    assert_eq!(log.last().map(|e| e.1), Some(AppEvent::Error(SocketError::Reset)));
}
