//! Session figures (requests, time to restore, availability) are the same
//! bytes at any `--jobs`, and merged shards give the unsharded report.

mod common;

#[test]
fn session_reports_are_the_same_bytes_at_any_jobs_and_across_shards() {
    let dir = tempdir("jitter");
    let file = dir.join("jitter.toml");
    std::fs::write(
        &file,
        r#"
name = "jitter-herd"
horizon = "30m"
seeds = 6
[client]
count = 20
[client.reconnect]
mode = "eager"
initial_backoff = "1s"
jitter = 0.5
connect_timeout = "2s"
[[traffic]]
kind = "requests"
every = "exp(30s)"
size = "100B"
reply = "1KiB"
timeout = "3s"
[[fault]]
kind = "reboot"
target = "server"
at = "uniform(5m, 10m)"
duration = "30s"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "10s"
interval = "2s"
count = 2
"#,
    )
    .unwrap();
    let kasim = env!("CARGO_BIN_EXE_kasim");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(kasim).args(args).output().expect("kasim runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let f = file.to_str().unwrap();
    let one = run(&["run", f, "--format", "json", "--jobs", "1"]);
    let two = run(&["run", f, "--format", "json", "--jobs", "2"]);
    assert_eq!(one, two);
    let text = String::from_utf8(one.clone()).unwrap();
    assert!(text.contains("\"time_to_restore_s\"") && text.contains("\"availability\""), "{text}");
    let mut parts = Vec::new();
    for k in 1..=3 {
        let p = dir.join(format!("part{k}.json"));
        std::fs::write(&p, run(&["run", f, "--format", "json", "--shard", &format!("{k}/3")])).unwrap();
        parts.push(p.to_str().unwrap().to_string());
    }
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["--format", "json"]);
    assert_eq!(run(&args), one);
}

/// A fresh folder for one test (removed with it).
fn tempdir(tag: &str) -> common::TempFolder {
    common::temp_folder("sessions", tag)
}

/// `replay` of a session run: the request tally, each connection's attempts
/// and unavailable periods in the summary, each request's outcome in the
/// timeline (`--only requests`). The figures are the ones
/// tests/tests/suite/sessions.rs works out by hand for this reboot.
#[test]
fn replay_tells_each_requests_outcome_and_each_unavailable_period() {
    let dir = tempdir("reboot");
    let file = dir.join("reboot.toml");
    std::fs::write(
        &file,
        r#"
name = "reboot"
horizon = "10m"
[client.link]
delay = "5ms"
[server.link]
delay = "5ms"
[client.reconnect]
mode = "eager"
[[traffic]]
kind = "requests"
every = "10s"
size = "100B"
reply = "1KiB"
timeout = "2s"
[[fault]]
kind = "reboot"
target = "server"
at = "100s"
duration = "60s"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "5s"
interval = "2s"
count = 2
"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(["replay", file.to_str().unwrap(), "--strategy", "ka", "--seed", "0", "--only", "requests"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("requests: 59 sent: 52 ok, 1 failed, 6 hung"), "{text}");
    assert!(text.contains("connection 0: 2 attempts, 2 established; unavailable +00:01:40.000 to +00:02:40.060 (1m00s)"), "{text}");
    // The six requests issued into the reboot (100.02 … 150.02 s) are hung
    // when the RST ends their connection (160.04 s), shown as one collapsed line…
    assert!(
        text.contains("+00:02:40.040 client       request #9 of connection 0 (issued +00:01:40.020): HUNG: no reply 60.020 s after it was issued   [this line ×6"),
        "{text}"
    );
    // …and the one at 160.02 s failed with it.
    assert!(text.contains("request #15 of connection 0 (issued +00:02:40.020): FAILED: its connection ended before the reply"), "{text}");
    assert!(text.contains("request #16 of connection 0 (issued +00:02:50.020): ok after 0.020 s"), "{text}");
}

/// The HTML report of a session scenario carries the session table and the
/// restore-time CDF; a scenario without sessions has neither.
#[test]
fn the_html_report_shows_restore_times_and_availability() {
    let folder = tempdir("html");
    let dir = folder.join("html");
    let file = dir.with_extension("toml");
    std::fs::write(
        &file,
        r#"
name = "nat-gateway"
horizon = "2h"
[client.link]
delay = "1ms"
[server.link]
delay = "1ms"
[client.reconnect]
mode = "lazy"
[nat]
idle_timeout = "350s"
on_expired = "rst"
[[traffic]]
kind = "requests"
every = "400s"
count = 10
size = "1KiB"
reply = "16KiB"
timeout = "5s"
[[strategy]]
name = "os-defaults"
kind = "tcp_keepalive"
"#,
    )
    .unwrap();
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kasim"))
            .args(["run", file.to_str().unwrap(), "--out", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(dir.join("index.html")).unwrap()
    };
    let html = run();
    // 5 of 10 requests fail (tests/tests/suite/sessions.rs): 500 per 1000; availability 29.17 %.
    assert!(html.contains("<table class=\"sessions\">"), "{html}");
    // Each figure with its 95 % interval after it (v3).
    assert!(html.contains("<td>os-defaults</td><td>10</td><td class=\"bad\">500.0 ["), "{html}");
    assert!(html.contains("<td>29.17 % ["), "{html}");
    assert!(html.contains("Time to restore, cumulative"));
    assert!(html.contains(">\ntime to restore\n<"), "the CDF's axis");
    // The same file without sessions: no session table, no restore plot.
    let plain =
        std::fs::read_to_string(&file).unwrap().replace("[client.reconnect]\nmode = \"lazy\"\n", "").replace("timeout = \"5s\"\n", "");
    std::fs::write(&file, plain).unwrap();
    let html = run();
    assert!(!html.contains("class=\"sessions\"") && !html.contains("Time to restore"));
}
