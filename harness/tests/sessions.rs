//! Session figures (requests, time to restore, availability) are the same
//! bytes at any `--jobs`, and merged shards give the unsharded report.

#[test]
fn session_reports_are_the_same_bytes_at_any_jobs_and_across_shards() {
    let dir = tempdir();
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

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kasim-sessions-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
