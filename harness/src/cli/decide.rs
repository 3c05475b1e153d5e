//! `kasim check --until-decided`: add seeds, in the deterministic order,
//! until every `[[expect]] confidence` is decided or `--max-seeds` is reached.
//!
//! Looking at an interval again and again and stopping when it looks
//! decided inflates the error: each look is another chance to be fooled.
//! The looks are planned before the first (the scenario's seeds, doubled
//! until `--max-seeds`), and each is made at level `1 − (1 − c) / K` for `K`
//! looks (Bonferroni), so the chance that any look decides wrongly stays
//! within the `1 − c` the file asked for. What `tune --halving` taught
//! about early decisions holds here too: a decision, once made, stands (a
//! decided expectation is not looked at again), and only what is still
//! open costs more runs.

use super::run::{emit, execute, Emit};
use super::{CheckArgs, CliError, Engine};
use crate::check::{self, Checked, Verdict};
use crate::runner;
use crate::strategy::StrategySpec;
use std::process::ExitCode;

/// The planned looks from `first` seeds up to `max`: first, doubled, …, max.
pub fn looks(first: u64, max: u64) -> Vec<u64> {
    let mut v = vec![first];
    while *v.last().unwrap_or(&max) < max {
        let next = v[v.len() - 1].saturating_mul(2).min(max);
        v.push(next);
    }
    v
}

/// `kasim check --until-decided [--max-seeds N]`.
pub fn until_decided(args: &CheckArgs) -> Result<ExitCode, CliError> {
    if args.run.shard.is_some() || args.run.engine != Engine::Event {
        return Err(CliError::BadFlag {
            flag: "until-decided",
            message: "adds seeds to the event engine's whole run: no --shard, no --engine live or netns".into(),
        });
    }
    let mut out = execute(&args.run)?;
    let pool = super::worker_pool(Some(args.max_seeds), args.run.jobs)?;
    let mut results: Vec<Checked> = Vec::new();
    for i in 0..out.scenarios.len() {
        let s = out.scenarios[i].clone();
        let first = out.report.scenarios[i].seeds;
        if args.max_seeds < first {
            return Err(CliError::BadFlag {
                flag: "max-seeds",
                message: format!("{} is fewer than the {first} seeds {} starts with; allowed: at least {first}", args.max_seeds, s.name),
            });
        }
        let plan = looks(first, args.max_seeds);
        let k = plan.len() as f64;
        let level = move |c: f64| 1.0 - (1.0 - c) / k;
        let strategies: Vec<&StrategySpec> = out.ran[i].iter().filter_map(|n| s.strategies.iter().find(|st| &st.name == n)).collect();
        let mut frozen: Vec<Option<Checked>> = vec![None; s.expects.len()];
        for (look, &seeds) in plan.iter().enumerate() {
            let made = out.runs[i].first().map_or(0, |r| r.len() as u64);
            if seeds > made {
                let jobs: Vec<(usize, u64)> =
                    (0..strategies.len()).flat_map(|st| (made..seeds).map(move |n| (st, s.base_seed.wrapping_add(n)))).collect();
                let more = pool.install(|| runner::run_jobs(&s, &strategies, &jobs, &|| {}));
                for (runs, extra) in out.runs[i].iter_mut().zip(more) {
                    runs.extend(extra);
                }
                out.report.scenarios[i] = runner::scenario_report(&s, &strategies, &out.runs[i], seeds);
            }
            let now = check::check_at(&s, &out.report.scenarios[i].strategies, &out.runs[i], args.limit, &level);
            let mut open = 0;
            for (slot, c) in frozen.iter_mut().zip(&now) {
                if slot.is_none() && c.expect.confidence.is_some() {
                    if c.verdict == Verdict::Inconclusive {
                        open += 1;
                    } else {
                        *slot = Some(c.clone());
                    }
                }
            }
            if open == 0 || look + 1 == plan.len() {
                if open > 0 {
                    eprintln!("{}: {open} expectation(s) still inconclusive at --max-seeds {}", s.name, args.max_seeds);
                }
                // Without `confidence` the figure at the final seeds is judged, as `check` does.
                results.extend(now.into_iter().zip(frozen).map(|(c, f)| f.unwrap_or(c)));
                break;
            }
            eprintln!(
                "{}: {open} expectation(s) inconclusive at {seeds} seeds; running {} (look {} of {})",
                s.name,
                plan[look + 1],
                look + 2,
                plan.len()
            );
        }
    }
    let emit_args = Emit {
        format: args.run.format,
        out: args.run.out.clone(),
        check: Some((args.limit, args.junit.clone())),
        ci: args.run.ci,
        per_seed: args.run.per_seed,
        decided: Some(results),
        replay_flags: "",
    };
    emit(&out.report, &out.scenarios, &out.runs, &out.ran, &emit_args, &|s, st, seed| crate::plots::timeline(s, st, seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_double_up_to_the_most() {
        assert_eq!(looks(20, 200), [20, 40, 80, 160, 200]);
        assert_eq!(looks(20, 20), [20]);
        assert_eq!(looks(1, 4), [1, 2, 4]);
    }
}
