//! Looking ahead in the event queue: while one event runs, start loading
//! the state the next ones will touch.
//!
//! Why: a world of thousands of connections keeps megabytes of per-connection
//! state, and each event touches state last used long ago: without this the
//! run waits on memory more than it computes (see [`crate::prefetch`]). Small
//! worlds stay in the cache and skip it.

use super::conn_table::Place;
use super::{Ev, Hop, World};

/// Worlds of this many connection ends (both ends count: 512 client
/// connections) or more prefetch the next events' state. Smaller ones stay
/// in the cache anyway, and skip the prefetch's instructions. Decided by
/// measurement (`cargo bench -p sim --bench engine -- fleet sizes`, side by
/// side): with the prefetch from 64 ends, 100 connections ran at 520–550
/// connection-days/s, without it 650–680; at 1 000 connections it is about
/// even, and at 10 000 the prefetch saves 4–10 %.
pub(super) const PREFETCH_FROM: usize = 1024;

impl World {
    /// After a connection opened or was released: is the world now large
    /// enough to prefetch, and to share its TCP queues' buffers (`tcp::outbox`)?
    #[inline]
    pub(super) fn refresh_busy(&mut self) {
        self.busy = self.conns.live() >= PREFETCH_FROM;
        crate::tcp::share_buffers(self.busy);
    }

    /// Start loading the state the next events will touch (see
    /// [`crate::prefetch`]), two events ahead: the one after next gets its
    /// connection's hot lines loaded (seven of its eleven: what a segment
    /// without data or a keepalive timer touches, see `Conn::prefetch_hot`;
    /// an event with data finds the other four cold), and the next one,
    /// whose connection should be loaded by now, the state that connection
    /// points to (the part of its host an event touches, five of the host's
    /// nine cache lines: see `Host::prefetch_hot`; its TCP queues hold no
    /// buffer between events, see `tcp::outbox`). Not its application: the
    /// world keeps the application's deadline beside it (`AppSlot`), so most
    /// events never touch it, and loading it anyway measured 10 % slower on
    /// a 10 000-connection `kasim run`, whose applications are large.
    ///
    /// A packet reaching the middle touches other state: the NAT flow its
    /// sender's hint names, and the link into the host of the connection it
    /// is for. The one after next gets that flow and that connection's
    /// number-to-place entry loaded, the next one the host's link.
    #[inline(always)]
    pub(super) fn prefetch_ahead(&self) {
        let (next, after) = self.queue.next_two();
        match next {
            Some(Ev::Arrive { hop: Hop::Middle { .. }, seg }) => {
                let to = self.in_flight.peek(seg).to as usize;
                if let Some(conn) = self.conns.get(to) {
                    crate::prefetch::all(&self.hosts[conn.host].link[super::DOWN]);
                }
            }
            Some(ev) => {
                if let Some(p) = self.place_of(ev) {
                    self.hosts[self.conns[p].host].prefetch_hot();
                }
            }
            None => {}
        }
        match after {
            Some(Ev::Arrive { hop: Hop::Middle { .. }, seg }) => {
                let in_flight = self.in_flight.peek(seg);
                if let Some(sender) = self.conns.get(in_flight.seg.sender as usize) {
                    self.prefetch_flow(sender.nat_hint);
                }
                if let Some(p) = self.conns.live_place(in_flight.to as usize) {
                    crate::prefetch::line(&self.conns[p].host);
                }
            }
            Some(ev) => {
                if let Some(p) = self.place_of(ev) {
                    self.conns[p].prefetch_hot();
                }
                // A wake-up finds its connection by place, but the handlers
                // it calls look the number up: its entry too.
                if let Ev::Wake { conn, .. } = ev {
                    self.conns.prefetch_entry(conn as usize);
                }
            }
            None => {}
        }
    }

    /// Where the state of the connection an event is most likely for is: a
    /// wake-up's (the place it was scheduled with, not checked: a prefetch
    /// of a place reused since is only wasted), or the one an arriving
    /// segment is for (its `to`, see [`InFlight`](super::queue::InFlight)).
    #[inline(always)]
    fn place_of(&self, ev: Ev) -> Option<Place> {
        match ev {
            Ev::Wake { place, .. } => self.conns.place_in_bounds(place),
            Ev::Arrive { hop: Hop::Host(_), seg } => self.conns.live_place(self.in_flight.peek(seg).to as usize),
            _ => None,
        }
    }
}
