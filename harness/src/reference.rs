//! The generated parts of `docs/reference.md`: every scenario key (from the
//! scenario format's JSON Schema, the one `kasim schema` prints and the
//! loader enforces) and every command's flags (from the command line's own
//! definition). The page's prose sits around them; a test regenerates these
//! parts and fails when the page differs, so the reference cannot drift from
//! what kasim accepts (`KASIM_DOCS=overwrite` rewrites them).

use clap::CommandFactory;
use serde_json::Value;
use std::fmt::Write;

/// Where a generated part starts and ends in the page.
pub const MARKERS: [(&str, &str); 2] =
    [("<!-- generated: scenario keys -->", "<!-- end: scenario keys -->"), ("<!-- generated: commands -->", "<!-- end: commands -->")];

/// The markdown table of every scenario key: its dotted path, and what the
/// schema says of it (type, allowed values, default).
pub fn scenario_keys() -> String {
    let schema = crate::scenario::json_schema();
    let root: Value = serde_json::to_value(&schema).unwrap_or_default();
    let defs = root.get("$defs").cloned().unwrap_or_default();
    let mut rows: Vec<(String, String)> = Vec::new();
    walk(&root, &defs, "", &mut rows);
    let mut out = String::from("| key | what it takes |\n| --- | --- |\n");
    let mut seen = std::collections::BTreeSet::new();
    for (path, what) in rows {
        if seen.insert(path.clone()) {
            let _ = writeln!(out, "| `{path}` | {} |", what.replace('|', "\\|").replace('\n', " "));
        }
    }
    out
}

fn resolve<'a>(mut v: &'a Value, defs: &'a Value) -> &'a Value {
    while let Some(name) = v.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
        match defs.get(name) {
            Some(d) => v = d,
            None => break,
        }
    }
    v
}

fn walk(v: &Value, defs: &Value, prefix: &str, rows: &mut Vec<(String, String)>) {
    let v = resolve(v, defs);
    for combinator in ["anyOf", "oneOf", "allOf"] {
        for alt in v.get(combinator).and_then(Value::as_array).into_iter().flatten() {
            walk(alt, defs, prefix, rows);
        }
    }
    if let Some(items) = v.get("items") {
        walk(items, defs, prefix, rows);
    }
    let Some(props) = v.get("properties").and_then(Value::as_object) else { return };
    for (key, p) in props {
        let path = format!("{prefix}{key}");
        let target = resolve(p, defs);
        let description = p.get("description").or_else(|| target.get("description")).and_then(Value::as_str).unwrap_or("");
        let kind = match (target.get("enum").and_then(Value::as_array), target.get("type")) {
            (Some(options), _) => options.iter().filter_map(Value::as_str).map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(" | "),
            (None, Some(Value::String(t))) => t.clone(),
            (None, Some(Value::Array(ts))) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
            _ if target.get("properties").is_some() => "table".into(),
            _ => String::new(),
        };
        let what = match (kind.is_empty(), description.is_empty()) {
            (true, true) => "see its keys below".to_string(),
            (true, false) => description.to_string(),
            (false, true) => kind,
            (false, false) => format!("{kind}: {description}"),
        };
        rows.push((path.clone(), what));
        walk(p, defs, &format!("{path}."), rows);
    }
}

/// Every subcommand with its usage line and flags (long name and help), as
/// the command line defines them.
pub fn commands() -> String {
    let mut cli = crate::cli::Cli::command();
    // Built, so that each flag says whether it takes a value.
    cli.build();
    let mut out = String::new();
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        let _ = writeln!(out, "### `kasim {}`\n", sub.get_name());
        if let Some(about) = sub.get_about() {
            let _ = writeln!(out, "{about}\n");
        }
        let flags: Vec<_> = sub.get_arguments().filter(|a| a.get_long().is_some() && !a.is_hide_set()).collect();
        let positionals: Vec<_> = sub.get_positionals().collect();
        for p in positionals {
            let help = p.get_help().map(|h| h.to_string()).unwrap_or_default();
            let _ = writeln!(out, "- `{}`: {}", p.get_id().as_str().to_uppercase(), help.replace('\n', " "));
        }
        for a in flags {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default().replace('\n', " ");
            let values: Vec<String> = a.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
            let value = a.get_value_names().and_then(|v| v.first()).map(|v| format!(" {v}")).unwrap_or_default();
            let takes = a.get_num_args().is_none_or(|n| n.takes_values());
            let value = if takes { value } else { String::new() };
            let values = if values.is_empty() || !takes { String::new() } else { format!(" (one of: {})", values.join(", ")) };
            let _ = writeln!(out, "- `--{}{value}`: {}", a.get_long().unwrap_or_default(), format!("{help}{values}").trim());
        }
        out.push('\n');
    }
    out
}

/// `page` with its generated parts replaced by what kasim generates now.
pub fn regenerate(page: &str) -> String {
    let mut out = page.to_string();
    for ((begin, end), body) in MARKERS.iter().zip([scenario_keys(), commands()]) {
        if let (Some(b), Some(e)) = (out.find(begin), out.find(end)) {
            out = format!("{}{begin}\n{body}{}", &out[..b], &out[e..]);
        }
    }
    out
}
