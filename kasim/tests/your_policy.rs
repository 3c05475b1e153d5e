//! What a team's own test of its keepalive policy looks like: a custom
//! strategy through a bundled scenario, its figures snapshotted with insta,
//! and the scenario's `[[expect]]`s (naming the custom strategy) checked.
//!
//! "Two strikes": ping every 30 s; a ping still unanswered when the next is
//! due is a strike; two in a row and the peer is dead. After the server
//! powers off, the last answered ping was at most 30 s before; strikes come
//! at the next two ticks, so detection takes 60 to 90 s (a hand bound the
//! snapshot's latencies must sit in, checked below too).

use kasim::{Control, Experiment, FindStrategy, Instant, Observed, Side, Strategy};
use std::time::Duration;

struct TwoStrikes {
    next: Instant,
    outstanding: Option<u64>,
    strikes: u32,
    seq: u64,
}

impl TwoStrikes {
    fn new() -> TwoStrikes {
        TwoStrikes { next: Instant::MAX, outstanding: None, strikes: 0, seq: 0 }
    }
}

impl Strategy for TwoStrikes {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.next = now + Duration::from_secs(30);
    }
    fn on_event(&mut self, _now: Instant, event: Observed, _ctl: &mut Control) {
        if let Observed::Pong { id } = event {
            if self.outstanding == Some(id) {
                (self.outstanding, self.strikes) = (None, 0);
            }
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if now < self.next {
            return;
        }
        self.next = now + Duration::from_secs(30);
        if self.outstanding.is_some() {
            self.strikes += 1;
            if self.strikes >= 2 {
                return ctl.declare_dead("two pings unanswered");
            }
        }
        self.seq += 1;
        self.outstanding = Some(self.seq);
        ctl.ping(self.seq, 8);
    }
}

fn experiment(jobs: usize) -> Experiment {
    Experiment::bundled("server-power-off")
        .expect("bundled")
        .strategy("two-strikes", Side::Client, TwoStrikes::new)
        .detection_window(Duration::from_secs(90))
        .seeds(40)
        .jobs(jobs)
        .only_yours()
}

#[test]
fn our_policy_detects_a_powered_off_server_within_90_s() {
    let report = experiment(2).run().expect("runs");
    // The same bytes at any number of worker threads.
    let serial = experiment(1).run().expect("runs");
    assert_eq!(format!("{report:?}"), format!("{serial:?}"));
    let ours = report.strategy("two-strikes").expect("ours ran");
    // Every seed of server-power-off powers the server off: 40 breaks, all detected in 60-90 s.
    assert_eq!((ours.client.detected, ours.client.undetected, ours.client.false_positives), (40, 0, 0));
    let (lo, hi) = (ours.client.latency_s.p50.unwrap(), ours.client.latency_s.max.unwrap());
    assert!((60.0..=90.0).contains(&lo) && (60.0..=90.0).contains(&hi), "{lo} {hi}");
    insta::assert_yaml_snapshot!(report);
}

/// A scenario file may hold expectations for a strategy supplied in code;
/// `check` holds it to them, and the kasim CLI would refuse the name.
#[test]
fn the_scenarios_expectations_judge_our_policy_too() {
    let text = r#"
name = "ours-after-power-off"
horizon = "1d"
seeds = 20
[[fault]]
kind = "vanish"
target = "server"
at = "uniform(1h, 23h)"
[[strategy]]
name = "linux-default"
kind = "tcp_keepalive"
[[expect]]
strategy = "two-strikes"
side = "client"
metric = "detection_max"
le = "90s"
[[expect]]
strategy = "two-strikes"
side = "client"
metric = "detection_p50"
le = "59s"
[[expect]]
strategy = "two-strikes"
side = "client"
metric = "detection_p50"
ge = "60s"
confidence = 0.95
"#;
    let e = Experiment::from_toml("ours.toml", text).expect("valid").strategy("two-strikes", Side::Client, TwoStrikes::new).seeds(20);
    let checked = e.check().expect("runs");
    assert_eq!(checked.results.len(), 3);
    // The first holds (<= 90 s); the second cannot (nothing is detected in under 60 s), and names seeds.
    assert!(checked.results[0].passed, "{:?}", checked.failures());
    assert!(!checked.results[1].passed && !checked.results[1].seeds.is_empty());
    // With confidence the interval is judged: every latency is at least 60 s, so even the
    // interval's lower end (an order statistic, a latency seen) meets `ge 60s`.
    let c = &checked.results[2];
    assert_eq!(c.verdict, kasim::Verdict::Pass, "{}", c.describe());
    assert!(c.interval.and_then(|i| i.lo).is_some_and(|lo| lo >= 60.0), "{}", c.describe());
    assert!(checked.inconclusive().is_empty());
    assert!(!checked.passed());
    // Without the strategy in code, the name is unknown: the file's own error, with what is allowed.
    let without = Experiment::from_toml("ours.toml", text).expect("valid").run();
    let message = without.expect_err("refused").to_string();
    assert!(message.contains("no strategy is named \"two-strikes\"; allowed: \"linux-default\""), "{message}");
}

#[test]
fn names_must_be_unique_and_bundled_names_exist() {
    let e = Experiment::bundled("server-power-off").expect("bundled").strategy("linux-default", Side::Client, TwoStrikes::new);
    assert!(matches!(e.run(), Err(kasim::Error::DuplicateStrategy(n)) if n == "linux-default"));
    let Err(e) = Experiment::bundled("no-such-scenario") else { panic!("a scenario nobody bundled was found") };
    let e = e.to_string();
    assert!(e.contains("no bundled scenario is named \"no-such-scenario\"; allowed: aws-nat-gateway"), "{e}");
}
