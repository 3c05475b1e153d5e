//! The `kasim` binary as users and scripts see it: exit codes, error
//! messages that name file, line, column, key and what is allowed, JSON on
//! stdout only, identical bytes at any --jobs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{kasim, stderr};

/// Write a scenario into a fresh temp folder, removed when the returned
/// `ScenarioFile` is dropped.
fn scenario(name: &str, body: &str) -> ScenarioFile {
    let dir = common::temp_folder("cli", name);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, body).unwrap();
    ScenarioFile { path, _dir: dir }
}

/// A scenario file in its own temp folder: a `Path` to the file.
struct ScenarioFile {
    path: PathBuf,
    _dir: common::TempFolder,
}

impl std::ops::Deref for ScenarioFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

/// A test's folder (`common::TempFolder`) goes when the test ends, and
/// stays, with what the test wrote, when the test panics.
#[test]
fn a_tests_folder_goes_when_it_passes_and_stays_when_it_panics() {
    let passed = common::temp_folder("cli", "passes");
    let path = passed.to_path_buf();
    std::fs::write(passed.join("f"), "x").unwrap();
    drop(passed);
    assert!(!path.exists(), "{} left behind", path.display());
    let kept = std::panic::catch_unwind(|| {
        let failing = common::temp_folder("cli", "panics");
        std::fs::write(failing.join("f"), "x").unwrap();
        std::panic::panic_any(failing.to_path_buf())
    });
    let kept = kept.expect_err("it panicked").downcast::<PathBuf>().expect("its folder's path");
    assert_eq!(std::fs::read_to_string(kept.join("f")).unwrap(), "x");
    std::fs::remove_dir_all(*kept).unwrap();
}

const VALID: &str = r#"name = "ok"
horizon = "1h"

[[fault]]
kind = "vanish"
target = "server"
at = "10m"

[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "60s"
interval = "10s"
count = 3
"#;

/// Replace `from` in the valid scenario, run it, expect exit 2 and these fragments.
fn bad(name: &str, from: &str, to: &str, expect: &[&str]) {
    assert!(VALID.contains(from), "fixture has {from}");
    let path = scenario(name, &VALID.replace(from, to));
    let o = kasim(&["run", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    assert!(o.stdout.is_empty(), "{name}: nothing on stdout");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{name}: {err}");
    assert!(err.contains(&format!("{}:", path.display())), "{name}: names the file: {err}");
    for e in expect {
        assert!(err.contains(e), "{name}: expected {e:?} in: {err}");
    }
}

#[test]
fn unknown_key() {
    bad("unknown-key", "horizon = \"1h\"", "horizon = \"1h\"\nhorizn = \"2h\"", &[":3:1:", "unknown field `horizn`", "horizon"]);
}

#[test]
fn parser_errors_name_the_key_too() {
    // The TOML parser reports a position, not a key; kasim recovers the key
    // from the table headers above it.
    bad(
        "missing-field",
        "count = 3",
        "count = 3\n[[expect]]\nmetric = \"detected\"\nge = 1",
        &[":15:1:", "`expect[0]`", "missing field `strategy`"],
    );
    bad("unknown-in-table", "count = 3", "count = 3\ncont = 3", &["`strategy[0].cont`"]);
    bad(
        "nested-type",
        "count = 3",
        "count = 3\n[client.link]\nup = 5",
        &[":16:6:", "`client.link.up`", "integer 5 is not allowed here; allowed: a rate such as"],
    );
    // Inside a multi-line string, even a line that reads like `key = value` belongs to the string's key.
    bad(
        "bad-escape",
        "horizon = \"1h\"",
        "description = \"\"\"\nthe rate = fast \\q\n\"\"\"\nhorizon = \"1h\"",
        &[":3:18:", "`description`", "missing escaped value"],
    );
}

#[test]
fn wrong_type() {
    bad("wrong-type", "count = 3", "count = \"three\"", &[":14:9:", "`strategy[0].count`", "must be an integer; allowed: 1..=127"]);
}

#[test]
fn zero_rate() {
    bad("zero-rate", "count = 3", "count = 3\n[client.link]\nup = \"0kbit/s\"", &[":16:6:", "`client.link.up`", "greater than zero"]);
}

#[test]
fn horizon_too_long() {
    bad("long-horizon", "horizon = \"1h\"", "horizon = \"400d\"", &[":2:11:", "`horizon`", "allowed: up to 365d"]);
    // Past a century no duration is accepted anywhere (a sum of two such overflowed).
    bad("huge-horizon", "horizon = \"1h\"", "horizon = \"999999999d\"", &[":2:11:", "`horizon`", "allowed: at most 36500d (a century)"]);
}

#[test]
fn gaps_and_timers_under_a_millisecond() {
    bad(
        "every-1ns",
        "count = 3",
        "count = 3\n[[traffic]]\nkind = \"upload\"\nevery = \"exp(999us)\"\nsize = \"1KiB\"",
        &[":17:9:", "`traffic[0].every`", "allowed: at least 1ms"],
    );
    bad(
        "ping-1ns",
        "count = 3",
        "count = 3\n[[strategy]]\nname = \"p\"\nkind = \"app_ping\"\ninterval = \"1ns\"",
        &["`strategy[1].interval`", "1ns is under a millisecond", "at least 1ms"],
    );
}

#[test]
fn fault_after_horizon() {
    bad("late-fault", "at = \"10m\"", "at = \"2h\"", &[":7:6:", "`fault[0].at`", "is after the horizon (1h)"]);
}

#[test]
fn strategy_parameter_out_of_range() {
    bad("count-range", "count = 3", "count = 500", &[":14:9:", "`strategy[0].count`", "500 is out of range; allowed: 1..=127"]);
}

#[test]
fn sysctl_out_of_range() {
    bad(
        "synack-range",
        "count = 3",
        "count = 3\n[tcp]\nsynack_retries = 300",
        &[":16:18:", "`tcp.synack_retries`", "300 is out of range; allowed: 0..=255"],
    );
    bad(
        "syn-linear-range",
        "count = 3",
        "count = 3\n[tcp]\nsyn_linear_timeouts = 128",
        &[":16:23:", "`tcp.syn_linear_timeouts`", "128 is out of range; allowed: 0..=127"],
    );
    bad(
        "no-metrics-save-range",
        "count = 3",
        "count = 3\n[tcp]\nno_metrics_save = 2",
        &[":16:19:", "`tcp.no_metrics_save`", "2 is out of range; allowed: 0 (save, Linux's default) or 1"],
    );
}

#[test]
fn keepalive_times_the_kernel_cannot_take() {
    // TCP_KEEPIDLE / TCP_KEEPINTVL are whole seconds, 1..=32767.
    bad(
        "ka-subsecond",
        "interval = \"10s\"",
        "interval = \"1500ms\"",
        &[":13:12:", "`strategy[0].interval`", "whole seconds from 1s to 32767s"],
    );
    bad("ka-too-long", "idle = \"60s\"", "idle = \"10h\"", &["`strategy[0].idle`", "10h cannot be set"]);
}

#[test]
fn unknown_strategy_parameter() {
    bad(
        "unknown-param",
        "count = 3",
        "cnt = 3",
        &["`strategy[0].cnt`", "tcp_keepalive has no parameter `cnt`; allowed: idle, interval, count, user_timeout"],
    );
}

#[test]
fn expectation_naming_an_unknown_strategy_or_metric() {
    bad(
        "expect-strategy",
        "count = 3",
        "count = 3\n[[expect]]\nstrategy = \"kaa\"\nside = \"client\"\nmetric = \"detection_p99\"\nle = \"5m\"",
        &[":16:12:", "`expect[0].strategy`", "no strategy is named \"kaa\"; allowed: \"ka\""],
    );
    bad(
        "expect-metric",
        "count = 3",
        "count = 3\n[[expect]]\nstrategy = \"ka\"\nside = \"client\"\nmetric = \"latency\"\nle = \"5m\"",
        &["`expect[0].metric`", "\"latency\" is not a metric; allowed: detection_p50"],
    );
}

#[test]
fn bad_unit() {
    bad(
        "bad-unit",
        "interval = \"10s\"",
        "interval = \"10 parsecs\"",
        &["`strategy[0].interval`", "allowed: a duration such as \"250ms\""],
    );
}

#[test]
fn unknown_strategy_flag_and_bad_flags_exit_2() {
    let path = scenario("flag", VALID);
    let o = kasim(&["run", path.to_str().unwrap(), "--strategy", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown strategy \"nope\"; allowed: \"ka\""), "{}", stderr(&o));
    let o = kasim(&["run", "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("possible values: table, json, markdown"));
    let o = kasim(&["run", "/no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/file.toml: no such file or folder"));
    // --seeds beyond a scenario file's own cap, and --jobs 0 (which rayon took as "all cores").
    for (flags, message) in [
        (["--seeds", "2000000"], "--seeds: 2000000 is out of range; allowed: 1..=1000000"),
        (["--seeds", "0"], "--seeds: 0 is out of range; allowed: 1..=1000000"),
        (["--jobs", "0"], "--jobs: 0 is out of range; allowed: 1..=256"),
        // Issue 27 item 2: no upper bound (4000 threads turned 0.02 s into 16 s; 2^64-1 was accepted).
        (["--jobs", "4000"], "--jobs: 4000 is out of range; allowed: 1..=256"),
        (["--jobs", "18446744073709551615"], "--jobs: 18446744073709551615 is out of range; allowed: 1..=256"),
    ] {
        let mut args = vec!["run", path.to_str().unwrap()];
        args.extend(flags);
        let o = kasim(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(stderr(&o).contains(message), "{flags:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn check_exits_1_with_a_replay_line_for_a_failing_seed() {
    let body = format!("{VALID}\n[[expect]]\nstrategy = \"ka\"\nside = \"client\"\nmetric = \"detection_max\"\nle = \"30s\"\n");
    let path = scenario("failing", &body);
    let junit = path.parent().unwrap().join("junit.xml");
    let o = kasim(&["check", path.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuites name="kasim check" tests="1" failures="1">"#), "{xml}");
    assert!(xml.contains(r#"<testcase classname="ok" name="ka client detection_max &lt;= 30">"#), "{xml}");
    assert!(xml.contains("<failure message=\"observed "), "{xml}");
    assert!(xml.contains("--strategy ka --seed 0"), "{xml}");
    assert!(err.contains("FAIL ok: ka client detection_max <= 30: observed "), "{err}");
    // Dead 60 + 3 x 10 = 90 s after the last receipt (plus wheel slack); while the
    // server lived, probes were answered every ~60 s, so the vanish came 0-60 s
    // after the last receipt: latency in (30, 91] s, here over the 30 s bound.
    let observed: f64 = err.split("observed ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
    assert!(observed > 30.0 && observed <= 91.0, "{observed}");
    assert!(err.contains(&format!("reproduce with: kasim replay {} --strategy ka --seed 0", path.display())), "{err}");
    // And the line it prints does replay it.
    let o = kasim(&["replay", path.to_str().unwrap(), "--strategy", "ka", "--seed", "0"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("fault: vanish server at +00:10:00.000"), "{out}");
    assert!(out.contains("declared dead: ETIMEDOUT (broken"), "{out}");
}

#[test]
fn replay_shows_a_server_forgetting_a_half_open_connection() {
    // The client's handshake ACK and data are lost (server link down from
    // 2.5 ms for 14 s). With tcp_synack_retries = 2 the server resends its
    // SYN-ACK 1 and 3 s after the first and drops the request at 7 s: 7.168 s
    // on the HZ-250 wheel (the 4 s timer sits on 256 ms buckets). The client's
    // retransmission at 26.624 s (its RTOs double; the one at 13.312 s
    // still met the outage) gets the listener's RST: ECONNRESET at 26.626 s,
    // the figure `kasim calibrate` holds to the kernel (26.616 s after the write).
    let path = scenario(
        "half-open",
        "name = \"half-open\"\nhorizon = \"1m\"\n[tcp]\nsynack_retries = 2\n[client.link]\ndelay = \"1ms\"\n\
         [[fault]]\nkind = \"outage\"\ntarget = \"server.link\"\nat = \"2.5ms\"\nduration = \"14s\"\n\
         [[traffic]]\nkind = \"upload\"\nat = \"10ms\"\nsize = \"100B\"\n[[strategy]]\nname = \"none\"\nkind = \"none\"\n",
    );
    let o = kasim(&["replay", path.to_str().unwrap(), "--strategy", "none", "--seed", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("+00:00:07.168 server       half-open connection dropped (SYN-ACK never answered"), "{out}");
    assert!(out.contains("+00:00:26.625 server       sends RST"), "{out}");
    assert!(out.contains("+00:00:26.626 client       socket error: ECONNRESET"), "{out}");
}

#[test]
fn json_is_the_only_thing_on_stdout_and_identical_at_any_job_count() {
    let catalogue = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let cat = catalogue.to_str().unwrap();
    let one = kasim(&["run", cat, "--format", "json", "--seeds", "4", "--jobs", "1"]);
    let two = kasim(&["run", cat, "--format", "json", "--seeds", "4", "--jobs", "2"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert_eq!(one.stdout, two.stdout);
    let v: serde_json::Value = serde_json::from_slice(&one.stdout).expect("stdout is one JSON document");
    // The catalogue in file order; the first is aws-nat-gateway, its first strategy linux-default.
    let s = &v["scenarios"][0];
    assert_eq!((s["name"].as_str(), s["seeds"].as_u64()), (Some("aws-nat-gateway"), Some(4)));
    let st = &s["strategies"][0];
    assert_eq!((st["name"].as_str(), st["kind"].as_str(), st["runs"].as_u64()), (Some("linux-default"), Some("tcp_keepalive"), Some(4)));
    // The printed figures are the library's for the same runs, field for field.
    let file = catalogue.join("aws-nat-gateway.toml");
    let scenario = harness::scenario::load(&file).unwrap();
    let strategies: Vec<_> = scenario.strategies.iter().collect();
    let runs = harness::runner::run_scenario(&scenario, &strategies, Some(4), &|| {});
    let report = harness::runner::scenario_report(&scenario, &strategies, &runs, 4);
    assert_eq!(st, &serde_json::to_value(&report.strategies[0]).unwrap());
    assert!(st["keepalive_packets_per_hour"].as_f64().unwrap() > 0.0, "linux-default probes after 2 h of a day's idleness");
    // One connection per run: no "connections" field (v1 bytes), and at most one detection per side per run.
    assert!(st.get("connections").is_none());
    for side in ["client", "server"] {
        let sd = &st[side];
        let (detected, undetected) = (sd["detected"].as_u64().unwrap(), sd["undetected"].as_u64().unwrap());
        assert!(detected + undetected <= 4, "{side}: {detected} + {undetected} of 4 runs");
        let latency = sd["latency_s"].as_object().unwrap();
        let keys: Vec<&str> = latency.keys().map(String::as_str).collect();
        assert_eq!(keys, ["max", "mean", "p50", "p90", "p99"]);
        // Null exactly when nothing was detected.
        assert!(latency.values().all(|x| x.is_null() == (detected == 0)), "{side}: {latency:?}");
        let causes: Vec<&str> = sd["false_positives_by_cause"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(causes, ["healthy", "loss", "nat_idle", "outage", "queue", "suspend"]);
        let by_cause: u64 = sd["false_positives_by_cause"].as_object().unwrap().values().map(|x| x.as_u64().unwrap()).sum();
        assert_eq!(sd["false_positives"].as_u64(), Some(by_cause), "{side}: the causes add up");
    }
}

#[test]
fn out_dir_gets_the_reports_and_no_temp_files() {
    let path = scenario("out", VALID);
    let out = path.parent().unwrap().join("report");
    let o = kasim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in ["report.txt", "report.md", "report.json", "index.html"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    // No temp files left behind.
    let leftovers: Vec<_> =
        std::fs::read_dir(&out).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains(".tmp-")).collect();
    assert!(leftovers.is_empty());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["scenarios"][0]["strategies"][0]["client"]["detected"], 1);
}

#[test]
fn list_shows_scenarios_and_every_kind_with_defaults() {
    let o = kasim(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("buildbot-dialup"));
    for line in [
        "tcp_keepalive",
        "idle                   = 2h",
        "interval               = 75s",
        "count                  = 9",
        "app_ping",
        "timeout                = 3m",
        "liveness               = pong",
        "threshold              = 8.0",
        "net_ticktime           = 60s",
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
}

/// `list FILE` (issue 29): that file's scenario, and only the strategy kinds
/// it uses; a name wider than its column gets a line of its own.
#[test]
fn list_of_a_file_shows_only_the_kinds_it_uses_and_long_names_keep_clear_of_the_path() {
    let o = kasim(&["list", "../scenarios/postgres-pool-first-query-after-idle.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // 36 characters, wider than the 28 of the column: the path starts the next line.
    assert!(out.contains("  postgres-pool-first-query-after-idle\n                               ../scenarios/"), "{out}");
    assert!(out.contains("Strategy kinds these files use"), "{out}");
    let kinds: Vec<&str> = out
        .split("kasim list` prints every kind):\n")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("      "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(kinds, ["tcp_keepalive"], "{out}");
}

#[test]
fn replay_json_has_the_contract_fields() {
    let o = kasim(&["replay", "../scenarios/server-reboot.toml", "--strategy", "ping-1m-10s", "--seed", "3", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["seed"], 3);
    assert_eq!(v["faults"][0]["kind"], "reboot");
    assert!(v["broken_at_s"].as_f64().unwrap() >= 3600.0);
    let d = &v["declarations"][0];
    assert_eq!(d["side"], "client");
    assert_eq!(d["false_positive"], false);
    assert_eq!(d["cause"], "ping timeout");
    // One connection: no `connection`, `attempt` or `connections_broken` key (v1 bytes).
    assert!(d.get("connection").is_none() && d.get("attempt").is_none(), "{d}");
    assert!(v.get("connections_broken").is_none());
    assert!(v["timeline"].as_array().unwrap().len() > 10);
}

/// A fleet's replay says which connection each declaration is about, how
/// many connections broke, and which client host each timeline line is on.
/// 3 clients x 2 connections behind a 350 s RST NAT with keepalive 400 s (tests/tests/suite/fleet.rs works the numbers out for
/// 1000 clients): every mapping expires 350 s after its handshake (µs after
/// 0), and each connection's first probe, at 409.6 s on the HZ-250 wheel,
/// meets the NAT's RST: ECONNRESET, 59.6 s after the break.
#[test]
fn a_fleets_replay_names_the_connection_of_each_declaration() {
    let path = scenario(
        "fleet-replay",
        "name = \"fleet-replay\"\nhorizon = \"10m\"\n[client]\ncount = 3\nconnections = 2\n\
         [nat]\nidle_timeout = \"350s\"\non_expired = \"rst\"\n\
         [[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\nsides = [\"client\"]\nidle = \"400s\"\ninterval = \"10s\"\ncount = 3\n",
    );
    let p = path.to_str().unwrap();
    let o = kasim(&["replay", p, "--strategy", "ka", "--seed", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\nconnections broken: 6 of 6; the first, connection 0, at +00:05:50.000: NAT mapping expired\n"), "{out}");
    for k in 0..6 {
        let line =
            format!("\ndeclared dead at +00:06:49.600 by the client of connection {k}: ECONNRESET (detection, 59.60s after the break)\n");
        assert!(out.contains(&line), "{line} in {out}");
    }
    // The timeline's socket events and declarations name the client host too.
    for i in 0..3 {
        assert!(out.contains(&format!("+00:06:49.600 client:{i}     socket error: ECONNRESET\n")), "client:{i} in {out}");
        assert!(out.contains(&format!("+00:06:49.600 client:{i}     declared dead: ECONNRESET (broken 59.60s ago)\n")), "{out}");
    }
    assert!(!out.contains(" client       "), "no unnamed client line in a fleet: {out}");
    let o = kasim(&["replay", p, "--strategy", "ka", "--seed", "0", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let connections: Vec<u64> = v["declarations"].as_array().unwrap().iter().map(|d| d["connection"].as_u64().unwrap()).collect();
    assert_eq!(connections.len(), 6);
    assert_eq!(v["connections_broken"], 6);
    assert_eq!(connections.iter().collect::<std::collections::BTreeSet<_>>().len(), 6, "{connections:?}");
    assert!(v["declarations"].as_array().unwrap().iter().all(|d| d.get("attempt").is_none()), "no reconnects");
}

#[test]
fn export_scenario_fixes_every_random_value_and_reproduces_the_outcome() {
    let dir = common::temp_folder("cli", "export");
    // A false positive (the ping stuck behind an upload) and a detection (a random vanish).
    for (scenario, strategy, seed) in
        [("../scenarios/buildbot-dialup.toml", "ping-10m-3m", "3"), ("../scenarios/server-power-off.toml", "keepalive-60-10-5", "7")]
    {
        let exported = dir.join(format!("{strategy}-{seed}.toml"));
        let original =
            kasim(&["replay", scenario, "--strategy", strategy, "--seed", seed, "--export-scenario", exported.to_str().unwrap()]);
        assert_eq!(original.status.code(), Some(0), "{}", stderr(&original));
        let text = std::fs::read_to_string(&exported).unwrap();
        assert!(!text.contains("exp(") && !text.contains("uniform("), "nothing random left:\n{text}");
        // It reads like the user's file: its keys in the original order, durations
        // as one token ("58m7.880002368s", exact to the nanosecond).
        let pos = |k: &str| text.find(&format!("\n{k} = ")).unwrap_or_else(|| panic!("{k} in:\n{text}"));
        assert!(pos("name") < pos("horizon") && pos("horizon") < pos("seeds") && pos("seeds") < pos("base_seed"), "{text}");
        for line in text.lines().filter(|l| l.starts_with("at = ") || l.starts_with("duration = ")) {
            assert!(!line.contains(' ') || line.matches(' ').count() == 2, "one token: {line}");
        }
        // The fixed file replays the same story, line for line but for the header and the
        // "reproduce with" line (they name the file).
        let again = kasim(&["replay", exported.to_str().unwrap(), "--strategy", strategy, "--seed", seed]);
        let body = |o: &Output| {
            String::from_utf8_lossy(&o.stdout).lines().skip(1).filter(|l| !l.starts_with("reproduce with:")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(body(&original), body(&again));
        // And its pinned expectations hold.
        let check = kasim(&["check", exported.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
        assert!(stderr(&check).contains("passed, 0 failed"));
    }
}

#[test]
fn replay_timeline_reads_as_a_story() {
    // A 30-minute ping behind a 20-minute drop NAT: the mapping goes at 20 m, the
    // ping at 30 m dies at the NAT, and the 3-minute timeout fires at 33 m.
    let path = scenario(
        "story",
        "name = \"story\"\nhorizon = \"1h\"\n[nat]\nidle_timeout = \"20m\"\non_expired = \"drop\"\n\
         [[strategy]]\nname = \"ping\"\nkind = \"app_ping\"\nsides = [\"client\"]\ninterval = \"30m\"\ntimeout = \"3m\"\n",
    );
    let o = kasim(&["replay", path.to_str().unwrap(), "--strategy", "ping", "--seed", "0"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for line in [
        "+00:20:00.000 nat          mapping 198.18.0.2:40000 -> 198.51.100.1:40000 expired (idle 20m)",
        "+00:30:00.000 client       ping #1 (8 B) written",
        "+00:30:00.000 client       ping #1 (8 B) dropped at nat (no mapping)",
        "+00:33:00.000 client       declared dead: ping timeout (broken 13m00s ago)",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn fleets_and_pools_out_of_range() {
    let fleet =
        |name: &str, client: &str, expect: &[&str]| bad(name, "horizon = \"1h\"", &format!("horizon = \"1h\"\n[client]\n{client}"), expect);
    fleet("count-0", "count = 0", &[":4:9:", "`client.count`", "0 is out of range; allowed: 1..=100000"]);
    fleet("connections-over", "connections = 20000", &[":4:15:", "`client.connections`", "allowed: 1..=10000"]);
    fleet(
        "too-many-in-all",
        "count = 300\nconnections = 1000",
        &[":5:15:", "`client.connections`", "300 clients x 1000 connections = 300000 connections; allowed: at most 200000"],
    );
    bad("server-count", "horizon = \"1h\"", "horizon = \"1h\"\n[server]\ncount = 2", &["`server.count`", "unknown field `count`"]);
    // A fault on a client the fleet does not have.
    bad(
        "client-past-fleet",
        "target = \"server\"",
        "target = \"client:2\"",
        &[":6:10:", "`fault[0].target`", "\"client:2\" is not a client of the fleet; allowed: client:0 to client:0"],
    );
    let two = VALID
        .replace("horizon = \"1h\"", "horizon = \"1h\"\n[client]\ncount = 2")
        .replace("target = \"server\"", "target = \"client:7.link\"");
    let path = scenario("client-link-past-fleet", &two);
    let o = kasim(&["run", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("\"client:7.link\" is not a client of the fleet; allowed: client:0 to client:1"), "{}", stderr(&o));
    // The right target for each kind.
    bad(
        "link-for-vanish",
        "target = \"server\"",
        "target = \"client:0.link\"",
        &["a vanish cannot target \"client:0.link\"; allowed: \"client\", \"client:N\", \"server\""],
    );
}

#[test]
fn proxy_out_of_range() {
    bad(
        "proxy-on-idle",
        "horizon = \"1h\"",
        "horizon = \"1h\"\n[proxy]\nidle_timeout = \"60s\"\non_idle = \"drop\"",
        &[":5:11:", "`proxy.on_idle`", "\"drop\" is not a proxy idle behaviour; allowed: \"fin\", \"rst\", \"silent\""],
    );
    bad("proxy-unknown-key", "horizon = \"1h\"", "horizon = \"1h\"\n[proxy]\nidle = \"60s\"", &["`proxy.idle`", "unknown field `idle`"]);
    bad(
        "proxy-target-without-proxy",
        "target = \"server\"",
        "target = \"proxy\"",
        &["`fault[0].target`", "there is no proxy; add a [proxy] section"],
    );
    bad(
        "proxy-outage",
        "kind = \"vanish\"\ntarget = \"server\"",
        "kind = \"suspend\"\ntarget = \"proxy\"\nduration = \"1m\"",
        &["`fault[0].target`", "a suspend cannot target \"proxy\""],
    );
}

/// A fleet's whole world cannot be one file's, but one client's can
/// (issue 29): without `--client` the refusal names that way out; a pool
/// (connections sharing a host) is still refused.
#[test]
fn a_fleet_exports_one_clients_world_and_says_how() {
    let fleet = VALID.replace("horizon = \"1h\"", "horizon = \"1h\"\n[client]\ncount = 3");
    let path = scenario("export-fleet", &fleet);
    let out = path.with_extension("exported.toml");
    let o = kasim(&["replay", path.to_str().unwrap(), "--strategy", "ka", "--seed", "0", "--export-scenario", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("has 3 connections ([client] count x connections); allowed: add --client N to export that client's world alone"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    let pool = VALID.replace("horizon = \"1h\"", "horizon = \"1h\"\n[client]\nconnections = 3");
    let path = scenario("export-pool", &pool);
    let o = kasim(&[
        "replay",
        path.to_str().unwrap(),
        "--strategy",
        "ka",
        "--seed",
        "0",
        "--client",
        "0",
        "--export-scenario",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("(a pool: its connections share one host)"), "{}", stderr(&o));
}

/// Two clients and a server that takes 60 s to accept each connection
/// (listen backlog 0): client 1 waits unaccepted, its 10 s ping goes
/// unanswered, and it declares the live server dead at 10 + 5 = 15 s. Its
/// world exported alone has no client 0 ahead of it in the queue: it is
/// accepted at once and nothing is declared. The export keeps client 1's own
/// fault (as `client.link`), drops client 0's, says the outcome changed and
/// pins the alone run, which `kasim check` then holds.
#[test]
fn a_fleet_clients_export_pins_what_it_does_alone_and_says_when_that_differs() {
    let text = "name = \"two\"\nhorizon = \"5m\"\nseeds = 1\n[client]\ncount = 2\n[server.app]\nbacklog = 0\naccept_time = \"60s\"\n\
        [[fault]]\nkind = \"outage\"\ntarget = \"client:0.link\"\nat = \"2m\"\nduration = \"10s\"\n\
        [[fault]]\nkind = \"outage\"\ntarget = \"client:1.link\"\nat = \"3m\"\nduration = \"3s\"\n\
        [[strategy]]\nname = \"ping\"\nkind = \"app_ping\"\ninterval = \"10s\"\ntimeout = \"5s\"\n";
    let path = scenario("export-client", text);
    let replay = kasim(&["replay", path.to_str().unwrap(), "--strategy", "ping", "--seed", "0", "--client", "1"]);
    assert!(String::from_utf8_lossy(&replay.stdout)
        .contains("declared dead at +00:00:15.000 by the client of connection 1: ping timeout (FALSE POSITIVE (healthy))"));
    let out = path.with_extension("client1.toml");
    let o = kasim(&[
        "replay",
        path.to_str().unwrap(),
        "--strategy",
        "ping",
        "--seed",
        "0",
        "--client",
        "1",
        "--export-scenario",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("note: Alone, this client fared otherwise than in the fleet (there: client a false positive (healthy), server a false positive (healthy); alone: client nothing to detect, server nothing to detect)"),
        "{}",
        stderr(&o)
    );
    let exported = std::fs::read_to_string(&out).unwrap();
    assert!(!exported.contains("count = 2") && !exported.contains("client:0"), "{exported}");
    assert!(exported.contains("target = \"client.link\"\nat = \"3m\"\nduration = \"3s\""), "{exported}");
    let check = kasim(&["check", out.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
    assert!(stderr(&check).contains("2 expectations, 2 passed, 0 failed"), "{}", stderr(&check));
}

/// Run `kasim ARGS | READER` in bash; return kasim's exit status and stderr.
fn piped(args: &str, reader: &str) -> (i32, String) {
    let dir = common::temp_folder("cli", "pipe");
    let err = dir.join("stderr");
    let script = format!("{} {args} 2> {} | {reader} > /dev/null; echo ${{PIPESTATUS[0]}}", env!("CARGO_BIN_EXE_kasim"), err.display());
    let o = Command::new("bash").args(["-c", &script]).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let status = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    (status, std::fs::read_to_string(err).unwrap_or_default())
}

/// A reader that stops early (`| head`) ends kasim quietly: exit 0, nothing on
/// stderr (it used to panic: "failed printing to stdout", exit 101). Each
/// output is larger than the pipe's 64 KiB buffer (the replay 1.5 MB, the JSON
/// about 80 KB), so the write does fail.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    for (args, reader) in [
        ("replay ../scenarios/buildbot-dialup.toml --strategy ping-10m-3m --seed 3", "head -1"),
        ("replay ../scenarios/buildbot-dialup.toml --strategy ping-10m-3m --seed 3 --format json", "head -c 10"),
        ("run ../scenarios --format json --seeds 2", "head -1"),
    ] {
        let (status, err) = piped(args, reader);
        assert_eq!((status, err.as_str()), (0, ""), "kasim {args} | {reader}");
    }
}

#[test]
fn a_full_disk_is_one_line_and_exit_2() {
    let o = Command::new("bash")
        .args(["-c", &format!("{} schema > /dev/full", env!("CARGO_BIN_EXE_kasim"))])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot write to stdout: No space left on device"), "{err}");
}

/// Ctrl-C (SIGINT) and `kill` (SIGTERM) stop a long run within a second,
/// write nothing, and exit 130 / 143 (it used to run on and write its reports).
#[test]
fn signals_stop_a_run_within_a_second_and_write_nothing() {
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let folder = common::temp_folder("cli", "signal");
        let out = folder.join("out");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kasim"))
            .args(["run", "../scenarios", "--seeds", "100000", "--out", out.to_str().unwrap()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_none(), "the run is still going when the signal comes");
        let sent = std::time::Instant::now();
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(sent.elapsed() < std::time::Duration::from_secs(1), "still running 1 s after signal {signal}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(code), "signal {signal}");
        let o = child.wait_with_output().unwrap();
        assert!(o.stdout.is_empty());
        assert!(!out.exists(), "nothing written for signal {signal}");
    }
}

#[test]
fn repeating_faults_out_of_range() {
    bad(
        "every-and-at",
        "at = \"10m\"",
        "at = \"10m\"\nevery = \"1h\"",
        &["`fault[0].every`", "give `at` (once) or `every` (repeating), not both"],
    );
    bad("neither", "at = \"10m\"", "", &["`fault[0].at`", "missing: `at` (once) or `every` (repeating)"]);
    bad("every-vanish", "at = \"10m\"", "every = \"1h\"", &["`fault[0].every`", "a vanish cannot repeat"]);
    bad(
        "every-tiny",
        "kind = \"vanish\"\ntarget = \"server\"\nat = \"10m\"",
        "kind = \"outage\"\ntarget = \"server.link\"\nevery = \"10ms\"\nduration = \"1s\"",
        &["`fault[0].every`", "would repeat more than 100000 times over the horizon (1h); allowed: a gap of at least 36ms"],
    );
}

/// Values no real system or run could take, each refused with file, line, key
/// and what is allowed (they used to be accepted, with silly results).
#[test]
fn accepted_nonsense_is_refused() {
    // TCP_USER_TIMEOUT of 1 ns silently meant "off".
    bad(
        "ut-1ns",
        "count = 3",
        "count = 3\nuser_timeout = \"1ns\"",
        &["`strategy[0].user_timeout`", "1ns is under a millisecond; allowed: \"0s\" (off) or at least 1ms"],
    );
    // A NaN bound failed at run time.
    bad(
        "ge-nan",
        "count = 3",
        "count = 3\n[[expect]]\nstrategy = \"ka\"\nmetric = \"nat_expiries\"\nge = nan",
        &[":18:6:", "`expect[0].ge`", "NaN is not a bound; allowed: a finite number or a duration"],
    );
    // 400 days of delay opened no connection and reported "healthy false positives".
    bad(
        "delay-400d",
        "horizon = \"1h\"",
        "horizon = \"1h\"\n[client.link]\ndelay = \"400d\"",
        &[":4:9:", "`client.link.delay`", "400d is longer than any link; allowed: up to 1m"],
    );
    // Seeds past 2^64 - 1 wrapped to 0.
    bad(
        "base-seed-wrap",
        "horizon = \"1h\"",
        "horizon = \"1h\"\nseeds = 2\nbase_seed = 18446744073709551615",
        &[":4:13:", "`base_seed`", "18446744073709551615 + 2 seeds passes the largest seed"],
    );
    // ANSI escapes in a name reached the terminal.
    bad(
        "ansi-name",
        "name = \"ok\"",
        "name = \"ok\\u001b[31mred\"",
        &[":1:8:", "`name`", "has control characters; allowed: printable text"],
    );
    // ServerAliveCountMax = 0 declared healthy connections dead.
    bad(
        "ssh-count-0",
        "count = 3",
        "count = 3\n[[strategy]]\nname = \"s\"\nkind = \"ssh\"\ninterval = \"10s\"\ncount_max = 0",
        &["`strategy[1].count_max`", "0 is out of range; allowed: 1..=1000"],
    );
    // "5M" was five months to the parser.
    bad(
        "horizon-5M",
        "horizon = \"1h\"",
        "horizon = \"5M\"",
        &[":2:11:", "`horizon`", "\"5M\" is ambiguous: M means months to the parser and minutes to many readers"],
    );
    bad("horizon-years", "horizon = \"1h\"", "horizon = \"1y\"", &["`horizon`", "unknown unit \"y\""]);
    // --seeds past the largest seed.
    let path = scenario("seeds-wrap", &VALID.replace("horizon = \"1h\"", "horizon = \"1h\"\nbase_seed = 18446744073709551614"));
    let o = kasim(&["run", path.to_str().unwrap(), "--seeds", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--seeds: 5 seeds from ok's base_seed 18446744073709551614 pass the largest seed"), "{}", stderr(&o));
}

/// Output paths that are not plain files: a device or FIFO is written in
/// place (renaming over it would replace /dev/null with a regular file), a
/// symbolic link keeps being a link and its target is replaced.
#[test]
fn special_output_paths_are_written_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let path =
        scenario("special", &VALID.replace("count = 3", "count = 3\n[[expect]]\nstrategy = \"ka\"\nmetric = \"nat_expiries\"\neq = 0"));
    let dir = path.parent().unwrap().to_path_buf();
    // A FIFO, read by a thread.
    let fifo = dir.join("junit.fifo");
    let _ = std::fs::remove_file(&fifo);
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path; creates a FIFO in our temp folder.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let o = kasim(&["check", path.to_str().unwrap(), "--junit", fifo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(reader.join().unwrap().contains("<testsuites name=\"kasim check\" tests=\"1\" failures=\"0\">"));
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a FIFO");
    // A character device.
    let o = kasim(&["check", path.to_str().unwrap(), "--junit", "/dev/null"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null is still a device");
    // A symbolic link to a file in another folder.
    let real = dir.join("real").join("run.pcap");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    let link = dir.join("link.pcap");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = kasim(&["replay", path.to_str().unwrap(), "--strategy", "ka", "--seed", "0", "--pcap", link.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    assert!(std::fs::metadata(&real).unwrap().len() > 24, "its target got the pcap");
}

/// `--out` replaces a report folder as a whole (one atomic exchange), and
/// refuses a file or a folder holding anything else.
#[test]
fn out_replaces_a_report_set_as_a_whole_and_refuses_other_folders() {
    let path = scenario("outset", VALID);
    let dir = path.parent().unwrap().join("set");
    let run = |out: &std::path::Path| kasim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run(&dir).status.code(), Some(0));
    let inode = |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let first = inode(&dir);
    assert_eq!(run(&dir).status.code(), Some(0));
    assert_ne!(inode(&dir), first, "a new folder took the old one's place");
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let siblings: Vec<String> =
        std::fs::read_dir(dir.parent().unwrap()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert!(!siblings.iter().any(|n| n.contains(".tmp-")), "no temp folder left: {siblings:?}");
    // A folder with something else in it is not ours to replace.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let o = run(&dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it holds notes.txt, which is not one of this report's files"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    // A file is not a folder.
    let file = path.parent().unwrap().join("afile");
    std::fs::write(&file, "x").unwrap();
    let o = run(&file);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("it is a file; allowed: a folder"), "{}", stderr(&o));
}

/// A scenario that asks for a billion events says so before it starts.
#[test]
fn a_run_that_will_take_minutes_says_so_first() {
    // A request every 1 ms for a day: 86.4 million messages, each a segment
    // out and one back (4 events each way): about 3.5e8 events a run, 4 runs.
    let big = VALID.replace("horizon = \"1h\"", "horizon = \"1d\"\nseeds = 4\n[[traffic]]\nkind = \"requests\"\nfrom = \"client\"\nevery = \"1ms\"\nsize = \"100B\"\nreply = \"100B\"");
    let path = scenario("big", &big);
    // Start it, read stderr until the note (it comes before any run), stop it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(["run", path.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let note = lines.find_map(|l| l.ok().filter(|l| l.starts_with("note:"))).unwrap_or_default();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait().unwrap();
    assert_eq!(note, "note: ok asks for about 1.4e9 events (4 runs): expect minutes (roughly 10^7 events a second per core)");
}

/// A fault time that may fall past the horizon loads, with a warning that says
/// how often the fault will not happen: uniform(30m, 90m) in a 1 h run misses
/// (90 − 60) / (90 − 30) = 50 % of seeds.
#[test]
fn a_fault_time_past_the_horizon_is_a_warning() {
    let path = scenario("past", &VALID.replace("at = \"10m\"", "at = \"uniform(30m, 90m)\""));
    let o = kasim(&["run", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "warning: {}:7:6: `fault[0].at`: uniform(30m, 90m) reaches past the horizon (1h): in about 50 % of seeds this fault does not happen",
            path.display()
        )),
        "{}",
        stderr(&o)
    );
}

/// The bundled catalogue is embedded in the binary: every scenario of
/// `scenarios/` is there, the same once parsed, and `replay` finds one by name
/// from any folder (an installed kasim has no `scenarios/` beside it).
#[test]
fn the_catalogue_is_embedded_and_found_by_name_anywhere() {
    let embedded = harness::catalogue::scenarios().unwrap();
    let files = harness::scenario::discover(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")]).unwrap();
    assert_eq!(embedded.len(), files.len());
    for (e, f) in embedded.iter().zip(&files) {
        let mut from_file = harness::scenario::load(f).unwrap();
        from_file.path = e.path.clone();
        assert_eq!(e, &from_file, "{}", f.display());
    }
    let elsewhere = std::env::temp_dir();
    let o = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(["replay", "buildbot-dialup", "--strategy", "ping-10m-3m", "--seed", "3"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("scenario buildbot-dialup (<bundled>/buildbot-dialup.toml), strategy ping-10m-3m"), "{}", &text[..200]);
    let o = kasim(&["--version"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("kasim {}", env!("CARGO_PKG_VERSION")));
}

/// `replay --only` and `--since/--until` keep the timeline to what matters.
#[test]
fn replay_filters_by_topic_and_time() {
    let args = ["replay", "../scenarios/buildbot-dialup.toml", "--strategy", "ping-10m-3m", "--seed", "3"];
    let text = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend(extra);
        let o = kasim(&a);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let timeline = |t: &str| t.split("\n\n").nth(1).unwrap_or("").lines().map(String::from).collect::<Vec<_>>();
    let only = timeline(&text(&["--only", "faults,declarations"]));
    assert_eq!(
        only,
        [
            "+23:03:00.221 client       declared dead: ping timeout (FALSE POSITIVE: the connection was fine (queue))",
            "+23:10:44.083 server       declared dead: ECONNRESET (the peer's own decision reaching us, not counted)",
            "+55:31:22.325 server       FAULT: powered off (vanished)",
        ]
    );
    let window = timeline(&text(&["--since", "23h", "--until", "23h5m", "--only", "app,declarations"]));
    assert_eq!(window, ["+23:00:00.221 client       ping #133 (8 B) written", only[0].as_str()]);
    let o = kasim(&[&args[..], &["--only", "gossip"]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("possible values: faults, nat, declarations, packets, sockets, app"), "{}", stderr(&o));
}

/// A fleet's replay starts with the fleet's summary (issue 29): how many of
/// its 50 connections broke and were detected, counted here from the
/// declarations of the JSON replay, and the median and worst connections,
/// each with a command that replays it alone; that command runs, tells only
/// its connection, and a connection past the fleet is refused (exit 2).
#[test]
fn a_fleets_replay_summarises_first_and_picks_one_connection() {
    let args = ["replay", "../scenarios/fleet-behind-carrier-nat.toml", "--strategy", "linux-default", "--seed", "3"];
    let o = kasim(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&kasim(&json_args).stdout).unwrap();
    // Connections with a detection (not a false positive, not an orderly end), counted by hand.
    let mut detected: Vec<u64> = doc["declarations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["latency_s"].is_number())
        .map(|d| d["connection"].as_u64().unwrap())
        .collect();
    detected.sort();
    detected.dedup();
    let second = text.lines().nth(1).unwrap();
    assert!(second.starts_with(&format!("fleet: 50 connections; 50 broke, {} detected", detected.len())), "{second}");
    let worst = text.lines().find(|l| l.starts_with("  worst detection: connection ")).expect("a worst line");
    let command = worst.split_once(": kasim ").map(|(_, c)| format!("kasim {c}")).expect("a command");
    let n: String = worst["  worst detection: connection ".len()..].chars().take_while(char::is_ascii_digit).collect();
    assert!(command.ends_with(&format!(" --connection {n}")), "{command}");
    // The printed command, run as printed (from the harness folder, where the path was given relative).
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let words: Vec<&str> =
        words.iter().map(|w| if w.ends_with(".toml") { "../scenarios/fleet-behind-carrier-nat.toml" } else { w }).collect();
    let alone = kasim(&words);
    assert!(alone.status.success(), "{}", stderr(&alone));
    let alone = String::from_utf8(alone.stdout).unwrap();
    assert!(alone.contains(&format!("replaying connection(s) {n} of client:{n} alone")), "{alone}");
    // Its declarations are its own, and its packets are its client's.
    assert!(alone.lines().filter(|l| l.starts_with("declared dead")).all(|l| l.contains(&format!("of connection {n}:"))));
    assert!(!alone.lines().any(|l| l.contains(" client:") && !l.contains(&format!("client:{n} ")) && l.starts_with('+')));
    let mut past = args.to_vec();
    past.extend(["--connection", "50"]);
    let o = kasim(&past);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--connection: 50 is past the scenario's 50 connection(s); allowed: 0 to 49"), "{}", stderr(&o));
}

/// A session fleet replayed with `--connection 6` lists connection 6's
/// attempts and unavailable periods, not the fleet's first five.
#[test]
fn a_picked_session_connection_gets_its_own_session_lines() {
    let src = std::fs::read_to_string("../scenarios/phone-flaky-cellular-sessions.toml").unwrap();
    let path = scenario("sessions8", &src.replace("[client.reconnect]", "[client]\ncount = 8\n[client.reconnect]"));
    let p = path.to_str().unwrap();
    let o = kasim(&["replay", p, "--strategy", "aggressive-ping-10s", "--seed", "1", "--connection", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("connection ") && l.contains(" attempts, ")).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].starts_with("connection 6: "), "{}", listed[0]);
}

/// The README's fleet-scale replay figures, on the 500-client copy of
/// fleet-behind-carrier-nat in `examples/`: the whole replay of seed 3 is
/// 581 111 lines, and `--connection 7` tells that connection's story in
/// 2 251 (both deterministic; the README's times and memory are
/// measurements). The focused replay starts with the fleet's summary.
#[test]
fn the_readmes_500_client_replay_has_the_readmes_line_counts() {
    let args = ["replay", "../examples/fleet-500-behind-carrier-nat.toml", "--strategy", "ping-10m-3m", "--seed", "3"];
    let whole = kasim(&args);
    assert!(whole.status.success(), "{}", stderr(&whole));
    assert_eq!(whole.stdout.iter().filter(|&&b| b == b'\n').count(), 581_111);
    let mut one = args.to_vec();
    one.extend(["--connection", "7"]);
    let o = kasim(&one);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 2_251);
    let head: Vec<&str> = text.lines().take(5).collect();
    assert!(head[1].starts_with("fleet: 500 connections; 500 broke, 500 detected"), "{head:?}");
    assert_eq!(head[4], "replaying connection(s) 7 of client:7 alone");
}

/// A `program` strategy runs a client, a server, or both: neither is bad
/// input naming `client` and the way out; a server alone makes kasim's agent
/// its HTTP client, so its protocol must be one the agent speaks and its
/// traffic the client's requests. Each refusal is exit 2 with the file,
/// line and key, before any namespace (no root needed).
#[test]
fn a_server_program_takes_the_agent_as_its_http_client_and_nothing_else() {
    let base = "name = \"p\"\nhorizon = \"3s\"\n";
    let program = "\n[[strategy]]\nname = \"prog\"\nkind = \"program\"\n";
    let neither = scenario("program-neither", &format!("{base}{program}declare = \"x\"\n"));
    let o = kasim(&["run", neither.to_str().unwrap(), "--engine", "netns"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("program-neither.toml:6:8: `strategy[0].client`: missing") && err.contains("or a `server`"), "{err}");

    let gopher = scenario("program-gopher", &format!("{base}{program}server = [\"nginx\"]\nprotocol = \"gopher\"\n"));
    let o = kasim(&["run", gopher.to_str().unwrap(), "--engine", "netns"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("program-gopher.toml:8:12: `strategy[0].protocol`: allowed: \"http\""), "{err}");

    let upload = "[[traffic]]\nkind = \"upload\"\nsize = \"1MB\"\nevery = \"1s\"\n";
    let upload = scenario("program-upload", &format!("{base}{upload}{program}server = [\"nginx\"]\n"));
    let o = kasim(&["run", upload.to_str().unwrap(), "--engine", "netns"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("program-upload.toml:10: strategy \"prog\"") && err.contains("[[traffic]] other than the client's requests (1 of 1)"),
        "{err}"
    );
}
