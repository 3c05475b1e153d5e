//! Validation: raw values to a [`Scenario`], with units converted, ranges
//! and cross-references checked, and every error naming its span and key.

use super::load::{MAX_HORIZON, MAX_LINK_DELAY, MIN_TRAFFIC_GAP};
use super::names;
use super::raw::*;
use super::sessions::{accept_queue, reconnect};
use super::*;
use crate::source::{Ctx, ScenarioError};
use crate::strategy::{StrategyKind, StrategySpec, Transport};
use crate::units::{self, RandomTime};
use sim::tcp::TcpConfig;
use sim::timer::TimerModel;
use sim::world::{AccessLink, Middlebox};
use sim::Side;
use std::time::Duration;

/// `also`: names of strategies supplied in code (a library user's), which
/// `[[expect]]`s may name beside the file's own.
pub(super) fn build(ctx: &Ctx, raw: RawScenario, also: &[&str]) -> Result<Scenario, ScenarioError> {
    let name = raw.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(ctx.error(Some(raw.name.span()), "name", "must not be empty"));
    }
    // It reaches terminals, file names and reports: no control characters (ANSI escapes).
    if name.chars().any(char::is_control) {
        return Err(ctx.error(Some(raw.name.span()), "name", "has control characters; allowed: printable text"));
    }
    let horizon = ctx.unit(&raw.horizon, "horizon", units::parse_duration)?;
    if horizon.is_zero() {
        return Err(ctx.error(Some(raw.horizon.span()), "horizon", "must be greater than zero"));
    }
    if horizon > MAX_HORIZON {
        return Err(ctx.error(Some(raw.horizon.span()), "horizon", "is longer than a year; allowed: up to 365d"));
    }
    let base_seed = raw.base_seed.as_ref().map_or(0, |b| *b.get_ref());
    let seeds_given = raw.seeds.as_ref().map_or(1, |s| *s.get_ref());
    if base_seed.checked_add(seeds_given.max(1) as u64 - 1).is_none() {
        return Err(ctx.error(
            raw.base_seed.as_ref().map(|b| b.span()),
            "base_seed",
            format!("{base_seed} + {seeds_given} seeds passes the largest seed; allowed: base_seed + seeds - 1 <= 18446744073709551615"),
        ));
    }
    let seeds = match &raw.seeds {
        None => 1,
        Some(s) if *s.get_ref() >= 1 && *s.get_ref() <= 1_000_000 => *s.get_ref() as u64,
        Some(s) => return Err(ctx.error(Some(s.span()), "seeds", format!("{} is out of range; allowed: 1..=1000000", s.get_ref()))),
    };
    let count = |v: &Option<S<i64>>, key: &str, max: u32| match v {
        None => Ok(1),
        Some(n) if (1..=i64::from(max)).contains(n.get_ref()) => Ok(*n.get_ref() as u32),
        Some(n) => Err(ctx.error(Some(n.span()), key, format!("{} is out of range; allowed: 1..={max}", n.get_ref()))),
    };
    let connections_span = raw.client.as_ref().and_then(|c| c.connections.as_ref().or(c.count.as_ref()).map(|v| v.span()));
    let (clients, connections) = match &raw.client {
        None => (1, 1),
        Some(c) => {
            let pair = (
                count(&c.count, "client.count", sim::world::MAX_CLIENTS)?,
                count(&c.connections, "client.connections", sim::world::MAX_CONNECTIONS_PER_CLIENT)?,
            );
            if pair.0 * pair.1 > sim::world::MAX_SLOTS {
                let span = c.connections.as_ref().or(c.count.as_ref()).map(|v| v.span());
                return Err(ctx.error(
                    span,
                    "client.connections",
                    format!(
                        "{} clients x {} connections = {} connections; allowed: at most {} in all",
                        pair.0,
                        pair.1,
                        pair.0 * pair.1,
                        sim::world::MAX_SLOTS
                    ),
                ));
            }
            pair
        }
    };
    let idle = |app: Option<&RawApp>, key: &str| -> Result<Option<Duration>, ScenarioError> {
        let Some(v) = app.and_then(|a| a.idle_timeout.as_ref()) else { return Ok(None) };
        ctx.timeout(v, key, "never")
    };
    let client_idle_timeout = idle(raw.client.as_ref().and_then(|c| c.app.as_ref()), "client.app.idle_timeout")?;
    let accept = accept_queue(ctx, raw.client.as_ref().and_then(|c| c.app.as_ref()), raw.server.as_ref().and_then(|s| s.app.as_ref()))?;
    let server_idle_timeout = idle(raw.server.as_ref().and_then(|c| c.app.as_ref()), "server.app.idle_timeout")?;
    let reconnect = raw.client.as_ref().and_then(|c| c.reconnect.as_ref()).map(|r| reconnect(ctx, r)).transpose()?;
    let client_os = super::os::parse(ctx, raw.client.as_ref().and_then(|c| c.os.as_ref()), "client.os")?;
    let server_os = super::os::parse(ctx, raw.server.as_ref().and_then(|c| c.os.as_ref()), "server.os")?;
    let client_link = access_link(ctx, raw.client.and_then(|h| h.link), "client.link")?;
    let server_link = access_link(ctx, raw.server.and_then(|h| h.link), "server.link")?;
    let fleet = (clients, connections, connections_span);
    let (middleboxes, chained) = super::middlebox::path(ctx, raw.nat, raw.proxy, raw.middlebox, fleet)?;
    let tcp = tcp(ctx, raw.tcp)?;
    let traffic = raw.traffic.iter().enumerate().map(|(i, t)| traffic(ctx, i, t, horizon)).collect::<Result<Vec<_>, _>>()?;
    let mut warnings = Vec::new();
    let faults = raw
        .fault
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let around = Around { horizon, middleboxes: &middleboxes, chained, clients };
            fault(ctx, i, f, &around, &mut warnings)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if raw.strategy.is_empty() {
        return Err(ctx.error(None, "strategy", "at least one [[strategy]] is required"));
    }
    let mut strategies: Vec<StrategySpec> = Vec::new();
    for (i, spanned) in raw.strategy.iter().enumerate() {
        let table = spanned.get_ref();
        let mut spec = super::strategies::parse_spec(ctx, i, table, spanned.span())?;
        super::os::keepalive_defaults(ctx, i, table, &mut spec, [client_os, server_os])?;
        if strategies.iter().any(|s| s.name == spec.name) {
            let span = table.get("name").map(|v| v.span());
            return Err(ctx.error(
                span,
                format!("strategy[{i}].name"),
                format!("\"{}\" is used twice; strategy names must be unique", spec.name),
            ));
        }
        // QUIC runs end to end over UDP: no TCP proxy to cross, no TCP listen queue.
        let proxy = middleboxes.iter().find(|m| matches!(m, Middlebox::Proxy(_)));
        let datagrams = spec.transport() != Transport::Tcp;
        let clash = match (datagrams, proxy, &accept) {
            (true, Some(_), _) => Some(if chained {
                "the chain's proxy terminates TCP; a quic or udp_keepalive strategy needs a topology without it"
            } else {
                "[proxy] terminates TCP; a quic or udp_keepalive strategy needs a topology without it"
            }),
            (true, _, Some(_)) => {
                Some("[server.app] backlog is TCP's listen queue; a quic or udp_keepalive strategy needs a topology without it")
            }
            _ => None,
        };
        if let Some(why) = clash {
            return Err(ctx.error(table.get("kind").map(|v| v.span()), format!("strategy[{i}].kind"), why));
        }
        // A tunnel hands a message to the link as all its datagrams at once
        // (there is no send window to pace it): keep messages to what a
        // tunnel's application would send in one go.
        if matches!(spec.kind(), StrategyKind::UdpKeepalive { .. }) {
            if let Some((t, _)) = traffic.iter().enumerate().find(|(_, t)| t.size.max(t.reply) > MAX_TUNNEL_MESSAGE) {
                return Err(ctx.error(
                    table.get("kind").map(|v| v.span()),
                    format!("strategy[{i}].kind"),
                    format!("traffic[{t}] sends messages over 64MiB; over a udp_keepalive tunnel allowed: at most 64MiB per message"),
                ));
            }
        }
        strategies.push(spec);
    }
    let expects = raw.expect.iter().enumerate().map(|(i, e)| expect(ctx, i, e, &strategies, also)).collect::<Result<Vec<_>, _>>()?;
    Ok(Scenario {
        path: ctx.file.to_path_buf(),
        name,
        description: raw.description.trim().to_string(),
        horizon,
        seeds,
        base_seed,
        clients,
        connections,
        client_idle_timeout,
        server_idle_timeout,
        accept,
        reconnect,
        client_link,
        server_link,
        middleboxes,
        chained,
        tcp,
        client_os,
        server_os,
        traffic,
        faults,
        strategies,
        expects,
        warnings,
    })
}

fn access_link(ctx: &Ctx, raw: Option<RawLink>, prefix: &str) -> Result<AccessLink, ScenarioError> {
    let mut link = AccessLink::default();
    let Some(raw) = raw else { return Ok(link) };
    let rate = |v: &Option<S<String>>, key: &str| -> Result<Option<u64>, ScenarioError> {
        let Some(v) = v else { return Ok(None) };
        let r = ctx.unit(v, key, units::parse_rate)?;
        if r == 0 {
            return Err(ctx.error(Some(v.span()), key, "a link rate must be greater than zero"));
        }
        Ok(Some(r))
    };
    if let Some(r) = rate(&raw.up, &format!("{prefix}.up"))? {
        link.up.rate_bps = r;
    }
    if let Some(r) = rate(&raw.down, &format!("{prefix}.down"))? {
        link.down.rate_bps = r;
    }
    if let Some(v) = &raw.delay {
        let d = ctx.unit(v, &format!("{prefix}.delay"), units::parse_duration)?;
        if d > MAX_LINK_DELAY {
            return Err(ctx.error(
                Some(v.span()),
                format!("{prefix}.delay"),
                format!("{} is longer than any link; allowed: up to 1m (a geostationary hop is 0.25s)", units::format_duration(d)),
            ));
        }
        link.up.delay = d;
        link.down.delay = d;
    }
    if let Some(q) = &raw.queue {
        let key = format!("{prefix}.queue");
        let bytes = ctx.unit(q, &key, units::parse_size)?;
        if bytes < 1600 {
            return Err(ctx.error(Some(q.span()), key, "must hold at least one full packet; allowed: \"1600B\" or more"));
        }
        link.up.queue_bytes = bytes;
        link.down.queue_bytes = bytes;
    }
    if let Some(l) = &raw.loss {
        let p = *l.get_ref();
        if !(0.0..1.0).contains(&p) {
            return Err(ctx.error(
                Some(l.span()),
                format!("{prefix}.loss"),
                format!("{p} is out of range; allowed: a probability in [0, 1)"),
            ));
        }
        link.up.loss = p;
        link.down.loss = p;
    }
    Ok(link)
}

/// The largest message a datagram tunnel carries (about 47 000 datagrams).
const MAX_TUNNEL_MESSAGE: u64 = 64 << 20;

fn tcp(ctx: &Ctx, raw: Option<RawTcp>) -> Result<TcpConfig, ScenarioError> {
    let mut cfg = TcpConfig::default();
    let Some(raw) = raw else { return Ok(cfg) };
    if let Some(r) = &raw.retries2 {
        if !(0..=255).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.retries2", format!("{} is out of range; allowed: 0..=255", r.get_ref())));
        }
        cfg.retries2 = *r.get_ref() as u32;
    }
    if let Some(r) = &raw.syn_retries {
        if !(1..=127).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.syn_retries", format!("{} is out of range; allowed: 1..=127", r.get_ref())));
        }
        cfg.syn_retries = *r.get_ref() as u32;
    }
    if let Some(r) = &raw.syn_linear_timeouts {
        if !(0..=127).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.syn_linear_timeouts", format!("{} is out of range; allowed: 0..=127", r.get_ref())));
        }
        cfg.syn_linear_timeouts = *r.get_ref() as u32;
    }
    if let Some(r) = &raw.synack_retries {
        if !(0..=255).contains(r.get_ref()) {
            return Err(ctx.error(Some(r.span()), "tcp.synack_retries", format!("{} is out of range; allowed: 0..=255", r.get_ref())));
        }
        cfg.synack_retries = *r.get_ref() as u32;
    }
    if let Some(r) = &raw.no_metrics_save {
        if !(0..=1).contains(r.get_ref()) {
            return Err(ctx.error(
                Some(r.span()),
                "tcp.no_metrics_save",
                format!("{} is out of range; allowed: 0 (save, Linux's default) or 1", r.get_ref()),
            ));
        }
        cfg.no_metrics_save = *r.get_ref() == 1;
    }
    if let Some(t) = &raw.timers {
        cfg.timers = match t.get_ref().as_str() {
            "linux" => TimerModel::default(),
            "exact" => TimerModel::Exact,
            other => {
                return Err(ctx.error(
                    Some(t.span()),
                    "tcp.timers",
                    format!("\"{other}\" is not a timer model; allowed: \"linux\", \"exact\""),
                ))
            }
        };
    }
    Ok(cfg)
}

fn traffic(ctx: &Ctx, i: usize, raw: &RawTraffic, horizon: Duration) -> Result<Traffic, ScenarioError> {
    let key = |k: &str| format!("traffic[{i}].{k}");
    let kind = match names::named::<TrafficKind>(raw.kind.get_ref()) {
        Some(kind) => kind,
        None => {
            let other = raw.kind.get_ref();
            return Err(ctx.error(
                Some(raw.kind.span()),
                key("kind"),
                format!("\"{other}\" is not a traffic kind; allowed: {}", names::allowed::<TrafficKind>()),
            ));
        }
    };
    let from = match (&raw.from, kind) {
        (Some(f), TrafficKind::Requests) => side_of(ctx, f, &key("from"))?,
        (Some(f), _) => {
            return Err(ctx.error(
                Some(f.span()),
                key("from"),
                "only `requests` takes `from`; uploads go client -> server, downloads server -> client",
            ))
        }
        (None, TrafficKind::Download) => Side::Server,
        (None, _) => Side::Client,
    };
    let schedule = match (&raw.every, &raw.at) {
        (Some(e), None) => {
            let t = ctx.unit(e, &key("every"), RandomTime::parse)?;
            // The typical gap (the value, the mean, the upper end) must be at
            // least a millisecond: "1ns" would queue 10^13 writes a day.
            let typical = match t {
                RandomTime::Fixed(d) | RandomTime::Exp(d) | RandomTime::Uniform(_, d) => d,
            };
            if typical < MIN_TRAFFIC_GAP {
                return Err(ctx.error(Some(e.span()), key("every"), "the gap is under a millisecond; allowed: at least 1ms"));
            }
            Schedule::Every(t)
        }
        (None, Some(a)) => {
            let t = ctx.unit(a, &key("at"), RandomTime::parse)?;
            if t.min() >= horizon {
                return Err(ctx.error(Some(a.span()), key("at"), format!("is after the horizon ({})", units::format_duration(horizon))));
            }
            Schedule::At(t)
        }
        (Some(e), Some(_)) => return Err(ctx.error(Some(e.span()), key("every"), "give `every` or `at`, not both")),
        (None, None) => return Err(ctx.error(Some(raw.kind.span()), key("every"), "missing: give `every` (repeating) or `at` (once)")),
    };
    let size = ctx.unit(&raw.size, &key("size"), units::parse_size)?;
    if size == 0 {
        return Err(ctx.error(Some(raw.size.span()), key("size"), "must be at least 1 byte"));
    }
    let reply = match &raw.reply {
        Some(r) if kind == TrafficKind::Requests => ctx.unit(r, &key("reply"), units::parse_size)?,
        Some(r) => return Err(ctx.error(Some(r.span()), key("reply"), "only `requests` have a reply")),
        None => 0,
    };
    let count = match &raw.count {
        Some(c) if *c.get_ref() >= 1 => Some(*c.get_ref() as u64),
        Some(c) => return Err(ctx.error(Some(c.span()), key("count"), "must be at least 1")),
        None => None,
    };
    let timeout = match &raw.timeout {
        Some(t) if kind == TrafficKind::Requests && from == Side::Client => {
            let d = ctx.unit(t, &key("timeout"), units::parse_duration)?;
            if !d.is_zero() && d < Duration::from_millis(1) {
                return Err(ctx.error(
                    Some(t.span()),
                    key("timeout"),
                    "is under a millisecond; allowed: \"0s\" (never) or at least \"1ms\"",
                ));
            }
            if !d.is_zero() && reply == 0 {
                return Err(ctx.error(
                    Some(t.span()),
                    key("timeout"),
                    "a request without a `reply` is never answered; give `reply` a size",
                ));
            }
            Some(d).filter(|d| !d.is_zero())
        }
        Some(t) => {
            return Err(ctx.error(
                Some(t.span()),
                key("timeout"),
                "only `requests` from the client have a timeout (their outcome is the client's)",
            ))
        }
        None => None,
    };
    Ok(Traffic { kind, from, schedule, size, reply, count, timeout })
}

/// What a fault is checked against: the rest of the scenario.
struct Around<'a> {
    horizon: Duration,
    middleboxes: &'a [Middlebox],
    chained: bool,
    clients: u32,
}

fn fault(ctx: &Ctx, i: usize, raw: &RawFault, around: &Around, warnings: &mut Vec<String>) -> Result<FaultSpec, ScenarioError> {
    let Around { horizon, middleboxes, chained, clients } = *around;
    let proxy_at = middleboxes.iter().position(|m| matches!(m, Middlebox::Proxy(_)));
    let has_proxy = proxy_at.is_some();
    let key = |k: &str| format!("fault[{i}].{k}");
    let kind = match names::named::<FaultKind>(raw.kind.get_ref()) {
        Some(kind) => kind,
        None => {
            let other = raw.kind.get_ref();
            return Err(ctx.error(
                Some(raw.kind.span()),
                key("kind"),
                format!("\"{other}\" is not a fault kind; allowed: {}", names::allowed::<FaultKind>()),
            ));
        }
    };
    let target = raw.target.get_ref().as_str();
    let (host, link) = match target.strip_suffix(".link") {
        Some(h) => (h, true),
        None => (target, false),
    };
    // "middlebox:2": a box of the chain (0-based, from the clients).
    let mut middlebox = None;
    let host = match host.split_once(':') {
        Some(("middlebox", n)) => {
            let k = n.parse::<usize>().ok().filter(|&k| k < middleboxes.len() && n.bytes().all(|b| b.is_ascii_digit()));
            let (Some(k), true) = (k, chained) else {
                let allowed = match (chained, middleboxes.len()) {
                    (false, _) => "targets \"nat\" and \"proxy\" without a [[middlebox]] chain".to_string(),
                    (true, n) => format!("middlebox:0 to middlebox:{} (the chain has {n} boxes)", n - 1),
                };
                return Err(ctx.error(
                    Some(raw.target.span()),
                    key("target"),
                    format!("\"{target}\" is not a box of the path; allowed: {allowed}"),
                ));
            };
            middlebox = Some(k as u8);
            match middleboxes[k] {
                Middlebox::Nat(_) => "nat",
                Middlebox::Proxy(_) => "proxy",
            }
        }
        None if chained && matches!(host, "nat" | "proxy") => {
            return Err(ctx.error(
                Some(raw.target.span()),
                key("target"),
                format!("a [[middlebox]] chain names its boxes; allowed: middlebox:0 to middlebox:{}", middleboxes.len() - 1),
            ))
        }
        _ => host,
    };
    // "client:3": one client of the fleet (0-based).
    let (host, client) = match host.split_once(':') {
        // Digits only: `u32::from_str` also takes "+1".
        Some(("client", n)) => match n.parse::<u32>() {
            Ok(k) if k < clients && n.bytes().all(|b| b.is_ascii_digit()) => ("client", Some(k)),
            _ => {
                return Err(ctx.error(
                    Some(raw.target.span()),
                    key("target"),
                    format!(
                        "\"{target}\" is not a client of the fleet; allowed: client:0 to client:{} ([client] count = {clients})",
                        clients - 1
                    ),
                ))
            }
        },
        _ => (host, None),
    };
    let side = match (kind, host, link) {
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Suspend | FaultKind::Crash, "client", false) => Some(Side::Client),
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Suspend | FaultKind::Crash, "server", false) if client.is_none() => {
            Some(Side::Server)
        }
        (FaultKind::Outage, "client", true) => Some(Side::Client),
        (FaultKind::Outage, "server", true) => Some(Side::Server),
        (FaultKind::NatReboot, "nat", false) => None,
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Crash, "proxy", false) if has_proxy => Some(Side::Server),
        (FaultKind::Vanish | FaultKind::Reboot | FaultKind::Crash, "proxy", false) => {
            return Err(ctx.error(
                Some(raw.target.span()),
                key("target"),
                "there is no proxy; add a [proxy] section, or allowed: \"client\", \"client:N\", \"server\"",
            ))
        }
        _ => {
            let allowed = match kind {
                FaultKind::Outage => "\"client.link\", \"client:N.link\", \"server.link\"",
                FaultKind::NatReboot if chained => "a NAT of the chain (\"middlebox:N\" with kind = \"nat\")",
                FaultKind::NatReboot => "\"nat\"",
                FaultKind::Suspend => "\"client\", \"client:N\", \"server\"",
                _ => "\"client\", \"client:N\", \"server\", \"proxy\"",
            };
            return Err(ctx.error(
                Some(raw.target.span()),
                key("target"),
                format!("a {} cannot target \"{target}\"; allowed: {allowed}", kind.name()),
            ));
        }
    };
    if kind == FaultKind::NatReboot && !middleboxes.iter().any(|m| matches!(m, Middlebox::Nat(_))) {
        return Err(ctx.error(Some(raw.kind.span()), key("kind"), "nat_reboot needs a [nat] section"));
    }
    // `nat` is the first box of a path without a chain.
    let middlebox = match kind {
        FaultKind::NatReboot => Some(middlebox.unwrap_or(0)),
        _ if host == "proxy" => middlebox.or(proxy_at.map(|k| k as u8)),
        _ => None,
    };
    let when = match (&raw.at, &raw.every) {
        (Some(a), Some(e)) => {
            let _ = a;
            return Err(ctx.error(Some(e.span()), key("every"), "give `at` (once) or `every` (repeating), not both"));
        }
        (None, None) => return Err(ctx.error(Some(raw.kind.span()), key("at"), "missing: `at` (once) or `every` (repeating)")),
        (Some(a), None) => {
            let at = ctx.unit(a, &key("at"), RandomTime::parse)?;
            if at.min() >= horizon {
                return Err(ctx.error(
                    Some(a.span()),
                    key("at"),
                    format!("is after the horizon ({}); allowed: a time before it", units::format_duration(horizon)),
                ));
            }
            // The share of seeds whose draw falls past the horizon (the fault then does not happen).
            let missed = match at {
                RandomTime::Uniform(lo, hi) if hi > horizon => Some((hi - horizon).as_secs_f64() / (hi - lo).as_secs_f64().max(1e-9)),
                // P(X > h) for X ~ exp(mean): e^(-h/mean); said from 1 % on.
                RandomTime::Exp(mean) => Some((-horizon.as_secs_f64() / mean.as_secs_f64().max(1e-9)).exp()).filter(|p| *p >= 0.01),
                _ => None,
            };
            if let Some(share) = missed {
                let (line, col) = ctx.position(a.span());
                warnings.push(format!(
                    "{}:{line}:{col}: `{}`: {} reaches past the horizon ({}): in about {:.0} % of seeds this fault does not happen",
                    ctx.file.display(),
                    key("at"),
                    a.get_ref(),
                    units::format_duration(horizon),
                    share * 100.0
                ));
            }
            FaultWhen::At(at)
        }
        (None, Some(e)) => {
            if kind == FaultKind::Vanish {
                return Err(ctx.error(
                    Some(e.span()),
                    key("every"),
                    "a vanish cannot repeat (the host is gone for good); allowed: `every` on outage, suspend, reboot, crash, nat_reboot",
                ));
            }
            let every = ctx.unit(e, &key("every"), RandomTime::parse)?;
            // The typical gap: the fixed value, the mean, or the middle of the range.
            let typical = match every {
                RandomTime::Fixed(d) | RandomTime::Exp(d) => d,
                RandomTime::Uniform(a, b) => (a + b) / 2,
            };
            if typical.is_zero() || horizon.as_nanos() / typical.as_nanos().max(1) > u128::from(MAX_OCCURRENCES) {
                return Err(ctx.error(
                    Some(e.span()),
                    key("every"),
                    format!(
                        "would repeat more than {MAX_OCCURRENCES} times over the horizon ({}); allowed: a gap of at least {}",
                        units::format_duration(horizon),
                        units::format_duration(horizon / MAX_OCCURRENCES as u32)
                    ),
                ));
            }
            FaultWhen::Every(every)
        }
    };
    let needs_duration = matches!(kind, FaultKind::Reboot | FaultKind::Suspend | FaultKind::Outage);
    // A crash may restart: its duration is the supervisor's restart delay.
    let may_have_duration = needs_duration || kind == FaultKind::Crash;
    let duration = match (&raw.duration, may_have_duration) {
        (Some(d), true) => {
            let t = ctx.unit(d, &key("duration"), RandomTime::parse)?;
            if t.max().is_some_and(|d| d.is_zero()) {
                return Err(ctx.error(Some(d.span()), key("duration"), "must be greater than zero"));
            }
            Some(t)
        }
        (None, true) if needs_duration => {
            return Err(ctx.error(Some(raw.kind.span()), key("duration"), format!("missing: a {} needs a duration", kind.name())))
        }
        (None, true) => None,
        (Some(d), false) => return Err(ctx.error(Some(d.span()), key("duration"), format!("a {} has no duration", kind.name()))),
        (None, false) => None,
    };
    Ok(FaultSpec { kind, side, client, proxy: host == "proxy", middlebox, when, duration })
}

fn expect(ctx: &Ctx, i: usize, raw: &RawExpect, strategies: &[StrategySpec], also: &[&str]) -> Result<Expect, ScenarioError> {
    let key = |k: &str| format!("expect[{i}].{k}");
    let strategy = raw.strategy.get_ref().clone();
    if !strategies.iter().any(|s| s.name == strategy) && !also.contains(&strategy.as_str()) {
        let names: Vec<String> =
            strategies.iter().map(|s| s.name.as_str()).chain(also.iter().copied()).map(|n| format!("\"{n}\"")).collect();
        return Err(ctx.error(
            Some(raw.strategy.span()),
            key("strategy"),
            format!("no strategy is named \"{strategy}\"; allowed: {}", names.join(", ")),
        ));
    }
    let metric = Metric::ALL.iter().find(|(n, _)| *n == raw.metric.get_ref()).map(|(_, m)| *m).ok_or_else(|| {
        let names: Vec<&str> = Metric::ALL.iter().map(|(n, _)| *n).collect();
        ctx.error(
            Some(raw.metric.span()),
            key("metric"),
            format!("\"{}\" is not a metric; allowed: {}", raw.metric.get_ref(), names.join(", ")),
        )
    })?;
    let side = raw.side.as_ref().map(|s| side_of(ctx, s, &key("side"))).transpose()?;
    if metric.per_side() && side.is_none() {
        return Err(ctx.error(
            Some(raw.metric.span()),
            key("side"),
            format!("missing: {} is per side; allowed: \"client\", \"server\"", metric.name()),
        ));
    }
    if !metric.per_side() && side.is_some() {
        let s = raw.side.as_ref().map(|s| s.span());
        return Err(ctx.error(s, key("side"), format!("{} is not per side; remove `side`", metric.name())));
    }
    let bounds: Vec<(Op, &S<toml::Value>)> =
        [(Op::Le, &raw.le), (Op::Ge, &raw.ge), (Op::Eq, &raw.eq)].into_iter().filter_map(|(op, v)| v.as_ref().map(|v| (op, v))).collect();
    let [(op, v)] = bounds[..] else {
        return Err(ctx.error(Some(raw.metric.span()), key("le"), "give exactly one of `le`, `ge`, `eq`"));
    };
    let value = match v.get_ref() {
        toml::Value::Integer(n) => *n as f64,
        toml::Value::Float(f) if f.is_finite() => *f,
        toml::Value::Float(f) => {
            return Err(ctx.error(Some(v.span()), key(op_key(op)), format!("{f} is not a bound; allowed: a finite number or a duration")))
        }
        toml::Value::String(s) => {
            units::parse_duration(s).map_err(|e| ctx.error(Some(v.span()), key(op_key(op)), format!("{e} (or a number)")))?.as_secs_f64()
        }
        _ => return Err(ctx.error(Some(v.span()), key(op_key(op)), "must be a number or a duration string")),
    };
    let confidence = match &raw.confidence {
        None => None,
        Some(c) => {
            let level = match c.get_ref() {
                toml::Value::Float(f) => Some(*f),
                toml::Value::Integer(n) => Some(*n as f64),
                _ => None,
            };
            match level {
                Some(l) if l > 0.0 && l < 1.0 => Some(l),
                _ => {
                    return Err(ctx.error(
                        Some(c.span()),
                        key("confidence"),
                        format!("{} is not a confidence level; allowed: a number between 0 and 1, both excluded (e.g. 0.95)", c.get_ref()),
                    ))
                }
            }
        }
    };
    Ok(Expect { strategy, side, metric, op, value, confidence, line: ctx.position(raw.strategy.span()).0 })
}

fn op_key(op: Op) -> &'static str {
    match op {
        Op::Le => "le",
        Op::Ge => "ge",
        Op::Eq => "eq",
    }
}

fn side_of(ctx: &Ctx, v: &S<String>, key: &str) -> Result<Side, ScenarioError> {
    match v.get_ref().as_str() {
        "client" => Ok(Side::Client),
        "server" => Ok(Side::Server),
        other => Err(ctx.error(Some(v.span()), key, format!("\"{other}\" is not a side; allowed: \"client\", \"server\""))),
    }
}
