//! Keepalive strategies: sans-IO policies behind one public trait.
//!
//! A strategy is attached to one side of the connection. It sees what that
//! side's application sees (bytes read, pongs, acknowledgements of its own
//! data, its own writes), may set socket options, may send pings through the
//! same byte stream as the workload (so a ping written after 5 MB of upload
//! waits behind it), and declares the peer dead. Socket errors (ETIMEDOUT,
//! ECONNRESET, EOF) are declared by the application itself, whatever the
//! strategy, because a real application notices them too.
//!
//! The peer's application answers every ping with a pong of the same size as
//! soon as it has read it, with or without a strategy of its own.
//!
//! To add a strategy, implement [`Strategy`] (see
//! `harness/examples/custom_strategy.rs`); to make it selectable from scenario
//! files, add a kind to [`KINDS`] and a constructor to [`StrategySpec::build`].

use crate::scenario::{Ctx, ScenarioError};
use crate::units;
use sim::tcp::Keepalive;
use sim::{AppIo, Instant, Side};
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// What a strategy observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Bytes of the peer's stream became readable (cumulative total); pings
    /// and pongs included.
    Received { total: u64 },
    /// A pong answering our ping `id` arrived.
    Pong { id: u64 },
    /// The peer acknowledged our stream up to `total` bytes.
    Acked { total: u64 },
    /// The workload wrote `size` bytes (not pings or pongs).
    Wrote { size: u64 },
    /// The workload received a whole message (not a ping or pong).
    WorkloadMessage { size: u64 },
}

/// The strategy's handle during a callback.
pub struct Control<'a> {
    pub(crate) io: &'a mut AppIo,
    pub(crate) pings: &'a mut u64,
    pub(crate) ping_bytes: &'a mut u64,
    pub(crate) dead: &'a mut Option<String>,
}

impl Control<'_> {
    /// Write a ping of `size` bytes; the peer answers with a pong carrying `id`.
    pub fn ping(&mut self, id: u64, size: u64) {
        *self.pings += 1;
        *self.ping_bytes += size;
        self.io.write(size, crate::endpoint::tag(crate::endpoint::Class::Ping, id));
    }
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.io.set_keepalive(keepalive);
    }
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.io.set_user_timeout(timeout);
    }
    /// Declare the peer dead; the application then aborts the connection.
    pub fn declare_dead(&mut self, cause: &str) {
        if self.dead.is_none() {
            *self.dead = Some(cause.to_string());
        }
    }
    /// Bytes of our stream the peer has acknowledged.
    pub fn acked(&self) -> u64 {
        self.io.acked()
    }
}

/// A dead-peer detection policy for one side. All methods are fed the
/// side's clock; none may block or read a clock of its own.
pub trait Strategy {
    /// The connection is established.
    fn on_connected(&mut self, now: Instant, ctl: &mut Control);
    /// Something happened that the application can see.
    fn on_event(&mut self, now: Instant, event: Observed, ctl: &mut Control) {
        let _ = (now, event, ctl);
    }
    /// The next instant at which [`on_timeout`](Self::on_timeout) has work.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Called at or after `poll_timeout` (possibly early or twice: check the deadline).
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        let _ = (now, ctl);
    }
}

// ----- built-in strategies ----------------------------------------------------------

/// `none`: rely on TCP's retransmission timeout, only when data is sent.
pub struct NoStrategy;

impl Strategy for NoStrategy {
    fn on_connected(&mut self, _now: Instant, _ctl: &mut Control) {}
}

/// `tcp_keepalive`: set SO_KEEPALIVE (+ TCP_USER_TIMEOUT); the kernel does the rest.
pub struct TcpKeepalive {
    pub keepalive: Keepalive,
    pub user_timeout: Option<Duration>,
}

impl Strategy for TcpKeepalive {
    fn on_connected(&mut self, _now: Instant, ctl: &mut Control) {
        ctl.set_keepalive(Some(self.keepalive));
        if self.user_timeout.is_some() {
            ctl.set_user_timeout(self.user_timeout);
        }
    }
}

/// What proves the peer alive while a ping is outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Only the pong.
    Pong,
    /// Any bytes read from the peer.
    AnyBytes,
    /// The pong, or progress of the peer's acknowledgements of our data: a
    /// ping stuck behind an upload is not a dead peer while the upload moves.
    AckProgress,
}

impl Liveness {
    pub fn name(self) -> &'static str {
        match self {
            Liveness::Pong => "pong",
            Liveness::AnyBytes => "any_bytes",
            Liveness::AckProgress => "ack_progress",
        }
    }
}

/// `app_ping`: every `interval`, write a ping; if `timeout` passes without
/// proof of life (see [`Liveness`]), declare the peer dead.
#[derive(Clone, Debug)]
pub struct AppPing {
    pub interval: Duration,
    pub timeout: Duration,
    /// Skip the ping when the workload sent or received data in the last interval.
    pub idle_only: bool,
    pub liveness: Liveness,
    pub ping_size: u64,
    next_ping: Instant,
    deadline: Option<Instant>,
    last_activity: Instant,
    acked: u64,
    seq: u64,
}

impl AppPing {
    pub fn new(interval: Duration, timeout: Duration, idle_only: bool, liveness: Liveness, ping_size: u64) -> Self {
        AppPing {
            interval,
            timeout,
            idle_only,
            liveness,
            ping_size,
            next_ping: Instant::MAX,
            deadline: None,
            last_activity: Instant::ZERO,
            acked: 0,
            seq: 0,
        }
    }
}

impl Strategy for AppPing {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.next_ping = now + self.interval;
        self.last_activity = now;
    }

    fn on_event(&mut self, now: Instant, event: Observed, ctl: &mut Control) {
        match event {
            Observed::Pong { id } if id == self.seq => self.deadline = None,
            Observed::Received { .. } if self.liveness == Liveness::AnyBytes => self.deadline = None,
            Observed::Acked { total } if total > self.acked => {
                self.acked = total;
                if self.liveness == Liveness::AckProgress && self.deadline.is_some() {
                    self.deadline = Some(now + self.timeout);
                }
            }
            Observed::Wrote { .. } | Observed::WorkloadMessage { .. } => self.last_activity = now,
            _ => {}
        }
        let _ = ctl;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.deadline.map_or(self.next_ping, |d| d.min(self.next_ping)))
    }

    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if self.deadline.is_some_and(|d| d <= now) {
            ctl.declare_dead("ping timeout");
            return;
        }
        if self.next_ping <= now {
            self.next_ping += self.interval;
            let busy = self.idle_only && now - self.last_activity < self.interval;
            if !busy && self.deadline.is_none() {
                self.seq += 1;
                ctl.ping(self.seq, self.ping_size);
                self.deadline = Some(now + self.timeout);
            }
        }
    }
}

// ----- specs: parameters, defaults, parsing --------------------------------------

/// The type of a strategy parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Duration,
    Count { min: i64, max: i64 },
    Bool,
    Size,
    Choice(&'static [&'static str]),
}

#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ParamType,
    pub default: &'static str,
    pub help: &'static str,
}

#[derive(Clone, Copy, Debug)]
pub struct KindSpec {
    pub kind: &'static str,
    pub help: &'static str,
    pub params: &'static [ParamSpec],
}

const LIVENESS: &[&str] = &["pong", "any_bytes", "ack_progress"];

/// Every strategy kind a scenario may name, with its parameters and defaults
/// (the real systems' defaults).
pub const KINDS: &[KindSpec] = &[
    KindSpec { kind: "none", help: "only TCP's retransmission timeout, when data is sent", params: &[] },
    KindSpec {
        kind: "tcp_keepalive",
        help: "SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT and optional TCP_USER_TIMEOUT (Linux defaults)",
        params: &[
            ParamSpec { name: "idle", ty: ParamType::Duration, default: "2h", help: "idle time before the first probe (TCP_KEEPIDLE)" },
            ParamSpec { name: "interval", ty: ParamType::Duration, default: "75s", help: "between probes (TCP_KEEPINTVL)" },
            ParamSpec {
                name: "count",
                ty: ParamType::Count { min: 1, max: 127 },
                default: "9",
                help: "unanswered probes before giving up (TCP_KEEPCNT)",
            },
            ParamSpec { name: "user_timeout", ty: ParamType::Duration, default: "0s", help: "TCP_USER_TIMEOUT; 0s = off" },
        ],
    },
    KindSpec {
        kind: "app_ping",
        help: "application ping/pong in the data stream",
        params: &[
            ParamSpec { name: "interval", ty: ParamType::Duration, default: "10m", help: "between pings" },
            ParamSpec { name: "timeout", ty: ParamType::Duration, default: "3m", help: "wait for proof of life after a ping" },
            ParamSpec {
                name: "idle_only",
                ty: ParamType::Bool,
                default: "false",
                help: "skip the ping if there was traffic in the last interval",
            },
            ParamSpec {
                name: "liveness",
                ty: ParamType::Choice(LIVENESS),
                default: "pong",
                help: "what proves life: pong | any_bytes | ack_progress",
            },
            ParamSpec { name: "ping_size", ty: ParamType::Size, default: "8B", help: "bytes per ping (and pong)" },
        ],
    },
];

/// A strategy as a scenario declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySpec {
    pub name: String,
    pub kind: &'static str,
    pub sides: Vec<Side>,
    /// Every parameter of the kind, defaults filled in, as written.
    pub params: BTreeMap<&'static str, String>,
}

impl StrategySpec {
    /// A fresh instance for one side of one run.
    pub fn build(&self) -> Box<dyn Strategy> {
        let d = |k: &str| self.params.get(k).and_then(|v| units::parse_duration(v).ok()).unwrap_or_default();
        let n = |k: &str| self.params.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or_default();
        match self.kind {
            "tcp_keepalive" => Box::new(TcpKeepalive {
                keepalive: Keepalive { idle: d("idle"), interval: d("interval"), count: n("count") as u32 },
                user_timeout: Some(d("user_timeout")).filter(|t| !t.is_zero()),
            }),
            "app_ping" => {
                let liveness = match self.params.get("liveness").map(String::as_str) {
                    Some("any_bytes") => Liveness::AnyBytes,
                    Some("ack_progress") => Liveness::AckProgress,
                    _ => Liveness::Pong,
                };
                let size = self.params.get("ping_size").and_then(|v| units::parse_size(v).ok()).unwrap_or(8);
                Box::new(AppPing::new(
                    d("interval"),
                    d("timeout"),
                    self.params.get("idle_only").is_some_and(|v| v == "true"),
                    liveness,
                    size,
                ))
            }
            _ => Box::new(NoStrategy),
        }
    }

    /// The longest a healthy detector may wait for proof of life: how far back
    /// a false positive looks for a transient condition to blame.
    pub fn detection_window(&self) -> Duration {
        let d = |k: &str| self.params.get(k).and_then(|v| units::parse_duration(v).ok()).unwrap_or_default();
        match self.kind {
            "app_ping" => d("interval") + d("timeout"),
            "tcp_keepalive" => d("interval") * self.params.get("count").and_then(|c| c.parse().ok()).unwrap_or(9u32),
            _ => Duration::from_secs(600),
        }
        .max(Duration::from_secs(60))
    }
}

/// JSON Schema of the `[[strategy]]` array: one variant per kind, with its
/// parameters and their defaults.
pub(crate) fn strategies_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let variants: Vec<serde_json::Value> = KINDS
        .iter()
        .map(|k| {
            let mut props = serde_json::Map::new();
            props.insert("name".into(), serde_json::json!({ "type": "string" }));
            props.insert("kind".into(), serde_json::json!({ "const": k.kind, "description": k.help }));
            props.insert("sides".into(), serde_json::json!({ "type": "array", "items": { "enum": ["client", "server"] }, "minItems": 1 }));
            for p in k.params {
                let mut schema = match p.ty {
                    ParamType::Duration => crate::scenario::duration_schema(g).to_value(),
                    ParamType::Count { min, max } => serde_json::json!({ "type": "integer", "minimum": min, "maximum": max }),
                    ParamType::Bool => serde_json::json!({ "type": "boolean" }),
                    ParamType::Size => crate::scenario::size_schema(g).to_value(),
                    ParamType::Choice(options) => serde_json::json!({ "enum": options }),
                };
                if let Some(obj) = schema.as_object_mut() {
                    obj.insert("description".into(), format!("{} (default {})", p.help, p.default).into());
                }
                props.insert(p.name.into(), schema);
            }
            serde_json::json!({ "type": "object", "properties": props, "required": ["name", "kind"], "additionalProperties": false })
        })
        .collect();
    schemars::json_schema!({ "type": "array", "items": { "oneOf": variants } })
}

pub(crate) fn parse_spec(ctx: &Ctx, i: usize, table: &BTreeMap<String, Spanned<toml::Value>>) -> Result<StrategySpec, ScenarioError> {
    let key = |k: &str| format!("strategy[{i}].{k}");
    let string = |k: &str| -> Result<Option<(&str, std::ops::Range<usize>)>, ScenarioError> {
        match table.get(k) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                toml::Value::String(s) => Ok(Some((s.as_str(), v.span()))),
                _ => Err(ctx.error(Some(v.span()), key(k), "must be a string")),
            },
        }
    };
    let (name, _) = string("name")?.ok_or_else(|| ctx.error(None, key("name"), "missing: every strategy needs a name"))?;
    let (kind_name, kind_span) = string("kind")?.ok_or_else(|| ctx.error(None, key("kind"), "missing: every strategy needs a kind"))?;
    let Some(kind) = KINDS.iter().find(|k| k.kind == kind_name) else {
        let names: Vec<String> = KINDS.iter().map(|k| format!("\"{}\"", k.kind)).collect();
        return Err(ctx.error(
            Some(kind_span),
            key("kind"),
            format!("\"{kind_name}\" is not a strategy kind; allowed: {}", names.join(", ")),
        ));
    };
    let sides = match table.get("sides") {
        None => vec![Side::Client, Side::Server],
        Some(v) => {
            let bad = || ctx.error(Some(v.span()), key("sides"), "allowed: a list of \"client\" and/or \"server\"");
            let toml::Value::Array(items) = v.get_ref() else { return Err(bad()) };
            let mut sides = Vec::new();
            for item in items {
                match item.as_str() {
                    Some("client") if !sides.contains(&Side::Client) => sides.push(Side::Client),
                    Some("server") if !sides.contains(&Side::Server) => sides.push(Side::Server),
                    _ => return Err(bad()),
                }
            }
            if sides.is_empty() {
                return Err(bad());
            }
            sides.sort();
            sides
        }
    };
    let mut params: BTreeMap<&'static str, String> = kind.params.iter().map(|p| (p.name, p.default.to_string())).collect();
    for (k, v) in table {
        if matches!(k.as_str(), "name" | "kind" | "sides") {
            continue;
        }
        let Some(p) = kind.params.iter().find(|p| p.name == k) else {
            let allowed: Vec<&str> = kind.params.iter().map(|p| p.name).collect();
            let allowed = if allowed.is_empty() { "none (this kind takes no parameters)".to_string() } else { allowed.join(", ") };
            return Err(ctx.error(Some(v.span()), key(k), format!("{kind_name} has no parameter `{k}`; allowed: {allowed}")));
        };
        let value = check_param(p, v.get_ref()).map_err(|m| ctx.error(Some(v.span()), key(k), m))?;
        params.insert(p.name, value);
    }
    if kind.kind == "app_ping" {
        let interval = units::parse_duration(&params["interval"]).unwrap_or_default();
        let timeout = units::parse_duration(&params["timeout"]).unwrap_or_default();
        if interval.is_zero() || timeout.is_zero() {
            return Err(ctx.error(Some(kind_span), key("interval"), "app_ping needs an interval and a timeout greater than zero"));
        }
    }
    Ok(StrategySpec { name: name.to_string(), kind: kind.kind, sides, params })
}

/// Validate one parameter value; return it in canonical string form.
fn check_param(p: &ParamSpec, v: &toml::Value) -> Result<String, String> {
    match (p.ty, v) {
        (ParamType::Duration, toml::Value::String(s)) => {
            let d = units::parse_duration(s).map_err(|e| e.to_string())?;
            if d.is_zero() && p.name != "user_timeout" {
                return Err(format!("must be greater than zero; allowed: {}", units::DURATION_ALLOWED));
            }
            Ok(s.clone())
        }
        (ParamType::Count { min, max }, toml::Value::Integer(n)) if (min..=max).contains(n) => Ok(n.to_string()),
        (ParamType::Count { min, max }, toml::Value::Integer(n)) => Err(format!("{n} is out of range; allowed: {min}..={max}")),
        (ParamType::Bool, toml::Value::Boolean(b)) => Ok(b.to_string()),
        (ParamType::Size, toml::Value::String(s)) => {
            let n = units::parse_size(s).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("must be at least 1 byte".into());
            }
            Ok(s.clone())
        }
        (ParamType::Choice(options), toml::Value::String(s)) if options.contains(&s.as_str()) => Ok(s.clone()),
        (ParamType::Choice(options), _) => {
            Err(format!("allowed: {}", options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ")))
        }
        (ParamType::Duration, _) => Err(format!("must be a string; allowed: {}", units::DURATION_ALLOWED)),
        (ParamType::Count { min, max }, _) => Err(format!("must be an integer; allowed: {min}..={max}")),
        (ParamType::Bool, _) => Err("allowed: true, false".into()),
        (ParamType::Size, _) => Err(format!("must be a string; allowed: {}", units::SIZE_ALLOWED)),
    }
}
