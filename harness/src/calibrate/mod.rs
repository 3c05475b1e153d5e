//! `kasim calibrate`: hold the TCP model to the real Linux kernel.
//!
//! Every case runs twice: in the simulator (an inline scenario through the
//! normal runner) and with real sockets in a testbed of network namespaces
//! (client — NAT router — server, connected only to each other; nftables
//! for NAT and for a host's silent power-off; per-namespace sysctls; tbf for a
//! slow link). Both measure the same quantity (seconds from a reference
//! instant to an outcome: ETIMEDOUT, ECONNRESET, data delivered). A case
//! passes when the outcomes agree and the simulated time is within 2 % or
//! 50 ms (whichever is larger) of the kernel's median over the repetitions.
//!
//! Cases and repetitions run in parallel, each in its own namespaces, so the
//! whole calibration takes about as long as its slowest case (~30 s).

mod backlog;
mod cached_rtt;
pub(crate) mod netns;
mod sockets;
mod twin;

pub use netns::{available, reap_stale, remove_all, TestbedError};

use crate::runner;
use crate::scenario;
use netns::{Testbed, SERVER_ADDR};
use serde::Serialize;
use sim::trace::TraceEvent;
use sim::{Instant as SimInstant, Side};
use socket2::Socket;
use sockets::{connect, read_exactly, wait_error, wait_reset};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a run ended in, and how long after its reference instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    /// Seconds from the case's reference instant (the connect or the write) to the
    /// outcome: wall-clock time against the kernel, simulated time in the model;
    /// NaN when nothing happened.
    pub seconds: f64,
    /// What the client saw: an errno name (`ETIMEDOUT`, `ECONNRESET`), `EOF`,
    /// `RST`, `delivered`, or what happened instead (`nothing`, `not delivered`).
    pub outcome: String,
}

/// The calibration cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Client keepalive idle 2 s, interval 1 s, count 3; the server vanishes right
    /// after the handshake: ETIMEDOUT after the last unanswered probe, from the connect.
    Keepalive213,
    /// The same keepalive with `TCP_USER_TIMEOUT` 4 s, which then decides when the
    /// probes give up (from the connect).
    Keepalive213UserTimeout4,
    /// `TCP_USER_TIMEOUT` 4 s (keepalive off) and 100 bytes written into a vanished
    /// server: ETIMEDOUT about 4 s after the write.
    UserTimeout4Data,
    /// `tcp_retries2 = 5` and 100 bytes into a vanished server: ETIMEDOUT when the
    /// retransmissions give up, from the write.
    Retries2Is5Data,
    /// 100 KiB and then a 4-byte ping through a 56 kbit/s uplink (tbf in the kernel
    /// testbed): when the ping is delivered behind the upload.
    Upload100KiBThenPing56k,
    /// A NAT that forgot the connection after 3 s idle and drops its packets
    /// (`nf_conntrack_tcp_loose = 0`), `tcp_retries2 = 5`: ETIMEDOUT after the write.
    NatDrop,
    /// A NAT that forgot the connection and maps its next packet to a new port
    /// (`masquerade fully-random`): the server answers the stranger with RST.
    NatNewPort,
    /// A NAT that forgot the connection and picks it up again from mid-stream
    /// packets (conntrack's loose pickup, the Linux default): the data is delivered.
    NatLoose,
    /// The server reboots, losing the connection without a word, and answers the
    /// client's next write with RST.
    RebootRst,
    /// The client's handshake ACK and data are dropped for 14 s after its write while
    /// the server (`tcp_synack_retries = 2`) gives up the half-open connection; the
    /// client's next retransmission meets the listener's RST.
    HalfOpenForgotten,
    /// A connect to a host that is gone, `tcp_syn_retries = 2` with Linux 6.5+'s
    /// `tcp_syn_linear_timeouts = 4`: SYNs every second from 0 to 5 s, ETIMEDOUT at
    /// 7 s (`tcp_model_timeout(2)` = 1 + 2 + 4 s from the first SYN) plus
    /// timer-wheel slack (older kernels: SYNs at 0, 1, 3 s, the same 7 s).
    ConnectSilentSynRetries2,
    /// A request written to a server whose application closed the idle connection:
    /// the server's kernel answers with RST (CLOSE_WAIT → CLOSE on the client).
    RequestAfterIdleClose,
    /// Six clients in three pairs, a second apart, against a listen queue of
    /// three whose application accepts one and is then busy for 10 s: the
    /// last pair's SYNs meet a full queue and are dropped until 11 s.
    ListenQueueOverflow,
    /// `tcp_metrics`: a first connection whose messages crossed a 160 kbit/s
    /// uplink (srtt ~66 ms) ends gracefully; on the next one, to a server
    /// that then vanishes, 100 bytes with `tcp_retries2 = 5` give up after
    /// RTOs seeded from the cached RTT (see `cached_rtt`).
    CachedRttRetries2Is5,
    /// The same with `tcp_no_metrics_save = 1`: nothing cached, the second
    /// connection's RTO is its handshake's.
    NoMetricsSaveRetries2Is5,
}

impl Case {
    /// Every case, in the order of the calibration table.
    pub const ALL: [Case; 15] = [
        Case::Keepalive213,
        Case::Keepalive213UserTimeout4,
        Case::UserTimeout4Data,
        Case::Retries2Is5Data,
        Case::Upload100KiBThenPing56k,
        Case::NatDrop,
        Case::NatNewPort,
        Case::NatLoose,
        Case::RebootRst,
        Case::HalfOpenForgotten,
        Case::ConnectSilentSynRetries2,
        Case::RequestAfterIdleClose,
        Case::ListenQueueOverflow,
        Case::CachedRttRetries2Is5,
        Case::NoMetricsSaveRetries2Is5,
    ];

    /// The case's line in the table (and `case` in the JSON rows).
    pub fn name(self) -> &'static str {
        match self {
            Case::Keepalive213 => "keepalive 2/1/3 after a vanish",
            Case::Keepalive213UserTimeout4 => "keepalive 2/1/3 + user timeout 4 s",
            Case::UserTimeout4Data => "user timeout 4 s, data into a black hole",
            Case::Retries2Is5Data => "tcp_retries2 = 5, data into a black hole",
            Case::Upload100KiBThenPing56k => "100 KiB then a 4-byte ping at 56 kbit/s",
            Case::NatDrop => "NAT expiry, drop (tcp_loose = 0), retries2 = 5",
            Case::NatNewPort => "NAT expiry, new port (fully-random)",
            Case::NatLoose => "NAT expiry, loose pickup (Linux default)",
            Case::RebootRst => "server reboot answered with RST",
            Case::HalfOpenForgotten => "half-open forgotten (synack_retries = 2), RST",
            Case::ConnectSilentSynRetries2 => "connect to a silent host, syn_retries = 2",
            Case::RequestAfterIdleClose => "request after the server's idle close: RST",
            Case::ListenQueueOverflow => "listen queue full, SYN bursts (backlog 2)",
            Case::CachedRttRetries2Is5 => "cached RTT (tcp_metrics), then retries2 = 5",
            Case::NoMetricsSaveRetries2Is5 => "the same, tcp_no_metrics_save = 1",
        }
    }

    /// Is the measured time counted from the connection (else from the write)?
    pub fn from_connect(self) -> bool {
        matches!(self, Case::Keepalive213 | Case::Keepalive213UserTimeout4 | Case::ConnectSilentSynRetries2 | Case::ListenQueueOverflow)
    }

    /// The reference instant, for the table.
    pub fn from(self) -> &'static str {
        if self.from_connect() {
            "connect"
        } else {
            "write"
        }
    }

    /// The simulated twin, as a scenario: the client writes at `write_at`.
    fn scenario(self) -> String {
        let vanish = "[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"500ms\"\n";
        let ka = |ut: &str| {
            format!("[[strategy]]\nname = \"s\"\nkind = \"tcp_keepalive\"\nsides = [\"client\"]\nidle = \"2s\"\ninterval = \"1s\"\ncount = 3\nuser_timeout = \"{ut}\"\n")
        };
        let none = "[[strategy]]\nname = \"s\"\nkind = \"none\"\n";
        let write = |at: &str, size: &str| format!("[[traffic]]\nkind = \"upload\"\nat = \"{at}\"\nsize = \"{size}\"\n");
        let nat = |on: &str| format!("[nat]\nidle_timeout = \"3s\"\non_expired = \"{on}\"\n");
        let body = match self {
            Case::Keepalive213 => format!("{vanish}{}", ka("0s")),
            Case::Keepalive213UserTimeout4 => format!("{vanish}{}", ka("4s")),
            Case::UserTimeout4Data => format!("{vanish}{}{}", write("1s", "100B"), ka("4s").replace("idle = \"2s\"", "idle = \"2h\"")),
            Case::Retries2Is5Data => format!("[tcp]\nretries2 = 5\n{vanish}{}{none}", write("1s", "100B")),
            Case::Upload100KiBThenPing56k => {
                format!("[client.link]\nup = \"56kbit/s\"\n{}{}{none}", write("1s", "100KiB"), write("1s", "4B"))
            }
            Case::NatDrop => format!("[tcp]\nretries2 = 5\n{}{}{none}", nat("drop"), write("5s", "100B")),
            Case::NatNewPort => format!("{}{}{none}", nat("new_port"), write("5s", "100B")),
            Case::NatLoose => format!("{}{}{none}", nat("loose"), write("5s", "100B")),
            Case::RebootRst => {
                format!("[[fault]]\nkind = \"reboot\"\ntarget = \"server\"\nat = \"1s\"\nduration = \"1s\"\n{}{none}", write("3s", "100B"))
            }
            // The SYN-ACK reaches the client at 2 ms; from 2.5 ms the server's
            // link passes nothing (the client's handshake ACK, its data) until
            // 14 s after the write at 10 ms. The kernel testbed drops the
            // client's non-SYN packets at the router for the same time.
            // The server is gone before the first SYN: SYNs at 0, 1, 2, 3, 4
            // and 5 s, the give-up at 7 s (1 + 2 + 4), each on the timer wheel.
            Case::ConnectSilentSynRetries2 => format!(
                "[tcp]\nsyn_retries = 2\nsyn_linear_timeouts = {}\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"0s\"\n{none}",
                linear_syn_timeouts()
            ),
            // Not scenarios here: their twins are `twin::request_after_idle_close`,
            // `backlog::simulate` and `cached_rtt::simulate`.
            Case::RequestAfterIdleClose | Case::ListenQueueOverflow | Case::CachedRttRetries2Is5 | Case::NoMetricsSaveRetries2Is5 => {
                none.to_string()
            }
            Case::HalfOpenForgotten => format!(
                "[tcp]\nsynack_retries = 2\n[client.link]\ndelay = \"1ms\"\n\
                 [[fault]]\nkind = \"outage\"\ntarget = \"server.link\"\nat = \"2.5ms\"\nduration = \"14.0075s\"\n{}{none}",
                write("10ms", "100B")
            ),
        };
        format!("name = \"calibrate\"\nhorizon = \"1h\"\n{body}")
    }

    /// Run the simulated twin.
    pub fn simulate(self) -> Measured {
        match self {
            Case::RequestAfterIdleClose => return twin::request_after_idle_close(),
            Case::ListenQueueOverflow => return backlog::simulate(),
            Case::CachedRttRetries2Is5 => return cached_rtt::simulate(true),
            Case::NoMetricsSaveRetries2Is5 => return cached_rtt::simulate(false),
            _ => {}
        }
        let s = scenario::parse(Path::new("calibrate.toml"), &self.scenario()).expect("calibration scenarios are valid");
        let r = runner::run_one(&s, &s.strategies[0], 0, true);
        let trace = &r.outcome.trace;
        let connected = trace
            .iter()
            .find(|t| matches!(t.event, TraceEvent::Socket { side: Side::Client, event: sim::socket::SocketEvent::Connected }))
            .map_or(SimInstant::ZERO, |t| t.at);
        let write_at = trace.iter().find(|t| matches!(t.event, TraceEvent::AppWrite { side: Side::Client, .. })).map(|t| t.at);
        let reference = if self.from_connect() { connected } else { write_at.unwrap_or(SimInstant::ZERO) };
        let secs = |at: SimInstant| (at - reference).as_secs_f64();
        match self {
            Case::Upload100KiBThenPing56k | Case::NatLoose => {
                let wanted = if self == Case::NatLoose { 1 } else { 2 };
                let at = trace
                    .iter()
                    .filter(|t| matches!(t.event, TraceEvent::AppMessage { side: Side::Server, .. }))
                    .nth(wanted - 1)
                    .map(|t| t.at);
                match at {
                    Some(at) => Measured { seconds: secs(at), outcome: "delivered".into() },
                    None => Measured { seconds: f64::NAN, outcome: "not delivered".into() },
                }
            }
            _ => match r.outcome.declarations.iter().find(|d| d.side == Side::Client) {
                Some(d) => Measured { seconds: secs(d.at), outcome: d.cause.clone() },
                None => Measured { seconds: f64::NAN, outcome: "nothing".into() },
            },
        }
    }

    /// Run it against the kernel in a fresh testbed tagged `tag`.
    pub fn measure(self, tag: &str) -> Result<Measured, TestbedError> {
        let tb = Testbed::new(tag)?;
        match self {
            Case::NatDrop => {
                nat(&tb, false)?;
                tb.router.sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")?;
            }
            Case::NatNewPort => nat(&tb, true)?,
            Case::NatLoose => nat(&tb, false)?,
            Case::Upload100KiBThenPing56k => {
                tb.client
                    .exec("tc", &["qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "56kbit", "burst", "1600", "limit", "300000"])?;
            }
            _ => {}
        }
        if matches!(self, Case::Retries2Is5Data | Case::NatDrop) {
            tb.client.sysctl("net.ipv4.tcp_retries2", "5")?;
        }
        match self {
            Case::ConnectSilentSynRetries2 => return connect_silent(&tb),
            Case::ListenQueueOverflow => return backlog::measure(&tb),
            Case::CachedRttRetries2Is5 => return cached_rtt::measure(&tb, true),
            Case::NoMetricsSaveRetries2Is5 => return cached_rtt::measure(&tb, false),
            _ => {}
        }
        let listener = tb.server.enter(|| TcpListener::bind((SERVER_ADDR, 5000)))?;
        if self == Case::HalfOpenForgotten {
            return half_open_forgotten(&tb, listener);
        }
        let (keepalive, user_timeout) = match self {
            Case::Keepalive213 => (true, None),
            Case::Keepalive213UserTimeout4 => (true, Some(Duration::from_secs(4))),
            Case::UserTimeout4Data => (false, Some(Duration::from_secs(4))),
            _ => (false, None),
        };
        let mut client = tb.client.enter(|| connect(keepalive, user_timeout))?;
        let connected = Instant::now();
        let (mut accepted, _) = listener.accept()?;
        accepted.set_read_timeout(Some(Duration::from_secs(60)))?;
        let outcome = match self {
            Case::Keepalive213 | Case::Keepalive213UserTimeout4 => {
                tb.server.vanish()?;
                wait_error(&mut client, connected)
            }
            Case::UserTimeout4Data | Case::Retries2Is5Data => {
                tb.server.vanish()?;
                std::thread::sleep(Duration::from_millis(500));
                let t0 = Instant::now();
                client.write_all(&[0u8; 100])?;
                wait_error(&mut client, t0)
            }
            Case::Upload100KiBThenPing56k => {
                let t0 = Instant::now();
                client.write_all(&vec![0u8; 100 * 1024])?;
                client.write_all(&[1u8; 4])?;
                read_exactly(&mut accepted, 100 * 1024 + 4, t0)
            }
            Case::NatDrop | Case::NatNewPort | Case::NatLoose => {
                // Idle past the 3 s conntrack timeout, then write.
                std::thread::sleep(Duration::from_secs(5));
                let t0 = Instant::now();
                client.write_all(&[0u8; 100])?;
                if self == Case::NatLoose {
                    read_exactly(&mut accepted, 100, t0)
                } else {
                    wait_error(&mut client, t0)
                }
            }
            Case::RequestAfterIdleClose => {
                // The server's application closes the idle connection (its FIN
                // reaches the client, which does not read); then a request.
                std::thread::sleep(Duration::from_secs(1));
                drop(accepted);
                std::thread::sleep(Duration::from_millis(500));
                let t0 = Instant::now();
                client.write_all(&[0u8; 100])?;
                wait_reset(&client, t0)
            }
            Case::RebootRst => {
                // Power off, lose the connection state (the RST of the abort is
                // dropped with everything else), come back without it.
                tb.server.vanish()?;
                let sock = Socket::from(accepted);
                sock.set_linger(Some(Duration::ZERO))?;
                drop(sock);
                drop(listener);
                std::thread::sleep(Duration::from_millis(500));
                tb.server.reappear()?;
                std::thread::sleep(Duration::from_millis(500));
                let t0 = Instant::now();
                client.write_all(&[0u8; 100])?;
                wait_error(&mut client, t0)
            }
            // Never accepted: measured by `half_open_forgotten` and
            // `connect_silent` above, before `accept`.
            Case::HalfOpenForgotten
            | Case::ConnectSilentSynRetries2
            | Case::ListenQueueOverflow
            | Case::CachedRttRetries2Is5
            | Case::NoMetricsSaveRetries2Is5 => {
                unreachable!("these cases return before accept")
            }
        };
        Ok(outcome)
    }
}

/// The client's handshake ACK and everything after it are dropped at the
/// router for the first 14 s after its write; the server, with
/// `tcp_synack_retries = 2`, resends its SYN-ACK at 1 and 3 s and drops the
/// request at 7 s. The client's first retransmission after 14 s (its RTOs
/// double from 0.2 s: the one at ~13.2 s is still dropped, the next comes
/// ~13 s later) meets the listener, which answers RST. Nothing is ever
/// accepted. Why so long: the kernel's answer moves by up to one timer-wheel
/// bucket (256 ms for a 13 s timer) with the jiffy phase, which the 2 %
/// tolerance only covers comfortably at ~26 s.
fn half_open_forgotten(tb: &Testbed, listener: TcpListener) -> Result<Measured, TestbedError> {
    tb.server.sysctl("net.ipv4.tcp_synack_retries", "2")?;
    tb.router.nft(
        "table inet kasim_halfopen {\n chain forward_filter { type filter hook forward priority 0; iifname \"c0\" tcp flags & syn == 0 drop; }\n}\n",
    )?;
    let mut client = tb.client.enter(|| connect(false, None))?;
    let t0 = Instant::now();
    client.write_all(&[0u8; 100])?;
    std::thread::sleep(Duration::from_secs(14).saturating_sub(t0.elapsed()));
    tb.router.nft("delete table inet kasim_halfopen\n")?;
    let outcome = wait_error(&mut client, t0);
    drop(listener);
    Ok(outcome)
}

/// A connect into a host that dropped off the network, with
/// `tcp_syn_retries = 2` and `tcp_syn_linear_timeouts = 4`: the kernel sends
/// SYNs every second until 5 s and gives up with ETIMEDOUT at 7 s (plus
/// timer-wheel slack).
fn connect_silent(tb: &Testbed) -> Result<Measured, TestbedError> {
    tb.client.sysctl("net.ipv4.tcp_syn_retries", "2")?;
    set_linear_syn_timeouts(tb)?;
    tb.server.vanish()?;
    let t0 = Instant::now();
    let result = tb.client.enter(|| Ok(connect(false, None)))?;
    let seconds = t0.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(_) => "connected".to_string(),
        Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => "ETIMEDOUT".to_string(),
        Err(e) => e.to_string(),
    };
    Ok(Measured { seconds, outcome })
}

/// `tcp_syn_linear_timeouts` as the cases use it: Linux 6.5+'s default (4)
/// where the kernel has the sysctl, else 0 (older kernels back off from the
/// first retransmission, and so does the twin).
pub(super) fn linear_syn_timeouts() -> u32 {
    if Path::new("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").exists() {
        4
    } else {
        0
    }
}

/// Set the client namespace's `tcp_syn_linear_timeouts` to what the twin
/// uses (a namespace starts from the kernel's default; said explicitly so a
/// changed default cannot move the case), where the kernel has it.
pub(super) fn set_linear_syn_timeouts(tb: &Testbed) -> Result<(), TestbedError> {
    match linear_syn_timeouts() {
        0 => Ok(()),
        n => tb.client.sysctl("net.ipv4.tcp_syn_linear_timeouts", &n.to_string()),
    }
}

/// NAT on the router's server side; conntrack's INVALID packets are dropped.
fn nat(tb: &Testbed, fully_random: bool) -> Result<(), TestbedError> {
    let masq = if fully_random { "masquerade fully-random" } else { "masquerade" };
    tb.router.nft(&format!(
        "table ip kasim_nat {{\n chain post {{ type nat hook postrouting priority 100; oifname \"s0\" {masq}; }}\n}}\n\
         table inet kasim_filter {{\n chain forward_filter {{ type filter hook forward priority 0; ct state invalid drop; }}\n}}\n"
    ))?;
    // Conntrack stamps each entry's expiry from the timeout in force when a packet
    // passes, so it must be short before the handshake, not after.
    tb.router.sysctl("net.netfilter.nf_conntrack_tcp_timeout_established", "3")
}

/// One line of the calibration table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The case's name ([`Case::name`]).
    pub case: &'static str,
    /// The reference instant times count from: `connect` or `write` ([`Case::from`]).
    pub from: &'static str,
    /// The model's time to the outcome, simulated seconds (NaN when nothing happened).
    pub simulated_s: f64,
    /// The model's outcome.
    pub simulated_outcome: String,
    /// The kernel's median time over the repetitions, wall-clock seconds.
    pub measured_median_s: f64,
    /// The kernel's shortest time, seconds.
    pub measured_min_s: f64,
    /// The kernel's longest time, seconds.
    pub measured_max_s: f64,
    /// The kernel's outcome when every repetition agreed, else all of them joined by ` / `.
    pub measured_outcome: String,
    /// Repetitions measured against the kernel (`--reps`).
    pub repetitions: usize,
    /// Simulated minus measured median, seconds (positive: the model is late).
    pub error_s: f64,
    /// The largest error allowed: 2 % of the median or 50 ms, whichever is larger.
    pub tolerance_s: f64,
    /// The repetitions agree on an outcome, it is the model's, and the error is
    /// within the tolerance.
    pub ok: bool,
}

/// Run every case `reps` times against the kernel (in parallel) and once in the simulator.
pub fn run(cases: &[Case], reps: usize) -> Vec<Result<Row, String>> {
    let jobs: Vec<(usize, usize)> = (0..cases.len()).flat_map(|c| (0..reps).map(move |r| (c, r))).collect();
    let measured: Vec<(usize, Result<Measured, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(c, r)| {
                let case = cases[c];
                // "x" keeps tags unique past ten repetitions (case 1 rep 10 vs case 11 rep 0).
                (c, s.spawn(move || case.measure(&format!("{c}x{r}")).map_err(|e| e.to_string())))
            })
            .collect();
        handles.into_iter().map(|(c, h)| (c, h.join().unwrap_or_else(|_| Err("a repetition panicked".into())))).collect()
    });
    cases
        .iter()
        .enumerate()
        .map(|(c, case)| {
            let mut runs = Vec::new();
            for (i, m) in &measured {
                if *i == c {
                    runs.push(m.clone()?);
                }
            }
            if runs.is_empty() {
                return Err(format!("{}: no repetition measured", case.name()));
            }
            let sim = case.simulate();
            let mut times: Vec<f64> = runs.iter().map(|m| m.seconds).collect();
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            let outcomes: Vec<&str> = runs.iter().map(|m| m.outcome.as_str()).collect();
            let agreed = outcomes.iter().all(|o| *o == outcomes[0]);
            let measured_outcome = if agreed { outcomes[0].to_string() } else { outcomes.join(" / ") };
            let tolerance = (0.02 * median).max(0.05);
            let error = sim.seconds - median;
            Ok(Row {
                case: case.name(),
                from: case.from(),
                simulated_s: sim.seconds,
                ok: agreed && measured_outcome == sim.outcome && error.abs() <= tolerance,
                simulated_outcome: sim.outcome,
                measured_median_s: median,
                measured_min_s: times[0],
                measured_max_s: times[times.len() - 1],
                measured_outcome,
                repetitions: runs.len(),
                error_s: error,
                tolerance_s: tolerance,
            })
        })
        .collect()
}

/// The table a person reads.
pub fn table(rows: &[Result<Row, String>]) -> String {
    let mut out = format!(
        "{:<44} {:>8} {:>22} {:>10} {:>12}  {}\n",
        "case (seconds from connect/write)", "kasim", "Linux median (min-max)", "error", "outcome", "verdict"
    );
    for r in rows {
        match r {
            Ok(r) => out.push_str(&format!(
                "{:<44} {:>8.3} {:>8.3} ({:.3}-{:.3}) {:>+10.3} {:>12}  {}\n",
                r.case,
                r.simulated_s,
                r.measured_median_s,
                r.measured_min_s,
                r.measured_max_s,
                r.error_s,
                if r.simulated_outcome == r.measured_outcome {
                    r.measured_outcome.clone()
                } else {
                    format!("{} vs {}", r.simulated_outcome, r.measured_outcome)
                },
                if r.ok { "ok" } else { "MISS" }
            )),
            Err(e) => out.push_str(&format!("testbed error: {e}\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's side of every case, as the README's calibration table
    /// prints it (its "kasim" column and outcome). The kernel's side needs
    /// root and namespaces (`harness/tests/calibrate.rs` holds the two within
    /// 2 % or 50 ms); this side is the simulator's alone, so it is exact.
    #[test]
    fn every_cases_twin_gives_the_readmes_figure() {
        let readme = [
            (Case::Keepalive213, "5.088", "ETIMEDOUT"),
            (Case::Keepalive213UserTimeout4, "4.064", "ETIMEDOUT"),
            (Case::UserTimeout4Data, "4.440", "ETIMEDOUT"),
            (Case::Retries2Is5Data, "13.336", "ETIMEDOUT"),
            (Case::Upload100KiBThenPing56k, "15.299", "delivered"),
            (Case::NatDrop, "13.432", "ETIMEDOUT"),
            (Case::NatNewPort, "0.000", "ECONNRESET"),
            (Case::NatLoose, "0.000", "delivered"),
            (Case::RebootRst, "0.000", "ECONNRESET"),
            (Case::HalfOpenForgotten, "26.616", "ECONNRESET"),
            (Case::ConnectSilentSynRetries2, "7.136", "ETIMEDOUT"),
            (Case::RequestAfterIdleClose, "0.000", "RST"),
            (Case::ListenQueueOverflow, "11.264", "connected at 0,0,1,1,11,11 s"),
            (Case::CachedRttRetries2Is5, "17.356", "ETIMEDOUT"),
            (Case::NoMetricsSaveRetries2Is5, "13.516", "ETIMEDOUT"),
        ];
        assert_eq!(readme.map(|(c, _, _)| c), Case::ALL, "every case, in the table's order");
        for (case, seconds, outcome) in readme {
            let m = case.simulate();
            assert_eq!((format!("{:.3}", m.seconds).as_str(), m.outcome.as_str()), (seconds, outcome), "{}", case.name());
        }
    }
}
