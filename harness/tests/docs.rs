//! `docs/reference.md` lists every scenario key and every command's flags as
//! kasim itself defines them (its JSON Schema, its command line): the page's
//! generated sections must equal what kasim generates now, so the reference
//! cannot drift. `KASIM_DOCS=overwrite` rewrites them. And every key a
//! `kasim run --format json` prints, for a one-connection scenario, a pool
//! with sessions and a QUIC scenario, is named in the page.

use std::path::Path;

fn page_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference.md")
}

#[test]
fn the_reference_lists_what_kasim_accepts() {
    let page = std::fs::read_to_string(page_path()).unwrap();
    let now = harness::reference::regenerate(&page);
    if std::env::var("KASIM_DOCS").as_deref() == Ok("overwrite") {
        // Atomically: the other test reads the page meanwhile.
        let tmp = page_path().with_extension("md.tmp");
        std::fs::write(&tmp, &now).unwrap();
        std::fs::rename(&tmp, page_path()).unwrap();
        return;
    }
    assert!(page == now, "docs/reference.md is out of date: run KASIM_DOCS=overwrite cargo test --release -p harness --test docs");
    // The generated parts hold what they should: keys of every table, every subcommand.
    for key in ["`horizon`", "`client.reconnect.connect_timeout`", "`nat.on_expired`", "`strategy.keep_alive_interval`", "`expect.le`"] {
        assert!(page.contains(key), "{key}");
    }
    for command in ["run", "check", "replay", "list", "merge", "tune", "schema", "calibrate"] {
        assert!(page.contains(&format!("### `kasim {command}`")), "{command}");
    }
}

#[test]
fn every_json_key_kasim_prints_is_in_the_reference() {
    let page = std::fs::read_to_string(page_path()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut keys = std::collections::BTreeSet::new();
    fn collect(v: &serde_json::Value, keys: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    keys.insert(k.clone());
                    collect(v, keys);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| collect(v, keys)),
            _ => {}
        }
    }
    for scenario in ["server-power-off", "phone-flaky-cellular-sessions", "quic-behind-30s-udp-nat", "db-connection-pool"] {
        let file = root.join(format!("scenarios/{scenario}.toml"));
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_kasim"))
            .args(["run", file.to_str().unwrap(), "--seeds", "2", "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        collect(&serde_json::from_slice(&o.stdout).unwrap(), &mut keys);
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !page.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "JSON keys kasim prints that docs/reference.md does not name: {missing:?}");
    assert!(keys.len() > 30, "{keys:?}");
}
