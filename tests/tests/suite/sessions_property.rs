//! Over random fault schedules, reconnect modes, idle timeouts and NATs, the
//! session books balance:
//! - every request issued ends as exactly one outcome or is left uncounted
//!   (young at the horizon): `issued = ok + failed + hung + uncounted`;
//! - every unavailable period starts before it ends and ends exactly at the
//!   establishment of a connection that was not broken then, or stays open
//!   to the horizon; a slot's periods do not overlap;
//! - the reported availability is `1 − Σ periods / slot-time`.
//!
//! The faults are shown to fire: the cases together must produce failed
//! requests, restored and unrestored periods and reconnects.

use harness::runner;
use harness::scenario::parse;
use harness::summary::{unavailable_periods, RunSummary};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use sim::Instant;
use std::cell::RefCell;
use std::path::Path;

#[derive(Debug, Clone)]
struct Case {
    mode: &'static str,
    nat: Option<(u64, &'static str)>,
    reboot_every_m: u64,
    outage_every_m: u64,
    request_every_s: u64,
    timeout_s: u64,
    server_idle_s: u64,
    client_idle_s: u64,
    connect_timeout_s: u64,
    keepalive_idle_s: u64,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["off", "eager", "lazy"]),
        prop::option::of((60u64..600, prop::sample::select(vec!["rst", "drop", "new_port"]))),
        5u64..40,
        5u64..40,
        2u64..120,
        prop::sample::select(vec![0u64, 1, 5, 30]),
        prop::sample::select(vec![0u64, 5, 75]),
        prop::sample::select(vec![0u64, 4, 60]),
        prop::sample::select(vec![0u64, 2, 10]),
        5u64..400,
        0u64..1000,
    )
        .prop_map(|(mode, nat, reboot, outage, every, timeout, server_idle, client_idle, connect, ka, seed)| Case {
            mode,
            nat,
            reboot_every_m: reboot,
            outage_every_m: outage,
            request_every_s: every,
            timeout_s: timeout,
            server_idle_s: server_idle,
            client_idle_s: client_idle,
            connect_timeout_s: connect,
            keepalive_idle_s: ka,
            seed,
        })
}

fn scenario_text(c: &Case) -> String {
    let nat = c.nat.map_or(String::new(), |(idle, on)| format!("[nat]\nidle_timeout = \"{idle}s\"\non_expired = \"{on}\"\n"));
    format!(
        r#"
name = "property"
horizon = "2h"
base_seed = {seed}
[client]
count = 2
connections = 2
[client.link]
delay = "5ms"
[server.link]
delay = "5ms"
[client.reconnect]
mode = "{mode}"
connect_timeout = "{connect}s"
jitter = 0.3
[client.app]
idle_timeout = "{client_idle}s"
[server.app]
idle_timeout = "{server_idle}s"
{nat}
[[traffic]]
kind = "requests"
every = "exp({every}s)"
size = "300B"
reply = "20KiB"
timeout = "{timeout}s"
[[fault]]
kind = "reboot"
target = "server"
every = "exp({reboot}m)"
duration = "uniform(5s, 3m)"
[[fault]]
kind = "outage"
target = "client.link"
every = "exp({outage}m)"
duration = "uniform(1s, 2m)"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "{ka}s"
interval = "5s"
count = 3
"#,
        seed = c.seed,
        mode = c.mode,
        connect = c.connect_timeout_s,
        client_idle = c.client_idle_s,
        server_idle = c.server_idle_s,
        every = c.request_every_s,
        timeout = c.timeout_s,
        reboot = c.reboot_every_m,
        outage = c.outage_every_m,
        ka = c.keepalive_idle_s,
    )
}

#[derive(Default, Debug)]
struct Seen {
    failed: u64,
    hung: u64,
    restored: u64,
    unrestored: u64,
    reconnects: u64,
}

#[test]
fn session_books_balance_over_random_fault_schedules() {
    let config = Config { cases: 48, rng_seed: RngSeed::Fixed(0x0073_6573_7369_6f6e), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let seen = RefCell::new(Seen::default());
    let result = runner.run(&case(), |c| {
        let s = parse(Path::new("property.toml"), &scenario_text(&c)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let spec = &s.strategies[0];
        let record = runner::run_one(&s, spec, s.base_seed, false);
        let horizon = Instant::ZERO + s.horizon;
        let counts = record.requests.clone().expect("sessions are measured");
        prop_assert_eq!(counts.issued, counts.ok + counts.failed + counts.hung + counts.uncounted);

        let mut unavailable = 0u128;
        for slot in &record.outcome.slots {
            let periods = unavailable_periods(&slot.connections, horizon);
            let mut previous_end = Instant::ZERO;
            for p in &periods {
                prop_assert!(p.start >= previous_end, "overlapping periods {periods:?}");
                let end = p.end.unwrap_or(horizon);
                prop_assert!(p.start < end && end <= horizon, "{p:?}");
                if let Some(end) = p.end {
                    // Ends at a working connection: one established then, not broken by then.
                    let working = slot.connections.iter().any(|c| c.established_at == Some(end) && c.broken.is_none_or(|(at, _)| at > end));
                    prop_assert!(working, "period {p:?} does not end at a working connection: {:?}", slot.connections);
                }
                unavailable += (end - p.start).as_nanos();
                previous_end = end;
            }
        }
        let summary = RunSummary::of(&record);
        let report = runner::aggregate(spec, s.horizon, std::slice::from_ref(&summary));
        let session = report.session.expect("session figures");
        let slot_time = record.outcome.slots.len() as f64 * s.horizon.as_nanos() as f64;
        let expected = 1.0 - unavailable as f64 / slot_time;
        prop_assert!((session.availability - expected).abs() <= 5e-7, "{} vs {expected}", session.availability);
        prop_assert_eq!(session.requests.sent, counts.ok + counts.failed + counts.hung);

        let mut seen = seen.borrow_mut();
        seen.failed += counts.failed;
        seen.hung += counts.hung;
        seen.restored += session.time_to_restore_s.map_or(0, |_| 1);
        seen.unrestored += session.unrestored;
        seen.reconnects += session.reconnects;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The faults fired and the books had something to balance.
    let seen = seen.into_inner();
    assert!(seen.failed > 0 && seen.hung > 0 && seen.restored > 0 && seen.unrestored > 0 && seen.reconnects > 0, "{seen:?}");
}
