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
mod sessions;
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
    /// Requests from the client: one still unanswered this long after it
    /// was issued is *hung* (`timeout`; `None` = never).
    pub timeout: Option<Duration>,
}

/// When a client replaces a connection that ended (`[client.reconnect] mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReconnectMode {
    /// Never: a connection that ended is not replaced (v1).
    Off,
    /// As soon as the old one ended.
    Eager,
    /// With the next request.
    Lazy,
}

impl ReconnectMode {
    pub fn name(self) -> &'static str {
        match self {
            ReconnectMode::Off => "off",
            ReconnectMode::Eager => "eager",
            ReconnectMode::Lazy => "lazy",
        }
    }
}

/// `[client.reconnect]`: how a client replaces a connection that ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reconnect {
    pub mode: ReconnectMode,
    /// After `k` failed attempts in a row the next starts
    /// `min(initial_backoff * multiplier^(k-1), max_backoff)` after the last
    /// failure, scaled by a draw from `uniform(1 - jitter, 1 + jitter)`.
    pub initial_backoff: Duration,
    pub multiplier: f64,
    pub max_backoff: Duration,
    pub jitter: f64,
    /// An attempt not established by then is abandoned; `None` = the
    /// kernel's SYN retries decide (127 s with `syn_retries = 6`).
    pub connect_timeout: Option<Duration>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            mode: ReconnectMode::Off,
            initial_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(120),
            jitter: 0.0,
            connect_timeout: None,
        }
    }
}

impl Reconnect {
    /// The pause before the next attempt after `failures` failed attempts in
    /// a row (at least 1), before jitter.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exp);
        if secs.is_finite() && secs < self.max_backoff.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_backoff
        }
    }
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
    Requests,
    RequestsOk,
    RequestsFailed,
    RequestsHung,
    FailedRequestsPer1000,
    RequestP50,
    RequestP99,
    TimeToRestoreP50,
    TimeToRestoreP99,
    TimeToRestoreMax,
    Availability,
    ReconnectsPer1000ConnHours,
    IdleCloses,
}

impl Metric {
    pub const ALL: [(&'static str, Metric); 27] = [
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
        ("requests", Metric::Requests),
        ("requests_ok", Metric::RequestsOk),
        ("requests_failed", Metric::RequestsFailed),
        ("requests_hung", Metric::RequestsHung),
        ("failed_requests_per_1000", Metric::FailedRequestsPer1000),
        ("request_p50", Metric::RequestP50),
        ("request_p99", Metric::RequestP99),
        ("time_to_restore_p50", Metric::TimeToRestoreP50),
        ("time_to_restore_p99", Metric::TimeToRestoreP99),
        ("time_to_restore_max", Metric::TimeToRestoreMax),
        ("availability", Metric::Availability),
        ("reconnects_per_1000_conn_hours", Metric::ReconnectsPer1000ConnHours),
        ("idle_closes", Metric::IdleCloses),
    ];

    /// A session metric (v2): requests, restore times, availability, reconnects.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Metric::Requests
                | Metric::RequestsOk
                | Metric::RequestsFailed
                | Metric::RequestsHung
                | Metric::FailedRequestsPer1000
                | Metric::RequestP50
                | Metric::RequestP99
                | Metric::TimeToRestoreP50
                | Metric::TimeToRestoreP99
                | Metric::TimeToRestoreMax
                | Metric::Availability
                | Metric::ReconnectsPer1000ConnHours
        )
    }

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
    /// `[client.reconnect]`, if the file has the table.
    pub reconnect: Option<Reconnect>,
    /// `[server.app] backlog` / `accept_time`: the server's listen queue.
    pub accept: Option<sim::world::AcceptQueue>,
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

impl Scenario {
    /// Does this scenario measure sessions (request outcomes, time to
    /// restore, availability)? Those figures appear in its reports when it
    /// has a `[client.reconnect]` table, a request `timeout`, or an
    /// expectation on one of them; a v1 file has none, so its report keeps
    /// its bytes.
    pub fn sessions(&self) -> bool {
        self.reconnect.is_some() || self.traffic.iter().any(|t| t.timeout.is_some()) || self.expects.iter().any(|e| e.metric.is_session())
    }

    /// The reconnect policy in force (`off` without the table).
    pub fn reconnect_policy(&self) -> Reconnect {
        self.reconnect.unwrap_or_default()
    }
}
