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
//! files, add a kind to [`KINDS`] and a constructor to [`StrategySpec::build`]
//! (`scenario::strategies` reads and checks the parameters).

use crate::units;
use sim::tcp::Keepalive;
use sim::{AppIo, Instant, Side};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a strategy observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Bytes of the peer's stream became readable (cumulative total); pings
    /// and pongs included.
    Received {
        /// Bytes of the peer's stream readable so far on this connection.
        total: u64,
    },
    /// A pong answering our ping `id` arrived.
    Pong {
        /// The id our ping carried ([`Control::ping`]).
        id: u64,
    },
    /// The peer acknowledged our stream up to `total` bytes.
    Acked {
        /// Bytes of our stream the peer's TCP has acknowledged so far on this connection.
        total: u64,
    },
    /// The workload wrote `size` bytes (not pings or pongs).
    Wrote {
        /// Bytes of the message written.
        size: u64,
    },
    /// The workload received a whole message (not a ping or pong).
    WorkloadMessage {
        /// Bytes of the message received.
        size: u64,
    },
    /// A ping from the peer arrived (the application answers it right after).
    Ping {
        /// The id the peer's ping carries, echoed in the pong.
        id: u64,
    },
    /// The application wrote a pong of `size` bytes answering the peer's ping.
    Answered {
        /// Bytes of the pong (the same size as the ping it answers).
        size: u64,
    },
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
        self.io.write(size, crate::wire::tag(crate::wire::Class::Ping, id));
    }
    /// Write a one-way frame of `size` bytes (a heartbeat or tick the peer
    /// reads but does not answer).
    pub fn beat(&mut self, size: u64) {
        *self.pings += 1;
        *self.ping_bytes += size;
        self.io.write(size, crate::wire::tag(crate::wire::Class::Beat, 0));
    }
    /// Set `SO_KEEPALIVE` with `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT` (`Some`), or turn
    /// keepalive off (`None`); the simulated kernel then probes an idle connection as Linux does.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.io.set_keepalive(keepalive);
    }
    /// Set `TCP_USER_TIMEOUT` (`None`: off, the Linux default): the kernel gives up with
    /// ETIMEDOUT once data stays unacknowledged this long.
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
    /// Bytes written but not yet acknowledged (an "active call" in flight).
    pub fn unacked(&self) -> u64 {
        self.io.written().saturating_sub(self.io.acked())
    }
}

/// A dead-peer detection policy for one side of one connection. All methods
/// are fed the side's clock; none may block or read a clock of its own.
///
/// The calling contract: a new instance is made for every connection (a
/// reconnect gets a fresh one, so no state crosses connections);
/// [`on_connected`](Self::on_connected) is called once, first, when the
/// connection is established; only after it are
/// [`poll_timeout`](Self::poll_timeout), [`on_event`](Self::on_event) and
/// [`on_timeout`](Self::on_timeout) called, with `now` never going
/// backwards. After the strategy (or the socket) declares the peer dead the
/// instance is dropped.
pub trait Strategy {
    /// The connection is established (called once, before anything else).
    fn on_connected(&mut self, now: Instant, ctl: &mut Control);
    /// Something happened that the application can see.
    fn on_event(&mut self, now: Instant, event: Observed, ctl: &mut Control) {
        let _ = (now, event, ctl);
    }
    /// The next instant at which [`on_timeout`](Self::on_timeout) has work.
    /// It is asked after each of the other calls and the answer is kept
    /// until the next one (as `sim::app::Application::poll_timeout`'s), so it
    /// must depend only on the strategy's own state.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Called at or after `poll_timeout` (possibly early or twice: check the deadline).
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        let _ = (now, ctl);
    }
}

mod builtin;
mod phi;
mod presets;

pub use builtin::{AppPing, Liveness, NoStrategy, TcpKeepalive};
pub use phi::PhiAccrual;
pub use presets::{Amqp, Erlang, Grpc, GrpcServer, Mqtt, MqttBroker, Ssh};

// ----- specs: parameters, defaults, parsing --------------------------------------

/// The type of a strategy parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamType {
    /// At least a millisecond (a shorter timer would only burn CPU).
    Duration,
    /// A socket option the kernel takes in whole seconds, 1..=32767
    /// (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`; Linux rejects anything else).
    KernelSeconds,
    /// A duration where "0s" means off.
    DurationOrOff,
    /// A number within `min..=max` (inclusive), integer or float in the file.
    Number {
        /// The smallest value allowed.
        min: f64,
        /// The largest value allowed.
        max: f64,
    },
    /// A whole number within `min..=max` (inclusive); a float is an error.
    Count {
        /// The smallest value allowed.
        min: i64,
        /// The largest value allowed.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// A size string ("8B", "64KiB"), at least 1 byte.
    Size,
    /// One of these strings, exactly.
    Choice(&'static [&'static str]),
    /// A command line: a list of strings, the first the program (kept as a
    /// JSON array; `""` when absent).
    Argv,
    /// A regular expression (kept as written; `""` when absent).
    Pattern,
    /// A table of environment variables, strings to strings (kept as a JSON object).
    Env,
}

/// One parameter of a strategy kind: its key in a `[[strategy]]` table, its type, its
/// default and a line of help (for `kasim list`, the JSON Schema and errors).
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The key in the `[[strategy]]` table (`idle`, `interval`, …); fixed by the contract for
    /// the contract's kinds.
    pub name: &'static str,
    /// What values it takes; checked when the scenario loads.
    pub ty: ParamType,
    /// The value used when the table omits the key, as a scenario would write it ("2h", "9",
    /// "false"); the real system's default.
    pub default: &'static str,
    /// One line on what it does, for `kasim list` and the JSON Schema.
    pub help: &'static str,
}

/// A strategy kind a scenario may name in `[[strategy]] kind`, with its parameters.
#[derive(Clone, Copy, Debug)]
pub struct KindSpec {
    /// The name in `kind` (`tcp_keepalive`, `app_ping`, `quic`, …).
    pub kind: &'static str,
    /// One line on the system it models, for `kasim list` and the JSON Schema.
    pub help: &'static str,
    /// Where it is attached when a scenario gives no `sides`.
    pub default_sides: &'static [Side],
    /// Every parameter the kind takes; any other key in its table is an error.
    pub params: &'static [ParamSpec],
}

const BOTH: &[Side] = &[Side::Client, Side::Server];

const LIVENESS: &[&str] = &["pong", "any_bytes", "ack_progress"];

/// Every strategy kind a scenario may name, with its parameters and defaults
/// (the real systems' defaults).
pub const KINDS: &[KindSpec] = &[
    KindSpec { kind: "none", help: "only TCP's retransmission timeout, when data is sent", default_sides: BOTH, params: &[] },
    KindSpec {
        kind: "tcp_keepalive",
        help: "SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT and optional TCP_USER_TIMEOUT (Linux defaults)",
        default_sides: BOTH,
        params: &[
            ParamSpec {
                name: "idle",
                ty: ParamType::KernelSeconds,
                default: "2h",
                help: "idle time before the first probe (TCP_KEEPIDLE)",
            },
            ParamSpec { name: "interval", ty: ParamType::KernelSeconds, default: "75s", help: "between probes (TCP_KEEPINTVL)" },
            ParamSpec {
                name: "count",
                ty: ParamType::Count { min: 1, max: 127 },
                default: "9",
                help: "unanswered probes before giving up (TCP_KEEPCNT)",
            },
            ParamSpec { name: "user_timeout", ty: ParamType::DurationOrOff, default: "0s", help: "TCP_USER_TIMEOUT; 0s = off" },
        ],
    },
    KindSpec {
        kind: "app_ping",
        help: "application ping/pong in the data stream",
        default_sides: BOTH,
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
    KindSpec {
        kind: "live_ping",
        help: "a tokio ping/pong task run on turmoil with --engine live; in the event engine, its sans-IO twin (app_ping, pong liveness)",
        default_sides: &[Side::Client],
        params: &[
            ParamSpec { name: "interval", ty: ParamType::Duration, default: "10m", help: "between pings" },
            ParamSpec { name: "timeout", ty: ParamType::Duration, default: "3m", help: "wait for the pong" },
        ],
    },
    KindSpec {
        kind: "phi_accrual",
        help: "phi accrual failure detector over heartbeat responses (Akka defaults)",
        default_sides: BOTH,
        params: &[
            ParamSpec { name: "interval", ty: ParamType::Duration, default: "1s", help: "between heartbeat requests" },
            ParamSpec {
                name: "threshold",
                ty: ParamType::Number { min: 0.1, max: 100.0 },
                default: "8.0",
                help: "declare dead when phi exceeds it",
            },
            ParamSpec {
                name: "window",
                ty: ParamType::Count { min: 2, max: 100_000 },
                default: "1000",
                help: "inter-arrival samples kept",
            },
            ParamSpec { name: "min_std_dev", ty: ParamType::Duration, default: "100ms", help: "floor of the standard deviation" },
            ParamSpec { name: "acceptable_pause", ty: ParamType::DurationOrOff, default: "3s", help: "added to the mean" },
        ],
    },
    KindSpec {
        kind: "grpc",
        help: "gRPC HTTP/2 keepalive: client pings after `time` without reads; server enforces `min_time` (grpc-go)",
        default_sides: BOTH,
        params: &[
            ParamSpec {
                name: "time",
                ty: ParamType::DurationOrOff,
                default: "0s",
                help: "client: ping after this long without reading (0s = off, the default; at least 10s)",
            },
            ParamSpec {
                name: "timeout",
                ty: ParamType::Duration,
                default: "20s",
                help: "client: close if nothing is read this long after a ping",
            },
            ParamSpec { name: "permit_without_calls", ty: ParamType::Bool, default: "false", help: "client: ping with no active call" },
            ParamSpec {
                name: "min_time",
                ty: ParamType::Duration,
                default: "5m",
                help: "server: pings closer than this are strikes; >2 strikes -> GOAWAY",
            },
            ParamSpec {
                name: "permit_without_stream",
                ty: ParamType::Bool,
                default: "false",
                help: "server: allow pings with no active stream",
            },
        ],
    },
    KindSpec {
        kind: "ssh",
        help: "OpenSSH ServerAliveInterval / ServerAliveCountMax (client side)",
        default_sides: &[Side::Client],
        params: &[
            ParamSpec {
                name: "interval",
                ty: ParamType::DurationOrOff,
                default: "0s",
                help: "ServerAliveInterval (0s = off, the default)",
            },
            ParamSpec {
                name: "count_max",
                ty: ParamType::Count { min: 1, max: 1000 },
                default: "3",
                help: "ServerAliveCountMax (0 would drop the connection at the first unanswered keepalive)",
            },
        ],
    },
    KindSpec {
        kind: "mqtt",
        help: "MQTT keep alive: client PINGREQ after K idle, gives up K later; broker disconnects after 1.5 K",
        default_sides: BOTH,
        params: &[ParamSpec {
            name: "keep_alive",
            ty: ParamType::Duration,
            default: "60s",
            help: "Keep Alive K (the client libraries' default)",
        }],
    },
    KindSpec {
        kind: "amqp",
        help: "AMQP 0-9-1 heartbeats (RabbitMQ): frames every H/2 when idle; dead after 2 checks without octets",
        default_sides: BOTH,
        params: &[ParamSpec { name: "heartbeat", ty: ParamType::Duration, default: "60s", help: "negotiated heartbeat timeout H" }],
    },
    KindSpec {
        kind: "redis",
        help: "Redis tcp-keepalive N: kernel keepalive idle N, interval N/3, count 3 (server side)",
        default_sides: &[Side::Server],
        params: &[ParamSpec { name: "tcp_keepalive", ty: ParamType::Duration, default: "300s", help: "tcp-keepalive" }],
    },
    KindSpec {
        kind: "quic",
        help: "QUIC over UDP (quinn-proto) instead of TCP: quinn's keep-alive PINGs and idle timeout; `sides` send keep-alives",
        default_sides: &[Side::Client],
        params: &[
            ParamSpec {
                name: "keep_alive_interval",
                ty: ParamType::DurationOrOff,
                default: "0s",
                help: "a PING this long after the last packet received (0s = off, quinn's default)",
            },
            ParamSpec {
                name: "max_idle_timeout",
                ty: ParamType::DurationOrOff,
                default: "30s",
                help: "both ends' idle timeout; the connection uses the smaller (0s = none)",
            },
        ],
    },
    KindSpec {
        kind: "udp_keepalive",
        help: "a WireGuard-style datagram tunnel instead of TCP: PersistentKeepalive from `sides`, WireGuard's passive keepalive; judged by NAT survival",
        default_sides: &[Side::Client],
        params: &[
            ParamSpec {
                name: "persistent_keepalive",
                ty: ParamType::DurationOrOff,
                default: "25s",
                help: "a keepalive this long after the last packet sent (0s = off, WireGuard's default; 25s suggested)",
            },
            ParamSpec {
                name: "timeout",
                ty: ParamType::DurationOrOff,
                default: "0s",
                help: "declare the peer dead after this long without receiving anything (0s = never, as WireGuard)",
            },
        ],
    },
    KindSpec {
        kind: "program",
        help: "a real client program (and optionally its server) on real Linux stacks; --engine netns only",
        default_sides: BOTH,
        params: &[
            ParamSpec {
                name: "client",
                ty: ParamType::Argv,
                default: "",
                help: "the client's command line (required); placeholders {server} {port} {client} {seed}",
            },
            ParamSpec {
                name: "server",
                ty: ParamType::Argv,
                default: "",
                help: "the server's command line (default: kasim's own server)",
            },
            ParamSpec {
                name: "declare",
                ty: ParamType::Pattern,
                default: "",
                help: "a regex: a line the program prints (stdout or stderr) when it declares its peer dead",
            },
            ParamSpec { name: "env", ty: ParamType::Env, default: "{}", help: "environment variables of both programs" },
        ],
    },
    KindSpec {
        kind: "erlang",
        help: "Erlang distribution net_ticktime T: a tick every T/4 when idle; down after 4 silent tick periods",
        default_sides: BOTH,
        params: &[ParamSpec { name: "net_ticktime", ty: ParamType::Duration, default: "60s", help: "net_ticktime" }],
    },
];

/// What a strategy's connections run over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transport {
    /// Plain TCP (every kind but `quic` and `udp_keepalive`).
    Tcp,
    /// QUIC over UDP (quinn-proto), with the keep-alive interval per side and the idle timeout.
    Quic(sim::quic::QuicConfig),
    /// A WireGuard-style datagram tunnel over UDP, with the persistent keepalive per side and
    /// the optional receive timeout.
    Tunnel(sim::tunnel::TunnelConfig),
}

/// A strategy as a scenario declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySpec {
    /// `name`: unique among the scenario's strategies; what `--strategy`, `[[expect]]` and
    /// reports call it.
    pub name: String,
    /// `kind`: one of [`KINDS`].
    pub kind: &'static str,
    /// `sides`: where the strategy runs (sorted, no duplicates, not empty); the kind's
    /// [`KindSpec::default_sides`] when the table has no `sides`.
    pub sides: Vec<Side>,
    /// Every parameter of the kind, defaults filled in, as written.
    pub params: BTreeMap<&'static str, String>,
}

impl StrategySpec {
    /// A duration parameter (defaults filled in at parse time).
    pub fn duration(&self, key: &str) -> Duration {
        self.params.get(key).and_then(|v| units::parse_duration(v).ok()).unwrap_or_default()
    }
    fn number(&self, key: &str) -> f64 {
        self.params.get(key).and_then(|v| v.parse::<f64>().ok()).unwrap_or_default()
    }
    /// A command-line parameter (`program`'s `client`, `server`), if given.
    pub fn argv(&self, key: &str) -> Option<Vec<String>> {
        self.params.get(key).filter(|v| !v.is_empty()).and_then(|v| serde_json::from_str(v).ok())
    }
    /// An environment parameter (`program`'s `env`), in key order.
    pub fn env(&self, key: &str) -> Vec<(String, String)> {
        self.params
            .get(key)
            .and_then(|v| serde_json::from_str::<BTreeMap<String, String>>(v).ok())
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    }
    fn flag(&self, key: &str) -> bool {
        self.params.get(key).is_some_and(|v| v == "true")
    }

    /// A fresh instance for `side` of one run.
    pub fn build(&self, side: Side) -> Box<dyn Strategy> {
        let d = |k: &str| self.duration(k);
        let n = |k: &str| self.number(k) as u64;
        match self.kind {
            "live_ping" => Box::new(AppPing::new(d("interval"), d("timeout"), false, Liveness::Pong, 8)),
            "phi_accrual" => Box::new(PhiAccrual::new(
                d("interval"),
                self.number("threshold"),
                n("window") as usize,
                d("min_std_dev"),
                d("acceptable_pause"),
            )),
            // gRPC's client keepalive is off unless `time` is set.
            "grpc" if side == Side::Client && d("time").is_zero() => Box::new(NoStrategy),
            "grpc" if side == Side::Client => Box::new(Grpc::new(d("time"), d("timeout"), self.flag("permit_without_calls"))),
            "grpc" => Box::new(GrpcServer::new(d("min_time"), self.flag("permit_without_stream"))),
            "ssh" => Box::new(Ssh::new(d("interval"), n("count_max") as u32)),
            "mqtt" if side == Side::Client => Box::new(Mqtt::new(d("keep_alive"))),
            "mqtt" => Box::new(MqttBroker::new(d("keep_alive"))),
            "amqp" => Box::new(Amqp::new(d("heartbeat"))),
            "erlang" => Box::new(Erlang::new(d("net_ticktime"))),
            "redis" => {
                let n = d("tcp_keepalive");
                // anetKeepAlive: interval = N/3 (at least 1 s), count 3.
                let interval = (n / 3).max(Duration::from_secs(1));
                Box::new(TcpKeepalive { keepalive: Keepalive { idle: n, interval, count: 3 }, user_timeout: None })
            }
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

    /// What the strategy's connections run over: QUIC for `quic`, a datagram
    /// tunnel for `udp_keepalive`, TCP for every other kind. Keep-alives go
    /// from the strategy's sides.
    pub fn transport(&self) -> Transport {
        let on_sides = |key: &str| {
            let d = Some(self.duration(key)).filter(|d| !d.is_zero());
            Side::BOTH.map(|side| d.filter(|_| self.sides.contains(&side)))
        };
        match self.kind {
            "quic" => Transport::Quic(sim::quic::QuicConfig {
                keep_alive: on_sides("keep_alive_interval"),
                max_idle_timeout: self.duration("max_idle_timeout"),
            }),
            "udp_keepalive" => Transport::Tunnel(sim::tunnel::TunnelConfig {
                persistent_keepalive: on_sides("persistent_keepalive"),
                dead_after: Some(self.duration("timeout")).filter(|d| !d.is_zero()),
            }),
            _ => Transport::Tcp,
        }
    }

    /// The longest a healthy detector may wait for proof of life: how far back
    /// a false positive looks for a transient condition to blame.
    pub fn detection_window(&self) -> Duration {
        let d = |k: &str| self.duration(k);
        match self.kind {
            "app_ping" | "live_ping" => d("interval") + d("timeout"),
            "tcp_keepalive" => d("interval") * self.number("count") as u32,
            "phi_accrual" => (d("interval") + d("acceptable_pause")) * 2,
            "grpc" => d("time") + d("timeout"),
            "ssh" => d("interval") * (self.number("count_max") as u32 + 1),
            "mqtt" => d("keep_alive") * 2,
            "amqp" => d("heartbeat") * 3,
            "redis" => d("tcp_keepalive") * 2,
            "erlang" => d("net_ticktime") * 5 / 4,
            "quic" => d("keep_alive_interval") + d("max_idle_timeout"),
            "udp_keepalive" => d("persistent_keepalive") + d("timeout"),
            _ => Duration::from_secs(600),
        }
        .max(Duration::from_secs(60))
    }
}
