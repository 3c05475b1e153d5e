//! The server application's listen queue: connections the kernel completed
//! wait until the application accepts them, one every `accept_time`. When
//! more than `backlog` wait, Linux drops new SYNs and the ACKs that would
//! complete a handshake (`ListenOverflows`); the clients' retransmissions
//! and the server's SYN-ACK retransmissions carry on until there is room or
//! `tcp_synack_retries` give up. This is what makes a herd of reconnecting
//! clients expensive, and what jitter in their backoff relieves.

use super::{Ev, Place, TraceEvent, World};
use crate::packet::Segment;
use crate::trace::DropReason;

impl World {
    /// Is host `h` a server whose application accepts through a listen queue?
    pub(super) fn queues_accepts(&self, h: usize) -> bool {
        self.accept.is_some() && h == self.server()
    }

    /// Is host `h`'s listen queue full (more than `backlog` waiting)?
    pub(super) fn listen_overflow(&self, h: usize) -> bool {
        let (Some(q), Some(l)) = (self.accept, self.hosts[h].listener.as_ref()) else { return false };
        self.queues_accepts(h) && l.pending.len() > q.backlog as usize
    }

    /// Drop `seg` at host `h`: its listen queue is full.
    pub(super) fn overflow_drop(&mut self, h: usize, seg: Segment) {
        let (now, side) = (self.now, self.hosts[h].side());
        self.trace.record_for(now, self.trace_ref(seg.sender as usize), || TraceEvent::Dropped {
            place: Place::Host(side),
            seg,
            reason: DropReason::ListenOverflow,
        });
    }

    /// Connection `c` completed its handshake on a queueing server: it waits
    /// for the application.
    pub(super) fn queue_for_accept(&mut self, c: usize) {
        let h = self.conns[c].host;
        let now = self.now;
        let Some(l) = self.hosts[h].listener.as_mut() else { return };
        l.pending.push_back((c, now));
        if !l.accept_scheduled {
            l.accept_scheduled = true;
            let at = l.busy_until.max(now);
            self.schedule(at, Ev::Accept(h as u32));
        }
    }

    /// The application accepts the oldest waiting connection: it gets its
    /// application, hears `Connected` and what arrived meanwhile, and the
    /// application is busy for `accept_time` before the next.
    pub(super) fn accept_next(&mut self, h: usize) {
        let now = self.now;
        let Some(q) = self.accept else { return };
        let Some(l) = self.hosts[h].listener.as_mut() else { return };
        l.accept_scheduled = false;
        // Connections lost meanwhile (a reboot cleared the stack) are skipped.
        let Some((c, since)) = std::iter::from_fn(|| l.pending.pop_front()).find(|&(c, _)| !self.conns[c].gone) else { return };
        l.busy_until = now + q.accept_time;
        if !l.pending.is_empty() {
            l.accept_scheduled = true;
            let at = l.busy_until;
            self.schedule(at, Ev::Accept(h as u32));
        }
        self.trace.record(now, || TraceEvent::Accepted { waited: now - since });
        let slot = self.conns[c].slot;
        let conn = &mut self.conns[c];
        conn.awaiting_accept = false;
        conn.app = super::AppSlot::new(self.apps.server(slot));
        conn.app_alive = self.hosts[h].app_alive;
        self.deliver(c, crate::app::AppEvent::Connected);
        let held = self.conns[c].held_up_to;
        if held > 0 {
            self.receive(c, held);
        }
        self.pump(c);
    }
}
