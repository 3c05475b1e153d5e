//! `--engine netns`: the scenario's hosts are real Linux network namespaces
//! running real programs, and kasim is the network between them.
//!
//! Why: the event engine judges kasim's *model* of a policy. The failures
//! users bring live in real programs (an SSH client whose keepalive fires at
//! twice its interval, a server that closes idle connections a few ms late),
//! and no other tool puts a real program behind a NAT that forgets idle
//! flows. Here every host (each client, the server) is a namespace with its
//! own kernel stack, the scenario's `[tcp]` as its sysctls, and a TUN device
//! as its only route. kasim reads each real packet, carries it through the
//! event engine's own link and NAT models in real time ([`network`]), and
//! writes it into its destination with rewritten addresses and checksums
//! ([`packet`]). The oracle and every metric are the event engine's: the
//! [`judge`] rebuilds each connection from the wire, the programs' lines and
//! the namespaces' socket tables, and produces the same [`Outcome`](sim::Outcome).
//!
//! What runs in the hosts: a `kind = "program"` strategy's own command
//! lines, or, for every other TCP kind, kasim's agent (the `agent` module), which runs the
//! event engine's own application (workload, strategy, idle timeout,
//! reconnects and requests) on a real socket. Each run makes its namespaces
//! fresh and removes them; a run killed with SIGKILL leaves namespaces named
//! `kasim-cal-<pid>-…`, which the next `kasim calibrate` or netns run reaps.
//!
//! A scenario's `[proxy]` is a host too (after the NAT, before the server),
//! running the strategy's `proxy` program or else kasim's own relay of the
//! proxy model.
//!
//! A `quic` strategy runs the event engine's own QUIC socket (quinn-proto)
//! over real UDP sockets in the hosts (the `quic_app` module), through the
//! same NAT models' UDP timers.
//!
//! Limits of this first part (each named by [`unsupported`]): no proxy
//! before a NAT, no datagram tunnel, no proxy with QUIC, at
//! most [`MAX_CLIENTS`] client hosts and [`MAX_SLOTS`] connection slots.
//! Several connections per client host run as one agent per slot, each
//! connecting from ports of its own, which is how the judge tells them
//! apart on the wire. A suspended host's kernel keeps its timers
//! running (the event engine freezes them): real namespaces cannot be frozen.

mod agent;
pub mod compare;
mod host;
mod http_wire;
pub mod judge;
pub mod network;
pub mod packet;
mod plan;
mod programs;
mod quic_app;
mod record;
mod relay;
mod run;
mod socket_app;
mod tun;

pub use agent::{run as agent_main, AgentArgs};

use crate::calibrate::TestbedError;
use crate::record::RunRecord;
use crate::scenario::Scenario;
use crate::strategy::StrategySpec;
use sim::Instant;
use std::path::PathBuf;
use std::time::Duration;

/// The most client hosts (namespaces) a netns run takes: each is a
/// namespace, a TUN device and a program, polled every 10 ms.
pub const MAX_CLIENTS: u32 = 16;

/// The most connection slots (`[client] count` x `connections`) a netns run
/// takes: each is an agent process of its own.
pub const MAX_SLOTS: u32 = 64;

/// The port the server listens on, as in the event engine.
pub const PORT: u16 = 8000;

/// How often each namespace's socket table is read.
const TABLE_EVERY: Duration = Duration::from_millis(10);

/// How long the server gets to start listening before the run begins.
const LISTEN_WAIT: Duration = Duration::from_secs(5);

/// Why a netns run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A namespace command failed.
    #[error("{0}")]
    Testbed(#[from] TestbedError),
    /// A program could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// Its `argv[0]`.
        program: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Something of a namespace could not be opened.
    #[error("{what}: {source}")]
    Namespace {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A program exited before doing its job.
    #[error("`{program}` exited at start ({status}); the last lines of its stderr:\n{tail}")]
    ExitedAtStart {
        /// Its `argv[0]`.
        program: String,
        /// Its exit status.
        status: String,
        /// Its last stderr lines.
        tail: String,
    },
    /// A program strategy's `declare` is not a regular expression (the
    /// scenario's check refuses one; this is for a strategy made in code).
    #[error("the program strategy's `declare` is not a regular expression: {0}")]
    Declare(#[from] regex::Error),
    /// The server's (or the proxy's) program never listened.
    #[error("`{program}` did not listen on port {port} within {}s", LISTEN_WAIT.as_secs())]
    NoListener {
        /// Its `argv[0]`.
        program: String,
        /// The port it was to listen on.
        port: u16,
    },
    /// The scenario uses what this engine does not run yet.
    #[error("{scenario}: --engine netns cannot run: {}", parts.join("; "))]
    Unsupported {
        /// The scenario's name.
        scenario: String,
        /// Each part, with what is allowed.
        parts: Vec<String>,
    },
    /// Reading or writing a TUN device failed.
    #[error("TUN device: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything in `scenario` with `strategy` this engine cannot run yet (empty: runnable).
pub fn unsupported(scenario: &Scenario, strategy: &StrategySpec) -> Vec<String> {
    let mut parts = Vec::new();
    if matches!(strategy.transport(), crate::strategy::Transport::Tunnel(_)) {
        parts.push(format!("strategy kind {} (not yet: datagram tunnels; allowed: program, quic and the TCP kinds)", strategy.kind_name()));
    }
    if is_quic(strategy) && scenario.proxy().is_some() {
        parts.push("a [proxy] with a quic strategy (the proxy relays TCP)".into());
    }
    // A client program owns its stream; kasim's agent as a server
    // program's client runs the scenario's workload (in HTTP).
    let program = matches!(strategy.kind(), crate::strategy::StrategyKind::Program { client: Some(_), .. });
    if matches!(strategy.kind(), crate::strategy::StrategyKind::Program { client: None, .. }) {
        let other =
            scenario.traffic.iter().filter(|t| (t.kind, t.from) != (crate::scenario::TrafficKind::Requests, sim::Side::Client)).count();
        if other > 0 {
            parts.push(format!(
                "[[traffic]] other than the client's requests ({other} of {}) with a server program (kasim's agent is its HTTP client; allowed: kind = \"requests\", from = \"client\")",
                scenario.traffic.len()
            ));
        }
    }
    if let (Some(p), Some((n, _))) = (scenario.proxy_position(), scenario.nats().next()) {
        if p < n {
            parts.push("a proxy before a NAT (this engine's path is: clients, the NAT, the proxy, the server)".into());
        }
    }
    for (key, os) in [("client", scenario.client_os), ("server", scenario.server_os)] {
        // Android's stack is Linux's: its hosts run this kernel as they are.
        if let Some(os) = os.filter(|&o| o != sim::tcp::Os::Android) {
            parts.push(format!("[{key}] os = \"{}\" (real hosts here run Linux; allowed: linux, android)", os.name()));
        }
    }
    if program && scenario.sessions() {
        parts.push("sessions with a program strategy ([client.reconnect], request timeouts: kasim cannot see a program's requests)".into());
    }
    if program && !scenario.traffic.is_empty() {
        parts.push("[[traffic]] with a program strategy (the program owns its stream)".into());
    }
    if program && scenario.connections > 1 {
        parts.push("[client] connections > 1 with a program strategy (the program owns its host's connections)".into());
    }
    if scenario.connections > agent::MAX_CONNECTIONS {
        parts.push(format!("[client] connections {} (allowed: at most {} per client host)", scenario.connections, agent::MAX_CONNECTIONS));
    }
    if scenario.clients * scenario.connections > MAX_SLOTS {
        parts.push(format!(
            "[client] count x connections = {} (allowed: at most {MAX_SLOTS} connection slots, one agent each)",
            scenario.clients * scenario.connections
        ));
    }
    if scenario.clients > MAX_CLIENTS {
        parts.push(format!("[client] count {} (allowed: at most {MAX_CLIENTS} client hosts)", scenario.clients));
    }
    // The client is always the program, which has its own idle timeout; a
    // server program has its own too (the key is then its twin's), and
    // kasim's own server honours `[server.app] idle_timeout`.
    if program && scenario.client_idle_timeout.is_some() {
        parts.push("[client.app] idle_timeout with a program strategy (the program has its own)".into());
    }
    if scenario.accept.is_some() {
        parts.push("[server] backlog and accept_time (the real kernel's listen queue decides)".into());
    }
    let default = sim::tcp::TcpConfig::default();
    let t = &scenario.tcp;
    if (t.mss, t.rto_min, t.rto_max, t.rto_initial, t.initial_cwnd, t.receive_window)
        != (default.mss, default.rto_min, default.rto_max, default.rto_initial, default.initial_cwnd, default.receive_window)
    {
        parts.push("[tcp] mss, rto_*, initial_cwnd, receive_window (allowed: retries2, syn_retries, synack_retries, syn_linear_timeouts, tail_loss_probe, no_metrics_save: the sysctls)".into());
    }
    parts.sort();
    parts.dedup();
    parts
}

/// The strategy's connections are QUIC over UDP.
fn is_quic(strategy: &StrategySpec) -> bool {
    matches!(strategy.transport(), crate::strategy::Transport::Quic(_))
}

/// The port the server listens on for `strategy`: QUIC's UDP port, as in
/// the event engine, or [`PORT`].
pub fn service_port(strategy: &StrategySpec) -> u16 {
    if is_quic(strategy) {
        sim::quic::PORT
    } else {
        PORT
    }
}

/// How a netns run is made.
#[derive(Clone, Debug)]
pub struct NetnsConfig {
    /// The kasim binary whose hidden `agent` subcommand runs the built-in kinds.
    pub agent: PathBuf,
    /// Keep a trace (packets, translations, faults, program lines,
    /// declarations) in the record, and the real packets (`kasim replay`).
    pub trace: bool,
}

/// One netns run: the record every report reads, and the scheduling accuracy.
#[derive(Debug)]
pub struct NetnsRun {
    /// The same record the event engine produces.
    pub record: RunRecord,
    /// Each packet's lateness (its write minus its modelled arrival), in ns.
    pub lateness_ns: Vec<u64>,
    /// The real packets on both sides of the NAT, when traced (for a pcap).
    pub packets: Vec<(Instant, Vec<u8>)>,
}

/// Run one seed of `strategy` on `scenario` with real hosts, in real time.
pub fn run(scenario: &Scenario, strategy: &StrategySpec, seed: u64, cfg: &NetnsConfig) -> Result<NetnsRun, NetnsError> {
    let parts = unsupported(scenario, strategy);
    if !parts.is_empty() {
        return Err(NetnsError::Unsupported { scenario: scenario.name.clone(), parts });
    }
    // Wake-ups to the nanosecond: the default 50 µs of slack would be lateness.
    // SAFETY: prctl on the calling thread with a plain integer argument.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    let mut run = run::RealRun::prepare(scenario, strategy, seed, cfg)?;
    run.start_clients()?;
    run.run_to_horizon()?;
    Ok(run.finish())
}
