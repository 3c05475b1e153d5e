//! kasim's own program on real hosts (`kasim agent`, a hidden subcommand of
//! the same binary), for the built-in strategy kinds.
//!
//! Under `--engine netns` every TCP strategy kind, and `quic` (over the
//! event engine's own QUIC socket: the `quic_app` module), runs as this
//! program in each host's namespace, with the event engine's own application for its
//! side (the scenario's workload, the strategy, the application idle
//! timeout, the reconnect policy) driven on a real socket by
//! [`SocketApp`](super::socket_app::SocketApp). The scenario's text comes on
//! stdin, so a bundled scenario needs no file. What the application decides
//! reaches kasim as lines on stdout:
//!
//! * `kasim-agent: dead CAUSE`: a declaration (the strategy's, or a socket
//!   error's: ETIMEDOUT, ECONNRESET, EOF, as the event engine names them);
//! * `kasim-agent: closed on purpose LOCAL PEER`: its application closed
//!   the connection with these addresses on purpose (an idle timeout),
//!   which is no declaration;
//! * `kasim-agent: ping BYTES` / `kasim-agent: pong BYTES`: the strategy's
//!   keepalive messages, which `keepalive_packets_per_hour` counts;
//! * `kasim-agent: requests {JSON}`: in a scenario with sessions, the
//!   client's request outcomes ([`RequestCounts`]), printed when kasim ends
//!   the run with SIGTERM at the horizon (requests still pending then are
//!   settled as the event engine settles them at its horizon).
//!
//! Behind a `[proxy]`, `kasim agent proxy` runs the event engine's proxy
//! model on real sockets (the `relay` module). As the client of a `program`
//! strategy's server (one without `client`), it speaks HTTP/1.1 instead of
//! kasim's frames (the `http_wire` module).
//!
//! The client connects once per slot and again when the application asks
//! (a reconnect); the server accepts, and gives its k-th connection the
//! application of slot k (a server cannot tell which client host a
//! connection behind a NAT came from).

use super::quic_app;
use super::socket_app::{Ended, SocketApp, Wire};
use crate::driver::{AppDriver, ClientSession, DriverStats};
use crate::scenario::Scenario;
use crate::session::{Reconnector, RequestBook, RequestCounts};
use crate::strategy::StrategyKind;
use sim::app::{AppEvent, AppIo, Application};
use sim::socket::SocketError;
use sim::{Instant, Side};
use std::cell::RefCell;
use std::io::Read;
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the agent prints when its side declares the peer dead.
pub const DEAD: &str = "kasim-agent: dead ";
/// What it prints for each keepalive message its strategy sends.
pub const PING: &str = "kasim-agent: ping ";
/// What it prints for each answer its application sends.
pub const PONG: &str = "kasim-agent: pong ";
/// What it prints when its application closes a connection on purpose (an
/// idle timeout): not a declaration, as in the event engine.
pub const CLOSED: &str = "kasim-agent: closed on purpose";
/// What the client prints, with its request outcomes as JSON, when the run ends.
pub const REQUESTS: &str = "kasim-agent: requests ";

/// The first source port of a client host's slot programs when it holds
/// several connections (below Linux's ephemeral range, 32768-60999).
const FIRST_SLOT_PORT: u16 = 10_000;
/// Source ports each slot program cycles through, one per attempt.
pub const PORTS_PER_SLOT: u16 = 400;
/// The most connection slots a client host holds under `--engine netns`:
/// each has its own [`PORTS_PER_SLOT`] ports below the ephemeral range.
pub const MAX_CONNECTIONS: u32 = (32_768 - FIRST_SLOT_PORT as u32) / PORTS_PER_SLOT as u32;

/// Slot `j` of its client host connects from ports `port_base(j)` on.
pub fn port_base(j: u32) -> u16 {
    FIRST_SLOT_PORT + j as u16 * PORTS_PER_SLOT
}

/// Which slot of its client host a connection from `port` is.
pub fn slot_of_port(port: u16) -> usize {
    usize::from(port.saturating_sub(FIRST_SLOT_PORT) / PORTS_PER_SLOT)
}

/// Set by SIGTERM: kasim ends the run.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The flags of `kasim agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// `client ADDR:PORT` connects there; `server PORT` listens; `proxy
    /// ADDR:PORT` listens on PORT and relays to the server at ADDR:PORT.
    #[arg(value_parser = ["client", "server", "proxy"])]
    pub role: String,
    /// The server's address and port (client, proxy), or the port to listen on (server).
    pub target: String,
    /// The strategy to run: its name in the scenario read on stdin.
    #[arg(long)]
    pub strategy: String,
    /// The run's seed (the workload's random gaps).
    #[arg(long)]
    pub seed: u64,
    /// The client's slot (its host's index, times `[client] connections`, plus its own).
    #[arg(long, default_value_t = 0)]
    pub slot: u32,
    /// Connect from this port on, one more per attempt (wrapping after
    /// `PORTS_PER_SLOT`), so that several slots of one host are told apart
    /// on the wire; without it the kernel picks.
    #[arg(long)]
    pub port_base: Option<u16>,
}

/// The event engine's application for `side` of `slot`, as `runner` makes it.
fn application(s: &Scenario, strategy: &str, seed: u64, side: Side, slot: u32, stats: Rc<RefCell<DriverStats>>) -> AppDriver {
    let spec = s.strategies.iter().find(|st| st.name == strategy);
    let instance = spec.and_then(|st| st.sides.contains(&side).then(|| st.build(side)));
    let idle = match side {
        Side::Client => s.client_idle_timeout,
        Side::Server => s.server_idle_timeout,
    };
    AppDriver::new(side, s.traffic.clone().into(), seed, slot, instance, stats).with_idle_timeout(idle)
}

/// The strategy's QUIC transport, when it runs over QUIC.
fn quic_config(s: &Scenario, strategy: &str) -> Option<sim::quic::QuicConfig> {
    match s.strategies.iter().find(|st| st.name == strategy)?.transport() {
        crate::strategy::Transport::Quic(q) => Some(q),
        _ => None,
    }
}

/// Print each ping and pong the application sent since `before`.
fn report_keepalives(stats: &Rc<RefCell<DriverStats>>, before: &mut DriverStats) {
    let now = *stats.borrow();
    for _ in before.pings..now.pings {
        println!("{PING}{}", (now.ping_bytes - before.ping_bytes) / (now.pings - before.pings).max(1));
    }
    for _ in before.pongs..now.pongs {
        println!("{PONG}{}", (now.pong_bytes - before.pong_bytes) / (now.pongs - before.pongs).max(1));
    }
    *before = now;
}

/// Drive one connection, its messages on `wire`; returns how it ended.
fn drive(app: &mut AppDriver, stream: TcpStream, wire: Wire, stats: &Rc<RefCell<DriverStats>>, start: std::time::Instant) -> Ended {
    let clock = move || Instant::ZERO + start.elapsed();
    let mut on_dead = |cause: &str| println!("{DEAD}{cause}");
    let mut counted = Counted::new(app, stats.clone());
    SocketApp::new(&mut counted, stream, wire, &clock, &mut on_dead, &STOP).run()
}

/// The client speaks HTTP/1.1: its strategy is a server program's.
fn speaks_http(s: &Scenario, strategy: &str) -> bool {
    s.strategies.iter().any(|st| st.name == strategy && matches!(st.kind(), StrategyKind::Program { client: None, .. }))
}

/// An application (an [`AppDriver`], owned or borrowed) whose keepalive
/// messages are printed as they are sent.
struct Counted<A> {
    app: A,
    stats: Rc<RefCell<DriverStats>>,
    before: DriverStats,
}

impl<A: std::borrow::BorrowMut<AppDriver>> Counted<A> {
    fn new(app: A, stats: Rc<RefCell<DriverStats>>) -> Self {
        let before = *stats.borrow();
        Counted { app, stats, before }
    }
}

impl<A: std::borrow::BorrowMut<AppDriver>> Application for Counted<A> {
    fn on_event(&mut self, now: Instant, event: AppEvent, io: &mut AppIo) {
        std::borrow::BorrowMut::borrow_mut(&mut self.app).on_event(now, event, io);
        report_keepalives(&self.stats, &mut self.before);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        std::borrow::Borrow::borrow(&self.app).poll_timeout()
    }
    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        std::borrow::BorrowMut::borrow_mut(&mut self.app).on_timeout(now, io);
        report_keepalives(&self.stats, &mut self.before);
    }
}

/// Carry out what the application asked with no connection open: its
/// declarations are printed; `true` when it asked for a connection.
fn apply_without_socket(io: &mut AppIo) -> bool {
    let mut connect = false;
    for c in io.take() {
        match c {
            sim::app::AppCommand::DeclareDead { cause } => println!("{DEAD}{cause}"),
            sim::app::AppCommand::Connect => connect = true,
            _ => {}
        }
    }
    connect
}

/// A connect that failed: the application hears the error; `true` when it
/// asks for another attempt at once.
fn failed_connect(app: &mut AppDriver, e: &std::io::Error, start: std::time::Instant) -> bool {
    let error = match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => SocketError::Refused,
        Some(libc::ECONNRESET) => SocketError::Reset,
        _ => SocketError::TimedOut,
    };
    let mut io = AppIo::default();
    app.on_event(Instant::ZERO + start.elapsed(), AppEvent::Error(error), &mut io);
    apply_without_socket(&mut io)
}

/// Between connections: run the application's timers (a reconnect's
/// backoff) until it asks for a connection (`true`) or the run ends.
fn wait_for_connect(app: &mut AppDriver, start: std::time::Instant) -> bool {
    loop {
        if STOP.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::ZERO + start.elapsed();
        match app.poll_timeout() {
            Some(due) if due <= now => {
                let mut io = AppIo::default();
                app.on_timeout(now, &mut io);
                if apply_without_socket(&mut io) {
                    return true;
                }
            }
            due => std::thread::sleep(due.map_or(Duration::from_millis(10), |d| d.saturating_since(now)).min(Duration::from_millis(10))),
        }
    }
}

/// Connect without blocking past the end of the run (a SYN to a vanished
/// server is retried for minutes); `None` when the run ended first.
fn connect(addr: SocketAddrV4, from_port: Option<u16>) -> Option<std::io::Result<TcpStream>> {
    let socket = match socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, Some(socket2::Protocol::TCP)) {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    if let Some(port) = from_port {
        let _ = socket.set_reuse_address(true);
        let local = std::net::SocketAddr::V4(SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, port));
        if let Err(e) = socket.bind(&local.into()) {
            return Some(Err(e));
        }
    }
    let _ = socket.set_nonblocking(true);
    match socket.connect(&std::net::SocketAddr::V4(addr).into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => loop {
            if STOP.load(Ordering::Relaxed) {
                return None;
            }
            let mut p = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&socket), events: libc::POLLOUT, revents: 0 };
            // SAFETY: one valid pollfd for the call.
            if unsafe { libc::poll(&mut p, 1, 10) } > 0 {
                match socket.take_error() {
                    Ok(None) => break,
                    Ok(Some(e)) | Err(e) => return Some(Err(e)),
                }
            }
        },
        Err(e) => return Some(Err(e)),
    }
    let _ = socket.set_nonblocking(false);
    Some(Ok(socket.into()))
}

/// The client's connections, one after another as its application asks,
/// until the run ends; then its request outcomes, if it keeps a session.
fn client(scenario: &Scenario, args: &AgentArgs, addr: SocketAddrV4) {
    let start = std::time::Instant::now();
    let stats: Rc<RefCell<DriverStats>> = Rc::default();
    let mut app = application(scenario, &args.strategy, args.seed, Side::Client, args.slot, stats.clone());
    let book = scenario.sessions().then(|| Rc::new(RefCell::new(RequestBook::default())));
    if let Some(book) = &book {
        let spec = scenario.strategies.iter().find(|st| st.name == args.strategy).cloned();
        let make: Rc<dyn Fn() -> Option<Box<dyn crate::strategy::Strategy>>> =
            Rc::new(move || spec.as_ref().and_then(|st| st.sides.contains(&Side::Client).then(|| st.build(Side::Client))));
        let rng = sim::rng::chacha(args.seed, sim::rng::streams::session(args.slot));
        let session = ClientSession::new(args.slot, Reconnector::new(scenario.reconnect_policy(), rng), book.clone(), make);
        app = app.with_session(Instant::ZERO, session);
    }
    let quic = quic_config(scenario, &args.strategy);
    let http = speaks_http(scenario, &args.strategy);
    let mut attempts: u16 = 0;
    // Ports of the slot's range still held (TIME_WAIT of an earlier run of
    // this program, after a crash or a reboot's restart) are skipped, not failures.
    let mut busy: u16 = 0;
    loop {
        let from_port = args.port_base.map(|base| base + attempts % PORTS_PER_SLOT);
        attempts = attempts.wrapping_add(1);
        let held = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::EADDRINUSE | libc::EADDRNOTAVAIL));
        // One attempt, run to its end: `None` when the run ended while connecting.
        let attempt = match &quic {
            Some(cfg) => {
                let clock = move || Instant::ZERO + start.elapsed();
                let mut counted = Counted::new(&mut app, stats.clone());
                Some(quic_app::connect_and_drive(cfg, addr, from_port, args.seed, args.slot, attempts - 1, &mut counted, &clock, &STOP))
            }
            None => connect(addr, from_port)
                .map(|r| r.map(|stream| drive(&mut app, stream, if http { Wire::http() } else { Wire::frames() }, &stats, start))),
        };
        let Some(attempt) = attempt else { break };
        if from_port.is_some() && busy < PORTS_PER_SLOT && attempt.as_ref().is_err_and(held) {
            busy += 1;
            continue;
        }
        busy = 0;
        let again = match attempt {
            Ok(Ended::Reconnect) => true,
            Ok(Ended::Stopped) => break,
            Ok(Ended::Aborted) => wait_for_connect(&mut app, start),
            Err(e) => failed_connect(&mut app, &e, start) || wait_for_connect(&mut app, start),
        };
        if !again {
            break;
        }
    }
    // Stay until kasim ends the run: an exit would look like an end of the connection.
    while !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(book) = book {
        let now = Instant::ZERO + start.elapsed();
        let (counts, _) = std::mem::take(&mut *book.borrow_mut()).finish(|_| now);
        println!("{REQUESTS}{}", serde_json::to_string(&counts).unwrap_or_default());
    }
}

/// Sum the request outcomes of several clients.
pub fn add_requests(total: &mut RequestCounts, more: &RequestCounts) {
    total.issued += more.issued;
    total.uncounted += more.uncounted;
    total.ok += more.ok;
    total.failed += more.failed;
    total.hung += more.hung;
    for (ms, n) in &more.latency_ms {
        *total.latency_ms.entry(*ms).or_default() += n;
    }
    total.latency_sum_us += more.latency_sum_us;
}

/// Run the agent; the exit code: 0 after its work, 1 when it could not start.
pub fn run(args: &AgentArgs) -> std::process::ExitCode {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("kasim-agent: {what}: {e}");
        std::process::ExitCode::from(1)
    };
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        return fail("reading the scenario on stdin", &e);
    }
    let scenario = match crate::scenario::parse(std::path::Path::new("<stdin>"), &text) {
        Ok(s) => s,
        Err(e) => return fail("the scenario on stdin", &e),
    };
    if !scenario.strategies.iter().any(|st| st.name == args.strategy) {
        return fail("no such strategy", &args.strategy);
    }
    let handler = on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores into an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
    }
    let start = std::time::Instant::now();
    if args.role == "proxy" {
        let (Ok(addr), Some(cfg)) = (args.target.parse::<SocketAddrV4>(), scenario.proxy()) else {
            return fail("a proxy needs the server's ADDR:PORT and a scenario with [proxy]", &args.target);
        };
        return match super::relay::run(cfg, addr.port(), addr, &STOP) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => fail("proxy", &e),
        };
    }
    if args.role == "client" {
        let Ok(addr) = args.target.parse::<SocketAddrV4>() else {
            return fail("bad address", &args.target);
        };
        client(&scenario, args, addr);
        return std::process::ExitCode::SUCCESS;
    }
    let Ok(port) = args.target.parse::<u16>() else {
        return fail("bad port", &args.target);
    };
    if let Some(cfg) = quic_config(&scenario, &args.strategy) {
        let make = |k: u32| {
            let stats: Rc<RefCell<DriverStats>> = Rc::default();
            Counted::new(application(&scenario, &args.strategy, args.seed, Side::Server, k, stats.clone()), stats)
        };
        let clock = move || Instant::ZERO + start.elapsed();
        return match quic_app::serve(&cfg, port, args.seed, make, &clock, &STOP) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => fail("QUIC server", &e),
        };
    }
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => return fail("listen", &e),
    };
    let scenario = std::sync::Arc::new(scenario);
    let mut slot = 0u32;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let (scenario, strategy, seed) = (scenario.clone(), args.strategy.clone(), args.seed);
                std::thread::spawn(move || {
                    let stats: Rc<RefCell<DriverStats>> = Rc::default();
                    let mut app = application(&scenario, &strategy, seed, Side::Server, slot, stats.clone());
                    drive(&mut app, stream, Wire::frames(), &stats, start);
                });
                slot += 1;
            }
            Err(e) => return fail("accept", &e),
        }
    }
}
