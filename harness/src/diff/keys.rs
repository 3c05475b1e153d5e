//! Which keys of a scenario file changed between a baseline and a new run:
//! the policy change under review, named as a reader would look it up
//! (`strategy[ka-300s].idle`, `nat.idle_timeout`). Arrays of tables whose
//! entries carry a `name` (strategies) are matched by name, not position,
//! so reordering them is no change.

use serde::Serialize;
use std::collections::BTreeMap;

/// One key that differs: its value in each file (`None` where absent).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyChange {
    /// The scenario's name.
    pub scenario: String,
    /// The key's path (`strategy[ka-300s].idle`).
    pub key: String,
    /// Its value in the baseline, as TOML text.
    pub base: Option<String>,
    /// Its value in the new file.
    pub new: Option<String>,
}

/// Every leaf of a TOML document as `path → value text`.
fn leaves(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                leaves(&join(k), v, out);
            }
        }
        toml::Value::Array(items) if items.iter().all(|i| i.is_table()) && !items.is_empty() => {
            let named = items.iter().all(|i| i.get("name").and_then(toml::Value::as_str).is_some());
            for (n, item) in items.iter().enumerate() {
                let tag = match item.get("name").and_then(toml::Value::as_str) {
                    Some(name) if named => name.to_string(),
                    _ => n.to_string(),
                };
                leaves(&format!("{prefix}[{tag}]"), item, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The keys that differ between two scenario texts (`None` when either does
/// not parse as TOML: nothing can be named then).
pub fn changed(scenario: &str, base: &str, new: &str) -> Option<Vec<KeyChange>> {
    let parse = |t: &str| t.parse::<toml::Table>().ok().map(toml::Value::Table);
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    leaves("", &parse(base)?, &mut a);
    leaves("", &parse(new)?, &mut b);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    Some(
        keys.into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| KeyChange { scenario: scenario.to_string(), key: k.clone(), base: a.get(k).cloned(), new: b.get(k).cloned() })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_changed_parameter_by_its_strategy() {
        let base =
            "name = \"s\"\n[nat]\nidle_timeout = \"350s\"\n[[strategy]]\nname = \"a\"\nidle = \"300s\"\n[[strategy]]\nname = \"b\"\n";
        let new = "name = \"s\"\n[nat]\nidle_timeout = \"350s\"\n[[strategy]]\nname = \"b\"\n[[strategy]]\nname = \"a\"\nidle = \"360s\"\ncount = 3\n";
        let c = changed("s", base, new).unwrap();
        let shown: Vec<(&str, Option<&str>, Option<&str>)> =
            c.iter().map(|k| (k.key.as_str(), k.base.as_deref(), k.new.as_deref())).collect();
        // Reordering the strategies is no change; the idle and the new count are.
        assert_eq!(shown, [("strategy[a].count", None, Some("3")), ("strategy[a].idle", Some("\"300s\""), Some("\"360s\""))]);
        assert_eq!(changed("s", base, base).unwrap(), []);
        assert_eq!(changed("s", "not toml [", base), None);
    }
}
