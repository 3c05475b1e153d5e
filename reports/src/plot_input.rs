//! What the pictures are drawn from: the timeline marks of one run, a
//! fleet's activity, the latencies per strategy and the points of a tune
//! grid. The harness fills these in; `plot` draws them and `html` lays the
//! drawings out. Both read this module, and `plot` needs nothing of `html`.

/// What a timeline mark is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// A fault started (vanish, reboot, suspend, outage, …).
    Fault,
    /// The connection broke (ground truth).
    Broken,
    /// A NAT mapping expired.
    NatExpiry,
    /// A correct death declaration.
    Detection,
    /// A false positive.
    FalsePositive,
    /// The peer's decision reaching this side (ECONNRESET/EOF after it declared): not counted.
    PeerClosed,
}

impl MarkKind {
    /// Its legend entry.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MarkKind::Fault => "fault",
            MarkKind::Broken => "broken",
            MarkKind::NatExpiry => "NAT expiry",
            MarkKind::Detection => "detected",
            MarkKind::FalsePositive => "false positive",
            MarkKind::PeerClosed => "closed by the peer's decision",
        }
    }
}

/// Which row of the timeline a mark goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// What happened at the client: its host's faults, its declarations.
    Client,
    /// What happened between the ends: link outages, the NAT, the break itself.
    Network,
    /// What happened at the server.
    Server,
}

/// One event on a run's timeline picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// When, in simulated seconds since the start of the run.
    pub at_s: f64,
    /// A fault that lasts (outage, suspension, reboot, crash until restart):
    /// when it ended (the horizon if it had not). Drawn as a span.
    pub until_s: Option<f64>,
    /// The row it is drawn on.
    pub row: Row,
    /// What it is (its colour and legend entry).
    pub kind: MarkKind,
    /// Its text beside the mark (left out where labels would overprint).
    pub label: String,
}

/// One run, drawn.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RunTimeline {
    /// The run's seed (the page names it so the run can be replayed).
    pub seed: u64,
    /// The run's length in simulated seconds: the time axis's end.
    pub horizon_s: f64,
    /// Everything drawn, in time order.
    pub marks: Vec<Mark>,
    /// A fleet's run is drawn as one of its connections: which (from 0).
    pub connection: Option<u32>,
    /// A fleet's run: what happened to all its connections, over time.
    pub fleet: Option<FleetActivity>,
}

/// A fleet's run as a whole: how many of its connections broke, were
/// detected and were declared dead by mistake, per stretch of time (a
/// fleet's marks on one timeline would overprint into a band).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FleetActivity {
    /// Connections (slots) in the run.
    pub connections: u32,
    /// The width of each bin, simulated seconds; bin `i` starts at `i * bin_s`.
    pub bin_s: f64,
    /// Per bin: `[breaks, detections, false positives]`.
    pub bins: Vec<[u32; 3]>,
}

/// What the plots need beyond the report's figures.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StrategyPlots {
    /// Every detection latency (both sides), seconds.
    pub latencies_s: Vec<f64>,
    /// Sessions: the length of every restored unavailable period, seconds.
    pub restore_s: Vec<f64>,
    /// The representative run drawn for this strategy.
    pub timeline: RunTimeline,
    /// Why this run was drawn ("the first false positive", "the median detection, 33.6s").
    pub why: String,
    /// The command that replays it.
    pub replay: String,
}

/// What one scenario's plots need, per strategy.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ScenarioPlots {
    /// In the order of the report's strategies.
    pub strategies: Vec<StrategyPlots>,
}

/// One point of a `kasim tune` grid, for its plot.
#[derive(Clone, Debug, PartialEq)]
pub struct TunePoint {
    /// The point's parameter values, as the command line wrote them (`idle=330s`).
    pub label: String,
    /// Client p99 detection latency (none: nothing detected).
    pub p99_s: Option<f64>,
    /// Keepalive packets per connection-hour, both directions.
    pub packets_per_hour: f64,
    /// It met every `--require` bound.
    pub feasible: bool,
    /// No other point is at least as good on client p99 latency, false
    /// positives and packets and better on one (the Pareto frontier).
    pub pareto: bool,
    /// The point `tune` recommends: the feasible one with the least objective.
    pub recommended: bool,
}
