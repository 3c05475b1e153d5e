//! The `tcp_metrics` case: a client whose first connection measured a long
//! RTT and ended gracefully reconnects, the server vanishes, and a write on
//! the new connection gives up later than on a fresh one, because the RTO
//! starts from the cached RTT (`tcp_init_metrics`).
//!
//! Why its own module, with its own twin: no scenario can say "close
//! gracefully, then reconnect" (the harness's applications abort on EOF),
//! and the kernel side needs care to measure what the model models:
//!
//! - The RTT is inflated by serialization on the client's 160 kbit/s
//!   uplink (tbf, 20 bytes a millisecond): 40 messages of one full segment
//!   (1 448 bytes, 1 514 on the wire with Ethernet, IP and TCP headers:
//!   75.7 ms), each written when the previous one is acknowledged, so the
//!   bucket is empty and every message waits its full 75.7 ms (tbf's burst
//!   lets the first one or two through early; 40 samples make that worth
//!   well under a millisecond).
//! - The server's kernel would delay the ACK of a lone segment by 40 ms or
//!   more once out of quick-ACK mode; the model sends ACKs at once, so the
//!   server sets `TCP_QUICKACK` after every read, which sends the pending
//!   ACK at once.
//! - srtt ≈ 75.7 - 72 x (7/8)^40 = 75.36 ms after the messages (the SYN's
//!   3.7 ms sample first), then the FIN's 3.3 ms sample: (7 x 75.36 + 3.3)
//!   / 8 = 66.35 ms, cached (the kernel takes the FIN's sample too: in a
//!   trial at 80 kbit/s, `ip tcp_metrics` showed 90.9 ms cached after a
//!   102.9 ms srtt) and cut to 16 jiffies (64 ms) by `tcp_init_metrics`; the
//!   numbers put it mid-jiffy, so the kernel's slightly different early
//!   samples land in the same jiffy. The next connection's RTO is 64 +
//!   max(2 x 64, 200) = 264 ms instead of its handshake's 204 ms: the
//!   `tcp_retries2 = 5` give-up comes 63 RTOs after the tail-loss probe (31
//!   being short of `tcp_model_timeout`'s 12.6 s), plus the timer wheel's
//!   lateness: about 17 s from the write, against about 13 s in the control
//!   case (`tcp_no_metrics_save = 1`, nothing cached).
//! - The client connects again 200 ms after the first connection ended, as
//!   the twin does: the kernel sends its ACK of the server's FIN before the
//!   application hears of it, the twin's world after, and without the pause
//!   the kernel's SYN would wait behind that ACK in the bucket (a 7 ms
//!   handshake sample, a jiffy more of RTO).

use super::sockets::{connect, tcp_info, tcp_state, wait_error, TCP_ESTABLISHED};
use super::Measured;
use crate::calibrate::netns::{Testbed, TestbedError, SERVER_ADDR};
use sim::app::{AppEvent, AppIo, Application, CloseOnEof};
use sim::link::LinkConfig;
use sim::socket::SocketError;
use sim::world::AccessLink;
use sim::{Fault, Instant as SimInstant, Side, World, WorldConfig};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Messages on the first connection.
const MESSAGES: usize = 40;
/// Their size: one full segment, 1 514 bytes on the wire, 75.7 ms at 160 kbit/s.
const MESSAGE_BYTES: usize = 1448;
/// The uplink's rate.
const RATE_BPS: u64 = 160_000;
/// From the end of the first connection to the second connect.
const PAUSE: Duration = Duration::from_millis(200);
/// From the first connect: when the server vanishes and when the client
/// writes on its second connection (up by ~3.3 s).
const VANISH_AT: Duration = Duration::from_secs(8);
const WRITE_AT: Duration = Duration::from_millis(8500);

/// Against the kernel; `save`: `tcp_no_metrics_save` is 0 (Linux's
/// default), else 1 (the control: the same run without the cache).
pub(super) fn measure(tb: &Testbed, save: bool) -> Result<Measured, TestbedError> {
    tb.client.exec("tc", &["qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "160kbit", "burst", "1600", "limit", "300000"])?;
    tb.client.sysctl("net.ipv4.tcp_retries2", "5")?;
    tb.client.sysctl("net.ipv4.tcp_no_metrics_save", if save { "0" } else { "1" })?;
    let listener = tb.server.enter(|| TcpListener::bind((SERVER_ADDR, 5000)))?;
    let t0 = Instant::now();
    let mut first = tb.client.enter(|| connect(false, None))?;
    let (mut accepted, _) = listener.accept()?;
    accepted.set_read_timeout(Some(Duration::from_secs(60)))?;
    // The server reads, acknowledging each segment at once, until EOF; then closes.
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buf = [0u8; 4096];
        while accepted.read(&mut buf)? > 0 {
            socket2::SockRef::from(&accepted).set_tcp_quickack(true)?;
        }
        Ok(())
    });
    let fd = std::os::fd::AsRawFd::as_raw_fd(&first);
    for _ in 0..MESSAGES {
        first.write_all(&[0u8; MESSAGE_BYTES])?;
        // Until every segment sent is acknowledged (TCP_INFO's unacked count).
        while tcp_info(fd)?.tcpi_unacked > 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    // A graceful end: our FIN, the server's, TIME-WAIT (tcp_update_metrics).
    first.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    first.read_to_end(&mut rest)?;
    drop(first);
    server.join().map_err(|_| std::io::Error::other("the server thread panicked"))??;
    std::thread::sleep(PAUSE);

    let mut second = tb.client.enter(|| connect(false, None))?;
    let (accepted, _) = listener.accept()?;
    if tcp_state(std::os::fd::AsRawFd::as_raw_fd(&second))? != TCP_ESTABLISHED {
        return Ok(Measured { seconds: f64::NAN, outcome: "the second connection is not up".into() });
    }
    std::thread::sleep(VANISH_AT.saturating_sub(t0.elapsed()));
    tb.server.vanish()?;
    std::thread::sleep(WRITE_AT.saturating_sub(t0.elapsed()));
    let write = Instant::now();
    second.write_all(&[0u8; 100])?;
    let outcome = wait_error(&mut second, write);
    drop(accepted);
    Ok(outcome)
}

/// The client of the twin: the kernel case's socket calls, as an application.
struct Client {
    connections: u32,
    sent: usize,
    /// When to connect again (the pause after the first connection) or
    /// write the 100 bytes (on the second).
    at: Option<SimInstant>,
    /// When the 100-byte write went out and when ETIMEDOUT came.
    wrote: Rc<Cell<Option<SimInstant>>>,
    failed: Rc<Cell<Option<SimInstant>>>,
}

impl Application for Client {
    fn on_event(&mut self, now: SimInstant, event: AppEvent, io: &mut AppIo) {
        match event {
            AppEvent::Connected if self.connections == 0 => {
                self.connections = 1;
                io.write(MESSAGE_BYTES as u64, 0);
                self.sent = 1;
            }
            AppEvent::Connected => self.at = Some(SimInstant::ZERO + WRITE_AT),
            // The next message once the previous one is acknowledged; after the last, our FIN.
            AppEvent::Acked { bytes } if self.connections == 1 && bytes == (self.sent * MESSAGE_BYTES) as u64 => {
                if self.sent < MESSAGES {
                    io.write(MESSAGE_BYTES as u64, 0);
                    self.sent += 1;
                } else if self.sent == MESSAGES {
                    io.close();
                    self.sent += 1;
                }
            }
            AppEvent::Eof if self.connections == 1 => {
                self.connections = 2;
                self.at = Some(now + PAUSE);
            }
            AppEvent::Error(SocketError::TimedOut) => self.failed.set(Some(now)),
            _ => {}
        }
    }
    fn poll_timeout(&self) -> Option<SimInstant> {
        self.at
    }
    fn on_timeout(&mut self, now: SimInstant, io: &mut AppIo) {
        if self.at.take().is_none() {
            return;
        }
        if self.wrote.get().is_none() && now < SimInstant::ZERO + WRITE_AT {
            io.connect();
        } else {
            io.write(100, 1);
            self.wrote.set(Some(now));
        }
    }
}

/// The simulated twin: the same link (160 kbit/s up, no delay), sysctls,
/// messages and instants.
pub(super) fn simulate(save: bool) -> Measured {
    let up = LinkConfig { rate_bps: RATE_BPS, queue_bytes: 300_000, ..LinkConfig::default() };
    let mut cfg = WorldConfig {
        horizon: Duration::from_secs(60),
        client_link: AccessLink { up, down: LinkConfig::default() },
        faults: vec![Fault::Vanish { host: Side::Server.into(), at: SimInstant::ZERO + VANISH_AT }],
        ..WorldConfig::default()
    };
    cfg.tcp.retries2 = 5;
    cfg.tcp.no_metrics_save = !save;
    let (wrote, failed) = (Rc::new(Cell::new(None)), Rc::new(Cell::new(None)));
    let client = Client { connections: 0, sent: 0, at: None, wrote: wrote.clone(), failed: failed.clone() };
    let Ok(world) = World::new(cfg, Box::new(client), Box::new(CloseOnEof)) else {
        return Measured { seconds: f64::NAN, outcome: "the twin's world is invalid".into() };
    };
    world.run();
    match (wrote.get(), failed.get()) {
        (Some(w), Some(f)) => Measured { seconds: (f - w).as_secs_f64(), outcome: "ETIMEDOUT".into() },
        (None, _) => Measured { seconds: f64::NAN, outcome: "never wrote on a second connection".into() },
        (Some(_), None) => Measured { seconds: f64::NAN, outcome: "nothing".into() },
    }
}
