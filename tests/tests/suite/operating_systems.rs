//! `[client] os` / `[server] os` (issue 25 item 4): each OS's keepalive
//! defaults reach a `tcp_keepalive` strategy whose keys are left out, and its
//! give-up rules reach the hosts' stacks. The hand calculations are in each
//! test; the rules' sources are in `sim::tcp::Os::source` and `kasim list
//! --presets`.

use harness::runner;
use harness::scenario::parse;
use harness::summary::RunSummary;
use sim::oracle::Verdict;
use std::path::Path;

/// The server vanishes at 1 h; the client's kernel keepalive, its keys left
/// out, is the only traffic. Links have no delay, so the client last heard
/// from the server at its SYN-ACK, at 0 s; exact timers.
fn vanish(client_os: &str, sides: &str) -> harness::scenario::Scenario {
    let src = format!(
        r#"
name = "os"
horizon = "4h"
[client]
os = "{client_os}"
[tcp]
timers = "exact"
[[fault]]
kind = "vanish"
target = "server"
at = "1h"
[[strategy]]
name = "kernel-defaults"
kind = "tcp_keepalive"
sides = {sides}
"#
    );
    crate::common::inline(&src)
}

/// Detection latency of the client's keepalive, in ms.
fn latency_ms(client_os: &str) -> u128 {
    let s = vanish(client_os, "[\"client\"]");
    let r = runner::run_one(&s, &s.strategies[0], 0, false);
    let d = r.outcome.declarations.iter().find(|d| d.side == sim::Side::Client).expect("the client declares");
    let Verdict::Detection { latency } = d.verdict else { panic!("{d:?}") };
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!((report.client.detected, report.client.false_positives), (1, 0));
    latency.as_millis()
}

/// The first probe goes after `idle` of silence, then one every `interval`;
/// the timer after the `count`-th unanswered probe gives up:
/// idle + count x interval after 0 s, minus the vanish at 3600 s.
/// - Windows (2 h, 1 s, 10 probes): 7200 + 10 = 7210 s; latency 3610 s.
/// - macOS and iOS (2 h, 75 s, 8): 7200 + 600 = 7800 s; latency 4200 s.
/// - Linux and Android (2 h, 75 s, 9): 7200 + 675 = 7875 s; latency 4275 s.
#[test]
fn each_os_keepalive_defaults_reach_a_strategy_that_leaves_them_out() {
    assert_eq!(latency_ms("windows"), 3_610_000);
    assert_eq!(latency_ms("macos"), 4_200_000);
    assert_eq!(latency_ms("ios"), 4_200_000);
    assert_eq!(latency_ms("android"), 4_275_000);
    assert_eq!(latency_ms("linux"), 4_275_000);
    let s = vanish("windows", "[\"client\"]");
    assert_eq!((s.strategies[0].params()["idle"].as_str(), s.strategies[0].params()["interval"].as_str()), ("7200s", "1s"));
}

/// A strategy on both sides whose OSes disagree must write the key; a
/// written key is the same on both sides; an unknown OS is named with the
/// allowed list.
#[test]
fn a_strategy_on_two_stacks_with_different_defaults_must_say_which() {
    let src = |os: &str, extra: &str| {
        format!("name = \"os\"\nhorizon = \"1h\"\n[client]\nos = \"{os}\"\n[[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\n{extra}")
    };
    let err = parse(Path::new("two.toml"), &src("windows", "")).unwrap_err().to_string();
    // idle agrees (2 h); interval is the first that does not.
    assert!(
        err.contains(
            "two.toml:7:8: `strategy[0].interval`: is left out, and the client (windows) and the server (linux) have different defaults (1s and 75s); allowed: write `interval`"
        ),
        "{err}"
    );
    // idle is the same on both (2 h); interval and count differ: written, it parses.
    let ok = parse(Path::new("two.toml"), &src("windows", "interval = \"5s\"\ncount = 3\n")).unwrap();
    assert_eq!((ok.strategies[0].params()["idle"].as_str(), ok.strategies[0].params()["count"].as_str()), ("7200s", "3"));
    let err = parse(Path::new("bad.toml"), &src("beos", "")).unwrap_err().to_string();
    assert!(
        err.contains("`client.os`: \"beos\" is not an operating system; allowed: \"linux\", \"android\", \"windows\", \"macos\", \"ios\""),
        "{err}"
    );
}
