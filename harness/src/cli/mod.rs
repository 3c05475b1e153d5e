//! The `kasim` command line (CONTRACT.md: run, check, replay, list; v2: merge, tune).
//!
//! Exit codes: 0 ok; 1 an expectation failed (`check`); 2 bad input (a
//! scenario that does not parse or validate, an unknown strategy, a bad
//! flag). Machine-readable output goes to stdout, everything else to stderr.

use crate::catalogue;
use crate::scenario::{self, Scenario, ScenarioError};
use crate::shard::ShardError;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod decide;
mod diff;
mod files;
mod netns;
mod replay;
mod replay_fleet;
mod run;
mod signals;
mod tools;
mod tune;

pub use files::{print_out, write_atomic, write_atomic_with};
pub use run::{emit, execute, Emit, RunOutput};

/// The whole command line: `kasim` and one subcommand.
#[derive(Parser, Debug)]
#[command(
    name = "kasim",
    version,
    about = "Deterministic network fault-injection simulator for keepalive and dead-peer-detection policies"
)]
pub struct Cli {
    /// The subcommand given (`run`, `check`, `replay`, …).
    #[command(subcommand)]
    pub command: Command,
}

/// `kasim`'s subcommands: the contract's `run`, `check`, `replay`, `list`, and
/// v2's `merge` and `tune`, plus `schema` and `calibrate`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every strategy of the scenarios over their seeds; print a comparison.
    Run(RunArgs),
    /// Like run, then evaluate every `[[expect]]`; exit 1 if any fails.
    #[command(about = "Like run, then evaluate every [[expect]]; exit 1 if any fails")]
    Check(CheckArgs),
    /// Run one seed of one strategy and show what happened.
    Replay(ReplayArgs),
    /// Show the scenarios found and every strategy kind with its parameters.
    List(ListArgs),
    /// Combine the partial results of `run --shard K/N` into the unsharded run's output.
    Merge(MergeArgs),
    /// Search a grid of one strategy's parameters for the cheapest setting that meets constraints.
    Tune(TuneArgs),
    /// Print the JSON Schema of the scenario format (for editors).
    Schema,
    /// Measure the real Linux kernel in network namespaces and compare the model (needs root).
    Calibrate(CalibrateArgs),
    /// Compare a new run with a baseline (or two strategies of one run), figure by figure.
    Diff(DiffArgs),
    /// Read each scenario's timeout chain and say which link breaks first, with a seed that shows it.
    Doctor(DoctorArgs),
    /// kasim's own program for built-in strategies on real sockets (`--engine netns` starts it).
    #[command(hide = true)]
    Agent(crate::netns::AgentArgs),
}

/// The flags of `kasim doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Scenario files or folders (default: the bundled catalogue).
    pub paths: Vec<PathBuf>,
    /// Seeds run per strategy to find a seed that shows each finding (default: the scenario's).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// `--format`: findings as text (default) or the contract's JSON (`{"findings": [...]}`).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text, help = None)]
    pub format: ReplayFormat,
}

/// The flags of `kasim diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// BASE.json NEW.json (documents of `kasim run --format json`, best with --per-seed),
    /// or one RUN.json with --between.
    #[arg(required = true, num_args = 1..=2, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Compare strategy B against strategy A in each scenario of one run.
    #[arg(long, num_args = 2, value_names = ["A", "B"])]
    pub between: Vec<String>,
    /// `--format`: the differences as a table (default), markdown (for a job summary) or
    /// the contract's JSON (`{"comparisons": [...], "regressions": N}`).
    #[arg(long, value_enum, default_value_t = Format::Table, help = None)]
    pub format: Format,
    /// Exit 1 on `worse` (default), or on `worse` and `inconclusive` (`any`).
    #[arg(long, value_enum, default_value_t = FailOn::Worse)]
    pub fail_on: FailOn,
    /// How large a difference is still `same`: "5%" of the baseline's figure, or a number
    /// in the metric's unit.
    #[arg(long, default_value = "0%")]
    pub tolerance: String,
    /// Compare documents of two kasim builds (the model's effect is reported apart when
    /// this binary made the new run).
    #[arg(long)]
    pub allow_model_change: bool,
    /// Then rewrite BASE with NEW (accept the new figures as the baseline).
    #[arg(long)]
    pub accept: bool,
    /// Also write the comparisons as JUnit XML.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

/// When `kasim diff` exits 1.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// On any `worse` figure.
    Worse,
    /// On any `worse` or `inconclusive` figure.
    Any,
}

/// The flags of `kasim calibrate`.
#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// Scenario files or folders: run each on both engines (the event engine and real
    /// stacks, `--engine netns`) and compare seed by seed, figure by figure. Without
    /// PATH: the bundled calibration set: the built-in kernel cases, then the scenarios
    /// of `calibration/` (the current folder's, else the copy built into kasim).
    pub paths: Vec<PathBuf>,
    /// Runs per strategy for scenario files, overriding their `seeds`.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// The longest horizon run in real time.
    #[arg(long, value_parser = crate::units::parse_duration_arg, default_value = "30m")]
    pub max_wall: std::time::Duration,
    /// Repetitions of each case against the kernel.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// `--format`: a table of every case (`text`, the default) or one JSON document
    /// `{ "cases": [...], "scenarios": [...] }` on stdout (`json`; with PATH, only `scenarios`).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text, help = None)]
    pub format: ReplayFormat,
}

/// `kasim calibrate` could not run here (not root, tools missing): not a pass.
pub const EXIT_SKIPPED: u8 = 77;

/// The flags of `kasim run` (and of `kasim check`, which takes them all).
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
    /// `--format`: how the report is printed on stdout (default `table`); `json` is the
    /// contract's one document and nothing else on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table, help = None)]
    pub format: Format,
    /// Also write report.txt, report.md, report.json and index.html into this folder (replaced as a whole).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `event` (the simulator), `live` (live_* strategies' tokio code on turmoil), or `netns`
    /// (real programs in network namespaces, in real time; needs root).
    #[arg(long, value_enum, default_value_t = Engine::Event)]
    pub engine: Engine,
    /// --engine netns runs in real time: refuse a scenario whose horizon is longer than this.
    #[arg(long, value_parser = crate::units::parse_duration_arg, default_value = "30m")]
    pub max_wall: std::time::Duration,
    /// turmoil's tick for --engine live, e.g. "1ms" (default) or "100ms".
    #[arg(long, value_parser = crate::units::parse_duration_arg)]
    pub tick: Option<std::time::Duration>,
    /// Make only part K of N of the runs (1-based; or "auto" from KASIM_SHARD or a
    /// Kubernetes Indexed Job's JOB_COMPLETION_INDEX + KASIM_SHARD_COUNT); needs --format json.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Show each estimated figure's 95 % interval in the table (markdown, HTML and
    /// JSON always carry them).
    #[arg(long)]
    pub ci: bool,
    /// With --format json: also write each seed's run summary, the kasim build and each
    /// scenario's text (what `kasim diff` needs to pair seeds and name changed keys).
    #[arg(long)]
    pub per_seed: bool,
}

/// The flags of `kasim merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The partial results of every shard (any order).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// `--format`: how the merged report is printed (default `table`), byte-identical to
    /// the unsharded run's in the same format.
    #[arg(long, value_enum, default_value_t = Format::Table, help = None)]
    pub format: Format,
    /// Evaluate every `[[expect]]` as `kasim check` does (exit 1 if any fails).
    #[arg(long, help = "Evaluate every [[expect]] as `kasim check` does (exit 1 if any fails)")]
    pub check: bool,
    /// Seeds listed per failing expectation.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Write the expectations' results as JUnit XML (implies --check).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Show each estimated figure's 95 % interval in the table.
    #[arg(long)]
    pub ci: bool,
    /// With --format json: also write each seed's run summary (as `run --per-seed`).
    #[arg(long)]
    pub per_seed: bool,
}

/// The flags of `kasim tune`.
#[derive(clap::Args, Debug)]
pub struct TuneArgs {
    /// The scenario file.
    pub path: PathBuf,
    /// The strategy whose parameters to vary (its other parameters stay as written).
    #[arg(long)]
    pub strategy: String,
    /// PARAM=FROM..TO/STEP or PARAM=A,B,C (repeatable; the grid is every combination).
    #[arg(long = "vary", value_name = "PARAM=SPEC", required = true)]
    pub vary: Vec<String>,
    /// A constraint: `METRIC<=X` or `METRIC>=X` (metric names as in `[[expect]]`;
    /// `server.` for the server side).
    #[arg(
        long = "require",
        value_name = "METRIC<=X",
        help = "A constraint: METRIC<=X or METRIC>=X (metric names as in [[expect]]; \"server.\" for the server side)"
    )]
    pub require: Vec<String>,
    /// The metric the recommendation minimises.
    #[arg(long, default_value = "keepalive_packets_per_hour")]
    pub minimize: String,
    /// Runs per point, overriding the scenario's `seeds`.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Successive halving: run every point on a few seeds, drop the points that can no
    /// longer win, give the rest more (faster; see the README for what it can miss).
    #[arg(long)]
    pub halving: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// `--format`: the grid as a table (default), markdown, or the contract's tune JSON
    /// document (`{ "scenario", "strategy", "points", "recommended" }`).
    #[arg(long, value_enum, default_value_t = Format::Table, help = None)]
    pub format: Format,
    /// Also write tune.json, tune.md and index.html (the frontier plot) into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What runs a scenario (`--engine`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The deterministic event simulator (`sim`): every strategy, shards, the default.
    #[value(help = None)]
    Event,
    /// The `live_*` strategies' real tokio code on turmoil hosts (feature `live`); other
    /// strategies are left out, and `--shard` is refused.
    #[value(help = None)]
    Live,
    /// Real programs on real Linux stacks, one network namespace per host, kasim's link
    /// and NAT models between them in real time (needs root; `program` strategies, and
    /// every TCP kind as kasim's agent).
    #[value(help = None)]
    Netns,
}

/// The flags of `kasim check`: those of `run`, and what to say about failures.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Everything `kasim run` takes; the runs are made the same way.
    #[command(flatten)]
    pub run: RunArgs,
    /// Seeds listed per failing expectation.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Also write the results as JUnit XML (one test case per expectation).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Add seeds (doubling, in the deterministic order) until every `confidence`
    /// expectation is decided or --max-seeds is reached; each look spends its share of
    /// the error (see the README).
    #[arg(long)]
    pub until_decided: bool,
    /// The most seeds --until-decided runs per scenario.
    #[arg(long, default_value_t = 2000, requires = "until_decided")]
    pub max_seeds: u64,
}

/// The flags of `kasim replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The scenario file.
    pub path: PathBuf,
    /// The name of the scenario's strategy to replay.
    #[arg(long)]
    pub strategy: String,
    /// The run's seed itself (`base_seed + i`, as `check` prints it), not its index.
    #[arg(long)]
    pub seed: u64,
    /// `--format`: the story as text (default), or the contract's replay JSON (seed, fault
    /// times, `broken_at_s`, declarations, timeline).
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text, help = None)]
    pub format: ReplayFormat,
    /// Show every packet, pure ACKs and arrivals included.
    #[arg(long)]
    pub all: bool,
    /// Write the run's packets as a pcap file (Wireshark, tshark).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Write this seed as a scenario with every random value fixed (a regression test); of a fleet, with --client N: that client alone.
    #[arg(long)]
    pub export_scenario: Option<PathBuf>,
    /// Only the timeline from this simulated time on (e.g. "22h").
    #[arg(long, value_parser = crate::units::parse_duration_arg)]
    pub since: Option<std::time::Duration>,
    /// Only the timeline up to this simulated time.
    #[arg(long, value_parser = crate::units::parse_duration_arg)]
    pub until: Option<std::time::Duration>,
    /// Only these kinds of timeline lines (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<crate::timeline::Topic>,
    /// A fleet or pool: only this connection's story (its number from 0, as the fleet
    /// summary names it); the run keeps only its records, so a big fleet's replay is quick.
    #[arg(long, conflicts_with = "client")]
    pub connection: Option<u32>,
    /// A fleet: only the stories of this client host's connections (from 0).
    #[arg(long)]
    pub client: Option<u32>,
    /// `event` (the simulator, default) or `netns` (the same seed on real hosts, in real
    /// time: the programs' lines in the timeline, the real packets in --pcap; needs root).
    #[arg(long, value_enum, default_value_t = Engine::Event)]
    pub engine: Engine,
    /// With --engine netns: refuse a scenario whose horizon is longer than this.
    #[arg(long, value_parser = crate::units::parse_duration_arg, default_value = "30m")]
    pub max_wall: std::time::Duration,
}

/// The flags of `kasim list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Scenario files or folders to list (none: the bundled catalogue).
    #[arg(help = None)]
    pub paths: Vec<PathBuf>,
    /// Print every middlebox preset (`[nat] preset`, `[proxy] preset`) with its numbers and sources.
    #[arg(long)]
    pub presets: bool,
}

/// How `run`, `check`, `merge` and `tune` print their results (`--format`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned plain-text columns, for a terminal (the default).
    #[value(help = None)]
    Table,
    /// One JSON document on stdout and nothing else there (the contract's shape); with
    /// `--shard`, a partial result for `kasim merge`.
    #[value(help = None)]
    Json,
    /// Markdown tables, for a pull request or a wiki.
    #[value(help = None)]
    Markdown,
}

/// How `replay` and `calibrate` print (`--format`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFormat {
    /// Readable lines (the default).
    #[value(help = None)]
    Text,
    /// One JSON document on stdout.
    #[value(help = None)]
    Json,
}

/// Why a command could not do its job (all exit 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A scenario file did not parse or validate (the message names file, line, key).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A run opened more connections than a run may hold (a reconnect storm)
    /// and was stopped: its figures would not be a whole run's.
    #[error(
        "{}: strategy {strategy}, seed {seed}: the run held {held} connection records by {} (a reconnect storm) and was stopped; allowed: at most max(50000, 8 per connection slot) per run, each up to about 1 KB (a live endpoint, an attempt that connected, or 128 endpoints opened); see the storm with `{} --until {}`, and give [client.reconnect] a longer initial_backoff or connect_timeout",
        scenario.display(), sim::Instant::ZERO + *at, crate::paste::replay(scenario, strategy, *seed), crate::units::format_duration(std::time::Duration::from_secs(at.as_secs() + 1))
    )]
    ConnectionStorm {
        /// The scenario file.
        scenario: PathBuf,
        /// The strategy whose run it was.
        strategy: String,
        /// The seed of the first such run.
        seed: u64,
        /// When it was stopped (simulated time).
        at: std::time::Duration,
        /// Connection records it held ([`sim::WorldConfig::max_connections`]).
        held: u64,
    },
    /// `--strategy` named a strategy that no loaded scenario has.
    #[error("unknown strategy \"{name}\"; allowed: {allowed}")]
    UnknownStrategy {
        /// The name given.
        name: String,
        /// Every strategy name of the loaded scenarios, quoted, sorted, comma-separated.
        allowed: String,
    },
    /// Two loaded scenarios share a `name` (names key reports and shards).
    #[error("two scenarios are named \"{name}\": {a} and {b}; names must be unique in a run")]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The file loaded first.
        a: String,
        /// The file loaded second.
        b: String,
    },
    /// A flag's value is out of range or clashes with another flag.
    #[error("--{flag}: {message}")]
    BadFlag {
        /// The flag, without its leading `--` (`seeds`, `jobs`, `shard`, …).
        flag: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The reader of stdout went away (`| head`): not an error, the command just ends.
    #[error("stdout was closed")]
    ClosedPipe,
    /// Writing to stdout failed for another reason than a closed pipe.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    /// A file could not be read (a scenario's source for a shard, a partial result).
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (not there, not a regular file, too large, not text, the operating system's error).
        source: crate::input::ReadError,
    },
    /// Partial results that cannot be made or merged (see [`ShardError`]).
    #[error("{0}")]
    Shard(#[from] ShardError),
    /// `kasim tune` flags that do not describe a grid or a constraint.
    #[error("{0}")]
    Tune(#[from] crate::tune::TuneError),
    /// An output file (report, JUnit XML, exported scenario) could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `kasim replay --pcap` could not write its capture.
    #[error("cannot write the pcap {path}: {message}")]
    Pcap {
        /// The pcap file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `--engine live` cannot run: no `live_*` strategy, parts of the scenario turmoil
    /// cannot model, or a binary built without the `live` feature.
    #[error("{0}")]
    Live(String),
    /// `--engine netns` cannot run (not root, a horizon over `--max-wall`, what the engine
    /// does not run yet, a program that cannot start), or a `program` strategy under the
    /// event engine: the message names the file, line, key and what is allowed.
    #[error("{0}")]
    Netns(String),
    /// `kasim diff` cannot compare the documents (see [`crate::diff::DiffError`]).
    #[error("{0}")]
    Diff(#[from] crate::diff::DiffError),
}

/// With `RUST_LOG` set (`RUST_LOG=trace`, `RUST_LOG=sim=debug`, …), log
/// lines on stderr, each stamped with the simulated time of the run that
/// emitted it (`+HH:MM:SS.mmm`; `+--:--:--.---` outside a run): the engine's
/// faults, declarations, socket and NAT events, packets, and quinn's own.
fn init_logging() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else { return };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_timer(SimulatedTime).try_init();
}

/// `tracing-subscriber`'s timestamp, in simulated time.
struct SimulatedTime;

impl tracing_subscriber::fmt::time::FormatTime for SimulatedTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match sim::time::current() {
            Some(t) => write!(w, "{t}"),
            None => w.write_str("+--:--:--.---"),
        }
    }
}

/// The `kasim` binary: parse the command line, run the subcommand, and map the
/// result to the contract's exit codes (0 ok, 1 an expectation failed, 2 bad
/// input; a closed stdout is 0). Errors print one `error:` line on stderr.
pub fn main() -> ExitCode {
    signals::install();
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(a) => run::run(&a, None),
        Command::Check(a) if a.until_decided => decide::until_decided(&a),
        Command::Check(a) => run::run(&a.run, Some((a.limit, a.junit.clone()))),
        Command::Merge(a) => run::merge(&a),
        Command::Tune(a) => tune::tune(&a),
        Command::Replay(a) => replay::replay(&a),
        Command::List(a) => tools::list(&a),
        Command::Calibrate(a) => tools::calibrate(&a),
        Command::Diff(a) => diff::diff(&a),
        Command::Doctor(a) => tools::doctor(&a),
        Command::Agent(a) => Ok(crate::netns::agent_main(&a)),
        Command::Schema => print_out(&format!("{}\n", schema_text())).map(|()| ExitCode::SUCCESS),
    };
    // Namespaces this process made and still has (an error cut a netns run short) go now.
    crate::calibrate::remove_all();
    match result {
        Ok(code) => code,
        Err(CliError::ClosedPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The most worker threads `--jobs` takes. Runs are CPU-bound, so threads
/// past the cores only cost: each is a stack and a start-up (4 000 of them
/// turned a 0.02 s run into 16 s).
pub const MAX_JOBS: usize = 256;

/// The worker pool for `--jobs`, once `--seeds` and `--jobs` are checked as every command takes them: seeds 1..=1000000 (a
/// scenario file's own limit), jobs 1..=[`MAX_JOBS`] (absent: every core).
pub fn worker_pool(seeds: Option<u64>, jobs: Option<usize>) -> Result<rayon::ThreadPool, CliError> {
    check_seeds(seeds)?;
    check_jobs(jobs)?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| CliError::BadFlag { flag: "jobs", message: e.to_string() })
}

/// `--seeds`: 1..=1000000 (a scenario file's own limit), or absent.
pub fn check_seeds(seeds: Option<u64>) -> Result<(), CliError> {
    match seeds.filter(|n| !(1..=1_000_000).contains(n)) {
        Some(n) => Err(CliError::BadFlag { flag: "seeds", message: format!("{n} is out of range; allowed: 1..=1000000") }),
        None => Ok(()),
    }
}

/// `--jobs`: 1..=[`MAX_JOBS`], or absent (every core).
pub fn check_jobs(jobs: Option<usize>) -> Result<(), CliError> {
    match jobs.filter(|n| !(1..=MAX_JOBS).contains(n)) {
        Some(n) => Err(CliError::BadFlag {
            flag: "jobs",
            message: format!("{n} is out of range; allowed: 1..={MAX_JOBS} (leave it out for every core)"),
        }),
        None => Ok(()),
    }
}

/// `--seeds` must not carry a scenario's seeds past the largest one.
pub fn check_seed_range(scenarios: &[Scenario], seeds: Option<u64>) -> Result<(), CliError> {
    for s in scenarios {
        let n = seeds.unwrap_or(s.seeds);
        if s.base_seed.checked_add(n.saturating_sub(1)).is_none() {
            return Err(CliError::BadFlag {
                flag: "seeds",
                message: format!("{n} seeds from {}'s base_seed {} pass the largest seed (2^64 - 1)", s.name, s.base_seed),
            });
        }
    }
    Ok(())
}

/// Load a scenario file, or (when there is no such file) the bundled one of that name.
pub fn load_one(path: &Path) -> Result<Scenario, CliError> {
    match scenario::load(path) {
        Err(e) if !path.exists() => match catalogue::named(path) {
            Some(bundled) => Ok(bundled?),
            None => Err(CliError::Scenario(e)),
        },
        other => Ok(other?),
    }
}

/// Load and validate every scenario under `paths`.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, CliError> {
    let paths = if paths.is_empty() {
        match catalogue::default_paths() {
            Some(p) => p,
            None => return Ok(catalogue::scenarios()?),
        }
    } else {
        paths.to_vec()
    };
    let files = scenario::discover(&paths)?;
    let mut out: Vec<Scenario> = Vec::new();
    for f in files {
        let s = scenario::load(&f)?;
        for w in &s.warnings {
            eprintln!("warning: {w}");
        }
        if let Some(other) = out.iter().find(|o| o.name == s.name) {
            return Err(CliError::DuplicateName { name: s.name, a: other.path.display().to_string(), b: f.display().to_string() });
        }
        out.push(s);
    }
    Ok(out)
}

/// The scenario JSON Schema, pretty-printed (as committed in scenario.schema.json).
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&scenario::json_schema()).unwrap_or_default()
}
