//! `kasim run --shard K/N` and `kasim merge`: one big run spread over CI jobs
//! or cluster pods, combined exactly.
//!
//! Sharding is by run, not by scenario: the (scenario, strategy, seed) runs
//! are numbered in the order the unsharded run makes them, and shard K of N
//! takes every run whose number is K−1 modulo N. Round-robin keeps shards
//! within one run of each other in count and mixes cheap and expensive
//! strategies, so no shard waits on another.
//!
//! A shard writes a [`Partial`]: the [`RunSummary`] of each of its runs
//! (integers only, so nothing is lost in JSON), the scenario files' text (so
//! `merge` needs no access to them, and can refuse shards of different files
//! by comparing [fingerprints](fingerprint), each checked against its text), the flags that shape a run, its
//! K and N, and the kasim version. `merge` checks that the set is whole —
//! every K from 1 to N exactly once, the same files, flags and version — puts
//! the runs back in seed order, and renders through the same code as `run`,
//! so its output is byte-identical to the unsharded run's whatever order the
//! files come in.
//!
//! Where shards run is up to an existing engine: a GitHub Actions matrix or a
//! Kubernetes Indexed Job (`examples/`); `--shard auto` reads the index from
//! either's environment.

use crate::scenario::{self, Scenario, ScenarioError};
use crate::summary::RunSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// At most this many shards (more would leave shards without a run on most catalogues).
pub const MAX_SHARDS: u64 = 10_000;

/// The version a partial result carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// This build's identity: a fingerprint of the model's sources and locked
/// dependencies (`build.rs`). Two builds that both say [`VERSION`] but differ
/// in a line of the model carry different ones; `merge` refuses a mix.
pub const BUILD: &str = env!("KASIM_BUILD_ID");

/// Which part of the runs this process makes: `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// K: which part, 1-based (`1 <= index <= count`).
    pub index: u64,
    /// N: how many parts the runs are spread over, 1 to [`MAX_SHARDS`].
    pub count: u64,
}

/// What is wrong with a shard flag or a set of partial results (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// `--shard` is neither `K/N` with `1 <= K <= N <= 10000` nor `auto`; holds what was given.
    #[error("--shard {0:?}: allowed: K/N with 1 <= K <= N <= 10000 (e.g. 2/4), or \"auto\"")]
    BadSpec(String),
    /// `--shard auto` found neither `KASIM_SHARD` nor a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX`.
    #[error(
        "--shard auto: no shard index in the environment; set KASIM_SHARD=K/N (GitHub Actions matrix), or run as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) with KASIM_SHARD_COUNT=N"
    )]
    NoEnvironment,
    /// `--shard auto` found a variable it cannot use.
    #[error("--shard auto: {var}={value:?}: {why}")]
    BadEnvironment {
        /// The variable (`KASIM_SHARD`, `JOB_COMPLETION_INDEX`, `KASIM_SHARD_COUNT`).
        var: &'static str,
        /// Its value (empty when it is missing).
        value: String,
        /// What is wrong and what is allowed.
        why: String,
    },
    /// A partial result file could not be read.
    #[error("{}: cannot read: {message}", file.display())]
    Read {
        /// The file given to `kasim merge`.
        file: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// A file given to `kasim merge` is not a partial result: not JSON of that shape,
    /// `"partial": false`, or a scenario copy that does not match its fingerprint.
    #[error("{}: not a kasim partial result (write one with `kasim run --shard K/N --format json`): {message}", file.display())]
    NotPartial {
        /// The file given to `kasim merge`.
        file: PathBuf,
        /// Why it was refused.
        message: String,
    },
    /// The partial results come from different runs: kasim version, shard count,
    /// `--seeds`, `--strategy`, scenario files or strategies differ.
    #[error("the shards do not match: {0}")]
    Mismatch(String),
    /// A shard is missing or given twice, or a strategy's runs are not exactly its seeds.
    #[error("the shard set is not whole: {0}")]
    Incomplete(String),
    /// A scenario copy carried by the partial results no longer validates.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
}

impl std::str::FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::BadSpec(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || index > count || count > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// `K/N`, or `auto`: the shard from the environment `var` reads.
    pub fn parse(spec: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        if spec != "auto" {
            return spec.parse();
        }
        if let Some(v) = var("KASIM_SHARD") {
            return v.parse().map_err(|_| ShardError::BadEnvironment {
                var: "KASIM_SHARD",
                value: v.clone(),
                why: "allowed: K/N with 1 <= K <= N <= 10000".into(),
            });
        }
        let Some(index) = var("JOB_COMPLETION_INDEX") else { return Err(ShardError::NoEnvironment) };
        let count = var("KASIM_SHARD_COUNT").ok_or(ShardError::BadEnvironment {
            var: "KASIM_SHARD_COUNT",
            value: String::new(),
            why: "missing: a Kubernetes Indexed Job gives the index; set KASIM_SHARD_COUNT to the Job's `completions`".into(),
        })?;
        let index: u64 = index.trim().parse().map_err(|_| ShardError::BadEnvironment {
            var: "JOB_COMPLETION_INDEX",
            value: index.clone(),
            why: "allowed: 0..N-1".into(),
        })?;
        format!("{}/{}", index + 1, count.trim()).parse().map_err(|_| ShardError::BadEnvironment {
            var: "KASIM_SHARD_COUNT",
            value: count,
            why: format!("with JOB_COMPLETION_INDEX={index}: allowed: an index below the count, count 1..=10000"),
        })
    }

    /// Does this shard make run number `n` (0-based, in the unsharded order)?
    pub fn owns(&self, n: u64) -> bool {
        n % self.count == self.index - 1
    }
}

/// A stable 64-bit fingerprint of a scenario file's text (FNV-1a), as hex.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What one shard writes (`kasim run --shard K/N --format json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Always true: tells a partial result from a report.
    pub partial: bool,
    /// The kasim that made it ([`VERSION`]).
    pub kasim_version: String,
    /// The build that made it ([`BUILD`]); `merge` refuses a mix of builds.
    #[serde(default)]
    pub kasim_build: String,
    /// Which part of the runs it holds (K/N).
    pub shard: Shard,
    /// `--seeds`, if given.
    pub seeds_override: Option<u64>,
    /// `--strategy` names, if given.
    pub strategy_filter: Vec<String>,
    /// Every scenario of the run, in load order, each with this shard's runs.
    pub scenarios: Vec<PartialScenario>,
    /// [`Partial::digest_of`] everything above: checked when the file is read,
    /// so an edit of any value (a run's figure, a seed, a flag) is refused,
    /// not merged into a different result. A check against accidents and
    /// hand edits, not a signature.
    #[serde(default)]
    pub digest: String,
}

impl Partial {
    /// The fingerprint of this partial's contents (its JSON with `digest` empty).
    pub fn digest_of(&self) -> String {
        let unsealed = Partial { digest: String::new(), ..self.clone() };
        fingerprint(&serde_json::to_string(&unsealed).unwrap_or_default())
    }

    /// Set [`digest`](Partial::digest) to cover the contents.
    pub fn seal(&mut self) {
        self.digest = self.digest_of();
    }
}

/// One scenario in a partial result: its file's text and this shard's runs of
/// each strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialScenario {
    /// The scenario's `name`.
    pub name: String,
    /// As given on the command line (for "reproduce with" lines).
    pub path: String,
    /// [`fingerprint`] of `source`; checked again when the file is read.
    pub fingerprint: String,
    /// The scenario file's text.
    pub source: String,
    /// Runs per strategy in the whole set.
    pub seeds: u64,
    /// Every strategy that runs, in order, with this shard's runs of it.
    pub strategies: Vec<PartialStrategy>,
}

/// One strategy's runs made by one shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialStrategy {
    /// The strategy's `name` in the scenario.
    pub name: String,
    /// The summaries of this shard's runs of it, in the order made (seed order).
    pub runs: Vec<RunSummary>,
}

/// A whole, checked set of shards, back in the unsharded order.
pub struct Merged {
    /// Every scenario, parsed again from the text the shards carry, in load order.
    pub scenarios: Vec<Scenario>,
    /// Per scenario, the strategies that ran, by name.
    pub ran: Vec<Vec<String>>,
    /// Per scenario, per strategy, the runs in seed order.
    pub runs: Vec<Vec<Vec<RunSummary>>>,
    /// Per scenario, runs per strategy.
    pub seeds: Vec<u64>,
}

/// Read one partial result.
pub fn read(file: &Path) -> Result<Partial, ShardError> {
    let text = crate::input::read_text(file, crate::input::MAX_PARTIAL_BYTES)
        .map_err(|e| ShardError::Read { file: file.to_path_buf(), message: e.to_string() })?;
    parse(file, &text)
}

/// A partial result from its text (`file` names it in errors): the JSON, the
/// digest over its contents, the fingerprint of each scenario copy.
pub fn parse(file: &Path, text: &str) -> Result<Partial, ShardError> {
    let p: Partial = serde_json::from_str(text).map_err(|e| ShardError::NotPartial { file: file.to_path_buf(), message: e.to_string() })?;
    if !p.partial {
        return Err(ShardError::NotPartial { file: file.to_path_buf(), message: "\"partial\" is false".into() });
    }
    if p.digest != p.digest_of() {
        return Err(ShardError::NotPartial {
            file: file.to_path_buf(),
            message: "its contents do not match the digest it records (edited, or cut short?)".into(),
        });
    }
    // The text a shard ran must be the text it recorded the fingerprint of.
    if let Some(sc) = p.scenarios.iter().find(|sc| fingerprint(&sc.source) != sc.fingerprint) {
        return Err(ShardError::NotPartial {
            file: file.to_path_buf(),
            message: format!("its copy of scenario {} does not match the fingerprint it records (edited by hand?)", sc.name),
        });
    }
    Ok(p)
}

/// Check that `parts` (with the files they came from) form one whole set,
/// and put it back together.
pub fn merge(parts: &[(PathBuf, Partial)]) -> Result<Merged, ShardError> {
    let Some((first_file, first)) = parts.first() else {
        return Err(ShardError::Incomplete("no partial results given".into()));
    };
    let show = |f: &Path| f.display().to_string();
    for (file, p) in parts {
        let differ =
            |what: &str, a: String, b: String| ShardError::Mismatch(format!("{} has {what} {a}, {} has {b}", show(first_file), show(file)));
        if p.kasim_version != first.kasim_version {
            return Err(differ("kasim version", first.kasim_version.clone(), p.kasim_version.clone()));
        }
        if p.kasim_build != first.kasim_build {
            return Err(differ("kasim build", first.kasim_build.clone(), p.kasim_build.clone()));
        }
        if p.shard.count != first.shard.count {
            return Err(differ("shard count", first.shard.count.to_string(), p.shard.count.to_string()));
        }
        // `--seeds 40` and a file's `seeds = 40` are the same runs: the seeds
        // per scenario are compared below, not the flag.
        if p.strategy_filter != first.strategy_filter {
            return Err(differ("--strategy", format!("{:?}", first.strategy_filter), format!("{:?}", p.strategy_filter)));
        }
        // Fingerprints were checked against the text each shard carries when it was read.
        let files = |p: &Partial| p.scenarios.iter().map(|s| format!("{} ({})", s.name, s.fingerprint)).collect::<Vec<_>>().join(", ");
        if files(p) != files(first) {
            return Err(differ("scenario files", format!("[{}]", files(first)), format!("[{}]", files(p))));
        }
        for (a, b) in first.scenarios.iter().zip(&p.scenarios) {
            let names = |s: &PartialScenario| s.strategies.iter().map(|st| st.name.clone()).collect::<Vec<_>>();
            if a.seeds != b.seeds {
                return Err(differ(&format!("for {}", a.name), format!("seeds {}", a.seeds), format!("seeds {}", b.seeds)));
            }
            if names(a) != names(b) {
                return Err(differ(&format!("for {} the runs", a.name), format!("{:?}", names(a)), format!("{:?}", names(b))));
            }
        }
    }
    let n = first.shard.count;
    let mut seen: BTreeMap<u64, &Path> = BTreeMap::new();
    for (file, p) in parts {
        if let Some(other) = seen.insert(p.shard.index, file) {
            return Err(ShardError::Incomplete(format!("shard {} is given twice: {} and {}", p.shard, show(other), show(file))));
        }
    }
    let missing: Vec<String> = (1..=n).filter(|k| !seen.contains_key(k)).map(|k| format!("{k}/{n}")).collect();
    if !missing.is_empty() {
        return Err(ShardError::Incomplete(format!("missing shard {} (of {} given)", missing.join(", "), parts.len())));
    }

    let mut merged = Merged { scenarios: Vec::new(), ran: Vec::new(), runs: Vec::new(), seeds: Vec::new() };
    for (i, ps) in first.scenarios.iter().enumerate() {
        let scenario = scenario::parse(Path::new(&ps.path), &ps.source)?;
        let mut runs_of = Vec::new();
        for (j, st) in ps.strategies.iter().enumerate() {
            let mut runs: Vec<RunSummary> = parts.iter().flat_map(|(_, p)| p.scenarios[i].strategies[j].runs.iter().cloned()).collect();
            runs.sort_by_key(|r| r.seed.wrapping_sub(scenario.base_seed));
            let whole =
                runs.len() as u64 == ps.seeds && runs.iter().enumerate().all(|(k, r)| r.seed == scenario.base_seed.wrapping_add(k as u64));
            if !whole {
                return Err(ShardError::Incomplete(format!(
                    "{} / {}: {} runs for {} seeds (a shard was cut short or edited)",
                    ps.name,
                    st.name,
                    runs.len(),
                    ps.seeds
                )));
            }
            runs_of.push(runs);
        }
        merged.ran.push(ps.strategies.iter().map(|s| s.name.clone()).collect());
        merged.runs.push(runs_of);
        merged.seeds.push(ps.seeds);
        merged.scenarios.push(scenario);
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/10001", "", "/"] {
            assert!(matches!(bad.parse::<Shard>(), Err(ShardError::BadSpec(_))), "{bad}");
        }
    }

    #[test]
    fn auto_reads_github_or_kubernetes() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(Shard::parse("auto", &env(&[("KASIM_SHARD", "3/8")])), Ok(Shard { index: 3, count: 8 }));
        // Kubernetes' index is 0-based.
        let k8s = env(&[("JOB_COMPLETION_INDEX", "0"), ("KASIM_SHARD_COUNT", "4")]);
        assert_eq!(Shard::parse("auto", &k8s), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse("auto", &env(&[])), Err(ShardError::NoEnvironment));
        let past = env(&[("JOB_COMPLETION_INDEX", "4"), ("KASIM_SHARD_COUNT", "4")]);
        assert!(matches!(Shard::parse("auto", &past), Err(ShardError::BadEnvironment { var: "KASIM_SHARD_COUNT", .. })));
    }

    #[test]
    fn every_run_has_exactly_one_shard() {
        for count in 1..=7 {
            for n in 0..50 {
                let owners = (1..=count).filter(|&index| Shard { index, count }.owns(n)).count();
                assert_eq!(owners, 1);
            }
        }
    }

    #[test]
    fn fingerprint_is_fnv1a() {
        // FNV-1a 64 of "" and "a" (reference values).
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
    }
}
