//! `[client] os` and `[server] os`: which operating system's stack a side
//! runs, and what that changes in the file's strategies. Apart from
//! `build.rs` because an OS's keepalive defaults are the defaults of a
//! `tcp_keepalive` strategy's keys, and a strategy that runs on two sides
//! with different defaults must say which it means.

use super::raw::S;
use crate::source::{Ctx, ScenarioError};
use crate::strategy::{StrategyKind, StrategySpec};
use sim::tcp::Os;
use sim::Side;
use std::collections::BTreeMap;

/// `os = NAME`: `None` when absent or Linux's (the model as it always was).
pub(super) fn parse(ctx: &Ctx, v: Option<&S<String>>, key: &str) -> Result<Option<Os>, ScenarioError> {
    let Some(v) = v else { return Ok(None) };
    match Os::from_name(v.get_ref()) {
        Some(Os::Linux) => Ok(None),
        Some(os) => Ok(Some(os)),
        None => {
            let allowed: Vec<String> = Os::ALL.iter().map(|o| format!("\"{}\"", o.name())).collect();
            Err(ctx.error(Some(v.span()), key, format!("\"{}\" is not an operating system; allowed: {}", v.get_ref(), allowed.join(", "))))
        }
    }
}

/// A `tcp_keepalive` strategy's `idle`, `interval` and `count` left out of
/// the file take its sides' OS's defaults (Windows: 2 h, 1 s, 10); when
/// the two sides it runs on have different ones, the file must write it.
pub(super) fn keepalive_defaults(
    ctx: &Ctx,
    i: usize,
    table: &BTreeMap<String, S<toml::Value>>,
    spec: &mut StrategySpec,
    os: [Option<Os>; 2],
) -> Result<(), ScenarioError> {
    if !matches!(spec.kind(), StrategyKind::TcpKeepalive { .. }) || os.iter().all(Option::is_none) {
        return Ok(());
    }
    let of = |side: Side| os[side.index()].unwrap_or(Os::Linux);
    for (k, pick) in [("idle", 0), ("interval", 1), ("count", 2)] {
        if table.contains_key(k) {
            continue;
        }
        let value = |o: Os| {
            let (idle, interval, count) = o.keepalive_defaults();
            match pick {
                0 => format!("{}s", idle.as_secs()),
                1 => format!("{}s", interval.as_secs()),
                _ => count.to_string(),
            }
        };
        let values: Vec<(Side, String)> = spec.sides.iter().map(|&s| (s, value(of(s)))).collect();
        if let [(a, va), (b, vb)] = values.as_slice() {
            if va != vb {
                return Err(ctx.error(
                    table.get("kind").map(|v| v.span()),
                    format!("strategy[{i}].{k}"),
                    format!(
                        "is left out, and the {a} ({}) and the {b} ({}) have different defaults ({va} and {vb}); allowed: write `{k}`",
                        of(*a).name(),
                        of(*b).name()
                    ),
                ));
            }
        }
        if let Some((_, v)) = values.into_iter().next() {
            *spec = spec
                .with_param(k, v)
                .map_err(|e| ctx.error(table.get("kind").map(|v| v.span()), format!("strategy[{i}].{k}"), e.to_string()))?;
        }
    }
    Ok(())
}
