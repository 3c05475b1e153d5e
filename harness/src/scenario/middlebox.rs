//! The middleboxes of a scenario file, validated: `[nat]` and `[proxy]`,
//! each either written out or named by a `preset` whose numbers are the
//! defaults of the keys written beside it. Apart from `build.rs` because
//! the preset merging is one job: which value wins, and what to say when a
//! key is missing or a name is unknown.

use super::presets;
use super::raw::{RawNat, RawProxy, S};
use crate::source::{Ctx, ScenarioError};
use crate::units;
use sim::nat::{NatConfig, OnExpired};
use std::time::Duration;

pub(super) fn proxy(ctx: &Ctx, raw: RawProxy) -> Result<sim::world::ProxyConfig, ScenarioError> {
    use sim::world::OnIdle;
    let preset = match &raw.preset {
        None => None,
        Some(name) => Some(presets::proxy(name.get_ref()).ok_or_else(|| {
            let allowed = presets::allowed(presets::PROXY_PRESETS.iter().map(|p| p.name));
            ctx.error(Some(name.span()), "proxy.preset", format!("\"{}\" is not a proxy preset; allowed: {allowed}", name.get_ref()))
        })?),
    };
    let per_side_key = raw.client_timeout.as_ref().or(raw.server_timeout.as_ref());
    if let (Some(_), Some(v)) = (&raw.idle_timeout, per_side_key) {
        let key = if raw.client_timeout.is_some() { "proxy.client_timeout" } else { "proxy.server_timeout" };
        return Err(ctx.error(
            Some(v.span()),
            key,
            "is not allowed beside proxy.idle_timeout; allowed: idle_timeout (one timer, a cloud load balancer's) \
             or client_timeout and server_timeout (haproxy's two)",
        ));
    }
    let side = |v: &Option<super::raw::S<String>>, key: &str, preset_value: Option<Duration>| match v {
        Some(v) => ctx.timeout(v, key, "never"),
        None => Ok(preset_value),
    };
    let (mut idle_timeout, mut client_timeout, mut server_timeout) = (None, None, None);
    match (&raw.idle_timeout, per_side_key, preset.map(|p| p.timers)) {
        (Some(v), _, _) => idle_timeout = ctx.timeout(v, "proxy.idle_timeout", "never")?,
        // Keys written in the file win; a side left out takes the preset's
        // timer for it (a one-timer preset's for both).
        (None, Some(_), timers) => {
            let (c, s) = match timers {
                Some(presets::ProxyTimers::Idle(t)) => (Some(t), Some(t)),
                Some(presets::ProxyTimers::PerSide { client, server }) => (Some(client), Some(server)),
                None => (None, None),
            };
            client_timeout = side(&raw.client_timeout, "proxy.client_timeout", c)?;
            server_timeout = side(&raw.server_timeout, "proxy.server_timeout", s)?;
        }
        (None, None, Some(presets::ProxyTimers::Idle(t))) => idle_timeout = Some(t),
        (None, None, Some(presets::ProxyTimers::PerSide { client, server })) => {
            (client_timeout, server_timeout) = (Some(client), Some(server));
        }
        (None, None, None) => {}
    }
    let preset_on_idle = preset.and_then(|p| OnIdle::ALL.iter().find(|o| o.name() == p.on_idle).copied());
    let on_idle = match &raw.on_idle {
        None => preset_on_idle.unwrap_or(OnIdle::Fin),
        Some(v) => *OnIdle::ALL.iter().find(|o| o.name() == v.get_ref()).ok_or_else(|| {
            ctx.error(
                Some(v.span()),
                "proxy.on_idle",
                format!("\"{}\" is not a proxy idle behaviour; allowed: \"fin\", \"rst\", \"silent\"", v.get_ref()),
            )
        })?,
    };
    Ok(sim::world::ProxyConfig { idle_timeout, on_idle, client_timeout, server_timeout })
}

pub(super) fn nat(ctx: &Ctx, raw: RawNat) -> Result<NatConfig, ScenarioError> {
    let preset = match &raw.preset {
        None => None,
        Some(name) => Some(presets::nat(name.get_ref()).ok_or_else(|| {
            let allowed = presets::allowed(presets::NAT_PRESETS.iter().map(|p| p.name));
            ctx.error(Some(name.span()), "nat.preset", format!("\"{}\" is not a NAT preset; allowed: {allowed}", name.get_ref()))
        })?),
    };
    let idle = match (&raw.idle_timeout, preset) {
        (Some(v), _) => {
            let idle = ctx.unit(v, "nat.idle_timeout", units::parse_duration)?;
            if idle.is_zero() {
                return Err(ctx.error(Some(v.span()), "nat.idle_timeout", "must be greater than zero"));
            }
            idle
        }
        (None, Some(p)) => p.idle_timeout,
        (None, None) => {
            return Err(ctx.error(
                None,
                "nat.idle_timeout",
                "missing; allowed: a duration such as \"350s\", or a `preset` (kasim list --presets)",
            ))
        }
    };
    let behaviour = |name: &str| match name {
        "drop" => Some(OnExpired::Drop),
        "rst" => Some(OnExpired::Rst),
        "new_port" => Some(OnExpired::NewPort),
        "loose" => Some(OnExpired::Loose),
        _ => None,
    };
    let on = match (&raw.on_expired, preset) {
        (Some(v), _) => behaviour(v.get_ref()).ok_or_else(|| {
            ctx.error(
                Some(v.span()),
                "nat.on_expired",
                format!("\"{}\" is not a NAT behaviour; allowed: \"drop\", \"rst\", \"new_port\", \"loose\"", v.get_ref()),
            )
        })?,
        (None, Some(p)) => behaviour(p.on_expired).unwrap_or(OnExpired::Drop),
        (None, None) => {
            return Err(ctx.error(
                None,
                "nat.on_expired",
                "missing; allowed: \"drop\", \"rst\", \"new_port\", \"loose\", or a `preset` (kasim list --presets)",
            ))
        }
    };
    let mut cfg = NatConfig::new(idle, on);
    if let Some(p) = preset {
        cfg.transitory_timeout = p.transitory_timeout.unwrap_or(cfg.transitory_timeout);
        cfg.udp_idle_timeout = p.udp_idle_timeout.unwrap_or(cfg.udp_idle_timeout);
    }
    if let Some(t) = &raw.transitory_timeout {
        cfg.transitory_timeout = ctx.unit(t, "nat.transitory_timeout", units::parse_duration)?;
        if cfg.transitory_timeout.is_zero() {
            return Err(ctx.error(Some(t.span()), "nat.transitory_timeout", "must be greater than zero"));
        }
    }
    if let Some(r) = raw.refresh_on_inbound {
        cfg.refresh_on_inbound = r;
    }
    let positive = |v: &S<String>, key: &str| -> Result<Duration, ScenarioError> {
        let d = ctx.unit(v, key, units::parse_duration)?;
        if d.is_zero() {
            return Err(ctx.error(Some(v.span()), key, "must be greater than zero"));
        }
        Ok(d)
    };
    if let Some(t) = &raw.udp_idle_timeout {
        cfg.udp_idle_timeout = positive(t, "nat.udp_idle_timeout")?;
    }
    cfg.udp_stream_timeout = match (&raw.udp_stream_timeout, preset.and_then(|p| p.udp_stream_timeout)) {
        (Some(t), _) => positive(t, "nat.udp_stream_timeout")?,
        // A preset's stream timer holds unless the file set the idle one (then, as without a preset).
        (None, Some(stream)) if raw.udp_idle_timeout.is_none() => stream,
        _ => cfg.udp_idle_timeout,
    };
    Ok(cfg)
}
