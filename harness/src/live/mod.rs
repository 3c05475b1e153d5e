//! Live mode: run users' real tokio keepalive code, unchanged, on turmoil
//! hosts, and judge it with the same oracle and metrics as the event engine.
//!
//! Many teams' dead-peer detection is an async task that writes a ping and
//! races `tokio::time::timeout` against the pong. Implement [`LiveStrategy`]
//! with that code (over `turmoil::net::TcpStream`); report a verdict through
//! the [`DeathHandle`]. kasim builds a turmoil simulation per seed (`rng_seed`,
//! a fixed epoch), connects a client host to a server host, steps the
//! simulation tick by tick, and injects the scenario's faults at their drawn
//! instants with turmoil's primitives, where they are faithful:
//!
//! * vanish = partition, crash the server, repair: a silent power-off (packets
//!   to a crashed host go nowhere);
//! * reboot = partition, crash, and at the end bounce + repair: the host runs
//!   again without the connection, so the next segment meets RST;
//! * outage = hold, then release (messages wait, as TCP would retransmit them);
//! * link delay = `set_link_latency` (both access links' delays added).
//!
//! Everything else is refused with the list of what the scenario asks that
//! turmoil cannot express faithfully: link rates and queues (turmoil's links
//! have no bandwidth), random loss (`fail_rate` freezes TCP streams in
//! turmoil), NAT expiry, TCP sysctls and kernel keepalive (turmoil's TCP has
//! no RTO or keepalive timers), suspend, NAT reboot, crash, and workload
//! traffic (in live mode the user's code owns the stream).

mod capture;

use crate::driver::DriverStats;
use crate::record::RunRecord;
use crate::runner::derive_faults;
use crate::scenario::{FaultKind, Scenario};
use sim::link::LinkConfig;
use sim::oracle::{BreakCause, Condition, Declaration, Oracle};
use sim::tcp::TcpConfig;
use sim::trace::{FaultEvent, TraceEvent, TraceRecord};
use sim::world::Outcome;
use sim::{Instant, Side};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, SystemTime};
use turmoil::net::{TcpListener, TcpStream};

const CLIENT: &str = "client";
const SERVER: &str = "server";
const PORT: u16 = 4433;

/// A boxed task, as turmoil hosts run them (single-threaded: not `Send`).
pub type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

/// The user's code reports its verdict here.
#[derive(Clone)]
pub struct DeathHandle {
    side: Side,
    log: Rc<RefCell<Vec<(Side, Duration, String)>>>,
}

impl DeathHandle {
    /// The peer is dead, says this side's code; stamped with simulated time.
    pub fn declare_dead(&self, cause: &str) {
        let at = turmoil::sim_elapsed().unwrap_or_default();
        self.log.borrow_mut().push((self.side, at, cause.to_string()));
    }
}

/// A dead-peer detector written as ordinary async Rust.
pub trait LiveStrategy {
    /// The client's code, given its connected stream.
    fn client(&self, stream: TcpStream, dead: DeathHandle) -> LocalTask;
    /// The server's code for one accepted connection.
    fn server(&self, stream: TcpStream, dead: DeathHandle) -> LocalTask;
    /// Is every message this code sends a ping or a pong? Then the run's
    /// data messages count as keepalive traffic (`keepalive_packets_per_hour`).
    fn only_keepalive_traffic(&self) -> bool {
        false
    }
}

/// Why live mode cannot run a scenario.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LiveError {
    /// The scenario uses what turmoil cannot model faithfully ([`unsupported`]).
    #[error("{scenario}: live mode cannot express faithfully: {}", parts.join("; "))]
    Unsupported {
        /// The scenario's name, with its file in parentheses.
        scenario: String,
        /// Each part turmoil cannot express, with why ("client.link rates (turmoil
        /// links have no bandwidth)").
        parts: Vec<String>,
    },
    /// The scenario has no `live_*` strategy, so live mode has nothing to run.
    #[error("{scenario}: declares no live strategy (kind = \"live_ping\"); allowed in live mode: live_* kinds")]
    NoLiveStrategy {
        /// The scenario's name.
        scenario: String,
    },
}

/// Everything in `scenario` turmoil cannot express faithfully (empty: runnable).
pub fn unsupported(scenario: &Scenario) -> Vec<String> {
    let mut parts = Vec::new();
    let default = LinkConfig::default();
    for (name, link) in [("client.link", &scenario.client_link), ("server.link", &scenario.server_link)] {
        if link.up.rate_bps != default.rate_bps || link.down.rate_bps != default.rate_bps {
            parts.push(format!("{name} rates (turmoil links have no bandwidth)"));
        }
        if link.up.queue_bytes != default.queue_bytes {
            parts.push(format!("{name}.queue (no queues in turmoil)"));
        }
        if link.up.loss > 0.0 || link.down.loss > 0.0 {
            parts.push(format!("{name}.loss (turmoil's fail_rate freezes TCP streams)"));
        }
        if link.up.delay != link.down.delay {
            parts.push(format!("{name} asymmetric delay"));
        }
    }
    if scenario.nat().is_some() {
        parts.push("[nat] (no NAT or idle expiry in turmoil)".into());
    }
    if scenario.tcp != TcpConfig::default() {
        parts.push("[tcp] sysctls (turmoil's TCP has no RTO, retries2 or keepalive timers)".into());
    }
    if !scenario.traffic.is_empty() {
        parts.push("[[traffic]] (in live mode the user's code owns the stream)".into());
    }
    if scenario.clients > 1 || scenario.connections > 1 {
        parts.push("[client] count and connections (live mode runs one connection)".into());
    }
    for f in &scenario.faults {
        if !matches!(f.kind, FaultKind::Vanish | FaultKind::Reboot | FaultKind::Outage)
            || (f.kind != FaultKind::Outage && f.side != Some(Side::Server))
        {
            parts.push(format!(
                "fault {} of the {} (only the server's vanish and reboot, and link outages)",
                f.kind.name(),
                f.side.map_or("nat", Side::name)
            ));
        }
    }
    parts.sort();
    parts.dedup();
    parts
}

/// Timing of a live run.
#[derive(Clone, Copy, Debug)]
pub struct LiveConfig {
    /// turmoil's tick (default 1 ms): the granularity of simulated time.
    pub tick: Duration,
    /// Keep the run's log lines (the user's `tracing` events, turmoil's) with
    /// the faults and declarations as its trace, for a timeline.
    pub trace: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig { tick: Duration::from_millis(1), trace: false }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    Partition,
    Repair,
    Crash,
    Bounce,
    Hold,
    Release,
}

/// Run one seed of `strategy` on `scenario` under turmoil; the same record the
/// event engine produces, with wire statistics counted from turmoil's
/// messages and (`cfg.trace`) a trace of faults, declarations and log lines.
pub fn run(
    scenario: &Scenario,
    strategy: Rc<dyn LiveStrategy>,
    lookback: Duration,
    seed: u64,
    cfg: LiveConfig,
) -> Result<RunRecord, LiveError> {
    let parts = unsupported(scenario);
    if !parts.is_empty() {
        return Err(LiveError::Unsupported { scenario: scenario.name.clone(), parts });
    }
    let faults = derive_faults(scenario, seed);
    let mut oracle = Oracle::default();
    let mut actions: Vec<(Duration, Action)> = Vec::new();
    for f in &faults {
        let end = f.at + f.duration.unwrap_or_default();
        let at = Instant::ZERO + f.at;
        match f.kind {
            FaultKind::Vanish => {
                oracle.record_break(at, BreakCause::Vanish(Side::Server));
                actions.extend([(f.at, Action::Partition), (f.at, Action::Crash), (f.at, Action::Repair)]);
            }
            FaultKind::Reboot => {
                oracle.record_break(at, BreakCause::Reboot(Side::Server));
                actions.extend([(f.at, Action::Partition), (f.at, Action::Crash), (end, Action::Bounce), (end, Action::Repair)]);
            }
            FaultKind::Outage => {
                oracle.open_transient(at, Condition::Outage);
                oracle.close_transient(Instant::ZERO + end, Condition::Outage);
                actions.extend([(f.at, Action::Hold), (end, Action::Release)]);
            }
            _ => {}
        }
    }
    actions.sort_by_key(|a| a.0);

    let strategy_is_keepalive_only = strategy.only_keepalive_traffic();
    let log: Rc<RefCell<Vec<(Side, Duration, String)>>> = Rc::default();
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(SystemTime::UNIX_EPOCH)
        .tick_duration(cfg.tick)
        .simulation_duration(scenario.horizon + Duration::from_secs(3600))
        .build();
    let server_strategy = strategy.clone();
    let server_log = log.clone();
    sim.host(SERVER, move || {
        let strategy = server_strategy.clone();
        let log = server_log.clone();
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                let task = strategy.server(stream, DeathHandle { side: Side::Server, log: log.clone() });
                tokio::task::spawn_local(task);
            }
        }
    });
    let client_log = log.clone();
    sim.client(CLIENT, async move {
        let stream = TcpStream::connect((SERVER, PORT)).await?;
        strategy.client(stream, DeathHandle { side: Side::Client, log: client_log }).await;
        Ok(())
    });
    let delay = scenario.client_link.up.delay + scenario.server_link.up.delay;
    sim.set_link_latency(CLIENT, SERVER, delay.max(cfg.tick));

    let keepalive_only = strategy_is_keepalive_only;
    let (_, captured) = capture::capture(cfg.trace, |clock| {
        let mut next = 0;
        while sim.elapsed() < scenario.horizon {
            while let Some(&(at, action)) = actions.get(next) {
                if at > sim.elapsed() {
                    break;
                }
                match action {
                    Action::Partition => sim.partition(CLIENT, SERVER),
                    Action::Repair => sim.repair(CLIENT, SERVER),
                    Action::Crash => sim.crash(SERVER),
                    Action::Bounce => sim.bounce(SERVER),
                    Action::Hold => sim.hold(CLIENT, SERVER),
                    Action::Release => sim.release(CLIENT, SERVER),
                }
                next += 1;
            }
            clock.set(sim.elapsed());
            match sim.step() {
                Ok(true) => break,
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    let ended_at = Instant::ZERO + sim.elapsed().min(scenario.horizon);
    drop(sim);

    let mut declarations: Vec<Declaration> = Vec::new();
    for (side, at, cause) in log.borrow().iter() {
        let at = Instant::ZERO + *at;
        if declarations.iter().any(|d| d.side == *side) || at > Instant::ZERO + scenario.horizon {
            continue;
        }
        let peer_first = declarations.iter().any(|d| d.side == side.peer());
        declarations.push(Declaration {
            side: *side,
            at,
            cause: cause.clone(),
            verdict: oracle.judge(at, lookback, false),
            slot: 0,
            conn: 0,
            echo: sim::oracle::echoes_peer(cause, peer_first),
        });
    }
    declarations.sort_by_key(|d| d.at);
    let mut outcome = Outcome {
        ended_at,
        broken: oracle.broken(),
        slots: vec![sim::world::SlotOutcome {
            // One client, on turmoil's clock (live mode suspends no host).
            client_clock: ended_at,
            connections: vec![sim::world::ConnOutcome { broken: oracle.broken(), ..Default::default() }],
        }],
        declarations,
        stats: captured.stats,
        mappings_expired: 0,
        nat_expired_at: Vec::new(),
        messages_received: [0; 2],
        events_processed: 0,
        trace: Vec::new(),
        stopped: None,
    };
    if cfg.trace {
        outcome.trace = trace_of(&faults, &outcome.declarations, captured.records);
    }
    // A ping-only strategy's messages are its keepalive traffic: the client's pings, the server's pongs.
    let mut endpoints = [DriverStats::default(); 2];
    if keepalive_only {
        endpoints[0].pings = captured.data_messages[0];
        endpoints[0].ping_bytes = captured.data_bytes[0];
        endpoints[1].pongs = captured.data_messages[1];
        endpoints[1].pong_bytes = captured.data_bytes[1];
    }
    Ok(RunRecord { seed, faults, outcome, endpoints, horizon: scenario.horizon, requests: None, request_log: Vec::new() })
}

/// A live run's trace: its faults (as the engine traces them), its
/// declarations with their verdicts, and the captured log lines, in time order.
fn trace_of(faults: &[crate::record::DerivedFault], declarations: &[Declaration], logs: Vec<TraceRecord>) -> Vec<TraceRecord> {
    let mut trace = Vec::new();
    for f in faults {
        let (at, end) = (Instant::ZERO + f.at, Instant::ZERO + f.at + f.duration.unwrap_or_default());
        let side = f.side.unwrap_or(Side::Server);
        let events: &[(Instant, FaultEvent)] = match f.kind {
            FaultKind::Vanish => &[(at, FaultEvent::Vanish(side))],
            FaultKind::Reboot => &[(at, FaultEvent::RebootStart(side)), (end, FaultEvent::RebootDone(side))],
            FaultKind::Outage => &[(at, FaultEvent::OutageStart(side)), (end, FaultEvent::OutageEnd(side))],
            _ => &[],
        };
        trace.extend(events.iter().map(|&(at, f)| TraceRecord { at, event: TraceEvent::Fault(f), conn: None }));
    }
    for d in declarations {
        trace.push(TraceRecord {
            at: d.at,
            event: TraceEvent::Declared { side: d.side, cause: d.cause.clone(), verdict: d.verdict, echo: d.echo },
            conn: None,
        });
    }
    trace.extend(logs);
    // Stable: at one instant, faults, then declarations, then log lines.
    trace.sort_by_key(|r| r.at);
    trace
}

/// The tokio implementation of a declared `live_*` strategy, if it is one.
pub fn from_spec(spec: &crate::strategy::StrategySpec) -> Option<Rc<dyn LiveStrategy>> {
    match *spec.kind() {
        crate::strategy::StrategyKind::LivePing { interval, timeout } => Some(Rc::new(TokioPing { interval, timeout })),
        _ => None,
    }
}

/// The built-in live strategy `live_ping`: a tokio ping/pong keepalive with the
/// same policy as `app_ping` (pong liveness, no idle skipping), written the way
/// an application would write it. Frames are 8 bytes: a sequence number.
pub struct TokioPing {
    /// `interval`: between pings, on turmoil's simulated clock (default 10 min).
    pub interval: Duration,
    /// `timeout`: how long to wait for the pong before declaring the peer dead (default 3 min).
    pub timeout: Duration,
}

impl LiveStrategy for TokioPing {
    fn only_keepalive_traffic(&self) -> bool {
        true
    }

    fn client(&self, stream: TcpStream, dead: DeathHandle) -> LocalTask {
        let (interval, timeout) = (self.interval, self.timeout);
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut rd, mut wr) = stream.into_split();
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            let mut seq = 0u64;
            loop {
                ticker.tick().await;
                seq += 1;
                if wr.write_all(&seq.to_be_bytes()).await.is_err() {
                    return dead.declare_dead("write failed");
                }
                let pong = async {
                    let mut buf = [0u8; 8];
                    loop {
                        rd.read_exact(&mut buf).await?;
                        if u64::from_be_bytes(buf) == seq {
                            return Ok::<(), std::io::Error>(());
                        }
                    }
                };
                match tokio::time::timeout(timeout, pong).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return dead.declare_dead("EOF"),
                    Ok(Err(_)) => return dead.declare_dead("ECONNRESET"),
                    Err(_) => return dead.declare_dead("ping timeout"),
                }
            }
        })
    }

    fn server(&self, stream: TcpStream, _dead: DeathHandle) -> LocalTask {
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut rd, mut wr) = stream.into_split();
            let mut buf = [0u8; 8];
            while rd.read_exact(&mut buf).await.is_ok() {
                if wr.write_all(&buf).await.is_err() {
                    return;
                }
            }
        })
    }
}
