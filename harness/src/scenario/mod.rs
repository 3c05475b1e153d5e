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
mod middlebox;
mod names;
mod os;
pub mod presets;
mod raw;
mod schema;
mod sessions;
pub(crate) mod strategies;

pub use crate::source::ScenarioError;
pub use load::{discover, load, parse, parse_with, read};
pub use schema::json_schema;
pub(crate) use strategies::check_param;

use crate::strategy::StrategySpec;
use crate::units::RandomTime;
use sim::nat::NatConfig;
use sim::proxy_config::ProxyConfig;
use sim::tcp::TcpConfig;
use sim::world::{AccessLink, Middlebox};
use sim::Side;
use std::path::PathBuf;
use std::time::Duration;

/// What a `[[traffic]]` stream carries (its `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrafficKind {
    /// `size` from `from`, answered by `reply` bytes.
    Requests,
    /// One-way bulk data from the client.
    Upload,
    /// One-way bulk data from the server.
    Download,
}

/// When a `[[traffic]]` stream sends: its `every` key (repeating) or its `at` key (once).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// Repeatedly, each gap drawn anew; the first one gap after the start.
    Every(RandomTime),
    /// Once.
    At(RandomTime),
}

/// One `[[traffic]]` table, validated: what is sent, by whom, when, and how big. Every stream
/// runs on every connection slot, each slot with its own draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    /// The table's `kind`: requests with replies, or one-way bulk data.
    pub kind: TrafficKind,
    /// Who sends (`from`): either side for requests; the client for uploads, the server for downloads.
    pub from: Side,
    /// When messages are sent: `every` counts its first gap from the slot's first
    /// connection being established, `at` from the start of the run (the sending
    /// host's simulated clock).
    pub schedule: Schedule,
    /// Bytes per message (`size`), at least 1.
    pub size: u64,
    /// Bytes of the answer to each request (`reply`); 0 for uploads, downloads and requests without a reply.
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
    /// The mode's name in scenario files (`off`, `eager`, `lazy`).
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
    /// `mode`: when a replacement connection is opened.
    pub mode: ReconnectMode,
    /// After `k` failed attempts in a row the next starts
    /// `min(initial_backoff * multiplier^(k-1), max_backoff)` after the last
    /// failure, scaled by a draw from `uniform(1 - jitter, 1 + jitter)`.
    pub initial_backoff: Duration,
    /// `multiplier`: growth of the pause per further failure in a row (1.0 to 100.0; default 2.0).
    pub multiplier: f64,
    /// `max_backoff`: the longest pause before jitter (default 2 minutes; at least `initial_backoff`).
    pub max_backoff: Duration,
    /// `jitter`: each pause is scaled by a draw from `uniform(1 - jitter, 1 + jitter)`; in [0, 1), default 0.
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

/// What a `[[fault]]` does (its `kind`); the simulator's [`sim::world::Fault`] has the Linux
/// behaviour of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `vanish`: the host powers off for good: silent, no FIN, no RST. Cannot repeat.
    Vanish,
    /// `reboot`: the host is silent for `duration`, then answers its old connections' segments with RST.
    Reboot,
    /// `suspend`: the host freezes for `duration` (no packets, no timers), then resumes with its state.
    Suspend,
    /// `outage`: the host's access link passes nothing, both ways, for `duration`.
    Outage,
    /// `nat_reboot`: the NAT forgets every mapping (needs a `[nat]` section).
    NatReboot,
    /// The application process dies; its kernel closes the socket (FIN).
    Crash,
}

impl FaultKind {
    /// The kind's name in scenario files and errors (`vanish`, …, `nat_reboot`, `crash`).
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

/// One `[[fault]]` table, validated: which kind, which host or link, when and for how long.
/// Times stay random here; each seed draws them when the run is built.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    /// `kind`: what happens.
    pub kind: FaultKind,
    /// The host (vanish, reboot, suspend), the host whose link (outage), or none (nat).
    pub side: Option<Side>,
    /// For a client: which one (`client:3`), or `None` for every client, each
    /// with its own draws (`client` with `[client] count` > 1).
    pub client: Option<u32>,
    /// The fault hits the proxy (`target = "proxy"`); `side` is then the server's
    /// (the role the proxy plays toward the clients).
    pub proxy: bool,
    /// The box it hits, by its position on the path from the clients
    /// (`middlebox:N`; a `[nat]` is box 0): a nat_reboot's NAT, or the proxy.
    pub middlebox: Option<u8>,
    /// When it happens: once at a (maybe random) time, or again and again.
    pub when: FaultWhen,
    /// `duration` (a fixed or random time, drawn anew for each occurrence): required for reboot,
    /// suspend and outage; for a crash, the supervisor's restart delay (`None`: the process stays
    /// dead); `None` for vanish and nat_reboot.
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
    /// `detection_p50`: median detection latency of one side (break to declaration), seconds.
    DetectionP50,
    /// `detection_p90`: 90th percentile detection latency of one side, seconds.
    DetectionP90,
    /// `detection_p99`: 99th percentile detection latency of one side, seconds.
    DetectionP99,
    /// `detection_max`: the longest detection latency of one side, seconds.
    DetectionMax,
    /// `detection_mean`: mean detection latency of one side, seconds.
    DetectionMean,
    /// `detected`: broken connections one side declared dead, over all runs.
    Detected,
    /// `undetected`: broken connections one side never declared dead, over all runs.
    Undetected,
    /// `false_positives`: one side's declarations about connections that were not broken, over all runs.
    FalsePositives,
    /// `false_positives_per_run`: one side's false positives divided by the runs (holds at any `--seeds`).
    FalsePositivesPerRun,
    /// `false_positives_per_1000_conn_hours`: both sides' false positives per 1000 healthy connection-hours.
    FalsePositiveRate,
    /// `nat_expiries`: NAT mappings lost to idleness while a connection was held, over all runs.
    NatExpiries,
    /// `nat_expiries_per_run`: those divided by the runs.
    NatExpiriesPerRun,
    /// `keepalive_packets_per_hour`: keepalive packets (both directions) per connection-hour.
    KeepalivePacketsPerHour,
    /// `keepalive_bytes_per_hour`: their IP bytes per connection-hour.
    KeepaliveBytesPerHour,
    /// `requests`: client requests counted (ok + failed + hung), over all runs.
    Requests,
    /// `requests_ok`: requests whose whole reply arrived within their `timeout`.
    RequestsOk,
    /// `requests_failed`: requests whose connection ended before the reply (or that found none, mode off).
    RequestsFailed,
    /// `requests_hung`: requests unanswered after their `timeout`, or by the horizon on an open connection.
    RequestsHung,
    /// `failed_requests_per_1000`: failed requests per 1000 counted ones.
    FailedRequestsPer1000,
    /// `request_p50`: median latency of the ok requests (issue to whole reply), seconds.
    RequestP50,
    /// `request_p99`: 99th percentile latency of the ok requests, seconds.
    RequestP99,
    /// `time_to_restore_p50`: median length of a slot's unavailable periods that ended before the horizon, seconds.
    TimeToRestoreP50,
    /// `time_to_restore_p99`: 99th percentile of those lengths, seconds.
    TimeToRestoreP99,
    /// `time_to_restore_max`: the longest of them, seconds.
    TimeToRestoreMax,
    /// `availability`: 1 − unavailable slot-time / total slot-time, over all runs (0 to 1).
    Availability,
    /// `reconnects_per_1000_conn_hours`: connections opened after a slot's first, per 1000 working slot-hours.
    ReconnectsPer1000ConnHours,
    /// `idle_closes`: QUIC connections quinn's idle timeout ended while they were not broken (an
    /// orderly end); only `quic` strategies have a value.
    IdleCloses,
}

impl Metric {
    /// Every metric with its name in `[[expect]] metric`, `--require` and `--minimize`, in
    /// the order error messages list them.
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

    /// The metric's name in scenario files and on the command line (`detection_p99`, …).
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

/// How an expectation compares the observed value with its bound: the key that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `le`: observed ≤ bound (with 1e-9 of slack).
    Le,
    /// `ge`: observed ≥ bound (with 1e-9 of slack).
    Ge,
    /// `eq`: observed = bound, within 1e-9 (relative, for bounds above 1).
    Eq,
}

impl Op {
    /// The operator as printed in verdicts and JUnit names (`<=`, `>=`, `==`).
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }
}

/// One `[[expect]]` table, validated: a bound on one metric of one strategy, evaluated by
/// `kasim check`, `kasim merge --check` and the tests.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// `strategy`: the name of one of the scenario's strategies.
    pub strategy: String,
    /// `side`: present exactly when the metric is per side ([`Metric::per_side`]).
    pub side: Option<Side>,
    /// `metric`: what is bounded.
    pub metric: Metric,
    /// Which of `le`, `ge`, `eq` was given (exactly one is).
    pub op: Op,
    /// Seconds for durations, plain numbers otherwise.
    pub value: f64,
    /// `confidence` (v3): judge the interval at this level (0 < c < 1)
    /// instead of the figure: pass, fail or inconclusive.
    pub confidence: Option<f64>,
    /// Where it was written (for messages).
    pub line: usize,
}

/// A validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it was read from (for messages and replay commands).
    pub path: PathBuf,
    /// `name`: unique in a run; printable text, trimmed.
    pub name: String,
    /// `description`: what the scenario teaches, trimmed (may be empty).
    pub description: String,
    /// `horizon`: simulated time per run, more than zero and at most 365 days.
    pub horizon: Duration,
    /// `seeds`: runs per strategy (1 to 1 000 000; default 1); `--seeds` overrides it.
    pub seeds: u64,
    /// `base_seed`: seed `i` of a run is `base_seed + i` (default 0).
    pub base_seed: u64,
    /// Client hosts (`[client] count`), each with its own access link and stack.
    pub clients: u32,
    /// Connections each client keeps to the server (`[client] connections`).
    pub connections: u32,
    /// `[client.app] idle_timeout`: the pool closes a connection idle this long.
    pub client_idle_timeout: Option<Duration>,
    /// `[server.app] idle_timeout`: the server closes a connection idle this long.
    pub server_idle_timeout: Option<Duration>,
    /// `[client.reconnect]`, if the file has the table.
    pub reconnect: Option<Reconnect>,
    /// `[server.app] backlog` / `accept_time`: the server's listen queue.
    pub accept: Option<sim::world::AcceptQueue>,
    /// `[client.link]`: each client host's access link (both directions).
    pub client_link: AccessLink,
    /// `[server.link]`: the server's access link (both directions).
    pub server_link: AccessLink,
    /// The boxes between the clients and the server, from the clients: a
    /// `[[middlebox]]` chain, or `[nat]` then `[proxy]`.
    pub middleboxes: Vec<Middlebox>,
    /// The file wrote `[[middlebox]]` (boxes are then named `middlebox:N`),
    /// not `[nat]`/`[proxy]`.
    pub chained: bool,
    /// `[tcp]`: the Linux sysctls of every host's stack (defaults where the file says nothing).
    pub tcp: TcpConfig,
    /// `[client] os`: the client hosts' stack where it is not Linux's (`None`: Linux).
    pub client_os: Option<sim::tcp::Os>,
    /// `[server] os`: the server's.
    pub server_os: Option<sim::tcp::Os>,
    /// `[[traffic]]`, in file order.
    pub traffic: Vec<Traffic>,
    /// `[[fault]]`, in file order; times not yet drawn.
    pub faults: Vec<FaultSpec>,
    /// `[[strategy]]`, in file order; names unique.
    pub strategies: Vec<StrategySpec>,
    /// `[[expect]]`, in file order.
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

    /// The NAT-like boxes of the path, from the clients, each with its
    /// position on the path ([`box_name`](Self::box_name) names it).
    pub fn nats(&self) -> impl Iterator<Item = (usize, &NatConfig)> {
        self.middleboxes.iter().enumerate().filter_map(|(k, m)| match m {
            Middlebox::Nat(n) => Some((k, n)),
            Middlebox::Proxy(_) => None,
        })
    }

    /// The proxy's position on the path, if it has one.
    pub fn proxy_position(&self) -> Option<usize> {
        self.middleboxes.iter().position(|m| matches!(m, Middlebox::Proxy(_)))
    }

    /// The first NAT from the clients, if the path has one.
    pub fn nat(&self) -> Option<&NatConfig> {
        self.nats().next().map(|(_, n)| n)
    }

    /// The path's TCP-terminating proxy, if it has one.
    pub fn proxy(&self) -> Option<ProxyConfig> {
        match self.middleboxes.get(self.proxy_position()?) {
            Some(Middlebox::Proxy(p)) => Some(*p),
            _ => None,
        }
    }

    /// How files, faults and replays name box `k` of the path: `nat` and
    /// `proxy` without a chain, `middlebox:k` in one.
    pub fn box_name(&self, k: usize) -> String {
        match (&self.middleboxes[k], self.chained) {
            (_, true) => format!("middlebox:{k}"),
            (Middlebox::Nat(_), false) => "nat".into(),
            (Middlebox::Proxy(_), false) => "proxy".into(),
        }
    }
}
