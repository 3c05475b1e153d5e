//! Fuzzing `kasim merge`: partial results (`run --shard K/N`) are files
//! anyone can hand it, so edited, cut or hostile ones must end in a clear
//! refusal, never a panic, and never a silently different result.
//!
//! The corpus is two real shards of a bundled scenario, made in process.
//! Each input edits one of them (a digit, a number swapped for an edge
//! case, a span deleted or doubled, the text cut short). Half the edited
//! files that still parse as JSON are then *resealed* (their digest
//! recomputed, as a tool that knows the format could), so the checks past
//! the digest — shard set, seeds, scenario copies, the merged runs — and the
//! rendering of what merges are reached too.

use super::{catching, pick, FuzzStats, NUMBERS};
use crate::shard::{self, Partial, PartialScenario, PartialStrategy, Shard};
use crate::{runner, scenario};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The two partials of a 2-shard run of `server-power-off` at 4 seeds, as text.
pub(super) fn corpus() -> [String; 2] {
    let (file, text) =
        crate::catalogue::texts().iter().find(|(f, _)| *f == "server-power-off.toml").copied().unwrap_or(crate::catalogue::texts()[0]);
    let path = Path::new("<bundled>").join(file);
    let s = scenario::parse(&path, text).expect("the bundled catalogue validates");
    let seeds = runner::seeds(&s, Some(4));
    let strategies: Vec<&crate::strategy::StrategySpec> = s.strategies.iter().collect();
    [1, 2].map(|index| {
        let shard = Shard { index, count: 2 };
        let mut jobs = Vec::new();
        let mut n = 0;
        for st in 0..strategies.len() {
            for &seed in &seeds {
                if shard.owns(n) {
                    jobs.push((st, seed));
                }
                n += 1;
            }
        }
        let runs = runner::run_jobs(&s, &strategies, &jobs, &|| {});
        let mut p = Partial {
            partial: true,
            kasim_version: shard::VERSION.into(),
            kasim_build: shard::BUILD.into(),
            shard,
            seeds_override: Some(4),
            strategy_filter: Vec::new(),
            scenarios: vec![PartialScenario {
                name: s.name.clone(),
                path: path.display().to_string(),
                fingerprint: shard::fingerprint(text),
                source: text.to_string(),
                seeds: 4,
                strategies: strategies.iter().zip(runs).map(|(st, runs)| PartialStrategy { name: st.name.clone(), runs }).collect(),
            }],
            digest: String::new(),
        };
        p.seal();
        serde_json::to_string(&p).expect("a partial serializes")
    })
}

/// One edit of a partial's text.
fn mutate(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    if bytes.is_empty() {
        // Cut to nothing by an earlier edit: there is nothing left to edit.
        return String::new();
    }
    let at = rng.random_range(0..bytes.len());
    match rng.random_range(0..6) {
        0 => {
            // A digit changed.
            let digits: Vec<usize> = bytes.iter().enumerate().filter(|(_, b)| b.is_ascii_digit()).map(|(i, _)| i).collect();
            if let Some(&i) = digits.get(rng.random_range(0..digits.len().max(1))) {
                bytes[i] = b'0' + rng.random_range(0..10u8);
            }
        }
        1 => {
            // The number at `at` (if any) replaced by an edge case.
            let start = (0..=at).rev().find(|&i| !bytes[i].is_ascii_digit()).map_or(0, |i| i + 1);
            let end = (at..bytes.len()).find(|&i| !bytes[i].is_ascii_digit()).unwrap_or(bytes.len());
            if start < end {
                let value = pick(rng, NUMBERS);
                bytes.splice(start..end, value.bytes());
            }
        }
        2 => {
            let end = (at + rng.random_range(1..64)).min(bytes.len());
            bytes.drain(at..end);
        }
        3 => {
            let end = (at + rng.random_range(1..64)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        4 => bytes.truncate(at),
        _ => {
            // A shard index or count edited.
            let s = String::from_utf8_lossy(&bytes).replace("\"index\":2", "\"index\":1").replace("\"count\":2", "\"count\":3");
            return s;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Try `inputs` edited partials against the untouched other shard.
pub fn fuzz_partials(rng: &mut ChaCha8Rng, inputs: u64, stats: &mut FuzzStats) {
    let corpus = corpus();
    let original: Vec<Partial> = corpus.iter().map(|t| shard::parse(Path::new("p.json"), t).expect("the corpus reads")).collect();
    for _ in 0..inputs {
        let which = rng.random_range(0..2usize);
        let mut text = corpus[which].clone();
        for _ in 0..rng.random_range(1..=3) {
            text = mutate(rng, &text);
        }
        let reseal = rng.random_range(0..2) == 0;
        stats.inputs += 1;
        let outcome = catching(|| {
            let mut edited = shard::parse(Path::new("edited.json"), &text);
            if reseal {
                if let Ok(mut p) = serde_json::from_str::<Partial>(&text) {
                    p.seal();
                    edited = shard::parse(Path::new("edited.json"), &serde_json::to_string(&p).unwrap_or_default());
                }
            }
            let Ok(p) = edited else { return 0 };
            let parts = [(Path::new("other.json").to_path_buf(), original[1 - which].clone()), (Path::new("edited.json").to_path_buf(), p)];
            let Ok(merged) = shard::merge(&parts) else { return 1 };
            for (i, s) in merged.scenarios.iter().enumerate() {
                let strategies: Vec<&crate::strategy::StrategySpec> =
                    merged.ran[i].iter().filter_map(|n| s.strategies.iter().find(|st| &st.name == n)).collect();
                let report = runner::scenario_report(s, &strategies, &merged.runs[i], merged.seeds[i]);
                let doc = reports::model::Report { scenarios: vec![report], ..Default::default() };
                let _ = (reports::render::markdown(&doc), reports::render::json(&doc), reports::render::table(&doc));
            }
            2
        });
        match outcome {
            Ok(depth) => {
                stats.valid += u64::from(depth >= 1);
                stats.runs += u64::from(depth == 2);
            }
            Err(message) => stats.panics.push((text, message)),
        }
    }
}
