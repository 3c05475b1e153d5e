//! The middleboxes of a scenario file, validated: `[nat]` and `[proxy]`, or
//! a `[[middlebox]]` chain of them, each either written out or named by a
//! `preset` whose numbers are the defaults of the keys written beside it.
//! Apart from `build.rs` because the preset merging is one job: which value
//! wins, and what to say when a key is missing or a name is unknown.

use super::names;
use super::presets;
use super::raw::{RawMiddlebox, RawNat, RawProxy, S};
use crate::source::{Ctx, ScenarioError};
use crate::units;
use sim::nat::{InsideHosts, NatConfig, OnExpired};
use sim::world::Middlebox;
use std::time::Duration;

pub(super) fn proxy(ctx: &Ctx, raw: RawProxy, prefix: &str) -> Result<sim::proxy_config::ProxyConfig, ScenarioError> {
    let key = |k: &str| format!("{prefix}.{k}");
    use sim::proxy_config::OnIdle;
    let preset = match &raw.preset {
        None => None,
        Some(name) => Some(presets::proxy(name.get_ref()).ok_or_else(|| {
            let allowed = presets::allowed(presets::PROXY_PRESETS.iter().map(|p| p.name));
            ctx.error(Some(name.span()), key("preset"), format!("\"{}\" is not a proxy preset; allowed: {allowed}", name.get_ref()))
        })?),
    };
    let per_side_key = raw.client_timeout.as_ref().or(raw.server_timeout.as_ref());
    if let (Some(_), Some(v)) = (&raw.idle_timeout, per_side_key) {
        let which = if raw.client_timeout.is_some() { key("client_timeout") } else { key("server_timeout") };
        return Err(ctx.error(
            Some(v.span()),
            which,
            format!(
                "is not allowed beside {}; allowed: idle_timeout (one timer, a cloud load balancer's) \
             or client_timeout and server_timeout (haproxy's two)",
                key("idle_timeout")
            ),
        ));
    }
    let side = |v: &Option<super::raw::S<String>>, key: &str, preset_value: Option<Duration>| match v {
        Some(v) => ctx.timeout(v, key, "never"),
        None => Ok(preset_value),
    };
    let (mut idle_timeout, mut client_timeout, mut server_timeout) = (None, None, None);
    match (&raw.idle_timeout, per_side_key, preset.map(|p| p.timers)) {
        (Some(v), _, _) => idle_timeout = ctx.timeout(v, &key("idle_timeout"), "never")?,
        // Keys written in the file win; a side left out takes the preset's
        // timer for it (a one-timer preset's for both).
        (None, Some(_), timers) => {
            let (c, s) = match timers {
                Some(presets::ProxyTimers::Idle(t)) => (Some(t), Some(t)),
                Some(presets::ProxyTimers::PerSide { client, server }) => (Some(client), Some(server)),
                None => (None, None),
            };
            client_timeout = side(&raw.client_timeout, &key("client_timeout"), c)?;
            server_timeout = side(&raw.server_timeout, &key("server_timeout"), s)?;
        }
        (None, None, Some(presets::ProxyTimers::Idle(t))) => idle_timeout = Some(t),
        (None, None, Some(presets::ProxyTimers::PerSide { client, server })) => {
            (client_timeout, server_timeout) = (Some(client), Some(server));
        }
        (None, None, None) => {}
    }
    let preset_on_idle = preset.and_then(|p| names::named::<OnIdle>(p.on_idle));
    let on_idle = match &raw.on_idle {
        None => preset_on_idle.unwrap_or(OnIdle::Fin),
        Some(v) => names::named::<OnIdle>(v.get_ref()).ok_or_else(|| {
            ctx.error(
                Some(v.span()),
                key("on_idle"),
                format!("\"{}\" is not a proxy idle behaviour; allowed: {}", v.get_ref(), names::allowed::<OnIdle>()),
            )
        })?,
    };
    Ok(sim::proxy_config::ProxyConfig { idle_timeout, on_idle, client_timeout, server_timeout })
}

pub(super) fn nat(ctx: &Ctx, raw: RawNat, prefix: &str) -> Result<NatConfig, ScenarioError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let preset = match &raw.preset {
        None => None,
        Some(name) => Some(presets::nat(name.get_ref()).ok_or_else(|| {
            ctx.error(Some(name.span()), key("preset"), format!("\"{}\" is not a NAT preset; allowed: {}", name.get_ref(), nat_presets()))
        })?),
    };
    let idle = match (&raw.idle_timeout, preset) {
        (Some(v), _) => {
            let idle = ctx.unit(v, &key("idle_timeout"), units::parse_duration)?;
            if idle.is_zero() {
                return Err(ctx.error(Some(v.span()), key("idle_timeout"), "must be greater than zero"));
            }
            idle
        }
        (None, Some(p)) => p.idle_timeout,
        (None, None) => {
            return Err(ctx.error(
                None,
                key("idle_timeout"),
                "missing; allowed: a duration such as \"350s\", or a `preset` (kasim list --presets)",
            ))
        }
    };
    let behaviour = names::named::<OnExpired>;
    let on = match (&raw.on_expired, preset) {
        (Some(v), _) => behaviour(v.get_ref()).ok_or_else(|| {
            ctx.error(
                Some(v.span()),
                key("on_expired"),
                format!("\"{}\" is not a NAT behaviour; allowed: {}", v.get_ref(), names::allowed::<OnExpired>()),
            )
        })?,
        (None, Some(p)) => behaviour(p.on_expired).unwrap_or(OnExpired::Drop),
        (None, None) => {
            return Err(ctx.error(
                None,
                key("on_expired"),
                format!("missing; allowed: {}, or a `preset` (kasim list --presets)", names::allowed::<OnExpired>()),
            ))
        }
    };
    let mut cfg = NatConfig::new(idle, on);
    if let Some(p) = preset {
        cfg.transitory_timeout = p.transitory_timeout.unwrap_or(cfg.transitory_timeout);
        cfg.udp_idle_timeout = p.udp_idle_timeout.unwrap_or(cfg.udp_idle_timeout);
    }
    if let Some(t) = &raw.transitory_timeout {
        cfg.transitory_timeout = ctx.unit(t, &key("transitory_timeout"), units::parse_duration)?;
        if cfg.transitory_timeout.is_zero() {
            return Err(ctx.error(Some(t.span()), key("transitory_timeout"), "must be greater than zero"));
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
        cfg.udp_idle_timeout = positive(t, &key("udp_idle_timeout"))?;
    }
    cfg.udp_stream_timeout = match (&raw.udp_stream_timeout, preset.and_then(|p| p.udp_stream_timeout)) {
        (Some(t), _) => positive(t, &key("udp_stream_timeout"))?,
        // A preset's stream timer holds unless the file set the idle one (then, as without a preset).
        (None, Some(stream)) if raw.udp_idle_timeout.is_none() => stream,
        _ => cfg.udp_idle_timeout,
    };
    if let Some(n) = &raw.public_addresses {
        let max = i64::from(sim::nat::MAX_PUBLIC_ADDRESSES);
        if !(1..=max).contains(n.get_ref()) {
            return Err(ctx.error(Some(n.span()), key("public_addresses"), format!("{} is out of range; allowed: 1..={max}", n.get_ref())));
        }
        cfg.public_addresses = *n.get_ref() as u16;
    }
    Ok(cfg)
}

/// Every connection holds one of its outside address's 64 512 ports: refuse
/// a NAT whose busiest address would need more, naming the least pool that
/// fits (`span`: where `public_addresses` was written, if it was).
fn check_nat_capacity(
    ctx: &Ctx,
    n: &NatConfig,
    key: String,
    span: Option<std::ops::Range<usize>>,
    inside: InsideHosts,
) -> Result<(), ScenarioError> {
    if inside.fits(n.public_addresses) {
        return Ok(());
    }
    let load = inside.per_address(n.public_addresses);
    let needed = (1..=sim::nat::MAX_PUBLIC_ADDRESSES).find(|&k| inside.fits(k));
    Err(ctx.error(
        span,
        key,
        format!(
            "{} address(es) would carry {load} connections on the busiest (each has 64512 ports; a host's flows all leave from one address); allowed: {}",
            n.public_addresses,
            match needed {
                Some(k) => format!("public_addresses = {k} or more"),
                None => format!("none suffices: its {} inside host(s) hold {} connections each", inside.hosts, inside.per_host),
            }
        ),
    ))
}

/// A proxy needs a backend port for each connection.
fn check_proxy_capacity(ctx: &Ctx, slots: u64, connections: Option<std::ops::Range<usize>>) -> Result<(), ScenarioError> {
    if slots <= sim::nat::PORTS_PER_ADDRESS {
        return Ok(());
    }
    Err(ctx.error(
        connections,
        "client.connections",
        format!("{slots} connections behind a proxy; allowed: at most 64512 (the proxy needs a backend port for each)"),
    ))
}

/// The path's boxes from the clients, and whether the file wrote them as a
/// `[[middlebox]]` chain. Each NAT of a chain gets its own public address
/// (the first keeps `[nat]`'s, so a chain of one NAT runs as `[nat]` does).
/// `clients` hosts of `per_client` connections each (`client.connections`
/// written at `connections`): every NAT and proxy on the path must have
/// ports for them.
pub(super) fn path(
    ctx: &Ctx,
    raw_nat: Option<RawNat>,
    raw_proxy: Option<RawProxy>,
    chain: Vec<RawMiddlebox>,
    (clients, per_client, connections): (u32, u32, Option<std::ops::Range<usize>>),
) -> Result<(Vec<Middlebox>, bool), ScenarioError> {
    let pool_span = |n: &Option<S<i64>>| n.as_ref().map(|v| v.span());
    let mut inside = InsideHosts { hosts: u64::from(clients), per_host: u64::from(per_client) };
    let slots = inside.hosts * inside.per_host;
    if chain.is_empty() {
        let span = raw_nat.as_ref().and_then(|n| pool_span(&n.public_addresses));
        let nat = raw_nat.map(|n| nat(ctx, n, "nat")).transpose()?;
        if let Some(n) = &nat {
            check_nat_capacity(ctx, n, "nat.public_addresses".into(), span, inside)?;
        }
        let proxy = raw_proxy.map(|p| proxy(ctx, p, "proxy")).transpose()?.map(Middlebox::Proxy);
        if proxy.is_some() {
            check_proxy_capacity(ctx, slots, connections.clone())?;
        }
        return Ok((nat.map(Middlebox::Nat).into_iter().chain(proxy).collect(), false));
    }
    if raw_nat.is_some() || raw_proxy.is_some() {
        let table = if raw_nat.is_some() { "nat" } else { "proxy" };
        return Err(ctx.error(
            chain.first().map(|m| m.kind.span()),
            "middlebox",
            format!("is not allowed beside [{table}]; allowed: [nat] and [proxy], or a [[middlebox]] chain instead of both"),
        ));
    }
    if chain.len() > sim::world::MAX_MIDDLEBOXES {
        return Err(ctx.error(
            chain.get(sim::world::MAX_MIDDLEBOXES).map(|m| m.kind.span()),
            "middlebox",
            format!("has {} boxes; allowed: at most {}", chain.len(), sim::world::MAX_MIDDLEBOXES),
        ));
    }
    let mut boxes = Vec::with_capacity(chain.len());
    let mut proxy_at: Option<usize> = None;
    for (k, m) in chain.into_iter().enumerate() {
        let prefix = format!("middlebox[{k}]");
        let kind_span = m.kind.span();
        match m.kind.get_ref().as_str() {
            "nat" => {
                let span = pool_span(&m.public_addresses);
                let mut cfg = nat(ctx, into_nat(ctx, m, &prefix)?, &prefix)?;
                check_nat_capacity(ctx, &cfg, format!("{prefix}.public_addresses"), span, inside)?;
                inside = inside.behind_nat(cfg.public_addresses);
                // After the addresses of the NATs before it (one each unless pooled).
                let before: u32 = boxes
                    .iter()
                    .map(|b| match b {
                        Middlebox::Nat(n) => u32::from(n.public_addresses),
                        Middlebox::Proxy(_) => 0,
                    })
                    .sum();
                cfg.public_ip = public_ip(before);
                boxes.push(Middlebox::Nat(cfg));
            }
            "proxy" => {
                if let Some(first) = proxy_at {
                    return Err(ctx.error(
                        Some(kind_span),
                        format!("{prefix}.kind"),
                        format!("a second proxy (middlebox[{first}] is one); allowed: at most one kind = \"proxy\" per chain"),
                    ));
                }
                proxy_at = Some(k);
                check_proxy_capacity(ctx, slots, connections.clone())?;
                inside = inside.behind_proxy();
                boxes.push(Middlebox::Proxy(proxy(ctx, into_proxy(ctx, m, &prefix)?, &prefix)?));
            }
            other => {
                return Err(ctx.error(
                    Some(kind_span),
                    format!("{prefix}.kind"),
                    format!("\"{other}\" is not a middlebox kind; allowed: \"nat\", \"proxy\""),
                ))
            }
        }
    }
    Ok((boxes, true))
}

/// The first public address of a chain's NAT that follows `before`
/// addresses of NATs in front of it: `[nat]`'s for the first, then the next
/// addresses of the same documentation range (RFC 5737).
fn public_ip(before: u32) -> std::net::Ipv4Addr {
    let first = u32::from(sim::packet::addr::NAT_PUBLIC_IP);
    std::net::Ipv4Addr::from(first + before)
}

/// A key written on a box of the other kind: where, and which.
fn foreign(ctx: &Ctx, prefix: &str, kind: &str, keys: &[(&str, Option<std::ops::Range<usize>>)]) -> Result<(), ScenarioError> {
    match keys.iter().find(|(_, span)| span.is_some()) {
        Some((k, span)) => Err(ctx.error(
            span.clone(),
            format!("{prefix}.{k}"),
            format!("is not a key of a kind = \"{kind}\" box; allowed: the keys of [{kind}] (see `kasim schema`)"),
        )),
        None => Ok(()),
    }
}

fn into_nat(ctx: &Ctx, m: RawMiddlebox, prefix: &str) -> Result<RawNat, ScenarioError> {
    let span = |v: &Option<S<String>>| v.as_ref().map(|v| v.span());
    foreign(
        ctx,
        prefix,
        "nat",
        &[("client_timeout", span(&m.client_timeout)), ("server_timeout", span(&m.server_timeout)), ("on_idle", span(&m.on_idle))],
    )?;
    let preset = match m.preset {
        Some(p) if presets::nat(p.get_ref()).is_none() && presets::proxy(p.get_ref()).is_some() => {
            return Err(ctx.error(
                Some(p.span()),
                format!("{prefix}.preset"),
                format!("\"{}\" is a proxy preset; write kind = \"proxy\", or allowed: {}", p.get_ref(), nat_presets()),
            ))
        }
        p => p,
    };
    Ok(RawNat {
        preset,
        idle_timeout: m.idle_timeout,
        on_expired: m.on_expired,
        transitory_timeout: m.transitory_timeout,
        refresh_on_inbound: m.refresh_on_inbound.map(S::into_inner),
        udp_idle_timeout: m.udp_idle_timeout,
        udp_stream_timeout: m.udp_stream_timeout,
        public_addresses: m.public_addresses,
    })
}

fn into_proxy(ctx: &Ctx, m: RawMiddlebox, prefix: &str) -> Result<RawProxy, ScenarioError> {
    let span = |v: &Option<S<String>>| v.as_ref().map(|v| v.span());
    foreign(
        ctx,
        prefix,
        "proxy",
        &[
            ("on_expired", span(&m.on_expired)),
            ("transitory_timeout", span(&m.transitory_timeout)),
            ("refresh_on_inbound", m.refresh_on_inbound.as_ref().map(|v| v.span())),
            ("udp_idle_timeout", span(&m.udp_idle_timeout)),
            ("udp_stream_timeout", span(&m.udp_stream_timeout)),
            ("public_addresses", m.public_addresses.as_ref().map(|v| v.span())),
        ],
    )?;
    let preset = match m.preset {
        Some(p) if presets::proxy(p.get_ref()).is_none() && presets::nat(p.get_ref()).is_some() => {
            let allowed = presets::allowed(presets::PROXY_PRESETS.iter().map(|p| p.name));
            return Err(ctx.error(
                Some(p.span()),
                format!("{prefix}.preset"),
                format!("\"{}\" is a NAT-like box's preset; write kind = \"nat\", or allowed: {allowed}", p.get_ref()),
            ));
        }
        p => p,
    };
    Ok(RawProxy {
        preset,
        idle_timeout: m.idle_timeout,
        client_timeout: m.client_timeout,
        server_timeout: m.server_timeout,
        on_idle: m.on_idle,
    })
}

fn nat_presets() -> String {
    presets::allowed(presets::NAT_PRESETS.iter().map(|p| p.name))
}
