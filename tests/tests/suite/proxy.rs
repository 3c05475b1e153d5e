//! A TCP-terminating proxy (an ALB-like load balancer) between the clients
//! and the server. Links are 10 ms each way (the proxy's own link is instant):
//! the client's handshake with the proxy completes at 30 ms, when the proxy
//! opens its own connection to the server (SYN at 30 ms, established at the
//! server at 60 ms).

use crate::common::ms;
use harness::record::RunRecord;
use harness::runner;
use harness::scenario::Scenario;
use harness::summary::RunSummary;
use sim::oracle::Verdict;
use sim::packet::{addr, Flags, SegmentKind};
use sim::trace::TraceEvent;
use sim::{Instant, Side};

fn scenario(extra: &str) -> Scenario {
    let src = format!(
        r#"
name = "alb"
horizon = "10m"
[client.link]
delay = "10ms"
[server.link]
delay = "10ms"
[[traffic]]
kind = "requests"
from = "client"
at = "30s"
size = "200B"
reply = "1KiB"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
sides = ["client"]
idle = "20s"
interval = "5s"
count = 3
[[strategy]]
name = "ping"
kind = "app_ping"
sides = ["client"]
interval = "20s"
timeout = "5s"
{extra}
"#
    );
    crate::common::inline(&src)
}

/// (time in ms, sender address) of every segment of `kind` put on a wire.
fn sent(r: &RunRecord, kind: SegmentKind) -> Vec<(u64, std::net::SocketAddrV4)> {
    r.outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::Sent { seg, .. } if seg.kind == kind => Some((ms(t.at), seg.src)),
            _ => None,
        })
        .collect()
}

/// (time in ms, sender address) of every segment with FIN put on a wire.
fn fins(r: &RunRecord) -> Vec<(u64, std::net::SocketAddrV4)> {
    r.outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::Sent { seg, .. } if seg.flags.contains(Flags::FIN) => Some((ms(t.at), seg.src)),
            _ => None,
        })
        .collect()
}

/// Segments of `kind` that reached the server itself (behind the proxy, at the backend address).
fn delivered_to_server(r: &RunRecord, kind: SegmentKind) -> usize {
    r.outcome
        .trace
        .iter()
        .filter(|t| matches!(t.event, TraceEvent::Delivered { seg, .. } if seg.kind == kind && seg.dst == addr::BACKEND))
        .count()
}

/// The client's keepalive probes end at the proxy: it answers them, and the
/// server never sees one. The first probe: armed at connection (20 ms = jiffy
/// 5) for 20 s = 5000 jiffies, level 2 (buckets of 64): ((5005 >> 6) + 1) × 64
/// = 5120 jiffies = 20.480 s; the proxy's ACK leaves 10 ms later.
#[test]
fn keepalive_probes_end_at_the_proxy_and_pings_cross_it() {
    let s = scenario("[proxy]");
    let ka = runner::run_one(&s, &s.strategies[0], 0, true);
    let probes = sent(&ka, SegmentKind::KeepaliveProbe);
    let acks = sent(&ka, SegmentKind::KeepaliveAck);
    assert_eq!(probes[0], (20_480, addr::CLIENT));
    assert_eq!(acks[0], (20_490, addr::SERVER), "the proxy (at the address clients dial) answers");
    assert_eq!(probes.len(), acks.len());
    assert_eq!(delivered_to_server(&ka, SegmentKind::KeepaliveProbe), 0);
    // An application ping is data: the proxy relays it and the server answers.
    let ping = runner::run_one(&s, &s.strategies[1], 0, true);
    let pings_at_server: Vec<u64> = ping
        .outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::AppMessage { side: Side::Server, tag, .. } if tag >> 56 == 5 => Some(ms(t.at)),
            _ => None,
        })
        .collect();
    // Ping #1 at 20.020 s (20 s after the client connected at 20 ms): at the
    // proxy at 20.030 s, relayed, at the server 10 ms later.
    assert_eq!(pings_at_server[0], 20_040);
    assert!(ping.outcome.declarations.is_empty());
    // The probes did reach the proxy (the test above would pass if none were sent).
    assert!(probes.len() >= 20, "{} probes in 10 minutes", probes.len());
}

/// AWS ALB: 60 s without data either way closes the connection, keepalive or
/// not. The last data is the reply the proxy relays at 30.030 s; at 90.030 s
/// it closes both legs with FIN. The client's probes (every ~20 s) did not count.
#[test]
fn the_proxys_idle_timeout_ignores_keepalive_probes_and_closes_both_legs() {
    let s = scenario("[proxy]\nidle_timeout = \"60s\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let sent = fins(&r);
    assert_eq!(sent[..2], [(90_030, std::net::SocketAddrV4::new(*addr::SERVER.ip(), addr::PROXY_FIRST_PORT)), (90_030, addr::SERVER)]);
    assert_eq!(r.outcome.slots[0].ended_at().map(ms), Some(90_030));
    assert!(r.outcome.declarations.iter().all(|d| d.verdict == Verdict::OrderlyEnd || d.cause == "ECONNRESET"));
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!(report.client.false_positives + report.server.false_positives, 0);
    // With app pings every 20 s the connection is never idle for 60 s.
    let ping = runner::run_one(&s, &s.strategies[1], 0, true);
    assert_eq!(ping.outcome.slots[0].ended_at(), None);
}

/// on_idle = "silent": the proxy forgets both legs without a packet; the
/// client's next keepalive probe meets the proxy stack's RST.
#[test]
fn a_silent_idle_close_is_found_by_the_next_segment() {
    let s = scenario("[proxy]\nidle_timeout = \"60s\"\non_idle = \"silent\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert!(r.outcome.trace.iter().all(|t| !matches!(t.event, TraceEvent::Sent { seg, .. } if seg.flags.contains(Flags::FIN))));
    let d = r.outcome.declarations.iter().find(|d| d.side == Side::Client).expect("the client hears of it");
    assert_eq!((d.cause.as_str(), d.verdict), ("ECONNRESET", Verdict::OrderlyEnd));
    // The probe at 70.400 s is answered at 70.420 s. Its timer, re-armed for
    // the 5 s interval (jiffy 17 600 + 1250, level 2: bucket 295 × 64 = 18 880 =
    // 75.520 s), finds 5.1 s of idleness and waits the other 14.9 s (3725
    // jiffies: bucket 354 × 64 = 22 656 = 90.624 s). That probe reaches the
    // proxy, which forgot the connection at 90.030 s, 10 ms later; its RST is
    // back at the client at 90.644 s.
    assert_eq!(ms(d.at), 90_644);
}

/// The server powers off behind the proxy. Client keepalive talks only to the
/// proxy, so it never notices; the application ping crosses the proxy, goes
/// unanswered and declares the server dead 5 s later.
#[test]
fn behind_a_proxy_only_an_application_ping_notices_a_dead_server() {
    let s = scenario("[proxy]\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"2m\"");
    let ka = runner::run_one(&s, &s.strategies[0], 0, false);
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&ka)]);
    assert_eq!((report.client.detected, report.client.undetected), (0, 1));
    let ping = runner::run_one(&s, &s.strategies[1], 0, false);
    let d = &ping.outcome.declarations[0];
    assert_eq!(d.side, Side::Client);
    let Verdict::Detection { latency } = d.verdict else { panic!("{d:?}") };
    // A ping leaves every 20 s; the first unanswered one goes within 20 s of
    // the vanish and is declared lost 5 s later: between 5 s and 25 s.
    assert!(latency.as_secs_f64() <= 25.0 && latency.as_secs_f64() > 5.0, "{latency:?}");
}

/// A fault on the proxy breaks every connection through it.
#[test]
fn the_proxy_vanishing_breaks_every_client_connection() {
    let s = scenario("[client]\ncount = 3\n[proxy]\n[[fault]]\nkind = \"vanish\"\ntarget = \"proxy\"\nat = \"2m\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, false);
    assert!(r.outcome.slots.iter().all(|s| s.broken().is_some_and(|(at, _)| at == Instant::from_secs(120))));
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    // Keepalive 20 s + 3 probes 5 s apart: each client detects it.
    assert_eq!(report.client.detected, 3);
    assert!(report.client.latency_s.max.unwrap() <= 20.0 + 1.3 + 3.0 * 5.2 + 0.1);
}

/// haproxy's two timers (`client_timeout` 40 s, `server_timeout` 60 s): both
/// start when the client's connection reaches the proxy (30 ms), and the
/// request at 30 s restarts them; the last data is the reply reaching the
/// proxy at 30.030 s (three 10 ms hops). The client's timer strikes alone at
/// 70.030 s: a FIN to the server only (a half-close), which the server's
/// application reads as the end of the connection. The client's keepalive
/// probes (every 20 s) end at the proxy and restart neither timer. It is an
/// orderly end, not a false positive.
#[test]
fn haproxys_client_timeout_half_closes_toward_the_server() {
    let s = scenario("[proxy]\nclient_timeout = \"40s\"\nserver_timeout = \"60s\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let sent = fins(&r);
    let backend = std::net::SocketAddrV4::new(*addr::SERVER.ip(), addr::PROXY_FIRST_PORT);
    assert_eq!(sent.first(), Some(&(70_030, backend)), "{sent:?}");
    assert!(r
        .outcome
        .trace
        .iter()
        .any(|t| ms(t.at) == 70_030
            && matches!(t.event, TraceEvent::Proxy(sim::trace::ProxyEvent::HalfClose { slot: 0, toward_server: true }))));
    assert_eq!(r.outcome.slots[0].ended_at().map(ms), Some(70_030));
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!(report.client.false_positives + report.server.false_positives, 0);

    // The same timers the other way round: the FIN goes to the client at 70.030 s.
    let s = scenario("[proxy]\nclient_timeout = \"60s\"\nserver_timeout = \"40s\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert_eq!(fins(&r).first(), Some(&(70_030, addr::SERVER)));
}

/// `preset = "haproxy"` is Debian's 50 s for both timers; a key written
/// beside it wins for its side only: with `server_timeout = "2m"` the
/// client's 50 s strikes first, at 30.030 + 50 = 80.030 s, toward the server.
#[test]
fn the_haproxy_preset_has_two_timers_and_a_written_side_wins() {
    let s = scenario("[proxy]\npreset = \"haproxy\"\nserver_timeout = \"2m\"");
    let p = s.proxy().expect("a proxy");
    assert_eq!(
        (p.idle_timeout, p.client_timeout, p.server_timeout),
        (None, Some(std::time::Duration::from_secs(50)), Some(std::time::Duration::from_secs(120)))
    );
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert!(r
        .outcome
        .trace
        .iter()
        .any(|t| ms(t.at) == 80_030
            && matches!(t.event, TraceEvent::Proxy(sim::trace::ProxyEvent::HalfClose { slot: 0, toward_server: true }))));
}
