//! `[[strategy]]` entries: the kind, the sides, and every parameter checked
//! against its type and range (the kernel's for socket options), with the
//! JSON Schema of each kind.

use crate::source::{Ctx, ScenarioError};
use crate::strategy::{ParamSpec, ParamType, StrategySpec, KINDS};
use crate::units;
use sim::Side;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// JSON Schema of the `[[strategy]]` array: one variant per kind, with its
/// parameters and their defaults.
pub(crate) fn strategies_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let variants: Vec<serde_json::Value> = KINDS
        .iter()
        .map(|k| {
            let mut props = serde_json::Map::new();
            props.insert("name".into(), serde_json::json!({ "type": "string" }));
            props.insert("kind".into(), serde_json::json!({ "const": k.kind, "description": k.help }));
            props.insert("sides".into(), serde_json::json!({ "type": "array", "items": { "enum": ["client", "server"] }, "minItems": 1 }));
            for p in k.params {
                let mut schema = match p.ty {
                    ParamType::Duration | ParamType::KernelSeconds | ParamType::DurationOrOff => {
                        super::schema::duration_schema(g).to_value()
                    }
                    ParamType::Number { min, max } => serde_json::json!({ "type": "number", "minimum": min, "maximum": max }),
                    ParamType::Count { min, max } => serde_json::json!({ "type": "integer", "minimum": min, "maximum": max }),
                    ParamType::Bool => serde_json::json!({ "type": "boolean" }),
                    ParamType::Size => super::schema::size_schema(g).to_value(),
                    ParamType::Choice(options) => serde_json::json!({ "enum": options }),
                    ParamType::Argv => serde_json::json!({ "type": "array", "items": { "type": "string" }, "minItems": 1 }),
                    ParamType::Pattern => serde_json::json!({ "type": "string", "format": "regex" }),
                    ParamType::Env => serde_json::json!({ "type": "object", "additionalProperties": { "type": "string" } }),
                };
                if let Some(obj) = schema.as_object_mut() {
                    // An empty default is a parameter left out (program's `server`, `declare`).
                    let description = if p.default.is_empty() { p.help.to_string() } else { format!("{} (default {})", p.help, p.default) };
                    obj.insert("description".into(), description.into());
                }
                props.insert(p.name.into(), schema);
            }
            serde_json::json!({ "type": "object", "properties": props, "required": ["name", "kind"], "additionalProperties": false })
        })
        .collect();
    schemars::json_schema!({ "type": "array", "items": { "oneOf": variants } })
}

/// The `i`-th `[[strategy]]` table, at `span` in the file (where a missing key is reported).
pub(crate) fn parse_spec(
    ctx: &Ctx,
    i: usize,
    table: &BTreeMap<String, Spanned<toml::Value>>,
    span: std::ops::Range<usize>,
) -> Result<StrategySpec, ScenarioError> {
    let key = |k: &str| format!("strategy[{i}].{k}");
    let string = |k: &str| -> Result<Option<(&str, std::ops::Range<usize>)>, ScenarioError> {
        match table.get(k) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                toml::Value::String(s) => Ok(Some((s.as_str(), v.span()))),
                _ => Err(ctx.error(Some(v.span()), key(k), "must be a string")),
            },
        }
    };
    let missing = |k: &str, what: &str| ctx.error(Some(span.clone()), key(k), format!("missing: every strategy needs a {what}"));
    let (name, name_span) = string("name")?.ok_or_else(|| missing("name", "name"))?;
    // Names reach terminals, file names, markdown and HTML: printable text, as scenario names.
    if name.trim().is_empty() {
        return Err(ctx.error(Some(name_span), key("name"), "must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(ctx.error(Some(name_span), key("name"), "has control characters; allowed: printable text"));
    }
    let (kind_name, kind_span) = string("kind")?.ok_or_else(|| missing("kind", "kind"))?;
    let Some(kind) = KINDS.iter().find(|k| k.kind == kind_name) else {
        let names: Vec<String> = KINDS.iter().map(|k| format!("\"{}\"", k.kind)).collect();
        return Err(ctx.error(
            Some(kind_span),
            key("kind"),
            format!("\"{kind_name}\" is not a strategy kind; allowed: {}", names.join(", ")),
        ));
    };
    let sides = match table.get("sides") {
        None => kind.default_sides.to_vec(),
        Some(v) => {
            let bad = || ctx.error(Some(v.span()), key("sides"), "allowed: a list of \"client\" and/or \"server\"");
            let toml::Value::Array(items) = v.get_ref() else { return Err(bad()) };
            let mut sides = Vec::new();
            for item in items {
                match item.as_str() {
                    Some("client") if !sides.contains(&Side::Client) => sides.push(Side::Client),
                    Some("server") if !sides.contains(&Side::Server) => sides.push(Side::Server),
                    _ => return Err(bad()),
                }
            }
            if sides.is_empty() {
                return Err(bad());
            }
            sides.sort();
            sides
        }
    };
    let mut params: BTreeMap<&'static str, String> = kind.params.iter().map(|p| (p.name, p.default.to_string())).collect();
    for (k, v) in table {
        if matches!(k.as_str(), "name" | "kind" | "sides") {
            continue;
        }
        let Some(p) = kind.params.iter().find(|p| p.name == k) else {
            let allowed: Vec<&str> = kind.params.iter().map(|p| p.name).collect();
            let allowed = if allowed.is_empty() { "none (this kind takes no parameters)".to_string() } else { allowed.join(", ") };
            return Err(ctx.error(Some(v.span()), key(k), format!("{kind_name} has no parameter `{k}`; allowed: {allowed}")));
        };
        let value = check_param(p, v.get_ref()).map_err(|m| ctx.error(Some(v.span()), key(k), m))?;
        params.insert(p.name, value);
    }
    // A program strategy runs at least one real program; said here, before
    // the typed parse, so the error shows the command line to write.
    if kind.kind == "program" && params["client"].is_empty() && params["server"].is_empty() {
        return Err(ctx.error(
            Some(kind_span),
            key("client"),
            "missing: a program strategy needs `client`, its command line, e.g. [\"socat\", \"-\", \"TCP:{server}:{port}\"], or a `server` (kasim's agent is then its client)",
        ));
    }
    // Every value was checked against its type above, so this parses; if it
    // did not, the error names the parameter rather than running a default.
    StrategySpec::new(name.to_string(), kind.kind, sides, params).map_err(|e| ctx.error(Some(kind_span), key(e.key), e.to_string()))
}

/// Validate one parameter value; return it in canonical string form.
pub(crate) fn check_param(p: &ParamSpec, v: &toml::Value) -> Result<String, String> {
    match (p.ty, v) {
        (ParamType::Duration, toml::Value::String(s)) => {
            let d = units::parse_duration(s).map_err(|e| e.to_string())?;
            if d < Duration::from_millis(1) {
                return Err(format!("{s} is under a millisecond; allowed: {}, at least 1ms", units::DURATION_ALLOWED));
            }
            Ok(s.clone())
        }
        (ParamType::KernelSeconds, toml::Value::String(s)) => {
            let d = units::parse_duration(s).map_err(|e| e.to_string())?;
            if d.subsec_nanos() != 0 || !(1..=32_767).contains(&d.as_secs()) {
                return Err(format!("{s} cannot be set; allowed: whole seconds from 1s to 32767s (the kernel's range)"));
            }
            Ok(s.clone())
        }
        (ParamType::DurationOrOff, toml::Value::String(s)) => {
            let d = units::parse_duration(s).map_err(|e| format!("{e} (\"0s\" = off)"))?;
            if !d.is_zero() && d < Duration::from_millis(1) {
                return Err(format!("{s} is under a millisecond; allowed: \"0s\" (off) or at least 1ms"));
            }
            Ok(s.clone())
        }
        (ParamType::Number { min, max }, toml::Value::Float(x)) if (min..=max).contains(x) => Ok(x.to_string()),
        (ParamType::Number { min, max }, toml::Value::Integer(i)) if (min..=max).contains(&(*i as f64)) => Ok(i.to_string()),
        (ParamType::Number { min, max }, toml::Value::Float(_) | toml::Value::Integer(_)) => {
            Err(format!("{v} is out of range; allowed: {min}..={max}"))
        }
        (ParamType::Number { min, max }, _) => Err(format!("must be a number; allowed: {min}..={max}")),
        (ParamType::DurationOrOff, _) => Err(format!("must be a string; allowed: {} (\"0s\" = off)", units::DURATION_ALLOWED)),
        (ParamType::Count { min, max }, toml::Value::Integer(n)) if (min..=max).contains(n) => Ok(n.to_string()),
        (ParamType::Count { min, max }, toml::Value::Integer(n)) => Err(format!("{n} is out of range; allowed: {min}..={max}")),
        (ParamType::Bool, toml::Value::Boolean(b)) => Ok(b.to_string()),
        (ParamType::Size, toml::Value::String(s)) => {
            let n = units::parse_size(s).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("must be at least 1 byte".into());
            }
            Ok(s.clone())
        }
        (ParamType::Choice(options), toml::Value::String(s)) if options.contains(&s.as_str()) => Ok(s.clone()),
        (ParamType::Choice(options), _) => {
            Err(format!("allowed: {}", options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ")))
        }
        (ParamType::Duration | ParamType::KernelSeconds, _) => Err(format!("must be a string; allowed: {}", units::DURATION_ALLOWED)),
        (ParamType::Count { min, max }, _) => Err(format!("must be an integer; allowed: {min}..={max}")),
        (ParamType::Bool, _) => Err("allowed: true, false".into()),
        (ParamType::Size, _) => Err(format!("must be a string; allowed: {}", units::SIZE_ALLOWED)),
        (ParamType::Argv, toml::Value::Array(items)) => {
            let argv: Option<Vec<&str>> = items.iter().map(toml::Value::as_str).collect();
            match argv {
                Some(argv) if argv.first().is_some_and(|p| !p.is_empty()) => Ok(serde_json::to_string(&argv).unwrap_or_default()),
                Some(_) => Err("must not be empty: the first string is the program".into()),
                None => Err("must be a list of strings (the program, then its arguments)".into()),
            }
        }
        (ParamType::Argv, _) => Err("must be a list of strings (the program, then its arguments)".into()),
        (ParamType::Pattern, toml::Value::String(s)) => match regex::Regex::new(s) {
            Ok(_) => Ok(s.clone()),
            Err(e) => Err(format!("is not a regular expression: {}", e.to_string().lines().last().unwrap_or_default().trim())),
        },
        (ParamType::Pattern, _) => Err("must be a string: a regular expression".into()),
        (ParamType::Env, toml::Value::Table(t)) => {
            let mut env = BTreeMap::new();
            for (k, v) in t {
                let Some(v) = v.as_str() else { return Err(format!("`{k}` must be a string")) };
                env.insert(k.as_str(), v);
            }
            Ok(serde_json::to_string(&env).unwrap_or_default())
        }
        (ParamType::Env, _) => Err("must be a table of strings, e.g. { LANG = \"C\" }".into()),
    }
}
