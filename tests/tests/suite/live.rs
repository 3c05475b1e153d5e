//! Live mode cross-check: kasim's sans-IO `app_ping` in the event engine and
//! the tokio implementation of the same policy (`live_ping`, run on turmoil)
//! must report the same detection latency, seed by seed, within one turmoil
//! tick plus the link latency (the two engines establish the connection and
//! deliver the ping on different clocks, by at most that much).

use harness::live::{self, LiveConfig, TokioPing};

use harness::runner;
use harness::summary::{side_outcome, SideOutcome};
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
    let app = s.strategies.iter().find(|st| st.kind_name() == "app_ping").unwrap();
    let tokio = s.strategies.iter().find(|st| st.kind_name() == "live_ping").unwrap();
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
        // Wire statistics counted from turmoil's messages: the same pings and
        // pongs as the event engine's (one a minute until the break, one more
        // that times out), and the client's one SYN.
        assert_eq!(
            (live.endpoints[0].pings, live.endpoints[1].pongs),
            (event.endpoints[0].pings, event.endpoints[1].pongs),
            "{file} seed {seed}"
        );
        assert!(live.endpoints[0].pings >= 20, "{file} seed {seed}: the break is at 20 min or later");
        assert_eq!(live.outcome.stats[0].packets_of(sim::packet::SegmentKind::Handshake), 1, "{file} seed {seed}");
    }
}

/// `live_ping` whose client task says when it starts and ends, through `tracing`, as user code would.
struct Chatty(TokioPing);

impl live::LiveStrategy for Chatty {
    fn client(&self, stream: turmoil::net::TcpStream, dead: live::DeathHandle) -> live::LocalTask {
        let ping = self.0.client(stream, dead);
        Box::pin(async move {
            tracing::info!(target: "my_app", peer = "server", "pinging");
            ping.await;
            tracing::warn!(target: "my_app", "gave up on the server");
        })
    }
    fn server(&self, stream: turmoil::net::TcpStream, dead: live::DeathHandle) -> live::LocalTask {
        self.0.server(stream, dead)
    }
}

#[test]
fn a_traced_live_run_keeps_the_users_log_lines_at_their_simulated_time() {
    use sim::trace::{FaultEvent, TraceEvent};
    let s = harness::scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/live-server-vanish.toml")).unwrap();
    let tokio = s.strategies.iter().find(|st| st.kind_name() == "live_ping").unwrap();
    let strategy = Rc::new(Chatty(TokioPing { interval: Duration::from_secs(60), timeout: Duration::from_secs(10) }));
    let cfg = LiveConfig { trace: true, ..LiveConfig::default() };
    let r = live::run(&s, strategy, tokio.detection_window(), 0, cfg).unwrap();
    let logs: Vec<(f64, &TraceEvent)> = r
        .outcome
        .trace
        .iter()
        .filter(|t| matches!(&t.event, TraceEvent::Log { target, .. } if target == "my_app"))
        .map(|t| (t.at.as_secs_f64(), &t.event))
        .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    // The client's task starts once connected: turmoil's connect returns one
    // link latency (20 + 5 ms) after it starts (its SYN is the only handshake
    // message; the accept answers on a channel, off the network).
    let TraceEvent::Log { side, level, message, .. } = logs[0].1 else { unreachable!() };
    assert_eq!((*side, *level, message.as_str()), (Some(sim::Side::Client), tracing::Level::INFO, "pinging peer=server"));
    assert!((logs[0].0 - 0.025).abs() <= 0.001, "{logs:?}");
    // It ends when it declares the server dead, at the declaration's instant.
    let declared = r.outcome.declarations[0].at.as_secs_f64();
    assert_eq!(logs[1].0, declared, "{logs:?}");
    // The vanish and the declaration are in the trace too, in time order.
    let vanish = r.outcome.trace.iter().find(|t| matches!(t.event, TraceEvent::Fault(FaultEvent::Vanish(_)))).expect("the fault");
    assert_eq!(Some(vanish.at), r.outcome.broken.map(|b| b.0));
    assert!(r.outcome.trace.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(r.outcome.trace.iter().any(|t| matches!(t.event, TraceEvent::Declared { .. })));
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
