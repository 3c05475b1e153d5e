//! Fleets and pools: many connections in one world, each judged on its own.
//! The numbers are worked out by hand from the kernel's timer wheel (HZ 250,
//! `sim::timer`) and the NAT's timers; every client has its own 1 Gbit/s,
//! zero-delay link, so a handshake completes within microseconds of t = 0.

use harness::runner;
use harness::summary::RunSummary;
use sim::oracle::BreakCause;
use sim::trace::TraceEvent;
use std::collections::HashSet;
use std::path::Path;

fn fleet(idle: &str, extra: &str) -> harness::scenario::Scenario {
    let src = format!(
        r#"
name = "fleet"
horizon = "1h"
[client]
count = 1000
{extra}
[nat]
idle_timeout = "350s"
on_expired = "rst"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
sides = ["client"]
idle = "{idle}"
interval = "10s"
count = 3
"#
    );
    crate::common::inline(&src)
}

/// Keepalive 400 s behind a 350 s RST NAT: every one of 1000 mappings is lost.
///
/// Each client's keepalive timer is armed at connection (jiffy 0) for 400 s =
/// 100 000 jiffies: timer-wheel level 4 (buckets of 4096 jiffies), so it fires
/// at ((100000 >> 12) + 1) << 12 = 102 400 jiffies = 409.6 s. The NAT forgot
/// the idle flow 350 s after the handshake's last packet (microseconds after
/// 0), so the probe meets the NAT's RST: ECONNRESET at 409.6 s, a detection
/// 59.6 s after the break, for every client. One probe per connection-hour.
#[test]
fn keepalive_400s_loses_every_mapping_and_each_first_probe_meets_the_rst() {
    let s = fleet("400s", "");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert_eq!(r.outcome.slots.len(), 1000);
    for (i, slot) in r.outcome.slots.iter().enumerate() {
        let (at, cause) = slot.broken().unwrap_or_else(|| panic!("slot {i} never broke"));
        assert_eq!(cause, BreakCause::NatExpired, "slot {i}");
        let after = at.since_start().as_secs_f64() - 350.0;
        assert!((0.0..0.001).contains(&after), "slot {i} broke at {at}");
        assert_eq!(slot.nat_expired_at(), [at]);
    }
    assert_eq!(r.outcome.declarations.len(), 1000);
    let slots: HashSet<u32> = r.outcome.declarations.iter().map(|d| d.slot).collect();
    assert_eq!(slots.len(), 1000, "one declaration per connection");
    for d in &r.outcome.declarations {
        assert_eq!((d.side, d.cause.as_str()), (sim::Side::Client, "ECONNRESET"));
        let at = d.at.since_start().as_secs_f64();
        assert!((409.6..409.601).contains(&at), "slot {} declared at {at}", d.slot);
    }
    // The NAT sent each client its RST (policy rst).
    let resets = r.outcome.trace.iter().filter(|t| matches!(t.event, TraceEvent::NatReset { .. })).count();
    assert_eq!(resets, 1000);

    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!((report.connections, report.client.detected, report.client.undetected, report.nat_expiries), (1000, 1000, 0, 1000));
    assert_eq!((report.client.latency_s.p50, report.client.latency_s.max), (Some(59.6), Some(59.6)));
    assert_eq!(report.client.false_positives + report.server.false_positives, 0);
    assert_eq!(report.keepalive_packets_per_hour, 1.0);
}

/// Keepalive 300 s behind the same NAT: no mapping is ever lost.
///
/// 300 s = 75 000 jiffies, level 4: the first probe fires at (18 + 1) × 4096
/// jiffies = 311.296 s, before the NAT's 350 s. The ACK comes back at once;
/// the timer re-armed for the 10 s interval finds 10.24 s of idleness and
/// waits the remaining 289.76 s, which lands on bucket 38 × 4096 = 622.592 s:
/// a probe every 311.296 s, 11 in the hour (the 12th would be at 3735.6 s),
/// each answered: 22 keepalive packets per connection-hour.
#[test]
fn keepalive_300s_keeps_a_thousand_mappings_with_distinct_public_ports() {
    let s = fleet("300s", "");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert!(r.outcome.slots.iter().all(|s| s.broken().is_none() && s.nat_expired_at().is_empty()));
    assert!(r.outcome.declarations.is_empty());
    let ports: HashSet<u16> = r
        .outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::NatMappingCreated { mapping, .. } => Some(mapping.public.port()),
            _ => None,
        })
        .collect();
    assert_eq!(ports.len(), 1000, "every client's flow has its own public port");
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!((report.nat_expiries, report.client.detected + report.client.undetected), (0, 0));
    assert_eq!(report.keepalive_packets_per_hour, 22.0);
}

/// A pool: 4 hosts x 25 connections. Every connection is its own slot; a
/// vanish of client 2 at 600 s breaks exactly its 25, and the server's
/// keepalive detects each of them 45.12 s later.
///
/// The server arms 60 s (15 000 jiffies, level 3, buckets of 512) at t = 0:
/// 30 × 512 = 15 360 jiffies = 61.44 s; each answered probe re-arms the timer
/// onto the next 61.44 s multiple (as in the fleet test above), so probes go
/// at 552.96 s and 614.4 s. The latter is unanswered; the 10 s interval
/// (2500 jiffies, level 2, buckets of 64) brings probes at 624.64 and 634.88 s
/// and the give-up (3 probes out) at 645.12 s: 45.12 s after the vanish.
#[test]
fn a_fault_on_one_client_of_a_pool_breaks_only_its_connections() {
    let src = r#"
name = "pool"
horizon = "30m"
[client]
count = 4
connections = 25
[[fault]]
kind = "vanish"
target = "client:2"
at = "10m"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
sides = ["server"]
idle = "60s"
interval = "10s"
count = 3
"#;
    let s = crate::common::inline(src);
    let r = runner::run_one(&s, &s.strategies[0], 0, false);
    let broken: Vec<usize> = r.outcome.slots.iter().enumerate().filter(|(_, s)| s.broken().is_some()).map(|(i, _)| i).collect();
    assert_eq!(broken, (50..75).collect::<Vec<_>>());
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!((report.connections, report.server.detected, report.server.false_positives), (100, 25, 0));
    assert_eq!((report.server.latency_s.p50, report.server.latency_s.max), (Some(45.12), Some(45.12)));
}

#[test]
fn every_client_draws_its_own_fault_times_and_adding_one_shifts_none() {
    let with = |count: u32| {
        let src = format!(
            "name = \"f\"\nhorizon = \"1d\"\n[client]\ncount = {count}\n[[fault]]\nkind = \"outage\"\ntarget = \"client.link\"\nat = \"uniform(1h, 20h)\"\nduration = \"exp(5m)\"\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n"
        );
        runner::derive_faults(&crate::common::inline(&src), 7)
    };
    let three = with(3);
    let four = with(4);
    assert_eq!(three.len(), 3);
    assert_eq!(&four[..3], &three[..], "clients 0..2 keep their draws");
    assert_eq!(three.iter().map(|f| f.target.as_str()).collect::<Vec<_>>(), ["client:0.link", "client:1.link", "client:2.link"]);
    let times: HashSet<u128> = four.iter().map(|f| f.at.as_nanos()).collect();
    assert_eq!(times.len(), 4, "each client its own time");
    // A one-client scenario names its targets as v1 did.
    assert_eq!(with(1)[0].target, "client.link");
}

#[test]
fn a_fleet_gives_the_same_bytes_at_any_job_count() {
    let s = fleet("300s", "connections = 2");
    let strategies: Vec<_> = s.strategies.iter().collect();
    let render = |jobs| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().unwrap();
        let runs = pool.install(|| runner::run_scenario(&s, &strategies, Some(3), &|| {}));
        reports::render::json(&reports::Report {
            scenarios: vec![runner::scenario_report(&s, &strategies, &runs, 3)],
            ..Default::default()
        })
    };
    let one = render(1);
    assert!(one.contains("\"connections\": 2000"), "{one}");
    assert_eq!(one, render(2));
}

/// A fleet's replay says which client host each packet is from or for
/// ("client:2" is 198.18.0.4); a one-client run keeps the plain "client".
#[test]
fn a_fleets_timeline_names_the_client_host_of_each_packet() {
    let run = |count: u32| {
        let src = format!("name = \"f\"\nhorizon = \"1m\"\n[client]\ncount = {count}\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n");
        let s = crate::common::inline(&src);
        let r = runner::run_one(&s, &s.strategies[0], 0, true);
        harness::timeline::lines(&r.outcome.trace, true)
    };
    let fleet = run(3);
    let syn = fleet.iter().find(|l| l.event.starts_with("sends handshake SYN 198.18.0.4:40000")).expect("client 2's SYN");
    assert_eq!(syn.place, "client:2");
    let synack = fleet
        .iter()
        .find(|l| l.event.starts_with("receives handshake SYN|ACK") && l.event.contains("-> 198.18.0.4:40000"))
        .expect("its SYN-ACK");
    assert_eq!(synack.place, "client:2");
    assert!(fleet.iter().any(|l| l.place == "client:0"), "the first host is client:0 in a fleet");
    let single = run(1);
    assert!(single.iter().all(|l| !l.place.starts_with("client:")), "one client: plain labels");
    assert!(single.iter().any(|l| l.place == "client"));
}

/// In a fleet the timeline keeps one message stream per connection (it kept
/// one per side: only client 0's data was labelled), and a message lost on
/// client 1's link names client 1 and its link. Three clients upload 100 B
/// at 10 s; client 1's link is down from 5 s to 25 s.
#[test]
fn a_fleets_timeline_labels_each_connections_messages_and_names_the_link_that_lost_one() {
    let src = "name = \"f\"\nhorizon = \"1m\"\n[client]\ncount = 3\n\
               [[fault]]\nkind = \"outage\"\ntarget = \"client:1.link\"\nat = \"5s\"\nduration = \"20s\"\n\
               [[traffic]]\nkind = \"upload\"\nat = \"10s\"\nsize = \"100B\"\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n";
    let s = crate::common::inline(src);
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let lines = harness::timeline::lines(&r.outcome.trace, false);
    for i in 0..3 {
        let sends = format!("sends data 100 B 198.18.0.{}:40000 -> 203.0.113.10:8000", i + 2);
        let sent = lines.iter().find(|l| l.event.starts_with(&sends)).unwrap_or_else(|| panic!("client {i}'s data"));
        assert_eq!(sent.place, format!("client:{i}"));
        assert_eq!(sent.at, sim::Instant::from_secs(10));
        assert!(sent.event.ends_with("(upload (100 B))"), "{}", sent.event);
    }
    let lost = lines.iter().find(|l| l.event.starts_with("upload (100 B) dropped")).expect("the upload lost in the outage");
    assert_eq!((lost.place.as_str(), lost.event.as_str()), ("client:1", "upload (100 B) dropped at client:1.link (link down)"));
    assert_eq!(lost.at, sim::Instant::from_secs(10));
}

/// Whether a declaration only echoes the peer is one fact, marked by the
/// oracle on the declaration and its trace record; the counts, the replay's
/// header, the timeline and the HTML marks all read it (the timeline and
/// the plots used to work it out again from "has the peer side declared
/// anything yet", blind to which connection).
///
/// Two clients behind an `rst` NAT; client 0 vanishes at 1 m; the server's
/// keepalive (60/10/3) declares connection 0 dead; the NAT reboots at 10 m;
/// each client sends a request at 601 s. Client 1's request meets the NAT's
/// RST: written at 601.000, 10 ms to the NAT, 10 ms back = 601.020, broken
/// since the reboot at 600.000, a detection 1.020 s after the break (the
/// server's declaration was about connection 0, not an echo's cause).
///
/// The twin without a NAT: client 1's link is down from 100 s to 300 s, so
/// the server's keepalive declares connection 1 dead (a false positive,
/// outage) and aborts; its RST is lost in the outage. Client 1's request at
/// 601 s meets the server kernel's RST: that ECONNRESET is the echo.
#[test]
fn an_echo_is_the_oracles_mark_on_one_connection_and_every_reader_agrees() {
    let scenario = |net: &str| {
        let src = format!(
            "name = \"echo\"\nhorizon = \"20m\"\n[client]\ncount = 2\n[client.link]\ndelay = \"10ms\"\n\
             [server.link]\ndelay = \"5ms\"\n{net}\n\
             [[traffic]]\nkind = \"requests\"\nat = \"601s\"\nsize = \"100B\"\nreply = \"100B\"\n\
             [[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\nsides = [\"server\"]\nidle = \"60s\"\ninterval = \"10s\"\ncount = 3\n"
        );
        crate::common::inline(&src)
    };
    let client_1_reset = |r: &harness::record::RunRecord, at_ms: u128| {
        let d = r.outcome.declarations.iter().find(|d| d.slot == 1 && d.side == sim::Side::Client).expect("client 1 declares");
        // At `at_ms` plus the request and the RST serialised at 1 Gbit/s on each link crossed (< 10 us).
        let at_us = d.at.since_start().as_micros();
        assert!(d.cause == "ECONNRESET" && (at_ms * 1000..at_ms * 1000 + 10).contains(&at_us), "{d:?} at {at_us} us");
        d.clone()
    };
    let timeline_line = |r: &harness::record::RunRecord| {
        let lines = harness::timeline::lines(&r.outcome.trace, false);
        let l = lines.iter().find(|l| l.place == "client:1" && l.event.starts_with("declared dead")).expect("client 1's line");
        l.event.clone()
    };
    let client_mark = |s: &harness::scenario::Scenario, r: &harness::record::RunRecord| {
        let t = harness::plots::traced_timeline(s, r);
        let m = t.marks.iter().find(|m| m.row == reports::plot_input::Row::Client && m.label == "ECONNRESET").expect("the mark");
        m.kind
    };

    // Behind the NAT: a detection, everywhere.
    let s = scenario(
        "[nat]\nidle_timeout = \"1h\"\non_expired = \"rst\"\n\
         [[fault]]\nkind = \"vanish\"\ntarget = \"client:0\"\nat = \"1m\"\n\
         [[fault]]\nkind = \"nat_reboot\"\ntarget = \"nat\"\nat = \"10m\"",
    );
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert!(r.outcome.declarations.iter().any(|d| d.slot == 0 && d.side == sim::Side::Server), "the server declared connection 0 first");
    let d = client_1_reset(&r, 601_020);
    assert!(!d.echo);
    let latency = d.at - sim::Instant::from_secs(600);
    assert_eq!(d.verdict, sim::oracle::Verdict::Detection { latency });
    let client: Vec<_> = RunSummary::of(&r).outcomes(sim::Side::Client).collect();
    assert_eq!(client[1], harness::summary::SideOutcome::Detected(latency));
    assert_eq!(timeline_line(&r), "declared dead: ECONNRESET (broken 1.02s ago)");
    assert_eq!(client_mark(&s, &r), reports::plot_input::MarkKind::Detection);

    // Without the NAT, after the server gave up on connection 1: the echo, everywhere.
    let s = scenario("[[fault]]\nkind = \"outage\"\ntarget = \"client:1.link\"\nat = \"100s\"\nduration = \"200s\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let server = r.outcome.declarations.iter().find(|d| d.slot == 1 && d.side == sim::Side::Server).expect("the server gave up");
    assert!(matches!(server.verdict, sim::oracle::Verdict::FalsePositive { condition: sim::oracle::Condition::Outage }));
    // The server's RST comes from its host: 10 + 5 ms there, 5 + 10 ms back.
    let d = client_1_reset(&r, 601_030);
    assert!(d.echo);
    let client: Vec<_> = RunSummary::of(&r).outcomes(sim::Side::Client).collect();
    assert_eq!(client[1], harness::summary::SideOutcome::NotApplicable);
    assert_eq!(timeline_line(&r), "declared dead: ECONNRESET (the peer's own decision reaching us, not counted)");
    assert_eq!(client_mark(&s, &r), reports::plot_input::MarkKind::PeerClosed);
}

/// `replay --connection 7` runs the same world with a trace that keeps only
/// what concerns connection 7 (issue 29): the outcome is the full run's, the
/// focused trace holds every record the full one has about connection 7 or
/// its client's address and nothing about any other client, and it is a
/// small part of the whole (50 clients: under a tenth).
#[test]
fn a_focused_trace_is_one_connections_part_of_the_full_run() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/fleet-behind-carrier-nat.toml");
    let s = harness::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let strategy = s.strategies.iter().find(|st| st.name == "linux-default").expect("the strategy");
    let full = runner::run_one(&s, strategy, 3, true);
    let focus = sim::trace::TraceFocus { slots: 7..8, client: 7 };
    let part = runner::run_one_focused(&s, strategy, 3, focus);
    assert_eq!(part.outcome.declarations, full.outcome.declarations);
    assert_eq!(part.outcome.slots, full.outcome.slots);
    let ip7 = sim::packet::addr::client_ip(7);
    let about = |r: &sim::trace::TraceRecord, other: bool| {
        let seg = match &r.event {
            TraceEvent::Sent { seg, .. } | TraceEvent::Delivered { seg, .. } | TraceEvent::Dropped { seg, .. } => Some(*seg),
            _ => None,
        };
        match (r.conn, seg) {
            (Some(c), _) => (c.slot == 7) != other,
            // A client's own packet (not the server's, whose address is not a client's).
            (None, Some(seg)) if other => seg.src.ip() != &ip7 && seg.src.ip().octets()[..2] == [198, 18],
            (None, Some(seg)) => seg.src.ip() == &ip7 || seg.dst.ip() == &ip7,
            (None, None) => false,
        }
    };
    let wanted: Vec<_> = full.outcome.trace.iter().filter(|r| about(r, false)).collect();
    let kept: Vec<_> = part.outcome.trace.iter().filter(|r| about(r, false)).collect();
    assert!(!wanted.is_empty());
    assert_eq!(kept, wanted);
    assert!(part.outcome.trace.iter().all(|r| !about(r, true)), "another client's record kept");
    assert!(part.outcome.trace.len() * 10 < full.outcome.trace.len(), "{} of {}", part.outcome.trace.len(), full.outcome.trace.len());
}
