//! Fuzz the scenario pipeline (parse → validate → a short run) with mutations
//! of the bundled catalogue; print what was tried and every panic's input.
//!
//! ```text
//! cargo run --release -p harness --example fuzz -- INPUTS [SEED] [EVENT_BUDGET] [RUN_EVERY]
//! ```
//! RUN_EVERY = n runs one valid input in n (the rest are parsed and validated).

use harness::fuzz::{fuzz, FuzzPlan};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("numbers: INPUTS [SEED] [EVENT_BUDGET] [RUN_EVERY]"));
    let plan = FuzzPlan {
        inputs: args.next().unwrap_or(10_000),
        seed: args.next().unwrap_or(1),
        budget: args.next().unwrap_or(20_000),
        run_every: args.next().unwrap_or(1),
    };
    let started = std::time::Instant::now();
    let stats = fuzz(harness::cli::bundled_texts(), plan);
    println!(
        "{} inputs (seed {}): {} validated, {} runs ({} stopped at {} events), {} panics, in {:.1?}",
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
    if !stats.panics.is_empty() {
        std::process::exit(1);
    }
}
