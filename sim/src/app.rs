//! The application above each TCP endpoint: the driver trait.
//!
//! An application writes *messages* (a size and a tag; the bytes themselves
//! are not simulated), learns when whole messages of the peer's stream have
//! arrived, when its own bytes were acknowledged, and when the socket fails.
//! It may set socket options, close or abort, and declare the peer dead —
//! the act a failure detector is judged on.
//!
//! Like the TCP model it is sans-IO: it never sleeps or reads a clock. The
//! world calls it with `now` (the host's own clock, which stops while the
//! host is suspended) and an [`AppIo`] that collects its commands, and asks
//! [`Application::poll_timeout`] for its next deadline.

use crate::socket::SocketError;
use crate::tcp::Keepalive;
use crate::time::Instant;
use std::time::Duration;

/// What the world tells an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEvent {
    /// The connection is established; traffic may start.
    Connected,
    /// More of the peer's stream is readable: `bytes` in total so far. Comes
    /// before the [`AppEvent::Message`]s it completes.
    Readable {
        /// Stream offset up to which the peer's bytes are readable (cumulative).
        bytes: u64,
    },
    /// A whole message of the peer's stream has arrived, in order.
    Message {
        /// The tag the peer's application gave it in [`AppIo::write`].
        tag: u64,
        /// Its size in bytes (at least 1).
        size: u64,
    },
    /// The peer's TCP has acknowledged our stream up to `bytes` (cumulative).
    Acked {
        /// Bytes of our stream acknowledged so far, counted from its first byte.
        bytes: u64,
    },
    /// The peer closed its side (FIN).
    Eof,
    /// The socket failed.
    Error(SocketError),
}

/// A command an application issues; applied by the world after the callback.
#[derive(Clone, Debug, PartialEq)]
pub enum AppCommand {
    /// Queue a message on the stream ([`AppIo::write`]); ignored once the
    /// socket is closed.
    Write {
        /// Bytes of the message (at least 1).
        size: u64,
        /// The application's label for it, handed back to the peer in
        /// [`AppEvent::Message`].
        tag: u64,
    },
    /// An orderly close ([`AppIo::close`]): a FIN after the queued data.
    Close,
    /// An orderly close on purpose (an idle timeout): FIN, and the end of
    /// the connection is neither a detection nor a false positive.
    CloseOnPurpose,
    /// An abortive close ([`AppIo::abort`]): a RST now, queued data discarded.
    Abort,
    /// `SO_KEEPALIVE` with its idle/interval/count, or off ([`AppIo::set_keepalive`]).
    SetKeepalive(Option<Keepalive>),
    /// `TCP_USER_TIMEOUT`, or back to the default ([`AppIo::set_user_timeout`]).
    SetUserTimeout(Option<Duration>),
    /// The application's failure detector declares the peer dead
    /// ([`AppIo::declare_dead`]); the world judges it against the ground truth.
    DeclareDead {
        /// Why, in the detector's words (for traces and reports).
        cause: String,
    },
    /// Open a new connection for this slot (a reconnect); see [`AppIo::connect`].
    Connect,
}

/// The application's handle on its socket during a callback.
#[derive(Debug, Default)]
pub struct AppIo {
    commands: Vec<AppCommand>,
    written: u64,
    acked: u64,
}

impl AppIo {
    /// Empty the command queue and set the stream counters (`written` bytes
    /// written so far, `acked` of them acknowledged) before a callback: what
    /// a world, or a runtime on real sockets, does before each call.
    pub fn reset(&mut self, written: u64, acked: u64) {
        self.commands.clear();
        self.written = written;
        self.acked = acked;
    }
    /// The commands the callback issued, in order, to carry out.
    pub fn take(&mut self) -> std::vec::Drain<'_, AppCommand> {
        self.commands.drain(..)
    }

    /// Queue a message of `size` bytes (at least 1) in the byte stream.
    pub fn write(&mut self, size: u64, tag: u64) {
        let size = size.max(1);
        self.written += size;
        self.commands.push(AppCommand::Write { size, tag });
    }
    /// Close the connection in order: a FIN after the data already written
    /// (QUIC: CONNECTION_CLOSE with code 0; a tunnel just stops sending). The
    /// oracle treats what follows like any other end; an idle timeout should
    /// use [`close_on_purpose`](Self::close_on_purpose) instead.
    pub fn close(&mut self) {
        self.commands.push(AppCommand::Close);
    }
    /// Close the connection on purpose (an application's or a pool's idle
    /// timeout): a FIN, like [`close`](Self::close), and the connection's end
    /// is orderly: whatever either side declares afterwards (EOF, a RST
    /// meeting data written into the close) is judged
    /// [`Verdict::OrderlyEnd`](crate::oracle::Verdict::OrderlyEnd), and faults
    /// after it break nothing of this connection.
    pub fn close_on_purpose(&mut self) {
        self.commands.push(AppCommand::CloseOnPurpose);
    }
    /// Abort the connection (`SO_LINGER` 0, then `close`): a RST now if the
    /// TCP connection is synchronized, unsent data discarded (QUIC:
    /// CONNECTION_CLOSE with code 1, which the peer hears as a reset).
    pub fn abort(&mut self) {
        self.commands.push(AppCommand::Abort);
    }
    /// `SO_KEEPALIVE` with `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT`;
    /// `None` turns it off. On an established connection the timer is armed
    /// for `idle` from now, as Linux does. TCP only: QUIC and tunnels ignore it.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.commands.push(AppCommand::SetKeepalive(keepalive));
    }
    /// `TCP_USER_TIMEOUT`: how long written data may stay unacknowledged
    /// (and, with keepalive on, how long the peer may stay silent) before
    /// the connection fails with `ETIMEDOUT`, in place of `tcp_retries2`.
    /// `None` or zero restores the defaults. TCP only.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.commands.push(AppCommand::SetUserTimeout(timeout));
    }
    /// The failure detector's verdict: the peer is dead. The world judges it
    /// against the ground truth. The application should then stop using the
    /// connection (typically `abort`).
    pub fn declare_dead(&mut self, cause: impl Into<String>) {
        self.commands.push(AppCommand::DeclareDead { cause: cause.into() });
    }
    /// Open a new connection in place of this one, which must have closed
    /// (an error, EOF after our abort, a give-up): the client's reconnect.
    /// After this callback the application belongs to the new connection,
    /// from a new ephemeral port, and hears [`AppEvent::Connected`] or an
    /// [`AppEvent::Error`] from it. Ignored while the connection is open, on a
    /// server, or while the host is down.
    pub fn connect(&mut self) {
        self.commands.push(AppCommand::Connect);
    }
    /// Bytes written to the stream so far (including this callback's writes).
    pub fn written(&self) -> u64 {
        self.written
    }
    /// Bytes of our stream the peer has acknowledged (always 0 on QUIC and
    /// tunnels, which do not report it).
    pub fn acked(&self) -> u64 {
        self.acked
    }
}

/// The application's side of the contract. Implementations must be
/// deterministic functions of their inputs.
pub trait Application {
    /// React to something that happened to the connection.
    fn on_event(&mut self, now: Instant, event: AppEvent, io: &mut AppIo);
    /// The next instant at which [`on_timeout`](Self::on_timeout) has work.
    ///
    /// The world asks once when the application is placed on its
    /// connection and once after each call to [`on_event`](Self::on_event)
    /// or `on_timeout`, and keeps the answer until the next such call: so
    /// the answer must depend only on the application's own state, which
    /// only those calls change (not on shared cells another connection's
    /// application writes).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Called at or after the instant `poll_timeout` returned (possibly more
    /// than once); must only act on deadlines that have passed.
    fn on_timeout(&mut self, now: Instant, io: &mut AppIo) {
        let _ = (now, io);
    }
}

/// An application that does nothing: a socket left alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct Idle;

impl Application for Idle {
    fn on_event(&mut self, _now: Instant, _event: AppEvent, _io: &mut AppIo) {}
}

/// An application that answers the peer's FIN with its own and does nothing
/// else: a graceful end on both sides, as a server that reads until EOF and
/// then closes its socket (what Linux's `tcp_metrics` cache needs to save).
#[derive(Debug, Default, Clone, Copy)]
pub struct CloseOnEof;

impl Application for CloseOnEof {
    fn on_event(&mut self, _now: Instant, event: AppEvent, io: &mut AppIo) {
        if event == AppEvent::Eof {
            io.close();
        }
    }
}
