//! `--engine netns`: real Linux stacks in network namespaces, kasim's own
//! link and NAT models between them in real time, judged by the event
//! engine's oracle. Each test compares a real run with the event engine's
//! figure for the same scenario, or with a hand calculation, or checks that
//! bad input is refused and nothing is left behind.
//!
//! They need root, iproute2 and socat, so they are ignored by a plain
//! `cargo test`; `.ci/run` installs what they need and runs them with
//! `--include-ignored`. Each run takes its horizon in real time (8-12 s).

use std::path::Path;
use std::process::Command;

mod common;
use common::netns::*;

/// Linux's keepalive on a real socket against a server that vanishes at 1 s:
/// idle 2 s, interval 1 s, count 3 from the handshake at ~0 s, so probes at
/// 2, 3 and 4 s and ETIMEDOUT (with the kernel's RST) at 5 s: 4 s after the
/// break, plus the timer wheel's rounding (HZ = 250: 500 jiffies sit in level
/// 1, 8-jiffy = 32 ms granules). The event engine models the same kernel;
/// every real seed must be within 2 % or 50 ms of it.
#[test]
#[ignore = "needs root, iproute2 and socat: cargo test -- --include-ignored (as .ci/run does)"]
fn kernel_keepalive_on_real_stacks_matches_the_model_and_the_hand_calculation() {
    // The same file `kasim calibrate calibration/` runs.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../calibration/keepalive-vanish.toml");
    let event = json_run(&path, &[]);
    let real = json_run(&path, &["--engine", "netns"]);
    let (e, r) = (strategy(&event, "ka-2-1-3"), strategy(&real, "ka-2-1-3"));
    assert_eq!(r["engine"], "netns");
    assert!(e.get("engine").is_none(), "the event engine's JSON keeps its keys");
    assert_eq!(r["client"]["detected"], 3, "{r}");
    assert_eq!(r["client"]["false_positives"], 0);
    let model = e["client"]["latency_s"]["p50"].as_f64().unwrap();
    assert!((4.0..4.1).contains(&model), "model {model}");
    for q in ["p50", "max", "mean"] {
        let x = r["client"]["latency_s"][q].as_f64().unwrap();
        assert!(close(x, model), "{q}: real {x} s, model {model} s");
    }
    // Three probes in 8 s on both engines: 3 probes / 8 s = 1350 per hour (the
    // vanished server answers none, so there are no keepalive ACKs).
    assert_eq!(e["keepalive_packets_per_hour"], 1350.0);
    assert_eq!(r["keepalive_packets_per_hour"], 1350.0);
    let late = &r["lateness_ms"];
    // Written into a host: each run's SYN, SYN-ACK and ACK; the probes and the RST go to
    // the vanished server and are dropped. 3 runs x 3 packets.
    assert_eq!(late["packets"], 9, "{late}");
    let (p50, max) = (late["p50"].as_f64().unwrap(), late["max"].as_f64().unwrap());
    assert!(p50 <= max, "{late}");
}

/// A NAT that forgets a flow after 1 s and answers its next packet with RST,
/// in front of a real program: socat with keepalive idle 2 s. The NAT is the
/// event engine's model, so the mapping expires 1 s after the handshake's
/// last packet, the first probe (~2 s) meets the NAT's RST, and socat (with
/// -d -d) logs "Connection reset by peer": a detection ~1 s after the break. The agent's
/// twin (`tcp_keepalive` with the same options) and the event engine agree.
#[test]
#[ignore = "needs root, iproute2 and socat: cargo test -- --include-ignored (as .ci/run does)"]
fn a_real_programs_probe_meets_the_nat_models_rst() {
    // The same file `check scenarios/programs` holds.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/programs/socat-keepalive-behind-nat.toml");
    let event = json_run(&path, &["--strategy", "twin"]);
    let real = json_run(&path, &["--engine", "netns"]);
    let model = strategy(&event, "twin")["client"]["latency_s"]["p50"].as_f64().unwrap();
    assert!((1.0..1.1).contains(&model), "model {model}");
    for name in ["socat", "twin"] {
        let r = strategy(&real, name);
        assert_eq!(r["nat_expiries"], 1, "{name}: {r}");
        assert_eq!(r["client"]["detected"], 1, "{name}: {r}");
        let x = r["client"]["latency_s"]["p50"].as_f64().unwrap();
        assert!(close(x, model), "{name}: real {x} s, model {model} s");
    }
}

/// Bad input: exit 2 with the file, the line, the key and what is allowed,
/// and no namespace left by the refused run.
#[test]
#[ignore = "needs root, iproute2 and socat: cargo test -- --include-ignored (as .ci/run does)"]
fn bad_input_is_refused_with_exit_2_and_leaves_nothing() {
    let program =
        |client: &str| format!("name = \"p\"\nhorizon = \"3s\"\n\n[[strategy]]\nname = \"prog\"\nkind = \"program\"\nclient = {client}\n");
    let (_d1, event_only) = scenario("event", &program(r#"["socat", "-", "TCP:{server}:{port}"]"#));
    let (out, _) = run_kasim(&["run", event_only.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:6: strategy[0].kind", event_only.display())) && err.contains("--engine netns"), "{err}");
    // tune and replay run the event engine too: refused the same way.
    for args in [
        vec!["tune", event_only.to_str().unwrap(), "--strategy", "prog", "--vary", "x=1,2"],
        vec!["replay", event_only.to_str().unwrap(), "--strategy", "prog", "--seed", "0"],
    ] {
        let (out, _) = run_kasim(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("strategy[0].kind: \"program\""), "{args:?}: {err}");
    }

    let (_d2, missing) = scenario("missing", &program(r#"["kasim-no-such-program", "x"]"#));
    let (out, pid) = run_kasim(&["run", missing.to_str().unwrap(), "--engine", "netns"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot start `kasim-no-such-program`") && err.contains("strategy \"prog\""), "{err}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());

    let (_d3, dies) = scenario("dies", &program(r#"["sh", "-c", "echo no config here >&2; exit 3"]"#));
    let (out, pid) = run_kasim(&["run", dies.to_str().unwrap(), "--engine", "netns"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`sh` exited at start (exit status: 3)") && err.contains("no config here"), "{err}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());

    let (out, _) = run_kasim(&["run", dies.to_str().unwrap(), "--engine", "netns", "--max-wall", "2s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("horizon 3s") && err.contains("--max-wall 2s"), "{err}");

    // Not root: the same run as nobody.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_kasim"), "run"])
        .arg(&missing)
        .args(["--engine", "netns"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not root"), "{err}");
}

/// `kasim calibrate calibration/`: the bundled scenario set on both engines,
/// seed by seed. app-ping-upload-vanish: 2 seeds x (verdict, false
/// positives, NAT expiries) = 6 figures; fleet of 8: 8 server detections
/// (3.064 s and, for the vanished client, 3.564 s in the model), false
/// positives and NAT expiries: 10; keepalive-vanish: 3 seeds x 3 = 9. Every
/// one within 2 % or 50 ms, or equal; server-crash, -reboot and -suspend
/// (faults on real hosts): 3 figures each; session-reboot-reconnect: 4 (its
/// failed requests too); fleet-3-client-vanish: 3 (no NAT: the server's
/// line matched to the right connection); behind a proxy (kasim's relay of
/// the proxy model on real sockets): proxy-idle-close and
/// proxy-haproxy-timers, an orderly end at 3.060 s (3 s after the
/// connection reached the proxy over a 20 ms link) and at 2 s, and their false
/// positives and NAT expiries (3 each); proxy-probes-end-at-proxy: the app
/// ping's detection 2.5 s after the break and no keepalive declaration (5);
/// two connections on each of two client hosts: the server's two detections
/// on host 1's slots 2 and 3, 2.3 s after its power-off (4); the
/// application idle-close race: 3 of 7 requests meet the server's close on
/// both engines, with an orderly end at 1.200 s (4); the proxy's reboot,
/// which the client's retransmitted ping meets as a RST 1.216 s after it (3);
/// a chain of two NATs, whose second's RST reaches the client through the
/// first, ~0.52 s after that box forgot the flow (3); a proxy that forgets
/// silently (TCP_REPAIR), whose kernel resets the client's ping at 3 s:
/// an orderly end (3). QUIC (the event engine's quinn-proto socket over
/// real UDP in the agent): the server vanishing under a 10 s keep-alive and
/// a 30 s idle timeout, detected 35.19 s after it (3); a 25 s keep-alive
/// holding a 30 s UDP mapping, and without one an expiry while held and
/// quinn's idle close at 40.100 s (client) and 40.110 s (server), orderly
/// ends (6); a NAT rebinding before each request: TCP fails 1 of 2, QUIC
/// migrates and fails none (7).
/// And `check --engine netns` holds the same files' expectations on real
/// stacks (26: the keepalive behind the proxy detects nothing).
#[test]
#[ignore = "needs root, iproute2 and socat: cargo test -- --include-ignored (as .ci/run does)"]
fn the_bundled_calibration_scenarios_agree_on_both_engines() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../calibration");
    let out = kasim().arg("calibrate").arg(&dir).args(["--format", "json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let rows = doc["scenarios"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 85, "{}\n{doc:#}", String::from_utf8_lossy(&out.stderr));
    let bad: Vec<_> = rows.iter().filter(|r| r["ok"] != true).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(out.status.code(), Some(0));
    let fleet_server =
        rows.iter().filter(|r| r["scenario"] == "fleet-8-behind-nat" && r["figure"].as_str().unwrap().starts_with("server:")).count();
    assert_eq!(fleet_server, 8);
    let orderly: Vec<&str> =
        rows.iter().filter(|r| r["event"].as_str().unwrap().starts_with("orderly end")).map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(
        orderly,
        [
            "orderly end at 1.200 s",
            "orderly end at 2.000 s",
            "orderly end at 3.060 s",
            "orderly end at 3.000 s",
            "orderly end at 40.100 s",
            "orderly end at 40.110 s"
        ]
    );

    let pool: Vec<&str> = rows
        .iter()
        .filter(|r| r["scenario"] == "pool-2x2-client-vanish" && r["figure"].as_str().unwrap().ends_with("first verdict"))
        .map(|r| r["figure"].as_str().unwrap())
        .collect();
    assert_eq!(pool, ["server:2 first verdict", "server:3 first verdict"]);

    let race = rows.iter().find(|r| r["scenario"] == "idle-close-race" && r["figure"] == "failed requests").unwrap();
    assert_eq!((race["event"].as_str(), race["netns"].as_str()), (Some("3 of 7"), Some("3 of 7")));

    // QUIC: quinn's give-up 35.19 s after the vanish in the model; the NAT
    // rebinding fails TCP's first request and none of QUIC's, on both engines.
    let quic = rows.iter().find(|r| r["scenario"] == "quic-vanish-keepalive" && r["figure"] == "client:0 first verdict").unwrap();
    assert_eq!(quic["event"], "detection after 35.190 s");
    let failed = |strategy: &str| {
        let r =
            rows.iter().find(|r| r["scenario"] == "quic-nat-rebinding" && r["strategy"] == strategy && r["figure"] == "failed requests");
        r.map(|r| (r["event"].as_str().unwrap_or_default().to_string(), r["netns"].as_str().unwrap_or_default().to_string()))
    };
    assert_eq!(failed("tcp"), Some(("1 of 2".into(), "1 of 2".into())));
    assert_eq!(failed("quic"), Some(("0 of 2".into(), "0 of 2".into())));

    assert_checks_pass(&dir, &["--engine", "netns"], 26);
}

/// `scenarios/programs/`: real OpenSSH, redis-server, mosquitto, socat,
/// haproxy and nginx (twice: its close of a dead client's connection, and
/// its close racing the requests of kasim's agent as its HTTP client), each
/// held to its `[[expect]]`s on real stacks, where the twins run as kasim's
/// agent (and behind haproxy's twin, kasim's relay: 24), and the twins to
/// theirs in the event engine (10).
#[test]
#[ignore = "needs root, iproute2, socat, redis-server, mosquitto, OpenSSH, haproxy and nginx: cargo test -- --include-ignored (as .ci/run does)"]
fn the_programs_scenarios_hold_on_real_stacks_and_their_twins_in_the_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/programs");
    assert_checks_pass(&dir, &["--engine", "netns"], 24);
    assert_checks_pass(&dir, &["--strategy", "twin"], 10);
}

/// `replay --engine netns --pcap`: the timeline carries the program's own
/// line and the NAT's RST; the capture holds the real packets on both sides
/// of the NAT (the client's SYN from its own address, then from the NAT's
/// public one), the kernel's keepalive probe and the NAT's RST, as tshark
/// reads them.
#[test]
#[ignore = "needs root, iproute2, socat and tshark: cargo test -- --include-ignored (as .ci/run does)"]
fn a_real_replay_prints_the_programs_lines_and_captures_both_sides_of_the_nat() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/programs/socat-keepalive-behind-nat.toml");
    let dir = common::temp_folder("netns", "replay");
    let pcap = dir.join("real.pcap");
    let out = kasim()
        .arg("replay")
        .arg(&file)
        .args(["--strategy", "socat", "--seed", "0", "--engine", "netns", "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("log INFO socat:") && text.contains("Connection reset by peer"), "{text}");
    assert!(text.contains("nat          answers with RST"), "{text}");
    assert!(text.contains("(detection, 1.0"), "{text}");
    assert!(text.contains("packets written into their hosts, late by p50"), "{text}");
    let tshark = Command::new("tshark").arg("-r").arg(&pcap).output().unwrap();
    let rows = String::from_utf8_lossy(&tshark.stdout).to_string();
    let has = |from: &str, what: &str| rows.lines().any(|l| l.contains(&format!("{from} →")) && l.contains(what));
    assert!(has("198.18.0.2", "[SYN]"), "the SYN as the client sent it:\n{rows}");
    assert!(has("198.51.100.1", "[SYN]"), "the SYN as the NAT passed it on:\n{rows}");
    assert!(has("198.18.0.2", "[TCP Keep-Alive]"), "the kernel's probe:\n{rows}");
    assert!(has("203.0.113.10", "[RST]"), "the NAT's RST, from the server's address:\n{rows}");
}

/// `run --engine netns --out DIR`: the HTML report draws the real run itself
/// (kept traced with `--out`), with the break at 1 s, the fault and the
/// kernel's ETIMEDOUT, and its caption's command replays on real hosts. A
/// failed expectation's "reproduce with" line says `--engine netns` too: the
/// event engine's replay would be another run. (keepalive-vanish with
/// `le = 1.0`: the real detection is ~4.1 s, so it fails.)
#[test]
#[ignore = "needs root and iproute2: cargo test -- --include-ignored (as .ci/run does)"]
fn a_real_runs_report_draws_its_own_run_and_its_commands_replay_on_real_hosts() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../calibration/keepalive-vanish.toml");
    let dir = common::temp_folder("netns", "out");
    let file = dir.join("strict.toml");
    let text = std::fs::read_to_string(&src).unwrap().replace("le = 4.2", "le = 1.0");
    assert!(text.contains("le = 1.0"));
    std::fs::write(&file, text).unwrap();
    let out =
        kasim().arg("check").arg(&file).args(["--engine", "netns", "--seeds", "1", "--out"]).arg(dir.join("report")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--strategy ka-2-1-3 --seed 0 --engine netns"), "{err}");
    let html = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    for label in ["broken: server vanished", "ETIMEDOUT", "--strategy ka-2-1-3 --seed 0 --engine netns"] {
        assert!(html.contains(label), "{label} missing from the report");
    }
}
