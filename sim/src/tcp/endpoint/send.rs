//! Segments out: what to send next, retransmissions, resets, and the
//! bookkeeping around them (RTT samples, the congestion window, closing).

use super::*;
use crate::packet::{Flags, Segment, SegmentKind};
use crate::time::Instant;

impl TcpEndpoint {
    // ----- helpers ------------------------------------------------------------

    pub(super) fn reset_backoff(&mut self) {
        self.backoff = 0;
        self.retransmits = 0;
        self.retrans_stamp = None;
    }

    pub(super) fn take_rtt_sample(&mut self, now: Instant, ack: u64) {
        if let Some((end, sent)) = self.rtt_probe {
            if ack >= end {
                self.rtt.sample(now - sent);
                self.rtt_probe = None;
            }
        }
    }

    pub(super) fn grow_cwnd(&mut self, acked: u64) {
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
    pub(super) fn forget_half_open(&mut self) {
        let mut fresh = Self::new(self.cfg.clone(), self.local, self.local, self.iss as u32, false);
        fresh.keepalive = self.keepalive;
        fresh.user_timeout = self.user_timeout;
        fresh.events = std::mem::take(&mut self.events);
        fresh.events.push_back(SocketEvent::HalfOpenDropped);
        fresh.out = std::mem::take(&mut self.out);
        *self = fresh;
    }

    pub(super) fn fail(&mut self, err: SocketError) {
        self.enter_closed(Some(err));
    }

    pub(super) fn enter_closed(&mut self, err: Option<SocketError>) {
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
    pub(super) fn queue_reset(&mut self, with_ack: bool) {
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
    pub(super) fn send_limit(&self) -> u64 {
        self.write_end + u64::from(self.fin_queued)
    }

    pub(super) fn next_data_segment(&mut self, now: Instant) -> Option<Segment> {
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
    pub(super) fn segment_len_at(&self, seq: u64) -> u64 {
        if seq >= self.write_end {
            1 // the FIN
        } else {
            (self.write_end - seq).min(u64::from(self.cfg.mss))
        }
    }

    pub(super) fn segment_at(&self, seq: u64, kind: SegmentKind) -> Segment {
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

    pub(super) fn queue_retransmit(&mut self, seq: u64, kind: SegmentKind) {
        if seq < self.snd_max {
            let seg = self.segment_at(seq, kind);
            self.out.push_back(seg);
        }
    }

    pub(super) fn syn_segment(&self) -> Segment {
        self.syn_segment_kind(SegmentKind::Handshake)
    }

    pub(super) fn syn_segment_kind(&self, kind: SegmentKind) -> Segment {
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
    pub(super) fn pure_ack(&self, kind: SegmentKind) -> Segment {
        self.bare(self.snd_max, kind)
    }

    pub(super) fn bare(&self, seq: u64, kind: SegmentKind) -> Segment {
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
            proto: crate::packet::Proto::Tcp,
            payload: Segment::NO_PAYLOAD,
        }
    }
}
