//! Seeded random streams, one per purpose.
//!
//! Each consumer of randomness (a link direction's loss, the NAT's port
//! choice, each host's initial sequence number, …) draws from its own ChaCha8
//! stream derived from the run's seed and a fixed purpose number. Adding a
//! random draw in one component therefore never shifts another's numbers, and
//! a given seed reproduces the same run whatever else changed.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a random stream is for. The discriminant is the ChaCha stream number
/// and must never change for an existing purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Random loss on a client's access link, host → network.
    ClientUpLoss = 1,
    /// Random loss on a client's access link, network → host.
    ClientDownLoss = 2,
    /// Random loss on the server's access link, host → network.
    ServerUpLoss = 3,
    /// Random loss on the server's access link, network → host.
    ServerDownLoss = 4,
    /// The NAT's choice of public ports under `new_port`.
    NatPorts = 5,
    /// A client host's initial sequence numbers, one per connection.
    ClientIsn = 6,
    /// The server's initial sequence numbers, one per connection.
    ServerIsn = 7,
    /// Random loss on the proxy's link, host → network.
    ProxyUpLoss = 8,
    /// Random loss on the proxy's link, network → host.
    ProxyDownLoss = 9,
    /// The proxy's initial sequence numbers (both legs).
    ProxyIsn = 10,
    /// Each client host's QUIC connections (keys, connection IDs, TLS).
    QuicClient = 11,
    /// The server's QUIC listener.
    QuicServer = 12,
}

/// The registry of every ChaCha stream number a run draws from, so that no
/// two purposes ever share one. The world's own are [`Purpose`] (1 to 12,
/// times the client host in the high 32 bits); the harness's are below.
pub mod streams {
    /// A scenario's `[[traffic]]` entry `index` on connection `slot`: the gaps
    /// between its messages (slot 0's is a one-connection world's).
    pub fn traffic(index: usize, slot: u32) -> u64 {
        (1000 + index as u64) | (u64::from(slot) << 32)
    }
    /// A scenario's `[[fault]]` `index` on client `host` (0 for the server,
    /// the NAT and the proxy): its time and duration.
    pub fn fault(index: usize, host: u32) -> u64 {
        (2000 + index as u64) | (u64::from(host) << 32)
    }
    /// Connection `slot`'s session: the jitter of its reconnect backoff.
    pub fn session(slot: u32) -> u64 {
        3000 | (u64::from(slot) << 32)
    }
}

/// A ChaCha8 generator for `seed` on stream `stream` (see [`streams`]).
pub fn chacha(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The stream id of `host`'s draws for `purpose`: the purpose in the low
/// word, the host above it, so host 0's id is the purpose's alone (what a
/// one-client world always drew).
fn host_stream(purpose: Purpose, host: u32) -> u64 {
    purpose as u64 | (u64::from(host) << 32)
}

/// A deterministic random stream.
///
/// The generator (ChaCha8: 304 bytes with its output buffer) is made on the
/// first draw: a world holds several streams per host (handshake numbers,
/// loss on each link direction, QUIC seeds), and most are never drawn from
/// in a given scenario. Made later or at once, it draws the same numbers.
#[derive(Clone, Debug)]
pub struct Stream {
    seed: u64,
    stream: u64,
    rng: Option<Box<ChaCha8Rng>>,
}

impl Stream {
    /// The stream of `purpose` for the run's `seed` (host 0's: see
    /// [`for_host`](Self::for_host)).
    pub fn new(seed: u64, purpose: Purpose) -> Self {
        Self::for_host(seed, purpose, 0)
    }
    /// The stream of `purpose` for host `host` (client index): host 0's is
    /// [`Stream::new`]'s, so a one-client world draws what it always drew,
    /// and adding a client never shifts another's numbers.
    pub fn for_host(seed: u64, purpose: Purpose, host: u32) -> Self {
        Stream { seed, stream: host_stream(purpose, host), rng: None }
    }
    fn rng(&mut self) -> &mut ChaCha8Rng {
        let (seed, stream) = (self.seed, self.stream);
        self.rng.get_or_insert_with(|| Box::new(chacha(seed, stream)))
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.rng().random::<f64>()
    }
    /// A uniform 32-bit number (an initial sequence number).
    pub fn u32(&mut self) -> u32 {
        self.rng().random::<u32>()
    }
    /// 32 random bytes: the seed of a generator of its own (a QUIC connection's).
    pub fn seed32(&mut self) -> [u8; 32] {
        self.rng().random::<[u8; 32]>()
    }
    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub fn range_u16(&mut self, lo: u16, hi: u16) -> u16 {
        if hi <= lo {
            lo
        } else {
            self.rng().random_range(lo..hi)
        }
    }
}

/// A [`Stream`] drawn from rarely (a host's initial sequence numbers, its
/// QUIC seeds): it keeps no generator between draws, only where it is in
/// the stream, and makes the generator again at that word for each draw.
///
/// Why: a fleet's client host draws one sequence number per connection, and
/// a kept generator is 304 bytes per host (3 MB at 10 000 hosts) for a draw
/// that costs a block's worth of work when remade. It draws exactly what a
/// [`Stream`] of the same seed and purpose draws.
#[derive(Clone, Debug)]
pub struct RareStream {
    seed: u64,
    stream: u64,
    /// Words of the stream already drawn.
    word_pos: u64,
}

impl RareStream {
    /// As [`Stream::for_host`].
    pub fn for_host(seed: u64, purpose: Purpose, host: u32) -> Self {
        RareStream { seed, stream: host_stream(purpose, host), word_pos: 0 }
    }
    fn draw<T>(&mut self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        let mut rng = chacha(self.seed, self.stream);
        rng.set_word_pos(u128::from(self.word_pos));
        let value = f(&mut rng);
        self.word_pos = rng.get_word_pos() as u64;
        value
    }
    /// A uniform 32-bit number (an initial sequence number).
    pub fn u32(&mut self) -> u32 {
        self.draw(|rng| rng.random::<u32>())
    }
    /// 32 random bytes: the seed of a generator of its own (a QUIC connection's).
    pub fn seed32(&mut self) -> [u8; 32] {
        self.draw(|rng| rng.random::<[u8; 32]>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_purposes_are_independent() {
        let a: Vec<u32> = (0..4)
            .map({
                let mut s = Stream::new(7, Purpose::NatPorts);
                move |_| s.u32()
            })
            .collect();
        let b: Vec<u32> = (0..4)
            .map({
                let mut s = Stream::new(7, Purpose::NatPorts);
                move |_| s.u32()
            })
            .collect();
        let c: Vec<u32> = (0..4)
            .map({
                let mut s = Stream::new(7, Purpose::ClientIsn);
                move |_| s.u32()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// A rare stream draws exactly what the kept generator draws, through
    /// mixed draws that end inside and across the generator's 64-word buffer.
    #[test]
    fn a_rare_stream_draws_what_a_stream_draws() {
        for host in [0, 7] {
            let mut kept = Stream::for_host(11, Purpose::ClientIsn, host);
            let mut rare = RareStream::for_host(11, Purpose::ClientIsn, host);
            for i in 0..200 {
                if i % 3 == 0 {
                    assert_eq!(kept.seed32(), rare.seed32(), "draw {i}");
                } else {
                    assert_eq!(kept.u32(), rare.u32(), "draw {i}");
                }
            }
        }
    }
}
