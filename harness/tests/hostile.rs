//! Untrusted input stays harmless (issue 27): each test names the item of
//! the probe's findings it covers, and each failed on the code before its fix.

mod common;
use common::{kasim_in, stderr};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A fresh folder for one test.
fn folder(name: &str) -> common::TempFolder {
    common::temp_folder("hostile", name)
}

/// Exit 2, nothing on stdout, no panic, and `message` on stderr.
fn refused(o: &Output, message: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(o.stdout.is_empty(), "nothing on stdout: {}", String::from_utf8_lossy(&o.stdout));
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(message), "expected {message:?} in: {err}");
}

const VALID: &str = "name = \"ok\"\nhorizon = \"1h\"\n[[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\n";

/// Item 4: a folder's `*.toml` that is a FIFO or a link to a device is refused
/// by name (it blocked `kasim list DIR` for ever, or read /dev/zero until
/// memory ran out); a FIFO given directly is called a FIFO, not "no such file".
#[test]
fn only_regular_files_are_read() {
    let dir = folder("fifo");
    std::fs::write(dir.join("a.toml"), VALID).unwrap();
    let fifo = dir.join("x.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    refused(&kasim_in(&dir, &["list", "."]), "x.toml: is a FIFO, not a regular file; allowed: a file, or a folder of files");
    refused(&kasim_in(&dir, &["run", "x.toml"]), "x.toml: is a FIFO, not a regular file");
    std::fs::remove_file(&fifo).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("z.toml")).unwrap();
    refused(&kasim_in(&dir, &["run", "."]), "z.toml: is a character device, not a regular file");
    std::fs::remove_file(dir.join("z.toml")).unwrap();
    // The same folder with only the regular file runs.
    let o = kasim_in(&dir, &["run", ".", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A file past the size limit (16 MiB) is refused before it is parsed.
    let big = dir.join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    refused(&kasim_in(&dir, &["run", "big.toml"]), "big.toml: is 16777217 bytes, more than the 16777216 bytes");
}

/// Item 9: an empty folder, or one holding only `A.TOML`, ran nothing and
/// passed (exit 0, "0 expectations"); now it is bad input.
#[test]
fn a_folder_without_scenarios_is_bad_input() {
    let dir = folder("empty");
    for command in ["run", "check", "list"] {
        refused(&kasim_in(&dir, &[command, "."]), ".: holds no scenario file; allowed: a folder with files named *.toml");
    }
    std::fs::write(dir.join("A.TOML"), VALID).unwrap();
    refused(&kasim_in(&dir, &["check", "."]), "holds no scenario file");
    let out = dir.join("report");
    refused(&kasim_in(&dir, &["run", ".", "--out", out.to_str().unwrap()]), "holds no scenario file");
    assert!(!out.exists(), "no empty report was written");
}

/// Item 10 (part): a file that is not UTF-8 is placed at the byte where it stops being text.
#[test]
fn bytes_that_are_not_text_get_a_line_and_column() {
    let dir = folder("latin1");
    std::fs::write(dir.join("l.toml"), b"name = \"x\"\nhorizon = \"1h\"\n# caf\xe9\n").unwrap();
    refused(&kasim_in(&dir, &["run", "l.toml"]), "l.toml:3:6: is not UTF-8 text from line 3, column 6 on; allowed: UTF-8 text");
}

/// Item 5: huge sizes saturated to 2^64-1 B without a word (a message near
/// 2^64 was logged "written" and never sent; a huge ping_size turned 2/2
/// detections into 0/0 and 4 false positives). Past 1 TiB is refused, with
/// the key and the limit; 1 TiB itself is accepted.
#[test]
fn sizes_and_rates_past_their_limits_are_refused() {
    let dir = folder("sizes");
    let case = |name: &str, extra: &str, strategy_extra: &str| {
        let text =
            format!("name = \"{name}\"\nhorizon = \"1m\"\n{extra}\n[[strategy]]\nname = \"p\"\nkind = \"app_ping\"\n{strategy_extra}\n");
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
        kasim_in(&dir, &["run", &format!("{name}.toml")])
    };
    // At 59 s of a 1 m run: the 1 TiB case sends for one second only.
    let traffic = |size: &str| format!("[[traffic]]\nkind = \"upload\"\nat = \"59s\"\nsize = \"{size}\"\n");
    refused(
        &case("huge", &traffic("99999999999999999999GiB"), ""),
        "`traffic[0].size`: \"99999999999999999999GiB\" is more than 1 TiB; allowed: a size up to \"1024GiB\"",
    );
    refused(&case("just-over", &traffic("1024.001GiB"), ""), "is more than 1 TiB");
    refused(
        &case("ping", "", "ping_size = \"99999999999999999GiB\""),
        "`strategy[0].ping_size`: \"99999999999999999GiB\" is more than 1 TiB",
    );
    refused(&case("rate", "[client.link]\nup = \"2000Gbit/s\"\n", ""), "`client.link.up`: \"2000Gbit/s\" is more than 1 Tbit/s");
    let o = case("limit", &traffic("1024GiB"), "");
    assert_eq!(o.status.code(), Some(0), "1 TiB is allowed: {}", stderr(&o));
}

/// Item 6: strategy names were not checked as scenario names are: ANSI
/// escapes and newlines reached the terminal, `<img onerror=…>` and `a|b|c`
/// reached report.md raw. A strategy without a name had no position (item 10).
#[test]
fn strategy_names_are_printable_and_inert_in_markdown() {
    let dir = folder("names");
    let write = |file: &str, strategies: &str| {
        std::fs::write(dir.join(file), format!("name = \"n\"\nhorizon = \"1h\"\n\n{strategies}")).unwrap();
    };
    write("ansi.toml", "[[strategy]]\nname = \"a\\u001b[31mred\"\nkind = \"none\"\n");
    refused(&kasim_in(&dir, &["run", "ansi.toml"]), "ansi.toml:5:8: `strategy[0].name`: has control characters; allowed: printable text");
    write("newline.toml", "[[strategy]]\nname = \"a\\nb\"\nkind = \"none\"\n");
    refused(&kasim_in(&dir, &["run", "newline.toml"]), "`strategy[0].name`: has control characters");
    write("blank.toml", "[[strategy]]\nname = \"  \"\nkind = \"none\"\n");
    refused(&kasim_in(&dir, &["run", "blank.toml"]), "`strategy[0].name`: must not be empty");
    write("noname.toml", "[[strategy]]\nkind = \"none\"\n");
    refused(&kasim_in(&dir, &["run", "noname.toml"]), "noname.toml:4:1: `strategy[0].name`: missing: every strategy needs a name");
    write(
        "md.toml",
        "[[strategy]]\nname = \"<img src=x onerror=alert(1)>\"\nkind = \"none\"\n[[strategy]]\nname = \"a|b|c\"\nkind = \"none\"\n",
    );
    let o = kasim_in(&dir, &["run", "md.toml", "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = String::from_utf8(o.stdout).unwrap();
    assert!(!md.contains("<img"), "{md}");
    assert!(md.contains("| &lt;img src=x onerror=alert(1)> | none |"), "{md}");
    // Every row of the first table has its 9 cells: the pipes in the name are escaped.
    assert!(md.contains("| a\\|b\\|c | none | 0/0 |"), "{md}");
}

const SCENARIO: &str = "name = \"out\"\nhorizon = \"1h\"\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"10m\"\n\
                        [[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\nidle = \"60s\"\ninterval = \"10s\"\ncount = 3\n";

/// Item 8: output paths. `--out LINK` replaced the link with a folder and
/// left the old report at the target; `--pcap` into a loop of links replaced
/// the link; `--pcap F --export-scenario F` wrote one over the other;
/// SIGKILL's temp folders stayed for ever; `kasim run >&-` exited 0 having
/// written nothing.
#[test]
fn output_paths_are_written_where_they_point_or_refused() {
    let dir = folder("outputs");
    std::fs::write(dir.join("s.toml"), SCENARIO).unwrap();
    // --out through a link: the link stays, its target gets the report.
    std::fs::create_dir(dir.join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
    let o = kasim_in(&dir, &["run", "s.toml", "--out", "link"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(dir.join("link")).unwrap().file_type().is_symlink(), "the link is still a link");
    assert!(dir.join("real/report.json").is_file(), "the report is in the link's target");
    // A loop of links is refused, and stays a loop.
    std::os::unix::fs::symlink("loop2", dir.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", dir.join("loop2")).unwrap();
    let o = kasim_in(&dir, &["replay", "s.toml", "--strategy", "ka", "--seed", "0", "--pcap", "loop1"]);
    refused(&o, "cannot write the pcap loop1: it is a loop of symbolic links");
    assert!(std::fs::symlink_metadata(dir.join("loop1")).unwrap().file_type().is_symlink());
    // One path for two outputs.
    let o = kasim_in(&dir, &["replay", "s.toml", "--strategy", "ka", "--seed", "0", "--pcap", "x.pcap", "--export-scenario", "./x.pcap"]);
    refused(&o, "--export-scenario: ./x.pcap is also the --pcap file");
    assert!(!dir.join("x.pcap").exists());
    // A killed run's temp folder (its process is gone) is removed by the next write; a live one's is not.
    let dead = dir.join(".real.tmp-2147483646");
    let live = dir.join(format!(".real.tmp-{}", std::process::id()));
    std::fs::create_dir(&dead).unwrap();
    std::fs::create_dir(&live).unwrap();
    let o = kasim_in(&dir, &["run", "s.toml", "--out", "real"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!dead.exists(), "the dead process's temp folder is reaped");
    assert!(live.exists(), "a live process's temp folder is left alone");
    // A closed stdout.
    let o =
        Command::new("bash").arg("-c").arg(format!("{} run s.toml >&-", env!("CARGO_BIN_EXE_kasim"))).current_dir(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("stdout is closed"), "{}", stderr(&o));
}

/// Item 10: messages. Wrong types named Rust types (`expected struct
/// RawClient`, `expected i64`) and not what the key takes; deep nesting said
/// only "recursion limit"; `[proxy] idle_timeout = "1ns"` was accepted where
/// every other timeout refuses under 1 ms; `at = "exp(2h)"` in a 1 h run
/// said nothing though the fault happens in only e^(-1/2) = 39 % of seeds;
/// `client:+1` was taken for client 1.
#[test]
fn messages_say_what_is_allowed() {
    let dir = folder("messages");
    let run = |body: &str| {
        std::fs::write(
            dir.join("m.toml"),
            format!("name = \"x\"\nhorizon = \"1h\"\n{body}\n[[strategy]]\nname = \"a\"\nkind = \"none\"\n"),
        )
        .unwrap();
        kasim_in(&dir, &["run", "m.toml"])
    };
    let cases = [
        ("client = 5", "m.toml:3:10: `client`: integer 5 is not allowed here; allowed: a table of keys: a [client] section"),
        ("[client.link]\nloss = \"a\"", "`client.link.loss`: string \"a\" is not allowed here; allowed: a number such as 0.01"),
        ("seeds = \"a\"", "`seeds`: string \"a\" is not allowed here; allowed: a whole number"),
        (
            "[[traffic]]\nkind = \"upload\"\nat = 5\nsize = \"1B\"",
            "`traffic[0].at`: integer 5 is not allowed here; allowed: a duration (\"26h\"), \"exp(MEAN)\"",
        ),
        ("[nat]\nidle_timeout = 300", "`nat.idle_timeout`: integer 300 is not allowed here; allowed: a duration such as \"250ms\""),
        ("[client.link]\nup = 5", "`client.link.up`: integer 5 is not allowed here; allowed: a rate such as \"56kbit/s\""),
        ("[proxy]\nidle_timeout = \"1ns\"", "`proxy.idle_timeout`: is under a millisecond; allowed: \"0s\" (never) or at least \"1ms\""),
        (
            "[client]\ncount = 3\n[[fault]]\nkind = \"vanish\"\ntarget = \"client:+1\"\nat = \"1m\"",
            "\"client:+1\" is not a client of the fleet; allowed: client:0 to client:2",
        ),
    ];
    for (body, message) in cases {
        let o = run(body);
        refused(&o, message);
        assert!(!stderr(&o).contains("Raw") && !stderr(&o).contains("i64") && !stderr(&o).contains("f64"), "{}", stderr(&o));
    }
    let deep = format!("a = {}{}", "[".repeat(200), "]".repeat(200));
    refused(&run(&deep), "is nested too deeply (arrays or tables inside each other)");
    let o = run("[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"exp(2h)\"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // P(exp(2h) > 1h) = e^(-0.5) = 60.65 %.
    assert!(
        stderr(&o).contains("`fault[0].at`: exp(2h) reaches past the horizon (1h): in about 61 % of seeds this fault does not happen"),
        "{}",
        stderr(&o)
    );
}

/// Item 10: a pcap that cannot be written said "Error reading bytes" (the
/// pcap crate's wrapper); it now says what the operating system said.
#[test]
fn a_pcap_on_a_full_disk_says_so() {
    let dir = folder("full");
    std::fs::write(dir.join("s.toml"), SCENARIO).unwrap();
    let o = kasim_in(&dir, &["replay", "s.toml", "--strategy", "ka", "--seed", "0", "--pcap", "/dev/full"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the pcap /dev/full: No space left on device"), "{err}");
    assert!(!err.contains("reading"), "{err}");
}

/// A 1 h run whose client reconnects at once, every 1 ms (item 1's storms).
const STORM: &str = "name = \"storm\"\nhorizon = \"1h\"\n[client.reconnect]\nmode = \"eager\"\ninitial_backoff = \"1ms\"\nmax_backoff = \"1ms\"\nmultiplier = 1.0\n";
/// Strategy `none`: what a storm costs with nothing else running.
const NONE: &str = "[[strategy]]\nname = \"none\"\nkind = \"none\"\n";

/// Item 1: a reconnect storm grew memory without bound (a 1 ms backoff
/// against a crashed server: 0.55 / 1.65 / 3.29 GB at 10 m / 30 m / 1 h).
/// Endpoints that are over are now released and a storm's failed attempts
/// folded, so the 1 h storm runs to its end under 100 MB. Hand count of its
/// attempts: from the crash (1 s) to the horizon (3600 s), one every 1 ms of
/// backoff plus the SYN's and the RST's ~0.5 us on each of the two 1 Gbit/s
/// links (about 2 us): between 3599 s / 1.0025 ms = 3 590 025 and
/// 3599 s / 1 ms = 3 599 000, and the first connection. Up for 1 s of 3600:
/// availability 1/3600 = 0.000278.
#[test]
fn a_reconnect_storm_runs_to_its_end_within_the_documented_bound() {
    let dir = folder("storm");
    std::fs::write(dir.join("storm.toml"), format!("{STORM}[[fault]]\nkind = \"crash\"\ntarget = \"server\"\nat = \"1s\"\n{NONE}"))
        .unwrap();
    // This run's own peak (wait4 reports the child it reaps, whatever other tests run).
    #[allow(clippy::zombie_processes)] // reaped by wait4 below
    let child = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(["run", "storm.toml", "--seeds", "1", "--format", "json"])
        .current_dir(&dir)
        .stdout(std::fs::File::create(dir.join("report.json")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut status, mut usage): (libc::c_int, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    assert_eq!(unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) }, child.id() as libc::pid_t);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status}");
    assert!(usage.ru_maxrss < 100 * 1024, "peak {} KB", usage.ru_maxrss);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let strategy = &report["scenarios"][0]["strategies"][0];
    assert_eq!(strategy["availability"], serde_json::json!(0.000278));
    assert_eq!(strategy["unrestored"], serde_json::json!(1));
    // The replay counts every attempt.
    let o = kasim_in(&dir, &["replay", "storm.toml", "--strategy", "none", "--seed", "0", "--until", "2s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let attempts: u64 = text
        .split("connection 0: ")
        .nth(1)
        .and_then(|rest| rest.split(" attempts, 1 established").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", &text[..text.len().min(600)]));
    assert!((3_590_026..=3_599_001).contains(&attempts), "{attempts}");
    assert!(!text.contains("STOPPED"), "{}", &text[..text.len().min(600)]);
}

/// Item 1, what is still bounded by stopping: attempts that connect keep
/// their records (each may carry detections). A server application that
/// closes a connection 1 ms after it goes idle, and an eager 1 ms reconnect:
/// a connection every ~1 ms, each kept. The run is stopped when it first
/// holds 50 001 records: r attempts' records, their endpoints' numbers (2
/// per attempt, one record per 128) and the live ends, r + 2r/128 + 2, so
/// r near 49 230, reached at about 49 s; the command refuses it, naming the
/// seed and the replay that shows it.
#[test]
fn a_storm_of_connections_that_connect_is_stopped_within_the_documented_bound() {
    let dir = folder("storm-connected");
    std::fs::write(dir.join("storm.toml"), format!("{STORM}[server.app]\nidle_timeout = \"1ms\"\n{NONE}")).unwrap();
    let o = kasim_in(&dir, &["run", "storm.toml"]);
    refused(&o, "storm.toml: strategy none, seed 0: the run held 50001 connection records by +00:00:49");
    assert!(stderr(&o).contains("kasim replay storm.toml --strategy none --seed 0 --until 50s"), "{}", stderr(&o));
    let o = kasim_in(&dir, &["replay", "storm.toml", "--strategy", "none", "--seed", "0", "--until", "2s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("STOPPED at +00:00:49."), "{}", &text[..text.len().min(600)]);
}

/// Item 1: the "about 10^9 events" notice counted traffic only; it now
/// counts a strategy's heartbeats and a session's reconnect attempts.
/// Hand count for one connection over 1 h (3 600 s): a 1 s phi heartbeat is
/// 3 600 x 4 = 14 400 events; eager reconnects every 10 ms (multiplier 1:
/// the pause never grows) are 360 000 attempts x 6 = 2 160 000; no traffic.
/// With the default multiplier 2 the pause settles at max_backoff (2 min):
/// 30 attempts x 6 = 180.
#[test]
fn the_event_estimate_counts_heartbeats_and_reconnects() {
    let text = "name = \"e\"\nhorizon = \"1h\"\n[client.reconnect]\nmode = \"eager\"\ninitial_backoff = \"10ms\"\nmultiplier = 1.0\n\
                [[fault]]\nkind = \"crash\"\ntarget = \"server\"\nat = \"1s\"\n\
                [[strategy]]\nname = \"phi\"\nkind = \"phi_accrual\"\ninterval = \"1s\"\n[[strategy]]\nname = \"none\"\nkind = \"none\"\n";
    let s = harness::scenario::parse(std::path::Path::new("e.toml"), text).unwrap();
    let phi = harness::runner::estimated_events(&s, &s.strategies[0]);
    let none = harness::runner::estimated_events(&s, &s.strategies[1]);
    assert!((none - 2_160_000.0).abs() < 1.0, "{none}");
    assert!((phi - none - 14_400.0).abs() < 1.0, "{phi}");
    let s = harness::scenario::parse(std::path::Path::new("e.toml"), &text.replace("multiplier = 1.0\n", "")).unwrap();
    let growing = harness::runner::estimated_events(&s, &s.strategies[1]);
    assert!((growing - 180.0).abs() < 1.0, "{growing}");
}

/// Item 8: a signal's message agreed with the disk in 258 of 260 trials;
/// twice it said "nothing was written" with the new set already in place
/// (the watcher raced the rename). Now a write holds a lock from its temp
/// file to its rename, which the watcher takes first. Over signals sent at
/// times spread across a run that writes `--out` (so some land before the
/// runs end, some during the write, some after), what is said must match
/// what is on disk: "nothing was written" leaves the old set, "… had been
/// written in whole" and exit 0 leave the new one, never a mix. (The race
/// window is a few microseconds: these 40 trials hold the invariant over a
/// spread of signal times; measured here, 28 land before the write and 12
/// after the run; they do not reproduce the 2 in 260 on demand.)
#[test]
fn what_a_signal_says_was_written_is_what_is_on_disk() {
    let dir = folder("signal-race");
    std::fs::write(dir.join("s.toml"), SCENARIO).unwrap();
    let report = |name: &str| std::fs::read_to_string(dir.join(name).join("report.json")).unwrap_or_default();
    // The old set (3 seeds) and what the new one reads (10 000 seeds: about 0.3 s here).
    assert_eq!(kasim_in(&dir, &["run", "s.toml", "--seeds", "10000", "--out", "new"]).status.code(), Some(0));
    let new = report("new");
    let mut before = 0;
    for trial in 0..40u64 {
        assert_eq!(kasim_in(&dir, &["run", "s.toml", "--seeds", "3", "--out", "out"]).status.code(), Some(0));
        let old = report("out");
        assert_ne!(old, new);
        let child = Command::new(env!("CARGO_BIN_EXE_kasim"))
            .args(["run", "s.toml", "--seeds", "10000", "--out", "out"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(trial * 10));
        // SAFETY: signalling our own child process (it may have exited: then kill fails harmlessly).
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let o = child.wait_with_output().unwrap();
        let (err, now) = (stderr(&o), report("out"));
        match o.status.code() {
            Some(0) => assert_eq!(now, new, "trial {trial}: finished, the new set"),
            // Signalled before its handler was installed: killed, nothing done.
            None => {
                assert_eq!(now, old, "trial {trial}: killed at start, the old set");
                before += 1;
            }
            Some(130) if err.contains("nothing was written") => {
                assert_eq!(now, old, "trial {trial}: said nothing was written, but the set changed: {err}");
                before += 1;
            }
            Some(130) => {
                assert!(err.contains("had been written in whole"), "trial {trial}: {err}");
                assert_eq!(now, new, "trial {trial}: said written, the new set: {err}");
            }
            other => panic!("trial {trial}: exit {other:?}: {err}"),
        }
        assert!(
            std::fs::read_dir(&dir).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp-")),
            "trial {trial}: a temp left"
        );
    }
    // The signals landed before the write at least once.
    assert!(before > 0, "no signal landed before the write");
}

/// Issue 29 item 4: lines that should paste did not. Away from the sources a
/// bundled scenario's replay said `kasim replay <bundled>/buildbot-dialup.toml`,
/// which no shell can run; it now names the scenario as replay finds it, and
/// a failing check's line, run as printed from the same folder, replays.
#[test]
fn printed_replay_lines_run_as_printed() {
    let dir = folder("paste");
    let o = kasim_in(&dir, &["replay", "buildbot-dialup", "--strategy", "linux-default", "--seed", "3"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let line = text.lines().find(|l| l.starts_with("reproduce with: ")).expect("a reproduce line");
    assert_eq!(line, "reproduce with: kasim replay buildbot-dialup --strategy linux-default --seed 3");
    // A failing expectation of a file with a space in its name and its strategy's.
    std::fs::write(
        dir.join("my scenario.toml"),
        "name = \"m\"\nhorizon = \"1h\"\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"10m\"\n\
         [[strategy]]\nname = \"two words\"\nkind = \"tcp_keepalive\"\nidle = \"60s\"\ninterval = \"10s\"\ncount = 3\n\
         [[expect]]\nstrategy = \"two words\"\nside = \"client\"\nmetric = \"detection_max\"\nle = \"1s\"\n",
    )
    .unwrap();
    let o = kasim_in(&dir, &["check", "my scenario.toml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find_map(|l| l.trim().strip_prefix("reproduce with: ")).expect("a reproduce line");
    assert_eq!(line, "kasim replay 'my scenario.toml' --strategy 'two words' --seed 0");
    // Run it through a shell, as a person would paste it.
    let pasted = line.replacen("kasim", env!("CARGO_BIN_EXE_kasim"), 1);
    let o = Command::new("sh").arg("-c").arg(&pasted).current_dir(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{pasted}: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("declared dead at"));
    // Away from a checkout (no ./scenarios), the default catalogue is the binary's own copy,
    // never the build-time checkout's folder: `list` names no path of the sources.
    let o = kasim_in(&dir, &["list"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().display().to_string();
    assert!(text.contains("  buildbot-dialup              bundled (commands take its name)"), "{text}");
    assert!(!text.contains(&sources), "{text}");
}

/// Issue 29's done-when: every `kasim replay` command kasim prints, in a
/// folder away from the sources (no `scenarios/`: the binary's embedded
/// catalogue), runs as printed through a shell and replays. The commands
/// come from everything that prints one: a failing `check` (its reproduce
/// lines and its JUnit file), `doctor`'s findings on the catalogue, `run --out`'s HTML page (each
/// strategy's drawn run), and a fleet replay's summary (its median and worst
/// connections).
#[test]
fn every_printed_replay_runs_as_printed_away_from_the_sources() {
    let dir = folder("every-paste");
    let text = |o: &Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(o));
    let mut printed: Vec<(&str, String)> = Vec::new();
    // A check prints its lines for failures: one that fails on 2 seeds.
    std::fs::write(
        dir.join("fails.toml"),
        "name = \"fails\"\nhorizon = \"1h\"\nseeds = 2\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"10m\"\n\
         [[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\nidle = \"60s\"\ninterval = \"10s\"\ncount = 3\n\
         [[expect]]\nstrategy = \"ka\"\nside = \"client\"\nmetric = \"detection_max\"\nle = \"1s\"\n",
    )
    .unwrap();
    let o = kasim_in(&dir, &["check", "fails.toml", "--junit", "junit.xml"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    printed.push(("check", text(&o)));
    printed.push(("junit", std::fs::read_to_string(dir.join("junit.xml")).unwrap()));
    let o = kasim_in(&dir, &["doctor"]);
    printed.push(("doctor", text(&o)));
    let o = kasim_in(&dir, &["run", "--seeds", "4", "--out", "html"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    printed.push(("html", std::fs::read_to_string(dir.join("html/index.html")).unwrap()));
    let o = kasim_in(&dir, &["replay", "fleet-behind-carrier-nat", "--strategy", "linux-default", "--seed", "3"]);
    printed.push(("fleet replay", text(&o)));
    let mut commands = std::collections::BTreeSet::new();
    for (source, text) in &printed {
        // A command ends where its line, its HTML element or its attribute does.
        let found: Vec<String> = text
            .match_indices("kasim replay ")
            .map(|(i, _)| text[i..].split(['\n', '<', '"']).next().unwrap().replace("&#39;", "'").replace("&amp;", "&"))
            .collect();
        assert!(!found.is_empty(), "{source} printed no replay command:\n{text}");
        commands.extend(found);
    }
    // At least one per bundled strategy (the HTML draws a run of each), and
    // the failing check's two seeds.
    let strategies: usize = harness::catalogue::scenarios().unwrap().iter().map(|s| s.strategies.len()).sum();
    assert!(commands.len() >= strategies + 2, "{} commands for {strategies} strategies", commands.len());
    assert!(commands.contains("kasim replay fails.toml --strategy ka --seed 1"), "{commands:?}");
    for command in &commands {
        let pasted = command.replacen("kasim", env!("CARGO_BIN_EXE_kasim"), 1);
        let o = Command::new("sh").arg("-c").arg(&pasted).current_dir(&dir).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{command}: {}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("scenario "), "{command} replayed nothing");
    }
}
