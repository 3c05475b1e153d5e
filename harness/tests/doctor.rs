//! `kasim doctor`'s rules about the proxy and MQTT, each shown failing on a
//! seed (an `error` with its replay) beside a twin it does not mention.

mod common;

use common::{kasim_in, stderr, temp_folder};
use std::path::Path;

/// The rules (severity, strategy) `kasim doctor FILE` names, and its JSON.
fn doctor(dir: &Path, text: &str) -> (Vec<(String, String, String)>, serde_json::Value) {
    std::fs::write(dir.join("s.toml"), text).unwrap();
    let o = kasim_in(dir, &["doctor", "s.toml", "--format", "json"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("rule"), s("severity"), s("strategy"))
        })
        .collect();
    (found, doc)
}

fn found(rule: &str, severity: &str, strategy: &str) -> (String, String, String) {
    (rule.to_string(), severity.to_string(), strategy.to_string())
}

/// MQTT 3.1.1 §3.1.2.10: the broker keeps a client until 1.5 x K without a
/// packet. K = 60 s behind a NAT that forgets after 84 s (inside 60..90 s):
/// pings at 60 s and 120 s (the client's ACK of the second PINGRESP passes
/// the NAT at 2:00.025, the flow's last packet), then a 26 s outage of the
/// client's link from 170 s holds the third PINGREQ (3:00.010) in
/// retransmission until 3:27.872. MQTT alone would keep the session (the
/// broker last heard the client at 2:00.015; its limit is + 90 s =
/// 3:30.015), but the NAT forgot the flow at 2:00.025 + 84 s = 3:24.025 and
/// drops the retransmission: the broker declares at 3:30.015, the client at
/// 4:00.010 (its PINGREQ + K). K = 50 s (grace 75 s < 84 s) is not
/// mentioned, nor is the NAT rule (60 s is under 84 s: MQTT's window, not
/// the keepalive period, is what the box cut).
#[test]
fn doctor_names_a_box_that_forgets_inside_mqtts_one_and_a_half_keep_alives() {
    let dir = temp_folder("doctor", "mqtt");
    let text = "name = \"mqtt-grace\"\nhorizon = \"10m\"\nseeds = 2\n[client.link]\ndelay = \"5ms\"\n\
        [nat]\nidle_timeout = \"84s\"\non_expired = \"drop\"\n\
        [[fault]]\nkind = \"outage\"\ntarget = \"client.link\"\nat = \"170s\"\nduration = \"26s\"\n\
        [[strategy]]\nname = \"k60\"\nkind = \"mqtt\"\nkeep_alive = \"60s\"\n\
        [[strategy]]\nname = \"k50\"\nkind = \"mqtt\"\nkeep_alive = \"50s\"\n";
    let (rules, doc) = doctor(&dir, text);
    assert_eq!(rules, [found("mqtt-box-inside-grace", "error", "k60")], "{doc}");
    let message = doc["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("(1m x 1.5 = 90s)")
            && message.contains("forgets an idle flow after 84s: a PINGREQ later than 24s past K")
            && message.contains("idle timeout above 90s")
            && message.contains("Keep Alive under 56s: 2 of 2 seeds show it (first: seed 0)"),
        "{message}"
    );
    // The replay shows the fault firing and the mapping lost at the computed instant.
    let args: Vec<String> = doc["findings"][0]["replay"].as_str().unwrap().split(' ').skip(1).map(String::from).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let replay = String::from_utf8_lossy(&kasim_in(&dir, &args).stdout).to_string();
    for line in [
        "fault: outage client.link at +00:02:50.000 for 26s",
        "broken at +00:03:24.025: NAT mapping expired",
        "declared dead at +00:03:30.015 by the server: keep alive exceeded",
        "declared dead at +00:04:00.010 by the client: keep alive timeout",
    ] {
        assert!(replay.contains(line), "{line:?} in\n{replay}");
    }
    // Without the outage no PINGREQ is late: the ordering is still stricter than MQTT's, a warning.
    let calm = text.replace("[[fault]]\nkind = \"outage\"\ntarget = \"client.link\"\nat = \"170s\"\nduration = \"26s\"\n", "");
    assert_ne!(calm, text);
    let (rules, doc) = doctor(&dir, &calm);
    assert_eq!(rules, [found("mqtt-box-inside-grace", "warning", "k60")], "{doc}");
}

/// A load balancer that closes client connections idle for a minute (ALB):
/// a kernel keepalive every 30 s does not keep it open (the proxy's own
/// stack answers its probes; its timer sees no data), nor does a 2-minute
/// ping; a 30 s ping does. With nothing else on the wire each closes at
/// 1:00.0xx, on every seed.
#[test]
fn doctor_names_keepalives_the_proxy_never_sees() {
    let dir = temp_folder("doctor", "proxy");
    let text = "name = \"alb\"\nhorizon = \"10m\"\nseeds = 2\n[client.link]\ndelay = \"5ms\"\n\
        [proxy]\nidle_timeout = \"1m\"\n\
        [[strategy]]\nname = \"kernel-30s\"\nkind = \"tcp_keepalive\"\nidle = \"30s\"\ninterval = \"10s\"\ncount = 3\n\
        [[strategy]]\nname = \"ping-2m\"\nkind = \"app_ping\"\ninterval = \"2m\"\ntimeout = \"10s\"\n\
        [[strategy]]\nname = \"ping-30s\"\nkind = \"app_ping\"\ninterval = \"30s\"\ntimeout = \"10s\"\n";
    let (rules, doc) = doctor(&dir, text);
    assert_eq!(
        rules,
        [found("proxy-closes-idle-connection", "error", "kernel-30s"), found("proxy-closes-idle-connection", "error", "ping-2m")],
        "{doc}"
    );
    let kernel = doc["findings"][0]["message"].as_str().unwrap();
    assert!(
        kernel.starts_with("the proxy closes a client connection idle for 1m, and kernel-30s's kernel keepalive probes are answered")
            && kernel.ends_with("2 of 2 seeds show a connection closed idle (first: seed 0)"),
        "{kernel}"
    );
    let ping = doc["findings"][1]["message"].as_str().unwrap();
    assert!(ping.contains("ping-2m stays quiet up to 2m (interval)"), "{ping}");
}

/// The pool race one hop earlier: the proxy closes idle client connections
/// after 60 s and its FIN takes 500 ms to reach the client; a request sent
/// in that half second fails. Requests exp(70s) apart: a gap passes 60 s
/// with probability e^(-60/70) = 0.42, and the request then leaves within
/// the 0.5 s window with probability 1 - e^(-0.5/70) = 0.0071: about 3 in
/// 1000 requests, ~7 in each 2-day seed, so both seeds show it. A pool that
/// closes idle connections after 50 s is not mentioned.
#[test]
fn doctor_names_a_pool_that_outlives_the_proxys_idle_timeout() {
    let dir = temp_folder("doctor", "pool");
    let text = "name = \"pool\"\nhorizon = \"2d\"\nseeds = 2\n[client.link]\ndelay = \"500ms\"\n\
        [client.reconnect]\nmode = \"lazy\"\n[proxy]\nidle_timeout = \"1m\"\n\
        [[traffic]]\nkind = \"requests\"\nevery = \"exp(70s)\"\nsize = \"100B\"\nreply = \"100B\"\ntimeout = \"10s\"\n\
        [[strategy]]\nname = \"none\"\nkind = \"none\"\n";
    let (rules, doc) = doctor(&dir, text);
    assert_eq!(rules, [found("pool-outlives-proxy-idle", "error", "none")], "{doc}");
    let message = doc["findings"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("the client pool keeps an idle connection for ever but the proxy closes it after 1m"), "{message}");
    let pooled = text.replace("[proxy]", "[client.app]\nidle_timeout = \"50s\"\n[proxy]");
    let (rules, doc) = doctor(&dir, &pooled);
    assert!(rules.is_empty(), "{doc}");
}
