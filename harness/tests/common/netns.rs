//! What the `--engine netns` test binaries share: scenario files in a
//! folder removed afterwards, runs of `kasim` with their pid, the
//! namespaces a pid left.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `kasim` binary under test, as a command to finish.
pub fn kasim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kasim"))
}

/// `text` written as `NAME.toml` in a fresh folder (removed with the
/// `TempFolder`).
pub fn scenario(name: &str, text: &str) -> (super::TempFolder, PathBuf) {
    let dir = super::temp_folder("netns", name);
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `kasim run PATH --format json EXTRA…`, which must succeed, parsed.
pub fn json_run(path: &Path, extra: &[&str]) -> serde_json::Value {
    let out = kasim().arg("run").arg(path).args(["--format", "json"]).args(extra).output().unwrap();
    assert!(out.status.success(), "kasim run {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The strategy object named `name` of the document's first scenario.
pub fn strategy<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["scenarios"][0]["strategies"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

/// The calibration bound: 2 % or 50 ms, whichever is larger.
pub fn close(real: f64, model: f64) -> bool {
    (real - model).abs() <= (0.02 * model).max(0.050)
}

/// Namespaces a process of this pid left (`kasim-cal-<pid>-…`).
pub fn namespaces_of(pid: u32) -> Vec<String> {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let prefix = format!("kasim-cal-{pid}-");
    String::from_utf8_lossy(&list.stdout).lines().filter(|l| l.starts_with(&prefix)).map(str::to_string).collect()
}

/// Run kasim to the end, returning its output and pid.
pub fn run_kasim(args: &[&str]) -> (Output, u32) {
    let child = kasim().args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

/// `kasim check DIR EXTRA…` exits 0 with `n` expectations, every one passed.
pub fn assert_checks_pass(dir: &Path, extra: &[&str], n: usize) {
    let out = kasim().arg("check").arg(dir).args(extra).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("{n} expectations, {n} passed, 0 failed")), "{err}");
}
