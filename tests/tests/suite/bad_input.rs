//! Bad input is an error, never a panic: every bundled scenario, with one line
//! deleted or one value replaced by something hostile, either loads or fails
//! with an error naming the file, a line inside it and a key. And what loads
//! must build a world for every strategy (the runner `expect`s that).

use harness::{runner, scenario};
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const HOSTILE: [&str; 24] = [
    "0",
    "-1",
    "1e308",
    "18446744073709551615",
    "true",
    "[]",
    "{}",
    "\"\"",
    "\"abc\"",
    "\"0s\"",
    "\"-5s\"",
    "\"999999999d\"",
    "\"1ns\"",
    "\"exp(0s)\"",
    "\"exp(-1s)\"",
    "\"uniform(5s, 1s)\"",
    "\"uniform(1s)\"",
    "\"0kbit/s\"",
    "\"1bit/s\"",
    "\"0B\"",
    "\"99999999999TB\"",
    "\"client\"",
    "[\"nobody\"]",
    "\"server.link\"",
];

/// The bundled scenarios and their text, read once for all cases.
fn catalogue() -> &'static [(PathBuf, String)] {
    static FILES: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        scenario::discover(&[dir]).unwrap().into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect()
    })
}

/// Replace the value of the `n`-th `key = value` line (or delete the line).
fn mutate(src: &str, n: usize, replacement: Option<&str>) -> String {
    let assignments: Vec<usize> =
        src.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with('#') && l.contains(" = ")).map(|(i, _)| i).collect();
    let target = assignments[n % assignments.len()];
    src.lines()
        .enumerate()
        .filter_map(|(i, l)| match (i == target, replacement) {
            (false, _) => Some(l.to_string()),
            (true, None) => None,
            (true, Some(v)) => Some(format!("{} = {v}", l.split(" = ").next().unwrap())),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x006b_6173_696d),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_mutated_scenario_loads_or_names_what_is_wrong(file in 0usize..64, line in 0usize..1000, value in proptest::option::weighted(0.9, 0usize..HOSTILE.len())) {
        let files = catalogue();
        let (path, src) = &files[file % files.len()];
        let text = mutate(src, line, value.map(|v| HOSTILE[v]));
        let lines = text.lines().count();
        let loaded = catch_unwind(AssertUnwindSafe(|| scenario::parse(path, &text)));
        prop_assert!(loaded.is_ok(), "parse panicked on:\n{}", text);
        match loaded.unwrap() {
            Err(e) => {
                prop_assert_eq!(&e.file, path);
                prop_assert!(!e.key.is_empty() && !e.message.is_empty(), "{}", e);
                if let Some((l, c)) = e.position {
                    prop_assert!(l >= 1 && l <= lines + 1 && c >= 1, "{} points outside the file", e);
                }
            }
            Ok(s) => {
                for strategy in &s.strategies {
                    for seed in 0..3 {
                        let built = catch_unwind(AssertUnwindSafe(|| runner::world(&s, strategy, seed, false)));
                        prop_assert!(built.is_ok(), "world for {} seed {} panicked on:\n{}", strategy.name, seed, text);
                    }
                }
            }
        }
    }
}
