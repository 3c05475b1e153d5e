//! Same seed, same run; and TCP's promise under any loss and outage schedule
//! that does not break the connection: every message arrives once, in order.

mod common;
use common::*;
use proptest::prelude::*;
use sim::app::AppEvent;
use sim::link::LinkConfig;
use sim::trace::{DropReason, TraceEvent};
use sim::world::AccessLink;
use sim::{ConfigError, Fault, Instant, Side, World, WorldConfig};
use std::time::Duration;

fn lossy(seed: u64, loss: f64, outages: &[(u64, u64)], messages: u64) -> (WorldConfig, Script) {
    let link = LinkConfig { rate_bps: 2_000_000, delay: Duration::from_millis(30), loss, ..LinkConfig::default() };
    let cfg = WorldConfig {
        seed,
        horizon: Duration::from_secs(3 * 3600),
        client_link: AccessLink::symmetric(link.clone()),
        server_link: AccessLink::symmetric(link),
        faults: outages
            .iter()
            .map(|&(at, dur)| Fault::Outage { link: Side::Server, at: Instant::from_secs(at), duration: Duration::from_secs(dur) })
            .collect(),
        ..WorldConfig::default()
    };
    let mut client = Script::new();
    for i in 0..messages {
        client = client.write_at(Instant::from_millis(1000 + i * 700), 500 + (i * 977) % 6000, i);
    }
    (cfg, client)
}

#[test]
fn same_seed_gives_an_identical_trace_and_another_seed_does_not() {
    let go = |seed| {
        let (cfg, client) = lossy(seed, 0.05, &[(20, 10)], 60);
        let out = run(cfg, client, Script::new());
        format!("{:?}", out.trace)
    };
    let a = go(7);
    assert_eq!(a, go(7));
    assert_ne!(a, go(8), "the seed reaches the loss draws");
}

#[test]
fn bad_configuration_is_an_error_naming_the_field() {
    let mut cfg = WorldConfig::default();
    cfg.client_link.up.rate_bps = 0;
    let err = World::new(cfg, Box::new(Script::new()), Box::new(Script::new())).err().unwrap();
    assert_eq!(err, ConfigError::MustBePositive { field: "client.link.up" });

    let cfg = WorldConfig {
        horizon: Duration::from_secs(60),
        faults: vec![Fault::Vanish { side: Side::Server, at: Instant::from_secs(61) }],
        ..WorldConfig::default()
    };
    let err = World::new(cfg, Box::new(Script::new()), Box::new(Script::new())).err().unwrap();
    assert!(matches!(err, ConfigError::FaultAfterHorizon { index: 0, kind: "vanish", .. }), "{err}");

    let cfg = WorldConfig { faults: vec![Fault::NatReboot { at: Instant::from_secs(1) }], ..WorldConfig::default() };
    let err = World::new(cfg, Box::new(Script::new()), Box::new(Script::new())).err().unwrap();
    assert_eq!(err.to_string(), "fault #0 (nat_reboot) needs a NAT, and the topology has none");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_message_arrives_once_and_in_order_without_a_breaking_fault(
        seed in 0u64..1_000_000,
        loss in 0.0f64..0.15,
        outages in proptest::collection::vec((5u64..60, 1u64..90), 0..3),
        messages in 1u64..80,
    ) {
        let (cfg, client) = lossy(seed, loss, &outages, messages);
        let server = Script::new();
        let slog = server.log();
        let out = run(cfg, client, server);
        let tags: Vec<u64> = slog.borrow().iter().filter_map(|(_, e)| match e {
            AppEvent::Message { tag, .. } => Some(*tag),
            _ => None,
        }).collect();
        prop_assert_eq!(tags, (0..messages).collect::<Vec<_>>());
        prop_assert!(out.declarations.is_empty());
        // The faults fired: with loss, some packet was lost; with an outage, some
        // packet met it (or nothing was in flight then, which the trace shows).
        if loss > 0.02 && messages > 20 {
            let lost = out.trace.iter().any(|r| matches!(r.event, TraceEvent::Dropped { reason: DropReason::Link(_), .. }));
            prop_assert!(lost);
        }
    }
}
