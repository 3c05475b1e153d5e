//! Reading scenario files: parse, recover the key of a parser error, find the
//! files under a folder.

use super::build::build;
use super::raw::RawScenario;
use super::Scenario;
use crate::input::{self, ReadError};
use crate::source::{Ctx, ScenarioError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest run: a year of simulated time. A connection kept alive by a
/// 1 s heartbeat is ~3 s of CPU per run at this length; beyond it a typo
/// ("999999999d") would run for ever and overflow the nanosecond clock.
pub(super) const MAX_HORIZON: Duration = Duration::from_secs(365 * 86_400);

/// The longest one-way link delay (a geostationary satellite hop is 0.25 s):
/// beyond it no connection opens within a run, and nothing it reports means much.
pub(super) const MAX_LINK_DELAY: Duration = Duration::from_secs(60);

/// The shortest repeating traffic gap (fixed, mean or upper end).
pub(super) const MIN_TRAFFIC_GAP: Duration = Duration::from_millis(1);

/// Read and validate one scenario file (a regular file of at most
/// [`MAX_SCENARIO_BYTES`](crate::input::MAX_SCENARIO_BYTES), UTF-8).
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    parse(path, &read(path)?)
}

/// The text of a scenario file, read as [`load`] reads it.
pub fn read(path: &Path) -> Result<String, ScenarioError> {
    input::read_text(path, input::MAX_SCENARIO_BYTES).map_err(|e| read_error(path, e))
}

/// A file that could not be read, as a scenario error (bytes that are not
/// text are placed at their line and column).
fn read_error(path: &Path, e: ReadError) -> ScenarioError {
    let position = match e {
        ReadError::NotText { line, column } => Some((line, column)),
        _ => None,
    };
    ScenarioError { file: path.to_path_buf(), position, key: String::new(), message: e.to_string() }
}

/// Validate a scenario given as text (`path` is used in messages).
pub fn parse(path: &Path, src: &str) -> Result<Scenario, ScenarioError> {
    parse_with(path, src, &[])
}

/// [`parse`], where `[[expect]]`s may also name the strategies in `also`
/// (supplied in code by a library user, not declared in the file).
pub fn parse_with(path: &Path, src: &str, also: &[&str]) -> Result<Scenario, ScenarioError> {
    let ctx = Ctx::new(path, src);
    let raw: RawScenario = toml::from_str(src).map_err(|e| {
        let key = e.span().map(|span| key_at(src, span.start)).unwrap_or_default();
        let message = in_our_words(e.message().trim(), &key);
        ctx.error(e.span(), key, message)
    })?;
    build(&ctx, raw, also)
}

/// The parser's message in the file's terms: serde's "invalid type:
/// integer `5`, expected struct RawClient" names Rust types and not what the
/// key takes; this says what was found and what is allowed there.
fn in_our_words(message: &str, key: &str) -> String {
    let message = message.replace('\n', " ");
    if message.contains("recursion") || message.contains("cannot recurse") {
        return "is nested too deeply (arrays or tables inside each other); allowed: kasim's keys, which nest at most 3 levels".into();
    }
    let Some((found, expected)) = message.strip_prefix("invalid type: ").and_then(|m| m.split_once(", expected ")) else {
        return message;
    };
    let found = match found.split_once(' ') {
        Some((kind, value)) => format!("{kind} {}", value.trim_matches('`')),
        None => found.to_string(),
    };
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    let allowed: String = match expected.trim() {
        "a string" => match leaf {
            "at" | "every" | "duration" => crate::units::TIME_ALLOWED.into(),
            "horizon" | "delay" | "idle_timeout" | "accept_time" | "initial_backoff" | "max_backoff" | "connect_timeout"
            | "transitory_timeout" | "udp_idle_timeout" | "udp_stream_timeout" | "timeout" => crate::units::DURATION_ALLOWED.into(),
            "queue" | "size" | "reply" => crate::units::SIZE_ALLOWED.into(),
            "up" | "down" => crate::units::RATE_ALLOWED.into(),
            _ => "a quoted string".into(),
        },
        e if e.starts_with("struct ") || e == "a map" => format!("a table of keys: a [{key}] section, or {leaf} = {{ ... }}"),
        "a sequence" => format!("a list: [[{key}]] tables, or {leaf} = [ ... ]"),
        "f64" | "f32" => "a number such as 0.01".into(),
        "i64" | "u64" | "u32" | "u16" | "u8" | "i32" | "usize" => "a whole number such as 3".into(),
        "a boolean" => "true or false".into(),
        other => other.into(),
    };
    format!("{found} is not allowed here; allowed: {allowed}")
}

/// The key a byte offset of a scenario file belongs to, as the errors name
/// keys (`strategy[1].interval`, `client.link.up`, `expect[0]`): the TOML
/// parser's own errors (a missing field, an unknown one, a wrong type) carry
/// a position but no key.
fn key_at(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("").trim();
    let header = |l: &str| -> Option<(String, bool)> {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            Some((name.trim().to_string(), true))
        } else {
            l.strip_prefix('[').and_then(|r| r.split(']').next()).map(|name| (name.trim().to_string(), false))
        }
    };
    // The table this line is in (or is): the nearest header at or above it,
    // with its index when it is an array of tables.
    let mut table = String::new();
    let above: Vec<&str> = src[..line_start].lines().chain(std::iter::once(line)).collect();
    if let Some(pos) = above.iter().rposition(|l| header(l).is_some()) {
        if let Some((name, array)) = header(above[pos]) {
            table = if array {
                let index = above[..pos].iter().filter(|l| header(l).is_some_and(|(n, a)| a && n == name)).count();
                format!("{name}[{index}]")
            } else {
                name
            };
        }
    }
    if header(line).is_some() {
        return table;
    }
    // Only a `key = value` line names a key; a line of a multi-line string
    // ("a = b" in prose) does not.
    let bare = |l: &str| -> Option<String> {
        let key = l.split_once('=')?.0.trim().trim_matches('"');
        (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))).then(|| key.to_string())
    };
    // Inside a multi-line string (an odd number of `"""` before the error),
    // the key is the one that opened it: the last `key = """` above.
    let opened = || {
        let upto = &src[..offset];
        let at = upto.rfind("\"\"\"").filter(|_| upto.matches("\"\"\"").count() % 2 == 1)?;
        let line_start = upto[..at].rfind('\n').map_or(0, |i| i + 1);
        bare(&upto[line_start..at])
    };
    // Else the line is itself the problem (prose where a key should be): name
    // its first word, which is what the parser took for a key.
    let first_word = || line.split(|c: char| c.is_whitespace() || c == '=').next().filter(|w| !w.is_empty()).map(str::to_string);
    let key = bare(line).or_else(opened).or_else(first_word).unwrap_or_default();
    let key = key.as_str();
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key.to_string(),
        (false, false) => format!("{table}.{key}"),
    }
}

/// Scenario files under `paths` (files as given, folders' `*.toml` sorted
/// by name). Only regular files are taken: anything else named `*.toml` in
/// a folder (a FIFO, a link to a device) is an error naming it, as is a
/// folder without one scenario file (a run of nothing would pass).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let error = |file: &Path, message: String| ScenarioError { file: file.to_path_buf(), position: None, key: String::new(), message };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| error(p, format!("cannot read the folder: {e}")))?;
            let mut files: Vec<PathBuf> =
                rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect();
            files.sort();
            for f in &files {
                input::check_regular(f).map_err(|e| error(f, e.to_string()))?;
            }
            if files.is_empty() {
                return Err(error(p, "holds no scenario file; allowed: a folder with files named *.toml (lower case)".into()));
            }
            out.extend(files);
        } else {
            input::check_regular(p).map_err(|e| error(p, e.to_string()))?;
            out.push(p.clone());
        }
    }
    Ok(out)
}
