//! A connection's transport: the Linux TCP model, a QUIC connection run by
//! quinn-proto, or a WireGuard-style datagram tunnel. The world drives all
//! three through the same few calls (timers, events, writes by size, close,
//! abort), so applications, the message ledger, sessions and the oracle do
//! not care which one a slot uses; only packets in and out differ (segments,
//! or datagrams with bytes).

use crate::quic::QuicSocket;
use crate::socket::{SocketEvent, SocketState};
use crate::tcp::{Keepalive, TcpEndpoint, TimerKind};
use crate::time::Instant;
use crate::tunnel::Tunnel;
use std::time::Duration;

/// TCP, the common case, stays inline (a box would cost every segment an
/// indirection); quinn's connection is large and boxed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Socket {
    Tcp(TcpEndpoint),
    Quic(Box<QuicSocket>),
    /// A WireGuard-style datagram tunnel (strategy `udp_keepalive`).
    Tunnel(Box<Tunnel>),
}

// No tag beside the endpoint (the compiler keeps it in a value none of the
// endpoint's fields can take), so a TCP socket's endpoint starts where the
// socket does, and the endpoint's hot part, first, is the connection's
// too (see `Conn::prefetch_hot`).
const _: () = assert!(std::mem::size_of::<Socket>() == std::mem::size_of::<TcpEndpoint>());

impl Socket {
    #[inline]
    pub(super) fn state(&self) -> SocketState {
        match self {
            Socket::Tcp(t) => t.state().socket_state(),
            Socket::Quic(q) => q.state(),
            Socket::Tunnel(t) => t.state(),
        }
    }
    /// A TCP connection that ended gracefully and has not left its RTT to
    /// its host's cache yet.
    #[inline]
    pub(super) fn ended_gracefully(&self) -> bool {
        matches!(self, Socket::Tcp(t) if t.ended_gracefully())
    }
    #[inline]
    pub(super) fn is_quic(&self) -> bool {
        matches!(self, Socket::Quic(_))
    }
    /// Its packets are UDP datagrams (QUIC or a tunnel).
    #[inline]
    pub(super) fn is_datagram(&self) -> bool {
        !matches!(self, Socket::Tcp(_))
    }
    pub(super) fn tunnel_mut(&mut self) -> Option<&mut Tunnel> {
        match self {
            Socket::Tunnel(t) => Some(t),
            _ => None,
        }
    }
    #[inline]
    pub(super) fn tcp_mut(&mut self) -> Option<&mut TcpEndpoint> {
        match self {
            Socket::Tcp(t) => Some(t),
            _ => None,
        }
    }
    pub(super) fn quic_mut(&mut self) -> Option<&mut QuicSocket> {
        match self {
            Socket::Quic(q) => Some(q),
            _ => None,
        }
    }
    #[inline]
    pub(super) fn poll_event(&mut self) -> Option<SocketEvent> {
        match self {
            Socket::Tcp(t) => t.poll_event(),
            Socket::Quic(q) => q.poll_event(),
            Socket::Tunnel(t) => t.poll_event(),
        }
    }
    #[inline]
    pub(super) fn poll_timeout(&mut self) -> Option<Instant> {
        match self {
            Socket::Tcp(t) => t.poll_timeout(),
            Socket::Quic(q) => q.poll_timeout(),
            Socket::Tunnel(t) => t.poll_timeout(),
        }
    }
    /// Run the timers due at `local`; `fired` hears each TCP timer and its
    /// lateness (quinn's timers are its own).
    pub(super) fn handle_timeout(&mut self, local: Instant, fired: impl FnMut(TimerKind, Duration)) {
        match self {
            Socket::Tcp(t) => t.handle_timeout(local, fired),
            Socket::Quic(q) => {
                if q.poll_timeout().is_some_and(|t| t <= local) {
                    q.handle_timeout(local);
                }
            }
            Socket::Tunnel(t) => t.handle_timeout(local),
        }
    }
    /// The TCP timers armed (none for QUIC and tunnels: quinn's are its own).
    pub(super) fn armed_timers(&self) -> [Option<(TimerKind, Instant)>; 2] {
        match self {
            Socket::Tcp(t) => t.armed_timers(),
            Socket::Quic(_) | Socket::Tunnel(_) => [None, None],
        }
    }
    /// Bytes of our stream the peer acknowledged (QUIC does not say: 0).
    #[inline]
    pub(super) fn acked_bytes(&self) -> u64 {
        match self {
            Socket::Tcp(t) => t.acked_bytes(),
            Socket::Quic(_) | Socket::Tunnel(_) => 0,
        }
    }
    /// Bytes written and not yet acknowledged (QUIC: not yet taken by quinn).
    pub(super) fn unacked_bytes(&self) -> u64 {
        match self {
            Socket::Tcp(t) => t.unacked_bytes(),
            Socket::Quic(q) => q.unsent_bytes(),
            Socket::Tunnel(_) => 0,
        }
    }
    pub(super) fn write(&mut self, size: u64) {
        match self {
            Socket::Tcp(t) => t.write(size),
            Socket::Quic(q) => q.write(size),
            Socket::Tunnel(t) => t.write(size),
        }
    }
    pub(super) fn close(&mut self, local: Instant) {
        match self {
            Socket::Tcp(t) => t.close(),
            Socket::Quic(q) => q.close(local),
            Socket::Tunnel(t) => t.close(),
        }
    }
    /// `shutdown(SHUT_WR)` of a TCP socket (a proxy's half-close); the
    /// datagram transports have no half-close and close.
    pub(super) fn shutdown_write(&mut self, local: Instant) {
        match self {
            Socket::Tcp(t) => t.shutdown_write(),
            other => other.close(local),
        }
    }
    pub(super) fn abort(&mut self, local: Instant) {
        match self {
            Socket::Tcp(t) => t.abort(),
            Socket::Quic(q) => q.abort(local),
            Socket::Tunnel(t) => t.close(),
        }
    }
    /// TCP socket options; a QUIC connection has its own keep-alive and ignores them.
    pub(super) fn set_keepalive(&mut self, local: Instant, keepalive: Option<Keepalive>) {
        if let Socket::Tcp(t) = self {
            t.set_keepalive(local, keepalive);
        }
    }
    pub(super) fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        if let Socket::Tcp(t) = self {
            t.set_user_timeout(timeout);
        }
    }
}
