//! Issue 24 end to end: the report's `ci95`, `[[expect]] confidence`,
//! `check --until-decided`, `run --per-seed` and `kasim diff`, each against
//! a figure worked out by hand or a verdict the scenario forces.

mod common;

use common::{kasim_in, stderr, temp_folder};
use serde_json::Value;
use std::path::Path;

/// A keepalive whose idle is left to the test, behind a NAT that forgets
/// after 350 s and answers a forgotten flow with RST; a request at
/// exponential gaps (mean 10 min), so some gaps outlast the NAT.
fn nat_scenario(idle: &str) -> String {
    format!(
        r#"name = "ka-behind-350s-nat"
horizon = "6h"
seeds = 40
[nat]
idle_timeout = "350s"
on_expired = "rst"
[[traffic]]
kind = "requests"
every = "exp(10m)"
size = "200B"
reply = "2KB"
timeout = "30s"
[client.reconnect]
mode = "eager"
[[strategy]]
name = "ka"
kind = "tcp_keepalive"
idle = "{idle}"
interval = "30s"
count = 3
"#
    )
}

/// An app ping (interval left to the test, 3 s timeout) and a server that
/// vanishes at a uniform time: the latency is 3 s plus a uniform phase.
fn phase_scenario(interval: &str) -> String {
    format!(
        r#"name = "ping-phase"
horizon = "30m"
seeds = 20
[[fault]]
kind = "vanish"
target = "server"
at = "uniform(600s, 1200s)"
[[strategy]]
name = "ping"
kind = "app_ping"
interval = "{interval}"
timeout = "3s"
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Run a scenario file in `dir` to a JSON document (`--per-seed`) named `to`.
fn run_json(dir: &Path, file: &str, to: &str, extra: &[&str]) {
    let mut args = vec!["run", file, "--format", "json", "--per-seed"];
    args.extend_from_slice(extra);
    let out = kasim_in(dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(dir.join(to), &out.stdout).unwrap();
}

#[test]
fn every_strategy_object_carries_exact_intervals() {
    let dir = temp_folder("verdicts", "ci95");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/aws-nat-gateway.toml");
    let doc = json(&kasim_in(&dir, &["run", root.to_str().unwrap(), "--seeds", "40", "--format", "json"]));
    let st = &doc["scenarios"][0]["strategies"][0];
    assert_eq!(st["name"], "linux-default");
    // Every one of 40 runs loses its mapping (40 of 40): Clopper-Pearson puts the lower end
    // at 0.025^(1/40) = 0.91190 and the upper at 1.
    assert_eq!(st["nat_expiries"], 40);
    assert_eq!(st["ci95"]["nat_expiries_per_run"], serde_json::json!([0.912, 1.0]));
    // No false positive in 40 connections: the total's upper end is 40 (1 - 0.025^(1/40)) = 3.524.
    assert_eq!(st["ci95"]["false_positives"], serde_json::json!([0.0, 3.524]));
    // 40 detections: a p99 needs 368 before it has an upper end; a maximum never has one.
    assert_eq!(st["ci95"]["detection_p99"][1], Value::Null);
    assert_eq!(st["ci95"]["detection_max"][1], Value::Null);
    assert_eq!(st["ci95"]["detection_max"][0], st["client"]["latency_s"]["max"]);
    // The server's per-side intervals are on its side: it detected none of 40.
    assert_eq!(st["server"]["ci95"]["detected"], serde_json::json!([0.0, 3.524]));
    // The same bytes at any --jobs.
    let one = kasim_in(&dir, &["run", root.to_str().unwrap(), "--seeds", "12", "--format", "json", "--per-seed", "--jobs", "1"]);
    let two = kasim_in(&dir, &["run", root.to_str().unwrap(), "--seeds", "12", "--format", "json", "--per-seed", "--jobs", "2"]);
    assert!(one.status.success() && one.stdout == two.stdout);
    // The table keeps its bytes without --ci, and shows the intervals with it.
    let plain = kasim_in(&dir, &["run", root.to_str().unwrap(), "--seeds", "12"]);
    let ci = kasim_in(&dir, &["run", root.to_str().unwrap(), "--seeds", "12", "--ci"]);
    let (plain, ci) = (String::from_utf8_lossy(&plain.stdout), String::from_utf8_lossy(&ci.stdout));
    assert!(!plain.contains('[') && ci.contains("[") && ci.contains("95 % interval"), "{plain}\n{ci}");
    let md = kasim_in(&dir, &["run", root.to_str().unwrap(), "--seeds", "12", "--format", "markdown"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("| linux-default | tcp_keepalive | 12/12 | 1h54m ["));
}

#[test]
fn confidence_expectations_pass_fail_or_say_how_many_seeds_decide_them() {
    let dir = temp_folder("verdicts", "confidence");
    let expects = r#"
[[expect]]
strategy = "ping"
side = "client"
metric = "detection_p50"
le = "9s"
confidence = 0.95

[[expect]]
strategy = "ping"
side = "client"
metric = "detection_max"
le = "2s"
confidence = 0.95
"#;
    let file = write(&dir, "phase.toml", &(phase_scenario("10s") + expects));
    // At 20 seeds the median (8 s in truth, 3 s + half of 10 s) has an interval reaching past 9 s:
    // inconclusive, with the seeds to decide; the maximum is at least ~12 s > 2 s: a fail.
    let out = kasim_in(&dir, &["check", &file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // The README's example, to the figure (the runs are seeded).
    assert!(
        err.contains(
            "INCONCLUSIVE ping-phase: ping client detection_p50 <= 9: observed 8.008, 95 % interval [7.314, 10.489] over 20 seeds\n  \
             the interval straddles the bound 9; about 124 seeds would decide it (--seeds 124, or --until-decided)"
        ),
        "{err}"
    );
    assert!(err.contains("FAIL ping-phase: ping client detection_max <= 2"), "{err}");
    assert!(err.contains("2 expectations, 0 passed, 1 failed, 1 inconclusive"), "{err}");
    // Adding seeds decides the median (the max stays failed): exit 1 only for the max.
    let out = kasim_in(&dir, &["check", &file, "--until-decided", "--max-seeds", "640"]);
    let err = stderr(&out);
    assert!(err.contains("2 expectations, 1 passed, 1 failed"), "{err}");
    assert!(err.contains("look 2 of 6"), "five doublings from 20 to 640: {err}");
    // A level outside (0, 1) is bad input, named by file, line and key.
    let bad = write(&dir, "bad.toml", &(phase_scenario("10s") + &expects.replacen("0.95", "1.5", 1)));
    let out = kasim_in(&dir, &["check", &bad]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml") && err.contains("expect[0].confidence") && err.contains("between 0 and 1"), "{err}");
}

#[test]
fn diff_of_a_run_against_itself_is_the_same_everywhere() {
    let dir = temp_folder("verdicts", "self");
    let f = write(&dir, "base.toml", &nat_scenario("300s"));
    run_json(&dir, &f, "base.json", &[]);
    let out = kasim_in(&dir, &["diff", "base.json", "base.json", "--format", "json"]);
    let doc = json(&out);
    let all = doc["comparisons"].as_array().unwrap();
    assert!(all.len() >= 10 && all.iter().all(|c| c["verdict"] == "same"), "{doc}");
    assert_eq!(doc["regressions"], 0);
}

#[test]
fn a_keepalive_idle_past_the_nat_timeout_is_a_regression() {
    let dir = temp_folder("verdicts", "regression");
    let base = write(&dir, "base.toml", &nat_scenario("300s"));
    let new = write(&dir, "new.toml", &nat_scenario("360s"));
    run_json(&dir, &base, "base.json", &[]);
    run_json(&dir, &new, "new.json", &[]);
    let out = kasim_in(&dir, &["diff", "base.json", "new.json", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |m: &str| doc["comparisons"].as_array().unwrap().iter().find(|c| c["metric"] == m).cloned().unwrap();
    // 300 s < 350 s: no mapping is ever lost; at 360 s every idle gap longer than 350 s loses one.
    let nat = find("nat_expiries");
    assert_eq!((nat["base"].as_f64(), nat["verdict"].as_str(), nat["method"].as_str()), (Some(0.0), Some("worse"), Some("paired")));
    assert!(nat["ci95"][0].as_f64().unwrap() > 0.0);
    assert_eq!(find("failed_requests_per_1000")["verdict"], "worse");
    // Fewer probes: cheaper.
    assert_eq!(find("keepalive_packets_per_hour")["verdict"], "better");
    // The key that changed is named.
    assert_eq!(doc["changes"][0]["key"], "strategy[ka].idle");
    assert_eq!(doc["changes"][0]["new"], "\"360s\"");
    // Markdown for a job summary says it first.
    let md = kasim_in(&dir, &["diff", "base.json", "new.json", "--format", "markdown"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("regression(s)**"));
    // --accept takes the new run as the baseline.
    let out = kasim_in(&dir, &["diff", "base.json", "new.json", "--accept"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("base.json")).unwrap(), std::fs::read(dir.join("new.json")).unwrap());
}

#[test]
fn a_change_too_small_for_the_seeds_is_inconclusive() {
    let dir = temp_folder("verdicts", "small");
    let base = write(&dir, "base.toml", &phase_scenario("10s"));
    let new = write(&dir, "new.toml", &phase_scenario("10.5s"));
    run_json(&dir, &base, "base.json", &[]);
    run_json(&dir, &new, "new.json", &[]);
    // The median latency moves by about 0.25 s against a spread of 10 s at 20 seeds.
    let out = kasim_in(&dir, &["diff", "base.json", "new.json", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p50 = doc["comparisons"].as_array().unwrap().iter().find(|c| c["metric"] == "detection_p50").unwrap();
    assert_eq!(p50["verdict"], "inconclusive", "{p50}");
    let out = kasim_in(&dir, &["diff", "base.json", "new.json", "--fail-on", "any"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn diff_refuses_what_it_cannot_compare() {
    let dir = temp_folder("verdicts", "refuse");
    let f = write(&dir, "base.toml", &phase_scenario("10s"));
    run_json(&dir, &f, "base.json", &[]);
    // Another build: refused unless --allow-model-change.
    let text = std::fs::read_to_string(dir.join("base.json")).unwrap();
    let build = serde_json::from_str::<Value>(&text).unwrap()["kasim_build"].as_str().unwrap().to_string();
    std::fs::write(dir.join("old.json"), text.replace(&build, "0000000000000000")).unwrap();
    let out = kasim_in(&dir, &["diff", "old.json", "base.json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("old.json was made by kasim build 0000000000000000") && err.contains("--allow-model-change"), "{err}");
    // Allowed: this build made the new run, so the baseline is run again and the model's own
    // effect (here none: the "old" build is this one) is told apart from the policy's.
    let doc = json(&kasim_in(&dir, &["diff", "old.json", "base.json", "--allow-model-change", "--format", "json"]));
    assert_eq!(doc["model"]["changed"], true);
    assert!(doc["model"]["comparisons"].as_array().unwrap().iter().all(|c| c["verdict"] == "same"), "{doc}");
    // Not a run: a tune document, a shard's partial, anything else.
    std::fs::write(dir.join("tune.json"), r#"{"scenario": "s", "points": []}"#).unwrap();
    let out = kasim_in(&dir, &["diff", "tune.json", "base.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("tune.json: not a kasim run document (a `kasim tune` document)"), "{}", stderr(&out));
    // A --between strategy that does not exist.
    let out = kasim_in(&dir, &["diff", "base.json", "--between", "ping", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no scenario has a strategy named \"nope\"; allowed: \"ping\""), "{}", stderr(&out));
    // A tolerance that is not one.
    let out = kasim_in(&dir, &["diff", "base.json", "base.json", "--tolerance", "-5%"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `kasim` with extra environment variables, in `dir`.
fn kasim_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kasim"));
    c.args(args).current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("kasim runs")
}

/// The diff workflow, run as GitHub would run it: four shards of the pull
/// request's run (KASIM_SHARD=K/4), merged with the per-seed summaries, then
/// diffed against the baseline committed on the base branch.
#[test]
fn the_github_diff_workflow_shards_merges_and_holds_the_baseline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let yml = std::fs::read_to_string(root.join("examples/github-actions-diff.yml")).unwrap();
    for needed in [
        "on: pull_request",
        "KASIM_SHARD: ${{ matrix.shard }}/4",
        "--shard auto --format json > shard-${{ matrix.shard }}.json",
        "kasim merge shard-*.json --format json --per-seed > new.json",
        "git show \"origin/${{ github.base_ref }}:kasim-baseline.json\" > base.json",
        "kasim diff base.json new.json --format markdown --fail-on worse >> \"$GITHUB_STEP_SUMMARY\"",
        "kasim diff base.json new.json --junit kasim-diff.xml",
    ] {
        assert!(yml.contains(needed), "the workflow lacks {needed:?}");
    }
    let dir = temp_folder("verdicts", "workflow");
    std::fs::create_dir_all(dir.join("scenarios")).unwrap();
    std::fs::write(dir.join("scenarios/nat.toml"), nat_scenario("300s")).unwrap();
    // The baseline, committed on the base branch.
    run_json(&dir, "scenarios", "kasim-baseline.json", &["--seeds", "24"]);
    // The pull request changes the idle; its run is made by four shards and merged.
    std::fs::write(dir.join("scenarios/nat.toml"), nat_scenario("360s")).unwrap();
    let mut shards = Vec::new();
    for k in 1..=4 {
        let o = kasim_env(
            &dir,
            &["run", "scenarios", "--seeds", "24", "--shard", "auto", "--format", "json"],
            &[("KASIM_SHARD", &format!("{k}/4"))],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let name = format!("shard-{k}.json");
        std::fs::write(dir.join(&name), &o.stdout).unwrap();
        shards.push(name);
    }
    let mut merge = vec!["merge"];
    merge.extend(shards.iter().map(String::as_str));
    merge.extend(["--format", "json", "--per-seed"]);
    let merged = kasim_in(&dir, &merge);
    assert!(merged.status.success(), "{}", stderr(&merged));
    std::fs::write(dir.join("new.json"), &merged.stdout).unwrap();
    // Merged with the summaries, it is byte for byte the unsharded run.
    run_json(&dir, "scenarios", "unsharded.json", &["--seeds", "24"]);
    assert_eq!(merged.stdout, std::fs::read(dir.join("unsharded.json")).unwrap());
    // The summary step and the regression step.
    let md = kasim_in(&dir, &["diff", "kasim-baseline.json", "new.json", "--format", "markdown", "--fail-on", "worse"]);
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(text.contains("# kasim diff") && text.contains("`strategy[ka].idle`: `\"300s\"` → `\"360s\"`"), "{text}");
    assert!(text.contains("| ka-behind-350s-nat | ka | nat_expiries | 0 |"), "{text}");
    let junit = kasim_in(&dir, &["diff", "kasim-baseline.json", "new.json", "--junit", "kasim-diff.xml"]);
    assert_eq!(junit.status.code(), Some(1), "a regression fails the job");
    let xml = std::fs::read_to_string(dir.join("kasim-diff.xml")).unwrap();
    assert!(
        xml.contains("<testcase classname=\"ka-behind-350s-nat\" name=\"ka nat_expiries\">") && xml.contains("type=\"worse\""),
        "{xml}"
    );
}

/// `kasim diff`'s JSON; exit 1 (a `worse` figure) is a result, not a failure.
fn diff_json(dir: &Path, args: &[&str]) -> Value {
    let out = kasim_in(dir, args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The seed counts at which a verdict of `kasim diff --between A B` is
/// decided and stays decided, on the README's grid, paired (`--per-seed`)
/// and unpaired: the README's "What pairing buys, measured" list, held to
/// its figures. Every run is deterministic, so these are exact.
#[test]
fn the_readmes_pairing_grid_decides_where_the_readme_says() {
    const GRID: [u32; 12] = [5, 10, 15, 20, 30, 40, 60, 80, 120, 160, 240, 320];
    let dir = temp_folder("verdicts", "pairing-grid");
    let catalogue = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    // The first grid point from which every later point is decided (not
    // `inconclusive`), for each metric.
    let decided_from = |scenario: &str, a: &str, b: &str, paired: bool, metrics: &[&str]| -> Vec<u32> {
        let file = catalogue.join(format!("{scenario}.toml"));
        let mut verdicts: Vec<Vec<String>> = vec![Vec::new(); metrics.len()];
        for n in GRID {
            let seeds = n.to_string();
            let mut args = vec!["run", file.to_str().unwrap(), "--seeds", &seeds, "--format", "json"];
            if paired {
                args.push("--per-seed");
            }
            let out = kasim_in(&dir, &args);
            assert!(out.status.success(), "{}", stderr(&out));
            std::fs::write(dir.join("grid.json"), &out.stdout).unwrap();
            let doc = diff_json(&dir, &["diff", "grid.json", "--between", a, b, "--format", "json"]);
            let want = if paired { "paired" } else { "unpaired" };
            for (m, metric) in metrics.iter().enumerate() {
                let c = doc["comparisons"].as_array().unwrap().iter().find(|c| c["metric"] == *metric).expect(metric);
                assert_eq!(c["method"], want, "{c}");
                verdicts[m].push(c["verdict"].as_str().unwrap().to_string());
            }
        }
        verdicts
            .iter()
            .map(|v| {
                let first = v.iter().rposition(|v| v == "inconclusive").map_or(0, |i| i + 1);
                assert!(first < GRID.len(), "never decided on the grid: {v:?}");
                assert!(v[first..].iter().all(|v| v == "better"), "{v:?}");
                GRID[first]
            })
            .collect()
    };
    let latency = ["detection_mean", "detection_p90", "detection_p50"];
    let (a, b) = ("keepalive-60-10-5", "keepalive-60-10-5-ut-90s");
    assert_eq!(decided_from("server-power-off", a, b, true, &latency), [10, 10, 10]);
    assert_eq!(decided_from("server-power-off", a, b, false, &latency), [60, 60, 20]);
    let fps = ["false_positives_per_1000_conn_hours", "false_positives"];
    assert_eq!(decided_from("lossy-link", "ping-10s-1s", "ping-10s-5s", true, &fps), [30, 40]);
    assert_eq!(decided_from("lossy-link", "ping-10s-1s", "ping-10s-5s", false, &fps), [320, 30]);

    // At the file's own 50 seeds the user timeout detects 37.8 s sooner on
    // average (96.724 s against 58.918 s).
    let out = kasim_in(&dir, &["run", catalogue.join("server-power-off.toml").to_str().unwrap(), "--format", "json", "--per-seed"]);
    std::fs::write(dir.join("own.json"), &out.stdout).unwrap();
    let doc = diff_json(&dir, &["diff", "own.json", "--between", a, b, "--format", "json"]);
    let mean = doc["comparisons"].as_array().unwrap().iter().find(|c| c["metric"] == "detection_mean").unwrap();
    assert_eq!((mean["base"].as_f64(), mean["new"].as_f64()), (Some(96.724), Some(58.918)), "{mean}");
}
