//! Live mode cross-check: kasim's sans-IO `app_ping` in the event engine and
//! the tokio implementation of the same policy (`live_ping`, run on turmoil)
//! must report the same detection latency, seed by seed, within one turmoil
//! tick plus the link latency (the two engines establish the connection and
//! deliver the ping on different clocks, by at most that much).

use harness::live::{self, LiveConfig, TokioPing};

use harness::runner::{self, side_outcome, SideOutcome};
use sim::Side;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

fn latency(o: SideOutcome) -> f64 {
    match o {
        SideOutcome::Detected(l) => l.as_secs_f64(),
        other => panic!("expected a detection, got {other:?}"),
    }
}

fn cross_check(file: &str) {
    let s = harness::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(file)).unwrap();
    let app = s.strategies.iter().find(|st| st.kind == "app_ping").unwrap();
    let tokio = s.strategies.iter().find(|st| st.kind == "live_ping").unwrap();
    let cfg = LiveConfig::default();
    // One-way link latency: both access links' delays.
    let link = (s.client_link.up.delay + s.server_link.up.delay).as_secs_f64();
    let bound = cfg.tick.as_secs_f64() + link;
    for seed in 0..3 {
        let event = runner::run_one(&s, app, seed, false);
        let strategy: Rc<dyn live::LiveStrategy> =
            Rc::new(TokioPing { interval: Duration::from_secs(60), timeout: Duration::from_secs(10) });
        let live = live::run(&s, strategy, tokio.detection_window(), seed, cfg).unwrap();
        // The same fault, drawn from the same seed, broke both.
        assert_eq!(event.outcome.broken, live.outcome.broken, "{file} seed {seed}");
        let (e, l) = (latency(side_outcome(&event.outcome, Side::Client)), latency(side_outcome(&live.outcome, Side::Client)));
        assert!((e - l).abs() <= bound + 1e-9, "{file} seed {seed}: event {e:.4} s, live {l:.4} s, bound {bound:.3} s");
        assert_eq!(live.outcome.declarations[0].cause, "ping timeout", "{file} seed {seed}");
    }
}

#[test]
fn app_ping_and_its_tokio_twin_agree_after_a_vanish() {
    cross_check("live-server-vanish.toml");
}

#[test]
fn app_ping_and_its_tokio_twin_agree_after_a_reboot() {
    cross_check("live-server-reboot.toml");
}

#[test]
fn what_turmoil_cannot_express_is_refused_with_a_list() {
    let s = harness::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/buildbot-dialup.toml")).unwrap();
    let parts = live::unsupported(&s);
    for expected in ["client.link rates", "[nat]", "[[traffic]]"] {
        assert!(parts.iter().any(|p| p.starts_with(expected)), "{expected} in {parts:?}");
    }
    let strategy: Rc<dyn live::LiveStrategy> = Rc::new(TokioPing { interval: Duration::from_secs(60), timeout: Duration::from_secs(10) });
    let err = live::run(&s, strategy, Duration::from_secs(60), 0, LiveConfig::default()).err().unwrap();
    assert!(err.to_string().starts_with("buildbot-dialup: live mode cannot express faithfully: "), "{err}");
}
