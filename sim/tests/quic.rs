//! QUIC connections (quinn-proto) in the world: the numbers follow quinn's
//! own rules, named with the function they come from in quinn-proto 0.11
//! (`src/connection/mod.rs`):
//!
//! * `on_packet_authenticated` re-arms the keep-alive at every packet received
//!   (`reset_keep_alive`: `now + keep_alive_interval`) and the idle timer
//!   (`reset_idle_timeout`: `now + max(idle_timeout, 3 × PTO)`), and permits
//!   one more idle reset;
//! * the first ack-eliciting packet *sent* after a receipt restarts the idle
//!   timer once more (`permit_idle_reset`, in `poll_transmit`);
//! * `handle_timeout` on `Timer::Idle` ends the connection with
//!   `ConnectionError::TimedOut`.

mod common;

use common::*;
use sim::app::AppEvent;
use sim::nat::{NatConfig, OnExpired};
use sim::packet::SegmentKind;
use sim::quic::QuicConfig;
use sim::socket::SocketError;
use sim::trace::TraceEvent;
use sim::{AccessLink, Fault, Instant, Side, WorldConfig};
use std::time::Duration;

fn quic(keep_alive: Option<u64>, idle: u64) -> QuicConfig {
    QuicConfig { keep_alive: [keep_alive.map(Duration::from_secs), None], max_idle_timeout: Duration::from_secs(idle) }
}

fn link_ms(ms: u64) -> AccessLink {
    AccessLink::symmetric(sim::link::LinkConfig { delay: Duration::from_millis(ms), ..Default::default() })
}

#[test]
fn a_vanished_server_is_detected_forty_seconds_after_the_last_packet_received() {
    // Keep-alive 10 s, idle timeout 30 s, 20 ms RTT (3 × PTO ≈ 1 s < 30 s).
    // After the last receipt r the client's keep-alive PING goes at r + 10 s
    // (`reset_keep_alive`), and that first ack-eliciting send restarts the idle
    // timer: TimedOut at r + 10 + 30 = r + 40 s. Since r ∈ (vanish − 10, vanish],
    // the declaration lands 30 to 40 s after the vanish.
    let vanish = Instant::from_secs(100);
    let cfg = WorldConfig {
        horizon: Duration::from_secs(600),
        client_link: link_ms(5),
        server_link: link_ms(5),
        quic: Some(quic(Some(10), 30)),
        faults: vec![Fault::Vanish { host: Side::Server.into(), at: vanish }],
        ..WorldConfig::default()
    };
    let client = Script::new();
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let connected = log.borrow().iter().find(|(_, e)| *e == AppEvent::Connected).map(|(t, _)| *t);
    // One round trip (Initial out, the server's flight back) of 20 ms, plus
    // the time the 1 Gbit/s links take to clock out the ~1200-byte datagrams.
    let connected = connected.expect("connected").since_start().as_secs_f64();
    assert!((0.020..0.0201).contains(&connected), "connected at {connected} s");
    let r = last_delivery(&out.trace, Side::Client, vanish);
    let timed_out = error_at(&log, SocketError::TimedOut).expect("quinn's idle timeout fired");
    assert_eq!(timed_out, r + Duration::from_secs(40));
    let after = secs(timed_out, vanish);
    assert!(after > 30.0 && after <= 40.0, "{after} s after the vanish");
    // The keep-alives before the vanish are PINGs 10 s after each receipt.
    let pings = sent_times(&out.trace, Side::Client, SegmentKind::KeepaliveProbe);
    assert!(pings.len() >= 9, "a PING about every 10 s: {pings:?}");
    assert_eq!(out.broken.map(|b| b.0), Some(vanish));
}

#[test]
fn an_idle_connection_without_keep_alive_closes_at_the_idle_timeout_as_an_orderly_end() {
    // Keep-alive off: after the handshake's last packet the idle timer runs
    // out 30 s later at both ends (`reset_idle_timeout`). Nothing broke, so the
    // world marks the generation ended (an idle close), not broken.
    let cfg = WorldConfig { horizon: Duration::from_secs(300), quic: Some(quic(None, 30)), ..WorldConfig::default() };
    let client = Script::new();
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let last = last_delivery(&out.trace, Side::Client, Instant::from_secs(300));
    let timed_out = error_at(&log, SocketError::TimedOut).expect("idle timeout");
    assert_eq!(timed_out, last + Duration::from_secs(30));
    let g = out.slots[0].first().expect("a connection");
    assert!(g.idle_closed && g.broken.is_none());
    assert_eq!(g.ended_at, Some(timed_out));
    assert!(out.trace.iter().any(|r| matches!(r.event, TraceEvent::QuicIdleClose { side: Side::Client })));
}

#[test]
fn a_fifteen_second_keep_alive_holds_a_thirty_second_udp_mapping_for_a_day() {
    // The keep-alive goes 15 s after each receipt, and the receipt that
    // re-arms it is the server's ACK of the previous PING, which quinn sends
    // after its max_ack_delay (25 ms, a lone PING does not ask for an
    // immediate ACK) plus the 2 ms RTT: one PING per 15.027 s, so the flow is
    // never idle for 30 s (no expiry in 24 h) and 86 400 / 15.027 = 5749.6
    // PINGs; MTU-discovery probes every 10 min (their ACKs re-arm the timer
    // too) shift a few by milliseconds.
    let mut nat = NatConfig::new(Duration::from_secs(350), OnExpired::Drop);
    nat.udp_idle_timeout = Duration::from_secs(30);
    nat.udp_stream_timeout = Duration::from_secs(30);
    let cfg = WorldConfig {
        horizon: Duration::from_secs(24 * 3600),
        client_link: link_ms(1),
        nat: Some(nat),
        quic: Some(quic(Some(15), 30)),
        ..WorldConfig::default()
    };
    let client = Script::new();
    let log = client.log();
    let out = run(cfg, client, Script::new());
    assert_eq!(out.mappings_expired, 0);
    assert!(out.declarations.is_empty() && error_at(&log, SocketError::TimedOut).is_none());
    let pings = out.stats[0].packets_of(SegmentKind::KeepaliveProbe);
    assert!((5747..=5750).contains(&pings), "{pings} keep-alives");
}

fn rebinding_world(quic_cfg: Option<QuicConfig>) -> (sim::Outcome, Log, Log) {
    // A NAT that forgets idle flows after 30 s (TCP and UDP alike) and gives
    // a new port to the next packet (`new_port`); the client sends a message
    // every 60 s, so every message finds its mapping gone.
    let mut nat = NatConfig::new(Duration::from_secs(30), OnExpired::NewPort);
    nat.udp_idle_timeout = Duration::from_secs(30);
    nat.udp_stream_timeout = Duration::from_secs(30);
    let cfg = WorldConfig {
        horizon: Duration::from_secs(400),
        client_link: link_ms(10),
        nat: Some(nat),
        quic: quic_cfg,
        ..WorldConfig::default()
    };
    let mut client = Script::new();
    for k in 1..=5 {
        client = client.write_at(Instant::from_secs(60 * k), 100, k);
    }
    let server = Script::new();
    let (c, s) = (client.log(), server.log());
    (run(cfg, client, server), c, s)
}

#[test]
fn quic_lives_through_a_nat_rebinding_that_kills_tcp() {
    // TCP: the first message after the expiry leaves from a new public port;
    // the server has no such connection and answers RST.
    let (tcp, tcp_client, _) = rebinding_world(None);
    assert_eq!(tcp.mappings_expired, 1, "tcp expiries");
    let reset = error_at(&tcp_client, SocketError::Reset).expect("RST from the server");
    assert!(secs(reset, Instant::from_secs(60)) < 1.0);
    // Broken when the mapping expired: the handshake's ACK, sent at 20 ms (SYN and SYN-ACK
    // 10 ms each on the client's link), passes the NAT at 30 ms; plus the 30 s idle timeout.
    let (at, cause) = tcp.broken.expect("the expiry broke it");
    assert_eq!(cause, sim::oracle::BreakCause::NatExpired);
    assert!((30_030_000..30_031_000).contains(&at.since_start().as_micros()), "{at}");

    // QUIC (idle timeout 120 s > the 60 s gaps): the server validates the
    // new path and carries on (quinn's migration); every message arrives.
    let (q, q_client, q_server) = rebinding_world(Some(quic(None, 120)));
    // Each 60 s gap outlives the 30 s mapping: expiries 30 s after the handshake and after each of
    // the 5 messages (at 60 to 300 s; the last at ~330 s, before the 400 s horizon): 6.
    assert_eq!(q.mappings_expired, 6, "each 60 s gap outlives the 30 s mapping");
    let ports: std::collections::BTreeSet<u16> = q
        .trace
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::NatMappingCreated { mapping, .. } => Some(mapping.public.port()),
            _ => None,
        })
        .collect();
    // The first mapping and a new one for each of the 5 messages that found it gone.
    assert_eq!(ports.len(), 6, "a new public port after each expiry: {ports:?}");
    for k in 1..=5 {
        assert!(message_at(&q_server, k).is_some(), "message {k} arrived");
    }
    assert!(q_client.borrow().iter().all(|(_, e)| !matches!(e, AppEvent::Error(_))));
    assert!(q.broken.is_none() && q.declarations.is_empty());
}

#[test]
fn a_rebooted_server_answers_with_a_stateless_reset() {
    // The server reboots at 50 s for 10 s and loses the keep-alive PING of
    // 50.085 s; the client's loss-recovery probes back off (PTO doubling:
    // 50.15, 50.29, 50.55, 51.09, 52.15, 54.29, 58.56, 67.10 s). The rebooted
    // server kept its reset key, so the first probe after 60 s meets a
    // stateless reset the client recognises: ECONNRESET one round trip later.
    let cfg = WorldConfig {
        horizon: Duration::from_secs(300),
        client_link: link_ms(5),
        quic: Some(quic(Some(25), 120)),
        faults: vec![Fault::Reboot { host: Side::Server.into(), at: Instant::from_secs(50), duration: Duration::from_secs(10) }],
        ..WorldConfig::default()
    };
    let client = Script::new();
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let reset = error_at(&log, SocketError::Reset).expect("a stateless reset");
    let probes = sent_times(&out.trace, Side::Client, SegmentKind::LossProbe);
    assert_eq!(probes.iter().filter(|&&t| t > Instant::from_secs(50)).count(), 2 * 8, "two datagrams per PTO: {probes:?}");
    let probe = probes.iter().copied().find(|&t| t >= Instant::from_secs(60)).expect("a probe after the reboot");
    let rtt = reset - probe;
    assert!(rtt >= Duration::from_millis(10) && rtt < Duration::from_micros(10_100), "reset {rtt:?} after the probe");
    let resets = sent_times(&out.trace, Side::Server, SegmentKind::Reset);
    assert_eq!(resets.len(), 1, "one stateless reset: {resets:?}");
}

#[test]
fn quic_runs_are_byte_for_byte_deterministic() {
    let make = || {
        let cfg = WorldConfig {
            seed: 42,
            horizon: Duration::from_secs(200),
            clients: 3,
            connections_per_client: 2,
            client_link: sim::AccessLink::symmetric(sim::link::LinkConfig {
                loss: 0.05,
                delay: Duration::from_millis(30),
                ..Default::default()
            }),
            nat: Some(NatConfig::new(Duration::from_secs(30), OnExpired::NewPort)),
            quic: Some(quic(Some(20), 30)),
            trace: true,
            ..WorldConfig::default()
        };
        format!(
            "{:?}",
            sim::World::new(cfg, Box::new(Script::new().write_at(Instant::from_secs(5), 20_000, 1)), Box::new(Script::new()))
                .unwrap()
                .run()
                .trace
        )
    };
    assert_eq!(make(), make());
}

#[test]
fn a_crashed_server_closes_nothing_and_its_restart_resets_the_client() {
    // A crash kills the QUIC state with the process: no CONNECTION_CLOSE goes
    // out (UDP has no kernel state to close). The supervisor restarts it 1 s
    // later with the same reset key; the client's first packet after that (its
    // keep-alive, or a loss-recovery probe of one lost while no process
    // listened) meets a stateless reset: ECONNRESET one round trip (10 ms) after it left.
    let cfg = WorldConfig {
        horizon: Duration::from_secs(120),
        client_link: link_ms(5),
        quic: Some(quic(Some(10), 30)),
        faults: vec![Fault::Crash { host: Side::Server.into(), at: Instant::from_secs(50), restart_after: Some(Duration::from_secs(1)) }],
        ..WorldConfig::default()
    };
    let client = Script::new();
    let log = client.log();
    let out = run(cfg, client, Script::new());
    let server_sent_after_crash = out
        .trace
        .iter()
        .filter(|r| r.at >= Instant::from_secs(50))
        .filter(|r| matches!(&r.event, TraceEvent::Sent { side: Side::Server, seg } if seg.kind != SegmentKind::Reset))
        .count();
    assert_eq!(server_sent_after_crash, 0, "a crashed QUIC server says nothing");
    let reset = error_at(&log, SocketError::Reset).expect("a stateless reset after the restart");
    let ping = out
        .trace
        .iter()
        .find(|r| r.at > Instant::from_secs(51) && matches!(r.event, TraceEvent::Sent { side: Side::Client, .. }))
        .map(|r| r.at)
        .expect("the client sends after the restart");
    let rtt = reset - ping;
    assert!(rtt >= Duration::from_millis(10) && rtt < Duration::from_micros(10_100), "{rtt:?}");
    assert!(error_at(&log, SocketError::TimedOut).is_none());
}
