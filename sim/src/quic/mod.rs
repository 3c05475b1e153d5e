//! QUIC connections: the real quinn-proto state machine over simulated UDP.
//!
//! kasim does not model QUIC; it runs quinn-proto, the sans-IO QUIC
//! implementation under quinn, so idle timeouts, keep-alive PINGs, loss
//! recovery, path validation and migration across a NAT rebinding are
//! quinn's own. This module only *drives* it, the way quinn drives it over a
//! UDP socket:
//!
//! * **Time**: quinn-proto takes `std::time::Instant`s and never reads a
//!   clock. Simulated nanoseconds map onto one fixed base instant
//!   ([`to_quinn`], [`from_quinn`]); only differences matter to quinn.
//! * **Datagrams in**: a client connection owns its own `Endpoint` (one UDP
//!   socket per connection, so a reconnect takes a new port); the server's
//!   connections share the listener's `Endpoint`, which routes datagrams by
//!   connection ID, so a client that reappears from a new address (a NAT
//!   rebinding) still reaches its connection. The world owns that
//!   shuttle; [`QuicSocket`] does the rest.
//! * **Datagrams out**: `poll_transmit` one datagram at a time (no GSO),
//!   classified for the wire statistics by which frames quinn's counters say
//!   it carried (a packet with only PING and ACK frames is a keep-alive).
//! * **Determinism**: every source of randomness is seeded from the run:
//!   quinn's (`EndpointConfig::rng_seed`, the reset key, the connection-ID
//!   generator, the token key and time source) and rustls's ([`crypto`]).
//!
//! The application's byte stream runs over one unidirectional stream each
//! way (opened when the handshake completes), so the world's message ledger
//! works for QUIC as for TCP. `close` is quinn's `close` with code 0 (the
//! peer hears an orderly end); `abort` uses code 1 (the peer hears a reset).

pub mod crypto;
mod socket;

pub use socket::{Arrival, Datagram, QuicListener, QuicSocket};

use crate::time::Instant;
use std::sync::OnceLock;
use std::time::Duration;

/// The transport settings of a world's QUIC connections (strategy `quic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuicConfig {
    /// `keep_alive_interval` of the client's and the server's transport
    /// (indexed by `Side::index`); `None` = off (quinn's default).
    pub keep_alive: [Option<Duration>; 2],
    /// `max_idle_timeout` both ends advertise (quinn's default 30 s); the
    /// connection uses the smaller of the two, as RFC 9000 §10.1 negotiates.
    pub max_idle_timeout: Duration,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig { keep_alive: [None, None], max_idle_timeout: Duration::from_secs(30) }
    }
}

/// The UDP port the server listens on.
pub const PORT: u16 = 443;

fn base() -> std::time::Instant {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}

/// Simulated time as quinn-proto's `Instant`.
pub fn to_quinn(t: Instant) -> std::time::Instant {
    base() + t.since_start()
}

/// A quinn-proto deadline as simulated time, rounded up to the nanosecond
/// so a timer never fires before quinn's own deadline.
pub fn from_quinn(t: std::time::Instant) -> Instant {
    let d = t.saturating_duration_since(base());
    Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
