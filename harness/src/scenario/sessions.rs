//! The session keys of a scenario: `[client.reconnect]` and the server
//! application's listen queue (`[server.app] backlog`, `accept_time`),
//! validated with the file, line, key and what is allowed.

use super::raw::*;
use super::{Reconnect, ReconnectMode};
use crate::source::{Ctx, ScenarioError};
use crate::units;
use std::time::Duration;

/// `[server.app] backlog` and `accept_time` (a client has no listen queue).
pub(super) fn accept_queue(
    ctx: &Ctx,
    client: Option<&RawApp>,
    server: Option<&RawApp>,
) -> Result<Option<sim::world::AcceptQueue>, ScenarioError> {
    if let Some(c) = client {
        let span = c.backlog.as_ref().map(|v| v.span()).or(c.accept_time.as_ref().map(|v| v.span()));
        if let Some(span) = span {
            let key = if c.backlog.is_some() { "client.app.backlog" } else { "client.app.accept_time" };
            return Err(ctx.error(Some(span), key, "only the server listens; allowed under [server.app]"));
        }
    }
    let Some(s) = server.filter(|s| s.backlog.is_some() || s.accept_time.is_some()) else { return Ok(None) };
    let backlog = match &s.backlog {
        Some(b) if (0..=65535).contains(b.get_ref()) => *b.get_ref() as u32,
        Some(b) => {
            return Err(ctx.error(Some(b.span()), "server.app.backlog", format!("{} is out of range; allowed: 0 to 65535", b.get_ref())))
        }
        None => 4096,
    };
    let accept_time = match &s.accept_time {
        Some(t) => {
            let d = ctx.unit(t, "server.app.accept_time", units::parse_duration)?;
            if d > Duration::from_secs(60) {
                return Err(ctx.error(Some(t.span()), "server.app.accept_time", "allowed: \"0s\" to \"1m\""));
            }
            d
        }
        None => Duration::ZERO,
    };
    Ok(Some(sim::world::AcceptQueue { backlog, accept_time }))
}

/// `[client.reconnect]`.
pub(super) fn reconnect(ctx: &Ctx, raw: &RawReconnect) -> Result<Reconnect, ScenarioError> {
    let mut r = Reconnect::default();
    if let Some(m) = &raw.mode {
        r.mode = match super::names::named::<ReconnectMode>(m.get_ref()) {
            Some(mode) => mode,
            None => {
                let other = m.get_ref();
                return Err(ctx.error(
                    Some(m.span()),
                    "client.reconnect.mode",
                    format!("\"{other}\" is not a reconnect mode; allowed: {}", super::names::allowed::<ReconnectMode>()),
                ));
            }
        };
    }
    let pause = |v: &Option<S<String>>, key: &str, default: Duration| -> Result<Duration, ScenarioError> {
        let Some(v) = v else { return Ok(default) };
        let d = ctx.unit(v, key, units::parse_duration)?;
        if d < Duration::from_millis(1) || d > Duration::from_secs(24 * 3600) {
            return Err(ctx.error(Some(v.span()), key, "allowed: from \"1ms\" to \"1d\""));
        }
        Ok(d)
    };
    r.initial_backoff = pause(&raw.initial_backoff, "client.reconnect.initial_backoff", r.initial_backoff)?;
    r.max_backoff = pause(&raw.max_backoff, "client.reconnect.max_backoff", r.max_backoff)?;
    if r.max_backoff < r.initial_backoff {
        let span = raw.max_backoff.as_ref().or(raw.initial_backoff.as_ref()).map(|v| v.span());
        return Err(ctx.error(span, "client.reconnect.max_backoff", "is shorter than initial_backoff; allowed: at least initial_backoff"));
    }
    if let Some(m) = &raw.multiplier {
        let v = *m.get_ref();
        if !(1.0..=100.0).contains(&v) {
            return Err(ctx.error(Some(m.span()), "client.reconnect.multiplier", format!("{v} is out of range; allowed: 1.0 to 100.0")));
        }
        r.multiplier = v;
    }
    if let Some(j) = &raw.jitter {
        let v = *j.get_ref();
        // 1.0 would allow a pause of zero: every client of a herd at once again.
        if !(0.0..1.0).contains(&v) {
            return Err(ctx.error(
                Some(j.span()),
                "client.reconnect.jitter",
                format!("{v} is out of range; allowed: at least 0.0 and under 1.0"),
            ));
        }
        r.jitter = v;
    }
    if let Some(t) = &raw.connect_timeout {
        r.connect_timeout = ctx.timeout(t, "client.reconnect.connect_timeout", "the kernel's")?;
    }
    Ok(r)
}
