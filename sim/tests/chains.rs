//! Paths of several boxes (`WorldConfig::middleboxes`): a packet crosses
//! every NAT on its side of the proxy, each mapping it in turn, and what a
//! box far from a host does (a RST, a silent drop) reaches that host through
//! the boxes in between. Each test shows the box that acted in the trace.

mod common;
use common::*;
use sim::link::LinkConfig;
use sim::nat::{NatConfig, OnExpired};
use sim::oracle::BreakCause;
use sim::packet::{addr, SegmentKind};
use sim::proxy_config::{OnIdle, ProxyConfig};
use sim::socket::SocketError;
use sim::trace::{DropReason, NatRef, Place, TraceEvent};
use sim::world::{AccessLink, Middlebox};
use sim::{Fault, Instant, Side, WorldConfig};
use std::net::Ipv4Addr;
use std::time::Duration;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A NAT-like box with its own public address (198.51.100.`last`).
fn nat(idle_s: u64, on: OnExpired, last: u8) -> Middlebox {
    let mut cfg = NatConfig::new(Duration::from_secs(idle_s), on);
    cfg.public_ip = Ipv4Addr::new(198, 51, 100, last);
    Middlebox::Nat(cfg)
}

/// 20 ms each way on both access links; the client writes 500 B at 100 s.
fn world(middleboxes: Vec<Middlebox>) -> (WorldConfig, Script, Script) {
    let mut cfg = WorldConfig { horizon: Duration::from_secs(400), middleboxes, ..WorldConfig::default() };
    cfg.tcp.retries2 = 5;
    cfg.client_link = AccessLink::symmetric(LinkConfig { delay: ms(20), ..LinkConfig::default() });
    cfg.server_link = AccessLink::symmetric(LinkConfig { delay: ms(20), ..LinkConfig::default() });
    (cfg, Script::new().write_at(Instant::from_secs(100), 500, 7), Script::new())
}

fn expiries(out: &sim::Outcome, nat: NatRef) -> Vec<Instant> {
    out.trace
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::NatMappingExpired { mapping, nat: n, .. } if n == nat && !mapping.closing => Some(r.at),
            _ => None,
        })
        .collect()
}

/// Two NATs: a carrier NAT that keeps flows 600 s, then a box that forgets
/// them after 60 s and answers with RST. The server sees the second box's
/// address; the second box's RST (addressed to the first box's public port)
/// is mapped back through the first box to the client: ECONNRESET one
/// client-side round trip after the write (20 ms up, 20 ms back = 40 ms),
/// as with one NAT.
#[test]
fn a_rst_from_the_second_nat_reaches_the_client_through_the_first() {
    let (cfg, client, server) = world(vec![nat(600, OnExpired::Drop, 1), nat(60, OnExpired::Rst, 2)]);
    let (clog, slog) = (client.log(), server.log());
    let out = run(cfg, client, server);
    // The handshake crossed both: the server was reached from the second box's address.
    let first_at_server = out
        .trace
        .iter()
        .find_map(|r| match r.event {
            TraceEvent::Delivered { side: Side::Server, seg } => Some(seg),
            _ => None,
        })
        .expect("the SYN arrives");
    assert_eq!(*first_at_server.src.ip(), Ipv4Addr::new(198, 51, 100, 2));
    // The second box forgot the idle flow ~60 s after the handshake (~0.08 s); the first did not.
    let second = expiries(&out, NatRef::Chain(1));
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0] > Instant::from_secs(60) && second[0] < Instant::from_millis(60_200), "{}", second[0]);
    assert!(expiries(&out, NatRef::Chain(0)).iter().all(|&t| t > Instant::from_secs(100)), "the first box kept the flow");
    assert_eq!(out.broken, Some((second[0], BreakCause::NatExpired)));
    // The fault fired where it should: the second box answered.
    let reset = out.trace.iter().find_map(|r| match r.event {
        TraceEvent::NatReset { seg, nat } => Some((seg, nat)),
        _ => None,
    });
    let (rst, by) = reset.expect("the second box answers with RST");
    assert_eq!(by, NatRef::Chain(1));
    assert_eq!(*rst.dst.ip(), Ipv4Addr::new(198, 51, 100, 1), "addressed to the first box's mapping");
    let back = out.trace.iter().any(|r| {
        matches!(r.event, TraceEvent::Translated { before, after, nat: NatRef::Chain(0) }
            if before.kind == SegmentKind::Reset && after.dst == addr::CLIENT)
    });
    assert!(back, "the first box maps the RST back to the client");
    let err = error_at(&clog, SocketError::Reset).expect("the client is reset");
    let took = err - Instant::from_secs(100);
    assert!(took >= ms(40) && took < ms(41), "{took:?}");
    assert_eq!(message_at(&slog, 7), None, "the write never reached the server");
}

/// A NAT behind the proxy (between the proxy and the server) forgets the
/// proxy's idle backend flow after 60 s and drops what follows. The client's
/// leg is healthy: its write at 100 s reaches the proxy, which relays it
/// into the dead flow. Every copy dies at box 1: the data, the loss probe
/// and tcp_retries2 = 5 retransmissions, as in the one-NAT drop case. The
/// break is the slot's (the proxy's backend leg belongs to it), at the expiry.
#[test]
fn a_nat_behind_the_proxy_drops_the_relayed_write() {
    let proxy = Middlebox::Proxy(ProxyConfig::idle(None, OnIdle::Fin));
    let (cfg, client, server) = world(vec![proxy, nat(60, OnExpired::Drop, 1)]);
    let slog = server.log();
    let out = run(cfg, client, server);
    let expired = expiries(&out, NatRef::Chain(1));
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(out.broken, Some((expired[0], BreakCause::NatExpired)));
    let drops: Vec<_> = out
        .trace
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::Dropped { place: Place::Nat(NatRef::Chain(1)), seg, reason: DropReason::Nat(_) } => Some(seg),
            _ => None,
        })
        .collect();
    assert_eq!(drops.len(), 1 + 1 + 5, "data, loss probe and 5 retransmissions: {drops:?}");
    // They came from the proxy's address toward the server behind it.
    assert!(drops.iter().all(|s| *s.src.ip() == *addr::SERVER.ip() && *s.dst.ip() == *addr::BACKEND.ip()));
    assert_eq!(message_at(&slog, 7), None);
}

/// A chain of one NAT runs exactly as `[nat]` does: same break, same
/// packets, same number of trace records (only the box's name differs).
#[test]
fn a_chain_of_one_nat_is_the_plain_nat() {
    let one = NatConfig::new(Duration::from_secs(60), OnExpired::Rst);
    let (chain_cfg, c1, s1) = world(vec![Middlebox::Nat(one.clone())]);
    let (plain_cfg, c2, s2) = world(Vec::new());
    let plain_cfg = WorldConfig { nat: Some(one), ..plain_cfg };
    let (chain, plain) = (run(chain_cfg, c1, s1), run(plain_cfg, c2, s2));
    assert!(plain.broken.is_some());
    assert_eq!((chain.broken, chain.stats, chain.mappings_expired), (plain.broken, plain.stats, plain.mappings_expired));
    assert_eq!(chain.trace.len(), plain.trace.len());
    let named = |o: &sim::Outcome, want: NatRef| o.trace.iter().any(|r| matches!(r.event, TraceEvent::NatReset { nat, .. } if nat == want));
    assert!(named(&chain, NatRef::Chain(0)) && named(&plain, NatRef::Only));
}

/// A reboot of one box of the chain loses that box's mappings only.
#[test]
fn a_nat_reboot_names_its_box() {
    let (mut cfg, client, server) = world(vec![nat(600, OnExpired::Drop, 1), nat(600, OnExpired::Drop, 2)]);
    cfg.faults = vec![Fault::NatReboot { at: Instant::from_secs(50), middlebox: 1 }];
    let out = run(cfg, client, server);
    let rebooted: Vec<_> = out
        .trace
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::NatRebooted { lost, nat } => Some((r.at, lost, nat)),
            _ => None,
        })
        .collect();
    assert_eq!(rebooted, vec![(Instant::from_secs(50), 1, NatRef::Chain(1))]);
    assert_eq!(out.broken, Some((Instant::from_secs(50), BreakCause::NatReboot)));
}

/// What a path cannot hold is refused before anything runs.
#[test]
fn impossible_paths_are_refused() {
    let proxy = || Middlebox::Proxy(ProxyConfig::idle(None, OnIdle::Fin));
    let refused = |cfg: WorldConfig| cfg.validate().expect_err("refused").to_string();
    let (two_proxies, _, _) = world(vec![proxy(), nat(60, OnExpired::Drop, 1), proxy()]);
    assert!(refused(two_proxies).contains("two TCP-terminating proxies"));
    let (same_address, _, _) = world(vec![nat(60, OnExpired::Drop, 1), nat(60, OnExpired::Drop, 1)]);
    assert!(refused(same_address).contains("same public address"));
    let (beside, _, _) = world(vec![nat(60, OnExpired::Drop, 1)]);
    assert!(refused(WorldConfig { nat: Some(NatConfig::new(Duration::from_secs(9), OnExpired::Drop)), ..beside }).contains("beside nat"));
    let (mut reboot_proxy, _, _) = world(vec![nat(60, OnExpired::Drop, 1), proxy()]);
    reboot_proxy.faults = vec![Fault::NatReboot { at: Instant::from_secs(5), middlebox: 1 }];
    assert!(refused(reboot_proxy).contains("needs a NAT"));
}
