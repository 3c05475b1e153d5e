//! A host's connections by 4-tuple, and the shortcut that spares most
//! segments the lookup.
//!
//! Why: a server of 10 000 connections keeps a 10 000-entry hash map, and a
//! segment's lookup in it was one of the engine's dearest steps (a cache miss
//! on the table's control bytes and another on its bucket, ~10 % of a
//! fleet's time). But a segment nearly always goes to its sender's peer,
//! which the world already knows, and carries it with the segment (its
//! `to`, see [`InFlight`](super::queue::InFlight)). So the world first asks
//! that connection: if it is in this host's stack under exactly the
//! segment's 4-tuple, the map would answer the same, and the map is asked
//! only otherwise.
//!
//! That is exact because each connection knows whether it is in its host's
//! map ([`Conn::in_stack`](super::Conn)): every change to a map goes through
//! the methods here, which keep the flag of every connection they put in or
//! take out (a connection displaced by another with the same 4-tuple
//! included). A connection whose flag is set is the map's entry for its key.
//! So any hint is safe, even a stale or a wrong one: it costs a comparison.

use super::World;
use crate::packet::Segment;
use std::net::SocketAddrV4;

impl World {
    /// The connection of host `h` that `seg` is for, by its 4-tuple: the
    /// hinted connection `to` when that is the one, else the host's map's
    /// answer.
    #[inline(always)]
    pub(super) fn stack_find(&self, h: usize, seg: &Segment, to: u32) -> Option<usize> {
        let key = (seg.dst, seg.src);
        let hinted = to as usize;
        if let Some(conn) = self.conns.get(hinted) {
            if conn.in_stack && conn.host == h && conn.key == key {
                // The library's own unit tests (which run fleets, reboots,
                // proxies and tunnels) and debug builds check it against the map.
                if cfg!(any(test, debug_assertions)) {
                    assert_eq!(self.hosts[h].stack.get(&key), Some(&hinted), "the shortcut disagrees with the map");
                }
                return Some(hinted);
            }
        }
        self.hosts[h].stack.get(&key).copied()
    }

    /// Put connection `c` in host `h`'s map under `key`, in the place of
    /// whatever connection had that key.
    pub(super) fn stack_insert(&mut self, h: usize, key: (SocketAddrV4, SocketAddrV4), c: usize) {
        if let Some(old) = self.hosts[h].stack.insert(key, c) {
            self.conns[old].in_stack = false;
        }
        self.conns[c].in_stack = true;
    }

    /// Take whatever connection has `key` out of host `h`'s map.
    pub(super) fn stack_remove(&mut self, h: usize, key: (SocketAddrV4, SocketAddrV4)) {
        if let Some(old) = self.hosts[h].stack.remove(&key) {
            self.conns[old].in_stack = false;
        }
    }

    /// Empty host `h`'s map (a reboot).
    pub(super) fn stack_clear(&mut self, h: usize) {
        self.hosts[h].stack.clear();
        for &c in &self.hosts[h].conns {
            if let Some(conn) = self.conns.get_mut(c) {
                conn.in_stack = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AppFactory, Fault, HostRef, World, WorldConfig};
    use crate::app::{AppEvent, AppIo, Application, Idle};
    use crate::time::Instant;
    use std::time::Duration;

    /// Writes 10 bytes every 20 s once connected.
    struct Chatty {
        next: Option<Instant>,
    }
    impl Application for Chatty {
        fn on_event(&mut self, now: Instant, ev: AppEvent, _: &mut AppIo) {
            if ev == AppEvent::Connected {
                self.next = Some(now + Duration::from_secs(20));
            }
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.next
        }
        fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
            if self.next.is_some_and(|t| now >= t) {
                io.write(10, 1);
                self.next = Some(now + Duration::from_secs(20));
            }
        }
    }

    struct Apps;
    impl AppFactory for Apps {
        fn client(&mut self, _: u32) -> Box<dyn Application> {
            Box::new(Chatty { next: None })
        }
        fn server(&mut self, _: u32) -> Box<dyn Application> {
            Box::new(Idle)
        }
        fn restarted(&mut self, _: u32) -> Option<Box<dyn Application>> {
            Some(Box::new(Chatty { next: None }))
        }
    }

    /// Every segment on its way to a host names (in its `to`) the
    /// connection that host's map would find for it, so the shortcut above
    /// is taken: checked at every event of the first 25 s of four chatty
    /// connections, over each distinct segment in flight.
    #[test]
    fn segments_in_flight_name_the_connection_the_map_would_find() {
        use super::super::queue::{Ev, Hop};
        let cfg = WorldConfig { horizon: Duration::from_secs(25), clients: 2, connections_per_client: 2, ..WorldConfig::default() };
        let mut w = World::with_apps(cfg, Box::new(Apps)).unwrap();
        let (mut seen, mut unmapped) = (std::collections::HashSet::new(), 0);
        loop {
            let before = w.events_processed;
            w.run_until_or(Instant::from_secs(25), 1);
            if w.events_processed == before {
                break;
            }
            for (at, ev) in w.queue.pending() {
                let Ev::Arrive { hop: Hop::Host(h), seg } = ev else { continue };
                let f = w.in_flight.peek(seg);
                match w.hosts[h as usize].stack.get(&(f.seg.dst, f.seg.src)) {
                    Some(&c) => {
                        assert_eq!(f.to as usize, c, "{:?} at {at:?}", f.seg);
                        seen.insert((at, seg));
                    }
                    // A SYN, for the listener: its sender has no peer yet.
                    None => unmapped += usize::from(seen.insert((at, seg))),
                }
            }
        }
        // Per connection: the SYN (to the listener), then the SYN-ACK and
        // the handshake's ACK; at 20 s, 10 bytes and the ACK answering them.
        assert_eq!((seen.len() - unmapped, unmapped), (4 * 4, 4));
    }

    /// Every connection's `in_stack` says whether its host's map holds it.
    fn assert_flags_match_the_maps(w: &World) {
        for (c, conn) in w.conns.iter() {
            let held = w.hosts[conn.host].stack.get(&conn.key) == Some(&c);
            assert_eq!(conn.in_stack, held, "connection {c} at {:?}", w.now);
        }
    }

    /// The flags stay true to the maps through what changes them: the
    /// handshakes (insert), a server reboot (its map emptied; the clients'
    /// next writes meet RST), a client reboot whose restarted application
    /// connects again (new connections inserted on that host).
    #[test]
    fn the_in_stack_flags_follow_the_maps_through_reboots_and_reconnects() {
        let cfg = WorldConfig {
            horizon: Duration::from_secs(150),
            clients: 2,
            connections_per_client: 2,
            faults: vec![
                Fault::Reboot { host: HostRef::Server, at: Instant::from_secs(30), duration: Duration::from_secs(5) },
                Fault::Reboot { host: HostRef::Client(0), at: Instant::from_secs(70), duration: Duration::from_secs(5) },
            ],
            ..WorldConfig::default()
        };
        let mut w = World::with_apps(cfg, Box::new(Apps)).unwrap();
        for s in 1..=150 {
            w.run_until(Instant::from_secs(s));
            assert_flags_match_the_maps(&w);
            if s == 29 {
                // Four client ends and four server ends, all in their maps.
                assert_eq!(w.conns.iter().filter(|(_, c)| c.in_stack).count(), 8);
            }
            if s == 36 {
                // The server's reboot emptied its map.
                let server = w.clients;
                assert!(w.hosts[server].stack.is_empty());
                // And its four ends, lost, were released with it.
                assert_eq!(w.conns.iter().filter(|(_, c)| c.host == server).count(), 0);
            }
        }
        // Client 0 came back and connected its two slots again: two more
        // client ends (and their server ends), each in its map; its two lost
        // ones were released. Client 1's two, reset by the rebooted server,
        // stay: each is still its slot's connection.
        assert_eq!(w.conns.len(), 12, "8 at first, 4 after client 0's reboot");
        assert_eq!(w.conns.iter().filter(|(_, c)| c.host == 0 && c.in_stack).count(), 2);
        assert_eq!(w.conns.iter().filter(|(_, c)| c.host == 0).count(), 2);
        assert_eq!(w.conns.live(), 6, "client 0's two and their server ends, client 1's two");
    }
}
