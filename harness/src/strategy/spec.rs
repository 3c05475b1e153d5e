//! A strategy as a scenario declares it: its name, its sides, its
//! parameters as written, and the same parameters parsed once into a
//! [`StrategyKind`], which everything that runs or judges the strategy
//! reads. The written form is what a change starts from (`kasim tune`'s
//! points, an OS's keepalive defaults). The two are made together (by
//! [`StrategySpec::new`] and [`StrategySpec::with_param`]), so they cannot
//! disagree, and a value that does not parse is an error there, never a
//! silent default later.

use super::kinds::{KindSpec, TransportKind};
use super::{Amqp, AppPing, Erlang, Grpc, GrpcServer, Liveness, Mqtt, MqttBroker, NoStrategy, PhiAccrual, Ssh, Strategy, TcpKeepalive};
use crate::units;
use sim::tcp::Keepalive;
use sim::Side;
use std::collections::BTreeMap;
use std::time::Duration;

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

impl Transport {
    /// Which transport, without its configuration.
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Tcp => TransportKind::Tcp,
            Transport::Quic(_) => TransportKind::Quic,
            Transport::Tunnel(_) => TransportKind::Tunnel,
        }
    }
}

/// What kasim's agent speaks as the client of a server program (`protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentProtocol {
    /// HTTP/1.1: each request a `GET` padded to its size, each reply a
    /// response read by its `Content-Length`, matched to the requests in order.
    Http,
}

/// A strategy kind with its parameters, parsed and checked: one variant per
/// entry of [`KINDS`](super::KINDS), whose defaults fill what a file leaves
/// out. Where a kind allows `0s` for "off", the field is `None` when the
/// value is an option the system leaves unset (`user_timeout`, QUIC's and
/// the tunnel's keepalives) and stays zero where the system itself reads
/// zero as off (`Ssh::interval`, `Grpc::time`, QUIC's `max_idle_timeout`).
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyKind {
    /// `none`: only TCP's retransmission timeout, when data is sent.
    None,
    /// `tcp_keepalive`: SO_KEEPALIVE with its three options, and TCP_USER_TIMEOUT.
    TcpKeepalive {
        /// `idle`, `interval`, `count`.
        keepalive: Keepalive,
        /// `user_timeout`; `None` when `0s` (off).
        user_timeout: Option<Duration>,
    },
    /// `app_ping`: application pings in the data stream.
    AppPing {
        /// `interval`: between pings.
        interval: Duration,
        /// `timeout`: wait for proof of life after a ping.
        timeout: Duration,
        /// `idle_only`: skip the ping after traffic within the interval.
        idle_only: bool,
        /// `liveness`: what proves life.
        liveness: Liveness,
        /// `ping_size`: bytes per ping and pong.
        ping_size: u64,
    },
    /// `live_ping`: a tokio task on turmoil (`--engine live`); in the event
    /// engine its twin, an `app_ping` with pong liveness and 8-byte pings.
    LivePing {
        /// `interval`: between pings.
        interval: Duration,
        /// `timeout`: wait for the pong.
        timeout: Duration,
    },
    /// `phi_accrual`: Akka's failure detector.
    PhiAccrual {
        /// `interval`: between heartbeat requests.
        interval: Duration,
        /// `threshold`: phi at which the peer is declared dead.
        threshold: f64,
        /// `window`: inter-arrival samples kept.
        window: usize,
        /// `min_std_dev`: floor of the standard deviation.
        min_std_dev: Duration,
        /// `acceptable_pause`: added to the mean.
        acceptable_pause: Duration,
    },
    /// `grpc`: HTTP/2 keepalive, the client's pings and the server's enforcement.
    Grpc {
        /// `time`: the client pings after this long without reading; zero = off.
        time: Duration,
        /// `timeout`: the client closes if nothing is read this long after a ping.
        timeout: Duration,
        /// `permit_without_calls`: the client pings with no active call.
        permit_without_calls: bool,
        /// `min_time`: the server counts closer pings as strikes.
        min_time: Duration,
        /// `permit_without_stream`: the server allows pings with no active stream.
        permit_without_stream: bool,
    },
    /// `ssh`: OpenSSH's ServerAlive messages.
    Ssh {
        /// `interval`: ServerAliveInterval; zero = off.
        interval: Duration,
        /// `count_max`: ServerAliveCountMax.
        count_max: u32,
    },
    /// `mqtt`: the client's PINGREQ and the broker's 1.5 K.
    Mqtt {
        /// `keep_alive`: Keep Alive K.
        keep_alive: Duration,
    },
    /// `amqp`: RabbitMQ's heartbeats.
    Amqp {
        /// `heartbeat`: the negotiated timeout H.
        heartbeat: Duration,
    },
    /// `redis`: `tcp-keepalive N`, the server's kernel keepalive.
    Redis {
        /// `tcp_keepalive`: N.
        tcp_keepalive: Duration,
    },
    /// `quic`: QUIC instead of TCP.
    Quic {
        /// `keep_alive_interval`; `None` when `0s` (off, quinn's default).
        keep_alive_interval: Option<Duration>,
        /// `max_idle_timeout`; zero = none.
        max_idle_timeout: Duration,
    },
    /// `udp_keepalive`: a WireGuard-style tunnel instead of TCP.
    UdpKeepalive {
        /// `persistent_keepalive`; `None` when `0s` (off).
        persistent_keepalive: Option<Duration>,
        /// `timeout`: declare the peer dead after this long without receiving; `None` = never.
        timeout: Option<Duration>,
    },
    /// `program`: real programs on real stacks (`--engine netns`).
    Program {
        /// `client`: the client's command line; `None` = kasim's agent,
        /// running the scenario's workload and speaking `protocol` (only
        /// with a `server`).
        client: Option<Vec<String>>,
        /// `server`: the server's command line; `None` = kasim's own server.
        server: Option<Vec<String>>,
        /// `protocol`: what the agent speaks to the server program when it
        /// is the client.
        protocol: AgentProtocol,
        /// `proxy`: with a `[proxy]`, the proxy's command line; `None` =
        /// kasim's own relay, which runs the `[proxy]` model.
        proxy: Option<Vec<String>>,
        /// `declare`: the regular expression of a line that declares the peer dead.
        declare: Option<String>,
        /// `env`: environment variables of both programs, in key order.
        env: Vec<(String, String)>,
    },
    /// `erlang`: the distribution's net_ticktime.
    Erlang {
        /// `net_ticktime`: T.
        net_ticktime: Duration,
    },
}

/// A parameter that does not parse as its kind's table says it should.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's key.
    pub key: &'static str,
    /// Its value, as written.
    pub value: String,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` = {:?} does not parse", self.key, self.value)
    }
}

impl std::error::Error for ParamError {}

/// Reads a kind's parameters (defaults filled in) by type.
struct Params<'a>(&'a BTreeMap<&'static str, String>);

impl Params<'_> {
    fn raw(&self, key: &'static str) -> Result<&str, ParamError> {
        self.0.get(key).map(String::as_str).ok_or(ParamError { key, value: String::new() })
    }
    fn bad(&self, key: &'static str) -> ParamError {
        ParamError { key, value: self.0.get(key).cloned().unwrap_or_default() }
    }
    fn duration(&self, key: &'static str) -> Result<Duration, ParamError> {
        units::parse_duration(self.raw(key)?).map_err(|_| self.bad(key))
    }
    /// A duration where zero means off.
    fn optional(&self, key: &'static str) -> Result<Option<Duration>, ParamError> {
        Ok(Some(self.duration(key)?).filter(|d| !d.is_zero()))
    }
    fn number(&self, key: &'static str) -> Result<f64, ParamError> {
        self.raw(key)?.parse::<f64>().map_err(|_| self.bad(key))
    }
    fn count(&self, key: &'static str) -> Result<u32, ParamError> {
        self.raw(key)?.parse::<u32>().map_err(|_| self.bad(key))
    }
    fn flag(&self, key: &'static str) -> Result<bool, ParamError> {
        self.raw(key)?.parse::<bool>().map_err(|_| self.bad(key))
    }
    fn size(&self, key: &'static str) -> Result<u64, ParamError> {
        units::parse_size(self.raw(key)?).map_err(|_| self.bad(key))
    }
    /// A text that may be left out (`""`).
    fn text(&self, key: &'static str) -> Result<Option<String>, ParamError> {
        Ok(Some(self.raw(key)?.to_string()).filter(|v| !v.is_empty()))
    }
    /// A command line, kept as a JSON array; `None` when left out.
    fn argv(&self, key: &'static str) -> Result<Option<Vec<String>>, ParamError> {
        match self.text(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_str(&v).map(Some).map_err(|_| self.bad(key)),
        }
    }
}

impl StrategyKind {
    /// The kind `name` with `params` (every parameter of the kind, defaults
    /// filled in, each already checked against its [`ParamType`](super::ParamType)).
    pub fn parse(name: &str, params: &BTreeMap<&'static str, String>) -> Result<StrategyKind, ParamError> {
        let p = Params(params);
        Ok(match name {
            "none" => StrategyKind::None,
            "tcp_keepalive" => StrategyKind::TcpKeepalive {
                keepalive: Keepalive { idle: p.duration("idle")?, interval: p.duration("interval")?, count: p.count("count")? },
                user_timeout: p.optional("user_timeout")?,
            },
            "app_ping" => StrategyKind::AppPing {
                interval: p.duration("interval")?,
                timeout: p.duration("timeout")?,
                idle_only: p.flag("idle_only")?,
                liveness: Liveness::named(p.raw("liveness")?).ok_or_else(|| p.bad("liveness"))?,
                ping_size: p.size("ping_size")?,
            },
            "live_ping" => StrategyKind::LivePing { interval: p.duration("interval")?, timeout: p.duration("timeout")? },
            "phi_accrual" => StrategyKind::PhiAccrual {
                interval: p.duration("interval")?,
                threshold: p.number("threshold")?,
                window: p.count("window")? as usize,
                min_std_dev: p.duration("min_std_dev")?,
                acceptable_pause: p.duration("acceptable_pause")?,
            },
            "grpc" => StrategyKind::Grpc {
                time: p.duration("time")?,
                timeout: p.duration("timeout")?,
                permit_without_calls: p.flag("permit_without_calls")?,
                min_time: p.duration("min_time")?,
                permit_without_stream: p.flag("permit_without_stream")?,
            },
            "ssh" => StrategyKind::Ssh { interval: p.duration("interval")?, count_max: p.count("count_max")? },
            "mqtt" => StrategyKind::Mqtt { keep_alive: p.duration("keep_alive")? },
            "amqp" => StrategyKind::Amqp { heartbeat: p.duration("heartbeat")? },
            "redis" => StrategyKind::Redis { tcp_keepalive: p.duration("tcp_keepalive")? },
            "quic" => StrategyKind::Quic {
                keep_alive_interval: p.optional("keep_alive_interval")?,
                max_idle_timeout: p.duration("max_idle_timeout")?,
            },
            "udp_keepalive" => {
                StrategyKind::UdpKeepalive { persistent_keepalive: p.optional("persistent_keepalive")?, timeout: p.optional("timeout")? }
            }
            "program" => StrategyKind::Program {
                // A program strategy runs at least one real program: the
                // client, or the server with kasim's agent as its client.
                client: match (p.argv("client")?, p.argv("server")?) {
                    (None, None) => return Err(p.bad("client")),
                    (client, _) => client,
                },
                server: p.argv("server")?,
                protocol: match p.raw("protocol")? {
                    "http" => AgentProtocol::Http,
                    _ => return Err(p.bad("protocol")),
                },
                proxy: p.argv("proxy")?,
                declare: p.text("declare")?,
                env: match p.text("env")? {
                    None => Vec::new(),
                    Some(v) => serde_json::from_str::<BTreeMap<String, String>>(&v).map_err(|_| p.bad("env"))?.into_iter().collect(),
                },
            },
            "erlang" => StrategyKind::Erlang { net_ticktime: p.duration("net_ticktime")? },
            _ => return Err(ParamError { key: "kind", value: name.to_string() }),
        })
    }

    /// Its name in `kind` (`tcp_keepalive`, `quic`, …).
    pub fn name(&self) -> &'static str {
        match self {
            StrategyKind::None => "none",
            StrategyKind::TcpKeepalive { .. } => "tcp_keepalive",
            StrategyKind::AppPing { .. } => "app_ping",
            StrategyKind::LivePing { .. } => "live_ping",
            StrategyKind::PhiAccrual { .. } => "phi_accrual",
            StrategyKind::Grpc { .. } => "grpc",
            StrategyKind::Ssh { .. } => "ssh",
            StrategyKind::Mqtt { .. } => "mqtt",
            StrategyKind::Amqp { .. } => "amqp",
            StrategyKind::Redis { .. } => "redis",
            StrategyKind::Quic { .. } => "quic",
            StrategyKind::UdpKeepalive { .. } => "udp_keepalive",
            StrategyKind::Program { .. } => "program",
            StrategyKind::Erlang { .. } => "erlang",
        }
    }

    /// Its entry in the table of kinds.
    pub fn spec(&self) -> &'static KindSpec {
        KindSpec::named(self.name()).expect("every StrategyKind has an entry in KINDS")
    }

    /// It runs in the kernel (SO_KEEPALIVE), not in the application.
    pub fn is_kernel_keepalive(&self) -> bool {
        matches!(self, StrategyKind::TcpKeepalive { .. } | StrategyKind::Redis { .. })
    }

    /// The longest it stays quiet on an idle connection, with the
    /// parameter that sets it: a kernel keepalive's `idle` (its `interval`
    /// only spaces unanswered probes), else the period it pings or beats at;
    /// `None` for a strategy that sends nothing of its own (`none`, a
    /// program, a period of 0).
    pub fn quiet_period(&self) -> Option<(Duration, &'static str)> {
        use StrategyKind as K;
        let (period, key) = match *self {
            K::TcpKeepalive { keepalive, .. } => (keepalive.idle, "idle"),
            K::AppPing { interval, .. } | K::LivePing { interval, .. } | K::PhiAccrual { interval, .. } | K::Ssh { interval, .. } => {
                (interval, "interval")
            }
            K::Mqtt { keep_alive } => (keep_alive, "keep_alive"),
            K::Amqp { heartbeat } => (heartbeat, "heartbeat"),
            K::Grpc { time, .. } => (time, "time"),
            K::UdpKeepalive { persistent_keepalive, .. } => (persistent_keepalive.unwrap_or_default(), "persistent_keepalive"),
            K::Quic { keep_alive_interval, .. } => (keep_alive_interval.unwrap_or_default(), "keep_alive_interval"),
            K::Erlang { net_ticktime } => (net_ticktime, "net_ticktime"),
            K::Redis { tcp_keepalive } => (tcp_keepalive, "tcp_keepalive"),
            K::None | K::Program { .. } => return None,
        };
        (!period.is_zero()).then_some((period, key))
    }

    /// A fresh instance for `side` of one run.
    pub fn build(&self, side: Side) -> Box<dyn Strategy> {
        match *self {
            StrategyKind::LivePing { interval, timeout } => Box::new(AppPing::new(interval, timeout, false, Liveness::Pong, 8)),
            StrategyKind::PhiAccrual { interval, threshold, window, min_std_dev, acceptable_pause } => {
                Box::new(PhiAccrual::new(interval, threshold, window, min_std_dev, acceptable_pause))
            }
            // gRPC's client keepalive is off unless `time` is set.
            StrategyKind::Grpc { time, .. } if side == Side::Client && time.is_zero() => Box::new(NoStrategy),
            StrategyKind::Grpc { time, timeout, permit_without_calls, .. } if side == Side::Client => {
                Box::new(Grpc::new(time, timeout, permit_without_calls))
            }
            StrategyKind::Grpc { min_time, permit_without_stream, .. } => Box::new(GrpcServer::new(min_time, permit_without_stream)),
            StrategyKind::Ssh { interval, count_max } => Box::new(Ssh::new(interval, count_max)),
            StrategyKind::Mqtt { keep_alive } if side == Side::Client => Box::new(Mqtt::new(keep_alive)),
            StrategyKind::Mqtt { keep_alive } => Box::new(MqttBroker::new(keep_alive)),
            StrategyKind::Amqp { heartbeat } => Box::new(Amqp::new(heartbeat)),
            StrategyKind::Erlang { net_ticktime } => Box::new(Erlang::new(net_ticktime)),
            StrategyKind::Redis { tcp_keepalive } => {
                Box::new(TcpKeepalive { keepalive: redis_keepalive(tcp_keepalive), user_timeout: None })
            }
            StrategyKind::TcpKeepalive { keepalive, user_timeout } => Box::new(TcpKeepalive { keepalive, user_timeout }),
            StrategyKind::AppPing { interval, timeout, idle_only, liveness, ping_size } => {
                Box::new(AppPing::new(interval, timeout, idle_only, liveness, ping_size))
            }
            StrategyKind::None | StrategyKind::Quic { .. } | StrategyKind::UdpKeepalive { .. } | StrategyKind::Program { .. } => {
                Box::new(NoStrategy)
            }
        }
    }

    /// What its connections run over, keep-alives sent from `sides`.
    pub fn transport(&self, sides: &[Side]) -> Transport {
        let on_sides = |d: Option<Duration>| Side::BOTH.map(|side| d.filter(|_| sides.contains(&side)));
        match *self {
            StrategyKind::Quic { keep_alive_interval, max_idle_timeout } => {
                Transport::Quic(sim::quic::QuicConfig { keep_alive: on_sides(keep_alive_interval), max_idle_timeout })
            }
            StrategyKind::UdpKeepalive { persistent_keepalive, timeout } => {
                Transport::Tunnel(sim::tunnel::TunnelConfig { persistent_keepalive: on_sides(persistent_keepalive), dead_after: timeout })
            }
            _ => Transport::Tcp,
        }
    }

    /// The longest a healthy detector may wait for proof of life: how far back
    /// a false positive looks for a transient condition to blame (at least a minute).
    pub fn detection_window(&self) -> Duration {
        match *self {
            StrategyKind::AppPing { interval, timeout, .. } | StrategyKind::LivePing { interval, timeout } => interval + timeout,
            StrategyKind::TcpKeepalive { keepalive, .. } => keepalive.interval * keepalive.count,
            StrategyKind::PhiAccrual { interval, acceptable_pause, .. } => (interval + acceptable_pause) * 2,
            StrategyKind::Grpc { time, timeout, .. } => time + timeout,
            StrategyKind::Ssh { interval, count_max } => interval * (count_max + 1),
            StrategyKind::Mqtt { keep_alive } => keep_alive * 2,
            StrategyKind::Amqp { heartbeat } => heartbeat * 3,
            StrategyKind::Redis { tcp_keepalive } => tcp_keepalive * 2,
            StrategyKind::Erlang { net_ticktime } => net_ticktime * 5 / 4,
            StrategyKind::Quic { keep_alive_interval, max_idle_timeout } => keep_alive_interval.unwrap_or_default() + max_idle_timeout,
            StrategyKind::UdpKeepalive { persistent_keepalive, timeout } => {
                persistent_keepalive.unwrap_or_default() + timeout.unwrap_or_default()
            }
            StrategyKind::None | StrategyKind::Program { .. } => Duration::from_secs(600),
        }
        .max(Duration::from_secs(60))
    }
}

/// Redis's `anetKeepAlive`: idle N, interval N/3 (at least 1 s), count 3.
fn redis_keepalive(n: Duration) -> Keepalive {
    Keepalive { idle: n, interval: (n / 3).max(Duration::from_secs(1)), count: 3 }
}

/// A strategy as a scenario declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategySpec {
    /// `name`: unique among the scenario's strategies; what `--strategy`, `[[expect]]` and
    /// reports call it.
    pub name: String,
    /// `sides`: where the strategy runs (sorted, no duplicates, not empty); the kind's
    /// [`KindSpec::default_sides`] when the table has no `sides`.
    pub sides: Vec<Side>,
    /// The kind, its parameters parsed (read with [`kind`](Self::kind)).
    kind: StrategyKind,
    /// Every parameter of the kind, defaults filled in, as written.
    params: BTreeMap<&'static str, String>,
}

impl StrategySpec {
    /// A strategy of kind `kind` with `params` (every parameter of the kind,
    /// defaults filled in, each checked against its type).
    pub fn new(name: String, kind: &str, sides: Vec<Side>, params: BTreeMap<&'static str, String>) -> Result<StrategySpec, ParamError> {
        let kind = StrategyKind::parse(kind, &params)?;
        Ok(StrategySpec { name, sides, kind, params })
    }

    /// The same strategy with parameter `key` set to `value` (checked
    /// against its type by the caller).
    pub fn with_param(&self, key: &'static str, value: String) -> Result<StrategySpec, ParamError> {
        let mut params = self.params.clone();
        params.insert(key, value);
        StrategySpec::new(self.name.clone(), self.kind.name(), self.sides.clone(), params)
    }

    /// Every parameter of the kind, defaults filled in, as written.
    pub fn params(&self) -> &BTreeMap<&'static str, String> {
        &self.params
    }

    /// The kind, its parameters parsed.
    pub fn kind(&self) -> &StrategyKind {
        &self.kind
    }

    /// Its kind's name (`tcp_keepalive`, …).
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// A fresh instance for `side` of one run.
    pub fn build(&self, side: Side) -> Box<dyn Strategy> {
        self.kind.build(side)
    }

    /// What the strategy's connections run over: QUIC for `quic`, a datagram
    /// tunnel for `udp_keepalive`, TCP for every other kind. Keep-alives go
    /// from the strategy's sides.
    pub fn transport(&self) -> Transport {
        self.kind.transport(&self.sides)
    }

    /// See [`StrategyKind::detection_window`].
    pub fn detection_window(&self) -> Duration {
        self.kind.detection_window()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::KINDS;

    /// Every kind parses from its table's defaults, and gives back its name.
    #[test]
    fn every_kind_parses_from_its_defaults_and_names_itself() {
        for k in KINDS {
            let mut params: BTreeMap<&'static str, String> = k.params.iter().map(|p| (p.name, p.default.to_string())).collect();
            if k.kind == "program" {
                // The one parameter without a default.
                params.insert("client", "[\"true\"]".into());
            }
            let kind = StrategyKind::parse(k.kind, &params).unwrap_or_else(|e| panic!("{}: {e}", k.kind));
            assert_eq!(kind.name(), k.kind);
            assert_eq!(kind.transport(&[Side::Client]).kind(), k.transport, "{}", k.kind);
        }
    }

    /// Linux's defaults (2 h, 75 s, 9) and the kernel's own give-up: the
    /// window a false positive looks back over is interval x count = 675 s.
    #[test]
    fn the_defaults_are_linuxs_and_a_bad_value_is_an_error() {
        let params: BTreeMap<&'static str, String> =
            [("idle", "2h"), ("interval", "75s"), ("count", "9"), ("user_timeout", "0s")].map(|(k, v)| (k, v.to_string())).into();
        let spec = StrategySpec::new("k".into(), "tcp_keepalive", vec![Side::Client], params).unwrap();
        let linux = Keepalive { idle: Duration::from_secs(7200), interval: Duration::from_secs(75), count: 9 };
        assert_eq!(spec.kind, StrategyKind::TcpKeepalive { keepalive: linux, user_timeout: None });
        assert_eq!(spec.detection_window(), Duration::from_secs(675));
        let bad = spec.with_param("count", "nine".into());
        assert_eq!(bad, Err(ParamError { key: "count", value: "nine".into() }));
        let idle = spec.with_param("idle", "330s".into()).unwrap();
        assert_eq!(
            idle.kind,
            StrategyKind::TcpKeepalive { keepalive: Keepalive { idle: Duration::from_secs(330), ..linux }, user_timeout: None }
        );
        assert_eq!(idle.params()["idle"], "330s");
    }

    /// Redis 7's `tcp-keepalive 300`: idle 300 s, interval 100 s, count 3;
    /// a 2 s setting keeps the 1 s floor on the interval.
    #[test]
    fn redis_keepalive_is_anets() {
        let k = redis_keepalive(Duration::from_secs(300));
        assert_eq!((k.idle, k.interval, k.count), (Duration::from_secs(300), Duration::from_secs(100), 3));
        assert_eq!(redis_keepalive(Duration::from_secs(2)).interval, Duration::from_secs(1));
    }

    /// The names scenario files use (v1's), each to its own choice.
    #[test]
    fn liveness_names_are_the_files_and_round_trip() {
        assert_eq!(Liveness::Pong.name(), "pong");
        assert_eq!(Liveness::AnyBytes.name(), "any_bytes");
        assert_eq!(Liveness::AckProgress.name(), "ack_progress");
        for l in Liveness::ALL {
            assert_eq!(Liveness::named(l.name()), Some(l));
        }
        assert_eq!(Liveness::named("pongs"), None);
    }
}
