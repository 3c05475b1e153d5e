//! Faults as they start and end: what each does to the hosts, their
//! connections, and the oracle's view of every connection it touches.

use super::{Fault, HostRef, HostState, Listener, Role, World};
use crate::app::Idle;
use crate::oracle::{BreakCause, Condition};
use crate::quic::QuicListener;
use crate::trace::{FaultEvent, TraceEvent};
use std::ops::Range;

impl World {
    fn host_index(&self, host: HostRef) -> usize {
        match host {
            HostRef::Client(i) => i as usize,
            HostRef::Server => self.server(),
            HostRef::Proxy => self.proxy.map_or(self.server(), |p| p.1),
        }
    }

    /// The slots whose connections run through `host`: a client's own, or
    /// every slot for the server.
    fn slots_of(&self, host: HostRef) -> Range<usize> {
        match host {
            HostRef::Client(i) => {
                let per = self.connections_per_client as usize;
                i as usize * per..(i as usize + 1) * per
            }
            HostRef::Server | HostRef::Proxy => 0..self.slots.len(),
        }
    }

    fn break_slots(&mut self, host: HostRef, cause: BreakCause) {
        let now = self.now;
        for s in self.slots_of(host) {
            self.slots[s].record_break(now, cause);
        }
    }

    pub(super) fn fault_start(&mut self, i: usize) {
        let now = self.now;
        let client = match self.faults[i].target() {
            Some(HostRef::Client(c)) => Some(c),
            _ => None,
        };
        self.trace.note_fault_on(client);
        let fault = self.faults[i];
        let ev = match fault {
            Fault::Vanish { host, .. } => {
                let h = self.host_index(host);
                self.hosts[h].state = HostState::Gone;
                self.break_slots(host, BreakCause::Vanish(host.side()));
                FaultEvent::Vanish(host.side())
            }
            // A host that vanished for good stays gone: no reboot brings it back.
            Fault::Reboot { host, .. } if self.hosts[self.host_index(host)].state == HostState::Gone => return,
            // A reboot while another is under way: the host comes back when the later ends.
            Fault::Reboot { host, .. } if self.hosts[self.host_index(host)].state == HostState::Down => {
                let h = self.host_index(host);
                self.hosts[h].holds += 1;
                FaultEvent::RebootStart(host.side())
            }
            Fault::Reboot { host, .. } => {
                let h = self.host_index(host);
                self.stack_clear(h);
                let hst = &mut self.hosts[h];
                hst.state = HostState::Down;
                hst.holds = 1;
                // A fresh kernel: its tcp_metrics cache is empty.
                hst.rtt_cache = None;
                hst.listener = None;
                hst.app_alive = false;
                for &c in &hst.conns {
                    let Some(conn) = self.conns.get_mut(c) else { continue };
                    conn.gone = true;
                    conn.app_alive = false;
                    conn.app = super::AppSlot::new(Box::new(Idle));
                    if conn.role == Role::Client {
                        self.slots[conn.slot as usize].attempt(conn.gen).closed_at.get_or_insert(now);
                    }
                    self.to_release.push(c as u32);
                }
                self.break_slots(host, BreakCause::Reboot(host.side()));
                FaultEvent::RebootStart(host.side())
            }
            Fault::Suspend { host, .. } => {
                let h = self.host_index(host);
                // Only a running host can be suspended: one that is powered
                // off or rebooting stays so (and its suspension's end must not
                // wake it). Faults drawn with `every` may overlap like this.
                let hst = &mut self.hosts[h];
                match hst.state {
                    HostState::Up => {
                        hst.state = HostState::Suspended;
                        hst.holds = 1;
                        hst.suspended_at = now;
                    }
                    // Suspended already: it wakes when the later suspension ends.
                    HostState::Suspended => hst.holds += 1,
                    HostState::Down | HostState::Gone => {}
                }
                self.evidence_of(h).open_transient(now, Condition::Suspend);
                FaultEvent::SuspendStart(host.side())
            }
            Fault::Outage { link, .. } => {
                let h = self.host_index(link);
                self.evidence_of(h).open_transient(now, Condition::Outage);
                FaultEvent::OutageStart(link.side())
            }
            Fault::NatReboot { middlebox, .. } => {
                // Validated: the box is a NAT. Its index among the NATs is
                // how many NATs come before it on the path.
                let Some(k) = self.nat_at(middlebox as usize) else { return };
                self.nats[k].nat.reboot();
                let name = self.nats[k].name;
                self.trace.record(now, || TraceEvent::Fault(FaultEvent::NatReboot(name)));
                self.after_nat(k);
                return;
            }
            Fault::Crash { host, .. } => {
                // The application is gone: its connections can never serve it
                // again, and its listening socket is closed with it.
                self.break_slots(host, BreakCause::Crash(host.side()));
                let h = self.host_index(host);
                let hst = &mut self.hosts[h];
                hst.app_alive = false;
                hst.listener = None;
                let conns = hst.conns.clone();
                let local = hst.local(now);
                for &c in &conns {
                    let Some(conn) = self.conns.get_mut(c) else { continue };
                    conn.app_alive = false;
                    if conn.gone {
                        continue;
                    }
                    if conn.sock.is_datagram() {
                        // UDP has no kernel state to close: a QUIC connection or
                        // a tunnel dies with its process, silently (the peer learns
                        // by its idle timeout, or a restarted server's stateless
                        // reset). Nothing of it may reach a restarted listener.
                        conn.gone = true;
                        let key = conn.key;
                        self.stack_remove(h, key);
                    } else {
                        conn.sock.close(local);
                    }
                }
                self.trace.record(now, || TraceEvent::Fault(FaultEvent::Crash(host.side())));
                for c in conns {
                    if self.conns.get(c).is_some_and(|conn| !conn.gone) {
                        self.pump(c);
                    }
                }
                return;
            }
        };
        self.trace.record(now, || TraceEvent::Fault(ev));
    }

    /// `host`'s application starts (again): a server (or the proxy) listens
    /// again; a client's new process may reconnect.
    fn start_application(&mut self, host: HostRef, ev: FaultEvent) {
        let now = self.now;
        let h = self.host_index(host);
        let port = self.service_port();
        let hst = &mut self.hosts[h];
        hst.app_alive = true;
        if !matches!(host, HostRef::Client(_)) {
            let mut listener = Listener::new(port, None);
            if let (HostRef::Server, Some(q)) = (host, &self.quic) {
                listener.quic = Some(Box::new(QuicListener::new(q, self.quic_reset_key, hst.quic_seeds.seed32())));
            }
            if let (HostRef::Server, Some(_)) = (host, &self.tunnel) {
                listener.tunnel_peers = Some(Default::default());
            }
            hst.listener = Some(Box::new(listener));
        }
        self.trace.record(now, || TraceEvent::Fault(ev));
        if !matches!(host, HostRef::Client(_)) {
            return;
        }
        for slot in self.slots_of(host) {
            if let Some(app) = self.apps.restarted(slot as u32) {
                let port = self.next_port(h);
                self.open_client_conn(slot as u32, port, app);
            }
        }
    }

    pub(super) fn fault_end(&mut self, i: usize) {
        let now = self.now;
        let client = match self.faults[i].target() {
            Some(HostRef::Client(c)) => Some(c),
            _ => None,
        };
        self.trace.note_fault_on(client);
        let ev = match self.faults[i] {
            Fault::Reboot { host, .. } => {
                let h = self.host_index(host);
                if self.hosts[h].state != HostState::Down {
                    return;
                }
                self.hosts[h].holds -= 1;
                if self.hosts[h].holds > 0 {
                    // Another reboot is under way: still down, nothing to tell.
                    return;
                }
                self.hosts[h].state = HostState::Up;
                self.start_application(host, FaultEvent::RebootDone(host.side()));
                return;
            }
            Fault::Crash { host, restart_after: Some(_), .. } => {
                // A supervisor starts the process again, unless the host went down meanwhile.
                if self.hosts[self.host_index(host)].state == HostState::Up {
                    self.start_application(host, FaultEvent::Restarted(host.side()));
                }
                return;
            }
            Fault::Suspend { host, .. } => {
                let h = self.host_index(host);
                let hst = &mut self.hosts[h];
                let suspended = hst.state == HostState::Suspended;
                if suspended {
                    hst.holds -= 1;
                }
                let resumed = suspended && hst.holds == 0;
                if resumed {
                    hst.state = HostState::Up;
                    // The local clock stood still since the (first) suspension began.
                    hst.offset += now - hst.suspended_at;
                }
                self.evidence_of(h).close_transient(now, Condition::Suspend);
                // Still held by a later suspension: it has not woken, nothing to tell.
                if suspended && !resumed {
                    return;
                }
                self.trace.record(now, || TraceEvent::Fault(FaultEvent::SuspendEnd(host.side())));
                for k in 0..self.hosts[h].conns.len() {
                    let c = self.hosts[h].conns[k];
                    let Some(conn) = self.conns.get_mut(c) else { continue };
                    if resumed {
                        conn.wake = None;
                    }
                    self.reschedule(c);
                }
                return;
            }
            Fault::Outage { link, .. } => {
                let h = self.host_index(link);
                self.evidence_of(h).close_transient(now, Condition::Outage);
                FaultEvent::OutageEnd(link.side())
            }
            _ => return,
        };
        self.trace.record(now, || TraceEvent::Fault(ev));
    }
}
