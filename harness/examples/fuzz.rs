//! Fuzz what kasim is handed: scenario files (parse → validate → a short
//! run), partial results given to `merge`, and command lines; print what
//! was tried and every panic's input.
//!
//! ```text
//! cargo run --release -p harness --example fuzz -- INPUTS [SEED] [EVENT_BUDGET] [RUN_EVERY] [TARGET]
//! ```
//! RUN_EVERY = n runs one valid scenario in n (the rest are parsed and
//! validated). TARGET: `scenarios` (the default), `partials`, `flags`, or
//! `all` (INPUTS split 60 / 20 / 20 %).

use harness::fuzz::{fuzz_target, FuzzPlan, Target};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("numbers: INPUTS [SEED] [EVENT_BUDGET] [RUN_EVERY]"));
    let plan = FuzzPlan { inputs: number(0, 10_000), seed: number(1, 1), budget: number(2, 20_000), run_every: number(3, 1) };
    let targets: Vec<(Target, u64)> = match args.get(4).map_or("scenarios", String::as_str) {
        "scenarios" => vec![(Target::Scenarios, plan.inputs)],
        "partials" => vec![(Target::Partials, plan.inputs)],
        "flags" => vec![(Target::Flags, plan.inputs)],
        "all" => vec![
            (Target::Scenarios, plan.inputs * 3 / 5),
            (Target::Partials, plan.inputs / 5),
            (Target::Flags, plan.inputs - plan.inputs * 3 / 5 - plan.inputs / 5),
        ],
        other => panic!("TARGET {other:?}: allowed: scenarios, partials, flags, all"),
    };
    let mut failed = false;
    for (target, inputs) in targets {
        let started = std::time::Instant::now();
        let stats = fuzz_target(target, harness::catalogue::texts(), FuzzPlan { inputs, ..plan });
        println!(
            "{target:?}: {} inputs (seed {}): {} accepted, {} runs/merges ({} stopped at {} events), {} panics, in {:.1?}",
            stats.inputs,
            plan.seed,
            stats.valid,
            stats.runs,
            stats.cut_short,
            plan.budget,
            stats.panics.len(),
            started.elapsed()
        );
        for (input, message) in stats.panics.iter().take(20) {
            println!("--- panic: {message}\n{input}\n");
        }
        failed |= !stats.panics.is_empty();
    }
    if failed {
        std::process::exit(1);
    }
}
