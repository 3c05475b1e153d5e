//! What a connection's transport tells its application, whichever it is:
//! the Linux TCP model, a QUIC connection, or a datagram tunnel. The world
//! and the applications speak only these, so they need not know which
//! transport a slot runs over; only TCP has TCP's states.

/// Errors the application sees, named after the errno a socket reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    /// `ETIMEDOUT`: retransmissions, keepalive or the user timeout gave up.
    TimedOut,
    /// `ECONNRESET`: a RST was accepted.
    Reset,
    /// `ECONNREFUSED`: the SYN was answered with RST.
    Refused,
}

impl SocketError {
    /// The errno's name (`ETIMEDOUT`, `ECONNRESET`, `ECONNREFUSED`), as a
    /// Linux application would log it.
    pub fn errno_name(self) -> &'static str {
        match self {
            SocketError::TimedOut => "ETIMEDOUT",
            SocketError::Reset => "ECONNRESET",
            SocketError::Refused => "ECONNREFUSED",
        }
    }
}

/// What the endpoint tells its application. Offsets count bytes of the
/// stream from its first byte (0), in the direction the event concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// The handshake completed.
    Connected,
    /// In-order bytes of the peer's stream are now readable up to this offset.
    Received {
        /// Stream offset of the first byte not yet received in order.
        up_to: u64,
    },
    /// The peer acknowledged our stream up to this offset.
    Acked {
        /// Stream offset of the first byte not yet acknowledged.
        up_to: u64,
    },
    /// The peer's FIN arrived in order: no more bytes will come.
    Eof,
    /// A datagram tunnel only: the whole message ending at stream offset
    /// `end` arrived; messages before it that have not are lost.
    MessageArrived {
        /// Stream offset just after the message's last byte.
        end: u64,
    },
    /// The connection is dead.
    Error(SocketError),
    /// A server dropped a half-open connection after `tcp_synack_retries`
    /// unanswered SYN-ACKs. The application never accepted it and hears
    /// nothing; this is for traces.
    HalfOpenDropped,
}

/// Where a connection is, in terms every transport shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketState {
    /// The client's handshake is under way (TCP's SYN-SENT, QUIC's client
    /// handshake).
    Connecting,
    /// The server's side of a handshake is under way: not yet established,
    /// not yet accepted (TCP's SYN-RECEIVED, QUIC's server handshake).
    Accepting,
    /// Data may flow (TCP's ESTABLISHED, with or without FINs exchanged; a
    /// tunnel from its start).
    Open,
    /// Gone: closed normally, reset, timed out or aborted.
    Closed,
}
