//! `every`: a fault that repeats over the run, each gap drawn anew from the end
//! of the previous occurrence, each occurrence with its own duration.

use harness::runner;
use sim::trace::{FaultEvent, TraceEvent};
use sim::Side;
use std::time::Duration;

fn scenario(fault: &str) -> harness::scenario::Scenario {
    let src = format!("name = \"r\"\nhorizon = \"5h\"\n[[fault]]\n{fault}\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n");
    crate::common::inline(&src)
}

/// Every hour for 10 minutes, over 5 hours: 1:00, then 1 h after the first
/// ended (2:10), 3:20, 4:30; the next would start at 5:40, past the horizon.
#[test]
fn fixed_gaps_count_from_the_end_of_the_previous_occurrence() {
    let s = scenario("kind = \"outage\"\ntarget = \"client.link\"\nevery = \"1h\"\nduration = \"10m\"");
    let f = runner::derive_faults(&s, 0);
    let starts: Vec<u64> = f.iter().map(|f| f.at.as_secs()).collect();
    assert_eq!(starts, [3600, 7800, 12_000, 16_200]);
    assert!(f.iter().all(|f| f.duration == Some(Duration::from_secs(600)) && f.target == "client.link"));
    // Each occurrence fires: the link goes down and up at those times.
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let downs: Vec<u64> = r
        .outcome
        .trace
        .iter()
        .filter(|t| t.event == TraceEvent::Fault(FaultEvent::OutageStart(Side::Client)))
        .map(|t| t.at.since_start().as_secs())
        .collect();
    assert_eq!(downs, [3600, 7800, 12_000, 16_200]);
}

/// Random gaps and durations: every occurrence draws both anew, none overlaps
/// the previous, and the mean gap is the one asked for.
#[test]
fn random_gaps_and_durations_are_drawn_for_each_occurrence() {
    let s = scenario("kind = \"suspend\"\ntarget = \"client\"\nevery = \"exp(10m)\"\nduration = \"uniform(10s, 50s)\"");
    let mut gaps = Vec::new();
    for seed in 0..200 {
        let f = runner::derive_faults(&s, seed);
        let mut end = Duration::ZERO;
        for o in &f {
            assert!(o.at >= end, "seed {seed}: overlaps the previous occurrence");
            let d = o.duration.unwrap();
            assert!(d >= Duration::from_secs(10) && d <= Duration::from_secs(50));
            gaps.push((o.at - end).as_secs_f64());
            end = o.at + d;
        }
    }
    // exp(10 min): mean 600 s; over ~5000 gaps the sample mean is within 4 %.
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(gaps.len() > 4000 && (mean - 600.0).abs() < 24.0, "{} gaps, mean {mean}", gaps.len());
    // Durations differ between occurrences (not one draw reused).
    let f = runner::derive_faults(&s, 1);
    assert!(f.windows(2).any(|w| w[0].duration != w[1].duration));
}

/// Faults that overlap on one host (as independent `every` schedules can):
/// a host that is off stays off through a suspension that starts meanwhile.
/// The client writes 100 B every second (`requests`, no reply), so a server
/// that is up answers each within its 0 ms links.
fn overlapping(faults: &str) -> harness::record::RunRecord {
    let src = format!(
        "name = \"o\"\nhorizon = \"2m\"\n{faults}\n[client.reconnect]\nmode = \"eager\"\n\
         [[traffic]]\nkind = \"requests\"\nfrom = \"client\"\nevery = \"1s\"\nsize = \"100B\"\n\
         [[strategy]]\nname = \"n\"\nkind = \"none\"\n"
    );
    let s = crate::common::inline(&src);
    runner::run_one(&s, &s.strategies[0], 0, true)
}

fn server_sends_after(r: &harness::record::RunRecord, secs: u64) -> Vec<sim::packet::Flags> {
    r.outcome
        .trace
        .iter()
        .filter(|t| t.at.since_start() > Duration::from_secs(secs))
        .filter_map(|t| match t.event {
            TraceEvent::Sent { side: Side::Server, seg } => Some(seg.flags),
            _ => None,
        })
        .collect()
}

/// What the server sent at a time whose whole seconds are in `secs`.
fn server_sends_during(r: &harness::record::RunRecord, secs: std::ops::Range<u64>) -> Vec<&sim::trace::TraceRecord> {
    r.outcome
        .trace
        .iter()
        .filter(|t| secs.contains(&t.at.since_start().as_secs()) && matches!(t.event, TraceEvent::Sent { side: Side::Server, .. }))
        .collect()
}

/// When the trace has `event`, exactly.
fn times_of(r: &harness::record::RunRecord, event: FaultEvent) -> Vec<Duration> {
    r.outcome.trace.iter().filter(|t| t.event == TraceEvent::Fault(event)).map(|t| t.at.since_start()).collect()
}

#[test]
fn a_vanished_server_stays_silent_through_a_suspension_that_starts_later() {
    // Vanish at 30 s, suspended 35-40 s. It used to wake at 40 s and ACK
    // every request until the horizon.
    let r = overlapping(
        "[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"30s\"\n\
         [[fault]]\nkind = \"suspend\"\ntarget = \"server\"\nat = \"35s\"\nduration = \"5s\"",
    );
    assert!(r.outcome.trace.iter().any(|t| t.event == TraceEvent::Fault(FaultEvent::SuspendEnd(Side::Server))), "the suspension fired");
    assert_eq!(server_sends_after(&r, 30), Vec::new());
}

#[test]
fn a_rebooting_server_comes_back_when_its_reboot_ends_despite_a_suspension_inside_it() {
    // Reboot 30-50 s, suspended 35-40 s. It used to come up at 40 s half
    // rebooted and never listen again: every reconnect met RST to the horizon.
    let r = overlapping(
        "[[fault]]\nkind = \"reboot\"\ntarget = \"server\"\nat = \"30s\"\nduration = \"20s\"\n\
         [[fault]]\nkind = \"suspend\"\ntarget = \"server\"\nat = \"35s\"\nduration = \"5s\"",
    );
    assert_eq!(times_of(&r, FaultEvent::RebootDone(Side::Server)), [Duration::from_secs(50)], "back up at 50 s");
    // Silent while down; after 50 s it listens again: a reconnect's SYN gets a SYN-ACK.
    let between = server_sends_during(&r, 30..50);
    assert!(between.is_empty(), "{between:?}");
    let synack = sim::packet::Flags::SYN | sim::packet::Flags::ACK;
    assert!(server_sends_after(&r, 50).contains(&synack), "no SYN-ACK after the reboot");
}

#[test]
fn overlapping_reboots_or_suspensions_hold_the_host_until_the_later_ends() {
    // Reboots 30-50 s and 40-70 s: down until 70 s (it used to come up at 50 s
    // in the middle of the second); one "back up" at 70 s.
    let r = overlapping(
        "[[fault]]\nkind = \"reboot\"\ntarget = \"server\"\nat = \"30s\"\nduration = \"20s\"\n\
         [[fault]]\nkind = \"reboot\"\ntarget = \"server\"\nat = \"40s\"\nduration = \"30s\"",
    );
    assert_eq!(times_of(&r, FaultEvent::RebootDone(Side::Server)), [Duration::from_secs(70)]);
    let during = server_sends_during(&r, 30..70);
    assert!(during.is_empty(), "{during:?}");
    // Suspensions 30-40 s and 35-50 s: asleep until 50 s, one wake-up.
    let r = overlapping(
        "[[fault]]\nkind = \"suspend\"\ntarget = \"server\"\nat = \"30s\"\nduration = \"10s\"\n\
         [[fault]]\nkind = \"suspend\"\ntarget = \"server\"\nat = \"35s\"\nduration = \"15s\"",
    );
    assert_eq!(times_of(&r, FaultEvent::SuspendEnd(Side::Server)), [Duration::from_secs(50)]);
    let during = server_sends_during(&r, 30..50);
    assert!(during.is_empty(), "{during:?}");
    // Awake again: it answers the client's next request.
    assert!(r
        .outcome
        .trace
        .iter()
        .any(|t| t.at.since_start() > Duration::from_secs(50) && matches!(t.event, TraceEvent::Sent { side: Side::Server, .. })));
}
