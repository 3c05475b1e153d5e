//! The oracle for real hosts: which connection each real packet, program
//! line and socket-table change belongs to, and what each side's end of
//! each connection was.
//!
//! The event engine knows every connection from inside its stacks; here the
//! stacks are real kernels, so the judge rebuilds the same picture from
//! outside, as the contract says: a connection is a 4-tuple seen on the wire
//! (a new SYN from a client host is that host's next connection: a
//! reconnect of its slot); the ground truth (when it broke) comes from the
//! network models and the faults, exactly as in the event engine; and a
//! side's *end* is the first of its program printing a `declare` line, its
//! kernel sending FIN or RST, the socket leaving ESTABLISHED in its
//! namespace's table, or its program exiting. [`Judge::finish`] turns ends
//! into the event engine's [`Outcome`]: on a broken connection an end is a
//! detection; on a working one it is a false positive when it was a
//! declaration, otherwise an orderly end. So every metric, report and
//! `[[expect]]` reads a netns run as it reads an event run.
//!
//! Like the network it is sans-IO: fed what was seen and when, it reads no
//! clock and touches no socket, so its rules are tested here without root.

use sim::nat::OnExpired;
use sim::oracle::{echoes_peer, judge, BreakCause, Condition, Declaration, Evidence, Verdict};
use sim::packet::{Flags, Segment, SegmentKind};
use sim::world::{ConnOutcome, Outcome, SlotOutcome, WireStats};
use sim::{Instant, Side};
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::Duration;

mod nat;
mod proxy;
mod quic;
mod table;

pub use quic::is_long_header;
pub use table::{parse_table, TableEntry, ESTABLISHED};

/// How a side's end of a connection came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndHow {
    /// Its program printed a line matching `declare` (the agent: its
    /// strategy or its socket error declared, with the cause it gave).
    Declared(String),
    /// Its kernel sent a FIN.
    SentFin,
    /// Its kernel sent a RST.
    SentRst,
    /// The socket left ESTABLISHED in its namespace's table without a FIN or
    /// RST from it.
    LeftTable,
    /// Its program exited (the status as the OS reports it).
    Exited(String),
    /// A fault killed its program (a crash, a reboot): not a declaration.
    Killed,
    /// Its application closed the connection on purpose (kasim's agent says
    /// so: an idle timeout): not a declaration, and on a working connection
    /// an orderly end, as the event engine counts its own.
    ClosedOnPurpose,
    /// QUIC's idle timeout ended it (kasim's agent says so): ETIMEDOUT, and
    /// on a working connection an idle close.
    IdleTimedOut,
}

#[derive(Clone, Debug)]
struct End {
    at: Instant,
    how: EndHow,
}

/// Per direction, what a classifier needs: the highest sequence number sent,
/// and whether the peer's keepalive probe waits for its ACK.
#[derive(Clone, Copy, Debug, Default)]
struct Flow {
    snd_max: Option<u64>,
    probe_to_answer: bool,
}

#[derive(Clone, Debug)]
struct Conn {
    slot: usize,
    generation: u32,
    outcome: ConnOutcome,
    ends: [Option<End>; 2],
    /// When a FIN and a RST first reached each side.
    got_fin: [Option<Instant>; 2],
    got_rst: [Option<Instant>; 2],
    flows: [Flow; 2],
    /// Behind a proxy, the same for the proxy's connection to the server
    /// (`[proxy, server]`); `flows` is then the client's connection to the
    /// proxy (`[client, proxy]`).
    back_flows: [Flow; 2],
    /// Seen ESTABLISHED in each side's socket table.
    in_table: [bool; 2],
    /// The tuple as the client sees it: (its own address, the server's).
    client_tuple: (SocketAddrV4, SocketAddrV4),
    /// The tuple as the server sees it (after the NAT; behind a proxy, the
    /// proxy's own connection to it), once known.
    server_tuple: Option<(SocketAddrV4, SocketAddrV4)>,
    /// Behind a proxy, the client's tuple as the proxy sees it (after the NAT).
    front_tuple: Option<(SocketAddrV4, SocketAddrV4)>,
    /// Behind a proxy: when the client's handshake completed at the proxy
    /// (its ACK delivered there: the proxy accepts, and opens its own
    /// connection to the server, in this order).
    front_up: Option<Instant>,
    /// Behind a proxy: the server answered the proxy's SYN.
    back_up: bool,
    /// A QUIC connection (a UDP flow), which migrates when a NAT moves it.
    quic: bool,
}

impl Conn {
    fn open_on(&self, side: Side) -> bool {
        self.ends[side.index()].is_none()
    }
}

/// How long after a kernel's RST or a socket's leaving the table a program's
/// declare line still counts as the same end (see [`Judge::declared`]).
pub const DECLARE_GRACE: Duration = Duration::from_millis(100);

/// Everything seen on real hosts during one run, turned into an [`Outcome`].
pub struct Judge {
    clients: usize,
    server_port: u16,
    /// Each NAT's expiry policy, from the clients' side (empty: no NAT).
    nats: Vec<OnExpired>,
    /// Per NAT, its flows by their tuple on its outside (what the next box
    /// sees; what reaches NAT k is NAT k-1's outside, NAT 0's the client's own).
    by_outside: Vec<HashMap<(SocketAddrV4, SocketAddrV4), usize>>,
    conns: Vec<Conn>,
    by_client: HashMap<(SocketAddrV4, SocketAddrV4), usize>,
    by_server: HashMap<(SocketAddrV4, SocketAddrV4), usize>,
    /// Behind a proxy: connections by their tuple as the proxy sees it.
    by_front: HashMap<(SocketAddrV4, SocketAddrV4), usize>,
    /// The proxy's host number, when a proxy stands before the server.
    proxy: Option<usize>,
    /// Connection slots per client host (`[client] connections`): slot
    /// `host * per_host + j`, told apart by source port ([`Judge::with_connections`]).
    per_host: usize,
    /// Per slot, its connections in order.
    slots: Vec<Vec<usize>>,
    stats: [WireStats; 2],
    /// Hosts powered off or frozen: what their side does then is not its end.
    down: Vec<bool>,
    /// Per client host, and one the server's faults share.
    evidence: Vec<Evidence>,
    shared: Evidence,
    nat_expired_at: Vec<Instant>,
    mappings_expired: u64,
}

impl Judge {
    /// A judge for `clients` client hosts and a server listening on
    /// `server_port`, behind a NAT with this expiry policy (`None`: no NAT,
    /// so the server sees each client's own addresses).
    pub fn new(clients: usize, server_port: u16, on_expired: Option<OnExpired>) -> Judge {
        Judge {
            clients,
            server_port,
            nats: on_expired.into_iter().collect(),
            by_outside: vec![HashMap::new(); usize::from(on_expired.is_some())],
            conns: Vec::new(),
            by_client: HashMap::new(),
            by_server: HashMap::new(),
            by_front: HashMap::new(),
            proxy: None,
            per_host: 1,
            slots: vec![Vec::new(); clients],
            stats: [WireStats::default(); 2],
            down: vec![false; clients + 1],
            evidence: vec![Evidence::default(); clients],
            shared: Evidence::default(),
            nat_expired_at: Vec::new(),
            mappings_expired: 0,
        }
    }

    /// A chain of NATs from the clients' side, with these expiry policies
    /// (instead of `new`'s one).
    pub fn with_nats(mut self, policies: Vec<OnExpired>) -> Judge {
        self.by_outside = vec![HashMap::new(); policies.len()];
        self.nats = policies;
        self
    }

    /// Each client host holds `per_host` connection slots, each run by its
    /// own program whose source ports are `port_base(j)` and on
    /// (the agent's `port_base`): a client's SYN from
    /// such a port opens a connection of slot `host * per_host + j`.
    pub fn with_connections(mut self, per_host: usize) -> Judge {
        self.per_host = per_host.max(1);
        self.slots = vec![Vec::new(); self.clients * self.per_host];
        self
    }

    /// The slot a client host's connection from `port` belongs to.
    fn slot_of(&self, host: usize, port: u16) -> usize {
        if self.per_host == 1 {
            return host;
        }
        host * self.per_host + super::agent::slot_of_port(port).min(self.per_host - 1)
    }

    fn side_of(&self, host: usize) -> Side {
        if host < self.clients {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// The connection a segment sent by `host` belongs to (a client's new
    /// SYN opens one).
    fn conn_of_sent(&mut self, now: Instant, host: usize, seg: &Segment) -> Option<usize> {
        if host < self.clients {
            if seg.dst.port() != self.server_port {
                return None;
            }
            let key = (seg.src, seg.dst);
            let fresh_syn = seg.flags.contains(Flags::SYN) && !seg.flags.contains(Flags::ACK);
            match self.by_client.get(&key) {
                Some(&c) if !fresh_syn || self.conns[c].open_on(Side::Client) => Some(c),
                _ if fresh_syn => Some(self.open_conn(now, host, key)),
                _ => None,
            }
        } else {
            self.by_server.get(&(seg.dst, seg.src)).copied()
        }
    }

    /// Client host `host` opened a connection at `now` with tuple `key`
    /// (its own address, the server's): its slot's next.
    fn open_conn(&mut self, now: Instant, host: usize, key: (SocketAddrV4, SocketAddrV4)) -> usize {
        let c = self.conns.len();
        let slot = self.slot_of(host, key.0.port());
        let generation = self.slots[slot].len() as u32;
        self.conns.push(Conn {
            slot,
            generation,
            outcome: ConnOutcome { opened_at: now, ..ConnOutcome::default() },
            ends: [None, None],
            got_fin: [None; 2],
            got_rst: [None; 2],
            flows: [Flow::default(); 2],
            back_flows: [Flow::default(); 2],
            in_table: [false; 2],
            client_tuple: key,
            server_tuple: None,
            front_tuple: None,
            front_up: None,
            back_up: false,
            quic: false,
        });
        self.slots[slot].push(c);
        self.by_client.insert(key, c);
        c
    }

    /// Connection `c`'s client tuple as the host it reaches (the server, or
    /// the proxy) sees it.
    fn far_end_is(&mut self, c: usize, tuple: (SocketAddrV4, SocketAddrV4)) {
        if self.proxy.is_some() {
            self.conns[c].front_tuple = Some(tuple);
            self.by_front.insert(tuple, c);
        } else {
            // A TCP socket keeps the tuple it was opened with: a NAT that later
            // moves the flow to a new port (`new_port`) shows the server a
            // stranger. QUIC follows the client to its new address (migration).
            let conn = &mut self.conns[c];
            if conn.server_tuple.is_none() || conn.quic {
                conn.server_tuple = Some(tuple);
            }
            self.by_server.insert(tuple, c);
        }
    }

    /// A packet from the server on a tuple its socket of connection `c` does
    /// not hold (its kernel's RST to a flow a NAT moved): not that socket's.
    fn stranger_to_server(&self, c: usize, seg: &Segment) -> bool {
        let conn = &self.conns[c];
        !conn.quic && self.proxy.is_none() && conn.server_tuple.is_some_and(|t| t != (seg.dst, seg.src))
    }

    /// A packet `host` sent, read from its TUN device at `now`: counted by
    /// kind for its side, and a FIN or RST from a side still open is its end.
    /// Returns its kind, as the judge classified it.
    pub fn sent(&mut self, now: Instant, host: usize, seg: &Segment, ip_bytes: usize) -> SegmentKind {
        if Some(host) == self.proxy {
            return self.proxy_sent(now, seg, ip_bytes);
        }
        let side = self.side_of(host);
        if self.down[host] {
            return SegmentKind::Data;
        }
        let c = self.conn_of_sent(now, host, seg).filter(|&c| side == Side::Client || !self.stranger_to_server(c, seg));
        let Some(c) = c else {
            let kind = if seg.flags.contains(Flags::RST) { SegmentKind::Reset } else { SegmentKind::Data };
            self.count(side, kind, ip_bytes);
            return kind;
        };
        let far_known = if self.proxy.is_some() { self.conns[c].front_tuple.is_some() } else { self.conns[c].server_tuple.is_some() };
        if side == Side::Client && self.nats.is_empty() && !far_known {
            // No NAT: the server (or the proxy) sees the client's own tuple.
            self.far_end_is(c, (seg.src, seg.dst));
        }
        let back = side == Side::Server && self.proxy.is_some();
        if back && seg.flags.contains(Flags::SYN) && seg.flags.contains(Flags::ACK) {
            self.conns[c].back_up = true;
        }
        let kind = Self::classify(self.flows(c, back), side.index(), seg);
        self.count(side, kind, ip_bytes);
        let conn = &mut self.conns[c];
        if side == Side::Client && !seg.flags.contains(Flags::SYN) && seg.flags.contains(Flags::ACK) {
            conn.outcome.established_at.get_or_insert(now);
        }
        if conn.open_on(side) {
            if seg.flags.contains(Flags::RST) {
                conn.ends[side.index()] = Some(End { at: now, how: EndHow::SentRst });
            } else if seg.flags.contains(Flags::FIN) {
                conn.ends[side.index()] = Some(End { at: now, how: EndHow::SentFin });
            }
        }
        kind
    }

    /// A packet written into `host` at `now` (after the network): a FIN or
    /// RST reaching a side names the cause of its end (EOF, ECONNRESET).
    pub fn delivered(&mut self, now: Instant, host: usize, seg: &Segment) {
        if seg.is_udp() {
            return;
        }
        if Some(host) == self.proxy {
            return self.proxy_delivered(now, seg);
        }
        let side = self.side_of(host);
        let key = if side == Side::Client { (seg.dst, seg.src) } else { (seg.src, seg.dst) };
        let c = if side == Side::Client { self.by_client.get(&key) } else { self.by_server.get(&key) };
        let Some(&c) = c else { return };
        if side == Side::Server && self.stranger_to_server(c, &Segment { src: seg.dst, dst: seg.src, ..*seg }) {
            return;
        }
        let conn = &mut self.conns[c];
        if seg.flags.contains(Flags::RST) {
            conn.got_rst[side.index()].get_or_insert(now);
        } else if seg.flags.contains(Flags::FIN) {
            conn.got_fin[side.index()].get_or_insert(now);
        }
        let back = side == Side::Server && self.proxy.is_some();
        Self::note_probe(self.flows(c, back), side.index(), seg);
    }

    /// The flows of connection `c`'s own TCP connection (`back`: behind a
    /// proxy, the proxy's connection to the server).
    fn flows(&mut self, c: usize, back: bool) -> &mut [Flow; 2] {
        let conn = &mut self.conns[c];
        if back {
            &mut conn.back_flows
        } else {
            &mut conn.flows
        }
    }

    /// `seg` reached end `i` of a TCP connection: a probe (seq one below
    /// what the other end has sent) waits for its ACK.
    fn note_probe(flows: &mut [Flow; 2], i: usize, seg: &Segment) {
        if let Some(max) = flows[1 - i].snd_max {
            flows[i].probe_to_answer = seg.len <= 1 && seg.seq + 1 == max && !seg.flags.contains(Flags::SYN);
        }
    }

    fn classify(flows: &mut [Flow; 2], i: usize, seg: &Segment) -> SegmentKind {
        let flow = &mut flows[i];
        let end = seg.seq + seg.seq_len();
        let kind = if seg.flags.contains(Flags::RST) {
            SegmentKind::Reset
        } else if seg.flags.contains(Flags::SYN) {
            SegmentKind::Handshake
        } else if flow.snd_max.is_some_and(|m| seg.seq + 1 == m && seg.len <= 1 && !seg.flags.contains(Flags::FIN)) {
            SegmentKind::KeepaliveProbe
        } else if seg.seq_len() > 0 {
            if flow.snd_max.is_some_and(|m| end <= m) {
                SegmentKind::Retransmit
            } else {
                SegmentKind::Data
            }
        } else if std::mem::take(&mut flow.probe_to_answer) {
            SegmentKind::KeepaliveAck
        } else {
            SegmentKind::Ack
        };
        if kind != SegmentKind::KeepaliveProbe && kind != SegmentKind::Reset {
            flow.snd_max = Some(flow.snd_max.map_or(end, |m| m.max(end)));
        }
        kind
    }

    fn count(&mut self, side: Side, kind: SegmentKind, ip_bytes: usize) {
        let st = &mut self.stats[side.index()];
        st.packets[kind as usize] += 1;
        st.bytes[kind as usize] += ip_bytes as u64;
    }

    /// A line of `host`'s program that matches `declare` (or the agent's
    /// declaration): the end of that host's side of its connection. A client
    /// host's line is about the connection whose end it just saw, else its
    /// latest open one; the server's, about the connection whose end it just
    /// saw, else its oldest open one (a server program does not say which of
    /// several it means).
    ///
    /// A program learns of a kernel's give-up from the same event that put
    /// the kernel's RST on the wire or took the socket out of the table, and
    /// its line is read a moment later: a line within [`DECLARE_GRACE`] after
    /// such an end makes that end a declaration (at the earlier instant).
    /// `slot`: the connection slot whose program printed it, when a client
    /// host runs one per slot.
    pub fn declared(&mut self, now: Instant, host: usize, slot: Option<usize>, cause: String) {
        self.program_end(now, host, slot, EndHow::Declared(cause));
    }

    /// `host`'s application (kasim's agent) closed a connection on purpose
    /// (its idle timeout), found as a declaration's is: not its
    /// declaration, even on a broken connection.
    /// `tuple`: the socket's (local, peer) addresses, which name the
    /// connection exactly (its line may be read before the FIN it sends).
    pub fn closed_on_purpose(&mut self, now: Instant, host: usize, slot: Option<usize>, tuple: Option<(SocketAddrV4, SocketAddrV4)>) {
        let named = tuple.and_then(|(local, peer)| {
            if host < self.clients {
                self.by_client.get(&(local, peer)).copied()
            } else {
                self.by_server.get(&(peer, local)).copied()
            }
        });
        self.program_end_of(now, host, slot, named, EndHow::ClosedOnPurpose);
    }

    fn program_end(&mut self, now: Instant, host: usize, slot: Option<usize>, how: EndHow) {
        self.program_end_of(now, host, slot, None, how);
    }

    /// A line of `host`'s program ends its side of connection `named`, or,
    /// when the line does not say which, of the one found as
    /// [`declared`](Self::declared) says.
    fn program_end_of(&mut self, now: Instant, host: usize, slot: Option<usize>, named: Option<usize>, how: EndHow) {
        if self.down[host] || Some(host) == self.proxy {
            return;
        }
        let side = self.side_of(host);
        let i = side.index();
        let open_or_recent = |conn: &Conn| match &conn.ends[i] {
            None => true,
            Some(e) => !matches!(e.how, EndHow::Declared(_) | EndHow::Killed | EndHow::ClosedOnPurpose) && now <= e.at + DECLARE_GRACE,
        };
        let ended_just_now = |conn: &Conn| conn.ends[i].as_ref().is_some_and(|_| open_or_recent(conn));
        let c = if let Some(c) = named.filter(|&c| open_or_recent(&self.conns[c])) {
            Some(c)
        } else if named.is_some() {
            None
        } else if side == Side::Client {
            // The connection whose kernel just gave up, if one did (its application may
            // already have opened the next one: a reconnect's SYN can be read before the
            // line), else the latest one still open.
            let slot = &self.slots[slot.unwrap_or(host)];
            slot.iter()
                .rev()
                .copied()
                .find(|&c| ended_just_now(&self.conns[c]))
                .or_else(|| slot.last().copied().filter(|&c| self.conns[c].open_on(side)))
        } else {
            // The same on the server, whose program does not say which connection it means:
            // the one whose kernel just gave up, else the oldest still open.
            let known = |c: &usize| self.conns[*c].server_tuple.is_some();
            (0..self.conns.len())
                .rev()
                .filter(known)
                .find(|&c| ended_just_now(&self.conns[c]))
                .or_else(|| (0..self.conns.len()).filter(known).find(|&c| self.conns[c].open_on(side)))
        };
        if let Some(c) = c {
            let at = self.conns[c].ends[i].as_ref().map_or(now, |e| e.at.min(now));
            self.conns[c].ends[i] = Some(End { at, how });
        }
    }

    /// `host`'s program exited at `now`: every connection still open on its side ends.
    pub fn exited(&mut self, now: Instant, host: usize, status: &str) {
        if self.down[host] || Some(host) == self.proxy {
            return;
        }
        let side = self.side_of(host);
        for c in self.conns_of(host) {
            let conn = &mut self.conns[c];
            if conn.open_on(side) {
                conn.ends[side.index()] = Some(End { at: now, how: EndHow::Exited(status.to_string()) });
            }
        }
    }

    /// A fault killed `host`'s programs at `now` (a crash, a reboot): what
    /// its kernel sends for them afterwards is not that side's end.
    pub fn killed(&mut self, now: Instant, host: usize) {
        if Some(host) == self.proxy {
            return;
        }
        let side = self.side_of(host);
        for c in self.conns_of(host) {
            let conn = &mut self.conns[c];
            if conn.open_on(side) {
                conn.ends[side.index()] = Some(End { at: now, how: EndHow::Killed });
            }
        }
    }

    fn conns_of(&self, host: usize) -> Vec<usize> {
        if host < self.clients {
            self.slots[host * self.per_host..(host + 1) * self.per_host].concat()
        } else {
            (0..self.conns.len()).collect()
        }
    }

    /// `host`'s socket table read at `now`: a connection seen ESTABLISHED
    /// before that is no longer has ended on that side.
    pub fn table(&mut self, now: Instant, host: usize, entries: &[TableEntry]) {
        if self.down[host] || Some(host) == self.proxy {
            return;
        }
        let side = self.side_of(host);
        for c in self.conns_of(host) {
            let conn = &mut self.conns[c];
            let tuple = match side {
                Side::Client => Some(conn.client_tuple),
                Side::Server => conn.server_tuple.map(|(src, dst)| (dst, src)),
            };
            let Some((local, remote)) = tuple else { continue };
            let established = entries.iter().any(|e| e.local == local && e.remote == remote && e.state == ESTABLISHED);
            if established {
                conn.in_table[side.index()] = true;
            } else if conn.in_table[side.index()] && conn.open_on(side) {
                conn.ends[side.index()] = Some(End { at: now, how: EndHow::LeftTable });
            }
        }
    }

    fn record_break(conn: &mut Conn, at: Instant, cause: BreakCause) {
        if conn.outcome.ended_at.is_none() {
            conn.outcome.broken.get_or_insert((at, cause));
        }
    }

    /// A host-breaking fault at `now` on `host` (vanish, reboot, crash): every
    /// connection it holds and its client still has open breaks.
    pub fn host_broke(&mut self, now: Instant, host: usize, cause: BreakCause) {
        for c in self.conns_of(host) {
            let conn = &mut self.conns[c];
            if conn.open_on(Side::Client) {
                Self::record_break(conn, now, cause);
            }
        }
    }

    /// `host` goes down (vanish, reboot, suspend: `true`) or comes back.
    pub fn set_down(&mut self, host: usize, down: bool) {
        self.down[host] = down;
    }

    /// A transient condition on `host` (an outage of its link, its suspend):
    /// opened at `from`, closed at `to`.
    pub fn transient(&mut self, host: usize, condition: Condition, from: Instant, to: Instant) {
        let e = if host < self.clients { &mut self.evidence[host] } else { &mut self.shared };
        e.open_transient(from, condition);
        e.close_transient(to, condition);
    }

    /// `host`'s link lost a packet at random at `at`.
    pub fn lost(&mut self, host: usize, at: Instant) {
        let e = if host < self.clients { &mut self.evidence[host] } else { &mut self.shared };
        e.record_random_loss(at);
    }

    /// The run's outcome, as the event engine would give it: each end judged
    /// (`lookback` as the strategy's detection window), up to `ended_at`.
    pub fn finish(mut self, ended_at: Instant, lookback: Duration) -> Outcome {
        let mut declarations = Vec::new();
        for conn in &mut self.conns {
            let mut ends: Vec<(Side, End)> =
                Side::BOTH.iter().filter_map(|&s| conn.ends[s.index()].clone().map(|e| (s, e))).filter(|(_, e)| e.at <= ended_at).collect();
            ends.sort_by_key(|(_, e)| e.at);
            let mut first_declared: Option<Side> = None;
            for (side, end) in ends {
                let i = side.index();
                if side == Side::Client {
                    conn.outcome.closed_at.get_or_insert(end.at);
                }
                let cause = match &end.how {
                    EndHow::Killed => continue,
                    EndHow::ClosedOnPurpose => {
                        if conn.outcome.broken.is_none_or(|(since, _)| since > end.at) {
                            conn.outcome.ended_at.get_or_insert(end.at);
                        }
                        continue;
                    }
                    EndHow::Declared(c) => c.clone(),
                    EndHow::Exited(status) => format!("exited ({status})"),
                    _ if conn.got_rst[i].is_some_and(|t| t <= end.at) => "ECONNRESET".into(),
                    _ if conn.got_fin[i].is_some_and(|t| t <= end.at) => "EOF".into(),
                    EndHow::SentRst => "RST sent".into(),
                    EndHow::SentFin => "FIN sent".into(),
                    // Linux drops an established socket without a word only when it gives up.
                    EndHow::LeftTable | EndHow::IdleTimedOut => "ETIMEDOUT".into(),
                };
                let broken = conn.outcome.broken.filter(|(since, _)| *since <= end.at);
                let declared = matches!(end.how, EndHow::Declared(_));
                let verdict = if broken.is_some() {
                    let evidence = &self.evidence[conn.slot / self.per_host];
                    judge(broken, evidence, &[&self.shared], end.at, lookback, false)
                } else if !declared {
                    // A working connection's end without a declaration: an orderly end.
                    conn.outcome.ended_at.get_or_insert(end.at);
                    continue;
                } else if conn.outcome.ended_at.is_some_and(|t| t <= end.at) {
                    Verdict::OrderlyEnd
                } else {
                    judge(None, &self.evidence[conn.slot / self.per_host], &[&self.shared], end.at, lookback, false)
                };
                let echo = echoes_peer(&cause, first_declared == Some(side.peer()));
                conn.outcome.declared[i] = true;
                first_declared.get_or_insert(side);
                declarations.push(Declaration { side, at: end.at, cause, verdict, slot: conn.slot as u32, conn: conn.generation, echo });
            }
        }
        declarations.sort_by_key(|d| (d.at, d.slot, d.side.index()));
        let slots: Vec<SlotOutcome> = self
            .slots
            .iter()
            .map(|cs| SlotOutcome { connections: cs.iter().map(|&c| self.conns[c].outcome.clone()).collect(), client_clock: ended_at })
            .collect();
        self.nat_expired_at.sort();
        Outcome {
            ended_at,
            broken: slots.first().and_then(SlotOutcome::broken),
            declarations,
            slots,
            stats: self.stats,
            mappings_expired: self.mappings_expired,
            nat_expired_at: self.nat_expired_at,
            messages_received: [0; 2],
            events_processed: 0,
            trace: Vec::new(),
            stopped: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::packet::addr;

    const CLIENT: &str = "198.18.0.2:40000";
    const SERVER: &str = "203.0.113.10:8000";

    fn seg(src: &str, dst: &str, flags: Flags, seq: u64, len: u32) -> Segment {
        Segment::tcp(src.parse().unwrap(), dst.parse().unwrap(), flags, seq, 0, len)
    }

    fn s(x: u64) -> Instant {
        Instant::from_secs(x)
    }

    /// A client that connects at 0 and whose handshake completes at once.
    fn connected() -> Judge {
        let mut j = Judge::new(1, 8000, None);
        j.sent(s(0), 0, &seg(CLIENT, SERVER, Flags::SYN, 100, 0), 60);
        j.sent(s(0), 1, &seg(SERVER, CLIENT, Flags::SYN | Flags::ACK, 500, 0), 60);
        j.sent(s(0), 0, &seg(CLIENT, SERVER, Flags::ACK, 101, 0), 52);
        j
    }

    #[test]
    fn kernel_keepalive_giving_up_on_a_vanished_server_is_a_detection() {
        let mut j = connected();
        j.host_broke(s(1), 1, BreakCause::Vanish(Side::Server));
        j.set_down(1, true);
        // Probes at 2, 3, 4 s (seq one below snd_max = 101), then the kernel's RST at 5 s.
        for t in [2, 3, 4] {
            j.sent(s(t), 0, &seg(CLIENT, SERVER, Flags::ACK, 100, 0), 52);
        }
        j.sent(s(5), 0, &seg(CLIENT, SERVER, Flags::RST | Flags::ACK, 101, 0), 40);
        // The vanished server's own kernel gives up too: not its end (it is powered off).
        j.table(s(6), 1, &[]);
        let o = j.finish(s(10), Duration::from_secs(60));
        assert_eq!(o.declarations.len(), 1);
        let d = &o.declarations[0];
        assert_eq!((d.side, d.at, d.cause.as_str()), (Side::Client, s(5), "RST sent"));
        assert_eq!(d.verdict, Verdict::Detection { latency: Duration::from_secs(4) });
        assert_eq!(o.stats[0].packets_of(SegmentKind::KeepaliveProbe), 3);
        assert_eq!(o.stats[0].packets_of(SegmentKind::Handshake), 1);
        assert_eq!(o.slots[0].connections[0].closed_at, Some(s(5)));
    }

    #[test]
    fn a_declaration_on_a_working_connection_is_a_false_positive_and_a_fin_an_orderly_end() {
        let mut j = connected();
        j.transient(0, Condition::Outage, s(10), s(20));
        j.declared(s(15), 0, None, "timed out".into());
        let o = j.finish(s(30), Duration::from_secs(60));
        assert_eq!(o.declarations[0].verdict, Verdict::FalsePositive { condition: Condition::Outage });

        let mut j = connected();
        j.sent(s(5), 1, &seg(SERVER, CLIENT, Flags::FIN | Flags::ACK, 501, 0), 52);
        j.delivered(s(5), 0, &seg(SERVER, CLIENT, Flags::FIN | Flags::ACK, 501, 0));
        j.sent(s(5), 0, &seg(CLIENT, SERVER, Flags::FIN | Flags::ACK, 101, 0), 52);
        let o = j.finish(s(30), Duration::from_secs(60));
        assert!(o.declarations.is_empty(), "{:?}", o.declarations);
        assert_eq!(o.slots[0].connections[0].ended_at, Some(s(5)));
    }

    #[test]
    fn a_rst_from_the_nat_after_expiry_is_a_detection_of_the_expiry() {
        let mut j = Judge::new(1, 8000, Some(OnExpired::Rst));
        j.sent(s(0), 0, &seg(CLIENT, SERVER, Flags::SYN, 100, 0), 60);
        let public = SocketAddrV4::new(addr::NAT_PUBLIC_IP, 40000);
        let before = seg(CLIENT, SERVER, Flags::SYN, 100, 0);
        j.translated(0, &before, &Segment { src: public, ..before });
        // The event engine's own NAT model forgets the flow after 5 s of silence.
        let mut nat = sim::nat::Nat::new(
            sim::nat::NatConfig::new(Duration::from_secs(5), OnExpired::Rst),
            sim::rng::Stream::new(1, sim::rng::Purpose::NatPorts),
        );
        nat.outbound(s(0), &before);
        nat.inbound(s(0), &seg(SERVER, &public.to_string(), Flags::SYN | Flags::ACK, 500, 0));
        nat.handle_timeout(s(5));
        while let Some(e) = nat.poll_event() {
            j.nat(0, s(5), &e);
        }
        let established = TableEntry { local: before.src, remote: before.dst, state: ESTABLISHED };
        j.table(s(1), 0, &[established]);
        j.sent(s(7), 0, &seg(CLIENT, SERVER, Flags::ACK | Flags::PSH, 101, 10), 62);
        j.delivered(s(7), 0, &seg(SERVER, CLIENT, Flags::RST, 111, 0));
        j.table(s(7), 0, &[]);
        let o = j.finish(s(30), Duration::from_secs(60));
        assert_eq!(o.nat_expired_at, vec![s(5)]);
        let d = &o.declarations[0];
        assert_eq!((d.cause.as_str(), d.verdict), ("ECONNRESET", Verdict::Detection { latency: Duration::from_secs(2) }));
    }

    /// A NAT that moves an expired TCP flow to a new port (`new_port`): the
    /// server's kernel answers the stranger with RST, which is not the end
    /// of the server's own socket; the client's ECONNRESET is the detection
    /// (2 s after the expiry at 5 s), not an echo of the server.
    #[test]
    fn the_servers_rst_to_a_flow_a_nat_moved_is_not_its_sockets_end() {
        let mut j = Judge::new(1, 8000, Some(OnExpired::NewPort));
        let mut nat = sim::nat::Nat::new(
            sim::nat::NatConfig::new(Duration::from_secs(5), OnExpired::NewPort),
            sim::rng::Stream::new(1, sim::rng::Purpose::NatPorts),
        );
        // The NAT's timers run to `at`, then a client packet crosses it; the judge hears both.
        fn through(j: &mut Judge, nat: &mut sim::nat::Nat, at: Instant, seg: Option<Segment>) -> Option<SocketAddrV4> {
            nat.handle_timeout(at);
            while let Some(e) = nat.poll_event() {
                j.nat(0, at, &e);
            }
            let seg = seg?;
            j.sent(at, 0, &seg, 52);
            let sim::nat::NatVerdict::Forward(after) = nat.outbound(at, &seg) else { panic!("new_port passes every packet") };
            j.translated(0, &seg, &after);
            if seg.flags.contains(Flags::SYN) {
                nat.inbound(at, &Segment { src: after.dst, dst: after.src, flags: Flags::SYN | Flags::ACK, ..after });
            }
            while let Some(e) = nat.poll_event() {
                j.nat(0, at, &e);
            }
            Some(after.src)
        }
        let old = through(&mut j, &mut nat, s(0), Some(seg(CLIENT, SERVER, Flags::SYN, 100, 0))).unwrap();
        j.sent(s(0), 1, &seg(SERVER, &old.to_string(), Flags::SYN | Flags::ACK, 500, 0), 60);
        through(&mut j, &mut nat, s(5), None);
        let moved = through(&mut j, &mut nat, s(7), Some(seg(CLIENT, SERVER, Flags::ACK | Flags::PSH, 101, 10))).unwrap();
        assert_ne!(moved, old, "the flow expired at 5 s and left from a new port");
        let rst = seg(SERVER, &moved.to_string(), Flags::RST, 501, 0);
        assert_eq!(j.sent(s(7), 1, &rst, 40), SegmentKind::Reset);
        j.delivered(s(7), 0, &seg(SERVER, CLIENT, Flags::RST, 501, 0));
        j.declared(s(7), 0, None, "ECONNRESET".into());
        let o = j.finish(s(30), Duration::from_secs(60));
        assert_eq!(o.nat_expired_at, vec![s(5)]);
        assert_eq!(o.declarations.len(), 1, "{:?}", o.declarations);
        let d = &o.declarations[0];
        assert_eq!((d.side, d.echo), (Side::Client, false));
        assert_eq!(d.verdict, Verdict::Detection { latency: Duration::from_secs(2) });
    }

    #[test]
    fn a_program_line_right_after_its_kernels_rst_is_that_ends_declaration() {
        // Keepalive gives up during an outage (a working connection): the kernel's RST
        // is read at 12.000 s, the program's "Connection timed out" 3 ms later.
        let mut j = connected();
        j.transient(0, Condition::Outage, s(5), s(20));
        j.sent(s(12), 0, &seg(CLIENT, SERVER, Flags::RST | Flags::ACK, 101, 0), 40);
        j.declared(s(12) + Duration::from_millis(3), 0, None, "E read(5): Connection timed out".into());
        let o = j.finish(s(30), Duration::from_secs(60));
        let d = &o.declarations[0];
        assert_eq!((d.at, d.cause.as_str()), (s(12), "E read(5): Connection timed out"));
        assert_eq!(d.verdict, Verdict::FalsePositive { condition: Condition::Outage });
        // A line long after an orderly FIN is about nothing: the end stays orderly.
        let mut j = connected();
        j.sent(s(5), 0, &seg(CLIENT, SERVER, Flags::FIN | Flags::ACK, 101, 0), 52);
        j.declared(s(6), 0, None, "timed out".into());
        let o = j.finish(s(30), Duration::from_secs(60));
        assert!(o.declarations.is_empty());
        assert_eq!(o.slots[0].connections[0].ended_at, Some(s(5)));
    }

    #[test]
    fn a_declaration_read_after_the_reconnects_syn_belongs_to_the_connection_that_ended() {
        // The agent declares, aborts (RST at 3.503 s) and reconnects at once: the new SYN
        // is read before its "dead" line, which still belongs to connection 0.
        let mut j = connected();
        j.host_broke(s(2), 1, BreakCause::Reboot(Side::Server));
        let rst_at = Instant::from_millis(3503);
        j.sent(rst_at, 0, &seg(CLIENT, SERVER, Flags::RST | Flags::ACK, 101, 0), 40);
        j.sent(rst_at, 0, &seg("198.18.0.2:40001", SERVER, Flags::SYN, 900, 0), 60);
        j.declared(rst_at + Duration::from_millis(1), 0, None, "ping timeout".into());
        let o = j.finish(s(10), Duration::from_secs(60));
        assert_eq!(o.declarations.len(), 1, "{:?}", o.declarations);
        let d = &o.declarations[0];
        assert_eq!((d.conn, d.cause.as_str()), (0, "ping timeout"));
        assert_eq!(d.verdict, Verdict::Detection { latency: Duration::from_millis(1503) });
        assert_eq!(o.slots[0].connections.len(), 2, "the reconnect is the slot's second connection");
    }

    #[test]
    fn without_a_nat_every_clients_connection_is_found_from_the_server_side() {
        // Two client hosts, no NAT: the server's RST to the second one is that connection's end.
        let mut j = Judge::new(2, 8000, None);
        let second = "198.18.0.3:40000";
        for (h, c) in [(0, CLIENT), (1, second)] {
            j.sent(s(0), h, &seg(c, SERVER, Flags::SYN, 100, 0), 60);
            j.sent(s(0), h, &seg(c, SERVER, Flags::ACK, 101, 0), 52);
        }
        j.host_broke(s(1), 1, BreakCause::Vanish(Side::Client));
        j.sent(s(4), 2, &seg(SERVER, second, Flags::RST | Flags::ACK, 501, 0), 40);
        // The server's agent then says so; its line is about that connection, not the
        // older one still open to the first client.
        j.declared(s(4) + Duration::from_millis(2), 2, None, "ETIMEDOUT".into());
        let o = j.finish(s(10), Duration::from_secs(60));
        assert_eq!(o.declarations.len(), 1, "{:?}", o.declarations);
        assert_eq!((o.declarations[0].slot, o.declarations[0].side), (1, Side::Server));
        assert_eq!(o.declarations[0].cause, "ETIMEDOUT");
        assert_eq!(o.declarations[0].verdict, Verdict::Detection { latency: Duration::from_secs(3) });
    }

    /// A client connected through a proxy (host 2, at the address clients
    /// dial), which opened its own connection to the server (host 1, at the
    /// backend address) from port 33000.
    fn through_a_proxy() -> Judge {
        const FRONT: &str = "203.0.113.10:8000";
        const BACK: &str = "203.0.113.10:33000";
        const BACKEND: &str = "203.0.113.20:8000";
        let mut j = Judge::new(1, 8000, None).with_proxy();
        j.sent(s(0), 0, &seg(CLIENT, FRONT, Flags::SYN, 100, 0), 60);
        j.sent(s(0), 2, &seg(FRONT, CLIENT, Flags::SYN | Flags::ACK, 500, 0), 60);
        j.sent(s(0), 0, &seg(CLIENT, FRONT, Flags::ACK, 101, 0), 52);
        // The client's ACK reaches the proxy: it accepts, and opens its own.
        j.delivered(s(0), 2, &seg(CLIENT, FRONT, Flags::ACK, 101, 0));
        j.sent(s(0), 2, &seg(BACK, BACKEND, Flags::SYN, 700, 0), 60);
        j.sent(s(0), 1, &seg(BACKEND, BACK, Flags::SYN | Flags::ACK, 900, 0), 60);
        j.sent(s(0), 2, &seg(BACK, BACKEND, Flags::ACK, 701, 0), 52);
        j
    }

    /// The proxy's idle close: its FINs on both legs while both ends are
    /// open and nothing broke make the server's EOF at 3 s an orderly end,
    /// on the proxy's own connection to the server, which the judge paired
    /// with the client's from the proxy's SYN.
    #[test]
    fn a_proxys_close_on_purpose_is_an_orderly_end_on_both_legs() {
        let mut j = through_a_proxy();
        let back = seg("203.0.113.10:33000", "203.0.113.20:8000", Flags::SYN, 700, 0);
        assert_eq!(j.backend_slot(&back), Some(0));
        j.sent(s(3), 2, &seg("203.0.113.10:33000", "203.0.113.20:8000", Flags::FIN | Flags::ACK, 701, 0), 52);
        j.sent(s(3), 2, &seg("203.0.113.10:8000", CLIENT, Flags::FIN | Flags::ACK, 501, 0), 52);
        j.sent(s(3), 1, &seg("203.0.113.20:8000", "203.0.113.10:33000", Flags::RST | Flags::ACK, 901, 0), 40);
        j.declared(s(3), 1, None, "EOF".into());
        let o = j.finish(s(6), Duration::from_secs(60));
        let c = &o.slots[0].connections[0];
        assert_eq!(c.ended_at, Some(s(3)));
        assert_eq!(o.declarations.len(), 1);
        assert_eq!((o.declarations[0].side, o.declarations[0].verdict), (Side::Server, Verdict::OrderlyEnd));
        // Counted as the event engine counts a proxy's legs: its connection to
        // the server on the client's side, its side of the client's on the server's.
        assert_eq!(o.stats[0].packets_of(SegmentKind::Handshake), 2);
        assert_eq!(o.stats[1].packets_of(SegmentKind::Handshake), 2);
    }

    /// Keepalive probes end at the proxy: the client's probes (one below
    /// what it sent) are answered by the proxy's stack, classified on the
    /// client's connection to the proxy, after the server vanished; nothing
    /// ends, so nothing is declared, and the break is the server's.
    #[test]
    fn probes_answered_by_the_proxy_are_the_client_legs_own() {
        let mut j = through_a_proxy();
        j.host_broke(s(1), 1, BreakCause::Vanish(Side::Server));
        j.set_down(1, true);
        for t in [2, 3, 4] {
            let probe = seg(CLIENT, "203.0.113.10:8000", Flags::ACK, 100, 0);
            j.sent(s(t), 0, &probe, 52);
            j.delivered(s(t), 2, &probe);
            j.sent(s(t), 2, &seg("203.0.113.10:8000", CLIENT, Flags::ACK, 501, 0), 52);
        }
        let o = j.finish(s(6), Duration::from_secs(60));
        assert!(o.declarations.is_empty());
        assert_eq!(o.stats[0].packets_of(SegmentKind::KeepaliveProbe), 3);
        assert_eq!(o.stats[1].packets_of(SegmentKind::KeepaliveAck), 3);
        assert_eq!(o.slots[0].broken(), Some((s(1), BreakCause::Vanish(Side::Server))));
    }

    /// kasim's agent closing on purpose (its idle timeout) is no declaration,
    /// whether or not the connection broke (its line, read after the FIN it
    /// said it would send, takes that end over); on a working connection it
    /// is an orderly end, as the event engine counts its own.
    #[test]
    fn an_agents_close_on_purpose_is_never_a_detection() {
        for broken in [true, false] {
            let mut j = connected();
            if broken {
                j.host_broke(s(1), 0, BreakCause::Vanish(Side::Client));
                j.set_down(0, true);
            }
            j.sent(s(5), 1, &seg(SERVER, CLIENT, Flags::FIN | Flags::ACK, 501, 0), 52);
            j.closed_on_purpose(s(5), 1, None, None);
            let o = j.finish(s(8), Duration::from_secs(60));
            assert!(o.declarations.is_empty(), "broken {broken}: {:?}", o.declarations);
            assert_eq!(o.slots[0].connections[0].ended_at, (!broken).then_some(s(5)), "broken {broken}");
        }
    }

    /// Two connections on one client host: the judge tells them apart by
    /// source port (slot j connects from `port_base(j)` on), and each
    /// slot's program names its slot on its lines. A declaration of slot 1
    /// ends slot 1's connection, not slot 0's (which is the host's older one).
    #[test]
    fn a_hosts_connections_are_told_apart_by_their_source_ports() {
        use super::super::agent::port_base;
        let mut j = Judge::new(1, 8000, None).with_connections(2);
        let from = |slot: u32| format!("198.18.0.2:{}", port_base(slot));
        for slot in [0, 1] {
            j.sent(s(0), 0, &seg(&from(slot), SERVER, Flags::SYN, 100, 0), 60);
            j.sent(s(0), 1, &seg(SERVER, &from(slot), Flags::SYN | Flags::ACK, 500, 0), 60);
            j.sent(s(0), 0, &seg(&from(slot), SERVER, Flags::ACK, 101, 0), 52);
        }
        j.host_broke(s(1), 1, BreakCause::Vanish(Side::Server));
        j.declared(s(3), 0, Some(1), "ping timeout".into());
        let o = j.finish(s(6), Duration::from_secs(60));
        assert_eq!(o.slots.len(), 2);
        assert_eq!(o.declarations.len(), 1);
        let d = &o.declarations[0];
        assert_eq!((d.slot, d.verdict), (1, Verdict::Detection { latency: Duration::from_secs(2) }));
        assert!(o.slots.iter().all(|s| s.connections.len() == 1 && s.broken().is_some()));
    }

    /// A proxy that forgets silently (`on_idle = "silent"`) sends nothing
    /// when its timer strikes; kasim's relay says so, and the client's later
    /// ECONNRESET (its next packet met the proxy's kernel) is an orderly end.
    #[test]
    fn a_silent_proxy_close_said_by_the_relay_is_an_orderly_end() {
        let mut j = through_a_proxy();
        j.proxy_idle_close(s(3), CLIENT.parse().unwrap());
        j.declared(s(4), 0, None, "ECONNRESET".into());
        let o = j.finish(s(6), Duration::from_secs(60));
        assert_eq!(o.slots[0].connections[0].ended_at, Some(s(3)));
        assert_eq!(o.declarations[0].verdict, Verdict::OrderlyEnd);
    }
}
