//! Sessions: reconnects, request outcomes, time to restore, availability.
//! Every figure is worked out by hand in the comment beside it. Unless a
//! test says otherwise, links are 1 ms each way on both sides (a round trip
//! client <-> server is 4 ms) and 1 Gbit/s.

use harness::runner;
use harness::scenario::{parse, Scenario};
use harness::summary::RunSummary;
use reports::model::SessionReport;
use std::path::Path;
use std::time::Duration;

/// Both access links 1 ms one way.
const LINKS_1MS: &str = "[client.link]\ndelay = \"1ms\"\n[server.link]\ndelay = \"1ms\"\n";

fn scenario(body: &str) -> Scenario {
    let src = format!("name = \"sessions\"\n{body}");
    crate::common::inline(&src)
}

/// Run every seed of the scenario's strategy `name` and aggregate it.
fn report(s: &Scenario, name: &str) -> (SessionReport, Vec<harness::record::RunRecord>) {
    let spec = s.strategies.iter().find(|x| x.name == name).expect("strategy");
    let records: Vec<harness::record::RunRecord> =
        runner::seeds(s, None).into_iter().map(|seed| runner::run_one(s, spec, seed, false)).collect();
    let summaries: Vec<RunSummary> = records.iter().map(RunSummary::of).collect();
    let r = runner::aggregate(spec, s.horizon, &summaries);
    (r.session.expect("a session scenario reports sessions"), records)
}

/// A pooled connection used every 400 s behind an AWS NAT gateway (350 s,
/// then RST): 10 requests at 400, 800, …, 4000 s.
fn nat_gateway(mode: &str) -> Scenario {
    scenario(&format!(
        r#"
horizon = "2h"
{LINKS_1MS}[client.reconnect]
mode = "{mode}"
[nat]
idle_timeout = "350s"
on_expired = "rst"
[[traffic]]
kind = "requests"
every = "400s"
count = 10
size = "1KiB"
reply = "16KiB"
timeout = "5s"
[[strategy]]
name = "os-defaults"
kind = "tcp_keepalive"
[[strategy]]
name = "idle-300"
kind = "tcp_keepalive"
idle = "300s"
interval = "30s"
count = 3
"#
    ))
}

#[test]
fn lazy_pool_behind_a_nat_gateway_fails_every_other_request_and_keepalive_fixes_it() {
    let s = nat_gateway("lazy");
    let (r, records) = report(&s, "os-defaults");
    // The mapping, idle since the handshake, expires at 350 s; the request at
    // 400 s meets the gateway's RST: failed, and the connection is gone. Lazy:
    // the request at 800 s opens a new one (new port, new mapping) and is
    // answered; that mapping expires at ~1150 s, so the request at 1200 s
    // fails… Odd requests fail, even ones succeed: 5 and 5.
    assert_eq!((r.requests.sent, r.requests.ok, r.requests.failed, r.requests.hung), (10, 5, 5, 0));
    assert_eq!(r.failed_requests_per_1000, 500.0);
    // An ok request waits for the handshake (4 ms), its request and the first
    // 10 segments of the reply (4 ms), then the last 2 segments after the
    // first ACKs open the window (4 ms): 12 ms.
    assert_eq!(r.requests.latency_s.p50, Some(0.012));
    // Each break (the expiry at ~350 s after the last packet) lasts until the
    // next connection is established 450 s later (request time + 4 ms).
    let restore = r.time_to_restore_s.expect("restored periods");
    assert!((449.9..=450.1).contains(&restore.p50.unwrap()), "{restore:?}");
    assert_eq!(r.reconnects, 5);
    // The connection left idle after the 10th request (4000 s) expires at
    // ~4350 s and nothing reconnects before the horizon (7200 s).
    assert_eq!(r.unrestored, 1);
    // Five periods of 450 s and the last of ~2850 s, of 7200 s: 1 - 5100/7200 = 0.2917.
    assert!((0.2910..=0.2925).contains(&r.availability), "{}", r.availability);
    // The break is ground truth, recorded when the mapping expired.
    let connections = &records[0].outcome.slots[0].connections;
    assert_eq!(connections.len(), 6);
    assert!(connections.iter().all(|c| c.established_at.is_some() && c.broken.is_some()));

    // keepalives every 300 s (+ up to 16.4 s of timer-wheel slack) hold the mapping.
    let (fixed, _) = report(&s, "idle-300");
    assert_eq!((fixed.requests.ok, fixed.requests.failed), (10, 0));
    assert_eq!((fixed.availability, fixed.reconnects, fixed.unrestored), (1.0, 0, 0));
    assert_eq!(fixed.time_to_restore_s, None);
}

#[test]
fn an_eager_reconnect_does_not_help_against_an_idle_nat() {
    let s = nat_gateway("eager");
    let (r, _) = report(&s, "os-defaults");
    // Eager reconnects at once after each RST (400 s + 4 ms), and the new
    // mapping is idle again for 350 s before the next request at 800 s: every
    // request meets a forgotten mapping. 10 of 10 fail.
    assert_eq!((r.requests.ok, r.requests.failed), (0, 10));
    // Each period runs from the expiry (~750 s) to the reconnect just after
    // the next request's RST (~800 s): 50 s.
    let restore = r.time_to_restore_s.expect("restored periods");
    assert!((49.9..=50.1).contains(&restore.p50.unwrap()), "{restore:?}");
    assert_eq!(r.reconnects, 10);
}

fn vanished_server(connect_timeout: &str) -> Scenario {
    scenario(&format!(
        r#"
horizon = "20m"
{LINKS_1MS}[client.reconnect]
mode = "eager"
initial_backoff = "1s"
multiplier = 2.0
max_backoff = "8s"
connect_timeout = "{connect_timeout}"
[[fault]]
kind = "vanish"
target = "server"
at = "60s"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "5s"
interval = "2s"
count = 2
"#
    ))
}

/// When each of the slot's connections was opened, in seconds after the first reconnect.
fn attempt_offsets(r: &harness::record::RunRecord) -> Vec<f64> {
    let c = &r.outcome.slots[0].connections;
    let first = c[1].opened_at;
    c[1..].iter().map(|c| (c.opened_at - first).as_secs_f64()).collect()
}

#[test]
fn attempts_against_a_vanished_server_back_off_exponentially_to_the_cap() {
    let s = vanished_server("3s");
    let (r, records) = report(&s, "ka");
    // Attempt k gives up 3 s after it starts; the next starts 1, 2, 4, 8, 8…
    // s later: starts at 0, 4, 9, 16, 27, 38, 49 s after the first.
    let offsets = attempt_offsets(&records[0]);
    let expected = [0.0, 4.0, 9.0, 16.0, 27.0, 38.0, 49.0];
    for (got, want) in offsets.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "{offsets:?}");
    }
    // From the first attempt (~75 s) to the horizon (1200 s) every 11 s: about 103.
    assert!((100..=106).contains(&offsets.len()), "{}", offsets.len());
    // Nothing ever comes back: one period from the vanish (60 s) to the horizon.
    assert_eq!((r.reconnects, r.unrestored), (0, 1));
    assert_eq!(r.time_to_restore_s, None);
    assert!((r.availability - 60.0 / 1200.0).abs() < 1e-6, "{}", r.availability);
}

/// Each attempt after the first reconnect: (how long it lasted, the pause before the next), seconds.
fn attempts(r: &harness::record::RunRecord) -> Vec<(f64, f64)> {
    let c = &r.outcome.slots[0].connections;
    c[1..]
        .windows(2)
        .map(|w| {
            let closed = w[0].closed_at.expect("a failed attempt closed");
            ((closed - w[0].opened_at).as_secs_f64(), (w[1].opened_at - closed).as_secs_f64())
        })
        .collect()
}

#[test]
fn without_a_connect_timeout_the_kernel_gives_up_after_127_s() {
    let s = vanished_server("0s");
    let (_, records) = report(&s, "ka");
    let a = attempts(&records[0]);
    // tcp_syn_retries = 6: SYNs at 0, 1, 3, 7, 15, 31, 63 s and the give-up
    // at 127 s (1 + 2 + … + 64), each timer late by up to its timer-wheel
    // level's granularity (2.048 s for the 64 s one at HZ 250): 127–132 s.
    assert!(a.iter().all(|(len, _)| (127.0..132.0).contains(len)), "{a:?}");
    // The application's backoff is exact: 1, 2, 4, 8 s, then the 8 s cap.
    let pauses: Vec<f64> = a.iter().map(|(_, p)| *p).take(6).collect();
    assert_eq!(pauses, [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
    // With connect_timeout = 3 s every attempt lasts exactly 3 s.
    let (_, records) = report(&vanished_server("3s"), "ka");
    assert!(attempts(&records[0]).iter().all(|(len, _)| *len == 3.0));
}

#[test]
fn a_rebooted_server_is_reached_again_once_it_listens() {
    let s = scenario(
        r#"
horizon = "10m"
[client.link]
delay = "5ms"
[server.link]
delay = "5ms"
[client.reconnect]
mode = "eager"
[[traffic]]
kind = "requests"
every = "10s"
size = "100B"
reply = "1KiB"
timeout = "2s"
[[fault]]
kind = "reboot"
target = "server"
at = "100s"
duration = "60s"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "5s"
interval = "2s"
count = 2
"#,
    );
    let (r, _) = report(&s, "ka");
    // Requests every 10 s from 10.02 s (connected at 20 ms). Those at 100 …
    // 150 s go into the reboot and stay unanswered past 2 s: 6 hung. The one
    // at 160.02 s reaches the server back up (160 s), meets its RST with the
    // retransmissions: failed. The client reconnects at once: established at
    // 160.06 s (one round trip of 20 ms after the RST at 160.04 s). 59
    // requests by 600 s: 52 ok.
    assert_eq!((r.requests.sent, r.requests.ok, r.requests.hung, r.requests.failed), (59, 52, 6, 1));
    assert_eq!(r.reconnects, 1);
    let restore = r.time_to_restore_s.expect("restored");
    assert_eq!(restore.max, Some(60.06));
    // 60.06 s of 600 s unavailable.
    assert!((r.availability - (1.0 - 60.06 / 600.0)).abs() < 1e-6, "{}", r.availability);
}

#[test]
fn a_server_rebooting_for_60_s_under_a_10_s_ping_restores_when_the_next_attempt_finds_it() {
    let s = scenario(&format!(
        r#"
horizon = "10m"
{LINKS_1MS}[client.reconnect]
mode = "eager"
initial_backoff = "1s"
multiplier = 2.0
max_backoff = "8s"
connect_timeout = "2s"
[[fault]]
kind = "reboot"
target = "server"
at = "95s"
duration = "60s"
[[strategy]]
name = "ping"
kind = "app_ping"
interval = "10s"
timeout = "5s"
"#
    ));
    let (r, records) = report(&s, "ping");
    // Connected at 4 ms; pings every 10 s from there: the one at 100.004 s
    // goes into the reboot (95–155 s), so the client declares at 105.004 s
    // and reconnects at once. Attempts last 2 s, pauses 1, 2, 4, 8, 8… s:
    // attempts start at 105.004, 108.004, 112.004, 118.004, 128.004,
    // 138.004, 148.004 (all while the server is down) and 158.004, which
    // finds it back: established one round trip later, 158.008 s.
    // Restore = 158.008 − 95 = 63.008 s.
    let starts: Vec<u64> = records[0].outcome.slots[0].connections[1..].iter().map(|c| c.opened_at.as_nanos() / 1_000_000).collect();
    assert_eq!(starts, [105_004, 108_004, 112_004, 118_004, 128_004, 138_004, 148_004, 158_004]);
    assert_eq!(r.time_to_restore_s.and_then(|t| t.max), Some(63.008));
    assert_eq!((r.reconnects, r.unrestored), (1, 0));
    // 63.008 s of 600 s unavailable.
    assert_eq!(r.availability, 0.894987);
}

/// The node keepAliveTimeout race: the server closes a connection 5 s after
/// its last write; the client's request leaves just before the server's FIN
/// arrives. Links are 10 ms each way: 20 ms end to end.
fn race(client_idle: &str, second_at: &str) -> Scenario {
    scenario(&format!(
        r#"
horizon = "1m"
[client.link]
delay = "10ms"
[server.link]
delay = "10ms"
[client.reconnect]
mode = "lazy"
[client.app]
idle_timeout = "{client_idle}"
[server.app]
idle_timeout = "5s"
[[traffic]]
kind = "requests"
at = "1s"
size = "200B"
reply = "1KiB"
timeout = "5s"
[[traffic]]
kind = "requests"
at = "{second_at}"
size = "200B"
reply = "1KiB"
timeout = "5s"
[[strategy]]
name = "none"
kind = "none"
"#
    ))
}

#[test]
fn a_request_racing_the_servers_idle_close_fails_and_a_shorter_pool_idle_fixes_it() {
    // Connected at 40 ms at the client (60 ms at the server). The request at
    // 1 s reaches the server at 1.02 s, which writes its reply: its idle timer
    // now ends at 6.02 s, and its FIN reaches the client at 6.04 s. The
    // request written at 6.01 s arrives at 6.03 s on a socket the server
    // closed: RST. Failed, and it is an orderly end (no unavailability).
    let (r, _) = report(&race("0s", "6.01s"), "none");
    assert_eq!((r.requests.ok, r.requests.failed), (1, 1));
    assert_eq!((r.availability, r.unrestored), (1.0, 0));
    // Pool max-idle 4 s < the server's 5 s: the client closes at 5.04 s (4 s
    // after the reply arrived) and the request at 6.01 s opens a new
    // connection (lazy): handshake 40 ms + request and reply 40 ms = 80 ms.
    let (fixed, _) = report(&race("4s", "6.01s"), "none");
    assert_eq!((fixed.requests.ok, fixed.requests.failed), (2, 0));
    assert_eq!(fixed.requests.latency_s.max, Some(0.08));
    assert_eq!(fixed.reconnects, 1);
    // A request 10 ms after the pool's close (5.05 s), while that FIN
    // handshake is still under way: it does not wait for it, a new
    // connection carries it, again in 80 ms.
    let (soon, _) = report(&race("4s", "5.05s"), "none");
    assert_eq!((soon.requests.ok, soon.requests.failed, soon.reconnects), (2, 0, 1));
    assert_eq!(soon.requests.latency_s.max, Some(0.08));
}

#[test]
fn with_reconnect_off_a_request_without_a_connection_fails_at_once() {
    let s = scenario(
        r#"
horizon = "10m"
[client.reconnect]
mode = "off"
[[traffic]]
kind = "requests"
every = "60s"
size = "100B"
reply = "100B"
[[fault]]
kind = "reboot"
target = "server"
at = "90s"
duration = "10s"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "5s"
interval = "1s"
count = 1
"#,
    );
    let (r, _) = report(&s, "ka");
    // Connected at 40 µs (default links), then requests every 60 s: at
    // 60.00004 … 540.00004 s (the 10th would be after the 600 s horizon).
    // The reboot at 90 s; the server is back at 100 s and answers the next
    // keepalive probe (5 s idle, then every 1 s) with RST: the connection
    // ends before 120 s. Off: no new connection, so the 8 requests from 120 s
    // fail at once.
    assert_eq!((r.requests.sent, r.requests.ok, r.requests.failed), (9, 1, 8));
    assert_eq!((r.reconnects, r.unrestored), (0, 1));
}

#[test]
fn reconnect_settings_out_of_range_name_the_key_and_what_is_allowed() {
    let bad = [
        ("[client.reconnect]\nmode = \"sometimes\"", "client.reconnect.mode", "\"off\", \"eager\", \"lazy\""),
        ("[client.reconnect]\njitter = 1.0", "client.reconnect.jitter", "at least 0.0 and under 1.0"),
        ("[server.app]\nbacklog = 70000", "server.app.backlog", "0 to 65535"),
        ("[server.app]\naccept_time = \"2m\"", "server.app.accept_time", "\"0s\" to \"1m\""),
        ("[client.app]\nbacklog = 10", "client.app.backlog", "only the server listens"),
        ("[client.reconnect]\ninitial_backoff = \"-1s\"", "client.reconnect.initial_backoff", "not a duration"),
        ("[client.reconnect]\nmultiplier = 0.5", "client.reconnect.multiplier", "1.0 to 100.0"),
        ("[client.reconnect]\ninitial_backoff = \"10s\"\nmax_backoff = \"1s\"", "client.reconnect.max_backoff", "at least initial_backoff"),
        ("[[traffic]]\nkind = \"requests\"\nevery = \"1s\"\nsize = \"1B\"\ntimeout = \"1s\"", "traffic[0].timeout", "give `reply` a size"),
        (
            "[[traffic]]\nkind = \"upload\"\nevery = \"1s\"\nsize = \"1B\"\ntimeout = \"1s\"",
            "traffic[0].timeout",
            "only `requests` from the client",
        ),
    ];
    for (body, key, allowed) in bad {
        let src = format!("name = \"x\"\nhorizon = \"1h\"\n{body}\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n");
        let e = parse(Path::new("bad.toml"), &src).expect_err(body).to_string();
        assert!(e.contains("bad.toml") && e.contains(key) && e.contains(allowed), "{body}: {e}");
    }
    // The default backoff: 1 s doubling to 2 min.
    let s = scenario("horizon = \"1h\"\n[client.reconnect]\nmode = \"eager\"\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n");
    let p = s.reconnect_policy();
    assert_eq!((p.backoff(1), p.backoff(2), p.backoff(7), p.backoff(8)), (secs(1), secs(2), secs(64), secs(120)));
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A request's age is measured on its client's clock, which a suspension
/// stops. Requests every 10 s from the connect (4 ms: 10.004, 20.004, ...,
/// 90.004 s; 5 s timeout) are answered in a round trip of 4 ms; the client is
/// suspended at 90.005 s, just after sending the request of 90.004 s, until
/// past the 100 s horizon, so that request's reply (due at 90.008 s) is
/// dropped at the sleeping host. On the client's clock the request is 1 ms
/// old at the horizon (its clock stopped at 90.005 s): not hung yet, not
/// counted. (On the world's clock it would be 9.996 s old and counted hung:
/// a laptop that was closed did not wait for anything.)
#[test]
fn a_request_pending_through_a_suspension_is_aged_on_the_clients_clock() {
    let s = scenario(&format!(
        r#"
horizon = "100s"
{LINKS_1MS}[client.reconnect]
mode = "eager"
[[traffic]]
kind = "requests"
every = "10s"
size = "100B"
reply = "100B"
timeout = "5s"
[[fault]]
kind = "suspend"
target = "client"
at = "90.005s"
duration = "30s"
[[strategy]]
name = "none"
kind = "none"
"#
    ));
    let (r, records) = report(&s, "none");
    let requests = records[0].requests.as_ref().expect("a session run counts requests");
    // Nine issued: the first eight answered 4 ms later, the ninth pending and
    // uncounted.
    assert_eq!((r.requests.sent, r.requests.ok, r.requests.hung, r.requests.failed), (8, 8, 0, 0));
    assert_eq!(requests.uncounted, 1);
    assert_eq!(r.requests.latency_s.max, Some(0.004));
}
