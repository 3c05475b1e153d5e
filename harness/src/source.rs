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
    /// The scenario file (or `<bundled>/NAME.toml` for the embedded catalogue).
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The key, as errors name keys (`strategy[1].interval`, `client.link.up`); empty when unknown.
    pub key: String,
    /// What is wrong and, after "allowed:", what would be accepted.
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
    /// The file being read, for messages.
    pub file: &'a Path,
    /// Its whole text: spans are byte offsets into it.
    pub src: &'a str,
}

impl Ctx<'_> {
    /// The 1-based line and column of a span's start; the column counts
    /// characters, as editors do ("—" is one column, not three bytes).
    pub fn position(&self, span: Range<usize>) -> (usize, usize) {
        let mut start = span.start.min(self.src.len());
        while !self.src.is_char_boundary(start) {
            start -= 1;
        }
        let before = &self.src[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// An error at `span` (if known) for `key`.
    pub fn error(&self, span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError { file: self.file.to_path_buf(), position: span.map(|s| self.position(s)), key: key.into(), message: message.into() }
    }

    /// Parse a spanned string with a unit parser; its error becomes one at the value's span.
    pub fn unit<T>(&self, v: &Spanned<String>, key: &str, parse: impl Fn(&str) -> Result<T, UnitError>) -> Result<T, ScenarioError> {
        parse(v.get_ref()).map_err(|e| self.error(Some(v.span()), key, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "name = \"x\"\n# é — ü\nkey = 1\ndesc = \"—\" ; bad = 2\n";
        let ctx = Ctx { file: Path::new("f.toml"), src };
        let at = |needle: &str| ctx.position(src.find(needle).unwrap()..src.len());
        assert_eq!(at("key"), (3, 1));
        // "desc = \"—\" ; " is 13 characters (15 bytes): `bad` is in column 14.
        assert_eq!(at("bad"), (4, 14));
        // A span inside a multi-byte character starts at that character.
        let dash = src.rfind('—').unwrap();
        assert_eq!(ctx.position(dash + 1..dash + 2), (4, 9));
    }
}
