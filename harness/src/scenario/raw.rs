//! The file as serde reads it: every value keeps its source span
//! (`toml::Spanned`) so validation can say where it was. Unknown keys and
//! wrong types fail here, with toml's own position.

use super::schema::*;
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "kasim scenario", description = "A kasim scenario file (CONTRACT.md v1 plus additions).")]
pub(super) struct RawScenario {
    /// Unique in a run.
    #[schemars(with = "String")]
    pub(super) name: S<String>,
    /// What the scenario teaches.
    #[serde(default)]
    pub(super) description: String,
    /// Simulated time per run, e.g. "3d".
    #[schemars(schema_with = "duration_schema")]
    pub(super) horizon: S<String>,
    /// Runs per strategy (default 1); seed i = base_seed + i.
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000000))]
    pub(super) seeds: Option<S<i64>>,
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub(super) base_seed: Option<S<u64>>,
    pub(super) client: Option<RawClient>,
    pub(super) server: Option<RawHost>,
    pub(super) nat: Option<RawNat>,
    pub(super) proxy: Option<RawProxy>,
    /// Boxes in series from the clients toward the server, instead of [nat] and [proxy]: any number of kind "nat", at most one "proxy". Fault targets name them "middlebox:N" (0-based, from the clients).
    #[serde(default)]
    pub(super) middlebox: Vec<RawMiddlebox>,
    pub(super) tcp: Option<RawTcp>,
    #[serde(default)]
    pub(super) traffic: Vec<RawTraffic>,
    #[serde(default)]
    pub(super) fault: Vec<RawFault>,
    /// One or more strategies to compare.
    #[serde(default)]
    #[schemars(schema_with = "crate::scenario::strategies::strategies_schema")]
    pub(super) strategy: Vec<S<BTreeMap<String, S<toml::Value>>>>,
    #[serde(default)]
    pub(super) expect: Vec<RawExpect>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHost {
    pub(super) link: Option<RawLink>,
    pub(super) app: Option<RawApp>,
    /// The server's operating system (default "linux"): its keepalive defaults and its retransmission and connect give-up rules (`kasim list --presets`).
    #[serde(default)]
    #[schemars(schema_with = "os_schema")]
    pub(super) os: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    /// Server: close (FIN) a connection this long after the application last read or wrote
    /// data (nginx keepalive_timeout 75s, node keepAliveTimeout 5s). Client: close a pooled
    /// connection with no request outstanding for this long (pool max-idle). "0s" = never.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) idle_timeout: Option<S<String>>,
    /// Server only: the listen queue (Linux somaxconn, 4096). More than this many connections
    /// waiting to be accepted and new SYNs (and completing ACKs) are dropped.
    #[schemars(with = "Option<u32>", range(min = 0, max = 65535))]
    pub(super) backlog: Option<S<i64>>,
    /// Server only: how long the application spends on each connection it accepts before the
    /// next (a TLS handshake, its set-up); "0s" (default) = at once.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) accept_time: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClient {
    /// Client hosts (default 1), each with its own access link ([client.link]) and TCP stack, all behind the one NAT.
    #[schemars(with = "Option<u32>", range(min = 1, max = 100000))]
    pub(super) count: Option<S<i64>>,
    /// Connections each client host keeps to the server: a pool (default 1).
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000))]
    pub(super) connections: Option<S<i64>>,
    pub(super) link: Option<RawLink>,
    pub(super) app: Option<RawApp>,
    pub(super) reconnect: Option<RawReconnect>,
    /// The client hosts' operating system (default "linux"): its keepalive defaults and its retransmission and connect give-up rules (`kasim list --presets`).
    #[serde(default)]
    #[schemars(schema_with = "os_schema")]
    pub(super) os: Option<S<String>>,
}

/// How a client replaces a connection that ended (a declaration, RST, EOF, a give-up).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReconnect {
    /// "off" (default: never, as v1), "eager" (at once), "lazy" (with the next request).
    #[serde(default)]
    #[schemars(schema_with = "reconnect_mode_schema")]
    pub(super) mode: Option<S<String>>,
    /// The pause after the first failed attempt (default 1s).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) initial_backoff: Option<S<String>>,
    /// Each further failure in a row multiplies the pause (default 2.0, at least 1).
    #[schemars(with = "Option<f64>", range(min = 1.0, max = 100.0))]
    pub(super) multiplier: Option<S<f64>>,
    /// The longest pause (default 2m).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) max_backoff: Option<S<String>>,
    /// Each pause is scaled by uniform(1 - jitter, 1 + jitter) (default 0, under 1).
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 0.999999))]
    pub(super) jitter: Option<S<f64>>,
    /// An attempt not established by then fails; "0s" (default) = the kernel's SYN retries (127 s).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) connect_timeout: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    /// Rate host -> network, e.g. "56kbit/s" (default 1Gbit/s).
    #[serde(default)]
    #[schemars(schema_with = "opt_rate_schema")]
    pub(super) up: Option<S<String>>,
    /// Rate network -> host.
    #[serde(default)]
    #[schemars(schema_with = "opt_rate_schema")]
    pub(super) down: Option<S<String>>,
    /// One-way propagation delay.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) delay: Option<S<String>>,
    /// FIFO limit per direction (default 4MiB).
    #[serde(default)]
    #[schemars(schema_with = "opt_size_schema")]
    pub(super) queue: Option<S<String>>,
    /// Random loss probability per packet.
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 0.999999))]
    pub(super) loss: Option<S<f64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNat {
    /// A named box whose numbers are the defaults of the keys below (`kasim list --presets`).
    #[serde(default)]
    #[schemars(schema_with = "nat_preset_schema")]
    pub(super) preset: Option<S<String>>,
    /// Idle timeout of an established flow (required without a preset).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) idle_timeout: Option<S<String>>,
    /// What the flow's next packet meets once the mapping is gone (required without a preset).
    #[serde(default)]
    #[schemars(schema_with = "on_expired_schema")]
    pub(super) on_expired: Option<S<String>>,
    /// Idle timeout during the handshake and after FIN/RST (default 4m).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) transitory_timeout: Option<S<String>>,
    /// Whether packets from outside refresh the mapping (default true).
    pub(super) refresh_on_inbound: Option<bool>,
    /// Idle timeout of a UDP flow (default 30s, Linux conntrack's).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) udp_idle_timeout: Option<S<String>>,
    /// Idle timeout of a UDP flow once both directions were seen (default: udp_idle_timeout; Linux conntrack: 120s).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) udp_stream_timeout: Option<S<String>>,
    /// (v3) Outside addresses (default 1): 64512 connections each; a client host's flows all leave from one.
    #[schemars(with = "Option<u16>", range(min = 1, max = 256))]
    pub(super) public_addresses: Option<S<i64>>,
}

/// A TCP-terminating proxy (a load balancer) between the NAT and the server's link.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProxy {
    /// A named proxy whose numbers are the defaults of the keys below (`kasim list --presets`).
    #[serde(default)]
    #[schemars(schema_with = "proxy_preset_schema")]
    pub(super) preset: Option<S<String>>,
    /// A client connection with no data either way for this long is closed (AWS ALB: 60s); "0s" = never (default).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) idle_timeout: Option<S<String>>,
    /// haproxy's `timeout client`: idle on the client's leg; with server_timeout instead of idle_timeout. Data either way restarts both; the shorter alone half-closes (a FIN toward the other side), both close as on_idle says; "0s" = never.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) client_timeout: Option<S<String>>,
    /// haproxy's `timeout server`: idle on the server's leg (see client_timeout); "0s" = never.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) server_timeout: Option<S<String>>,
    /// How: "fin" (default), "rst", or "silent" (forget both legs; the next segment meets a RST). With client_timeout/server_timeout, "fin" is haproxy's close (FIN to the client, FIN and RST to the server) and "rst" its nolinger (FIN and RST to the client, RST to the server).
    #[serde(default)]
    #[schemars(schema_with = "on_idle_schema")]
    pub(super) on_idle: Option<S<String>>,
}

/// One box of a `[[middlebox]]` chain: the keys of [nat] or of [proxy], as `kind` says.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMiddlebox {
    /// "nat" (a NAT-like box: a NAT, a firewall, a load balancer that does not terminate TCP) or "proxy" (a TCP-terminating one).
    #[schemars(schema_with = "middlebox_kind_schema")]
    pub(super) kind: S<String>,
    /// A named box of that kind (`kasim list --presets`).
    #[serde(default)]
    #[schemars(schema_with = "middlebox_preset_schema")]
    pub(super) preset: Option<S<String>>,
    /// nat: idle timeout of an established flow; proxy: of a client connection ("0s" = never).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) idle_timeout: Option<S<String>>,
    /// nat only: as [nat] on_expired.
    #[serde(default)]
    #[schemars(schema_with = "on_expired_schema")]
    pub(super) on_expired: Option<S<String>>,
    /// nat only: as [nat] transitory_timeout.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) transitory_timeout: Option<S<String>>,
    /// nat only: as [nat] refresh_on_inbound.
    #[schemars(with = "Option<bool>")]
    pub(super) refresh_on_inbound: Option<S<bool>>,
    /// nat only: as [nat] udp_idle_timeout.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) udp_idle_timeout: Option<S<String>>,
    /// nat only: as [nat] udp_stream_timeout.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) udp_stream_timeout: Option<S<String>>,
    /// nat only: as [nat] public_addresses.
    #[schemars(with = "Option<u16>", range(min = 1, max = 256))]
    pub(super) public_addresses: Option<S<i64>>,
    /// proxy only: as [proxy] client_timeout.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) client_timeout: Option<S<String>>,
    /// proxy only: as [proxy] server_timeout.
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) server_timeout: Option<S<String>>,
    /// proxy only: as [proxy] on_idle.
    #[serde(default)]
    #[schemars(schema_with = "on_idle_schema")]
    pub(super) on_idle: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTcp {
    /// net.ipv4.tcp_retries2 (default 15).
    #[schemars(with = "Option<u8>")]
    pub(super) retries2: Option<S<i64>>,
    /// net.ipv4.tcp_syn_retries (default 6).
    #[schemars(with = "Option<u8>", range(min = 1, max = 127))]
    pub(super) syn_retries: Option<S<i64>>,
    /// net.ipv4.tcp_syn_linear_timeouts (default 0 as before Linux 6.5; 6.5+ use 4).
    #[schemars(with = "Option<u8>", range(min = 0, max = 127))]
    pub(super) syn_linear_timeouts: Option<S<i64>>,
    /// net.ipv4.tcp_synack_retries (default 5).
    #[schemars(with = "Option<u8>")]
    pub(super) synack_retries: Option<S<i64>>,
    /// "linux" (HZ 250 timer wheel, default) or "exact".
    #[serde(default)]
    #[schemars(schema_with = "timers_schema")]
    pub(super) timers: Option<S<String>>,
    /// net.ipv4.tcp_no_metrics_save (default 0: a graceful close saves the
    /// peer's RTT, which seeds the next connection's first RTO; 1: never).
    #[schemars(with = "Option<u8>", range(min = 0, max = 1))]
    pub(super) no_metrics_save: Option<S<i64>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTraffic {
    #[schemars(schema_with = "traffic_kind_schema")]
    pub(super) kind: S<String>,
    /// requests only: "client" or "server".
    #[serde(default)]
    #[schemars(schema_with = "opt_side_schema")]
    pub(super) from: Option<S<String>>,
    /// Gap between messages (fixed, "exp(MEAN)" or "uniform(A, B)").
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    pub(super) every: Option<S<String>>,
    /// Once, at this time.
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    pub(super) at: Option<S<String>>,
    #[schemars(schema_with = "size_schema")]
    pub(super) size: S<String>,
    /// requests only: the reply's size.
    #[serde(default)]
    #[schemars(schema_with = "opt_size_schema")]
    pub(super) reply: Option<S<String>>,
    /// Stop after this many messages.
    #[schemars(with = "Option<u64>", range(min = 1))]
    pub(super) count: Option<S<i64>>,
    /// requests from the client only: one unanswered this long after it was issued is hung ("0s" = never).
    #[serde(default)]
    #[schemars(schema_with = "opt_duration_schema")]
    pub(super) timeout: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    #[schemars(schema_with = "fault_kind_schema")]
    pub(super) kind: S<String>,
    /// client | client:N | server (vanish, reboot, suspend, crash); client.link | client:N.link | server.link (outage); nat (nat_reboot); proxy (vanish, reboot, crash); middlebox:N, a box of a [[middlebox]] chain (nat_reboot of a nat box; vanish, reboot, crash of the proxy). With [client] count > 1, "client" means every client, each with its own draws.
    #[schemars(schema_with = "fault_target_schema")]
    pub(super) target: S<String>,
    /// Once, at this time (fixed, "exp(MEAN)" or "uniform(A, B)"). Give `at` or `every`.
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    pub(super) at: Option<S<String>>,
    /// Again and again: the gap before each occurrence (the first from time 0, the next from the
    /// end of the previous one), drawn anew each time. Not for vanish.
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    pub(super) every: Option<S<String>>,
    /// reboot, suspend and outage; for crash, the delay before the process restarts (none: it
    /// stays dead). Drawn anew for each occurrence.
    #[serde(default)]
    #[schemars(schema_with = "opt_time_schema")]
    pub(super) duration: Option<S<String>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    /// A strategy name of this scenario.
    #[schemars(with = "String")]
    pub(super) strategy: S<String>,
    /// For per-side metrics.
    #[serde(default)]
    #[schemars(schema_with = "opt_side_schema")]
    pub(super) side: Option<S<String>>,
    #[schemars(schema_with = "metric_schema")]
    pub(super) metric: S<String>,
    #[serde(default)]
    #[schemars(schema_with = "bound_schema")]
    pub(super) le: Option<S<toml::Value>>,
    #[serde(default)]
    #[schemars(schema_with = "bound_schema")]
    pub(super) ge: Option<S<toml::Value>>,
    #[serde(default)]
    #[schemars(schema_with = "bound_schema")]
    pub(super) eq: Option<S<toml::Value>>,
    /// Judge the interval at this level, not the figure (0 < confidence < 1): pass when the
    /// whole interval meets the bound, fail when the whole interval breaks it, else inconclusive.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub(super) confidence: Option<S<toml::Value>>,
}
