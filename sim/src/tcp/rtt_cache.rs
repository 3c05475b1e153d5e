//! Linux's per-destination TCP metrics cache (`ip tcp_metrics`), its RTT
//! part: why a reconnecting client gives up at a different time than its
//! first connection did.
//!
//! Linux remembers, per host (network namespace) and peer address, the
//! smoothed RTT of connections to that peer. `tcp_update_metrics` saves it
//! only when a connection ends gracefully (entering TIME-WAIT, or LAST-ACK
//! to CLOSE) and `net.ipv4.tcp_no_metrics_save` is 0: a larger RTT replaces
//! the cached one, a smaller one moves it an eighth of the way down; a
//! connection that ended backed off, or without a sample, clears it.
//! `tcp_init_metrics` reads it when a new connection to that peer becomes
//! established: a cached RTT larger than the handshake's sample seeds the
//! RTO (see [`RttEstimator::seed`](super::RttEstimator::seed)), which decides
//! the first data segment's retransmissions, and so when a write into a
//! peer that vanished right after the handshake gives up (DESIGN.md: a
//! cached ~100 ms RTT moved such a give-up from 15.8 s to 21.9-22.1 s). An
//! entry older than an hour (`TCP_METRICS_TIMEOUT`) is forgotten.
//!
//! Modelled: the RTT, keyed by the peer's address as this host sees it (a
//! server sees a NAT's public address, so clients behind one NAT share an
//! entry, as on Linux). Not modelled: the cached ssthresh, cwnd and
//! reordering (congestion control here is plain), the table's size bound,
//! and the orphaned socket's earlier save (Linux saves at the ACK of the FIN
//! of a socket its application closed, in FIN-WAIT-2; here both FINs are
//! done). `kasim calibrate` holds the whole to the kernel
//! (`harness/src/calibrate/cached_rtt.rs`).

use crate::time::Instant;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// `TCP_METRICS_TIMEOUT`: an entry not refreshed for an hour is stale.
pub const RTT_CACHE_TIMEOUT: Duration = Duration::from_secs(3600);

/// What a connection leaves to the cache when it ends gracefully
/// ([`TcpEndpoint::take_closing_rtt`](super::TcpEndpoint::take_closing_rtt)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosingRtt {
    /// Its smoothed RTT, to merge into the peer's entry.
    Save(Duration),
    /// It ended backed off or never measured an RTT: clear the entry.
    Clear,
}

/// One host's cache. Empty until a connection closes gracefully; boxed
/// behind an `Option` by its owner so hosts that never use it stay small.
#[derive(Clone, Debug, Default)]
pub struct RttCache {
    entries: HashMap<Ipv4Addr, (Duration, Instant)>,
}

impl RttCache {
    /// The cached RTT for `peer` at `now` (the host's clock), if one is
    /// fresh (`tcp_init_metrics`; a stale entry reads as none).
    pub fn lookup(&self, peer: Ipv4Addr, now: Instant) -> Option<Duration> {
        let &(rtt, stamp) = self.entries.get(&peer)?;
        (now.saturating_since(stamp) <= RTT_CACHE_TIMEOUT).then_some(rtt)
    }

    /// Merge what a connection to `peer` left at its graceful end
    /// (`tcp_update_metrics`): a larger RTT replaces the cached one, a
    /// smaller one moves it by an eighth of the difference (a stale entry
    /// counts as none); `Clear` forgets the entry.
    pub fn record(&mut self, peer: Ipv4Addr, now: Instant, closing: ClosingRtt) {
        match closing {
            ClosingRtt::Clear => {
                self.entries.remove(&peer);
            }
            ClosingRtt::Save(srtt) => {
                let cached = self.lookup(peer, now).unwrap_or(Duration::ZERO);
                let rtt = if srtt >= cached { srtt } else { cached - (cached - srtt) / 8 };
                self.entries.insert(peer, (rtt, now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn a_larger_rtt_replaces_a_smaller_one_moves_an_eighth_of_the_way() {
        let ms = Duration::from_millis;
        let mut c = RttCache::default();
        assert_eq!(c.lookup(PEER, at(0)), None);
        c.record(PEER, at(0), ClosingRtt::Save(ms(100)));
        assert_eq!(c.lookup(PEER, at(1)), Some(ms(100)));
        // 100 - (100 - 20) / 8 = 90 ms.
        c.record(PEER, at(1), ClosingRtt::Save(ms(20)));
        assert_eq!(c.lookup(PEER, at(2)), Some(ms(90)));
        c.record(PEER, at(2), ClosingRtt::Save(ms(150)));
        assert_eq!(c.lookup(PEER, at(3)), Some(ms(150)));
        // Another peer has its own entry.
        assert_eq!(c.lookup(Ipv4Addr::new(203, 0, 113, 11), at(3)), None);
        c.record(PEER, at(3), ClosingRtt::Clear);
        assert_eq!(c.lookup(PEER, at(3)), None);
    }

    #[test]
    fn an_entry_is_forgotten_an_hour_after_its_last_save() {
        let ms = Duration::from_millis;
        let mut c = RttCache::default();
        c.record(PEER, at(10), ClosingRtt::Save(ms(100)));
        assert_eq!(c.lookup(PEER, at(3610)), Some(ms(100)));
        assert_eq!(c.lookup(PEER, at(3611)), None);
        // A stale entry counts as none: the smaller RTT is taken as it is.
        c.record(PEER, at(3611), ClosingRtt::Save(ms(20)));
        assert_eq!(c.lookup(PEER, at(3611)), Some(ms(20)));
    }
}
