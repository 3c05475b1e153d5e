//! One end of a TCP connection: its state, its calling contract, and the
//! application's calls. Segments in ([`receive`]), timers ([`timers`]) and
//! segments out ([`send`]) are in their own files.

mod receive;
mod send;
mod timers;

use super::outbox::Outbox;
use super::reassembly::{Arrival, Reassembly};
use super::rtt::RttEstimator;
use super::{Keepalive, TcpConfig};
use crate::packet::{Flags, Segment, SegmentKind};
use crate::socket::{SocketError, SocketEvent, SocketState};
use crate::time::Instant;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

/// `net.ipv4.tcp_invalid_ratelimit`: 500 ms.
const INVALID_RATELIMIT: Duration = Duration::from_millis(500);

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// Server side, waiting for the SYN.
    Listen,
    /// Client side, SYN sent, waiting for the SYN-ACK.
    SynSent,
    /// Server side, SYN-ACK sent, waiting for the handshake's last ACK.
    SynReceived,
    /// Data may flow; FINs may have been exchanged in either direction.
    Established,
    /// Gone: closed normally, reset, timed out or aborted.
    Closed,
}

impl TcpState {
    /// The transport-neutral state the world and applications see.
    #[inline]
    pub fn socket_state(self) -> SocketState {
        match self {
            TcpState::SynSent => SocketState::Connecting,
            TcpState::Listen | TcpState::SynReceived => SocketState::Accepting,
            TcpState::Established => SocketState::Open,
            TcpState::Closed => SocketState::Closed,
        }
    }
}

/// The endpoint's timers, for traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// The retransmission timer (RTO, with exponential backoff).
    Retransmit,
    /// The tail-loss probe timer (PTO), armed in the RTO's place when eligible.
    LossProbe,
    /// The keepalive timer (`tcp_keepalive_timer`).
    Keepalive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RtxTimer {
    /// When it fires (the timer model's deadline).
    at: Instant,
    /// `now + delay` as asked: `at` minus this is the timer wheel's slack.
    asked: Instant,
    probe: bool,
}

impl RtxTimer {
    fn arm(timers: crate::timer::TimerModel, now: Instant, delay: Duration, probe: bool) -> RtxTimer {
        RtxTimer { at: timers.deadline(now, delay), asked: now + delay, probe }
    }
}

/// What an RTO changed, to restore if it proves spurious.
#[derive(Clone, Copy, Debug)]
struct Undo {
    /// When the retransmission left.
    retransmitted_at: Instant,
    /// The congestion window and slow-start threshold before it.
    cwnd: u64,
    ssthresh: u64,
}

/// A TCP endpoint with Linux timer semantics.
///
/// # Calling contract
///
/// The endpoint never reads a clock and never sends anything itself. Its
/// owner:
///
/// 1. feeds inputs with the current time: [`handle_segment`](Self::handle_segment)
///    for every arriving segment addressed to this connection,
///    [`handle_timeout`](Self::handle_timeout) when `now` has reached
///    [`poll_timeout`](Self::poll_timeout), and application calls
///    ([`write`](Self::write), [`close`](Self::close), [`abort`](Self::abort),
///    socket options);
/// 2. after each input, drains [`poll_event`](Self::poll_event) (for the
///    application, which may react with more calls) and then
///    [`poll_transmit`](Self::poll_transmit) until it returns `None`, putting
///    each segment on the wire at `now`;
/// 3. asks [`poll_timeout`](Self::poll_timeout) for the next deadline.
///
/// Time passed in must never go backwards. `handle_timeout` may be called
/// early or more than once: only timers whose deadline has passed run.
#[derive(Clone, Debug)]
// In this order on purpose (see `HOT_BYTES`): the first five cache lines
// hold what every segment and every keepalive timer touches, the last three
// what only data, loss and the handshake do.
#[repr(C)]
pub struct TcpEndpoint {
    // ----- line 0
    /// Shared: every connection of a world has the same settings, and a
    /// fleet's ten thousand copies would only crowd the cache.
    cfg: Arc<TcpConfig>,
    snd_una: u64,
    snd_nxt: u64,
    /// Highest sequence number ever sent (+1): below it, sending is retransmitting.
    snd_max: u64,
    /// Sequence number after the last byte the application wrote.
    write_end: u64,
    peer_window: u64,
    /// TS.Recent: the peer's timestamp to echo.
    ts_recent: u64,
    /// Linux `rcv_tstamp`/`lrcvtime`: the last acceptable segment received.
    last_received: Instant,

    // ----- line 1
    rcv: Reassembly,
    /// When the keepalive timer was asked to fire (before the wheel's rounding).
    keepalive_asked: Instant,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    state: TcpState,
    is_client: bool,
    fin_queued: bool,
    /// The FIN came from `shutdown(SHUT_WR)`: the socket still reads (new
    /// data is not answered with RST, as after `close`).
    write_shut_only: bool,
    fin_received: bool,
    ack_pending: bool,
    /// It ended gracefully and the host has not yet taken its RTT for the
    /// cache ([`take_closing_rtt`](Self::take_closing_rtt)).
    graceful_end: bool,
    probe_outstanding: bool,
    probes_out: u32,

    // ----- line 2
    rtx: Option<RtxTimer>,
    keepalive: Option<Keepalive>,

    // ----- line 3
    keepalive_at: Option<Instant>,
    /// Where the peer's FIN sits, if it arrived ahead of a hole.
    pending_fin: Option<u64>,
    user_timeout: Option<Duration>,
    /// Linux `last_oow_ack_time`: when we last answered an out-of-window
    /// segment without data (a server answers each keepalive probe so).
    last_oow_ack: Option<Instant>,

    // ----- line 4
    /// Segments to transmit (drained by `poll_transmit` within the event).
    out: Outbox<Segment>,
    /// What to tell the application (drained by `poll_event` within the event).
    events: Outbox<SocketEvent>,

    // ----- lines 5 to 7: data, loss recovery, the handshake.
    rtt: RttEstimator,
    // `iss` is the SYN; data starts at `iss + 1`.
    iss: u64,
    irs: u64,
    /// One timed segment at a time: (end sequence, sent at).
    rtt_probe: Option<(u64, Instant)>,
    /// In loss recovery until `snd_una` reaches this point.
    recovery_point: Option<u64>,
    cwnd: u64,
    ssthresh: u64,
    /// Eifel/F-RTO undo state after an RTO. An ACK echoing an older
    /// timestamp proves the original arrived: the RTO was spurious and is undone.
    undo: Option<Undo>,
    /// Linux `retrans_stamp`: when the first RTO retransmission was sent (for
    /// a connect: its first SYN), set at the first retransmission.
    retrans_stamp: Option<Instant>,
    /// When `connect` sent the first SYN (a connect's give-up time counts from it).
    syn_sent_at: Instant,
    backoff: u32,
    retransmits: u32,
    dupacks: u32,
    /// Whether the recovery is fast retransmit (NewReno: retransmit each
    /// hole on partial ACKs) rather than an RTO (go back and resend in order).
    fast_recovery: bool,
}

// Eight cache lines: a fleet's event loads a connection's endpoint, so a
// field added here costs every connection of every world. What every
// connection shares (the RTO's bounds, the timer model) lives in the shared
// `TcpConfig`.
const _: () = assert!(std::mem::size_of::<TcpEndpoint>() <= 512);
// The hot part stays within five cache lines.
const _: () = assert!(TcpEndpoint::HOT_BYTES <= 5 * 64);

impl TcpEndpoint {
    /// The leading bytes (five cache lines) that every arriving segment and
    /// every keepalive timer touch, up to the first of the fields only data,
    /// loss recovery and the handshake do. A look-ahead that expects no data
    /// loads only these.
    pub(crate) const HOT_BYTES: usize = std::mem::offset_of!(TcpEndpoint, rtt);

    /// An endpoint that will connect to `remote` when [`connect`](Self::connect) is called.
    pub fn client(cfg: impl Into<Arc<TcpConfig>>, local: SocketAddrV4, remote: SocketAddrV4, iss: u32) -> Self {
        Self::new(cfg.into(), local, remote, iss, true)
    }

    /// A listening endpoint that accepts one connection.
    pub fn server(cfg: impl Into<Arc<TcpConfig>>, local: SocketAddrV4, iss: u32) -> Self {
        Self::new(cfg.into(), local, local, iss, false)
    }

    fn new(cfg: Arc<TcpConfig>, local: SocketAddrV4, remote: SocketAddrV4, iss: u32, is_client: bool) -> Self {
        let iss = u64::from(iss);
        let rtt = RttEstimator::new();
        let cwnd = u64::from(cfg.initial_cwnd) * u64::from(cfg.mss);
        TcpEndpoint {
            local,
            remote,
            state: if is_client { TcpState::SynSent } else { TcpState::Listen },
            is_client,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            write_end: iss + 1,
            fin_queued: false,
            write_shut_only: false,
            peer_window: u64::from(cfg.receive_window),
            irs: 0,
            rcv: Reassembly::new(0),
            fin_received: false,
            pending_fin: None,
            rtt,
            rtt_probe: None,
            cwnd,
            ssthresh: u64::MAX,
            dupacks: 0,
            recovery_point: None,
            fast_recovery: false,
            rtx: None,
            keepalive_at: None,
            keepalive_asked: Instant::ZERO,
            backoff: 0,
            retransmits: 0,
            retrans_stamp: None,
            syn_sent_at: Instant::ZERO,
            probe_outstanding: false,
            undo: None,
            ts_recent: 0,
            probes_out: 0,
            last_received: Instant::ZERO,
            last_oow_ack: None,
            keepalive: None,
            user_timeout: None,
            // No buffer while empty: see `outbox`.
            out: Outbox::new(),
            ack_pending: false,
            graceful_end: false,
            events: Outbox::new(),
            cfg,
        }
    }

    // ----- observers -------------------------------------------------------

    /// Where the connection is in its life.
    pub fn state(&self) -> TcpState {
        self.state
    }
    /// Our address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }
    /// The peer's address and port (behind a NAT, as this end sees it:
    /// the server sees the NAT's public one). A listening endpoint's is its
    /// own until a SYN arrives.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }
    /// The retransmission timeout now in force (with backoff). Linux keeps
    /// `icsk_rto` in jiffies and doubles that, so the base is rounded up to a
    /// jiffy before backing off (51 → 102 jiffies, not 400.002 ms → 101).
    pub fn rto(&self) -> Duration {
        let base = self.cfg.timers.round_up(self.rtt.rto(&self.cfg.rto_bounds()));
        let multiplier = 1u32 << self.backoff.min(31);
        let stack = &self.cfg.stack;
        match (stack.max_backoff, stack.rto_slop.is_zero()) {
            // Linux: doubling up to rto_max.
            (None, true) => base.saturating_mul(multiplier).min(self.cfg.rto_max),
            // XNU: its backoff table's cap, and its slop once established.
            (cap, _) => {
                let slop = if self.state == TcpState::Established { stack.rto_slop } else { Duration::ZERO };
                base.saturating_mul(multiplier.min(cap.unwrap_or(u32::MAX))).saturating_add(slop).min(self.cfg.rto_max)
            }
        }
    }
    /// The smoothed round-trip time, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }
    /// Linux `tcp_init_metrics`, its RTT part: the host's cached RTT for
    /// the peer, given once the connection is established and before
    /// anything is written. A cached RTT larger than the handshake's
    /// sample seeds the RTO (cut to whole jiffies first, as the kernel's
    /// division does) until the first data sample.
    pub fn start_from_cached_rtt(&mut self, cached: Duration) {
        self.rtt.seed(self.cfg.timers.round_down(cached), &self.cfg.rto_bounds());
    }
    /// It ended gracefully and [`take_closing_rtt`](Self::take_closing_rtt)
    /// has not been called since: the cheap test a host makes after every
    /// burst of events.
    #[inline]
    pub fn ended_gracefully(&self) -> bool {
        self.graceful_end
    }
    /// Linux `tcp_update_metrics`: once, after the connection ended
    /// gracefully (TIME-WAIT, or LAST-ACK to CLOSE), what it leaves to the
    /// host's cache: its smoothed RTT, or `Clear` if it ended backed off or
    /// without a sample. `None` before that, after an abortive end, again
    /// after the first call, or with `tcp_no_metrics_save`.
    pub fn take_closing_rtt(&mut self) -> Option<crate::tcp::ClosingRtt> {
        if !std::mem::take(&mut self.graceful_end) || self.cfg.no_metrics_save {
            return None;
        }
        Some(match self.rtt.srtt() {
            Some(srtt) if self.backoff == 0 => crate::tcp::ClosingRtt::Save(srtt),
            _ => crate::tcp::ClosingRtt::Clear,
        })
    }
    /// Bytes written by the application but not yet acknowledged.
    pub fn unacked_bytes(&self) -> u64 {
        self.write_end.saturating_sub(self.snd_una.max(self.iss + 1))
    }
    /// Total bytes of our stream the peer has acknowledged.
    pub fn acked_bytes(&self) -> u64 {
        self.snd_una.saturating_sub(self.iss + 1).min(self.write_end - self.iss - 1)
    }
    /// Keepalive probes sent since the last acknowledgement.
    pub fn keepalive_probes_out(&self) -> u32 {
        self.probes_out
    }
    /// RTO retransmissions since the last acknowledgement of new data.
    pub fn retransmits(&self) -> u32 {
        self.retransmits
    }
    /// The `SO_KEEPALIVE` settings in force, if keepalive is on.
    pub fn keepalive(&self) -> Option<Keepalive> {
        self.keepalive
    }
    /// The `TCP_USER_TIMEOUT` in force, if set (never zero).
    pub fn user_timeout(&self) -> Option<Duration> {
        self.user_timeout
    }
    /// Does this segment belong to this connection (same 4-tuple)? A
    /// listening endpoint takes any peer; it learns the address from the SYN
    /// (behind a NAT, the NAT's public address).
    pub fn matches(&self, seg: &Segment) -> bool {
        seg.dst == self.local && (self.state == TcpState::Listen || seg.src == self.remote)
    }

    // ----- application calls -----------------------------------------------

    /// Start the handshake (client only).
    pub fn connect(&mut self, now: Instant) {
        if self.state != TcpState::SynSent || self.snd_max != self.iss {
            return;
        }
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_nxt;
        self.rtt_probe = Some((self.snd_nxt, now));
        self.syn_sent_at = now;
        self.out.push_back(self.syn_segment());
        self.arm_rto(now);
    }

    /// Queue `len` more bytes of the stream. Ignored once closing or closed.
    pub fn write(&mut self, len: u64) {
        if self.state != TcpState::Closed && !self.fin_queued {
            self.write_end += len;
        }
    }

    /// Graceful close: a FIN follows the queued data.
    pub fn close(&mut self) {
        if self.state != TcpState::Closed {
            self.fin_queued = true;
            self.write_shut_only = false;
        }
    }

    /// `shutdown(SHUT_WR)`: a FIN follows the queued data, and the socket
    /// still reads what the peer sends (a relay passing an end of stream on,
    /// or haproxy's half-close). A later [`close`](Self::close) makes it a
    /// full close.
    pub fn shutdown_write(&mut self) {
        if self.state != TcpState::Closed && !self.fin_queued {
            self.fin_queued = true;
            self.write_shut_only = true;
        }
    }

    /// Abortive close (`SO_LINGER` 0 or a process dying with unread data): RST now.
    pub fn abort(&mut self) {
        if matches!(self.state, TcpState::Established | TcpState::SynReceived) {
            self.queue_reset(true);
        }
        self.enter_closed(None);
    }

    /// `SO_KEEPALIVE` (+ idle/interval/count); `None` turns it off. Arms the
    /// timer for `idle` from now on an established connection, as Linux does.
    pub fn set_keepalive(&mut self, now: Instant, keepalive: Option<Keepalive>) {
        self.keepalive = keepalive;
        self.keepalive_at = None;
        self.probes_out = 0;
        if self.state == TcpState::Established {
            self.arm_keepalive(now);
        }
    }

    /// `TCP_USER_TIMEOUT`; `None` (0) restores `tcp_retries2` / keepalive count.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.user_timeout = timeout.filter(|d| !d.is_zero());
    }

    // ----- outputs ----------------------------------------------------------

    /// The next thing to tell the application, oldest first.
    #[inline]
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.rtx.map(|t| t.at), self.keepalive_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timers armed now and when each fires (the timer wheel's deadline,
    /// in the host's clock): the retransmission timer (or the tail-loss probe
    /// in its place) and the keepalive timer. For logs; [`Self::poll_timeout`]
    /// is their minimum.
    pub fn armed_timers(&self) -> [Option<(TimerKind, Instant)>; 2] {
        let rtx = self.rtx.map(|t| (if t.probe { TimerKind::LossProbe } else { TimerKind::Retransmit }, t.at));
        [rtx, self.keepalive_at.map(|at| (TimerKind::Keepalive, at))]
    }

    /// The next segment to put on the wire at `now`, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        let mut seg = if let Some(mut seg) = self.out.pop_front() {
            if seg.flags.contains(Flags::ACK) && seg.kind != SegmentKind::Reset {
                seg.ack = self.rcv.rcv_nxt();
            }
            seg
        } else if let Some(seg) = (self.state == TcpState::Established).then(|| self.next_data_segment(now)).flatten() {
            seg
        } else if self.ack_pending && self.state == TcpState::Established {
            self.pure_ack(SegmentKind::Ack)
        } else {
            return None;
        };
        if seg.kind != SegmentKind::Reset && seg.kind != SegmentKind::KeepaliveProbe {
            // Any segment may carry bytes written after the range it was first
            // planned for: whatever leaves is what the peer may acknowledge.
            self.snd_max = self.snd_max.max(seg.seq + seg.seq_len());
        }
        if seg.kind != SegmentKind::Reset {
            seg.tsval = now.as_nanos();
            seg.tsecr = self.ts_recent;
            if seg.flags.contains(Flags::ACK) {
                self.ack_pending = false;
            }
        }
        Some(seg)
    }

    // ----- inputs -------------------------------------------------------------

    /// Run the timers due at `now`; `fired` hears each one with how late it
    /// fires after the instant it was asked for (the timer wheel's slack).
    pub fn handle_timeout(&mut self, now: Instant, mut fired: impl FnMut(TimerKind, Duration)) {
        if let Some(t) = self.rtx {
            if t.at <= now {
                self.rtx = None;
                if t.probe {
                    fired(TimerKind::LossProbe, now - t.asked);
                    self.on_loss_probe_timer(now);
                } else {
                    fired(TimerKind::Retransmit, now - t.asked);
                    self.on_retransmit_timer(now);
                }
            }
        }
        if let Some(at) = self.keepalive_at {
            if at <= now && self.state != TcpState::Closed {
                self.keepalive_at = None;
                fired(TimerKind::Keepalive, now - self.keepalive_asked);
                self.on_keepalive_timer(now);
            }
        }
    }

    /// Process a segment addressed to this connection.
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment) {
        match self.state {
            TcpState::Closed => {}
            TcpState::Listen => self.on_segment_listen(now, seg),
            TcpState::SynSent => self.on_segment_syn_sent(now, seg),
            TcpState::SynReceived | TcpState::Established => self.on_segment_synchronized(now, seg),
        }
    }
}
