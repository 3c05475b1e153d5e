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
//! the namespaces' socket tables, and produces the same [`Outcome`].
//!
//! What runs in the hosts: a `kind = "program"` strategy's own command
//! lines, or, for the built-in kinds that are socket options (`none`,
//! `tcp_keepalive`), kasim's [`agent`]. Each run makes its namespaces fresh
//! and removes them; a run killed with SIGKILL leaves namespaces named
//! `kasim-cal-<pid>-…`, which the next `kasim calibrate` or netns run reaps.
//!
//! Limits of this first part (each refused with a clear message by
//! [`unsupported`]): no proxy, no workload traffic or sessions, one
//! connection per client, at most [`MAX_CLIENTS`] client hosts, and only
//! the kinds above. A suspended host's kernel keeps its timers running (the
//! event engine freezes them): real namespaces cannot be frozen.

mod agent;
pub mod compare;
mod host;
pub mod judge;
pub mod network;
pub mod packet;
mod record;
mod socket_app;
mod tun;

pub use agent::{run as agent_main, AgentArgs};

use crate::calibrate::TestbedError;
use crate::runner::{derive_faults, DerivedFault, RunRecord};
use crate::scenario::{FaultKind, Scenario};
use crate::strategy::StrategySpec;
use host::{Line, RealHost};
use judge::Judge;
use network::{Network, Note};
use packet::Packet;
use sim::link::Outage;
use sim::oracle::{BreakCause, Condition};
use sim::packet::addr;
use sim::world::HostRef;
use sim::{Instant, Side};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The most client hosts (namespaces) a netns run takes: each is a
/// namespace, a TUN device and a program, polled every 10 ms.
pub const MAX_CLIENTS: u32 = 16;

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
        /// Its argv[0].
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
        /// Its argv[0].
        program: String,
        /// Its exit status.
        status: String,
        /// Its last stderr lines.
        tail: String,
    },
    /// The server program never listened.
    #[error("the server program did not listen on port {PORT} within {}s", LISTEN_WAIT.as_secs())]
    NoListener,
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
    if matches!(strategy.transport(), crate::strategy::Transport::Quic(_) | crate::strategy::Transport::Tunnel(_)) {
        parts.push(format!("strategy kind {} (not yet: QUIC and datagram tunnels; allowed: program and the TCP kinds)", strategy.kind));
    }
    if scenario.proxy.is_some() {
        parts.push("[proxy] (not yet: no proxy host)".into());
    }
    if scenario.sessions() {
        parts.push(
            "sessions: [client.reconnect], request timeouts, session metrics (not yet: the agent's request outcomes stay in it)".into(),
        );
    }
    if strategy.kind == "program" && !scenario.traffic.is_empty() {
        parts.push("[[traffic]] with a program strategy (the program owns its stream)".into());
    }
    if scenario.connections > 1 {
        parts.push("[client] connections > 1 (one connection per client host)".into());
    }
    if scenario.clients > MAX_CLIENTS {
        parts.push(format!("[client] count {} (allowed: at most {MAX_CLIENTS} client hosts)", scenario.clients));
    }
    if strategy.kind == "program" && (scenario.client_idle_timeout.is_some() || scenario.server_idle_timeout.is_some()) {
        parts.push("[client.app]/[server.app] idle_timeout with a program strategy (the program has its own)".into());
    }
    if scenario.accept.is_some() {
        parts.push("[server] backlog and accept_time (the real kernel's listen queue decides)".into());
    }
    let default = sim::tcp::TcpConfig::default();
    let t = &scenario.tcp;
    if (t.mss, t.rto_min, t.rto_max, t.rto_initial, t.initial_cwnd, t.receive_window)
        != (default.mss, default.rto_min, default.rto_max, default.rto_initial, default.initial_cwnd, default.receive_window)
    {
        parts.push("[tcp] mss, rto_*, initial_cwnd, receive_window (allowed: retries2, syn_retries, synack_retries, syn_linear_timeouts, tail_loss_probe: the sysctls)".into());
    }
    for f in &scenario.faults {
        if f.proxy {
            parts.push(format!("fault {} of the proxy", f.kind.name()));
        }
    }
    parts.sort();
    parts.dedup();
    parts
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

/// What runs in the hosts, with placeholders filled in.
struct Programs {
    client: Vec<Vec<String>>,
    server: Vec<String>,
    env: Vec<(String, String)>,
    /// A line matching it is a declaration; its cause is the line (the
    /// agent's: the cause after its prefix).
    declare: Option<regex::Regex>,
    /// The agent's stdin (the scenario's text) when it runs the hosts.
    agent_input: Option<String>,
}

impl Programs {
    fn of(scenario: &Scenario, strategy: &StrategySpec, seed: u64, cfg: &NetnsConfig) -> Result<Programs, NetnsError> {
        let server_ip = addr::SERVER.ip().to_string();
        let fill = |argv: &[String], client: u32| -> Vec<String> {
            argv.iter()
                .map(|a| {
                    a.replace("{server}", &server_ip)
                        .replace("{port}", &PORT.to_string())
                        .replace("{client}", &client.to_string())
                        .replace("{seed}", &seed.to_string())
                })
                .collect()
        };
        let agent = |role: &str, target: String, slot: u32| -> Vec<String> {
            let mut argv = vec![cfg.agent.display().to_string(), "agent".into(), role.into(), target];
            argv.extend(["--strategy".into(), strategy.name.clone(), "--seed".into(), seed.to_string(), "--slot".into(), slot.to_string()]);
            argv
        };
        let agent_server = || agent("server", PORT.to_string(), 0);
        if strategy.kind == "program" {
            let client = strategy.argv("client").unwrap_or_default();
            let server = strategy.argv("server").map(|s| fill(&s, 0));
            let text = match server {
                Some(_) => None,
                None => Some(scenario_text(scenario)?),
            };
            return Ok(Programs {
                client: (0..scenario.clients).map(|i| fill(&client, i)).collect(),
                server: server.unwrap_or_else(agent_server),
                env: strategy.env("env"),
                declare: strategy.params.get("declare").filter(|d| !d.is_empty()).and_then(|d| regex::Regex::new(d).ok()),
                agent_input: text,
            });
        }
        Ok(Programs {
            client: (0..scenario.clients).map(|i| agent("client", addr::SERVER.to_string(), i)).collect(),
            server: agent_server(),
            env: Vec::new(),
            declare: None,
            agent_input: Some(scenario_text(scenario)?),
        })
    }

    /// What to write on a host's program's stdin: the scenario, for the agent.
    fn stdin_of(&self, argv: &[String], cfg: &NetnsConfig) -> Option<&str> {
        let is_agent = argv.first().is_some_and(|p| *p == cfg.agent.display().to_string()) && argv.get(1).is_some_and(|a| a == "agent");
        self.agent_input.as_deref().filter(|_| is_agent)
    }

    /// The declaration a line makes, if any.
    fn declaration(&self, line: &str) -> Option<String> {
        if let Some(cause) = line.strip_prefix(agent::DEAD) {
            return Some(cause.trim().to_string());
        }
        if line.starts_with("kasim-agent: ") {
            return None;
        }
        self.declare.as_ref().filter(|re| re.is_match(line)).map(|_| line.trim().to_string())
    }
}

/// The scenario's text, for the agent (a bundled scenario's from the binary).
fn scenario_text(s: &Scenario) -> Result<String, NetnsError> {
    crate::cli::source_text(&s.path)
        .map_err(|e| NetnsError::Namespace { what: format!("read {}", s.path.display()), source: std::io::Error::other(e.to_string()) })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    Break(usize, BreakCause),
    Power(usize, bool),
    Stop(usize),
    Resume(usize),
    /// Kill its programs; `true`: also replace its namespace (a reboot's empty socket state).
    Kill(usize, bool),
    Restart(usize),
    NatReboot,
}

fn host_index(f: &DerivedFault, server: usize) -> Option<usize> {
    match f.host {
        Some(HostRef::Client(c)) => Some(c as usize),
        Some(HostRef::Server) => Some(server),
        _ => None,
    }
}

/// The actions a run's faults take, in time order.
fn actions(faults: &[DerivedFault], server: usize) -> Vec<(Instant, Action)> {
    let mut v = Vec::new();
    for f in faults {
        let at = Instant::ZERO + f.at;
        let end = at + f.duration.unwrap_or_default();
        let Some(h) = host_index(f, server) else {
            if f.kind == FaultKind::NatReboot {
                v.push((at, Action::NatReboot));
            }
            continue;
        };
        let side = if h == server { Side::Server } else { Side::Client };
        match f.kind {
            FaultKind::Vanish => {
                v.extend([(at, Action::Break(h, BreakCause::Vanish(side))), (at, Action::Power(h, false)), (at, Action::Stop(h))])
            }
            FaultKind::Reboot => v.extend([
                (at, Action::Break(h, BreakCause::Reboot(side))),
                (at, Action::Power(h, false)),
                (at, Action::Kill(h, true)),
                (end, Action::Power(h, true)),
                (end, Action::Restart(h)),
            ]),
            FaultKind::Crash => {
                v.extend([(at, Action::Break(h, BreakCause::Crash(side))), (at, Action::Kill(h, false))]);
                if f.duration.is_some() {
                    v.push((end, Action::Restart(h)));
                }
            }
            FaultKind::Suspend => {
                v.extend([(at, Action::Power(h, false)), (at, Action::Stop(h)), (end, Action::Power(h, true)), (end, Action::Resume(h))])
            }
            FaultKind::Outage | FaultKind::NatReboot => {}
        }
    }
    v.sort_by_key(|a| a.0);
    v
}

static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// Sleep until `deadline` (from `start`) or until a TUN device has a packet.
fn wait(fds: &[i32], start: std::time::Instant, deadline: Duration) {
    let left = deadline.saturating_sub(start.elapsed());
    if left.is_zero() {
        return;
    }
    let mut polls: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let ts = libc::timespec { tv_sec: left.as_secs() as libc::time_t, tv_nsec: left.subsec_nanos() as libc::c_long };
    // SAFETY: valid pollfd array and timespec for the duration of the call.
    unsafe {
        libc::ppoll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, &ts, std::ptr::null());
    }
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
    let id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let clients = scenario.clients as usize;
    let server = clients;
    let server_ip = *addr::SERVER.ip();
    let mut hosts = Vec::new();
    for i in 0..clients {
        hosts.push(RealHost::new(&format!("e{id}-c{i}"), addr::client_ip(i as u32), &scenario.tcp)?);
    }
    hosts.push(RealHost::new(&format!("e{id}-s"), server_ip, &scenario.tcp)?);
    let mut net = Network::new(seed, scenario.clients, &scenario.client_link, server_ip, &scenario.server_link, scenario.nat.clone());
    let mut judge = Judge::new(clients, PORT, scenario.nat.as_ref().map(|n| n.on_expired));
    let faults = derive_faults(scenario, seed);
    for f in faults.iter().filter(|f| f.kind == FaultKind::Outage) {
        if let (Some(h), Some(d)) = (host_index(f, server), f.duration) {
            let at = Instant::ZERO + f.at;
            net.add_outage(h, Outage::new(at, d));
            judge.transient(h, Condition::Outage, at, at + d);
        }
    }
    for f in faults.iter().filter(|f| f.kind == FaultKind::Suspend) {
        if let (Some(h), Some(d)) = (host_index(f, server), f.duration) {
            let at = Instant::ZERO + f.at;
            judge.transient(h, Condition::Suspend, at, at + d);
        }
    }
    let programs = Programs::of(scenario, strategy, seed, cfg)?;
    let (tx, rx) = mpsc::channel::<Line>();
    let argv_of = |h: usize| if h == server { &programs.server } else { &programs.client[h] };

    hosts[server].spawn(server, argv_of(server), &programs.env, programs.stdin_of(argv_of(server), cfg), &tx)?;
    let waited = std::time::Instant::now();
    loop {
        if hosts[server].table().iter().any(|e| e.state == 10 && e.local.port() == PORT) {
            break;
        }
        if let Some((program, status, tail)) = hosts[server].exited().into_iter().next() {
            return Err(NetnsError::ExitedAtStart { program, status, tail: tail.join("\n") });
        }
        if waited.elapsed() > LISTEN_WAIT {
            return Err(NetnsError::NoListener);
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    // A reboot's fresh namespace is made now: making one takes ~30 ms of `ip`
    // commands, which in the middle of the run would stall every host's packets.
    let plan = actions(&faults, server);
    let mut spares: Vec<Option<RealHost>> = Vec::new();
    for (i, (_, action)) in plan.iter().enumerate() {
        spares.push(match *action {
            Action::Kill(h, true) => {
                let addr = if h == server { server_ip } else { addr::client_ip(h as u32) };
                Some(RealHost::new(&format!("e{id}-{h}r{i}"), addr, &scenario.tcp)?)
            }
            _ => None,
        });
    }
    let start = std::time::Instant::now();
    let clock = |t: std::time::Instant| Instant::ZERO + t.saturating_duration_since(start);
    for (h, host) in hosts.iter_mut().enumerate().take(clients) {
        host.spawn(h, argv_of(h), &programs.env, programs.stdin_of(argv_of(h), cfg), &tx)?;
    }
    let mut next_action = 0;
    let horizon = Instant::ZERO + scenario.horizon;
    let mut buf = vec![0u8; 65536];
    let mut next_table = Instant::ZERO;
    let mut lateness_ns = Vec::new();
    let mut rec = record::Recorder::new(cfg.trace, scenario.nat.is_some());
    let mut endpoints = [crate::driver::DriverStats::default(); 2];
    let side_of = |h: usize| if h == server { Side::Server } else { Side::Client };
    let mut opened = vec![false; clients];
    loop {
        let now = clock(std::time::Instant::now());
        if now >= horizon {
            break;
        }
        while let Some(&(at, action)) = plan.get(next_action).filter(|a| a.0 <= now) {
            next_action += 1;
            match action {
                Action::Break(h, cause) => {
                    judge.host_broke(at, h, cause);
                    if matches!(cause, BreakCause::Crash(_) | BreakCause::Reboot(_)) {
                        judge.killed(at, h);
                    }
                }
                Action::Power(h, on) => {
                    net.set_powered(h, on);
                    judge.set_down(h, !on);
                }
                Action::Stop(h) => hosts[h].stop(),
                Action::Resume(h) => hosts[h].resume(),
                Action::Kill(h, fresh) => {
                    hosts[h].kill();
                    if let Some(spare) = spares[next_action - 1].take().filter(|_| fresh) {
                        let old = std::mem::replace(&mut hosts[h], spare);
                        // Removing a namespace takes a while too: not on the packets' time.
                        std::thread::spawn(move || drop(old));
                    }
                }
                Action::Restart(h) => hosts[h].spawn(h, argv_of(h), &programs.env, programs.stdin_of(argv_of(h), cfg), &tx)?,
                Action::NatReboot => net.reboot_nat(),
            }
        }
        for (h, host) in hosts.iter_mut().enumerate() {
            while let Some(n) = host.tun.recv(&mut buf)? {
                let t = clock(std::time::Instant::now());
                if let Ok(p) = Packet::parse(buf[..n].to_vec()) {
                    if h < clients && p.seg.dst.port() == PORT {
                        opened[h] = true;
                    }
                    let kind = judge.sent(t, h, &p.seg, n);
                    rec.sent(t, side_of(h), sim::packet::Segment { kind, ..p.seg }, &p.bytes);
                    net.from_host(t, h, p);
                }
            }
        }
        net.handle_timeout(clock(std::time::Instant::now()));
        let now = clock(std::time::Instant::now());
        while let Some(note) = net.poll_note() {
            match note {
                Note::Translated { before, after } => {
                    judge.translated(&before, &after);
                    rec.translated(now, before, after);
                }
                Note::Nat(e) => judge.nat(now, &e),
                Note::Lost { host, at } => judge.lost(host, at),
                Note::NatReset(seg) => rec.nat_reset(now, seg),
            }
        }
        while let Some(d) = net.poll_delivery() {
            // A host being replaced (a reboot) may refuse a write: the packet is lost, as it would be.
            let _ = hosts[d.host].tun.send(&d.packet.bytes);
            let t = clock(std::time::Instant::now());
            lateness_ns.push((t - d.due).as_nanos() as u64);
            judge.delivered(t, d.host, &d.packet.seg);
            // Parsed packets are `Data` until classified; only the network's own (a NAT's RST) are `Reset` here.
            rec.delivered(t, &d.packet.bytes, d.packet.seg.kind == sim::packet::SegmentKind::Reset);
        }
        while let Ok(line) = rx.try_recv() {
            let at = clock(line.at);
            if let Some(cause) = programs.declaration(&line.text) {
                judge.declared(at, line.host, cause);
            }
            let stats = &mut endpoints[side_of(line.host).index()];
            if let Some(bytes) = line.text.strip_prefix(agent::PING).and_then(|b| b.trim().parse::<u64>().ok()) {
                stats.pings += 1;
                stats.ping_bytes += bytes;
            } else if let Some(bytes) = line.text.strip_prefix(agent::PONG).and_then(|b| b.trim().parse::<u64>().ok()) {
                stats.pongs += 1;
                stats.pong_bytes += bytes;
            }
            let program = argv_of(line.host).first().map(|p| p.rsplit('/').next().unwrap_or(p)).unwrap_or_default();
            rec.line(at, side_of(line.host), program, &line.text);
        }
        if now >= next_table {
            for (h, host) in hosts.iter_mut().enumerate() {
                judge.table(now, h, &host.table());
                for (program, status, tail) in host.exited() {
                    if h < clients && !opened[h] && !status.contains("exit status: 0") {
                        return Err(NetnsError::ExitedAtStart { program, status, tail: tail.join("\n") });
                    }
                    judge.exited(now, h, &status);
                }
            }
            next_table = now + TABLE_EVERY;
        }
        let due = [net.poll_timeout(), plan.get(next_action).map(|a| a.0), Some(next_table), Some(horizon)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(horizon);
        let fds: Vec<i32> = hosts.iter().map(|h| h.tun.fd()).collect();
        wait(&fds, start, due.since_start());
    }
    drop(hosts);
    let mut outcome = judge.finish(horizon, strategy.detection_window());
    let (trace, packets) = rec.finish(&faults, &outcome.declarations);
    outcome.trace = trace;
    let record = RunRecord { seed, faults, outcome, endpoints, horizon: scenario.horizon, requests: None, request_log: Vec::new() };
    Ok(NetnsRun { record, lateness_ns, packets })
}
