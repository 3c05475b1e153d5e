//! The bundled catalogue: every scenario in `scenarios/`, embedded in the
//! binary at build time (`build.rs`), so an installed `kasim` runs the same
//! files as the checkout it was built from and names them by scenario name.
//! The calibration set (`calibration/`, what `kasim calibrate` runs with no
//! PATH) is embedded the same way.
//! Below the command line (it needs only the scenario parser): the command
//! line, the netns engine, the fuzzers and the `kasim` library all find
//! bundled scenarios here.

use crate::scenario::{self, Scenario, ScenarioError};
use std::path::{Path, PathBuf};

/// The bundled scenarios as (file name, text), embedded at build time.
pub fn texts() -> &'static [(&'static str, &'static str)] {
    embedded::CATALOGUE
}

/// The bundled catalogue, embedded at build time (`build.rs`).
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));
}

/// What no PATH means: `scenarios/` in the current folder (a checkout, whose
/// files may be edited), else `None`: the copy embedded in the binary at
/// build time, named by scenario name in every printed command. (Falling
/// back to the build-time checkout's folder, as before, made an installed
/// binary print that absolute path, and run files that may have changed
/// since it was built: issue 29 item 4.)
pub fn default_paths() -> Option<Vec<PathBuf>> {
    let local = PathBuf::from("scenarios");
    local.is_dir().then(|| vec![local])
}

/// The embedded copy of a bundled scenario, by file name or scenario name
/// (`buildbot-dialup.toml`, `scenarios/buildbot-dialup.toml`, `buildbot-dialup`),
/// parsed: `None` when no bundled scenario has that name. (Every bundled one
/// parses, which a test checks; an error is passed on, not hidden.)
pub fn named(path: &Path) -> Option<Result<Scenario, ScenarioError>> {
    let (file, text) = entry(path)?;
    Some(scenario::parse(&Path::new("<bundled>").join(file), text))
}

/// The catalogue's (file name, text) for a path's last component, by file
/// name or scenario name.
pub fn entry(path: &Path) -> Option<(&'static str, &'static str)> {
    let name = path.file_name()?.to_str()?;
    embedded::CATALOGUE.iter().find(|(f, _)| *f == name || f.strip_suffix(".toml") == Some(name)).copied()
}

/// Every bundled scenario, from the copy embedded in the binary (paths read `<bundled>/NAME.toml`).
pub fn scenarios() -> Result<Vec<Scenario>, ScenarioError> {
    embedded::CATALOGUE.iter().map(|(file, text)| scenario::parse(&Path::new("<bundled>").join(file), text)).collect()
}

/// Where the embedded calibration set's scenarios say they come from.
const CALIBRATION_PLACE: &str = "<bundled>/calibration";

/// The calibration set `kasim calibrate` runs with no PATH: `calibration/`
/// in the current folder (a checkout), else the copy embedded in the binary.
pub fn calibration() -> Result<Vec<Scenario>, ScenarioError> {
    let local = PathBuf::from("calibration");
    if local.is_dir() {
        return scenario::discover(&[local])?.iter().map(|f| scenario::load(f)).collect();
    }
    embedded::CALIBRATION.iter().map(|(file, text)| scenario::parse(&Path::new(CALIBRATION_PLACE).join(file), text)).collect()
}

/// The text of a scenario file, or of the bundled one of that name (or of
/// the embedded calibration set's, for a path [`calibration`] gave).
pub fn source_text(path: &Path) -> Result<String, crate::input::ReadError> {
    crate::input::read_text(path, crate::input::MAX_SCENARIO_BYTES).or_else(|e| {
        let calibration = path.starts_with(CALIBRATION_PLACE).then(|| {
            let name = path.file_name().and_then(|n| n.to_str());
            embedded::CALIBRATION.iter().find(|(f, _)| Some(*f) == name).copied()
        });
        calibration.unwrap_or_else(|| entry(path)).map(|(_, text)| text.to_string()).ok_or(e)
    })
}
