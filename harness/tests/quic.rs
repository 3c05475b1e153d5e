//! QUIC strategies through every command: the same bytes at any `--jobs`,
//! shards that merge to the unsharded report, `tune` over quinn's keep-alive,
//! `replay` with a QUIC timeline, and bad combinations refused with exit 2.

const SCENARIO: &str = r#"
name = "quic-cli"
horizon = "1h"
seeds = 6
[client]
count = 2
connections = 2
[client.link]
delay = "20ms"
loss = 0.01
[nat]
idle_timeout = "5m"
on_expired = "new_port"
udp_idle_timeout = "30s"
[client.reconnect]
mode = "lazy"
[[traffic]]
kind = "requests"
every = "exp(45s)"
size = "500B"
reply = "4KiB"
timeout = "5s"
[[fault]]
kind = "vanish"
target = "server"
at = "uniform(20m, 40m)"
[[strategy]]
name = "quic-20s"
kind = "quic"
keep_alive_interval = "20s"
[[strategy]]
name = "quic-off"
kind = "quic"
"#;

mod common;
use common::kasim;

fn tempdir(tag: &str) -> common::TempFolder {
    common::temp_folder("quic", tag)
}

fn ok(args: &[&str]) -> Vec<u8> {
    let out = kasim(args);
    assert!(out.status.success(), "kasim {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn quic_reports_are_the_same_bytes_at_any_jobs_and_across_shards() {
    let dir = tempdir("jobs");
    let file = dir.join("quic.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let f = file.to_str().unwrap();
    let one = ok(&["run", f, "--format", "json", "--jobs", "1"]);
    let two = ok(&["run", f, "--format", "json", "--jobs", "2"]);
    assert_eq!(one, two);
    let json: serde_json::Value = serde_json::from_slice(&one).unwrap();
    let strategies = json["scenarios"][0]["strategies"].as_array().unwrap();
    // Keep-alive 20 s + idle 30 s: the vanish is found 30 to 50 s later, every run, every slot
    // whose connection was up.
    let ka = &strategies[0];
    assert_eq!(ka["kind"], "quic");
    assert!(ka["client"]["detected"].as_u64().unwrap() >= 6, "{ka}");
    assert!(ka["client"]["latency_s"]["max"].as_f64().unwrap() <= 50.1, "{ka}");
    assert!(ka["client"]["latency_s"]["p50"].as_f64().unwrap() >= 30.0, "{ka}");
    // Without keep-alive, 30 s of silence closes connections: idle closes, not false positives.
    let off = &strategies[1];
    assert!(off["idle_closes"].as_u64().unwrap() > 0, "{off}");
    assert_eq!(off["client"]["false_positives"], 0);
    assert_eq!(ka["idle_closes"], 0, "the keep-alive keeps them open while the server lives");

    let mut parts = Vec::new();
    for k in 1..=2 {
        let p = dir.join(format!("part{k}.json"));
        std::fs::write(&p, ok(&["run", f, "--format", "json", "--shard", &format!("{k}/2")])).unwrap();
        parts.push(p.to_str().unwrap().to_string());
    }
    let mut args = vec!["merge", "--format", "json"];
    args.extend(parts.iter().map(String::as_str));
    assert_eq!(ok(&args), one, "merged shards = the unsharded report");
}

#[test]
fn tune_varies_quinns_keep_alive_and_replay_tells_a_quic_story() {
    let dir = tempdir("tune");
    let file = dir.join("quic.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let f = file.to_str().unwrap();
    let out = ok(&[
        "tune",
        f,
        "--strategy",
        "quic-20s",
        "--vary",
        "keep_alive_interval=10s,20s,40s",
        "--require",
        "idle_closes<=0",
        "--minimize",
        "keepalive_packets_per_hour",
        "--seeds",
        "3",
    ]);
    let text = String::from_utf8(out).unwrap();
    // 40 s is longer than the 30 s idle timeout: connections idle out between
    // requests (and send no keep-alive at all); 20 s is the cheapest that holds.
    let row = |v: &str| text.lines().find(|l| l.trim_start().starts_with(v)).unwrap_or_else(|| panic!("{v}: {text}"));
    assert!(row("20s").contains("yes (recommended)"), "{text}");
    assert!(row("40s").contains(" no "), "{text}");
    assert!(text.contains("keep_alive_interval=40s would be cheaper but breaks idle_closes<=0"), "{text}");

    let replay = String::from_utf8(ok(&["replay", f, "--strategy", "quic-20s", "--seed", "1", "--only", "packets"])).unwrap();
    assert!(replay.contains("QUIC handshake 1200 B"), "{replay}");
    assert!(replay.contains("QUIC keepalive probe"), "{replay}");
    let json: serde_json::Value =
        serde_json::from_slice(&ok(&["replay", f, "--strategy", "quic-20s", "--seed", "1", "--format", "json"])).unwrap();
    assert!(json["broken_at_s"].as_f64().unwrap() >= 1200.0);
}

#[test]
fn quic_through_a_tcp_proxy_is_refused_with_exit_2() {
    let dir = tempdir("proxy");
    let file = dir.join("bad.toml");
    std::fs::write(&file, format!("{SCENARIO}\n[proxy]\nidle_timeout = \"60s\"\n")).unwrap();
    let out = kasim(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strategy[0].kind") && err.contains("[proxy] terminates TCP"), "{err}");
}

#[test]
fn tables_and_html_show_quic_strategies_with_their_udp_figures() {
    let dir = tempdir("table");
    let file = dir.join("quic.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let f = file.to_str().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&ok(&["run", f, "--format", "json"])).unwrap();
    let off = &json["scenarios"][0]["strategies"][1];
    let table = String::from_utf8(ok(&["run", f])).unwrap();
    // The cost block: false positives per 1000 h, NAT survival and (QUIC only) idle closes.
    let row = table.lines().find(|l| l.trim_start().starts_with("quic-off") && l.contains(&off["idle_closes"].to_string())).unwrap();
    assert!(table.contains("false positives/1000h  nat expiries  idle closes  keepalive B/h"), "{table}");
    assert!(row.split_whitespace().nth(3) == Some(&off["idle_closes"].to_string()[..]), "{row}");
    let markdown = String::from_utf8(ok(&["run", f, "--format", "markdown"])).unwrap();
    assert!(markdown.contains("| strategy | false positives/1000h | nat expiries | idle closes | keepalive B/h |"), "{markdown}");
    let out = dir.join("html");
    ok(&["run", f, "--out", out.to_str().unwrap()]);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("quic-20s") && html.contains("quic-off"), "both strategies in the HTML report");
}

#[test]
fn a_tunnel_refuses_messages_it_would_send_all_at_once() {
    let dir = tempdir("tunnel");
    let file = dir.join("big.toml");
    let text = SCENARIO
        .replace("kind = \"quic\"\nkeep_alive_interval = \"20s\"", "kind = \"udp_keepalive\"")
        .replace("size = \"500B\"", "size = \"100MB\"");
    std::fs::write(&file, text).unwrap();
    let out = kasim(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("strategy[0].kind") && err.contains("at most 64MiB per message"), "{err}");
}
