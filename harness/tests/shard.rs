//! `kasim run --shard K/N` and `kasim merge`, on the built binary: any whole
//! set of shards, in any order, merges to the unsharded run's bytes in every
//! format; an incomplete or mixed set is refused with exit 2; the example
//! GitHub Actions workflow and Kubernetes Job give `--shard auto` what it needs.

mod common;

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kasim_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kasim"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for v in ["KASIM_SHARD", "JOB_COMPLETION_INDEX", "KASIM_SHARD_COUNT"] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied()).output().expect("kasim runs")
}

fn kasim(args: &[&str]) -> Output {
    kasim_env(args, &[])
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

const SCENARIOS: [&str; 4] = [
    "../scenarios/cellular-carrier-nat.toml",
    "../scenarios/server-power-off.toml",
    "../scenarios/buildbot-dialup.toml",
    "../scenarios/aws-nat-gateway.toml",
];

fn dir(name: &str) -> common::TempFolder {
    common::temp_folder("shard", name)
}

/// Run shard k/n of SCENARIOS at `seeds` and save its partial result.
fn shard(d: &Path, k: u64, n: u64, seeds: &str) -> PathBuf {
    let spec = format!("{k}/{n}");
    let mut args = vec!["run"];
    args.extend(SCENARIOS);
    args.extend(["--seeds", seeds, "--shard", &spec, "--format", "json"]);
    let o = kasim(&args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let path = d.join(format!("shard-{k}-of-{n}.json"));
    std::fs::write(&path, &o.stdout).unwrap();
    path
}

fn unsharded(seeds: &str, format: &str) -> String {
    let mut args = vec!["run"];
    args.extend(SCENARIOS);
    args.extend(["--seeds", seeds, "--format", format]);
    text(&kasim(&args))
}

fn merged(files: &[PathBuf], format: &str) -> Output {
    let mut args = vec!["merge".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--format".into(), format.into()]);
    kasim(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 12,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6b61_7369_6d14),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any N from 1 to 7 (more shards than a scenario has runs included) and
    /// any order of the files.
    #[test]
    fn any_whole_set_in_any_order_merges_to_the_unsharded_bytes(n in 1u64..=7, order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>())) {
        let d = dir(&format!("prop-{n}-{order}"));
        let mut files: Vec<PathBuf> = (1..=n).map(|k| shard(&d, k, n, "9")).collect();
        // A deterministic shuffle from `order`.
        let mut state = order | 1;
        for i in (1..files.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            files.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for format in ["json", "table", "markdown"] {
            let m = merged(&files, format);
            prop_assert_eq!(m.status.code(), Some(0), "{}", String::from_utf8_lossy(&m.stderr));
            prop_assert_eq!(text(&m), unsharded("9", format), "format {}", format);
        }
    }
}

#[test]
fn shards_split_the_runs_evenly_and_carry_what_merging_needs() {
    let d = dir("even");
    let files: Vec<PathBuf> = (1..=3).map(|k| shard(&d, k, 3, "10")).collect();
    // 4 scenarios; their strategies x 10 seeds, round-robin: shards differ by at most one run.
    let runs: Vec<u64> = files
        .iter()
        .map(|f| {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            assert_eq!(v["partial"], true);
            assert_eq!(v["kasim_version"], env!("CARGO_PKG_VERSION"));
            assert_eq!(v["scenarios"].as_array().unwrap().len(), 4);
            let first = &v["scenarios"][0];
            assert!(first["source"].as_str().unwrap().contains("name = \"cellular-carrier-nat\""));
            assert_eq!(first["fingerprint"].as_str().unwrap().len(), 16);
            v["scenarios"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["strategies"].as_array().unwrap().iter().map(|st| st["runs"].as_array().unwrap().len() as u64))
                .sum()
        })
        .collect();
    let strategies: u64 = SCENARIOS
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap().matches("[[strategy]]").count() as u64)
        .sum();
    assert_eq!(runs.iter().sum::<u64>(), strategies * 10);
    assert!(runs.iter().max().unwrap() - runs.iter().min().unwrap() <= 1, "{runs:?}");
}

#[test]
fn merge_check_and_junit_behave_as_check() {
    let d = dir("check");
    let files: Vec<PathBuf> = (1..=2).map(|k| shard(&d, k, 2, "6")).collect();
    let junit_m = d.join("merge.xml");
    let junit_c = d.join("check.xml");
    let mut margs: Vec<String> = vec!["merge".into(), "--check".into(), "--junit".into(), junit_m.display().to_string()];
    margs.extend(files.iter().map(|f| f.display().to_string()));
    let m = kasim(&margs.iter().map(String::as_str).collect::<Vec<_>>());
    let mut cargs = vec!["check"];
    cargs.extend(SCENARIOS);
    let junit_c_s = junit_c.display().to_string();
    cargs.extend(["--seeds", "6", "--junit", &junit_c_s]);
    let c = kasim(&cargs);
    assert_eq!(m.status.code(), c.status.code());
    assert_eq!(m.stdout, c.stdout);
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).replace(&junit_m.display().to_string(), "X").replace(&junit_c_s, "X");
    assert_eq!(err(&m), err(&c));
    assert!(err(&m).contains("expectations,"), "{}", err(&m));
    assert_eq!(std::fs::read_to_string(&junit_m).unwrap(), std::fs::read_to_string(&junit_c).unwrap());
}

fn refused(files: &[PathBuf], expect: &str) {
    let m = merged(files, "table");
    let err = String::from_utf8_lossy(&m.stderr);
    assert_eq!(m.status.code(), Some(2), "{err}");
    assert!(m.stdout.is_empty());
    assert!(err.contains(expect), "expected {expect:?} in {err}");
}

#[test]
fn incomplete_or_mixed_sets_are_refused() {
    let d = dir("refuse");
    let files: Vec<PathBuf> = (1..=3).map(|k| shard(&d, k, 3, "4")).collect();
    refused(&files[..2], "missing shard 3/3 (of 2 given)");
    refused(&[files[0].clone(), files[1].clone(), files[1].clone()], "shard 2/3 is given twice");
    // A different shard count.
    let other = shard(&d, 1, 2, "4");
    refused(&[files[0].clone(), files[1].clone(), other], "shard count 3");
    // Different --seeds: different runs.
    let seeds_dir = dir("refuse-seeds");
    let seeds = shard(&seeds_dir, 3, 3, "5");
    refused(&[files[0].clone(), files[1].clone(), seeds], "seeds 4, ");
    let text = std::fs::read_to_string(&files[2]).unwrap();
    // Edits that keep the file consistent (resealed, as a tool that knows the
    // format could) reach the checks of what was run.
    let resealed = |name: &str, edit: &dyn Fn(&mut harness::shard::Partial)| {
        let mut p: harness::shard::Partial = serde_json::from_str(&text).unwrap();
        edit(&mut p);
        p.seal();
        let path = d.join(name);
        std::fs::write(&path, serde_json::to_string(&p).unwrap()).unwrap();
        vec![files[0].clone(), files[1].clone(), path]
    };
    refused(&resealed("old-version.json", &|p| p.kasim_version = "0.0.1".into()), "kasim version");
    // Two builds that both say 0.1.0 but differ in their model (issue 27 item 7).
    refused(&resealed("other-build.json", &|p| p.kasim_build = "0123456789abcdef".into()), "kasim build");
    // A different scenario file (the same name, edited between shards, its fingerprint recomputed).
    let edit_source = |p: &mut harness::shard::Partial| {
        let first = &mut p.scenarios[0];
        first.source = first.source.replace("name = \"cellular-carrier-nat\"", "name = \"cellular-carrier-nat\" ");
        first.fingerprint = harness::shard::fingerprint(&first.source);
    };
    refused(&resealed("changed-file.json", &edit_source), "scenario files");
    // The same edit without the fingerprint: the shard's copy no longer matches what it recorded.
    refused(
        &resealed("edited-by-hand.json", &|p| {
            edit_source(p);
            p.scenarios[0].fingerprint = "0000000000000000".into();
        }),
        "does not match the fingerprint it records",
    );
    // Not a partial result at all.
    let report = d.join("report.json");
    std::fs::write(&report, unsharded("4", "json")).unwrap();
    refused(&[report], "not a kasim partial result");
}

/// Issue 27 item 7: 123 of 400 random one-value edits of partial files
/// merged silently into a different output. Every edit of one digit of the
/// file (a run's figure, a seed, a count, a flag) is now refused: the digest
/// covers the data, not only the scenario text. Every 7th digit of a shard
/// of 4 scenarios x 4 seeds is tried (a few hundred edits).
#[test]
fn any_edit_of_a_value_is_refused() {
    let d = dir("digits");
    let files: Vec<PathBuf> = (1..=2).map(|k| shard(&d, k, 2, "4")).collect();
    let text = std::fs::read_to_string(&files[1]).unwrap();
    let digits: Vec<usize> = text.char_indices().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).step_by(7).collect();
    assert!(digits.len() > 200, "{}", digits.len());
    let path = d.join("edited.json");
    let mut refused_count = 0;
    for &i in &digits {
        let mut bytes = text.clone().into_bytes();
        bytes[i] = if bytes[i] == b'9' { b'1' } else { bytes[i] + 1 };
        std::fs::write(&path, &bytes).unwrap();
        let o = harness::shard::read(&path);
        assert!(o.is_err(), "an edit at byte {i} was accepted: {}", String::from_utf8_lossy(&bytes[i.saturating_sub(40)..i + 10]));
        refused_count += 1;
    }
    assert_eq!(refused_count, digits.len());
    assert!(harness::shard::read(&files[1]).is_ok(), "the unedited file reads");
}

/// Issue 27 item 10: shards made with `--seeds 4` merge with shards that
/// took `seeds = 4` from the file: the same runs.
#[test]
fn the_seeds_flag_and_the_files_own_seeds_are_the_same_runs() {
    let d = dir("seeds-flag");
    let file = d.join("four.toml");
    std::fs::write(&file, "name = \"four\"\nhorizon = \"1h\"\nseeds = 4\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"uniform(1m, 30m)\"\n[[strategy]]\nname = \"ka\"\nkind = \"tcp_keepalive\"\nidle = \"60s\"\n").unwrap();
    let f = file.to_str().unwrap();
    let part = |k: &str, flags: &[&str]| {
        let mut args = vec!["run", f, "--shard", k, "--format", "json"];
        args.extend(flags);
        let o = kasim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let path = d.join(format!("part-{}.json", k.replace('/', "-")));
        std::fs::write(&path, &o.stdout).unwrap();
        path
    };
    let files = [part("1/2", &["--seeds", "4"]), part("2/2", &[])];
    let m = merged(&files, "json");
    assert_eq!(m.status.code(), Some(0), "{}", String::from_utf8_lossy(&m.stderr));
    assert_eq!(text(&m), text(&kasim(&["run", f, "--format", "json"])));
}

#[test]
fn shard_flags_are_checked() {
    for (args, expect) in [
        (vec!["run", SCENARIOS[0], "--shard", "0/3", "--format", "json"], "allowed: K/N with 1 <= K <= N <= 10000"),
        (vec!["run", SCENARIOS[0], "--shard", "4/3", "--format", "json"], "allowed: K/N"),
        (vec!["run", SCENARIOS[0], "--shard", "1/3"], "use --format json"),
        (vec!["check", SCENARIOS[0], "--shard", "1/3", "--format", "json"], "kasim merge --check"),
        (vec!["run", SCENARIOS[0], "--shard", "auto", "--format", "json"], "no shard index in the environment"),
    ] {
        let o = kasim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: expected {expect:?} in {err}");
    }
}

/// The example workflow and Job, run as their engines would run them: the
/// environment each gives a shard, and the flags their commands pass.
#[test]
fn the_github_and_kubernetes_examples_shard_and_merge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let gha = std::fs::read_to_string(root.join("examples/github-actions-shards.yml")).unwrap();
    let k8s = std::fs::read_to_string(root.join("examples/k8s-indexed-job.yaml")).unwrap();
    assert!(gha.contains("shard: [1, 2, 3, 4]") && gha.contains("KASIM_SHARD: ${{ matrix.shard }}/4"));
    assert!(gha.contains("--shard auto --format json") && gha.contains("kasim merge shard-*.json --check --junit kasim.xml"));
    assert!(k8s.contains("completionMode: Indexed") && k8s.contains("completions: 4"));
    assert!(k8s.contains("name: KASIM_SHARD_COUNT\n              value: \"4\"") && k8s.contains("--shard auto --format json"));
    let want = unsharded("8", "json");
    for (engine, envs) in [
        ("github", (1..=4).map(|k| vec![("KASIM_SHARD", format!("{k}/4"))]).collect::<Vec<_>>()),
        ("k8s", (0..4).map(|i| vec![("JOB_COMPLETION_INDEX", i.to_string()), ("KASIM_SHARD_COUNT", "4".to_string())]).collect()),
    ] {
        let d = dir(engine);
        let mut files = Vec::new();
        for (i, env) in envs.iter().enumerate() {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut args = vec!["run"];
            args.extend(SCENARIOS);
            args.extend(["--seeds", "8", "--shard", "auto", "--format", "json"]);
            let o = kasim_env(&args, &env);
            assert_eq!(o.status.code(), Some(0), "{engine}: {}", String::from_utf8_lossy(&o.stderr));
            let f = d.join(format!("shard-{i}.json"));
            std::fs::write(&f, &o.stdout).unwrap();
            files.push(f);
        }
        assert_eq!(text(&merged(&files, "json")), want, "{engine}");
    }
}
