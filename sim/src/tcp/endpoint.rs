//! One end of a TCP connection.

use super::reassembly::{Arrival, Reassembly};
use super::rtt::RttEstimator;
use super::{Keepalive, TcpConfig};
use crate::packet::{Flags, Segment, SegmentKind};
use crate::time::Instant;
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use std::time::Duration;

/// `net.ipv4.tcp_invalid_ratelimit`: 500 ms.
const INVALID_RATELIMIT: Duration = Duration::from_millis(500);

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// Server side, waiting for the SYN.
    Listen,
    SynSent,
    SynReceived,
    /// Data may flow; FINs may have been exchanged in either direction.
    Established,
    /// Gone: closed normally, reset, timed out or aborted.
    Closed,
}

/// Errors the application sees, named after the errno a socket reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    /// `ETIMEDOUT`: retransmissions, keepalive or the user timeout gave up.
    TimedOut,
    /// `ECONNRESET`: a RST was accepted.
    Reset,
    /// `ECONNREFUSED`: the SYN was answered with RST.
    Refused,
}

impl SocketError {
    pub fn errno_name(self) -> &'static str {
        match self {
            SocketError::TimedOut => "ETIMEDOUT",
            SocketError::Reset => "ECONNRESET",
            SocketError::Refused => "ECONNREFUSED",
        }
    }
}

/// What the endpoint tells its application. Offsets count bytes of the
/// stream from its first byte (0), in the direction the event concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// The handshake completed.
    Connected,
    /// In-order bytes of the peer's stream are now readable up to this offset.
    Received { up_to: u64 },
    /// The peer acknowledged our stream up to this offset.
    Acked { up_to: u64 },
    /// The peer's FIN arrived in order: no more bytes will come.
    Eof,
    /// The connection is dead.
    Error(SocketError),
    /// A server dropped a half-open connection after `tcp_synack_retries`
    /// unanswered SYN-ACKs. The application never accepted it and hears
    /// nothing; this is for traces.
    HalfOpenDropped,
}

/// The endpoint's timers, for traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    Retransmit,
    LossProbe,
    Keepalive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RtxTimer {
    at: Instant,
    probe: bool,
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
pub struct TcpEndpoint {
    cfg: TcpConfig,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    state: TcpState,
    is_client: bool,

    // Send side. `iss` is the SYN; data starts at `iss + 1`.
    iss: u64,
    snd_una: u64,
    snd_nxt: u64,
    /// Highest sequence number ever sent (+1): below it, sending is retransmitting.
    snd_max: u64,
    /// Sequence number after the last byte the application wrote.
    write_end: u64,
    fin_queued: bool,
    peer_window: u64,

    // Receive side.
    irs: u64,
    rcv: Reassembly,
    fin_received: bool,
    /// Where the peer's FIN sits, if it arrived ahead of a hole.
    pending_fin: Option<u64>,

    rtt: RttEstimator,
    /// One timed segment at a time: (end sequence, sent at).
    rtt_probe: Option<(u64, Instant)>,
    cwnd: u64,
    ssthresh: u64,
    dupacks: u32,
    /// In loss recovery until `snd_una` reaches this point.
    recovery_point: Option<u64>,
    /// Whether that recovery is fast retransmit (NewReno: retransmit each
    /// hole on partial ACKs) rather than an RTO (go back and resend in order).
    fast_recovery: bool,

    rtx: Option<RtxTimer>,
    keepalive_at: Option<Instant>,
    backoff: u32,
    retransmits: u32,
    /// Linux `retrans_stamp`: when the first RTO retransmission was sent.
    retrans_stamp: Option<Instant>,
    probe_outstanding: bool,
    /// Eifel/F-RTO undo state after an RTO: (when the retransmission left,
    /// cwnd and ssthresh before it). An ACK echoing an older timestamp proves
    /// the original arrived: the RTO was spurious and is undone.
    undo: Option<(Instant, u64, u64)>,
    /// TS.Recent: the peer's timestamp to echo.
    ts_recent: u64,
    probes_out: u32,
    /// Linux `rcv_tstamp`/`lrcvtime`: the last acceptable segment received.
    last_received: Instant,
    /// Linux `last_oow_ack_time`: when we last answered an out-of-window
    /// segment without data.
    last_oow_ack: Option<Instant>,

    keepalive: Option<Keepalive>,
    user_timeout: Option<Duration>,

    out: VecDeque<Segment>,
    ack_pending: bool,
    events: VecDeque<SocketEvent>,
}

impl TcpEndpoint {
    /// An endpoint that will connect to `remote` when [`connect`](Self::connect) is called.
    pub fn client(cfg: TcpConfig, local: SocketAddrV4, remote: SocketAddrV4, iss: u32) -> Self {
        Self::new(cfg, local, remote, iss, true)
    }

    /// A listening endpoint that accepts one connection.
    pub fn server(cfg: TcpConfig, local: SocketAddrV4, iss: u32) -> Self {
        Self::new(cfg, local, local, iss, false)
    }

    fn new(cfg: TcpConfig, local: SocketAddrV4, remote: SocketAddrV4, iss: u32, is_client: bool) -> Self {
        let iss = u64::from(iss);
        let rtt = RttEstimator::new(cfg.rto_min, cfg.rto_max, cfg.rto_initial);
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
            backoff: 0,
            retransmits: 0,
            retrans_stamp: None,
            probe_outstanding: false,
            undo: None,
            ts_recent: 0,
            probes_out: 0,
            last_received: Instant::ZERO,
            last_oow_ack: None,
            keepalive: None,
            user_timeout: None,
            out: VecDeque::new(),
            ack_pending: false,
            events: VecDeque::new(),
            cfg,
        }
    }

    // ----- observers -------------------------------------------------------

    pub fn state(&self) -> TcpState {
        self.state
    }
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }
    /// The retransmission timeout now in force (with backoff). Linux keeps
    /// `icsk_rto` in jiffies and doubles that, so the base is rounded up to a
    /// jiffy before backing off (51 → 102 jiffies, not 400.002 ms → 101).
    pub fn rto(&self) -> Duration {
        let base = self.cfg.timers.round_up(self.rtt.rto());
        base.saturating_mul(1 << self.backoff.min(31)).min(self.cfg.rto_max)
    }
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
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
    pub fn keepalive(&self) -> Option<Keepalive> {
        self.keepalive
    }
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

    /// Run every timer whose deadline is at or before `now`; `fired` hears of each.
    pub fn handle_timeout(&mut self, now: Instant, mut fired: impl FnMut(TimerKind)) {
        if let Some(t) = self.rtx {
            if t.at <= now {
                self.rtx = None;
                if t.probe {
                    fired(TimerKind::LossProbe);
                    self.on_loss_probe_timer(now);
                } else {
                    fired(TimerKind::Retransmit);
                    self.on_retransmit_timer(now);
                }
            }
        }
        if let Some(at) = self.keepalive_at {
            if at <= now && self.state != TcpState::Closed {
                self.keepalive_at = None;
                fired(TimerKind::Keepalive);
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

    fn on_segment_listen(&mut self, now: Instant, seg: &Segment) {
        if seg.flags.contains(Flags::RST) {
            return;
        }
        if !seg.flags.contains(Flags::SYN) || seg.flags.contains(Flags::ACK) {
            if let Some(rst) = seg.reset_reply() {
                self.out.push_back(rst);
            }
            return;
        }
        self.remote = seg.src;
        self.ts_recent = seg.tsval;
        self.irs = seg.seq;
        self.rcv = Reassembly::new(seg.seq + 1);
        self.peer_window = u64::from(seg.window);
        self.state = TcpState::SynReceived;
        self.last_received = now;
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_nxt;
        self.rtt_probe = Some((self.snd_nxt, now));
        self.out.push_back(self.syn_segment());
        self.arm_rto(now);
    }

    fn on_segment_syn_sent(&mut self, now: Instant, seg: &Segment) {
        let acks_syn = seg.flags.contains(Flags::ACK) && seg.ack == self.iss + 1;
        if seg.flags.contains(Flags::RST) {
            if acks_syn {
                self.fail(SocketError::Refused);
            }
            return;
        }
        if !(seg.flags.contains(Flags::SYN) && acks_syn) {
            return;
        }
        self.irs = seg.seq;
        self.rcv = Reassembly::new(seg.seq + 1);
        self.peer_window = u64::from(seg.window);
        self.ts_recent = seg.tsval;
        self.on_syn_acked(now, seg.ack);
        self.ack_pending = true;
        self.out.push_back(self.pure_ack(SegmentKind::Handshake));
    }

    fn on_syn_acked(&mut self, now: Instant, ack: u64) {
        self.take_rtt_sample(now, ack);
        self.snd_una = ack;
        self.snd_nxt = self.snd_nxt.max(ack);
        self.state = TcpState::Established;
        self.last_received = now;
        self.reset_backoff();
        self.rtx = None;
        self.events.push_back(SocketEvent::Connected);
        self.arm_keepalive(now);
    }

    fn on_segment_synchronized(&mut self, now: Instant, seg: &Segment) {
        let rcv_nxt = self.rcv.rcv_nxt();
        let window = u64::from(self.cfg.receive_window);
        if seg.flags.contains(Flags::RST) {
            // RFC 5961 §3.2: reset only on an exact match; challenge otherwise.
            if seg.seq == rcv_nxt {
                self.fail(SocketError::Reset);
            } else if seg.seq > rcv_nxt && seg.seq < rcv_nxt + window {
                self.out.push_back(self.pure_ack(SegmentKind::Ack));
            }
            return;
        }
        if seg.flags.contains(Flags::SYN) {
            if self.state == TcpState::SynReceived && !seg.flags.contains(Flags::ACK) && seg.seq == self.irs {
                // The client's SYN again: our SYN-ACK was lost. Linux's
                // tcp_check_req answers with the SYN-ACK (inet_rtx_syn_ack); a
                // bare ACK would be discarded by a client in SYN-SENT.
                self.out.push_back(self.syn_segment_kind(SegmentKind::Retransmit));
                return;
            }
            // A retransmitted SYN-ACK (our handshake ACK was lost) or a stray SYN:
            // answer with an ACK of what we have.
            self.out.push_back(self.pure_ack(SegmentKind::Ack));
            return;
        }
        let seg_len = seg.seq_len();
        let acceptable = if seg_len == 0 {
            seg.seq >= rcv_nxt && seg.seq <= rcv_nxt + window
        } else {
            seg.seq < rcv_nxt + window && seg.seq + seg_len > rcv_nxt
        };
        if !acceptable {
            // tcp_validate_incoming: send a duplicate ACK and drop. This is how a
            // keepalive probe (seq = snd_una - 1) is answered; it does not count
            // as receiving anything.
            // A segment without data is answered at most once per
            // tcp_invalid_ratelimit (tcp_oow_rate_limited): two confused
            // peers must not ACK each other for ever.
            if seg_len == 0 {
                if self.last_oow_ack.is_some_and(|at| now - at < INVALID_RATELIMIT) {
                    return;
                }
                self.last_oow_ack = Some(now);
            }
            let probe = seg_len == 0 && seg.seq + 1 == rcv_nxt;
            self.out.push_back(self.pure_ack(if probe { SegmentKind::KeepaliveAck } else { SegmentKind::Ack }));
            return;
        }
        if !seg.flags.contains(Flags::ACK) {
            return;
        }
        if seg.seq <= rcv_nxt {
            self.ts_recent = seg.tsval;
        }
        self.last_received = now;
        self.probes_out = 0;
        self.peer_window = u64::from(seg.window).max(u64::from(self.cfg.mss));
        if self.state == TcpState::SynReceived {
            if !(self.iss + 1..=self.snd_max).contains(&seg.ack) {
                return;
            }
            self.on_syn_acked(now, self.iss + 1);
        }
        self.on_ack(now, seg);
        if self.state == TcpState::Closed {
            return;
        }
        if self.fin_queued && seg.len > 0 && seg.seq + u64::from(seg.len) > self.rcv.rcv_nxt() {
            // Linux tcp_rcv_state_process in FIN_WAIT1/2 with RCV_SHUTDOWN: new
            // data for a socket its application closed is answered with RST and
            // the socket is gone (TCPAbortOnData). The application hears nothing:
            // it closed the socket.
            if let Some(rst) = seg.reset_reply() {
                self.out.push_back(rst);
            }
            self.enter_closed(None);
            return;
        }
        self.on_payload(seg);
    }

    fn on_ack(&mut self, now: Instant, seg: &Segment) {
        let ack = seg.ack;
        if ack > self.snd_una && ack <= self.snd_max {
            let acked = ack - self.snd_una;
            if let Some((retransmitted_at, cwnd, ssthresh)) = self.undo.take() {
                if seg.tsecr != 0 && seg.tsecr < retransmitted_at.as_nanos() {
                    // Spurious RTO (RFC 3522): the original was acknowledged.
                    // Restore the window and stop going back.
                    self.cwnd = cwnd;
                    self.ssthresh = ssthresh;
                    self.recovery_point = None;
                    self.snd_nxt = self.snd_max;
                }
            }
            self.take_rtt_sample(now, ack);
            self.snd_una = ack;
            self.snd_nxt = self.snd_nxt.max(ack);
            self.dupacks = 0;
            self.reset_backoff();
            self.probe_outstanding = false;
            self.grow_cwnd(acked);
            if let Some(point) = self.recovery_point {
                if ack >= point {
                    self.recovery_point = None;
                    self.cwnd = self.cwnd.max(2 * u64::from(self.cfg.mss));
                } else if self.fast_recovery {
                    // NewReno partial ACK: the next hole is lost too.
                    self.queue_retransmit(self.snd_una, SegmentKind::Retransmit);
                }
            }
            let data_acked = self.acked_bytes();
            self.events.push_back(SocketEvent::Acked { up_to: data_acked });
            if self.fin_queued && ack == self.write_end + 1 && self.fin_received {
                self.enter_closed(None);
                return;
            }
            if self.snd_una == self.snd_max {
                self.rtx = None;
            } else {
                self.schedule_probe_or_rto(now);
            }
        } else if ack == self.snd_una && seg.seq_len() == 0 && self.snd_max > self.snd_una {
            self.dupacks += 1;
            if self.dupacks == 3 && self.recovery_point.is_none() {
                let flight = self.snd_max - self.snd_una;
                let mss = u64::from(self.cfg.mss);
                self.ssthresh = (flight / 2).max(2 * mss);
                self.cwnd = self.ssthresh;
                self.recovery_point = Some(self.snd_max);
                self.fast_recovery = true;
                self.rtt_probe = None;
                self.queue_retransmit(self.snd_una, SegmentKind::Retransmit);
            }
        }
    }

    fn on_payload(&mut self, seg: &Segment) {
        let data_start = seg.seq;
        let data_end = seg.seq + u64::from(seg.len);
        if seg.len > 0 {
            match self.rcv.insert(data_start, data_end) {
                Arrival::Advanced(_, _) => {
                    let up_to = self.rcv.rcv_nxt() - self.irs - 1 - u64::from(self.fin_received);
                    self.events.push_back(SocketEvent::Received { up_to });
                    self.ack_pending = true;
                }
                Arrival::OutOfOrder | Arrival::Duplicate => {
                    self.out.push_back(self.pure_ack(SegmentKind::Ack));
                }
            }
        }
        if seg.flags.contains(Flags::FIN) && !self.fin_received {
            self.pending_fin = Some(data_end);
        }
        if let Some(at) = self.pending_fin {
            if at == self.rcv.rcv_nxt() {
                self.pending_fin = None;
                self.rcv.consume_fin();
                self.fin_received = true;
                self.ack_pending = true;
                self.events.push_back(SocketEvent::Eof);
                if self.fin_queued && self.snd_una == self.write_end + 1 {
                    self.out.push_back(self.pure_ack(SegmentKind::Ack));
                    self.enter_closed(None);
                }
            }
        }
    }

    // ----- timers ---------------------------------------------------------------

    fn on_retransmit_timer(&mut self, now: Instant) {
        if self.snd_una == self.snd_max {
            return;
        }
        if self.state == TcpState::SynReceived && self.retransmits >= self.cfg.synack_retries {
            self.forget_half_open();
            return;
        }
        if self.write_timed_out(now) {
            self.fail(SocketError::TimedOut);
            return;
        }
        // tcp_enter_loss: everything in flight is presumed lost; go back to snd_una.
        let mss = u64::from(self.cfg.mss);
        let flight = self.snd_nxt.saturating_sub(self.snd_una);
        if self.retransmits == 0 {
            self.undo = Some((now, self.cwnd, self.ssthresh));
        }
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.recovery_point = Some(self.snd_max);
        self.fast_recovery = false;
        self.dupacks = 0;
        self.rtt_probe = None;
        self.probe_outstanding = false;
        if matches!(self.state, TcpState::SynSent | TcpState::SynReceived) {
            self.out.push_back(self.syn_segment_kind(SegmentKind::Retransmit));
        } else {
            self.snd_nxt = self.snd_una;
            self.queue_retransmit(self.snd_una, SegmentKind::Retransmit);
            self.snd_nxt = (self.snd_una + self.segment_len_at(self.snd_una)).min(self.snd_max);
        }
        self.retrans_stamp.get_or_insert(now);
        self.backoff += 1;
        self.retransmits += 1;
        // tcp_clamp_rto_to_user_timeout
        let mut delay = self.rto();
        if let (Some(ut), Some(stamp)) = (self.user_timeout, self.retrans_stamp) {
            let remaining = ut.saturating_sub(now - stamp);
            delay = if remaining.is_zero() { Duration::from_nanos(1) } else { delay.min(remaining) };
        }
        self.rtx = Some(RtxTimer { at: self.cfg.timers.deadline(now, delay), probe: false });
    }

    /// Linux `tcp_write_timeout` / `retransmits_timed_out`.
    fn write_timed_out(&self, now: Instant) -> bool {
        let Some(stamp) = self.retrans_stamp else { return false };
        if self.retransmits == 0 {
            return false;
        }
        let timeout = self.user_timeout.unwrap_or_else(|| {
            if self.state == TcpState::Established {
                self.cfg.model_timeout(self.cfg.retries2, self.cfg.rto_min)
            } else {
                self.cfg.model_timeout(self.cfg.syn_retries, self.cfg.rto_initial)
            }
        });
        now - stamp >= timeout
    }

    fn on_loss_probe_timer(&mut self, now: Instant) {
        if self.snd_una == self.snd_max || self.state != TcpState::Established {
            return;
        }
        // tcp_send_loss_probe: new data if there is any (one segment even beyond
        // cwnd), otherwise the last segment again.
        if self.snd_nxt < self.send_limit() && self.snd_nxt == self.snd_max {
            let seg = self.segment_at(self.snd_nxt, SegmentKind::LossProbe);
            self.snd_nxt += seg.seq_len();
            self.snd_max = self.snd_nxt;
            self.out.push_back(seg);
        } else {
            let mss = u64::from(self.cfg.mss);
            let start = if self.fin_queued && self.snd_max == self.write_end + 1 {
                self.write_end
            } else {
                self.snd_max.saturating_sub(mss).max(self.snd_una)
            };
            self.rtt_probe = None;
            self.queue_retransmit(start, SegmentKind::LossProbe);
        }
        self.probe_outstanding = true;
        self.arm_rto(now);
    }

    /// Linux `tcp_keepalive_timer`.
    fn on_keepalive_timer(&mut self, now: Instant) {
        let Some(ka) = self.keepalive else { return };
        if self.state != TcpState::Established {
            return;
        }
        if self.snd_max > self.snd_una || self.snd_nxt < self.send_limit() {
            // "It is alive without keepalive": the retransmission timer is in charge.
            self.keepalive_at = Some(self.cfg.timers.deadline(now, ka.idle));
            return;
        }
        let elapsed = now - self.last_received;
        if elapsed < ka.idle {
            self.keepalive_at = Some(self.cfg.timers.deadline(now, ka.idle - elapsed));
            return;
        }
        let dead = match self.user_timeout {
            Some(ut) => elapsed >= ut && self.probes_out > 0,
            None => self.probes_out >= ka.count,
        };
        if dead {
            // tcp_send_active_reset, then tcp_write_err.
            self.queue_reset(false);
            self.fail(SocketError::TimedOut);
            return;
        }
        let probe = self.bare(self.snd_una - 1, SegmentKind::KeepaliveProbe);
        self.out.push_back(probe);
        self.probes_out += 1;
        self.keepalive_at = Some(self.cfg.timers.deadline(now, ka.interval));
    }

    fn arm_keepalive(&mut self, now: Instant) {
        if let Some(ka) = self.keepalive {
            self.keepalive_at = Some(self.cfg.timers.deadline(now, ka.idle));
        }
    }

    fn arm_rto(&mut self, now: Instant) {
        self.rtx = Some(RtxTimer { at: self.cfg.timers.deadline(now, self.rto()), probe: false });
    }

    /// Linux `tcp_schedule_loss_probe`, falling back to `tcp_rearm_rto`.
    fn schedule_probe_or_rto(&mut self, now: Instant) {
        let eligible = self.cfg.tail_loss_probe
            && self.state == TcpState::Established
            && self.retransmits == 0
            && self.recovery_point.is_none()
            && !self.probe_outstanding;
        match (eligible, self.rtt.srtt()) {
            (true, Some(srtt)) => {
                let mss = u64::from(self.cfg.mss);
                let packets_out = (self.snd_max - self.snd_una).div_ceil(mss);
                let extra = if packets_out <= 1 { self.cfg.rto_min } else { self.two_jiffies() };
                let pto = (srtt * 2 + extra).min(self.rto());
                self.rtx = Some(RtxTimer { at: self.cfg.timers.deadline(now, pto), probe: true });
            }
            _ => self.arm_rto(now),
        }
    }

    /// `TCP_TIMEOUT_MIN` (2 jiffies), the PTO's slack with several packets out
    /// (2 ms with exact timers, as at HZ = 1000).
    fn two_jiffies(&self) -> Duration {
        match self.cfg.timers {
            crate::timer::TimerModel::LinuxWheel { hz } => Duration::from_nanos(2_000_000_000 / u64::from(hz.max(1))),
            crate::timer::TimerModel::Exact => Duration::from_millis(2),
        }
    }

    // ----- helpers ------------------------------------------------------------

    fn reset_backoff(&mut self) {
        self.backoff = 0;
        self.retransmits = 0;
        self.retrans_stamp = None;
    }

    fn take_rtt_sample(&mut self, now: Instant, ack: u64) {
        if let Some((end, sent)) = self.rtt_probe {
            if ack >= end {
                self.rtt.sample(now - sent);
                self.rtt_probe = None;
            }
        }
    }

    fn grow_cwnd(&mut self, acked: u64) {
        let mss = u64::from(self.cfg.mss);
        if self.recovery_point.is_some() && self.fast_recovery {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += acked.min(2 * mss);
        } else {
            self.cwnd += (mss * mss / self.cwnd).max(1);
        }
    }

    /// Linux `reqsk_timer_handler`: after `tcp_synack_retries` unanswered
    /// SYN-ACKs (the timer fires at 1, 3, 7, 15, 31 s and drops the request at
    /// 63 s) the half-open connection is dropped without a word to anyone;
    /// the listener remains, so the client's next segment meets a RST.
    fn forget_half_open(&mut self) {
        let mut fresh = Self::new(self.cfg.clone(), self.local, self.local, self.iss as u32, false);
        fresh.keepalive = self.keepalive;
        fresh.user_timeout = self.user_timeout;
        fresh.events = std::mem::take(&mut self.events);
        fresh.events.push_back(SocketEvent::HalfOpenDropped);
        fresh.out = std::mem::take(&mut self.out);
        *self = fresh;
    }

    fn fail(&mut self, err: SocketError) {
        self.enter_closed(Some(err));
    }

    fn enter_closed(&mut self, err: Option<SocketError>) {
        if self.state == TcpState::Closed {
            return;
        }
        self.state = TcpState::Closed;
        self.rtx = None;
        self.keepalive_at = None;
        self.ack_pending = false;
        if let Some(err) = err {
            self.events.push_back(SocketEvent::Error(err));
        }
    }

    /// Queue a RST at the highest sequence sent: acknowledging what we received (an
    /// application's abort) or bare (the keepalive give-up).
    fn queue_reset(&mut self, with_ack: bool) {
        let mut rst = self.pure_ack(SegmentKind::Reset);
        rst.window = 0;
        if with_ack {
            rst.flags = Flags::RST | Flags::ACK;
        } else {
            rst.flags = Flags::RST;
            rst.ack = 0;
        }
        self.out.push_back(rst);
    }

    /// One past the last sequence number the application has given us.
    fn send_limit(&self) -> u64 {
        self.write_end + u64::from(self.fin_queued)
    }

    fn next_data_segment(&mut self, now: Instant) -> Option<Segment> {
        let limit = self.send_limit();
        if self.snd_nxt >= limit {
            return None;
        }
        let in_flight = self.snd_nxt - self.snd_una;
        let window = self.cwnd.min(self.peer_window);
        let len = self.segment_len_at(self.snd_nxt);
        if in_flight > 0 && in_flight + len > window {
            return None;
        }
        let new_data = self.snd_nxt >= self.snd_max;
        let kind = if new_data { SegmentKind::Data } else { SegmentKind::Retransmit };
        let seg = self.segment_at(self.snd_nxt, kind);
        self.snd_nxt += seg.seq_len();
        if new_data && self.rtt_probe.is_none() && self.retransmits == 0 {
            self.rtt_probe = Some((self.snd_nxt, now));
        }
        if self.rtx.is_none() || (new_data && self.rtx.is_some_and(|t| t.probe)) {
            self.schedule_probe_or_rto(now);
        }
        Some(seg)
    }

    /// Sequence space the segment starting at `seq` occupies.
    fn segment_len_at(&self, seq: u64) -> u64 {
        if seq >= self.write_end {
            1 // the FIN
        } else {
            (self.write_end - seq).min(u64::from(self.cfg.mss))
        }
    }

    fn segment_at(&self, seq: u64, kind: SegmentKind) -> Segment {
        if seq >= self.write_end {
            let mut fin = self.bare(self.write_end, kind);
            fin.flags = Flags::FIN | Flags::ACK;
            return fin;
        }
        let len = self.segment_len_at(seq);
        let mut seg = self.bare(seq, kind);
        seg.len = len as u32;
        seg.flags = if seq + len == self.write_end { Flags::ACK | Flags::PSH } else { Flags::ACK };
        seg
    }

    fn queue_retransmit(&mut self, seq: u64, kind: SegmentKind) {
        if seq < self.snd_max {
            let seg = self.segment_at(seq, kind);
            self.out.push_back(seg);
        }
    }

    fn syn_segment(&self) -> Segment {
        self.syn_segment_kind(SegmentKind::Handshake)
    }

    fn syn_segment_kind(&self, kind: SegmentKind) -> Segment {
        let mut syn = self.bare(self.iss, kind);
        syn.flags = if self.is_client { Flags::SYN } else { Flags::SYN | Flags::ACK };
        if self.is_client {
            syn.ack = 0;
        }
        syn
    }

    /// A segment without payload (ACK, RST) carries the highest sequence number
    /// ever sent, as Linux's `tcp_acceptable_seq` does: Linux never moves
    /// `snd_nxt` back, it retransmits from the queue's head. Our `snd_nxt` is
    /// the go-back pointer after an RTO; `snd_max` is Linux's `snd_nxt`. An
    /// ACK stamped with the go-back pointer can fall below what the peer has
    /// received, which the peer answers with a duplicate ACK — and two such
    /// peers answer each other for ever.
    fn pure_ack(&self, kind: SegmentKind) -> Segment {
        self.bare(self.snd_max, kind)
    }

    fn bare(&self, seq: u64, kind: SegmentKind) -> Segment {
        Segment {
            src: self.local,
            dst: self.remote,
            seq,
            ack: self.rcv.rcv_nxt(),
            flags: Flags::ACK,
            len: 0,
            window: self.cfg.receive_window,
            tsval: 0,
            tsecr: 0,
            kind,
            sender: Segment::NO_SENDER,
        }
    }
}
