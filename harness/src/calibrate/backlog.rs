//! The listen queue overflowing under bursts of SYNs, in both worlds.
//!
//! Six clients connect to a server whose listen queue holds three (`listen(fd,
//! 2)`: Linux calls it full when it holds *more* than the backlog) and whose
//! application accepts one connection and then is busy for 10 s. The SYNs
//! come in three pairs: clients 0 and 1 at once, 2 and 3 a second later
//! (their first SYNs are dropped at the router until 0.5 s), 4 and 5 from
//! 2 s on (dropped until 1.5 s). Connects retransmit SYNs as Linux 6.5+ does
//! by default (`tcp_syn_linear_timeouts = 4`): at 1, 2, 3, 4, 5, 7, 11 s.
//! What Linux does, and what the model must do:
//!
//! - 0 s: A and B complete; the application accepts A; B waits.
//! - 1 s: C and D complete and wait: the queue holds B, C, D (3, full).
//! - 2, 3, 4, 5, 7 s: the SYNs of E and F meet a full queue and are dropped
//!   (`ListenOverflows`).
//! - 10 s: the application accepts B: room for one; at 11 s both E and F get
//!   SYN-ACKs (E's ACK takes the place; F's is dropped, but F's kernel
//!   already counts it as connected).
//!
//! The clients' connect times are what a herd's members feel, and the kernel
//! exposes them exactly (TCP_INFO: ESTABLISHED once the SYN-ACK arrived):
//! 0, 0, 1, 1, 11, 11 s (plus the timer wheel's lateness), against 0 for
//! every client with an unbounded queue (and 15 s for the last pair with the
//! exponential SYN schedule of kernels before 6.5, which have no
//! `tcp_syn_linear_timeouts`: there both sides run without it). Each pair
//! fits the SYN queue (while `backlog` requests are half-open Linux answers a
//! further SYN with a SYN cookie, or drops it without `tcp_syncookies`;
//! the model keeps every half-open request), so only the accept queue
//! decides.

use super::netns::{Testbed, TestbedError, SERVER_ADDR};
use super::Measured;
use crate::{runner, scenario};
use sim::trace::TraceEvent;
use sim::Side;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Clients in the burst.
const CLIENTS: usize = 6;
/// `listen(2)`'s backlog: the queue holds three.
const BACKLOG: i32 = 2;
/// The application is busy this long after each accept.
const ACCEPT_TIME: Duration = Duration::from_secs(10);
/// The first SYNs of clients 2, 3 (and 4, 5) are dropped until then.
const SECOND_PAIR_UNTIL: Duration = Duration::from_millis(500);
const THIRD_PAIR_UNTIL: Duration = Duration::from_millis(1500);
/// The kernel side gives up waiting for a connect after this long.
const PATIENCE: Duration = Duration::from_secs(25);

/// The simulated twin as a scenario.
fn scenario() -> String {
    let outage = |client: usize, until: Duration| {
        format!("[[fault]]\nkind = \"outage\"\ntarget = \"client:{client}.link\"\nat = \"0s\"\nduration = \"{}ms\"\n", until.as_millis())
    };
    let mut s = format!(
        "name = \"calibrate\"\nhorizon = \"60s\"\n[tcp]\nsyn_linear_timeouts = {}\n[client]\ncount = {CLIENTS}\n[server.app]\nbacklog = {BACKLOG}\naccept_time = \"{}s\"\n",
        super::linear_syn_timeouts(),
        ACCEPT_TIME.as_secs()
    );
    for c in [2, 3] {
        s.push_str(&outage(c, SECOND_PAIR_UNTIL));
    }
    for c in [4, 5] {
        s.push_str(&outage(c, THIRD_PAIR_UNTIL));
    }
    s.push_str("[[strategy]]\nname = \"s\"\nkind = \"none\"\n");
    s
}

/// What the clients' connect times say: the last one (seconds) and the
/// pattern in whole seconds ("connected at 0,0,1,1,11,11 s"), or how many
/// never connected.
fn summarize(mut times: Vec<Option<f64>>) -> Measured {
    times.sort_by(|a, b| a.unwrap_or(f64::INFINITY).total_cmp(&b.unwrap_or(f64::INFINITY)));
    let never = times.iter().filter(|t| t.is_none()).count();
    let connected: Vec<f64> = times.into_iter().flatten().collect();
    let pattern: Vec<String> = connected.iter().map(|t| format!("{}", t.round() as u64)).collect();
    let mut outcome = format!("connected at {} s", pattern.join(","));
    if never > 0 {
        outcome.push_str(&format!(", {never} never"));
    }
    Measured { seconds: connected.last().copied().unwrap_or(f64::NAN), outcome }
}

/// The model: every client's `Connected`, seconds from the start.
pub fn simulate() -> Measured {
    let s = match scenario::parse(Path::new("calibrate-backlog.toml"), &scenario()) {
        Ok(s) => s,
        Err(e) => return Measured { seconds: f64::NAN, outcome: format!("the twin's scenario is invalid: {e}") },
    };
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let mut times: Vec<Option<f64>> = r
        .outcome
        .trace
        .iter()
        .filter(|t| matches!(t.event, TraceEvent::Socket { side: Side::Client, event: sim::socket::SocketEvent::Connected }))
        .map(|t| Some(t.at.as_secs_f64()))
        .collect();
    times.resize(CLIENTS, None);
    summarize(times)
}

/// The kernel: the same bursts with real sockets; connect times from
/// polling each client's TCP_INFO state every millisecond.
pub fn measure(tb: &Testbed) -> Result<Measured, TestbedError> {
    let server: SocketAddr = format!("{SERVER_ADDR}:5000").parse().expect("a valid address");
    let listener = tb.server.enter(|| {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind(&server.into())?;
        s.listen(BACKLOG)?;
        s.set_nonblocking(true)?;
        Ok(s)
    })?;
    // Drop the first SYNs of the later pairs at the router (by source port).
    let ports: Vec<u16> = (0..CLIENTS as u16).map(|c| 41000 + c).collect();
    let drop_from = |table: &str, ports: &[u16]| {
        let set = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        format!("table inet {table} {{\n chain forward_filter {{ type filter hook forward priority 0; tcp sport {{ {set} }} drop; }}\n}}\n")
    };
    super::set_linear_syn_timeouts(tb)?;
    tb.router.nft(&drop_from("kasim_pair2", &ports[2..4]))?;
    tb.router.nft(&drop_from("kasim_pair3", &ports[4..6]))?;
    let clients: Vec<Socket> = tb.client.enter(|| {
        ports
            .iter()
            .map(|&port| {
                let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
                s.bind(&SockAddr::from(SocketAddr::from(([0, 0, 0, 0], port))))?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .collect()
    })?;
    let t0 = Instant::now();
    for c in &clients {
        match c.connect(&server.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let accepting = std::thread::spawn(move || accept_paced(listener, t0));
    let mut times: Vec<Option<f64>> = vec![None; CLIENTS];
    let (mut pair2, mut pair3) = (true, true);
    while t0.elapsed() < PATIENCE && times.iter().any(Option::is_none) {
        if pair2 && t0.elapsed() >= SECOND_PAIR_UNTIL {
            tb.router.nft("delete table inet kasim_pair2\n")?;
            pair2 = false;
        }
        if pair3 && t0.elapsed() >= THIRD_PAIR_UNTIL {
            tb.router.nft("delete table inet kasim_pair3\n")?;
            pair3 = false;
        }
        for (c, t) in clients.iter().zip(times.iter_mut()) {
            if t.is_none() && super::sockets::established(c.as_raw_fd())? {
                *t = Some(t0.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // The accepting thread ends on its own at PATIENCE (its sleeps are clamped to it).
    let _ = accepting.join();
    Ok(summarize(times))
}

/// The server application: accept one, then be busy for `ACCEPT_TIME`, until
/// the run's patience is spent.
fn accept_paced(listener: Socket, t0: Instant) {
    // Held open: a close would send the client a FIN (and move it past
    // ESTABLISHED before it was seen there).
    let mut accepted = Vec::new();
    while t0.elapsed() < PATIENCE {
        match listener.accept() {
            Ok((conn, _)) => {
                accepted.push(conn);
                std::thread::sleep(ACCEPT_TIME.min(PATIENCE.saturating_sub(t0.elapsed())));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}
