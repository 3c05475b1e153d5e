//! Middleboxes by name (`[nat] preset = "aws-nat-gateway"`, `[proxy] preset
//! = "aws-alb"`): the numbers and the behaviour at expiry that the field's
//! failures are told in, each with where it comes from. A preset only
//! supplies defaults: a key written in the file wins.
//!
//! Why a table of cited numbers and not a guess per vendor: a user who
//! writes `preset = "azure-lb"` is trusting kasim to know Azure's box, so
//! every figure says where it was read and as of when; a figure the vendor
//! does not publish is left at kasim's own default and says so.

use std::time::Duration;

/// A NAT-like box (a NAT, a firewall's or a pass-through load balancer's
/// connection tracking): its idle timers and what a forgotten flow meets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NatPreset {
    /// The name in `[nat] preset`.
    pub name: &'static str,
    /// `idle_timeout`: an established TCP flow idle this long is forgotten.
    pub idle_timeout: Duration,
    /// `on_expired`: `drop`, `rst`, `new_port` or `loose`.
    pub on_expired: &'static str,
    /// `transitory_timeout` (handshake, after FIN/RST), when the source gives one.
    pub transitory_timeout: Option<Duration>,
    /// `udp_idle_timeout`, when the source gives one.
    pub udp_idle_timeout: Option<Duration>,
    /// `udp_stream_timeout`, when the source gives one.
    pub udp_stream_timeout: Option<Duration>,
    /// Where the numbers come from, and as of when.
    pub source: &'static str,
}

/// A TCP-terminating proxy (a load balancer): how long an idle client
/// connection is kept and how it is closed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProxyPreset {
    /// The name in `[proxy] preset`.
    pub name: &'static str,
    /// Its idle timers: one for the client connection, or haproxy's two.
    pub timers: ProxyTimers,
    /// `on_idle`: `fin`, `rst` or `silent`.
    pub on_idle: &'static str,
    /// Where the numbers come from, and as of when.
    pub source: &'static str,
}

/// A proxy preset's idle timers (`[proxy]` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyTimers {
    /// `idle_timeout`: a client connection with no data either way this long is closed.
    Idle(Duration),
    /// `client_timeout` and `server_timeout`: haproxy's `timeout client` and
    /// `timeout server` (the shorter alone half-closes).
    PerSide {
        /// `client_timeout`.
        client: Duration,
        /// `server_timeout`.
        server: Duration,
    },
}

const fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Every NAT-like preset, in the order `kasim list --presets` prints them.
pub const NAT_PRESETS: &[NatPreset] = &[
    NatPreset {
        name: "aws-nat-gateway",
        idle_timeout: s(350),
        on_expired: "rst",
        transitory_timeout: None,
        udp_idle_timeout: None,
        udp_stream_timeout: None,
        source: "AWS VPC user guide, NAT gateways, troubleshooting (as of 2024): a flow idle for 350 s is \
                 dropped and the next packet from inside gets a TCP RST, not a FIN; not configurable. UDP timers \
                 are not published: kasim's defaults (30 s).",
    },
    NatPreset {
        name: "aws-nlb",
        idle_timeout: s(350),
        on_expired: "rst",
        transitory_timeout: None,
        udp_idle_timeout: Some(s(120)),
        udp_stream_timeout: Some(s(120)),
        source: "AWS Network Load Balancer guide, connection idle timeout (as of 2024): TCP 350 s, then a client \
                 or target that sends gets a TCP RST; UDP 120 s. Configurable for TCP (60-6000 s) since \
                 September 2024; 350 s is the default.",
    },
    NatPreset {
        name: "gcp-cloud-nat",
        idle_timeout: s(1200),
        on_expired: "drop",
        transitory_timeout: Some(s(30)),
        udp_idle_timeout: Some(s(30)),
        udp_stream_timeout: Some(s(30)),
        source: "Google Cloud NAT, NAT timeouts (as of 2024): TCP established 1200 s, TCP transitory 30 s, \
                 UDP 30 s (all configurable); a packet of a forgotten flow is dropped.",
    },
    NatPreset {
        name: "gcp-tcp-lb",
        idle_timeout: s(600),
        on_expired: "drop",
        transitory_timeout: None,
        udp_idle_timeout: None,
        udp_stream_timeout: None,
        source: "Google Cloud VPC firewall rules, specifications (as of 2024): the stateful firewall in front \
                 of a passthrough Network Load Balancer's backends tracks a TCP connection for 10 minutes of \
                 inactivity, then drops its packets silently.",
    },
    NatPreset {
        name: "azure-lb",
        idle_timeout: s(240),
        on_expired: "drop",
        transitory_timeout: None,
        udp_idle_timeout: None,
        udp_stream_timeout: None,
        source: "Azure Load Balancer, TCP reset and idle timeout (as of 2024): 4 minutes by default \
                 (configurable 4-100 min); the default at expiry is to drop the flow silently (`TCP reset on \
                 idle` is off unless enabled: on_expired = \"rst\" then).",
    },
    NatPreset {
        name: "azure-nat-gateway",
        idle_timeout: s(240),
        on_expired: "drop",
        transitory_timeout: None,
        udp_idle_timeout: Some(s(240)),
        udp_stream_timeout: Some(s(240)),
        source: "Azure NAT Gateway resource, timers (as of 2024): TCP idle timeout 4 minutes by default \
                 (configurable 4-120 min), UDP 4 minutes (fixed); the documentation describes no reset at the \
                 idle timeout: drop.",
    },
    NatPreset {
        name: "k8s-conntrack",
        idle_timeout: s(86_400),
        on_expired: "loose",
        transitory_timeout: Some(s(120)),
        udp_idle_timeout: Some(s(30)),
        udp_stream_timeout: Some(s(120)),
        source: "kube-proxy (iptables/nftables mode) sets nf_conntrack_tcp_timeout_established to 24 h \
                 (--conntrack-tcp-timeout-established, default 24h0m0s, as of Kubernetes 1.30); the kernel's own \
                 default is 432000 s (5 days). Linux picks a forgotten flow up again from mid-stream packets \
                 (nf_conntrack_tcp_loose = 1): loose. SYN_SENT/TIME_WAIT 120 s; UDP 30 s, 120 s once both \
                 directions were seen (kernel defaults).",
    },
    NatPreset {
        name: "k8s-ipvs",
        idle_timeout: s(900),
        on_expired: "drop",
        transitory_timeout: Some(s(120)),
        udp_idle_timeout: Some(s(300)),
        udp_stream_timeout: Some(s(300)),
        source:
            "The kernel's IPVS defaults (ipvsadm --set tcp tcpfin udp: 900 120 300, as of Linux 6.1), which kube-proxy in IPVS mode keeps \
                 unless --ipvs-tcp-timeout and friends are set; IPVS schedules only a SYN, so a mid-stream \
                 packet of a forgotten connection is dropped.",
    },
    NatPreset {
        name: "home-router",
        idle_timeout: s(7440),
        on_expired: "loose",
        transitory_timeout: Some(s(120)),
        udp_idle_timeout: Some(s(60)),
        udp_stream_timeout: Some(s(180)),
        source: "OpenWrt's conntrack defaults (sysctl-nf-conntrack.conf, as of OpenWrt 23.05): TCP established \
                 7440 s (RFC 5382's 2 h 4 min floor), UDP 60 s and 180 s once replied; Linux's loose pickup. \
                 Home gateways vary widely: Hätönen et al. (IMC 2010) measured UDP bindings as short as 30 s \
                 on 34 devices; write the keys to model a worse box.",
    },
    NatPreset {
        name: "carrier-nat",
        idle_timeout: s(300),
        on_expired: "drop",
        transitory_timeout: None,
        udp_idle_timeout: Some(s(30)),
        udp_stream_timeout: Some(s(30)),
        source: "Chosen figures, not one vendor's: 5 min TCP, silent (the short end of the 5-30 min that mobile \
                 carriers' NATs are reported to use; RFC 6888 asks for RFC 5382's 2 h 4 min, which carriers do \
                 not follow), 30 s UDP (the shortest binding Hätönen et al., IMC 2010, measured).",
    },
];

/// Every proxy preset, in the order `kasim list --presets` prints them.
pub const PROXY_PRESETS: &[ProxyPreset] = &[
    ProxyPreset {
        name: "aws-alb",
        timers: ProxyTimers::Idle(s(60)),
        on_idle: "fin",
        source: "AWS Application Load Balancer guide, connection idle timeout (as of 2024): 60 s by default \
                 (1-4000 s), then the load balancer closes the front-end connection.",
    },
    ProxyPreset {
        name: "gcp-https-lb",
        timers: ProxyTimers::Idle(s(610)),
        on_idle: "fin",
        source: "Google Cloud external Application Load Balancer, timeouts (as of 2024): the client HTTP \
                 keepalive timeout is 610 s (the backend's 600 s plus 10 s), then the proxy closes.",
    },
    ProxyPreset {
        name: "haproxy",
        timers: ProxyTimers::PerSide { client: s(50), server: s(50) },
        on_idle: "fin",
        source: "HAProxy as Debian and Ubuntu package it (/etc/haproxy/haproxy.cfg: timeout client 50000, \
                 timeout server 50000; 2.6.12 in Debian 12); measured on haproxy 2.6.12 in TCP mode (DESIGN.md, \
                 and again for this preset): both timers at once send a FIN to the client, then FIN and RST at once \
                 to the server; the shorter alone sends a FIN toward the other side (a half-close) and data either \
                 way restarts both; option nolinger (on_idle rst): FIN and RST to the client, RST to the server.",
    },
    ProxyPreset {
        name: "nginx",
        timers: ProxyTimers::Idle(s(600)),
        on_idle: "fin",
        source: "nginx stream proxy (ngx_stream_proxy_module, proxy_timeout 10m by default, as of 1.26): \
                 the connection closes after 10 minutes without data either way.",
    },
    ProxyPreset {
        name: "envoy",
        timers: ProxyTimers::Idle(s(3600)),
        on_idle: "fin",
        source: "Envoy's TCP proxy filter (idle_timeout, 1 hour by default, as of 1.30): the downstream and \
                 upstream connections close after an hour without data.",
    },
];

/// The NAT preset named `name`.
pub fn nat(name: &str) -> Option<&'static NatPreset> {
    NAT_PRESETS.iter().find(|p| p.name == name)
}

/// The proxy preset named `name`.
pub fn proxy(name: &str) -> Option<&'static ProxyPreset> {
    PROXY_PRESETS.iter().find(|p| p.name == name)
}

/// `"a", "b", …`: the names a `preset` key allows.
pub fn allowed(names: impl Iterator<Item = &'static str>) -> String {
    names.map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// `kasim list --presets`: every preset with its numbers and its source.
pub fn listing() -> String {
    let defaults = sim::nat::NatConfig::new(Duration::from_secs(1), sim::nat::OnExpired::Drop);
    let d = |t: Option<Duration>, default: Duration| match t {
        Some(t) => crate::units::format_duration(t),
        None => format!("{} (kasim's default)", crate::units::format_duration(default)),
    };
    let mut out = String::from("NAT-like boxes ([nat] preset = NAME; keys written in the file win):\n");
    for p in NAT_PRESETS {
        out.push_str(&format!(
            "  {}: idle_timeout {}, on_expired {}, transitory_timeout {}, udp_idle_timeout {}, udp_stream_timeout {}\n    {}\n",
            p.name,
            crate::units::format_duration(p.idle_timeout),
            p.on_expired,
            d(p.transitory_timeout, defaults.transitory_timeout),
            d(p.udp_idle_timeout, defaults.udp_idle_timeout),
            d(p.udp_stream_timeout, p.udp_idle_timeout.unwrap_or(defaults.udp_idle_timeout)),
            p.source.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out.push_str("\nProxies ([proxy] preset = NAME):\n");
    for p in PROXY_PRESETS {
        let timers = match p.timers {
            ProxyTimers::Idle(t) => format!("idle_timeout {}", crate::units::format_duration(t)),
            ProxyTimers::PerSide { client, server } => format!(
                "client_timeout {}, server_timeout {}",
                crate::units::format_duration(client),
                crate::units::format_duration(server)
            ),
        };
        out.push_str(&format!(
            "  {}: {timers}, on_idle {}\n    {}\n",
            p.name,
            p.on_idle,
            p.source.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out.push_str("\nOperating systems ([client] os / [server] os = NAME; a tcp_keepalive strategy's keys left out take the OS's):\n");
    for os in sim::tcp::Os::ALL {
        let (idle, interval, count) = os.keepalive_defaults();
        let cfg = os.tcp_config(&sim::tcp::TcpConfig::default());
        let data = match cfg.stack.max_retransmissions {
            Some(n) => format!("gives up at the timer after {n} retransmissions"),
            None => format!("gives up after tcp_retries2 = {} as time", cfg.retries2),
        };
        let backoff = match cfg.stack.max_backoff {
            Some(cap) => format!("RTO x{cap} at most"),
            None => "RTO doubling".to_string(),
        };
        let slop = if cfg.stack.rto_slop.is_zero() {
            String::new()
        } else {
            format!(" + {} slop", crate::units::format_duration(cfg.stack.rto_slop))
        };
        let connect = match cfg.stack.connect_timeout {
            Some(t) => format!("connect gives up at {}", crate::units::format_duration(t)),
            None => format!(
                "connect: {} SYN retransmissions from a {} RTO{}",
                cfg.syn_retries,
                crate::units::format_duration(cfg.rto_initial),
                if cfg.syn_linear_timeouts > 0 { format!(" ({} linear)", cfg.syn_linear_timeouts) } else { String::new() }
            ),
        };
        out.push_str(&format!(
            "  {}: keepalive {}/{}/{}; data {data} (min RTO {}, max {}, {backoff}{slop}); {connect}\n    {}\n",
            os.name(),
            crate::units::format_duration(idle),
            crate::units::format_duration(interval),
            count,
            crate::units::format_duration(cfg.rto_min),
            crate::units::format_duration(cfg.rto_max),
            os.source().split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    out
}
