//! A WireGuard-style datagram tunnel: application messages as UDP
//! datagrams, no handshake to wait for, no retransmission, and keepalives
//! that exist only to keep NAT mappings alive.
//!
//! The rules are WireGuard's (`drivers/net/wireguard/timers.c`), the parts
//! that matter to liveness:
//! * **Persistent keepalive** (`PersistentKeepalive = N`): an empty
//!   authenticated packet when nothing was *sent* for N seconds
//!   (`wg_timers_any_authenticated_packet_traversal` restarts the timer at
//!   every packet sent).
//! * **Passive keepalive** (`KEEPALIVE_TIMEOUT` = 10 s): after receiving
//!   data, a keepalive if nothing was sent within 10 s, so the peer learns
//!   its data arrived (`wg_timers_data_received`).
//! * **Roaming**: the receiver answers to the address the last
//!   authenticated packet came from, so a NAT rebinding breaks nothing by
//!   itself. The world identifies the peer by its flow, as WireGuard does by
//!   its public key.
//!
//! Sizes are WireGuard's: a transport message adds 32 bytes (16 of header,
//! 16 of authentication tag) to its payload, so a keepalive is a 32-byte
//! datagram; payloads are at most 1420 bytes (wg-quick's MTU). WireGuard
//! declares nothing dead; with `dead_after` the socket reports ETIMEDOUT
//! when nothing at all (keepalives included) arrived for that long.
//!
//! A message is delivered only if all its datagrams arrive; a message with a
//! lost datagram is lost (the world skips it in the sender's ledger).
//! Sans-IO like the rest: fed `now`, asked for its next deadline.

use crate::packet::SegmentKind;
use crate::socket::{SocketError, SocketEvent, SocketState};
use crate::time::Instant;
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::time::Duration;

/// Bytes a WireGuard transport message adds to its payload.
pub const OVERHEAD: u32 = 32;
/// The largest payload of one datagram (wg-quick's default MTU).
pub const MAX_PAYLOAD: u64 = 1420;
/// WireGuard's passive keepalive delay.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// What the tunnel header of a simulated datagram carries: the message's end
/// offset and its number of datagrams (in the first 12 of the 16 header bytes).
const HEADER: usize = 12;

/// A world's tunnel settings (strategy `udp_keepalive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// `PersistentKeepalive` of the client's and the server's end (`Side::index`); `None` = off.
    pub persistent_keepalive: [Option<Duration>; 2],
    /// Report ETIMEDOUT after this long without receiving anything; `None` = never (WireGuard).
    pub dead_after: Option<Duration>,
}

/// One end of a tunnel.
#[derive(Debug)]
pub struct Tunnel {
    keepalive: Option<Duration>,
    dead_after: Option<Duration>,
    /// When we last sent anything; the persistent keepalive counts from it.
    last_sent: Instant,
    last_received: Instant,
    /// Data arrived at this instant and nothing was sent since: a passive keepalive is due 10 s later.
    passive_from: Option<Instant>,
    out: VecDeque<(Vec<u8>, SegmentKind)>,
    events: VecDeque<SocketEvent>,
    /// Bytes of messages written so far (the ledger's offsets).
    written: u64,
    /// Messages partly received: end offset → datagrams still missing.
    partial: HashMap<u64, u32>,
    closed: bool,
}

impl Tunnel {
    /// An end that can send from `now` (there is no handshake to wait for in
    /// this model: WireGuard's happens before the first data and is not timed).
    pub fn open(cfg: &TunnelConfig, side: usize, now: Instant) -> Tunnel {
        Tunnel {
            keepalive: cfg.persistent_keepalive[side],
            dead_after: cfg.dead_after,
            last_sent: now,
            last_received: now,
            passive_from: None,
            out: VecDeque::new(),
            events: VecDeque::from([SocketEvent::Connected]),
            written: 0,
            partial: HashMap::default(),
            closed: false,
        }
    }

    /// A message of `size` bytes, as datagrams of at most [`MAX_PAYLOAD`].
    pub fn write(&mut self, size: u64) {
        if self.closed {
            return;
        }
        self.written += size;
        // The harness refuses messages over 64 MiB for tunnels; the part count fits its 4 bytes.
        let parts = size.div_ceil(MAX_PAYLOAD).clamp(1, u64::from(u32::MAX));
        for k in 0..parts {
            let payload = (size - k * MAX_PAYLOAD).min(MAX_PAYLOAD);
            let mut bytes = vec![0u8; (payload as usize + OVERHEAD as usize).max(HEADER)];
            bytes[..8].copy_from_slice(&self.written.to_be_bytes());
            bytes[8..12].copy_from_slice(&(parts as u32).to_be_bytes());
            self.out.push_back((bytes, SegmentKind::Data));
        }
    }

    /// A datagram from the peer.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.last_received = now;
        if bytes.len() == OVERHEAD as usize && bytes[..HEADER].iter().all(|&b| b == 0) {
            return; // a keepalive: proof the peer is there, nothing to deliver
        }
        let Some(header) = bytes.get(..HEADER) else { return };
        let end = u64::from_be_bytes(header[..8].try_into().expect("8 bytes"));
        let parts = u32::from_be_bytes(header[8..12].try_into().expect("4 bytes"));
        let missing = self.partial.entry(end).or_insert(parts);
        *missing = missing.saturating_sub(1);
        if *missing == 0 {
            self.partial.remove(&end);
            self.events.push_back(SocketEvent::MessageArrived { end });
        }
        self.passive_from.get_or_insert(now);
    }

    /// The next thing to tell the application ([`SocketEvent::Connected`]
    /// at once, whole messages, `ETIMEDOUT` after `dead_after`), oldest first.
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.events.pop_front()
    }

    /// The next datagram to send at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(Vec<u8>, SegmentKind)> {
        let d = self.out.pop_front()?;
        self.last_sent = now;
        self.passive_from = None;
        Some(d)
    }

    /// The earliest of the persistent keepalive (`PersistentKeepalive` after
    /// the last packet sent), the passive one (10 s after data received with
    /// nothing sent since) and `dead_after` (after the last packet received),
    /// on the host's clock; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let persistent = self.keepalive.map(|k| self.last_sent + k);
        let passive = self.passive_from.map(|t| t + KEEPALIVE_TIMEOUT);
        let dead = self.dead_after.map(|d| self.last_received + d);
        [persistent, passive, dead].into_iter().flatten().min()
    }

    /// Run what is due at `now`: report `ETIMEDOUT` and close if nothing
    /// arrived for `dead_after`, else queue a 32-byte keepalive if either
    /// keepalive is due and nothing else is waiting to be sent.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.dead_after.is_some_and(|d| self.last_received + d <= now) {
            self.closed = true;
            self.out.clear();
            self.events.push_back(SocketEvent::Error(SocketError::TimedOut));
            return;
        }
        let persistent = self.keepalive.is_some_and(|k| self.last_sent + k <= now);
        let passive = self.passive_from.is_some_and(|t| t + KEEPALIVE_TIMEOUT <= now);
        if (persistent || passive) && self.out.is_empty() {
            self.out.push_back((vec![0u8; OVERHEAD as usize], SegmentKind::KeepaliveProbe));
        }
    }

    /// The application is done with it: nothing more is sent (UDP has no close).
    pub fn close(&mut self) {
        self.closed = true;
        self.out.clear();
    }

    /// [`SocketState::Open`] from the start (there is no handshake to
    /// wait for), [`SocketState::Closed`] once closed or timed out.
    pub fn state(&self) -> SocketState {
        if self.closed {
            SocketState::Closed
        } else {
            SocketState::Open
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ka: Option<u64>) -> TunnelConfig {
        TunnelConfig { persistent_keepalive: [ka.map(Duration::from_secs), None], dead_after: None }
    }

    #[test]
    fn persistent_keepalive_counts_from_the_last_packet_sent() {
        let mut t = Tunnel::open(&cfg(Some(25)), 0, Instant::ZERO);
        assert_eq!(t.poll_event(), Some(SocketEvent::Connected));
        assert_eq!(t.poll_timeout(), Some(Instant::from_secs(25)));
        // Data sent at 10 s moves the keepalive to 35 s.
        t.write(100);
        let (bytes, kind) = t.poll_transmit(Instant::from_secs(10)).unwrap();
        assert_eq!((bytes.len(), kind), (132, SegmentKind::Data), "100 B + 32 B of WireGuard framing");
        assert_eq!(t.poll_timeout(), Some(Instant::from_secs(35)));
        t.handle_timeout(Instant::from_secs(35));
        let (bytes, kind) = t.poll_transmit(Instant::from_secs(35)).unwrap();
        assert_eq!((bytes.len(), kind), (32, SegmentKind::KeepaliveProbe));
        assert_eq!(t.poll_timeout(), Some(Instant::from_secs(60)));
    }

    #[test]
    fn data_received_is_answered_by_a_passive_keepalive_after_ten_seconds() {
        let (mut a, mut b) = (Tunnel::open(&cfg(None), 0, Instant::ZERO), Tunnel::open(&cfg(None), 1, Instant::ZERO));
        assert_eq!(b.poll_timeout(), None, "no keepalive at all without data or PersistentKeepalive");
        a.write(3000); // three datagrams: 1420 + 1420 + 160
        let sent: Vec<_> = std::iter::from_fn(|| a.poll_transmit(Instant::from_secs(1))).collect();
        assert_eq!(sent.iter().map(|d| d.0.len()).collect::<Vec<_>>(), [1452, 1452, 192]);
        b.poll_event();
        for (bytes, _) in &sent {
            b.handle_datagram(Instant::from_secs(2), bytes);
        }
        assert_eq!(b.poll_event(), Some(SocketEvent::MessageArrived { end: 3000 }));
        assert_eq!(b.poll_timeout(), Some(Instant::from_secs(12)));
        b.handle_timeout(Instant::from_secs(12));
        assert_eq!(b.poll_transmit(Instant::from_secs(12)).map(|d| d.1), Some(SegmentKind::KeepaliveProbe));
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn a_message_with_a_lost_datagram_is_never_delivered() {
        let (mut a, mut b) = (Tunnel::open(&cfg(None), 0, Instant::ZERO), Tunnel::open(&cfg(None), 1, Instant::ZERO));
        a.write(2000);
        a.write(10);
        let sent: Vec<_> = std::iter::from_fn(|| a.poll_transmit(Instant::ZERO)).collect();
        b.poll_event();
        b.handle_datagram(Instant::ZERO, &sent[1].0); // the first part of message 1 is lost
        b.handle_datagram(Instant::ZERO, &sent[2].0);
        assert_eq!(b.poll_event(), Some(SocketEvent::MessageArrived { end: 2010 }));
        assert_eq!(b.poll_event(), None);
    }

    #[test]
    fn dead_after_reports_etimedout_when_nothing_arrives() {
        let c = TunnelConfig { persistent_keepalive: [Some(Duration::from_secs(25)), None], dead_after: Some(Duration::from_secs(90)) };
        let mut t = Tunnel::open(&c, 0, Instant::ZERO);
        t.poll_event();
        t.handle_datagram(Instant::from_secs(40), &[0u8; 32]);
        assert_eq!(t.poll_timeout(), Some(Instant::from_secs(25)));
        t.handle_timeout(Instant::from_secs(130));
        assert_eq!(t.poll_event(), Some(SocketEvent::Error(SocketError::TimedOut)));
        assert_eq!(t.state(), SocketState::Closed);
    }
}
