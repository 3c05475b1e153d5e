//! The JSON Schema editors use must be the one the loader accepts: the
//! committed `scenario.schema.json` is regenerated from the loader's own
//! types, and every key of every bundled scenario is one the schema knows.

use serde_json::Value;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn committed_schema_is_current() {
    let committed = std::fs::read_to_string(root().join("scenario.schema.json")).expect("scenario.schema.json");
    assert_eq!(committed.trim_end(), harness::cli::schema_text(), "regenerate with: cargo run -- schema > scenario.schema.json");
}

/// Resolve `$ref`s and `anyOf [X, null]` to the object schema with `properties`.
fn object<'a>(schema: &'a Value, defs: &'a Value) -> &'a Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return object(&defs[r.trim_start_matches("#/$defs/")], defs);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        return any.iter().map(|s| object(s, defs)).find(|s| s.get("properties").is_some()).unwrap_or(schema);
    }
    schema
}

/// Every key in `value` must be a property of `schema` (closed world).
fn check(value: &Value, schema: &Value, defs: &Value, path: &str) {
    match value {
        Value::Object(map) => {
            let schema = object(schema, defs);
            let props = schema.get("properties").unwrap_or_else(|| panic!("{path}: schema has no properties: {schema}"));
            for (k, v) in map {
                let sub = props.get(k).unwrap_or_else(|| panic!("{path}.{k} is not in the schema"));
                check(v, sub, defs, &format!("{path}.{k}"));
            }
        }
        Value::Array(items) => {
            let item_schema = &object(schema, defs)["items"];
            for (i, v) in items.iter().enumerate() {
                let s = match item_schema.get("oneOf").and_then(Value::as_array) {
                    // Strategies: pick the variant of this kind.
                    Some(variants) => {
                        variants.iter().find(|s| s["properties"]["kind"]["const"] == v["kind"]).expect("a variant for the kind")
                    }
                    None => item_schema,
                };
                check(v, s, defs, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn every_bundled_scenario_uses_only_keys_the_schema_knows() {
    let schema: Value = serde_json::from_str(&harness::cli::schema_text()).unwrap();
    let defs = &schema["$defs"];
    let mut n = 0;
    // The catalogue, the real programs beside it, and the calibration set.
    let files = ["scenarios", "scenarios/programs", "calibration"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root().join(d)).unwrap().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"));
    for entry in files {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let toml: toml::Value = toml::from_str(&text).unwrap();
        let json = serde_json::to_value(&toml).unwrap();
        check(&json, &schema, defs, &entry.file_name().to_string_lossy());
        n += 1;
    }
    assert!(n >= 10 + 3 + 3, "the catalogue and its neighbours have {n} scenarios");
}
