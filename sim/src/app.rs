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

use crate::tcp::{Keepalive, SocketError};
use crate::time::Instant;
use std::fmt;
use std::time::Duration;

/// Which end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    pub fn index(self) -> usize {
        self as usize
    }
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the world tells an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEvent {
    /// The connection is established; traffic may start.
    Connected,
    /// More of the peer's stream is readable: `bytes` in total so far. Comes
    /// before the [`AppEvent::Message`]s it completes.
    Readable { bytes: u64 },
    /// A whole message of the peer's stream has arrived, in order.
    Message { tag: u64, size: u64 },
    /// The peer's TCP has acknowledged our stream up to `bytes` (cumulative).
    Acked { bytes: u64 },
    /// The peer closed its side (FIN).
    Eof,
    /// The socket failed.
    Error(SocketError),
}

/// A command an application issues; applied by the world after the callback.
#[derive(Clone, Debug, PartialEq)]
pub enum AppCommand {
    Write {
        size: u64,
        tag: u64,
    },
    Close,
    /// An orderly close on purpose (an idle timeout): FIN, and the end of
    /// the connection is neither a detection nor a false positive.
    CloseOnPurpose,
    Abort,
    SetKeepalive(Option<Keepalive>),
    SetUserTimeout(Option<Duration>),
    DeclareDead {
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
    pub(crate) fn reset(&mut self, written: u64, acked: u64) {
        self.commands.clear();
        self.written = written;
        self.acked = acked;
    }
    pub(crate) fn take(&mut self) -> std::vec::Drain<'_, AppCommand> {
        self.commands.drain(..)
    }

    /// Queue a message of `size` bytes (at least 1) in the byte stream.
    pub fn write(&mut self, size: u64, tag: u64) {
        let size = size.max(1);
        self.written += size;
        self.commands.push(AppCommand::Write { size, tag });
    }
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
    pub fn abort(&mut self) {
        self.commands.push(AppCommand::Abort);
    }
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.commands.push(AppCommand::SetKeepalive(keepalive));
    }
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
    /// Bytes of our stream the peer has acknowledged.
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
