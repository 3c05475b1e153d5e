//! One netns run's loop: the hosts, the network between them, the judge
//! and the recorder, and the phases of each turn (faults due, packets read,
//! the network carried forward, lines read, socket tables polled), then a
//! wait until the next thing is due or a host sends.

use super::host::{Line, RealHost};
use super::judge::Judge;
use super::network::{Network, Note};
use super::packet::Packet;
use super::plan::{actions, host_index, Action};
use super::programs::Programs;
use super::{agent, quic_app, record, NetnsConfig, NetnsError, NetnsRun, LISTEN_WAIT, PORT, TABLE_EVERY};
use crate::driver::DriverStats;
use crate::record::{DerivedFault, RunRecord};
use crate::runner::derive_faults;
use crate::scenario::{FaultKind, Scenario};
use crate::session::RequestCounts;
use crate::strategy::StrategySpec;
use sim::link::Outage;
use sim::oracle::{BreakCause, Condition};
use sim::packet::{addr, Flags, SegmentKind};
use sim::trace::ProxyEvent;
use sim::{Instant, Side};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

/// How long the clients' agents get to print their request outcomes at the end.
const REQUESTS_WAIT: Duration = Duration::from_secs(2);

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

/// The `LOCAL PEER` addresses an agent's line ends with.
fn local_and_peer(rest: &str) -> Option<(std::net::SocketAddrV4, std::net::SocketAddrV4)> {
    let mut addrs = rest.split_whitespace().map(|a| a.parse::<std::net::SocketAddrV4>());
    match (addrs.next(), addrs.next()) {
        (Some(Ok(local)), Some(Ok(peer))) => Some((local, peer)),
        _ => None,
    }
}

/// Everything one run holds while it goes.
pub(super) struct RealRun<'a> {
    scenario: &'a Scenario,
    strategy: &'a StrategySpec,
    seed: u64,
    cfg: &'a NetnsConfig,
    /// The port the server listens on (TCP, or QUIC's UDP).
    port: u16,
    hosts: Vec<RealHost>,
    net: Network,
    judge: Judge,
    faults: Vec<DerivedFault>,
    plan: Vec<(Instant, Action)>,
    next_action: usize,
    /// A reboot's fresh namespace, made before the run (one per `Kill(_, true)` of the plan).
    spares: Vec<Option<RealHost>>,
    programs: Programs,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
    rec: record::Recorder,
    endpoints: [DriverStats; 2],
    lateness_ns: Vec<u64>,
    /// Per client host: has its program opened a connection yet?
    opened: Vec<bool>,
    start: std::time::Instant,
    next_table: Instant,
    buf: Vec<u8>,
}

impl<'a> RealRun<'a> {
    /// Make the hosts and the network, start the server's program and wait
    /// until it listens, make the spares reboots need; the clock starts when
    /// [`start_clients`](Self::start_clients) is called.
    pub(super) fn prepare(scenario: &'a Scenario, strategy: &'a StrategySpec, seed: u64, cfg: &'a NetnsConfig) -> Result<Self, NetnsError> {
        let id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let clients = scenario.clients as usize;
        let server = clients;
        // Behind a proxy the server moves to the backend address and the
        // proxy takes the one clients dial, as in the event engine.
        let proxy = scenario.proxy().is_some();
        let server_ip = if proxy { *addr::BACKEND.ip() } else { *addr::SERVER.ip() };
        let mut hosts = Vec::new();
        for i in 0..clients {
            hosts.push(RealHost::new(&format!("e{id}-c{i}"), addr::client_ip(i as u32), &scenario.tcp)?);
        }
        hosts.push(RealHost::new(&format!("e{id}-s"), server_ip, &scenario.tcp)?);
        if proxy {
            hosts.push(RealHost::new(&format!("e{id}-p"), *addr::SERVER.ip(), &scenario.tcp)?);
        }
        let mut net = Network::new(
            seed,
            scenario.clients,
            &scenario.client_link,
            server_ip,
            &scenario.server_link,
            scenario.nats().map(|(_, n)| n.clone()).collect(),
            proxy.then_some(*addr::SERVER.ip()),
        );
        let port = super::service_port(strategy);
        let mut judge = Judge::new(clients, port, None).with_nats(scenario.nats().map(|(_, n)| n.on_expired).collect());
        if proxy {
            judge = judge.with_proxy();
        }
        judge = judge.with_connections(scenario.connections as usize);
        let faults = derive_faults(scenario, seed);
        let proxy_host = proxy.then_some(clients + 1);
        for f in &faults {
            let (Some(h), Some(d)) = (host_index(f, server, proxy_host), f.duration) else { continue };
            let at = Instant::ZERO + f.at;
            match f.kind {
                FaultKind::Outage => {
                    net.add_outage(h, Outage::new(at, d));
                    judge.transient(h, Condition::Outage, at, at + d);
                }
                FaultKind::Suspend => judge.transient(h, Condition::Suspend, at, at + d),
                _ => {}
            }
        }
        // A reboot's fresh namespace is made now: making one takes ~30 ms of `ip`
        // commands, which in the middle of the run would stall every host's packets.
        let plan = actions(&faults, server, proxy_host);
        let mut spares = Vec::new();
        for (i, (_, action)) in plan.iter().enumerate() {
            spares.push(match *action {
                Action::Kill(h, true) => {
                    let addr = match h {
                        _ if h == server => server_ip,
                        _ if Some(h) == proxy_host => *addr::SERVER.ip(),
                        _ => addr::client_ip(h as u32),
                    };
                    Some(RealHost::new(&format!("e{id}-{h}r{i}"), addr, &scenario.tcp)?)
                }
                _ => None,
            });
        }
        let (tx, rx) = mpsc::channel::<Line>();
        let mut run = RealRun {
            scenario,
            strategy,
            seed,
            cfg,
            port,
            hosts,
            net,
            judge,
            faults,
            plan,
            next_action: 0,
            spares,
            programs: Programs::of(scenario, strategy, seed, cfg)?,
            tx,
            rx,
            rec: record::Recorder::new(cfg.trace, scenario.nat().is_some(), scenario.chained),
            endpoints: [DriverStats::default(); 2],
            lateness_ns: Vec::new(),
            opened: vec![false; clients],
            start: std::time::Instant::now(),
            next_table: Instant::ZERO,
            buf: vec![0u8; 65536],
        };
        run.spawn(server)?;
        run.wait_listening(server)?;
        if let Some(p) = run.proxy() {
            run.spawn(p)?;
            run.wait_listening(p)?;
        }
        Ok(run)
    }

    /// Wait until `host`'s program listens on the service port.
    fn wait_listening(&mut self, host: usize) -> Result<(), NetnsError> {
        let waited = std::time::Instant::now();
        loop {
            let port = self.port;
            let listening = if port == PORT {
                self.hosts[host].table().iter().any(|e| e.state == 10 && e.local.port() == port)
            } else {
                // QUIC: a UDP socket bound to the port.
                self.hosts[host].udp_table().iter().any(|e| e.local.port() == port)
            };
            if listening {
                return Ok(());
            }
            if let Some((program, status, tail)) = self.hosts[host].exited().into_iter().next() {
                return Err(NetnsError::ExitedAtStart { program, status, tail: tail.join("\n") });
            }
            if waited.elapsed() > LISTEN_WAIT {
                return Err(NetnsError::NoListener { program: self.argv_of(host).first().cloned().unwrap_or_default(), port: self.port });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The server's host number: after the clients.
    fn server(&self) -> usize {
        self.scenario.clients as usize
    }

    /// The proxy's host number, after the server, when there is one.
    fn proxy(&self) -> Option<usize> {
        self.net.proxy()
    }

    /// The side a host's program lines speak for (the proxy's: the server's,
    /// which the proxy stands in for toward the clients).
    fn side_of(&self, host: usize) -> Side {
        if host >= self.server() {
            Side::Server
        } else {
            Side::Client
        }
    }

    fn argv_of(&self, host: usize) -> &[String] {
        if host == self.server() {
            &self.programs.server
        } else if Some(host) == self.proxy() {
            self.programs.proxy.as_deref().unwrap_or_default()
        } else {
            &self.programs.client[host * self.scenario.connections as usize]
        }
    }

    /// Start `host`'s programs: a client host's, one per connection slot
    /// when it holds several (each tags its lines with its slot).
    fn spawn(&mut self, host: usize) -> Result<(), NetnsError> {
        let per_host = self.scenario.connections as usize;
        let tags: Vec<(usize, Option<usize>)> = if host < self.server() {
            (host * per_host..(host + 1) * per_host).map(|slot| (slot, (per_host > 1).then_some(slot))).collect()
        } else {
            vec![(host, None)]
        };
        for (program, slot) in tags {
            let argv = if host < self.server() { self.programs.client[program].clone() } else { self.argv_of(host).to_vec() };
            let stdin = self.programs.stdin_of(&argv, self.cfg).map(str::to_string);
            self.hosts[host].spawn((host, slot), &argv, &self.programs.env, stdin.as_deref(), &self.tx)?;
        }
        Ok(())
    }

    /// The run's clock: time since the clients started.
    fn clock(&self, t: std::time::Instant) -> Instant {
        Instant::ZERO + t.saturating_duration_since(self.start)
    }

    fn now(&self) -> Instant {
        self.clock(std::time::Instant::now())
    }

    /// Time zero: the client programs start.
    pub(super) fn start_clients(&mut self) -> Result<(), NetnsError> {
        self.start = std::time::Instant::now();
        for h in 0..self.server() {
            self.spawn(h)?;
        }
        Ok(())
    }

    /// Turn after turn until the horizon.
    pub(super) fn run_to_horizon(&mut self) -> Result<(), NetnsError> {
        let horizon = Instant::ZERO + self.scenario.horizon;
        loop {
            let now = self.now();
            if now >= horizon {
                return Ok(());
            }
            self.apply_faults(now)?;
            self.read_hosts()?;
            self.carry();
            self.read_lines();
            let now = self.now();
            if now >= self.next_table {
                self.poll_tables(now)?;
                self.next_table = now + TABLE_EVERY;
            }
            let due = [self.net.poll_timeout(), self.plan.get(self.next_action).map(|a| a.0), Some(self.next_table), Some(horizon)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(horizon);
            let fds: Vec<i32> = self.hosts.iter().map(|h| h.tun.fd()).collect();
            wait(&fds, self.start, due.since_start());
        }
    }

    /// The faults' actions due by `now`.
    fn apply_faults(&mut self, now: Instant) -> Result<(), NetnsError> {
        while let Some(&(at, action)) = self.plan.get(self.next_action).filter(|a| a.0 <= now) {
            self.next_action += 1;
            match action {
                Action::Break(h, cause) => {
                    self.judge.host_broke(at, h, cause);
                    if matches!(cause, BreakCause::Crash(_) | BreakCause::Reboot(_)) {
                        self.judge.killed(at, h);
                    }
                }
                Action::Power(h, on) => {
                    self.net.set_powered(h, on);
                    self.judge.set_down(h, !on);
                }
                Action::Stop(h) => self.hosts[h].stop(),
                Action::Resume(h) => self.hosts[h].resume(),
                Action::Kill(h, fresh) => {
                    self.hosts[h].kill();
                    if let Some(spare) = self.spares[self.next_action - 1].take().filter(|_| fresh) {
                        let old = std::mem::replace(&mut self.hosts[h], spare);
                        // Removing a namespace takes a while too: not on the packets' time.
                        std::thread::spawn(move || drop(old));
                    }
                }
                Action::Restart(h) => self.spawn(h)?,
                Action::NatReboot(k) => self.net.reboot_nat(k),
            }
        }
        Ok(())
    }

    /// Every packet the hosts have sent, into the network.
    fn read_hosts(&mut self) -> Result<(), NetnsError> {
        for h in 0..self.hosts.len() {
            while let Some(n) = self.hosts[h].tun.recv(&mut self.buf)? {
                let t = self.now();
                let Ok(p) = Packet::parse(self.buf[..n].to_vec()) else { continue };
                if h < self.server() && p.seg.dst.port() == self.port {
                    self.opened[h] = true;
                }
                let kind = if p.seg.is_udp() {
                    let long = super::judge::is_long_header(p.udp_payload());
                    self.judge.sent_datagram(t, h, &p.seg, n, long)
                } else {
                    self.judge.sent(t, h, &p.seg, n)
                };
                // The proxy's leg toward the server counts as the client's side, as in the event engine.
                let toward_server = Some(h) == self.proxy() && p.seg.dst.port() == self.port;
                let side = if toward_server { Side::Client } else { self.side_of(h) };
                if toward_server && kind == SegmentKind::Handshake && !p.seg.flags.contains(Flags::ACK) {
                    if let Some(slot) = self.judge.backend_slot(&p.seg) {
                        self.rec.proxy(t, ProxyEvent::BackendOpened { slot });
                    }
                }
                self.rec.sent(t, side, sim::packet::Segment { kind, ..p.seg }, &p.bytes);
                self.net.from_host(t, h, p);
            }
        }
        Ok(())
    }

    /// The network's models carried to now; what it did to the judge; the
    /// packets due written into their hosts, each one's lateness measured.
    fn carry(&mut self) {
        self.net.handle_timeout(self.now());
        let now = self.now();
        while let Some(note) = self.net.poll_note() {
            match note {
                Note::Translated { nat, before, after } => {
                    self.judge.translated(nat, &before, &after);
                    self.rec.translated(now, nat, before, after);
                }
                Note::Nat(k, e) => {
                    self.judge.nat(k, now, &e);
                    self.rec.nat_event(now, k, e);
                }
                Note::Lost { host, at } => self.judge.lost(host, at),
                Note::NatReset(k, seg) => self.rec.nat_reset(now, k, seg),
            }
        }
        while let Some(d) = self.net.poll_delivery() {
            // A host being replaced (a reboot) may refuse a write: the packet is lost, as it would be.
            let _ = self.hosts[d.host].tun.send(&d.packet.bytes);
            let t = self.now();
            self.lateness_ns.push((t - d.due).as_nanos() as u64);
            self.judge.delivered(t, d.host, &d.packet.seg);
            // Parsed packets are `Data` until classified; only the network's own (a NAT's RST) are `Reset` here.
            self.rec.delivered(t, &d.packet.bytes, d.packet.seg.kind == sim::packet::SegmentKind::Reset);
        }
    }

    /// The programs' lines: declarations, the agent's pings and pongs, the trace.
    fn read_lines(&mut self) {
        while let Ok(line) = self.rx.try_recv() {
            let at = self.clock(line.at);
            if let Some(cause) = self.programs.declaration(&line.text) {
                self.judge.declared(at, line.host, line.slot, cause);
            } else if let Some(rest) = line.text.strip_prefix(agent::CLOSED) {
                self.judge.closed_on_purpose(at, line.host, line.slot, local_and_peer(rest));
            } else if let Some(peer) = line.text.strip_prefix(super::relay::IDLE_CLOSE).and_then(|p| p.trim().parse().ok()) {
                self.judge.proxy_idle_close(at, peer);
            } else if let Some((local, peer)) = line.text.strip_prefix(quic_app::IDLE_TIMEOUT).and_then(local_and_peer) {
                self.judge.quic_idle_timeout(at, line.host, local, peer);
            } else if let Some(rest) = line.text.strip_prefix(quic_app::KEEPALIVE) {
                let mut words = rest.split_whitespace();
                let kind = match words.next() {
                    Some("probe") => Some(SegmentKind::KeepaliveProbe),
                    Some("answer") => Some(SegmentKind::KeepaliveAck),
                    _ => None,
                };
                if let (Some(kind), Some(Ok(payload))) = (kind, words.next().map(str::parse::<usize>)) {
                    // The datagram's IP packet: its payload, 8 bytes of UDP header, 20 of IPv4.
                    self.judge.reclassify(self.side_of(line.host), kind, payload + 28);
                }
            }
            let side = self.side_of(line.host);
            let stats = &mut self.endpoints[side.index()];
            if let Some(bytes) = line.text.strip_prefix(agent::PING).and_then(|b| b.trim().parse::<u64>().ok()) {
                stats.pings += 1;
                stats.ping_bytes += bytes;
            } else if let Some(bytes) = line.text.strip_prefix(agent::PONG).and_then(|b| b.trim().parse::<u64>().ok()) {
                stats.pongs += 1;
                stats.pong_bytes += bytes;
            }
            let program = self.argv_of(line.host).first().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()).unwrap_or_default();
            self.rec.line(at, side, &program, &line.text);
        }
    }

    /// Each namespace's socket table, and the programs that exited.
    fn poll_tables(&mut self, now: Instant) -> Result<(), NetnsError> {
        let clients = self.server();
        for h in 0..self.hosts.len() {
            let table = self.hosts[h].table();
            self.judge.table(now, h, &table);
            for (program, status, tail) in self.hosts[h].exited() {
                if h < clients && !self.opened[h] && !status.contains("exit status: 0") {
                    return Err(NetnsError::ExitedAtStart { program, status, tail: tail.join("\n") });
                }
                self.judge.exited(now, h, &status);
            }
        }
        Ok(())
    }

    /// In a scenario with sessions: ask each client's agent for its request
    /// outcomes (SIGTERM; it prints them and exits) and add them up.
    fn collect_requests(&mut self) -> Option<RequestCounts> {
        if !self.scenario.sessions() {
            return None;
        }
        let clients = self.server();
        for h in 0..clients {
            self.hosts[h].terminate();
        }
        // One agent per connection slot answers.
        let agents = clients * self.scenario.connections as usize;
        let mut total = RequestCounts::default();
        let mut heard = 0;
        let waited = std::time::Instant::now();
        while heard < agents && waited.elapsed() < REQUESTS_WAIT {
            match self.rx.recv_timeout(Duration::from_millis(10)) {
                Ok(line) => {
                    if let Some(counts) =
                        line.text.strip_prefix(agent::REQUESTS).and_then(|j| serde_json::from_str::<RequestCounts>(j).ok())
                    {
                        agent::add_requests(&mut total, &counts);
                        heard += 1;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Some(total)
    }

    /// Stop every program, remove the namespaces, and judge what was seen.
    pub(super) fn finish(mut self) -> NetnsRun {
        let requests = self.collect_requests();
        let RealRun { scenario, strategy, seed, hosts, judge, faults, rec, endpoints, lateness_ns, .. } = self;
        drop(hosts);
        let mut outcome = judge.finish(Instant::ZERO + scenario.horizon, strategy.detection_window());
        let (trace, packets) = rec.finish(&faults, &outcome.declarations);
        outcome.trace = trace;
        let record = RunRecord { seed, faults, outcome, endpoints, horizon: scenario.horizon, requests, request_log: Vec::new() };
        NetnsRun { record, lateness_ns, packets }
    }
}
