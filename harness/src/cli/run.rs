//! `kasim run`, `kasim check` and `kasim merge`: the matrix, its report, its
//! expectations. `merge` renders through the same [`emit`] as `run`, which is
//! what makes a merged shard set byte-identical to the unsharded run.

use super::files::{print_out, write_atomic, write_set};
use super::{load_all, CliError, Engine, Format, MergeArgs, RunArgs};
use crate::catalogue;
use crate::check::{self, Checked};
use crate::runner;
use crate::scenario::Scenario;
use crate::shard::{self, Partial, PartialScenario, PartialStrategy, Shard};
use crate::strategy::{StrategyKind, StrategySpec};
use crate::summary::RunSummary;
use reports::model::Report;
use reports::plot_input::RunTimeline;
use reports::render;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

fn selected<'a>(s: &'a Scenario, names: &[String]) -> Vec<&'a StrategySpec> {
    s.strategies.iter().filter(|st| names.is_empty() || names.contains(&st.name)).collect()
}

/// Everything a run produced, for rendering and checking.
pub struct RunOutput {
    /// The report of every scenario that ran, as `--format json` prints it.
    pub report: Report,
    /// The scenarios loaded, in load order (the report's order).
    pub scenarios: Vec<Scenario>,
    /// Per scenario, per strategy that ran, the runs (in seed order).
    pub runs: Vec<Vec<Vec<RunSummary>>>,
    /// Per scenario, the names of the strategies that ran (in `runs`' order).
    pub ran: Vec<Vec<String>>,
    /// Which engine made the runs (`--engine`).
    pub engine: Engine,
    /// The shard this run made, if it made only one.
    pub shard: Option<Shard>,
    /// `--engine netns` with `--out`: each traced run's record, by
    /// (scenario index, strategy name, seed), for the report's timelines.
    pub traced: std::collections::BTreeMap<(usize, String, u64), crate::record::RunRecord>,
}

/// Run the matrix; the core of `run` and `check`, used by tests too.
pub fn execute(args: &RunArgs) -> Result<RunOutput, CliError> {
    let scenarios = load_all(&args.paths)?;
    for name in &args.strategies {
        if !scenarios.iter().any(|s| s.strategies.iter().any(|st| &st.name == name)) {
            let mut all: Vec<String> = scenarios.iter().flat_map(|s| s.strategies.iter().map(|st| format!("\"{}\"", st.name))).collect();
            all.sort();
            all.dedup();
            return Err(CliError::UnknownStrategy { name: name.clone(), allowed: all.join(", ") });
        }
    }
    let pool = super::worker_pool(args.seeds, args.jobs)?;
    let netns = match args.engine {
        Engine::Netns => Some((
            super::netns::prepare(args, &scenarios)?,
            super::worker_pool(args.seeds, Some(args.jobs.unwrap_or(super::netns::DEFAULT_JOBS)))?,
        )),
        _ => None,
    };
    super::check_seed_range(&scenarios, args.seeds)?;
    let shard = match &args.shard {
        None => None,
        Some(spec) => {
            if args.engine != Engine::Event {
                return Err(CliError::BadFlag { flag: "shard", message: "shards run the event engine only".into() });
            }
            Some(Shard::parse(spec, &|k| std::env::var(k).ok())?)
        }
    };
    let runs_of = |s: &Scenario| selected(s, &args.strategies).len() as u64 * args.seeds.unwrap_or(s.seeds);
    let total: u64 = scenarios.iter().map(runs_of).sum();
    // Say so before a run that will take minutes (about 10^7 events a second here).
    for s in &scenarios {
        let seeds = args.seeds.unwrap_or(s.seeds) as f64;
        let events: f64 = selected(s, &args.strategies).iter().map(|st| runner::estimated_events(s, st) * seeds).sum();
        if events > 1e9 {
            eprintln!(
                "note: {} asks for about {events:.1e} events ({} runs): expect minutes (roughly 10^7 events a second per core)",
                s.name,
                runs_of(s)
            );
        }
    }
    let total = shard.map_or(total, |k| total / k.count + u64::from(total % k.count >= k.index));
    // Runs are numbered across the whole matrix, in this order; a shard makes its share.
    let mut numbered: u64 = 0;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} runs [{elapsed_precise}, about {eta} left] {wide_bar} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report = Report::default();
    let mut runs = Vec::new();
    let mut ran: Vec<Vec<String>> = Vec::new();
    let mut traced = std::collections::BTreeMap::new();
    for s in &scenarios {
        bar.set_message(s.name.clone());
        let mut strategies = selected(s, &args.strategies);
        let tick = || bar.inc(1);
        let mut lateness = Vec::new();
        let r = match args.engine {
            Engine::Netns => {
                strategies.retain(|st| crate::netns::unsupported(s, st).is_empty());
                let (cfg, pool) = netns.as_ref().expect("prepared above");
                let r = super::netns::run_scenario(s, &strategies, &runner::seeds(s, args.seeds), cfg, pool, &tick)?;
                lateness = r.lateness;
                for (st, by_seed) in strategies.iter().zip(r.traced) {
                    for (seed, record) in by_seed {
                        traced.insert((report.scenarios.len(), st.name.clone(), seed), record);
                    }
                }
                r.summaries
            }
            Engine::Event => {
                super::netns::refuse_programs(s, &strategies)?;
                let seeds = runner::seeds(s, args.seeds);
                let mut jobs = Vec::new();
                for st in 0..strategies.len() {
                    for &seed in &seeds {
                        if shard.is_none_or(|k| k.owns(numbered)) {
                            jobs.push((st, seed));
                        }
                        numbered += 1;
                    }
                }
                pool.install(|| runner::run_jobs(s, &strategies, &jobs, &tick))
            }
            Engine::Live => {
                strategies.retain(|st| matches!(st.kind(), StrategyKind::LivePing { .. }));
                pool.install(|| run_live(s, &strategies, args, &tick))?
            }
        };
        for (st, runs) in strategies.iter().zip(&r) {
            if let Some((seed, at, held)) = RunSummary::first_stopped(runs) {
                return Err(CliError::ConnectionStorm { scenario: s.path.clone(), strategy: st.name.clone(), seed, at, held });
            }
        }
        let seeds = args.seeds.unwrap_or(s.seeds);
        let mut scenario_report = runner::scenario_report(s, &strategies, &r, seeds);
        if args.engine == Engine::Netns {
            for (st, late) in scenario_report.strategies.iter_mut().zip(lateness) {
                st.engine = Some("netns".into());
                st.lateness_ms = late;
            }
        }
        report.scenarios.push(scenario_report);
        ran.push(strategies.iter().map(|st| st.name.clone()).collect());
        runs.push(r);
    }
    bar.finish_and_clear();
    if netns.is_some() {
        // The hosts went with their runs; this process's mother namespace goes now.
        crate::calibrate::remove_all();
    }
    Ok(RunOutput { report, scenarios, runs, ran, engine: args.engine, shard, traced })
}

#[cfg(feature = "live")]
fn run_live(
    s: &Scenario,
    strategies: &[&StrategySpec],
    args: &RunArgs,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<Vec<RunSummary>>, CliError> {
    use crate::live;
    use rayon::prelude::*;
    if strategies.is_empty() {
        return Err(CliError::Live(live::LiveError::NoLiveStrategy { scenario: s.name.clone() }.to_string()));
    }
    let parts = live::unsupported(s);
    if !parts.is_empty() {
        return Err(CliError::Live(
            live::LiveError::Unsupported { scenario: format!("{} ({})", s.name, s.path.display()), parts }.to_string(),
        ));
    }
    let cfg = live::LiveConfig { tick: args.tick.unwrap_or(live::LiveConfig::default().tick), ..Default::default() };
    let seeds = runner::seeds(s, args.seeds);
    strategies
        .iter()
        .map(|st| {
            seeds
                .par_iter()
                .map(|&seed| {
                    let strategy = live::from_spec(st)
                        .ok_or_else(|| CliError::Live(format!("{}: {} has no live implementation", s.name, st.kind_name())))?;
                    let r = live::run(s, strategy, st.detection_window(), seed, cfg).map_err(|e| CliError::Live(e.to_string()));
                    tick();
                    r.map(|r| RunSummary::of(&r))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

#[cfg(not(feature = "live"))]
fn run_live(_: &Scenario, _: &[&StrategySpec], _: &RunArgs, _: &(dyn Fn() + Sync)) -> Result<Vec<Vec<RunSummary>>, CliError> {
    Err(CliError::Live("this kasim was built without live mode: cargo run --release --features harness/live -- run --engine live".into()))
}

/// The representative run's timeline for the HTML report in live mode: the
/// run again, with its faults, declarations and captured log lines traced.
#[cfg(feature = "live")]
fn live_timeline(s: &Scenario, st: &StrategySpec, seed: u64, args: &RunArgs) -> RunTimeline {
    use crate::live;
    let cfg = live::LiveConfig { tick: args.tick.unwrap_or(live::LiveConfig::default().tick), trace: true };
    match live::from_spec(st).and_then(|strategy| live::run(s, strategy, st.detection_window(), seed, cfg).ok()) {
        Some(record) => crate::plots::traced_timeline(s, &record),
        None => crate::plots::no_timeline(s),
    }
}

#[cfg(not(feature = "live"))]
fn live_timeline(s: &Scenario, _: &StrategySpec, _: u64, _: &RunArgs) -> RunTimeline {
    crate::plots::no_timeline(s)
}

/// `kasim run` and `kasim check` (`check`: the seeds to list per failure and a JUnit path).
pub fn run(args: &RunArgs, check: Option<(usize, Option<PathBuf>)>) -> Result<ExitCode, CliError> {
    if args.shard.is_some() {
        let refuse = |message: &str| Err(CliError::BadFlag { flag: "shard", message: message.into() });
        if check.is_some() {
            return refuse("a shard holds part of the runs: check the merged set with `kasim merge --check`");
        }
        if args.format != Format::Json || args.out.is_some() {
            return refuse("a shard writes a partial result for `kasim merge`: use --format json (and no --out)");
        }
    }
    let out = execute(args)?;
    if let Some(k) = out.shard {
        print_out(&partial_json(args, &out, k)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let timeline_of = |s: &Scenario, st: &StrategySpec, seed: u64| match out.engine {
        Engine::Event => crate::plots::timeline(s, st, seed),
        Engine::Live => live_timeline(s, st, seed, args),
        // The run itself, traced (another real-time run only for a picture would have other timings).
        Engine::Netns => {
            let index = out.scenarios.iter().position(|x| std::ptr::eq(x, s)).unwrap_or(usize::MAX);
            match out.traced.get(&(index, st.name.clone(), seed)) {
                Some(record) => crate::plots::traced_timeline(s, record),
                None => crate::plots::no_timeline(s),
            }
        }
    };
    // A real run is replayed on real hosts: the event engine's would be another story.
    let replay_flags = if out.engine == Engine::Netns { " --engine netns" } else { "" };
    let emit_args =
        Emit { format: args.format, out: args.out.clone(), check, ci: args.ci, per_seed: args.per_seed, decided: None, replay_flags };
    emit(&out.report, &out.scenarios, &out.runs, &out.ran, &emit_args, &timeline_of)
}

/// A shard's partial result: its runs and everything `merge` needs.
fn partial_json(args: &RunArgs, out: &RunOutput, shard: Shard) -> Result<String, CliError> {
    let mut scenarios = Vec::new();
    for ((s, runs), ran) in out.scenarios.iter().zip(&out.runs).zip(&out.ran) {
        let source = catalogue::source_text(&s.path).map_err(|e| CliError::Read { path: s.path.clone(), source: e })?;
        scenarios.push(PartialScenario {
            name: s.name.clone(),
            path: s.path.display().to_string(),
            fingerprint: shard::fingerprint(&source),
            source,
            seeds: args.seeds.unwrap_or(s.seeds),
            strategies: ran.iter().zip(runs).map(|(name, runs)| PartialStrategy { name: name.clone(), runs: runs.clone() }).collect(),
        });
    }
    let mut doc = Partial {
        partial: true,
        kasim_version: shard::VERSION.to_string(),
        kasim_build: shard::BUILD.to_string(),
        shard,
        seeds_override: args.seeds,
        strategy_filter: args.strategies.clone(),
        scenarios,
        digest: String::new(),
    };
    doc.seal();
    let mut text = serde_json::to_string(&doc).map_err(|e| CliError::BadFlag { flag: "shard", message: e.to_string() })?;
    text.push('\n');
    Ok(text)
}

/// `kasim merge`: a whole set of partial results, rendered as `run` or `check` would.
pub fn merge(args: &MergeArgs) -> Result<ExitCode, CliError> {
    let mut parts = Vec::new();
    for f in &args.files {
        parts.push((f.clone(), shard::read(f)?));
    }
    let merged = shard::merge(&parts)?;
    let mut report = Report::default();
    for (i, s) in merged.scenarios.iter().enumerate() {
        let strategies: Vec<&StrategySpec> =
            merged.ran[i].iter().filter_map(|name| s.strategies.iter().find(|st| &st.name == name)).collect();
        report.scenarios.push(runner::scenario_report(s, &strategies, &merged.runs[i], merged.seeds[i]));
    }
    let check = (args.check || args.junit.is_some()).then(|| (args.limit, args.junit.clone()));
    let emit_args = Emit { format: args.format, out: None, check, ci: args.ci, per_seed: args.per_seed, decided: None, replay_flags: "" };
    emit(&report, &merged.scenarios, &merged.runs, &merged.ran, &emit_args, &|s, st, seed| crate::plots::timeline(s, st, seed))
}

/// How to present a finished matrix.
pub struct Emit {
    /// How the report is printed on stdout (`--format`).
    pub format: Format,
    /// Also write the report set (text, markdown, JSON, HTML) here.
    pub out: Option<PathBuf>,
    /// Evaluate `[[expect]]`: seeds listed per failure, JUnit path.
    pub check: Option<(usize, Option<PathBuf>)>,
    /// The table shows each figure's 95 % interval (`--ci`).
    pub ci: bool,
    /// The JSON carries each seed's summary, the build and the scenarios' text (`--per-seed`).
    pub per_seed: bool,
    /// The expectations' verdicts when they were already made (`check --until-decided`).
    pub decided: Option<Vec<Checked>>,
    /// What a printed `kasim replay` command needs after its seed to replay
    /// the same engine's run (`--engine netns`), else empty.
    pub replay_flags: &'static str,
}

/// The report with what `--per-seed` adds: the build, each scenario's text,
/// each strategy's run summaries in seed order.
fn with_per_seed(report: &Report, scenarios: &[Scenario], runs: &[Vec<Vec<RunSummary>>]) -> Result<Report, CliError> {
    let mut doc = report.clone();
    doc.kasim_version = Some(shard::VERSION.to_string());
    doc.kasim_build = Some(shard::BUILD.to_string());
    for ((sc, s), runs) in doc.scenarios.iter_mut().zip(scenarios).zip(runs) {
        sc.source = Some(catalogue::source_text(&s.path).map_err(|e| CliError::Read { path: s.path.clone(), source: e })?);
        for (st, runs) in sc.strategies.iter_mut().zip(runs) {
            let summaries = runs.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>();
            st.per_seed = Some(summaries.map_err(|e| CliError::BadFlag { flag: "per-seed", message: e.to_string() })?);
        }
    }
    Ok(doc)
}

/// Print (and write) a report; with `check`, evaluate the expectations too.
pub fn emit(
    report: &Report,
    scenarios: &[Scenario],
    runs: &[Vec<Vec<RunSummary>>],
    ran: &[Vec<String>],
    args: &Emit,
    timeline_of: &dyn Fn(&Scenario, &StrategySpec, u64) -> RunTimeline,
) -> Result<ExitCode, CliError> {
    if args.per_seed && args.format != Format::Json {
        return Err(CliError::BadFlag {
            flag: "per-seed",
            message: "per-seed summaries go into the JSON document: add --format json".into(),
        });
    }
    let text = match args.format {
        Format::Table => render::table_with(report, args.ci),
        Format::Markdown => render::markdown(report),
        Format::Json if args.per_seed => render::json(&with_per_seed(report, scenarios, runs)?),
        Format::Json => render::json(report),
    };
    if let Some(dir) = &args.out {
        let plots: Vec<_> = scenarios
            .iter()
            .zip(runs)
            .zip(ran)
            .map(|((s, runs), names)| {
                let strategies: Vec<&StrategySpec> = s.strategies.iter().filter(|st| names.contains(&st.name)).collect();
                let mut plots = crate::plots::scenario_plots(s, &strategies, runs, &|st, seed| timeline_of(s, st, seed));
                for p in &mut plots.strategies {
                    p.replay.push_str(args.replay_flags);
                }
                plots
            })
            .collect();
        write_set(
            dir,
            &[
                ("report.txt", render::table_with(report, args.ci)),
                ("report.md", render::markdown(report)),
                ("report.json", render::json(report)),
                ("index.html", reports::html::page(report, &plots)),
            ],
        )?;
        eprintln!("wrote {}/report.{{txt,md,json}} and {}/index.html", dir.display(), dir.display());
    }
    let Some((limit, junit)) = &args.check else {
        print_out(&text)?;
        return Ok(ExitCode::SUCCESS);
    };
    if args.format != Format::Json {
        print_out(&text)?;
    }
    let results: Vec<Checked> = match &args.decided {
        Some(decided) => decided.clone(),
        None => {
            scenarios.iter().enumerate().flat_map(|(i, s)| check::check(s, &report.scenarios[i].strategies, &runs[i], *limit)).collect()
        }
    };
    let failed: Vec<&Checked> = results.iter().filter(|c| !c.passed).collect();
    for c in &failed {
        match c.undecided() {
            Some(why) => {
                eprintln!("INCONCLUSIVE {}", c.describe());
                eprintln!("  {why}");
            }
            None => eprintln!("FAIL {}", c.describe()),
        }
        let path = scenarios.iter().find(|s| s.name == c.scenario).map(|s| s.path.clone()).unwrap_or_default();
        for seed in &c.seeds {
            eprintln!("  reproduce with: {}{}", crate::paste::replay(&path, &c.expect.strategy, *seed), args.replay_flags);
        }
    }
    let inconclusive = failed.iter().filter(|c| c.verdict == check::Verdict::Inconclusive).count();
    let undecided = if inconclusive > 0 { format!(", {inconclusive} inconclusive") } else { String::new() };
    eprintln!("{} expectations, {} passed, {} failed{undecided}", results.len(), results.len() - failed.len(), failed.len() - inconclusive);
    if let Some(path) = junit {
        let replay_of = |name: &str, strategy: &str, seed: u64| {
            let path = scenarios.iter().find(|s| s.name == name).map(|s| s.path.clone()).unwrap_or_default();
            format!("{}{}", crate::paste::replay(&path, strategy, seed), args.replay_flags)
        };
        write_atomic(path, &check::junit(&results, &replay_of))?;
        eprintln!("wrote {}", path.display());
    }
    if args.format == Format::Json {
        print_out(&text)?;
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
