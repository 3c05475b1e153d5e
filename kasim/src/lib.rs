//! # kasim as a library
//!
//! Run your own dead-peer detection policy through kasim's scenarios from
//! your own Rust tests, judged by the same oracle, and snapshot the figures:
//!
//! ```no_run
//! use kasim::{Control, Experiment, FindStrategy, Instant, Observed, Side, Strategy};
//! use std::time::Duration;
//!
//! /// Ping every 30 s; dead after two pings in a row went unanswered.
//! struct TwoStrikes { next: Instant, outstanding: Option<u64>, strikes: u32, seq: u64 }
//!
//! impl Strategy for TwoStrikes {
//!     fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
//!         self.next = now + Duration::from_secs(30);
//!     }
//!     fn on_event(&mut self, _now: Instant, event: Observed, _ctl: &mut Control) {
//!         if let Observed::Pong { id } = event {
//!             if self.outstanding == Some(id) {
//!                 (self.outstanding, self.strikes) = (None, 0);
//!             }
//!         }
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> {
//!         Some(self.next)
//!     }
//!     fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
//!         if now < self.next {
//!             return;
//!         }
//!         self.next = now + Duration::from_secs(30);
//!         if self.outstanding.is_some() {
//!             self.strikes += 1;
//!             if self.strikes >= 2 {
//!                 return ctl.declare_dead("two pings unanswered");
//!             }
//!         }
//!         self.seq += 1;
//!         self.outstanding = Some(self.seq);
//!         ctl.ping(self.seq, 8);
//!     }
//! }
//!
//! let report = Experiment::bundled("server-power-off")?
//!     .strategy("two-strikes", Side::Client, || TwoStrikes { next: Instant::MAX, outstanding: None, strikes: 0, seq: 0 })
//!     .detection_window(Duration::from_secs(90))
//!     .seeds(40)
//!     .run()?;
//! let ours = report.strategy("two-strikes").expect("it ran");
//! assert_eq!(ours.client.false_positives, 0);
//! # Ok::<(), kasim::Error>(())
//! ```
//!
//! The contract an [`Experiment`] keeps:
//! - every seed is one run of one strategy, a pure function of (scenario,
//!   strategy, seed): the same inputs give the same [`ScenarioReport`] at any
//!   [`jobs`](Experiment::jobs) (seeds run in parallel, so the strategy's
//!   factory is `Send + Sync`; it makes a fresh instance for every connection);
//! - your strategies run beside the scenario's own (leave those out with
//!   [`only_yours`](Experiment::only_yours)), over the same faults and draws
//!   per seed, so the comparison is like for like;
//! - [`check`](Experiment::check) evaluates the scenario's `[[expect]]`s,
//!   which may name your strategies as well as the file's own.
//!
//! The [`Strategy`] trait is the one the built-in policies implement; its
//! doc states when each method is called.

#![warn(missing_docs, unreachable_pub)]

use harness::runner::{self, StrategyFactory};
use harness::scenario::Scenario;
use harness::summary::RunSummary;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use harness::check::{Checked, SeedsToDecide, Verdict};
pub use harness::confidence::Interval;
pub use harness::scenario::ScenarioError;
pub use harness::strategy::{Control, Observed, Strategy, Transport};
pub use reports::model::{Latency, SessionReport, SideReport, StrategyReport};
pub use sim::{Instant, Side};

/// What went wrong before or while running an experiment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario did not parse or validate (names file, line, key, what is allowed).
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// No bundled scenario has this name.
    #[error("no bundled scenario is named {name:?}; allowed: {allowed}")]
    NotBundled {
        /// The name asked for.
        name: String,
        /// Every bundled scenario's name.
        allowed: String,
    },
    /// A strategy name is used twice (yours and the file's, or yours twice).
    #[error("strategy {0:?} is named twice; names must be unique in an experiment")]
    DuplicateStrategy(String),
    /// A run held more connections than a run may (a reconnect storm) and was stopped.
    #[error("strategy {strategy}, seed {seed}: the run held {held} connection records (a reconnect storm) and was stopped")]
    ConnectionStorm {
        /// The strategy whose run it was.
        strategy: String,
        /// The seed.
        seed: u64,
        /// Connection records it held (see `sim::WorldConfig::max_connections`).
        held: u64,
    },
}

/// A strategy of yours: its name, where it runs and how each connection gets one.
#[derive(Clone)]
struct Yours {
    name: String,
    sides: Vec<Side>,
    make: Arc<dyn Fn() -> Box<dyn Strategy> + Send + Sync>,
    window: Duration,
    transport: Transport,
}

/// A scenario, your strategies beside (or instead of) its own, and how many seeds.
#[derive(Clone)]
pub struct Experiment {
    path: PathBuf,
    source: String,
    yours: Vec<Yours>,
    seeds: Option<u64>,
    jobs: Option<usize>,
    only_yours: bool,
}

/// The figures of an experiment: the scenario's report section, as
/// `kasim run --format json` prints it (serializable, for snapshots).
pub type ScenarioReport = reports::model::ScenarioReport;

/// Find one strategy's figures in a report.
pub trait FindStrategy {
    /// The strategy named `name`, if it ran.
    fn strategy(&self, name: &str) -> Option<&StrategyReport>;
}

impl FindStrategy for ScenarioReport {
    fn strategy(&self, name: &str) -> Option<&StrategyReport> {
        self.strategies.iter().find(|s| s.name == name)
    }
}

/// Every `[[expect]]` of the scenario, judged.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The figures the expectations were held against.
    pub report: ScenarioReport,
    /// Each expectation's verdict, in file order.
    pub results: Vec<Checked>,
}

impl CheckReport {
    /// Did every expectation hold?
    pub fn passed(&self) -> bool {
        self.results.iter().all(|c| c.passed)
    }

    /// One line per failed or inconclusive expectation (scenario, strategy,
    /// metric, bound, observed; with `confidence`, the interval).
    pub fn failures(&self) -> Vec<String> {
        self.results.iter().filter(|c| !c.passed).map(Checked::describe).collect()
    }

    /// The expectations with `confidence` that the seeds could not decide
    /// (the interval straddles the bound), each with the seeds estimated to decide it.
    pub fn inconclusive(&self) -> Vec<&Checked> {
        self.results.iter().filter(|c| c.verdict == Verdict::Inconclusive).collect()
    }
}

impl Experiment {
    /// A scenario of the bundled catalogue, by name (`"aws-nat-gateway"`).
    pub fn bundled(name: &str) -> Result<Experiment, Error> {
        let Some((file, text)) = harness::catalogue::entry(Path::new(name)) else {
            let allowed: Vec<&str> = harness::catalogue::texts().iter().filter_map(|(f, _)| f.strip_suffix(".toml")).collect();
            return Err(Error::NotBundled { name: name.into(), allowed: allowed.join(", ") });
        };
        Experiment::from_toml(Path::new("<bundled>").join(file), text)
    }

    /// A scenario file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Experiment, Error> {
        let path = path.as_ref();
        Experiment::from_toml(path, &harness::scenario::read(path)?)
    }

    /// A scenario given as text; `path` names it in messages.
    pub fn from_toml(path: impl AsRef<Path>, text: &str) -> Result<Experiment, Error> {
        let path = path.as_ref().to_path_buf();
        // Validate now (your strategies' names are checked when it runs).
        let also: Vec<&str> = expect_names(text);
        harness::scenario::parse_with(&path, text, &also)?;
        Ok(Experiment { path, source: text.to_string(), yours: Vec::new(), seeds: None, jobs: None, only_yours: false })
    }

    /// Add your strategy `name` on `side`: `make` builds a fresh instance for
    /// every connection (it is called from the worker threads).
    pub fn strategy<S, F>(self, name: &str, side: Side, make: F) -> Experiment
    where
        S: Strategy + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        self.strategy_on(name, &[side], make)
    }

    /// [`strategy`](Experiment::strategy) on several sides (`&[Side::Client, Side::Server]`).
    pub fn strategy_on<S, F>(mut self, name: &str, sides: &[Side], make: F) -> Experiment
    where
        S: Strategy + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        self.yours.push(Yours {
            name: name.to_string(),
            sides: sides.to_vec(),
            make: Arc::new(move || Box::new(make()) as Box<dyn Strategy>),
            window: Duration::from_secs(600),
            transport: Transport::Tcp,
        });
        self
    }

    /// How far back a false positive of your last-added strategy looks for a
    /// transient condition to blame (its ping interval plus timeout, say;
    /// default 10 minutes).
    pub fn detection_window(mut self, window: Duration) -> Experiment {
        if let Some(y) = self.yours.last_mut() {
            y.window = window;
        }
        self
    }

    /// The transport your last-added strategy's connections use (default TCP).
    pub fn transport(mut self, transport: Transport) -> Experiment {
        if let Some(y) = self.yours.last_mut() {
            y.transport = transport;
        }
        self
    }

    /// Runs per strategy (default: the scenario's `seeds`).
    pub fn seeds(mut self, n: u64) -> Experiment {
        self.seeds = Some(n.max(1));
        self
    }

    /// Worker threads (default: every core). The report does not depend on it.
    pub fn jobs(mut self, n: usize) -> Experiment {
        self.jobs = Some(n.clamp(1, 256));
        self
    }

    /// Run only your strategies, not the scenario's own.
    pub fn only_yours(mut self) -> Experiment {
        self.only_yours = true;
        self
    }

    fn scenario(&self) -> Result<Scenario, Error> {
        let also: Vec<&str> = self.yours.iter().map(|y| y.name.as_str()).collect();
        let s = harness::scenario::parse_with(&self.path, &self.source, &also)?;
        for (i, y) in self.yours.iter().enumerate() {
            let clash = s.strategies.iter().any(|st| st.name == y.name) || self.yours[..i].iter().any(|o| o.name == y.name);
            if clash {
                return Err(Error::DuplicateStrategy(y.name.clone()));
            }
        }
        Ok(s)
    }

    /// Run every strategy over the seeds; the figures as `kasim run` reports them.
    pub fn run(&self) -> Result<ScenarioReport, Error> {
        Ok(self.run_all()?.0)
    }

    fn run_all(&self) -> Result<(ScenarioReport, Vec<Vec<RunSummary>>, Scenario), Error> {
        let s = self.scenario()?;
        let seeds = runner::seeds(&s, self.seeds);
        let theirs: Vec<&harness::strategy::StrategySpec> = if self.only_yours { Vec::new() } else { s.strategies.iter().collect() };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(self.jobs.unwrap_or(0)).build().expect("a thread pool");
        let (mut report, mut runs) = pool.install(|| {
            let runs = runner::run_scenario(&s, &theirs, self.seeds, &|| {});
            (runner::scenario_report(&s, &theirs, &runs, seeds.len() as u64), runs)
        });
        for y in &self.yours {
            let summaries: Vec<RunSummary> = pool.install(|| {
                seeds
                    .par_iter()
                    .map(|&seed| {
                        // One factory per run, on the worker's thread: the world is single-threaded.
                        let (make, sides) = (y.make.clone(), y.sides.clone());
                        let factory: StrategyFactory = Rc::new(move |side: Side| sides.contains(&side).then(|| make()));
                        RunSummary::of(&runner::run_with_transport(&s, factory, y.window, seed, y.transport))
                    })
                    .collect()
            });
            report.strategies.push(harness::metrics::aggregate(&y.name, "custom", y.transport.kind(), s.horizon, &summaries));
            runs.push(summaries);
        }
        for (st, r) in report.strategies.iter().zip(&runs) {
            if let Some((seed, _, held)) = RunSummary::first_stopped(r) {
                return Err(Error::ConnectionStorm { strategy: st.name.clone(), seed, held });
            }
        }
        Ok((report, runs, s))
    }

    /// Run, then evaluate the scenario's `[[expect]]`s (those naming your
    /// strategies too); for a failure, the seeds that show it (up to 5).
    pub fn check(&self) -> Result<CheckReport, Error> {
        let (report, runs, s) = self.run_all()?;
        let results = harness::check::check(&s, &report.strategies, &runs, 5);
        Ok(CheckReport { report, results })
    }
}

/// The strategy names a scenario text's `[[expect]]`s give, so a file may
/// hold expectations for strategies supplied in code. Only the parse that
/// validates the file reads them as names; a name of neither kind is caught
/// when the experiment runs (the file's own strategies and yours are known then).
fn expect_names(text: &str) -> Vec<&str> {
    let mut in_expect = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_expect = t == "[[expect]]";
        } else if let Some(v) = t.strip_prefix("strategy").map(str::trim_start).and_then(|r| r.strip_prefix('=')).filter(|_| in_expect) {
            names.push(v.trim().trim_matches('"'));
        }
    }
    names
}
