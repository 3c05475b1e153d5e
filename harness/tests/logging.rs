//! `RUST_LOG` turns on log lines on stderr stamped with simulated time
//! (issue: tracing with simulated time). Without it stderr stays empty, and
//! either way stdout is the same bytes.

use std::process::Command;

fn replay(rust_log: Option<&str>) -> (String, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kasim"));
    cmd.current_dir(root).args(["replay", "scenarios/server-reboot.toml", "--strategy", "ping-1m-10s", "--seed", "0"]);
    cmd.env_remove("RUST_LOG");
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let out = cmd.output().expect("kasim runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn rust_log_lines_carry_the_simulated_time_of_what_they_tell() {
    let (quiet_out, quiet_err) = replay(None);
    assert_eq!(quiet_err, "", "no RUST_LOG, no log lines");
    let (out, err) = replay(Some("sim=debug"));
    assert_eq!(out, quiet_out, "logging does not change the report");
    // The replay's summary names the fault time; the log line of the fault
    // carries the same simulated time.
    let fault_at = quiet_out.lines().find_map(|l| l.strip_prefix("fault: reboot server at ")).expect("a fault line");
    let fault_at = &fault_at[..13]; // +HH:MM:SS.mmm
    let line = err.lines().find(|l| l.contains("fault=RebootStart")).unwrap_or_else(|| panic!("no fault line in:\n{err}"));
    assert!(line.starts_with(fault_at), "{line} (fault at {fault_at})");
    // Socket events come inside their connection's span; declarations are there too.
    assert!(err.lines().any(|l| l.contains("conn{id=") && l.contains("socket")), "{err}");
    assert!(err.lines().any(|l| l.contains("declared dead")), "{err}");
    // Timers armed: the client's SYN arms the retransmission timer at 0 for
    // the initial RTO, 1 s, which the timer wheel (HZ 250, level 1: 8-jiffy
    // buckets) rounds up to 256 jiffies = 1.024 s; the established client
    // then waits for its application's first ping, a minute after the
    // handshake completed (0.060 s: one 60 ms round trip).
    let armed: Vec<&str> = err.lines().filter(|l| l.contains("side=client}") && l.contains("timers armed")).collect();
    assert!(armed[0].starts_with("+00:00:00.000") && armed[0].contains("retransmit=Retransmit +00:00:01.024"), "{armed:?}");
    assert!(armed[1].contains("retransmit=- keepalive=- app=+00:01:00.060"), "{armed:?}");
    // sim=debug leaves packets (TRACE) out.
    assert!(!err.contains("sent 198.18."), "{err}");
    let (_, all) = replay(Some("trace"));
    assert!(all.lines().any(|l| l.contains("sent 198.18.0.2:40000 > 203.0.113.10:8000")), "packets at TRACE");
    assert!(all.lines().all(|l| l.starts_with('+')), "every line starts with the simulated time");
}

#[test]
fn replay_says_when_a_kernel_timer_fired_late() {
    // Linux's default keepalive (idle 2 h) armed when the client's connection
    // came up at 0.050 s: 7200 s = 1 800 000 jiffies at HZ 250 lands on wheel
    // level 5, whose granularity is 8^5 = 32 768 jiffies (131.072 s); the
    // expiry rounds up past jiffy 1 800 012 to 55 × 32 768 = 1 802 240 jiffies
    // = 7208.960 s, 8.909 s after the 7200.051 s asked for.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .current_dir(root)
        .args(["replay", "scenarios/server-power-off.toml", "--strategy", "linux-default", "--seed", "0"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let probe = text.lines().find(|l| l.contains("client       sends keepalive probe")).expect("a keepalive probe");
    assert!(probe.starts_with("+02:00:08.960"), "{probe}");
    assert!(probe.ends_with("[its timer fired 8909ms late: the kernel's timer wheel]"), "{probe}");
}
