//! Where a bad value came from: the file, its line and column, the key, and
//! what is allowed. A leaf module: the scenario loader and the strategy
//! parameters both report through it.

use crate::units::UnitError;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A bad scenario: where, which key, what is wrong, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Turns byte spans into errors with line and column.
pub struct Ctx<'a> {
    pub file: &'a Path,
    pub src: &'a str,
}

impl Ctx<'_> {
    pub fn position(&self, span: Range<usize>) -> (usize, usize) {
        let start = span.start.min(self.src.len());
        let before = &self.src[..start];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(start, |i| start - i - 1) + 1;
        (line, col)
    }

    pub fn error(&self, span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError { file: self.file.to_path_buf(), position: span.map(|s| self.position(s)), key: key.into(), message: message.into() }
    }

    pub fn unit<T>(&self, v: &Spanned<String>, key: &str, parse: impl Fn(&str) -> Result<T, UnitError>) -> Result<T, ScenarioError> {
        parse(v.get_ref()).map_err(|e| self.error(Some(v.span()), key, e.to_string()))
    }
}
