//! Releasing connection endpoints that are over, so that a run's memory
//! follows its live connections, not every attempt it ever made.
//!
//! An endpoint is over when nothing it holds can matter again:
//! - its TCP socket is closed (or its host lost it in a reboot, or a
//!   half-open one went back to its listener);
//! - it is not its slot's current connection (that one is kept until its
//!   application reconnects: a lazy session reconnects at its next request),
//!   nor waiting in a listen queue;
//! - its application has no deadline left, and it is not a proxy's leg (the
//!   relay reads its legs' state) nor a QUIC or tunnel socket (datagram
//!   sockets stay);
//! - its peer will read nothing more of it: its message ledger is empty, and
//!   no bytes it sent are unacknowledged (what the `queue` condition reads),
//!   or the peer is released itself.
//!
//! Then it leaves its host's stack and gives its place back
//! ([`ConnTable::release`](super::conn_table::ConnTable::release)). Segments
//! still on the wire, NAT flows and stale wake-ups keep its number, which
//! still says its slot, attempt and role.
//!
//! Leaving the stack is the one thing a run can see, and it is Linux's
//! behaviour where the old model's was not: a closed socket used to stay in
//! its host's map for the rest of the run, so a later SYN for the same
//! 4-tuple (a port used again after 28 000 reconnects, or a NAT handing a
//! public port out again) met RST from it. Now it meets the listener and
//! connects, as it does on Linux, where a closed socket is gone (and one in
//! TIME_WAIT accepts a new SYN).
//!
//! Endpoints are noted when they may have become over (closed, no longer
//! their slot's, their peer released or done reading) and judged at the end
//! of the event, when no handler holds an index any more. Apart from that
//! SYN, releasing changes nothing a run reports: the catalogue's reports,
//! replays and pcaps are byte-identical with and without it (a test below
//! runs a fleet through crashes, reboots and NAT expiries both ways).

use super::{Role, Socket, World};
use crate::socket::SocketState;

impl World {
    /// `c` may be over: judged at the end of this event.
    #[inline]
    pub(super) fn may_release(&mut self, c: usize) {
        self.to_release.push(c as u32);
    }

    /// At the end of an event: release every noted endpoint that is over.
    pub(super) fn release_finished(&mut self) {
        #[cfg(test)]
        if self.keep_released {
            self.to_release.clear();
            return;
        }
        while let Some(c) = self.to_release.pop() {
            if self.is_over(c as usize) {
                self.release(c as usize);
            }
        }
    }

    fn is_over(&self, c: usize) -> bool {
        let Some(conn) = self.conns.get(c) else { return false };
        let closed = conn.gone || conn.sock.state() == SocketState::Closed;
        let quiet = !conn.app_alive || conn.app.poll_timeout().is_none();
        let current = conn.role == Role::Client && self.slots[conn.slot as usize].conn == Some(c);
        let kind = matches!(conn.sock, Socket::Tcp(_)) && !conn.role.is_proxy();
        let reader_done = conn.peer.get().is_none_or(|p| !self.conns.is_live(p));
        let nothing_owed = conn.ledger.is_empty() && conn.sock.unacked_bytes() == 0;
        // One waiting to be accepted is in its listener's queue, unless it is
        // gone: a half-open one dropped never joined it, and a reboot or a
        // crash took the listener with its queue.
        let queued = conn.awaiting_accept && !conn.gone;
        closed && quiet && !current && kind && !queued && conn.idle_at.is_none() && (nothing_owed || reader_done)
    }

    fn release(&mut self, c: usize) {
        let conn = &self.conns[c];
        let (h, key, in_stack, peer) = (conn.host, conn.key, conn.in_stack, conn.peer.get());
        if in_stack {
            self.stack_remove(h, key);
        }
        self.conns.release(c);
        self.refresh_busy();
        // The host's list keeps the order connections were opened in (a
        // reboot walks it in that order); released ones are dropped from it
        // once they are half of it.
        let host = &mut self.hosts[h];
        host.released += 1;
        if host.released as usize * 2 > host.conns.len() {
            let conns = &self.conns;
            host.conns.retain(|&k| conns.is_live(k));
            host.released = 0;
        }
        // Its peer may have been waiting for it to stop reading.
        if let Some(p) = peer {
            self.may_release(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AppFactory, Fault, HostRef, World, WorldConfig};
    use crate::app::{AppEvent, AppIo, Application, Idle};
    use crate::nat::{NatConfig, OnExpired};
    use crate::time::Instant;
    use std::time::Duration;

    const PAUSE: Duration = Duration::from_millis(10);

    /// Writes 100 bytes every 7 s once connected; when its connection fails
    /// (EOF: it aborts; reset, refused, timed out) it connects again 10 ms later.
    struct Redial {
        write_at: Option<Instant>,
        dial_at: Option<Instant>,
    }
    impl Application for Redial {
        fn on_event(&mut self, now: Instant, ev: AppEvent, io: &mut AppIo) {
            match ev {
                AppEvent::Connected => self.write_at = Some(now + Duration::from_secs(7)),
                AppEvent::Eof => {
                    io.abort();
                    (self.write_at, self.dial_at) = (None, Some(now + PAUSE));
                }
                AppEvent::Error(_) => (self.write_at, self.dial_at) = (None, Some(now + PAUSE)),
                _ => {}
            }
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.write_at.into_iter().chain(self.dial_at).min()
        }
        fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
            if self.dial_at.is_some_and(|t| t <= now) {
                self.dial_at = None;
                io.connect();
            }
            if self.write_at.is_some_and(|t| t <= now) {
                io.write(100, 1);
                self.write_at = Some(now + Duration::from_secs(7));
            }
        }
    }

    /// Redialling clients; a server that stays quiet, or (`rejecting`)
    /// aborts each connection as it is accepted.
    struct Apps {
        rejecting: bool,
    }
    impl AppFactory for Apps {
        fn client(&mut self, _: u32) -> Box<dyn Application> {
            Box::new(Redial { write_at: None, dial_at: None })
        }
        fn server(&mut self, _: u32) -> Box<dyn Application> {
            if self.rejecting {
                Box::new(AbortAtOnce)
            } else {
                Box::new(Idle)
            }
        }
        fn restarted(&mut self, slot: u32) -> Option<Box<dyn Application>> {
            Some(self.client(slot))
        }
    }

    /// One client redialling every 10 ms into a crashed server (its
    /// listener is gone: each SYN meets RST). Hand count: the crash's FIN
    /// reaches the client just after 1 s; attempt k (k >= 1) starts at
    /// 1 s + k x 10 ms plus about a microsecond per earlier attempt (the
    /// SYN and RST take ~0.5 us each on the default 1 Gbit/s links). By
    /// 10.5 s that is attempts 1..=949 (950 would start after 10.5 s):
    /// 950 attempts with the first. The world holds one live endpoint at a
    /// time, never the 950 it opened. With a limit of 400, folding starts
    /// at 100 records: attempts 0..=97 keep theirs, 98..=948 share one (850
    /// folded), and 949 (refused, not yet followed) has its own: 100.
    #[test]
    fn a_storm_of_refused_attempts_holds_one_endpoint_and_a_bounded_outcome() {
        let cfg = WorldConfig {
            horizon: Duration::from_millis(10_500),
            faults: vec![Fault::Crash { host: HostRef::Server, at: Instant::from_secs(1), restart_after: None }],
            max_connections: Some(400),
            ..WorldConfig::default()
        };
        let mut w = World::with_apps(cfg, Box::new(Apps { rejecting: false })).unwrap();
        let mut most = 0;
        for ms in (100..=10_500).step_by(100) {
            w.run_until(Instant::from_millis(ms));
            most = most.max(w.live_connections());
        }
        // Before the crash: the client's end and the server's; after, the client's current attempt.
        assert_eq!(most, 2);
        assert_eq!(w.live_connections(), 1);
        assert_eq!(w.connections(), 950 + 1, "950 client ends and the first one's server end");
        assert_eq!(w.stopped(), None, "1 live + 100 records + 951 / 128 numbers = 108, under 400");
        let o = w.finish();
        let slot = &o.slots[0];
        assert_eq!(slot.attempts(), 950);
        assert_eq!(slot.connections.len(), 100);
        assert!(slot.connections[0].established_at.is_some());
        let folded: Vec<u32> = slot.connections.iter().map(|c| c.folded).filter(|&f| f > 0).collect();
        assert_eq!(folded, [850]);
        assert!(slot.connections[1..].iter().all(|c| c.established_at.is_none() && c.closed_at.is_some()));
        let numbered: Vec<u32> = slot.numbered().map(|(n, _)| n).collect();
        assert_eq!(numbered[97..], [97, 98, 949]);
    }

    struct AbortAtOnce;
    impl Application for AbortAtOnce {
        fn on_event(&mut self, _: Instant, ev: AppEvent, io: &mut AppIo) {
            if ev == AppEvent::Connected {
                io.abort();
            }
        }
    }

    /// Attempts that connect are kept, each for its detections: a storm of
    /// them is stopped at the limit. Each attempt is established (then
    /// reset) and its record kept; with a limit of 200, the run stops when
    /// live ends + records + numbers / 128 first pass 200, which is checked
    /// as each end opens. Each attempt opens two numbers (client and server
    /// end), so r records weigh r + 2r / 128 (3 at r near 196): attempt
    /// 195's client end makes 196 records, 391 numbers (3) and 2 live ends
    /// (it and the last attempt's, released at the end of that event):
    /// 201, at 195 x ~10 ms after the first attempt, 1.95 s.
    #[test]
    fn a_storm_of_attempts_that_connect_is_stopped_at_the_limit() {
        let cfg = WorldConfig { horizon: Duration::from_secs(60), max_connections: Some(200), ..WorldConfig::default() };
        let mut w = World::with_apps(cfg, Box::new(Apps { rejecting: true })).unwrap();
        w.run_until(Instant::from_secs(60));
        let (at, held) = w.stopped().expect("stopped at its limit");
        assert_eq!(held, 201);
        assert!((1.949..1.951).contains(&at.as_secs_f64()), "{at:?}");
        // The new attempt's client end, of 195 x 2 + 1 opened.
        assert_eq!((w.live_connections(), w.connections()), (1, 391));
        let o = w.finish();
        let slot = &o.slots[0];
        // Every attempt before the last connected (the last was stopped at its SYN).
        assert_eq!(slot.connections.len(), 196);
        assert!(slot.connections[..195].iter().all(|c| c.established_at.is_some() && c.folded == 0));
    }

    /// The one thing releasing changes, on purpose: a SYN for the 4-tuple
    /// of a closed and released server end meets the listener (Linux), not
    /// the closed socket's RST (the model before). The client's reconnects
    /// take ports 32768..=60999 in turn, so attempt 28 232 (at ~282 s, one
    /// every ~10 ms) reuses attempt 0's port: the server's end of attempt 0
    /// was reset at once and is long closed. Released, it is gone and the
    /// SYN connects; kept, it answered RST, and so did every later port.
    #[test]
    fn a_4_tuple_used_again_connects_once_its_old_server_end_is_released() {
        // Room for the run that keeps every endpoint (its limit counts them).
        let cfg = WorldConfig { horizon: Duration::from_secs(300), max_connections: Some(1_000_000), ..WorldConfig::default() };
        let attempt = |release: bool, n: u32| {
            let mut w = World::with_apps(cfg.clone(), Box::new(Apps { rejecting: true })).unwrap();
            w.keep_released = !release;
            w.run_until(Instant::from_secs(300));
            assert_eq!(w.stopped(), None);
            let o = w.finish();
            let slot = &o.slots[0];
            assert!(slot.attempts() > 28_300, "{}", slot.attempts());
            let connected = slot.numbered().find(|&(k, _)| k == n).map(|(_, c)| c.established_at.is_some());
            connected
        };
        // The attempt before the wrap connects either way; the first after it only when released.
        assert_eq!(attempt(true, 28_231), Some(true));
        assert_eq!(attempt(false, 28_231), Some(true));
        assert_eq!(attempt(true, 28_232), Some(true));
        assert_eq!(attempt(false, 28_232), Some(false));
    }

    /// A world whose releasing can be turned off, run to its end.
    fn run(cfg: &WorldConfig, release: bool) -> (String, usize, usize) {
        let mut w = World::with_apps(cfg.clone(), Box::new(Apps { rejecting: false })).unwrap();
        w.keep_released = !release;
        w.run_until(Instant::ZERO + cfg.horizon);
        let (live, opened) = (w.live_connections(), w.connections());
        (format!("{:?}", w.finish()), live, opened)
    }

    /// Releasing changes nothing a run reports: outcome and trace (every
    /// segment, drop, timer, NAT mapping and declaration) are the same with
    /// and without it, through what touches released endpoints' numbers:
    /// segments still on the wire from them (delayed links), NAT flows they
    /// own that expire or are lost later (a 20 s NAT that resets, rebooted
    /// at 50 s), reboots and crashes walking their hosts' connections, and
    /// stale wake-ups. And releasing did happen: most endpoints are gone.
    #[test]
    fn releasing_changes_nothing_a_run_reports() {
        let link = crate::link::LinkConfig { delay: Duration::from_millis(15), ..Default::default() };
        let cfg = WorldConfig {
            horizon: Duration::from_secs(120),
            clients: 3,
            connections_per_client: 2,
            client_link: super::super::AccessLink { up: link.clone(), down: link },
            nat: Some(NatConfig::new(Duration::from_secs(20), OnExpired::Rst)),
            faults: vec![
                Fault::Crash { host: HostRef::Server, at: Instant::from_secs(5), restart_after: Some(Duration::from_millis(500)) },
                Fault::Reboot { host: HostRef::Client(1), at: Instant::from_secs(30), duration: Duration::from_secs(3) },
                Fault::NatReboot { middlebox: 0, at: Instant::from_secs(50) },
                Fault::Reboot { host: HostRef::Server, at: Instant::from_secs(70), duration: Duration::from_secs(2) },
            ],
            trace: true,
            ..WorldConfig::default()
        };
        let (kept, kept_live, opened) = run(&cfg, false);
        let (released, live, opened_too) = run(&cfg, true);
        assert_eq!(opened, opened_too);
        assert!(kept == released, "the outcome and trace differ when endpoints are released");
        assert_eq!(kept_live, opened);
        assert!(opened > 40 && live <= 12, "{live} of {opened} endpoints live at the end");
    }
}
