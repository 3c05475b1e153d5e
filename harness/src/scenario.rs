//! Scenario files: TOML in, a validated [`Scenario`] out, or one error that
//! names the file, line and column, the key, and what is allowed.
//!
//! Parsing happens in two steps. Serde reads the file into `Raw*` structs
//! whose values keep their source span (`toml::Spanned`); unknown keys and
//! wrong types fail here with toml's own position. Validation then converts
//! units, checks ranges and cross-references (a fault after the horizon, an
//! expectation naming an unknown strategy) and reports the span of the
//! offending value. Nothing in this module panics on any input.

use crate::strategy::{self, StrategySpec};
use crate::units::{self, RandomTime, UnitError};
use schemars::JsonSchema;
use serde::Deserialize;
use sim::nat::{NatConfig, OnExpired};
use sim::tcp::TcpConfig;
use sim::timer::TimerModel;
use sim::world::AccessLink;
use sim::Side;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A bad scenario: where, which key, what is wrong, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

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
    pub at: RandomTime,
    pub duration: Option<RandomTime>,
}

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
}

// ----- raw form ------------------------------------------------------------------

type S<T> = Spanned<T>;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "kasim scenario", description = "A kasim scenario file (CONTRACT.md v1 plus additions).")]
struct RawScenario {
    /// Unique in a run.
    #[schemars(with = "String")]
    name: S<String>,
    /// What the scenario teaches.
    #[serde(default)]
    description: String,
    /// Simulated time per run, e.g. "3d".
    #[schemars(schema_with = "duration_schema")]
    horizon: S<String>,
    /// Runs per strategy (default 1); seed i = base_seed + i.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000000))]
    seeds: Option<S<i64>>,
    #[serde(default)]
    base_seed: u64,
    client: Option<RawClient>,
    server: Option<RawHost>,
    nat: Option<RawNat>,
    proxy: Option<RawProxy>,
    tcp: Option<RawTcp>,
    #[serde(default)]
    traffic: Vec<RawTraffic>,
    #[serde(default)]
    fault: Vec<RawFault>,
    /// One or more strategies to compare.
    #[serde(default)]
    #[schemars(schema_with = "crate::strategy::strategies_schema")]
    strategy: Vec<BTreeMap<String, S<toml::Value>>>,
    #[serde(default)]
    expect: Vec<RawExpect>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawHost {
    link: Option<RawLink>,
    app: Option<RawApp>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawApp {
    /// Server: close (FIN) a connection this long after the application last read or wrote
    /// data (nginx keepalive_timeout 75s, node keepAliveTimeout 5s). Client: close a pooled
    /// connection with no request outstanding for this long (pool max-idle). "0s" = never.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    idle_timeout: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawClient {
    /// Client hosts (default 1), each with its own access link ([client.link]) and TCP stack, all behind the one NAT.
    #[schemars(with = "Option<u32>", range(min = 1, max = 100000))]
    count: Option<S<i64>>,
    /// Connections each client host keeps to the server: a pool (default 1).
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000))]
    connections: Option<S<i64>>,
    link: Option<RawLink>,
    app: Option<RawApp>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLink {
    /// Rate host -> network, e.g. "56kbit/s" (default 1Gbit/s).
    #[serde(default)]
    #[schemars(schema_with = "opt_rate_schema")]
    up: Option<S<String>>,
    /// Rate network -> host.
    #[serde(default)]
    #[schemars(schema_with = "opt_rate_schema")]
    down: Option<S<String>>,
    /// One-way propagation delay.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    delay: Option<S<String>>,
    /// FIFO limit per direction (default 4MiB).
    #[serde(default)]
    #[schemars(schema_with = "opt_size_schema")]
    queue: Option<S<String>>,
    /// Random loss probability per packet.
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 0.999999))]
    loss: Option<S<f64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawNat {
    /// Idle timeout of an established flow.
    #[schemars(schema_with = "duration_schema")]
    idle_timeout: S<String>,
    /// What the flow's next packet meets once the mapping is gone.
    #[schemars(schema_with = "on_expired_schema")]
    on_expired: S<String>,
    /// Idle timeout during the handshake and after FIN/RST (default 4m).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    transitory_timeout: Option<S<String>>,
    /// Whether packets from outside refresh the mapping (default true).
    refresh_on_inbound: Option<bool>,
}

/// A TCP-terminating proxy (a load balancer) between the NAT and the server's link.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    /// A client connection with no data either way for this long is closed (AWS ALB: 60s); "0s" = never (default).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    idle_timeout: Option<S<String>>,
    /// How: "fin" (default), "rst", or "silent" (forget both legs; the next segment meets a RST).
    #[serde(default)]
    #[schemars(schema_with = "on_idle_schema")]
    on_idle: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTcp {
    /// net.ipv4.tcp_retries2 (default 15).
    #[schemars(with = "Option<u8>")]
    retries2: Option<S<i64>>,
    /// net.ipv4.tcp_syn_retries (default 6).
    #[schemars(with = "Option<u8>", range(min = 1, max = 127))]
    syn_retries: Option<S<i64>>,
    /// net.ipv4.tcp_synack_retries (default 5).
    #[schemars(with = "Option<u8>")]
    synack_retries: Option<S<i64>>,
    /// "linux" (HZ 250 timer wheel, default) or "exact".
    #[serde(default)]
    #[schemars(schema_with = "timers_schema")]
    timers: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    #[schemars(schema_with = "traffic_kind_schema")]
    kind: S<String>,
    /// requests only: "client" or "server".
    #[serde(default)]
    #[schemars(schema_with = "opt_side_schema")]
    from: Option<S<String>>,
    /// Gap between messages (fixed, "exp(MEAN)" or "uniform(A, B)").
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    every: Option<S<String>>,
    /// Once, at this time.
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    at: Option<S<String>>,
    #[schemars(schema_with = "size_schema")]
    size: S<String>,
    /// requests only: the reply's size.
    #[serde(default)]
    #[schemars(schema_with = "opt_size_schema")]
    reply: Option<S<String>>,
    /// Stop after this many messages.
    #[schemars(with = "Option<u64>", range(min = 1))]
    count: Option<S<i64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFault {
    #[schemars(schema_with = "fault_kind_schema")]
    kind: S<String>,
    /// client | client:N | server (vanish, reboot, suspend, crash); client.link | client:N.link | server.link (outage); nat (nat_reboot). With [client] count > 1, "client" means every client, each with its own draws.
    #[schemars(schema_with = "fault_target_schema")]
    target: S<String>,
    #[schemars(schema_with = "time_schema")]
    at: S<String>,
    /// reboot, suspend and outage only.
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    duration: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    /// A strategy name of this scenario.
    #[schemars(with = "String")]
    strategy: S<String>,
    /// For per-side metrics.
    #[serde(default)]
    #[schemars(schema_with = "opt_side_schema")]
    side: Option<S<String>>,
    #[schemars(schema_with = "metric_schema")]
    metric: S<String>,
    #[serde(default)]
    #[schemars(schema_with = "bound_schema")]
    le: Option<S<toml::Value>>,
    #[serde(default)]
    #[schemars(schema_with = "bound_schema")]
    ge: Option<S<toml::Value>>,
    #[serde(default)]
    #[schemars(schema_with = "bound_schema")]
    eq: Option<S<toml::Value>>,
}

// ----- JSON Schema pieces (for editors; `kasim schema`) ---------------------------

use schemars::{json_schema, Schema, SchemaGenerator};

pub(crate) const DURATION_PATTERN: &str = r"^\s*[0-9][0-9a-zA-Z. ]*$";
const TIME_PATTERN: &str = r"^\s*([0-9][0-9a-zA-Z. ]*|exp\(.+\)|uniform\(.+,.+\))\s*$";

pub(crate) fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": DURATION_PATTERN, "examples": ["250ms", "75s", "20m", "2h", "3d"] })
}
fn opt_duration_schema(g: &mut SchemaGenerator) -> Schema {
    duration_schema(g)
}
fn time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": TIME_PATTERN, "examples": ["26h", "exp(6h)", "uniform(30h, 60h)"] })
}
fn opt_time_schema(g: &mut SchemaGenerator) -> Schema {
    time_schema(g)
}
pub(crate) fn size_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": r"^\s*[0-9.]+\s*(B|KB|kB|MB|GB|KiB|MiB|GiB)\s*$", "examples": ["200B", "64KiB", "5MB"] })
}
fn opt_size_schema(g: &mut SchemaGenerator) -> Schema {
    size_schema(g)
}
fn opt_rate_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": r"^\s*[0-9.]+\s*(bit/s|kbit/s|Mbit/s|Gbit/s|bps|kbps|Mbps|Gbps)\s*$", "examples": ["56kbit/s", "1Mbit/s"] })
}
fn on_expired_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["drop", "rst", "new_port", "loose"] })
}
fn on_idle_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["fin", "rst", "silent"] })
}
fn timers_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["linux", "exact"] })
}
fn traffic_kind_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["requests", "upload", "download"] })
}
fn opt_side_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["client", "server"] })
}
fn fault_kind_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["vanish", "reboot", "suspend", "outage", "nat_reboot", "crash"] })
}
fn fault_target_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": r"^(client(:[0-9]+)?(\.link)?|server(\.link)?|nat|proxy)$", "examples": ["client", "client:3.link", "server", "server.link", "nat", "proxy"] })
}
fn metric_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Metric::ALL.iter().map(|(n, _)| *n).collect();
    json_schema!({ "enum": names })
}
fn bound_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["number", "string"], "description": "a number, or a duration (compared in seconds)" })
}

/// The JSON Schema of the scenario format.
pub fn json_schema() -> Schema {
    schemars::schema_for!(RawScenario)
}

// ----- loading --------------------------------------------------------------------

/// Turns byte spans into errors with line and column.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub src: &'a str,
}

impl Ctx<'_> {
    pub fn position(&self, span: Range<usize>) -> (usize, usize) {
        let start = span.start.min(self.src.len());
        let before = &self.src[..start];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(start, |i| start - i - 1) + 1;
        (line, col)
    }

    pub fn error(&self, span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError { file: self.file.to_path_buf(), position: span.map(|s| self.position(s)), key: key.into(), message: message.into() }
    }

    fn unit<T>(&self, v: &S<String>, key: &str, parse: impl Fn(&str) -> Result<T, UnitError>) -> Result<T, ScenarioError> {
        parse(v.get_ref()).map_err(|e| self.error(Some(v.span()), key, e.to_string()))
    }
}

/// The longest run: a year of simulated time. A connection kept alive by a
/// 1 s heartbeat is ~3 s of CPU per run at this length; beyond it a typo
/// ("999999999d") would run for ever and overflow the nanosecond clock.
const MAX_HORIZON: Duration = Duration::from_secs(365 * 86_400);

/// The shortest repeating traffic gap (fixed, mean or upper end).
const MIN_TRAFFIC_GAP: Duration = Duration::from_millis(1);

/// Read and validate one scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let src = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        position: None,
        key: String::new(),
        message: format!("cannot read the file: {e}"),
    })?;
    parse(path, &src)
}

/// Validate a scenario given as text (`path` is used in messages).
pub fn parse(path: &Path, src: &str) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx { file: path, src };
    let raw: RawScenario = toml::from_str(src).map_err(|e| {
        let message = e.message().trim().replace('\n', " ");
        let key = e.span().map(|span| key_at(src, span.start)).unwrap_or_default();
        ctx.error(e.span(), key, message)
    })?;
    build(&ctx, raw)
}

/// The key a byte offset of a scenario file belongs to, as the errors name
/// keys (`strategy[1].interval`, `client.link.up`, `expect[0]`): the TOML
/// parser's own errors (a missing field, an unknown one, a wrong type) carry
/// a position but no key.
fn key_at(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| -> Option<(String, bool)> {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            Some((name.trim().to_string(), true))
        } else {
            l.strip_prefix('[').and_then(|r| r.split(']').next()).map(|name| (name.trim().to_string(), false))
        }
    };
    // The table this line is in (or is): the nearest header at or above it,
    // with its index when it is an array of tables.
    let mut table = String::new();
    let above: Vec<&str> = src[..line_start].lines().chain(std::iter::once(line)).collect();
    if let Some(pos) = above.iter().rposition(|l| header(l).is_some()) {
        if let Some((name, array)) = header(above[pos]) {
            table = if array {
                let index = above[..pos].iter().filter(|l| header(l).is_some_and(|(n, a)| a && n == name)).count();
                format!("{name}[{index}]")
            } else {
                name
            };
        }
    }
    if header(line).is_some() {
        return table;
    }
    // Only a `key = value` line names a key; a line of a multi-line string
    // ("a = b" in prose) does not.
    let bare = |l: &str| -> Option<String> {
        let key = l.split_once('=')?.0.trim().trim_matches('"');
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))).then(|| key.to_string())
    };
    // Inside a multi-line string (an odd number of `"""` before the error),
    // the key is the one that opened it: the last `key = """` above.
    let opened = || {
        let upto = &src[..offset];
        let at = upto.rfind("\"\"\"").filter(|_| upto.matches("\"\"\"").count() % 2 == 1)?;
        let line_start = upto[..at].rfind('\n').map_or(0, |i| i + 1);
        bare(&upto[line_start..at])
    };
    // Else the line is itself the problem (prose where a key should be): name
    // its first word, which is what the parser took for a key.
    let first_word = || line.split(|c: char| c.is_whitespace() || c == '=').next().filter(|w| !w.is_empty()).map(str::to_string);
    let key = bare(line).or_else(opened).or_else(first_word).unwrap_or_default();
    let key = key.as_str();
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key.to_string(),
        (false, false) => format!("{table}.{key}"),
    }
}

fn side_of(ctx: &Ctx, v: &S<String>, key: &str) -> Result<Side, ScenarioError> {
    match v.get_ref().as_str() {
        "client" => Ok(Side::Client),
        "server" => Ok(Side::Server),
        other => Err(ctx.error(Some(v.span()), key, format!("\"{other}\" is not a side; allowed: \"client\", \"server\""))),
    }
}

fn build(ctx: &Ctx, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(ctx.error(Some(raw.name.span()), "name", "must not be empty"));
    }
    let horizon = ctx.unit(&raw.horizon, "horizon", units::parse_duration)?;
    if horizon.is_zero() {
        return Err(ctx.error(Some(raw.horizon.span()), "horizon", "must be greater than zero"));
    }
    if horizon > MAX_HORIZON {
        return Err(ctx.error(Some(raw.horizon.span()), "horizon", "is longer than a year; allowed: up to 365d"));
    }
    let seeds = match &raw.seeds {
        None => 1,
        Some(s) if *s.get_ref() >= 1 && *s.get_ref() <= 1_000_000 => *s.get_ref() as u64,
        Some(s) => return Err(ctx.error(Some(s.span()), "seeds", format!("{} is out of range; allowed: 1..=1000000", s.get_ref()))),
    };
    let count = |v: &Option<S<i64>>, key: &str, max: u32| match v {
        None => Ok(1),
        Some(n) if (1..=i64::from(max)).contains(n.get_ref()) => Ok(*n.get_ref() as u32),
        Some(n) => Err(ctx.error(Some(n.span()), key, format!("{} is out of range; allowed: 1..={max}", n.get_ref()))),
    };
    let (clients, connections) = match &raw.client {
        None => (1, 1),
        Some(c) => {
            let pair = (
                count(&c.count, "client.count", sim::world::MAX_CLIENTS)?,
                count(&c.connections, "client.connections", sim::world::MAX_CONNECTIONS_PER_CLIENT)?,
            );
            if pair.0 * pair.1 > sim::world::MAX_SLOTS {
                let span = c.connections.as_ref().or(c.count.as_ref()).map(|v| v.span());
                return Err(ctx.error(
                    span,
                    "client.connections",
                    format!(
                        "{} clients x {} connections = {} connections; allowed: at most {} in all (the NAT's ports)",
                        pair.0,
                        pair.1,
                        pair.0 * pair.1,
                        sim::world::MAX_SLOTS
                    ),
                ));
            }
            pair
        }
    };
    let idle = |app: Option<&RawApp>, key: &str| -> Result<Option<Duration>, ScenarioError> {
        let Some(v) = app.and_then(|a| a.idle_timeout.as_ref()) else { return Ok(None) };
        let d = ctx.unit(v, key, units::parse_duration)?;
        if !d.is_zero() && d < Duration::from_millis(1) {
            return Err(ctx.error(Some(v.span()), key, "is under a millisecond; allowed: \"0s\" (never) or at least \"1ms\""));
        }
        Ok(Some(d).filter(|d| !d.is_zero()))
    };
    let client_idle_timeout = idle(raw.client.as_ref().and_then(|c| c.app.as_ref()), "client.app.idle_timeout")?;
    let server_idle_timeout = idle(raw.server.as_ref().and_then(|c| c.app.as_ref()), "server.app.idle_timeout")?;
    let client_link = access_link(ctx, raw.client.and_then(|h| h.link), "client.link")?;
    let server_link = access_link(ctx, raw.server.and_then(|h| h.link), "server.link")?;
    let nat = raw.nat.map(|n| nat(ctx, n)).transpose()?;
    let proxy = raw.proxy.map(|p| proxy(ctx, p)).transpose()?;
    let tcp = tcp(ctx, raw.tcp)?;
    let traffic = raw.traffic.iter().enumerate().map(|(i, t)| traffic(ctx, i, t, horizon)).collect::<Result<Vec<_>, _>>()?;
    let faults = raw
        .fault
        .iter()
        .enumerate()
        .map(|(i, f)| fault(ctx, i, f, horizon, nat.is_some(), proxy.is_some(), clients))
        .collect::<Result<Vec<_>, _>>()?;
    if raw.strategy.is_empty() {
        return Err(ctx.error(None, "strategy", "at least one [[strategy]] is required"));
    }
    let mut strategies: Vec<StrategySpec> = Vec::new();
    for (i, table) in raw.strategy.iter().enumerate() {
        let spec = strategy::parse_spec(ctx, i, table)?;
        if strategies.iter().any(|s| s.name == spec.name) {
            let span = table.get("name").map(|v| v.span());
            return Err(ctx.error(
                span,
                format!("strategy[{i}].name"),
                format!("\"{}\" is used twice; strategy names must be unique", spec.name),
            ));
        }
        strategies.push(spec);
    }
    let expects = raw.expect.iter().enumerate().map(|(i, e)| expect(ctx, i, e, &strategies)).collect::<Result<Vec<_>, _>>()?;
    Ok(Scenario {
        path: ctx.file.to_path_buf(),
        name,
        description: raw.description.trim().to_string(),
        horizon,
        seeds,
        base_seed: raw.base_seed,
        clients,
        connections,
        client_idle_timeout,
        server_idle_timeout,
        proxy,
        client_link,
        server_link,
        nat,
        tcp,
        traffic,
        faults,
        strategies,
        expects,
    })
}

fn access_link(ctx: &Ctx, raw: Option<RawLink>, prefix: &str) -> Result<AccessLink, ScenarioError> {
    let mut link = AccessLink::default();
    let Some(raw) = raw else { return Ok(link) };
    let rate = |v: &Option<S<String>>, key: &str| -> Result<Option<u64>, ScenarioError> {
        let Some(v) = v else { return Ok(None) };
        let r = ctx.unit(v, key, units::parse_rate)?;
        if r == 0 {
            return Err(ctx.error(Some(v.span()), key, "a link rate must be greater than zero"));
        }
        Ok(Some(r))
    };
    if let Some(r) = rate(&raw.up, &format!("{prefix}.up"))? {
        link.up.rate_bps = r;
    }
    if let Some(r) = rate(&raw.down, &format!("{prefix}.down"))? {
        link.down.rate_bps = r;
    }
    if let Some(d) = &raw.delay {
        let d = ctx.unit(d, &format!("{prefix}.delay"), units::parse_duration)?;
        link.up.delay = d;
        link.down.delay = d;
    }
    if let Some(q) = &raw.queue {
        let key = format!("{prefix}.queue");
        let bytes = ctx.unit(q, &key, units::parse_size)?;
        if bytes < 1600 {
            return Err(ctx.error(Some(q.span()), key, "must hold at least one full packet; allowed: \"1600B\" or more"));
        }
        link.up.queue_bytes = bytes;
        link.down.queue_bytes = bytes;
    }
    if let Some(l) = &raw.loss {
        let p = *l.get_ref();
        if !(0.0..1.0).contains(&p) {
            return Err(ctx.error(
                Some(l.span()),
                format!("{prefix}.loss"),
                format!("{p} is out of range; allowed: a probability in [0, 1)"),
            ));
        }
        link.up.loss = p;
        link.down.loss = p;
    }
    Ok(link)
}

fn proxy(ctx: &Ctx, raw: RawProxy) -> Result<sim::world::ProxyConfig, ScenarioError> {
    use sim::world::OnIdle;
    let idle_timeout = match &raw.idle_timeout {
        None => None,
        Some(v) => Some(ctx.unit(v, "proxy.idle_timeout", units::parse_duration)?).filter(|d| !d.is_zero()),
    };
    let on_idle = match &raw.on_idle {
        None => OnIdle::Fin,
        Some(v) => *OnIdle::ALL.iter().find(|o| o.name() == v.get_ref()).ok_or_else(|| {
            ctx.error(
                Some(v.span()),
                "proxy.on_idle",
                format!("\"{}\" is not a proxy idle behaviour; allowed: \"fin\", \"rst\", \"silent\"", v.get_ref()),
            )
        })?,
    };
    Ok(sim::world::ProxyConfig { idle_timeout, on_idle })
}

fn nat(ctx: &Ctx, raw: RawNat) -> Result<NatConfig, ScenarioError> {
    let idle = ctx.unit(&raw.idle_timeout, "nat.idle_timeout", units::parse_duration)?;
    if idle.is_zero() {
        return Err(ctx.error(Some(raw.idle_timeout.span()), "nat.idle_timeout", "must be greater than zero"));
    }
    let on = match raw.on_expired.get_ref().as_str() {
        "drop" => OnExpired::Drop,
        "rst" => OnExpired::Rst,
        "new_port" => OnExpired::NewPort,
        "loose" => OnExpired::Loose,
        other => {
            return Err(ctx.error(
                Some(raw.on_expired.span()),
                "nat.on_expired",
                format!("\"{other}\" is not a NAT behaviour; allowed: \"drop\", \"rst\", \"new_port\", \"loose\""),
            ))
        }
    };
    let mut cfg = NatConfig::new(idle, on);
    if let Some(t) = &raw.transitory_timeout {
        cfg.transitory_timeout = ctx.unit(t, "nat.transitory_timeout", units::parse_duration)?;
        if cfg.transitory_timeout.is_zero() {
            return Err(ctx.error(Some(t.span()), "nat.transitory_timeout", "must be greater than zero"));
        }
    }
    if let Some(r) = raw.refresh_on_inbound {
        cfg.refresh_on_inbound = r;
    }
    Ok(cfg)
}

fn tcp(ctx: &Ctx, raw: Option<RawTcp>) -> Result<TcpConfig, ScenarioError> {
    let mut cfg = TcpConfig::default();
    let Some(raw) = raw else { return Ok(cfg) };
    if let Some(r) = &raw.retries2 {
        if !(0..=255).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.retries2", format!("{} is out of range; allowed: 0..=255", r.get_ref())));
        }
        cfg.retries2 = *r.get_ref() as u32;
    }
    if let Some(r) = &raw.syn_retries {
        if !(1..=127).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.syn_retries", format!("{} is out of range; allowed: 1..=127", r.get_ref())));
        }
        cfg.syn_retries = *r.get_ref() as u32;
    }
    if let Some(r) = &raw.synack_retries {
        if !(0..=255).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.synack_retries", format!("{} is out of range; allowed: 0..=255", r.get_ref())));
        }
        cfg.synack_retries = *r.get_ref() as u32;
    }
    if let Some(t) = &raw.timers {
        cfg.timers = match t.get_ref().as_str() {
            "linux" => TimerModel::default(),
            "exact" => TimerModel::Exact,
            other => {
                return Err(ctx.error(
                    Some(t.span()),
                    "tcp.timers",
                    format!("\"{other}\" is not a timer model; allowed: \"linux\", \"exact\""),
                ))
            }
        };
    }
    Ok(cfg)
}

fn traffic(ctx: &Ctx, i: usize, raw: &RawTraffic, horizon: Duration) -> Result<Traffic, ScenarioError> {
    let key = |k: &str| format!("traffic[{i}].{k}");
    let kind = match raw.kind.get_ref().as_str() {
        "requests" => TrafficKind::Requests,
        "upload" => TrafficKind::Upload,
        "download" => TrafficKind::Download,
        other => {
            return Err(ctx.error(
                Some(raw.kind.span()),
                key("kind"),
                format!("\"{other}\" is not a traffic kind; allowed: \"requests\", \"upload\", \"download\""),
            ))
        }
    };
    let from = match (&raw.from, kind) {
        (Some(f), TrafficKind::Requests) => side_of(ctx, f, &key("from"))?,
        (Some(f), _) => {
            return Err(ctx.error(
                Some(f.span()),
                key("from"),
                "only `requests` takes `from`; uploads go client -> server, downloads server -> client",
            ))
        }
        (None, TrafficKind::Download) => Side::Server,
        (None, _) => Side::Client,
    };
    let schedule = match (&raw.every, &raw.at) {
        (Some(e), None) => {
            let t = ctx.unit(e, &key("every"), RandomTime::parse)?;
            // The typical gap (the value, the mean, the upper end) must be at
            // least a millisecond: "1ns" would queue 10^13 writes a day.
            let typical = match t {
                RandomTime::Fixed(d) | RandomTime::Exp(d) | RandomTime::Uniform(_, d) => d,
            };
            if typical < MIN_TRAFFIC_GAP {
                return Err(ctx.error(Some(e.span()), key("every"), "the gap is under a millisecond; allowed: at least 1ms"));
            }
            Schedule::Every(t)
        }
        (None, Some(a)) => {
            let t = ctx.unit(a, &key("at"), RandomTime::parse)?;
            if t.min() >= horizon {
                return Err(ctx.error(Some(a.span()), key("at"), format!("is after the horizon ({})", units::format_duration(horizon))));
            }
            Schedule::At(t)
        }
        (Some(e), Some(_)) => return Err(ctx.error(Some(e.span()), key("every"), "give `every` or `at`, not both")),
        (None, None) => return Err(ctx.error(Some(raw.kind.span()), key("every"), "missing: give `every` (repeating) or `at` (once)")),
    };
    let size = ctx.unit(&raw.size, &key("size"), units::parse_size)?;
    if size == 0 {
        return Err(ctx.error(Some(raw.size.span()), key("size"), "must be at least 1 byte"));
    }
    let reply = match &raw.reply {
        Some(r) if kind == TrafficKind::Requests => ctx.unit(r, &key("reply"), units::parse_size)?,
        Some(r) => return Err(ctx.error(Some(r.span()), key("reply"), "only `requests` have a reply")),
        None => 0,
    };
    let count = match &raw.count {
        Some(c) if *c.get_ref() >= 1 => Some(*c.get_ref() as u64),
        Some(c) => return Err(ctx.error(Some(c.span()), key("count"), "must be at least 1")),
        None => None,
    };
    Ok(Traffic { kind, from, schedule, size, reply, count })
}

fn fault(
    ctx: &Ctx,
    i: usize,
    raw: &RawFault,
    horizon: Duration,
    has_nat: bool,
    has_proxy: bool,
    clients: u32,
) -> Result<FaultSpec, ScenarioError> {
    let key = |k: &str| format!("fault[{i}].{k}");
    let kind = match raw.kind.get_ref().as_str() {
        "vanish" => FaultKind::Vanish,
        "reboot" => FaultKind::Reboot,
        "suspend" => FaultKind::Suspend,
        "outage" => FaultKind::Outage,
        "nat_reboot" => FaultKind::NatReboot,
        "crash" => FaultKind::Crash,
        other => {
            return Err(ctx.error(
                Some(raw.kind.span()),
                key("kind"),
                format!(
                    "\"{other}\" is not a fault kind; allowed: \"vanish\", \"reboot\", \"suspend\", \"outage\", \"nat_reboot\", \"crash\""
                ),
            ))
        }
    };
    let target = raw.target.get_ref().as_str();
    let (host, link) = match target.strip_suffix(".link") {
        Some(h) => (h, true),
        None => (target, false),
    };
    // "client:3": one client of the fleet (0-based).
    let (host, client) = match host.split_once(':') {
        Some(("client", n)) => match n.parse::<u32>() {
            Ok(n) if n < clients => ("client", Some(n)),
            _ => {
                return Err(ctx.error(
                    Some(raw.target.span()),
                    key("target"),
                    format!(
                        "\"{target}\" is not a client of the fleet; allowed: client:0 to client:{} ([client] count = {clients})",
                        clients - 1
                    ),
                ))
            }
        },
        _ => (host, None),
    };
    let side = match (kind, host, link) {
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Suspend | FaultKind::Crash, "client", false) => Some(Side::Client),
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Suspend | FaultKind::Crash, "server", false) if client.is_none() => {
            Some(Side::Server)
        }
        (FaultKind::Outage, "client", true) => Some(Side::Client),
        (FaultKind::Outage, "server", true) => Some(Side::Server),
        (FaultKind::NatReboot, "nat", false) => None,
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Crash, "proxy", false) if has_proxy => Some(Side::Server),
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Crash, "proxy", false) => {
            return Err(ctx.error(
                Some(raw.target.span()),
                key("target"),
                "there is no proxy; add a [proxy] section, or allowed: \"client\", \"client:N\", \"server\"",
            ))
        }
        _ => {
            let allowed = match kind {
                FaultKind::Outage => "\"client.link\", \"client:N.link\", \"server.link\"",
                FaultKind::NatReboot => "\"nat\"",
                FaultKind::Suspend => "\"client\", \"client:N\", \"server\"",
                _ => "\"client\", \"client:N\", \"server\", \"proxy\"",
            };
            return Err(ctx.error(
                Some(raw.target.span()),
                key("target"),
                format!("a {} cannot target \"{target}\"; allowed: {allowed}", kind.name()),
            ));
        }
    };
    if kind == FaultKind::NatReboot && !has_nat {
        return Err(ctx.error(Some(raw.kind.span()), key("kind"), "nat_reboot needs a [nat] section"));
    }
    let at = ctx.unit(&raw.at, &key("at"), RandomTime::parse)?;
    if at.min() >= horizon {
        return Err(ctx.error(
            Some(raw.at.span()),
            key("at"),
            format!("is after the horizon ({}); allowed: a time before it", units::format_duration(horizon)),
        ));
    }
    let needs_duration = matches!(kind, FaultKind::Reboot | FaultKind::Suspend | FaultKind::Outage);
    let duration = match (&raw.duration, needs_duration) {
        (Some(d), true) => {
            let t = ctx.unit(d, &key("duration"), RandomTime::parse)?;
            if t.max().is_some_and(|d| d.is_zero()) {
                return Err(ctx.error(Some(d.span()), key("duration"), "must be greater than zero"));
            }
            Some(t)
        }
        (None, true) => {
            return Err(ctx.error(Some(raw.kind.span()), key("duration"), format!("missing: a {} needs a duration", kind.name())))
        }
        (Some(d), false) => return Err(ctx.error(Some(d.span()), key("duration"), format!("a {} has no duration", kind.name()))),
        (None, false) => None,
    };
    Ok(FaultSpec { kind, side, client, proxy: host == "proxy", at, duration })
}

fn expect(ctx: &Ctx, i: usize, raw: &RawExpect, strategies: &[StrategySpec]) -> Result<Expect, ScenarioError> {
    let key = |k: &str| format!("expect[{i}].{k}");
    let strategy = raw.strategy.get_ref().clone();
    if !strategies.iter().any(|s| s.name == strategy) {
        let names: Vec<String> = strategies.iter().map(|s| format!("\"{}\"", s.name)).collect();
        return Err(ctx.error(
            Some(raw.strategy.span()),
            key("strategy"),
            format!("no strategy is named \"{strategy}\"; allowed: {}", names.join(", ")),
        ));
    }
    let metric = Metric::ALL.iter().find(|(n, _)| *n == raw.metric.get_ref()).map(|(_, m)| *m).ok_or_else(|| {
        let names: Vec<&str> = Metric::ALL.iter().map(|(n, _)| *n).collect();
        ctx.error(
            Some(raw.metric.span()),
            key("metric"),
            format!("\"{}\" is not a metric; allowed: {}", raw.metric.get_ref(), names.join(", ")),
        )
    })?;
    let side = raw.side.as_ref().map(|s| side_of(ctx, s, &key("side"))).transpose()?;
    if metric.per_side() && side.is_none() {
        return Err(ctx.error(
            Some(raw.metric.span()),
            key("side"),
            format!("missing: {} is per side; allowed: \"client\", \"server\"", metric.name()),
        ));
    }
    if !metric.per_side() && side.is_some() {
        let s = raw.side.as_ref().map(|s| s.span());
        return Err(ctx.error(s, key("side"), format!("{} is not per side; remove `side`", metric.name())));
    }
    let bounds: Vec<(Op, &S<toml::Value>)> =
        [(Op::Le, &raw.le), (Op::Ge, &raw.ge), (Op::Eq, &raw.eq)].into_iter().filter_map(|(op, v)| v.as_ref().map(|v| (op, v))).collect();
    let [(op, v)] = bounds[..] else {
        return Err(ctx.error(Some(raw.metric.span()), key("le"), "give exactly one of `le`, `ge`, `eq`"));
    };
    let value = match v.get_ref() {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::Float(f) => *f,
        toml::Value::String(s) => {
            units::parse_duration(s).map_err(|e| ctx.error(Some(v.span()), key(op_key(op)), format!("{e} (or a number)")))?.as_secs_f64()
        }
        _ => return Err(ctx.error(Some(v.span()), key(op_key(op)), "must be a number or a duration string")),
    };
    Ok(Expect { strategy, side, metric, op, value, line: ctx.position(raw.strategy.span()).0 })
}

fn op_key(op: Op) -> &'static str {
    match op {
        Op::Le => "le",
        Op::Ge => "ge",
        Op::Eq => "eq",
    }
}

/// Scenario files under `paths` (files as given, folders' `*.toml` sorted by name).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| ScenarioError {
                file: p.clone(),
                position: None,
                key: String::new(),
                message: format!("cannot read the folder: {e}"),
            })?;
            let mut files: Vec<PathBuf> =
                rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
            files.sort();
            out.extend(files);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(ScenarioError { file: p.clone(), position: None, key: String::new(), message: "no such file or folder".into() });
        }
    }
    Ok(out)
}
