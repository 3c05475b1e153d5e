//! Segments in: the handshake, acknowledgements, payload and the checks
//! Linux applies to each (RFC 5961 resets, out-of-window answers, data for a
//! socket its application closed).

use super::*;
use crate::packet::{Flags, Segment, SegmentKind};
use crate::time::Instant;

impl TcpEndpoint {
    pub(super) fn on_segment_listen(&mut self, now: Instant, seg: &Segment) {
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

    pub(super) fn on_segment_syn_sent(&mut self, now: Instant, seg: &Segment) {
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

    pub(super) fn on_syn_acked(&mut self, now: Instant, ack: u64) {
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

    pub(super) fn on_segment_synchronized(&mut self, now: Instant, seg: &Segment) {
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
        if self.fin_queued && !self.write_shut_only && seg.len > 0 && seg.seq + u64::from(seg.len) > self.rcv.rcv_nxt() {
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

    pub(super) fn on_ack(&mut self, now: Instant, seg: &Segment) {
        let ack = seg.ack;
        if ack > self.snd_una && ack <= self.snd_max {
            let acked = ack - self.snd_una;
            if let Some(Undo { retransmitted_at, cwnd, ssthresh }) = self.undo.take() {
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
                // LAST-ACK -> CLOSE: a graceful end (tcp_update_metrics).
                self.graceful_end = true;
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

    pub(super) fn on_payload(&mut self, seg: &Segment) {
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
                    // FIN-WAIT-2 -> TIME-WAIT: a graceful end (tcp_update_metrics).
                    self.graceful_end = true;
                    self.enter_closed(None);
                }
            }
        }
    }
}
