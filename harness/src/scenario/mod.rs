//! Scenario files: TOML in, a validated [`Scenario`] out, or one error that
//! names the file, line and column, the key, and what is allowed.
//!
//! Parsing happens in two steps. Serde reads the file into `Raw*` structs
//! whose values keep their source span (`toml::Spanned`); unknown keys and
//! wrong types fail here with toml's own position. Validation then converts
//! units, checks ranges and cross-references (a fault after the horizon, an
//! expectation naming an unknown strategy) and reports the span of the
//! offending value. Nothing in this module panics on any input.

mod build;
mod load;
mod raw;
mod schema;
pub(crate) mod strategies;

pub use crate::source::ScenarioError;
pub use load::{discover, load, parse};
pub use schema::json_schema;
pub(crate) use strategies::check_param;

use crate::strategy::StrategySpec;
use crate::units::RandomTime;
use sim::nat::NatConfig;
use sim::tcp::TcpConfig;
use sim::world::AccessLink;
use sim::Side;
use std::path::PathBuf;
use std::time::Duration;

/// Who a traffic stream or fault is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficKind {
    /// `size` from `from`, answered by `reply` bytes.
    Requests,
    /// One-way bulk data from the client.
    Upload,
    /// One-way bulk data from the server.
    Download,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Repeatedly, each gap drawn anew; the first one gap after the start.
    Every(RandomTime),
    /// Once.
    At(RandomTime),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    pub kind: TrafficKind,
    pub from: Side,
    pub schedule: Schedule,
    pub size: u64,
    pub reply: u64,
    /// Stop after this many messages.
    pub count: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Vanish,
    Reboot,
    Suspend,
    Outage,
    NatReboot,
    /// The application process dies; its kernel closes the socket (FIN).
    Crash,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Vanish => "vanish",
            FaultKind::Reboot => "reboot",
            FaultKind::Suspend => "suspend",
            FaultKind::Outage => "outage",
            FaultKind::NatReboot => "nat_reboot",
            FaultKind::Crash => "crash",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// The host (vanish, reboot, suspend), the host whose link (outage), or none (nat).
    pub side: Option<Side>,
    /// For a client: which one (`client:3`), or `None` for every client, each
    /// with its own draws (`client` with `[client] count` > 1).
    pub client: Option<u32>,
    /// The fault hits the proxy (`target = "proxy"`); `side` is then the server's
    /// (the role the proxy plays toward the clients).
    pub proxy: bool,
    /// When it happens: once at a (maybe random) time, or again and again.
    pub when: FaultWhen,
    pub duration: Option<RandomTime>,
}

/// When a fault happens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultWhen {
    /// Once (`at`).
    At(RandomTime),
    /// Repeatedly (`every`): each gap drawn anew, the first from time 0, the
    /// next from the end of the previous occurrence.
    Every(RandomTime),
}

/// Most occurrences a repeating fault may have in one run (a gap that small
/// is a typo, and each occurrence is an event of the run).
pub const MAX_OCCURRENCES: u64 = 100_000;

/// A metric an expectation can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    DetectionP50,
    DetectionP90,
    DetectionP99,
    DetectionMax,
    DetectionMean,
    Detected,
    Undetected,
    FalsePositives,
    FalsePositivesPerRun,
    FalsePositiveRate,
    NatExpiries,
    NatExpiriesPerRun,
    KeepalivePacketsPerHour,
    KeepaliveBytesPerHour,
}

impl Metric {
    pub const ALL: [(&'static str, Metric); 14] = [
        ("detection_p50", Metric::DetectionP50),
        ("detection_p90", Metric::DetectionP90),
        ("detection_p99", Metric::DetectionP99),
        ("detection_max", Metric::DetectionMax),
        ("detection_mean", Metric::DetectionMean),
        ("detected", Metric::Detected),
        ("undetected", Metric::Undetected),
        ("false_positives", Metric::FalsePositives),
        ("false_positives_per_run", Metric::FalsePositivesPerRun),
        ("false_positives_per_1000_conn_hours", Metric::FalsePositiveRate),
        ("nat_expiries", Metric::NatExpiries),
        ("nat_expiries_per_run", Metric::NatExpiriesPerRun),
        ("keepalive_packets_per_hour", Metric::KeepalivePacketsPerHour),
        ("keepalive_bytes_per_hour", Metric::KeepaliveBytesPerHour),
    ];

    pub fn name(self) -> &'static str {
        Metric::ALL.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }

    /// Metrics reported per side (the others are per strategy).
    pub fn per_side(self) -> bool {
        matches!(
            self,
            Metric::DetectionP50
                | Metric::DetectionP90
                | Metric::DetectionP99
                | Metric::DetectionMax
                | Metric::DetectionMean
                | Metric::Detected
                | Metric::Undetected
                | Metric::FalsePositives
                | Metric::FalsePositivesPerRun
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Le,
    Ge,
    Eq,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    pub strategy: String,
    pub side: Option<Side>,
    pub metric: Metric,
    pub op: Op,
    /// Seconds for durations, plain numbers otherwise.
    pub value: f64,
    /// Where it was written (for messages).
    pub line: usize,
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub horizon: Duration,
    pub seeds: u64,
    pub base_seed: u64,
    /// Client hosts (`[client] count`), each with its own access link and stack.
    pub clients: u32,
    /// Connections each client keeps to the server (`[client] connections`).
    pub connections: u32,
    /// `[client.app] idle_timeout`: the pool closes a connection idle this long.
    pub client_idle_timeout: Option<Duration>,
    /// `[server.app] idle_timeout`: the server closes a connection idle this long.
    pub server_idle_timeout: Option<Duration>,
    /// `[proxy]`: a TCP-terminating proxy between the NAT and the server.
    pub proxy: Option<sim::world::ProxyConfig>,
    pub client_link: AccessLink,
    pub server_link: AccessLink,
    pub nat: Option<NatConfig>,
    pub tcp: TcpConfig,
    pub traffic: Vec<Traffic>,
    pub faults: Vec<FaultSpec>,
    pub strategies: Vec<StrategySpec>,
    pub expects: Vec<Expect>,
    /// What loads but may not mean what was meant (e.g. a fault time drawn
    /// past the horizon in some seeds), each naming file, line and key.
    pub warnings: Vec<String>,
}
