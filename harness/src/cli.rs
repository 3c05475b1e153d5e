//! The `kasim` command line (CONTRACT.md: run, check, replay, list).
//!
//! Exit codes: 0 ok; 1 an expectation failed (`check`); 2 bad input (a
//! scenario that does not parse or validate, an unknown strategy, a bad
//! flag). Machine-readable output goes to stdout, everything else to stderr.

use crate::check::{self, Checked};
use crate::runner::{self, RunRecord};
use crate::scenario::{self, Scenario, ScenarioError};
use crate::strategy::{StrategySpec, KINDS};
use crate::timeline;
use crate::units::format_duration;
use clap::{Parser, Subcommand, ValueEnum};
use reports::model::Report;
use reports::render;
use serde::Serialize;
use sim::oracle::Verdict;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "kasim",
    version,
    about = "Deterministic network fault-injection simulator for keepalive and dead-peer-detection policies"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every strategy of the scenarios over their seeds; print a comparison.
    Run(RunArgs),
    /// Like run, then evaluate every [[expect]]; exit 1 if any fails.
    Check(CheckArgs),
    /// Run one seed of one strategy and show what happened.
    Replay(ReplayArgs),
    /// Show the scenarios found and every strategy kind with its parameters.
    List(ListArgs),
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
    /// Measure the real Linux kernel in network namespaces and compare the model (needs root).
    Calibrate(CalibrateArgs),
}

#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Repetitions of each case against the kernel.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    pub format: ReplayFormat,
}

/// `kasim calibrate` could not run here (not root, tools missing): not a pass.
pub const EXIT_SKIPPED: u8 = 77;

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Scenario files or folders (default: the bundled catalogue in scenarios/).
    pub paths: Vec<PathBuf>,
    /// Runs per strategy, overriding every scenario's `seeds`.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Only these strategies (by name; repeatable).
    #[arg(long = "strategy")]
    pub strategies: Vec<String>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write report.txt, report.md, report.json and index.html into this folder (atomically).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `event` (the simulator) or `live` (live_* strategies' tokio code on turmoil).
    #[arg(long, value_enum, default_value_t = Engine::Event)]
    pub engine: Engine,
    /// turmoil's tick for --engine live, e.g. "1ms" (default) or "100ms".
    #[arg(long, value_parser = crate::units::parse_duration_arg)]
    pub tick: Option<std::time::Duration>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Event,
    Live,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Seeds listed per failing expectation.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Also write the results as JUnit XML (one test case per expectation).
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The scenario file.
    pub path: PathBuf,
    #[arg(long)]
    pub strategy: String,
    #[arg(long)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    pub format: ReplayFormat,
    /// Show every packet, pure ACKs and arrivals included.
    #[arg(long)]
    pub all: bool,
    /// Write the run's packets as a pcap file (Wireshark, tshark).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Write this seed as a scenario with every random value fixed (a regression test).
    #[arg(long)]
    pub export_scenario: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    pub paths: Vec<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFormat {
    Text,
    Json,
}

/// Why a command could not do its job (all exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    #[error("unknown strategy \"{name}\"; allowed: {allowed}")]
    UnknownStrategy { name: String, allowed: String },
    #[error("two scenarios are named \"{name}\": {a} and {b}; names must be unique in a run")]
    DuplicateName { name: String, a: String, b: String },
    #[error("--{flag}: {message}")]
    BadFlag { flag: &'static str, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write the pcap {path}: {message}")]
    Pcap { path: PathBuf, message: String },
    #[error("{0}")]
    Live(String),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(a) => run(&a, None),
        Command::Check(a) => run(&a.run, Some((a.limit, a.junit.clone()))),
        Command::Replay(a) => replay(&a),
        Command::List(a) => list(&a),
        Command::Calibrate(a) => calibrate(&a),
        Command::Schema => {
            println!("{}", schema_text());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The bundled catalogue: `scenarios/` here, or next to the workspace.
pub fn default_paths() -> Vec<PathBuf> {
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return vec![local];
    }
    vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scenarios")]
}

/// Load and validate every scenario under `paths`.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, CliError> {
    let paths = if paths.is_empty() { default_paths() } else { paths.to_vec() };
    let files = scenario::discover(&paths)?;
    let mut out: Vec<Scenario> = Vec::new();
    for f in files {
        let s = scenario::load(&f)?;
        if let Some(other) = out.iter().find(|o| o.name == s.name) {
            return Err(CliError::DuplicateName { name: s.name, a: other.path.display().to_string(), b: f.display().to_string() });
        }
        out.push(s);
    }
    Ok(out)
}

fn selected<'a>(s: &'a Scenario, names: &[String]) -> Vec<&'a StrategySpec> {
    s.strategies.iter().filter(|st| names.is_empty() || names.contains(&st.name)).collect()
}

/// Everything a run produced, for rendering and checking.
pub struct RunOutput {
    pub report: Report,
    pub scenarios: Vec<Scenario>,
    /// Per scenario, per strategy that ran, the runs.
    pub runs: Vec<Vec<Vec<RunRecord>>>,
    /// Per scenario, the names of the strategies that ran (in `runs`' order).
    pub ran: Vec<Vec<String>>,
    pub engine: Engine,
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
    if args.seeds == Some(0) {
        return Err(CliError::BadFlag { flag: "seeds", message: "must be at least 1".into() });
    }
    let jobs = args.jobs.unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| CliError::BadFlag { flag: "jobs", message: e.to_string() })?;
    let total: u64 = scenarios.iter().map(|s| selected(s, &args.strategies).len() as u64 * args.seeds.unwrap_or(s.seeds)).sum();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} runs [{elapsed_precise}] {wide_bar} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report = Report::default();
    let mut runs = Vec::new();
    let mut ran: Vec<Vec<String>> = Vec::new();
    for s in &scenarios {
        bar.set_message(s.name.clone());
        let mut strategies = selected(s, &args.strategies);
        let tick = || bar.inc(1);
        let r = match args.engine {
            Engine::Event => pool.install(|| runner::run_scenario(s, &strategies, args.seeds, &tick)),
            Engine::Live => {
                strategies.retain(|st| st.kind.starts_with("live_"));
                pool.install(|| run_live(s, &strategies, args, &tick))?
            }
        };
        let seeds = args.seeds.unwrap_or(s.seeds);
        report.scenarios.push(runner::scenario_report(s, &strategies, &r, seeds));
        ran.push(strategies.iter().map(|st| st.name.clone()).collect());
        runs.push(r);
    }
    bar.finish_and_clear();
    Ok(RunOutput { report, scenarios, runs, ran, engine: args.engine })
}

#[cfg(feature = "live")]
fn run_live(s: &Scenario, strategies: &[&StrategySpec], args: &RunArgs, tick: &(dyn Fn() + Sync)) -> Result<Vec<Vec<RunRecord>>, CliError> {
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
    let cfg = live::LiveConfig { tick: args.tick.unwrap_or(live::LiveConfig::default().tick) };
    let seeds = runner::seeds(s, args.seeds);
    strategies
        .iter()
        .map(|st| {
            seeds
                .par_iter()
                .map(|&seed| {
                    let strategy =
                        live::from_spec(st).ok_or_else(|| CliError::Live(format!("{}: {} has no live implementation", s.name, st.kind)))?;
                    let r = live::run(s, strategy, st.detection_window(), seed, cfg).map_err(|e| CliError::Live(e.to_string()));
                    tick();
                    r
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

#[cfg(not(feature = "live"))]
fn run_live(_: &Scenario, _: &[&StrategySpec], _: &RunArgs, _: &(dyn Fn() + Sync)) -> Result<Vec<Vec<RunRecord>>, CliError> {
    Err(CliError::Live("this kasim was built without live mode: cargo run --release --features harness/live -- run --engine live".into()))
}

/// Write `contents` to `path` atomically: a temp file beside it, then rename.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), CliError> {
    write_atomic_with(path, |f| f.write_all(contents.as_bytes()))
}

/// Write a file atomically with `fill`: a temp file beside `path`, synced, then renamed.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<(), CliError> {
    let err = |source| CliError::Write { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("report"), std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    let written = fill(&mut f).and_then(|_| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    std::fs::rename(&tmp, path).map_err(err)
}

fn run(args: &RunArgs, check: Option<(usize, Option<PathBuf>)>) -> Result<ExitCode, CliError> {
    let out = execute(args)?;
    let text = match args.format {
        Format::Table => render::table(&out.report),
        Format::Markdown => render::markdown(&out.report),
        Format::Json => render::json(&out.report),
    };
    if let Some(dir) = &args.out {
        write_atomic(&dir.join("report.txt"), &render::table(&out.report))?;
        write_atomic(&dir.join("report.md"), &render::markdown(&out.report))?;
        write_atomic(&dir.join("report.json"), &render::json(&out.report))?;
        let plots: Vec<_> = out
            .scenarios
            .iter()
            .zip(&out.runs)
            .zip(&out.ran)
            .map(|((s, runs), names)| {
                let strategies: Vec<&StrategySpec> = s.strategies.iter().filter(|st| names.contains(&st.name)).collect();
                crate::plots::scenario_plots(s, &strategies, runs, out.engine == Engine::Event)
            })
            .collect();
        write_atomic(&dir.join("index.html"), &reports::html::page(&out.report, &plots))?;
        eprintln!("wrote {}/report.{{txt,md,json}} and {}/index.html", dir.display(), dir.display());
    }
    let Some((limit, junit)) = check else {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    };
    if args.format != Format::Json {
        print!("{text}");
    }
    let mut results: Vec<Checked> = Vec::new();
    for (i, s) in out.scenarios.iter().enumerate() {
        results.extend(check::check(s, &out.report.scenarios[i].strategies, &out.runs[i], limit));
    }
    let failed: Vec<&Checked> = results.iter().filter(|c| !c.passed).collect();
    for c in &failed {
        eprintln!("FAIL {}", c.describe());
        let path = out.scenarios.iter().find(|s| s.name == c.scenario).map(|s| s.path.display().to_string()).unwrap_or_default();
        for seed in &c.seeds {
            eprintln!("  reproduce with: kasim replay {path} --strategy {} --seed {seed}", c.expect.strategy);
        }
    }
    eprintln!("{} expectations, {} passed, {} failed", results.len(), results.len() - failed.len(), failed.len());
    if let Some(path) = junit {
        let path_of = |name: &str| out.scenarios.iter().find(|s| s.name == name).map(|s| s.path.display().to_string()).unwrap_or_default();
        write_atomic(&path, &check::junit(&results, &path_of))?;
        eprintln!("wrote {}", path.display());
    }
    if args.format == Format::Json {
        print!("{text}");
    }
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Serialize)]
struct ReplayFault {
    kind: &'static str,
    target: String,
    at_s: f64,
    duration_s: Option<f64>,
}

#[derive(Serialize)]
struct ReplayDeclaration {
    side: &'static str,
    at_s: f64,
    cause: String,
    false_positive: bool,
    /// Addition: detection latency (null for a false positive).
    latency_s: Option<f64>,
    /// Addition: the transient condition blamed for a false positive.
    condition: Option<&'static str>,
}

#[derive(Serialize)]
struct ReplayJson {
    scenario: String,
    strategy: String,
    seed: u64,
    faults: Vec<ReplayFault>,
    broken_at_s: Option<f64>,
    broken_cause: Option<String>,
    declarations: Vec<ReplayDeclaration>,
    timeline: Vec<timeline::Line>,
}

fn replay(args: &ReplayArgs) -> Result<ExitCode, CliError> {
    let s = scenario::load(&args.path)?;
    let Some(strategy) = s.strategies.iter().find(|st| st.name == args.strategy) else {
        let names: Vec<String> = s.strategies.iter().map(|st| format!("\"{}\"", st.name)).collect();
        return Err(CliError::UnknownStrategy { name: args.strategy.clone(), allowed: names.join(", ") });
    };
    let r = runner::run_one(&s, strategy, args.seed, true);
    if let Some(path) = &args.pcap {
        let mut count = 0;
        let mut failure = None;
        write_atomic_with(path, |f| match reports::pcap::write(std::io::BufWriter::new(f), &r.outcome.trace) {
            Ok(n) => {
                count = n;
                Ok(())
            }
            Err(e) => {
                failure = Some(e.to_string());
                Err(std::io::Error::other("pcap"))
            }
        })
        .map_err(|e| match failure.take() {
            Some(message) => CliError::Pcap { path: path.clone(), message },
            None => e,
        })?;
        eprintln!("wrote {count} packets to {}", path.display());
    }
    if let Some(path) = &args.export_scenario {
        let source = std::fs::read_to_string(&args.path).map_err(|e| {
            CliError::Scenario(ScenarioError { file: args.path.clone(), position: None, key: String::new(), message: e.to_string() })
        })?;
        let text = crate::export::export(&s, &source, strategy, &r).map_err(|e| {
            CliError::Scenario(ScenarioError { file: args.path.clone(), position: None, key: String::new(), message: e.to_string() })
        })?;
        write_atomic(path, &text)?;
        eprintln!("wrote {} (check it with: kasim check {})", path.display(), path.display());
    }
    let lines = timeline::lines(&r.outcome.trace, args.all);
    match args.format {
        ReplayFormat::Text => {
            println!("scenario {} ({}), strategy {} ({}), seed {}", s.name, s.path.display(), strategy.name, strategy.kind, args.seed);
            if r.faults.is_empty() {
                println!("faults: none");
            }
            for f in &r.faults {
                let dur = f.duration.map(|d| format!(" for {}", format_duration(d))).unwrap_or_default();
                println!("fault: {} {} at {}{dur}", f.kind.name(), f.target, sim::Instant::ZERO + f.at);
            }
            match r.outcome.broken {
                Some((at, cause)) => println!("broken at {at}: {cause}"),
                None => println!("the connection never broke"),
            }
            println!();
            print!("{}", timeline::render(&lines));
        }
        ReplayFormat::Json => {
            let doc = ReplayJson {
                scenario: s.name.clone(),
                strategy: strategy.name.clone(),
                seed: args.seed,
                faults: r
                    .faults
                    .iter()
                    .map(|f| ReplayFault {
                        kind: f.kind.name(),
                        target: f.target.clone(),
                        at_s: f.at.as_secs_f64(),
                        duration_s: f.duration.map(|d| d.as_secs_f64()),
                    })
                    .collect(),
                broken_at_s: r.outcome.broken.map(|b| b.0.as_secs_f64()),
                broken_cause: r.outcome.broken.map(|b| b.1.to_string()),
                declarations: r
                    .outcome
                    .declarations
                    .iter()
                    .map(|d| ReplayDeclaration {
                        side: d.side.name(),
                        at_s: d.at.as_secs_f64(),
                        cause: d.cause.clone(),
                        false_positive: matches!(d.verdict, Verdict::FalsePositive { .. }),
                        latency_s: match d.verdict {
                            Verdict::Detection { latency } => Some(latency.as_secs_f64()),
                            _ => None,
                        },
                        condition: match d.verdict {
                            Verdict::FalsePositive { condition } => Some(condition.name()),
                            _ => None,
                        },
                    })
                    .collect(),
                timeline: lines,
            };
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The scenario JSON Schema, pretty-printed (as committed in scenario.schema.json).
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&scenario::json_schema()).unwrap_or_default()
}

fn calibrate(args: &CalibrateArgs) -> Result<ExitCode, CliError> {
    use crate::calibrate;
    if args.reps == 0 || args.reps > 20 {
        return Err(CliError::BadFlag { flag: "reps", message: "allowed: 1..=20".into() });
    }
    if let Err(why) = calibrate::available() {
        eprintln!("SKIPPED: kasim calibrate cannot build its testbed here: {why}");
        return Ok(ExitCode::from(EXIT_SKIPPED));
    }
    // Our namespaces go away on Ctrl-C too.
    let _ = ctrlc::set_handler(|| {
        calibrate::remove_all();
        std::process::exit(130);
    });
    eprintln!("calibrating {} cases x {} repetitions in parallel (about 30 s)...", calibrate::Case::ALL.len(), args.reps);
    let rows = calibrate::run(&calibrate::Case::ALL, args.reps);
    calibrate::remove_all();
    match args.format {
        ReplayFormat::Text => print!("{}", calibrate::table(&rows)),
        ReplayFormat::Json => {
            let doc: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| match r {
                    Ok(row) => serde_json::to_value(row).unwrap_or_default(),
                    Err(e) => serde_json::json!({ "error": e }),
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "cases": doc })).unwrap_or_default());
        }
    }
    if rows.iter().any(|r| r.is_err()) {
        return Ok(ExitCode::from(2));
    }
    Ok(if rows.iter().all(|r| r.as_ref().is_ok_and(|r| r.ok)) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn list(args: &ListArgs) -> Result<ExitCode, CliError> {
    let scenarios = load_all(&args.paths)?;
    println!("Scenarios:");
    for s in &scenarios {
        let names: Vec<&str> = s.strategies.iter().map(|st| st.name.as_str()).collect();
        println!("  {:<28} {} (horizon {}, {} seeds)", s.name, s.path.display(), format_duration(s.horizon), s.seeds);
        if let Some(first) = s.description.lines().next() {
            println!("  {:<28} {}", "", first);
        }
        println!("  {:<28} strategies: {}", "", names.join(", "));
    }
    println!();
    println!("Strategy kinds (parameter = default):");
    for k in KINDS {
        println!("  {:<14} {}", k.kind, k.help);
        for p in k.params {
            println!("      {:<22} = {:<8} {}", p.name, p.default, p.help);
        }
    }
    Ok(ExitCode::SUCCESS)
}
