//! A WireGuard-style tunnel through a NAT that forgets UDP flows after 30 s:
//! the numbers follow WireGuard's timers (`drivers/net/wireguard/timers.c`):
//! a persistent keepalive N seconds after the last packet *sent*, a passive
//! keepalive 10 s after data received when nothing was sent since.

mod common;

use common::*;
use sim::nat::{NatConfig, OnExpired};
use sim::packet::SegmentKind;
use sim::trace::TraceEvent;
use sim::tunnel::TunnelConfig;
use sim::{Instant, Side, WorldConfig};
use std::time::Duration;

fn world(keepalive: Option<u64>, horizon: u64) -> WorldConfig {
    let mut nat = NatConfig::new(Duration::from_secs(350), OnExpired::Drop);
    nat.udp_idle_timeout = Duration::from_secs(30);
    nat.udp_stream_timeout = Duration::from_secs(30);
    WorldConfig {
        horizon: Duration::from_secs(horizon),
        nat: Some(nat),
        tunnel: Some(TunnelConfig { persistent_keepalive: [keepalive.map(Duration::from_secs), None], dead_after: None }),
        ..WorldConfig::default()
    }
}

#[test]
fn a_25_second_persistent_keepalive_holds_a_30_second_mapping_for_a_day() {
    // Nothing else is sent, so a keepalive goes every 25 s from the start:
    // at 25, 50, …, 86 400 s: 86 400 / 25 = 3456, and the mapping (30 s) never expires.
    let out = run(world(Some(25), 86_400), Script::new(), Script::new());
    assert_eq!(out.mappings_expired, 0);
    let ka = sent_times(&out.trace, Side::Client, SegmentKind::KeepaliveProbe);
    assert_eq!(ka.len(), 3456);
    assert_eq!(ka[0], Instant::from_secs(25));
    assert_eq!(out.stats[0].bytes_of(SegmentKind::KeepaliveProbe), 3456 * (32 + 28), "32-byte keepalives in IPv4/UDP");
    assert_eq!(out.stats[1].total_packets(), 0, "the server never needs to answer");
}

#[test]
fn without_persistent_keepalive_the_servers_pushes_stop_arriving_after_the_first_gap() {
    // The client sends its first datagram at 1 s (that opens the mapping and
    // tells the server where it is). The server pushes 100 B at 60, 120, …,
    // 600 s. The push at 60 s finds the mapping gone (opened at 1 s, idle
    // 30 s): dropped, and nothing the client sends will refresh it. With a
    // 25 s keepalive every push arrives.
    let pushes = |s: Script| (1..=10).fold(s, |s, k| s.write_at(Instant::from_secs(60 * k), 100, k));
    let client = || Script::new().write_at(Instant::from_secs(1), 50, 99);
    let out = run(world(None, 700), client(), pushes(Script::new()));
    assert_eq!(out.messages_received, [0, 1]);
    assert_eq!(out.mappings_expired, 1);
    let lost = out.trace.iter().filter(|r| matches!(r.event, TraceEvent::Dropped { .. })).count();
    assert_eq!(lost, 10, "all ten pushes dropped at the NAT");

    let out = run(world(Some(25), 700), client(), pushes(Script::new()));
    assert_eq!(out.messages_received, [10, 1]);
    assert_eq!(out.mappings_expired, 0);
    // Each push makes the client answer with a passive keepalive 10 s later
    // only if it sent nothing since; its own 25 s keepalive usually comes first.
    assert!(out.declarations.is_empty());
}
