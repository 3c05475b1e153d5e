//! The endpoint's timers: retransmission with backoff and `tcp_retries2`,
//! the tail-loss probe, keepalive, and where each is armed on the kernel's
//! timer wheel.

use super::*;
use crate::packet::SegmentKind;
use crate::time::Instant;
use std::time::Duration;

impl TcpEndpoint {
    // ----- timers ---------------------------------------------------------------

    pub(super) fn on_retransmit_timer(&mut self, now: Instant) {
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
            self.undo = Some(Undo { retransmitted_at: now, cwnd: self.cwnd, ssthresh: self.ssthresh });
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
        // A connect's stamp is its first SYN (tcp_connect sets retrans_stamp),
        // so TCP_USER_TIMEOUT counts from there; data's is the first RTO.
        let first = if self.state == TcpState::SynSent { self.syn_sent_at } else { now };
        self.retrans_stamp.get_or_insert(first);
        self.retransmits += 1;
        // tcp_retransmit_timer: a connect's first `tcp_syn_linear_timeouts`
        // retransmissions keep the RTO; everything else backs off.
        if self.state != TcpState::SynSent || self.retransmits > self.cfg.syn_linear_timeouts {
            self.backoff += 1;
        }
        // tcp_clamp_rto_to_user_timeout
        let mut delay = self.rto();
        if let (Some(ut), Some(stamp)) = (self.user_timeout, self.retrans_stamp) {
            let remaining = ut.saturating_sub(now - stamp);
            delay = if remaining.is_zero() { Duration::from_nanos(1) } else { delay.min(remaining) };
        }
        // XNU's connect deadline (its TCPT_KEEP timer) ends a connect on time.
        if let (TcpState::SynSent, Some(limit)) = (self.state, self.cfg.stack.connect_timeout) {
            let remaining = limit.saturating_sub(now - self.syn_sent_at);
            delay = if remaining.is_zero() { Duration::from_nanos(1) } else { delay.min(remaining) };
        }
        self.rtx = Some(RtxTimer::arm(self.cfg.timers, now, delay, false));
    }

    /// Linux `tcp_write_timeout` / `retransmits_timed_out` (another OS's
    /// count or connect deadline where [`StackRules`](crate::tcp::StackRules)
    /// set one). During the
    /// handshake the kernel counts: a connect gives up at the timer after its
    /// `tcp_syn_retries`-th retransmission (1 + 2 + 4 s with 2; 127 s with 6)
    /// — with linear SYN timeouts after `syn_retries + syn_linear_timeouts`
    /// of them, or, without `TCP_USER_TIMEOUT`, once
    /// `tcp_model_timeout(syn_retries)` has passed since the first SYN,
    /// whichever is first (the same instant without linear timeouts) — and
    /// only then looks at the time (`TCP_USER_TIMEOUT`).
    pub(super) fn write_timed_out(&self, now: Instant) -> bool {
        let Some(stamp) = self.retrans_stamp else { return false };
        if self.retransmits == 0 {
            return false;
        }
        match self.state {
            TcpState::SynSent if self.cfg.stack.connect_timeout.is_some_and(|limit| now - self.syn_sent_at >= limit) => {
                return true;
            }
            TcpState::SynSent => {
                let linear = self.cfg.syn_linear_timeouts;
                let model = self.cfg.model_timeout(self.cfg.syn_retries, self.cfg.rto_initial);
                // retransmits_timed_out: the model's time only when no user timeout is set.
                let by_time = linear > 0 && self.user_timeout.is_none() && now - self.syn_sent_at >= model;
                if self.retransmits >= self.cfg.syn_retries + linear || by_time {
                    return true;
                }
            }
            TcpState::SynReceived if self.retransmits >= self.cfg.syn_retries => return true,
            _ => {}
        }
        // Another OS's count (Windows, XNU), unless TCP_USER_TIMEOUT rules.
        if let (TcpState::Established, None, Some(n)) = (self.state, self.user_timeout, self.cfg.stack.max_retransmissions) {
            return self.retransmits >= n;
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

    pub(super) fn on_loss_probe_timer(&mut self, now: Instant) {
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
    pub(super) fn on_keepalive_timer(&mut self, now: Instant) {
        let Some(ka) = self.keepalive else { return };
        if self.state != TcpState::Established {
            return;
        }
        if self.snd_max > self.snd_una || self.snd_nxt < self.send_limit() {
            // "It is alive without keepalive": the retransmission timer is in charge.
            self.keepalive_in(now, ka.idle);
            return;
        }
        let elapsed = now - self.last_received;
        if elapsed < ka.idle {
            self.keepalive_in(now, ka.idle - elapsed);
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
        self.keepalive_in(now, ka.interval);
    }

    /// The keepalive timer in `delay` (the wheel decides when it really fires).
    fn keepalive_in(&mut self, now: Instant, delay: Duration) {
        self.keepalive_at = Some(self.cfg.timers.deadline(now, delay));
        self.keepalive_asked = now + delay;
    }

    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        if let Some(ka) = self.keepalive {
            self.keepalive_in(now, ka.idle);
        }
    }

    pub(super) fn arm_rto(&mut self, now: Instant) {
        self.rtx = Some(RtxTimer::arm(self.cfg.timers, now, self.rto(), false));
    }

    /// Linux `tcp_schedule_loss_probe`, falling back to `tcp_rearm_rto`.
    pub(super) fn schedule_probe_or_rto(&mut self, now: Instant) {
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
                self.rtx = Some(RtxTimer::arm(self.cfg.timers, now, pto, true));
            }
            _ => self.arm_rto(now),
        }
    }

    /// `TCP_TIMEOUT_MIN` (2 jiffies), the PTO's slack with several packets out
    /// (2 ms with exact timers, as at HZ = 1000).
    pub(super) fn two_jiffies(&self) -> Duration {
        match self.cfg.timers {
            crate::timer::TimerModel::LinuxWheel { hz } => Duration::from_nanos(2_000_000_000 / u64::from(hz.max(1))),
            crate::timer::TimerModel::Exact => Duration::from_millis(2),
        }
    }
}
