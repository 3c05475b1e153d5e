//! A TCP-terminating proxy's settings: its idle timers and what it does when
//! one strikes. A leaf of the crate: the world runs the proxy, the trace
//! names its idle closes, and the harness parses `[proxy]` into it.
//!
//! The proxy's decisions (which timer runs after data, what each leg gets
//! when a timer strikes, whether a leg's FIN is passed on) are made here,
//! as pure functions of the settings, so that the event engine's proxy and
//! the relay that kasim's agent runs on real sockets under `--engine netns`
//! are one model, not two.

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

    /// The idle timer that data either way (re)starts on a client
    /// connection: the one timer; with haproxy's two, the shorter, or after
    /// the shorter has half-closed the connection, the longer. `None`: no
    /// timer runs.
    pub fn idle_timer(&self, half_closed: bool) -> Option<Duration> {
        if self.per_side() {
            let (first, last) = shorter_longer(self.client_timeout, self.server_timeout);
            if half_closed {
                last
            } else {
                first
            }
        } else {
            self.idle_timeout
        }
    }

    /// What the proxy does when the idle timer of a client connection
    /// strikes (`half_closed`: the shorter of haproxy's two already did).
    pub fn on_idle_timer(&self, half_closed: bool) -> IdleAction {
        if self.per_side() && !half_closed && self.client_timeout != self.server_timeout {
            let (shorter, longer) = shorter_longer(self.client_timeout, self.server_timeout);
            // The client's timer ends what the client sends: the FIN goes to the server.
            let toward_server = shorter == self.client_timeout;
            let then = match (shorter, longer) {
                (Some(s), Some(l)) => Some(l - s),
                _ => None,
            };
            return IdleAction::HalfClose { toward_server, then };
        }
        let leg = |toward_client: bool| match self.on_idle {
            // haproxy's close, measured: FIN to the client; FIN then RST at
            // once to the server (with nolinger, RST there alone).
            OnIdle::Fin | OnIdle::Rst if self.per_side() => LegClose {
                fin: toward_client || self.on_idle == OnIdle::Fin,
                rst: !toward_client || self.on_idle == OnIdle::Rst,
                forget: false,
            },
            OnIdle::Fin => LegClose { fin: true, rst: false, forget: false },
            OnIdle::Rst => LegClose { fin: false, rst: true, forget: false },
            OnIdle::Silent => LegClose { fin: false, rst: false, forget: true },
        };
        IdleAction::Close { front: leg(true), back: leg(false) }
    }

    /// A leg's FIN is passed on to the other leg as a FIN (a TCP relay:
    /// haproxy's two timers); otherwise the leg is closed and the other reset.
    pub fn passes_fin_on(&self) -> bool {
        self.per_side()
    }
}

/// What a proxy's idle timer does to a client connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleAction {
    /// The shorter of haproxy's two timers struck alone: a FIN toward one
    /// side (`toward_server`: to the server, else to the client); the longer
    /// timer strikes `then` after (`None`: never).
    HalfClose {
        /// The FIN goes on the server's leg.
        toward_server: bool,
        /// How long after this the longer timer strikes, with no more data.
        then: Option<Duration>,
    },
    /// Both legs end: the client's as `front` says, the server's as `back`
    /// says (with haproxy's two timers the client's packets leave first;
    /// with one timer the server's leg is pumped first).
    Close {
        /// The leg toward the client.
        front: LegClose,
        /// The leg toward the server.
        back: LegClose,
    },
}

/// How the proxy ends one leg on purpose. `fin` and `rst` together: a FIN,
/// then at once a RST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegClose {
    /// Close with a FIN.
    pub fin: bool,
    /// Reset (after the FIN, if both).
    pub rst: bool,
    /// Forget the leg without a packet.
    pub forget: bool,
}

/// haproxy's two timers in the order they strike (`None`: never, so last).
fn shorter_longer(a: Option<Duration>, b: Option<Duration>) -> (Option<Duration>, Option<Duration>) {
    match (a, b) {
        (Some(x), Some(y)) => (Some(x.min(y)), Some(x.max(y))),
        (Some(x), None) | (None, Some(x)) => (Some(x), None),
        (None, None) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn haproxy(client: u64, server: u64, on_idle: OnIdle) -> ProxyConfig {
        ProxyConfig {
            idle_timeout: None,
            on_idle,
            client_timeout: Some(Duration::from_secs(client)),
            server_timeout: Some(Duration::from_secs(server)),
        }
    }

    /// haproxy 2.6, `timeout client 5s`, `timeout server 10s` (DESIGN.md):
    /// the 5 s timer runs first, half-closes toward the server, and the
    /// 10 s one strikes 5 s later with no more data; then FIN to the
    /// client, FIN and RST to the server.
    #[test]
    fn haproxys_two_timers_half_close_then_close() {
        let p = haproxy(5, 10, OnIdle::Fin);
        assert_eq!(p.idle_timer(false), Some(Duration::from_secs(5)));
        assert_eq!(p.idle_timer(true), Some(Duration::from_secs(10)));
        assert_eq!(p.on_idle_timer(false), IdleAction::HalfClose { toward_server: true, then: Some(Duration::from_secs(5)) });
        let fin = LegClose { fin: true, rst: false, forget: false };
        let fin_rst = LegClose { fin: true, rst: true, forget: false };
        assert_eq!(p.on_idle_timer(true), IdleAction::Close { front: fin, back: fin_rst });
        // The server's timer shorter: the FIN goes to the client.
        assert_eq!(
            haproxy(10, 5, OnIdle::Fin).on_idle_timer(false),
            IdleAction::HalfClose { toward_server: false, then: Some(Duration::from_secs(5)) }
        );
        // Equal timers close at once; nolinger resets the client's leg after its FIN.
        assert_eq!(haproxy(5, 5, OnIdle::Fin).on_idle_timer(false), IdleAction::Close { front: fin, back: fin_rst });
        let rst = LegClose { fin: false, rst: true, forget: false };
        assert_eq!(haproxy(5, 5, OnIdle::Rst).on_idle_timer(false), IdleAction::Close { front: fin_rst, back: rst });
        assert!(p.passes_fin_on());
    }

    /// One timer (a cloud load balancer's): both legs end alike, and a
    /// leg's FIN is not passed on.
    #[test]
    fn one_timer_ends_both_legs_alike() {
        let alb = ProxyConfig::idle(Some(Duration::from_secs(60)), OnIdle::Silent);
        assert_eq!(alb.idle_timer(false), Some(Duration::from_secs(60)));
        let forget = LegClose { fin: false, rst: false, forget: true };
        assert_eq!(alb.on_idle_timer(false), IdleAction::Close { front: forget, back: forget });
        assert!(!alb.passes_fin_on());
        assert_eq!(ProxyConfig::idle(None, OnIdle::Fin).idle_timer(false), None);
    }
}
