//! Keepalive strategies: sans-IO policies behind one public trait.
//!
//! A strategy is attached to one side of the connection. It sees what that
//! side's application sees (bytes read, pongs, acknowledgements of its own
//! data, its own writes), may set socket options, may send pings through the
//! same byte stream as the workload (so a ping written after 5 MB of upload
//! waits behind it), and declares the peer dead. Socket errors (ETIMEDOUT,
//! ECONNRESET, EOF) are declared by the application itself, whatever the
//! strategy, because a real application notices them too.
//!
//! The peer's application answers every ping with a pong of the same size as
//! soon as it has read it, with or without a strategy of its own.
//!
//! To add a strategy, implement [`Strategy`] (see
//! `harness/examples/custom_strategy.rs`); to make it selectable from scenario
//! files, add a kind to [`KINDS`] (its parameters, defaults and transport)
//! and a [`StrategyKind`] variant with its arms in `parse`, `name`, `build`,
//! `detection_window` and `quiet_period` (`scenario::strategies` checks each
//! parameter against its type; a test holds the table and the enum in step).

use sim::tcp::Keepalive;
use sim::{AppIo, Instant};
use std::time::Duration;

/// What a strategy observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Bytes of the peer's stream became readable (cumulative total); pings
    /// and pongs included.
    Received {
        /// Bytes of the peer's stream readable so far on this connection.
        total: u64,
    },
    /// A pong answering our ping `id` arrived.
    Pong {
        /// The id our ping carried ([`Control::ping`]).
        id: u64,
    },
    /// The peer acknowledged our stream up to `total` bytes.
    Acked {
        /// Bytes of our stream the peer's TCP has acknowledged so far on this connection.
        total: u64,
    },
    /// The workload wrote `size` bytes (not pings or pongs).
    Wrote {
        /// Bytes of the message written.
        size: u64,
    },
    /// The workload received a whole message (not a ping or pong).
    WorkloadMessage {
        /// Bytes of the message received.
        size: u64,
    },
    /// A ping from the peer arrived (the application answers it right after).
    Ping {
        /// The id the peer's ping carries, echoed in the pong.
        id: u64,
    },
    /// The application wrote a pong of `size` bytes answering the peer's ping.
    Answered {
        /// Bytes of the pong (the same size as the ping it answers).
        size: u64,
    },
}

/// The strategy's handle during a callback.
pub struct Control<'a> {
    pub(crate) io: &'a mut AppIo,
    pub(crate) pings: &'a mut u64,
    pub(crate) ping_bytes: &'a mut u64,
    pub(crate) dead: &'a mut Option<String>,
}

impl Control<'_> {
    /// Write a ping of `size` bytes; the peer answers with a pong carrying `id`.
    pub fn ping(&mut self, id: u64, size: u64) {
        *self.pings += 1;
        *self.ping_bytes += size;
        self.io.write(size, crate::wire::tag(crate::wire::Class::Ping, id));
    }
    /// Write a one-way frame of `size` bytes (a heartbeat or tick the peer
    /// reads but does not answer).
    pub fn beat(&mut self, size: u64) {
        *self.pings += 1;
        *self.ping_bytes += size;
        self.io.write(size, crate::wire::tag(crate::wire::Class::Beat, 0));
    }
    /// Set `SO_KEEPALIVE` with `TCP_KEEPIDLE`/`TCP_KEEPINTVL`/`TCP_KEEPCNT` (`Some`), or turn
    /// keepalive off (`None`); the simulated kernel then probes an idle connection as Linux does.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        self.io.set_keepalive(keepalive);
    }
    /// Set `TCP_USER_TIMEOUT` (`None`: off, the Linux default): the kernel gives up with
    /// ETIMEDOUT once data stays unacknowledged this long.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.io.set_user_timeout(timeout);
    }
    /// Declare the peer dead; the application then aborts the connection.
    pub fn declare_dead(&mut self, cause: &str) {
        if self.dead.is_none() {
            *self.dead = Some(cause.to_string());
        }
    }
    /// Bytes of our stream the peer has acknowledged.
    pub fn acked(&self) -> u64 {
        self.io.acked()
    }
    /// Bytes written but not yet acknowledged (an "active call" in flight).
    pub fn unacked(&self) -> u64 {
        self.io.written().saturating_sub(self.io.acked())
    }
}

/// A dead-peer detection policy for one side of one connection. All methods
/// are fed the side's clock; none may block or read a clock of its own.
///
/// The calling contract: a new instance is made for every connection (a
/// reconnect gets a fresh one, so no state crosses connections);
/// [`on_connected`](Self::on_connected) is called once, first, when the
/// connection is established; only after it are
/// [`poll_timeout`](Self::poll_timeout), [`on_event`](Self::on_event) and
/// [`on_timeout`](Self::on_timeout) called, with `now` never going
/// backwards. After the strategy (or the socket) declares the peer dead the
/// instance is dropped.
pub trait Strategy {
    /// The connection is established (called once, before anything else).
    fn on_connected(&mut self, now: Instant, ctl: &mut Control);
    /// Something happened that the application can see.
    fn on_event(&mut self, now: Instant, event: Observed, ctl: &mut Control) {
        let _ = (now, event, ctl);
    }
    /// The next instant at which [`on_timeout`](Self::on_timeout) has work.
    /// It is asked after each of the other calls and the answer is kept
    /// until the next one (as `sim::app::Application::poll_timeout`'s), so it
    /// must depend only on the strategy's own state.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Called at or after `poll_timeout` (possibly early or twice: check the deadline).
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        let _ = (now, ctl);
    }
}

mod builtin;
mod kinds;
mod phi;
mod presets;
mod spec;

pub use builtin::{AppPing, Liveness, NoStrategy, TcpKeepalive};
pub use kinds::{KindSpec, ParamSpec, ParamType, TransportKind, KINDS};
pub use phi::PhiAccrual;
pub use presets::{Amqp, Erlang, Grpc, GrpcServer, Mqtt, MqttBroker, Ssh};
pub use spec::{AgentProtocol, ParamError, StrategyKind, StrategySpec, Transport};
