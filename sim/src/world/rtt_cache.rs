//! The hosts' `tcp_metrics` caches ([`crate::tcp::RttCache`]) at the two
//! moments Linux touches them: a connection becoming established reads its
//! peer's entry, a connection ending gracefully writes it.

use super::World;
use crate::tcp::RttCache;

impl World {
    /// Connection `c` has just become established: seed its first RTO from
    /// its host's cached RTT for the peer, if there is one.
    pub(super) fn start_from_cached_rtt(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        let host = &self.hosts[conn.host];
        let (Some(cache), Some(tcp)) = (host.rtt_cache.as_deref(), conn.sock.tcp_mut()) else { return };
        if let Some(cached) = cache.lookup(*tcp.remote().ip(), host.local(self.now)) {
            tcp.start_from_cached_rtt(cached);
        }
    }

    /// Connection `c` ended gracefully: merge its RTT into its host's cache.
    /// Out of line: once per connection at most.
    #[cold]
    #[inline(never)]
    pub(super) fn save_closing_rtt(&mut self, c: usize) {
        let conn = &mut self.conns[c];
        let Some(tcp) = conn.sock.tcp_mut() else { return };
        let Some(closing) = tcp.take_closing_rtt() else { return };
        let peer = *tcp.remote().ip();
        let host = &mut self.hosts[conn.host];
        let local = host.local(self.now);
        host.rtt_cache.get_or_insert_with(Box::<RttCache>::default).record(peer, local, closing);
    }
}
