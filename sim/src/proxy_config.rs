//! A TCP-terminating proxy's settings: its idle timers and what it does when
//! one strikes. A leaf of the crate: the world runs the proxy, the trace
//! names its idle closes, and the harness parses `[proxy]` into it.

use crate::error::ConfigError;
use std::time::Duration;

/// What a proxy does with a client connection idle for its `idle_timeout`
/// (or, with [`ProxyConfig::client_timeout`]/[`ProxyConfig::server_timeout`],
/// once both have struck).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnIdle {
    /// Close both legs with FIN. With haproxy's two timers: FIN to the
    /// client, then FIN and RST at once to the server, as haproxy 2.6 does in
    /// TCP mode.
    Fin,
    /// Reset both legs. With haproxy's two timers (its `option nolinger`):
    /// FIN and RST at once to the client, RST to the server.
    Rst,
    /// Forget both legs without a packet; the next segment from either end meets a RST.
    Silent,
}

impl OnIdle {
    /// Every behaviour, in declaration order.
    pub const ALL: [OnIdle; 3] = [OnIdle::Fin, OnIdle::Rst, OnIdle::Silent];
    /// The name a scenario file uses (`fin`, `rst`, `silent`).
    pub fn name(self) -> &'static str {
        match self {
            OnIdle::Fin => "fin",
            OnIdle::Rst => "rst",
            OnIdle::Silent => "silent",
        }
    }
}

/// A TCP-terminating proxy (a load balancer) between the NAT and the server.
///
/// It is a host with its own Linux stack (the world's `tcp` sysctls): each
/// client connection ends at the proxy, which opens its own connection to the
/// server once the client's is established and copies bytes both ways. TCP
/// keepalive probes are answered by the stack they reach, so they never cross
/// it. When one leg ends with an error (RST, retransmission give-up) the
/// proxy resets the other. It runs no keepalive of its own.
///
/// Its idle timers come in one of two forms:
/// - one timer for the client connection (`idle_timeout`, a cloud load
///   balancer's): data either way restarts it; when it strikes, both legs
///   end as `on_idle` says. A leg's FIN is answered and the other leg reset.
/// - haproxy's two (`client_timeout`, `server_timeout`; its `timeout client`
///   and `timeout server`): data either way restarts both. Measured on
///   haproxy 2.6 in TCP mode (DESIGN.md): when only the shorter has struck,
///   the proxy half-closes: a FIN toward the *other* side (the client's
///   timeout sends a FIN to the server; the server's, to the client), and
///   data still flowing the other way restarts the longer one; when both
///   have struck (at once when they are equal), it closes as `on_idle`
///   says. A leg's FIN is passed on as a FIN, as a TCP relay does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// A client connection with no data either way for this long is closed
    /// (AWS ALB: 60 s); `None` = never. Not with the two timers below.
    pub idle_timeout: Option<Duration>,
    /// What the proxy does to both legs when that timeout strikes.
    pub on_idle: OnIdle,
    /// haproxy's `timeout client`: idle on the client's leg; `None` = never.
    pub client_timeout: Option<Duration>,
    /// haproxy's `timeout server`: idle on the server's leg; `None` = never.
    pub server_timeout: Option<Duration>,
}

impl ProxyConfig {
    /// A proxy with one idle timer (or none), as v2 had.
    pub fn idle(idle_timeout: Option<Duration>, on_idle: OnIdle) -> ProxyConfig {
        ProxyConfig { idle_timeout, on_idle, client_timeout: None, server_timeout: None }
    }

    /// Its timers are positive, and one timer or haproxy's two, not both.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, t) in [
            ("proxy.idle_timeout", self.idle_timeout),
            ("proxy.client_timeout", self.client_timeout),
            ("proxy.server_timeout", self.server_timeout),
        ] {
            if t.is_some_and(|t| t.is_zero()) {
                return Err(ConfigError::MustBePositive { field });
            }
        }
        if self.idle_timeout.is_some() && self.per_side() {
            return Err(ConfigError::Unsupported {
                what: "proxy.idle_timeout with proxy.client_timeout/server_timeout (one timer, or haproxy's two)",
            });
        }
        Ok(())
    }

    /// haproxy's two timers are in use.
    pub fn per_side(&self) -> bool {
        self.client_timeout.is_some() || self.server_timeout.is_some()
    }

    /// How long after the last data the proxy still passes a client's
    /// request on to the server (`None`: for ever): its idle timeout, or
    /// with haproxy's two timers the client's, which ends that direction
    /// (the server's alone half-closes only the way back).
    pub fn forwards_for(&self) -> Option<Duration> {
        if self.per_side() {
            self.client_timeout
        } else {
            self.idle_timeout
        }
    }
}
