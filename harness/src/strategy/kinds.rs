//! The strategy kinds a scenario may name, as one table: each kind's name,
//! what it models, where it runs by default, what it runs over, and every
//! parameter with its type, its default (the real system's) and its help.
//! Parsing, the JSON Schema, `kasim list` and `kasim tune` all read this
//! table, so a default is written once. [`StrategyKind`](super::StrategyKind)
//! is the same kinds with their parameters parsed; a test holds the two in
//! step (every kind parses from its defaults, names itself and runs over the
//! transport this table says).

use super::Liveness;
use sim::Side;

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
    /// What its connections run over.
    pub transport: TransportKind,
    /// Every parameter the kind takes; any other key in its table is an error.
    pub params: &'static [ParamSpec],
}

/// What a kind's connections run over (the configuration itself is
/// [`Transport`](super::Transport), made from the parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Plain TCP: every kind but `quic` and `udp_keepalive`.
    Tcp,
    /// QUIC over UDP (quinn-proto).
    Quic,
    /// A WireGuard-style datagram tunnel over UDP.
    Tunnel,
}

impl KindSpec {
    /// The kind named `name`, if there is one.
    pub fn named(name: &str) -> Option<&'static KindSpec> {
        KINDS.iter().find(|k| k.kind == name)
    }
}

const BOTH: &[Side] = &[Side::Client, Side::Server];

const LIVENESS: &[&str] = &Liveness::NAMES;

/// Every strategy kind a scenario may name, with its parameters and defaults
/// (the real systems' defaults).
pub const KINDS: &[KindSpec] = &[
    KindSpec { kind: "none", help: "only TCP's retransmission timeout, when data is sent", transport: TransportKind::Tcp, default_sides: BOTH, params: &[] },
    KindSpec {
        kind: "tcp_keepalive",
        help: "SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT and optional TCP_USER_TIMEOUT (Linux defaults)",
        transport: TransportKind::Tcp,
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
        transport: TransportKind::Tcp,
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
        transport: TransportKind::Tcp,
        default_sides: &[Side::Client],
        params: &[
            ParamSpec { name: "interval", ty: ParamType::Duration, default: "10m", help: "between pings" },
            ParamSpec { name: "timeout", ty: ParamType::Duration, default: "3m", help: "wait for the pong" },
        ],
    },
    KindSpec {
        kind: "phi_accrual",
        help: "phi accrual failure detector over heartbeat responses (Akka defaults)",
        transport: TransportKind::Tcp,
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
        transport: TransportKind::Tcp,
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
        transport: TransportKind::Tcp,
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
        transport: TransportKind::Tcp,
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
        transport: TransportKind::Tcp,
        default_sides: BOTH,
        params: &[ParamSpec { name: "heartbeat", ty: ParamType::Duration, default: "60s", help: "negotiated heartbeat timeout H" }],
    },
    KindSpec {
        kind: "redis",
        help: "Redis tcp-keepalive N: kernel keepalive idle N, interval N/3, count 3 (server side)",
        transport: TransportKind::Tcp,
        default_sides: &[Side::Server],
        params: &[ParamSpec { name: "tcp_keepalive", ty: ParamType::Duration, default: "300s", help: "tcp-keepalive" }],
    },
    KindSpec {
        kind: "quic",
        help: "QUIC over UDP (quinn-proto) instead of TCP: quinn's keep-alive PINGs and idle timeout; `sides` send keep-alives",
        transport: TransportKind::Quic,
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
        transport: TransportKind::Tunnel,
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
        help: "real programs on real Linux stacks, a client or a server or both (kasim's agent plays the other side); --engine netns only",
        transport: TransportKind::Tcp,
        default_sides: BOTH,
        params: &[
            ParamSpec {
                name: "client",
                ty: ParamType::Argv,
                default: "",
                help: "the client's command line; placeholders {server} {port} {client} {seed} (default with a server: kasim's agent, running the [[traffic]] requests in `protocol`)",
            },
            ParamSpec {
                name: "server",
                ty: ParamType::Argv,
                default: "",
                help: "the server's command line (default: kasim's own server)",
            },
            ParamSpec {
                name: "protocol",
                ty: ParamType::Choice(&["http"]),
                default: "http",
                help: "what kasim's agent speaks to a server program when `client` is left out: http (each request an HTTP/1.1 GET of its size, each reply read by Content-Length)",
            },
            ParamSpec {
                name: "proxy",
                ty: ParamType::Argv,
                default: "",
                help: "with [proxy]: the proxy's command line (default: kasim's own relay, the [proxy] model); {backend} is the server's address",
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
        transport: TransportKind::Tcp,
        default_sides: BOTH,
        params: &[ParamSpec { name: "net_ticktime", ty: ParamType::Duration, default: "60s", help: "net_ticktime" }],
    },
];
