//! Structure-aware fuzzers for what kasim is handed: scenario files (parse
//! → validate → a short run, here), partial results for `merge`
//! (the `partials` module) and command lines (`flags`).
//!
//! Bad input must end in a clear error (exit 2), never a panic; the parser
//! is only the first line of defence: a file that validates must also run.
//! Random bytes would almost never get past TOML, so the fuzzer mutates the
//! bundled catalogue the way people get scenarios wrong: a value replaced by
//! an edge case (`"0s"`, `"1ns"`, `"400d"`, `"5M"`, `nan`, 2^64, an ANSI
//! escape, `"uniform(2h, 1h)"`), a line deleted, duplicated or moved, a
//! section added, a kind swapped for another, the file cut short. Every input
//! that validates runs each of its first two strategies for one seed, up to a
//! budget of events (a scenario may legitimately ask for 10^9), and then
//! through the metrics when it finished within the budget.
//!
//! Deterministic: the same `seed` tries the same inputs, so a panic found
//! once is found again (`kasim`'s example `fuzz` prints the input).

use crate::runner;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

mod flags;
mod partials;
pub use flags::fuzz_flags;
pub use partials::fuzz_partials;

/// What a fuzzing session did.
#[derive(Debug, Default)]
pub struct FuzzStats {
    /// Mutated inputs tried.
    pub inputs: u64,
    /// Inputs accepted by the first check (the rest gave a clear error):
    /// scenarios that validated, partials that read, command lines accepted.
    pub valid: u64,
    /// Scenarios: strategy runs started (each run input's first two strategies,
    /// one seed each). Partials: edited sets that merged and were rendered.
    pub runs: u64,
    /// Runs that hit the event budget before the horizon (their metrics are not computed).
    pub cut_short: u64,
    /// Each panic: the input that caused it and the message.
    pub panics: Vec<(String, String)>,
}

/// Values that break assumptions, by what they look like.
pub(crate) const DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1ns\"",
    "\"1ms\"",
    "\"1s\"",
    "\"5M\"",
    "\"400d\"",
    "\"18446744073709551615s\"",
    "\"-1s\"",
    "\"1.5m\"",
    "\"30 sec\"",
    "\"exp(0s)\"",
    "\"exp(1ms)\"",
    "\"uniform(2h, 1h)\"",
    "\"uniform(1h, 400d)\"",
    "\"uniform(0s, 0s)\"",
    "\"3m\"",
    "\"25h\"",
    "\"\"",
];
pub(crate) const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.5",
    "1.0",
    "0.999999",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "65536",
    "100000",
    "1000000",
];
const OTHERS: &[&str] = &[
    "true",
    "false",
    "[]",
    "{}",
    "[\"client\", \"server\", \"client\"]",
    "\"\\u001b[31mred\"",
    "\"client:99\"",
    "\"proxy\"",
    "\"nat\"",
    "\"server.link\"",
    "\"56kbit/s\"",
    "\"0bit/s\"",
    "\"100GB\"",
    "\"0B\"",
    "\"1B\"",
];
const KINDS: &[&str] = &[
    "\"none\"",
    "\"tcp_keepalive\"",
    "\"app_ping\"",
    "\"phi_accrual\"",
    "\"grpc\"",
    "\"ssh\"",
    "\"mqtt\"",
    "\"amqp\"",
    "\"redis\"",
    "\"erlang\"",
    "\"quic\"",
    "\"udp_keepalive\"",
    "\"live_ping\"",
    "\"vanish\"",
    "\"reboot\"",
    "\"suspend\"",
    "\"outage\"",
    "\"nat_reboot\"",
    "\"crash\"",
    "\"requests\"",
    "\"upload\"",
    "\"download\"",
];
const SECTIONS: &[&str] = &[
    "[nat]\nidle_timeout = \"30s\"\non_expired = \"new_port\"",
    "[proxy]\nidle_timeout = \"60s\"",
    "[proxy]\nclient_timeout = \"5s\"\nserver_timeout = \"10s\"\non_idle = \"rst\"",
    "[client.reconnect]\nmode = \"eager\"",
    "[client]\ncount = 3\nconnections = 2",
    "[server.app]\nidle_timeout = \"5s\"\nbacklog = 0",
    "[[fault]]\nkind = \"reboot\"\ntarget = \"server\"\nevery = \"exp(10m)\"\nduration = \"30s\"",
    "[[fault]]\nkind = \"outage\"\ntarget = \"client.link\"\nat = \"10m\"\nduration = \"1h\"",
    "[[traffic]]\nkind = \"requests\"\nevery = \"exp(1s)\"\nsize = \"1KiB\"\nreply = \"1KiB\"\ntimeout = \"1s\"",
    "[[strategy]]\nname = \"fz\"\nkind = \"quic\"\nkeep_alive_interval = \"5s\"",
    "[[strategy]]\nname = \"fz2\"\nkind = \"udp_keepalive\"",
    "[[expect]]\nstrategy = \"fz\"\nmetric = \"idle_closes\"\nle = 0",
    "[tcp]\nretries2 = 0\nsyn_retries = 0",
];
const KEYS: &[&str] = &[
    "horizon",
    "seeds",
    "every",
    "at",
    "duration",
    "timeout",
    "interval",
    "idle",
    "count",
    "delay",
    "loss",
    "queue",
    "up",
    "down",
    "idle_timeout",
    "udp_idle_timeout",
    "max_idle_timeout",
    "keep_alive_interval",
    "persistent_keepalive",
    "connect_timeout",
    "jitter",
    "multiplier",
    "backlog",
    "accept_time",
    "base_seed",
    "size",
    "reply",
    "threshold",
    "window",
];

/// One of `set`, at random.
pub(crate) fn pick(rng: &mut ChaCha8Rng, set: &[&str]) -> String {
    set[rng.random_range(0..set.len())].to_string()
}

/// Run `f`, turning a panic into its message. Call within [`quiet_panics`].
pub(crate) fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "a panic".into())
    })
}

/// Run `f` with panics on this thread kept off stderr (the fuzzers report
/// them in their stats); any other thread's panic (a test running beside)
/// still reaches the hook that was there, which is put back afterwards.
fn quiet_panics<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::sync::Arc::new(std::panic::take_hook());
    let previous = hook.clone();
    let fuzzing = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != fuzzing {
            previous(info);
        }
    }));
    let out = f();
    let _ = std::panic::take_hook();
    match std::sync::Arc::try_unwrap(hook) {
        Ok(hook) => std::panic::set_hook(hook),
        // Still shared (cannot happen: the quiet hook holding the clone is gone): keep delegating.
        Err(shared) => std::panic::set_hook(Box::new(move |info| shared(info))),
    }
    out
}

/// Which inputs a session mutates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Scenario files (the bundled catalogue, mutated).
    Scenarios,
    /// Partial results given to `kasim merge`.
    Partials,
    /// Command lines.
    Flags,
}

/// Run `plan.inputs` inputs of `target` (for scenarios, [`fuzz`] with `corpus`).
pub fn fuzz_target(target: Target, corpus: &[(&str, &str)], plan: FuzzPlan) -> FuzzStats {
    match target {
        Target::Scenarios => fuzz(corpus, plan),
        Target::Partials | Target::Flags => quiet_panics(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
            let mut stats = FuzzStats::default();
            if target == Target::Partials {
                fuzz_partials(&mut rng, plan.inputs, &mut stats);
            } else {
                fuzz_flags(&mut rng, plan.inputs, &mut stats);
            }
            stats
        }),
    }
}

/// One mutation of `text`.
fn mutate(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let i = rng.random_range(0..lines.len());
    match rng.random_range(0..9) {
        // A value replaced by an edge case of its likely type.
        0..=2 => {
            if let Some(eq) = lines[i].find(" = ") {
                let value = &lines[i][eq + 3..];
                let set = if value.starts_with('"') && value.chars().any(|c| c.is_ascii_digit()) {
                    DURATIONS
                } else if value.starts_with('"') && lines[i].starts_with("kind") {
                    KINDS
                } else if value.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                    NUMBERS
                } else {
                    OTHERS
                };
                let all = [DURATIONS, NUMBERS, OTHERS, KINDS];
                let any = all[rng.random_range(0..all.len())];
                let set = if rng.random_range(0..4) == 0 { any } else { set };
                lines[i] = format!("{} = {}", &lines[i][..eq], pick(rng, set));
            }
        }
        3 => {
            lines.remove(i);
        }
        4 => {
            let l = lines[i].clone();
            lines.insert(rng.random_range(0..=lines.len()), l);
        }
        5 => {
            let j = rng.random_range(0..lines.len());
            lines.swap(i, j);
        }
        6 => lines.push(pick(rng, SECTIONS)),
        7 => {
            let all = [DURATIONS, NUMBERS, OTHERS, KINDS];
            let set = all[rng.random_range(0..all.len())];
            let value = pick(rng, set);
            lines.insert(i, format!("{} = {value}", pick(rng, KEYS)));
        }
        _ => {
            let s = lines.join("\n");
            let mut cut = rng.random_range(0..=s.len());
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            return s[..cut].to_string();
        }
    }
    lines.join("\n")
}

/// Run `scenario`'s first strategies for one seed, within `budget` events each.
fn run_briefly(scenario: &crate::scenario::Scenario, budget: u64, stats: &mut FuzzStats) {
    for strategy in scenario.strategies.iter().take(2) {
        stats.runs += 1;
        let (mut world, faults, probes) = runner::world(scenario, strategy, scenario.base_seed, false);
        world.run_until_or(sim::Instant::ZERO + scenario.horizon, budget);
        if world.events_processed() >= budget {
            stats.cut_short += 1;
            continue;
        }
        // Finished within the budget: the rest of the pipeline, to the report.
        let record = runner::finish(scenario, scenario.base_seed, (world, faults, probes));
        let summary = crate::summary::RunSummary::of(&record);
        let _ = crate::metrics::aggregate(&strategy.name, strategy.kind_name(), strategy.transport().kind(), scenario.horizon, &[summary]);
    }
}

/// How a session spends its time.
#[derive(Clone, Copy, Debug)]
pub struct FuzzPlan {
    /// How many mutated inputs to try.
    pub inputs: u64,
    /// Seeds the mutations: the same seed tries the same inputs.
    pub seed: u64,
    /// Events a run may take before it is stopped.
    pub budget: u64,
    /// Run one valid input in this many (1: every one); the rest are parsed and validated only.
    pub run_every: u64,
}

/// Try `plan.inputs` mutated scenarios (from `corpus`: file name and
/// text), deterministically from `plan.seed`.
pub fn fuzz(corpus: &[(&str, &str)], plan: FuzzPlan) -> FuzzStats {
    quiet_panics(|| fuzz_scenarios(corpus, plan))
}

fn fuzz_scenarios(corpus: &[(&str, &str)], plan: FuzzPlan) -> FuzzStats {
    let FuzzPlan { inputs, seed, budget, run_every } = plan;
    let mut stats = FuzzStats::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..inputs {
        let (name, base) = corpus[rng.random_range(0..corpus.len())];
        let mut text = base.to_string();
        for _ in 0..rng.random_range(1..=4) {
            text = mutate(&mut rng, &text);
        }
        stats.inputs += 1;
        let outcome = catching(|| {
            let mut local = FuzzStats::default();
            if let Ok(s) = crate::scenario::parse(Path::new(name), &text) {
                local.valid += 1;
                if (stats.valid + 1) % run_every.max(1) == 0 {
                    run_briefly(&s, budget, &mut local);
                }
            }
            local
        });
        match outcome {
            Ok(local) => {
                stats.valid += local.valid;
                stats.runs += local.runs;
                stats.cut_short += local.cut_short;
            }
            Err(message) => stats.panics.push((text, message)),
        }
    }
    stats
}
