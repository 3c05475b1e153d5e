//! Where a bad value came from: the file, its line and column, the key, and
//! what is allowed. A leaf module: the scenario loader and the strategy
//! parameters both report through it.

use crate::units::UnitError;
use std::cell::OnceCell;
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
    /// Where each line starts (byte offsets), made at the first lookup: a
    /// position is then a binary search, not a scan of the text before it
    /// (40 000 `[[expect]]`s, each remembering its line, took 86 s).
    line_starts: OnceCell<Vec<usize>>,
}

impl<'a> Ctx<'a> {
    /// Positions in `src`, the text of `file`.
    pub fn new(file: &'a Path, src: &'a str) -> Self {
        Ctx { file, src, line_starts: OnceCell::new() }
    }

    /// The 1-based line and column of a span's start; the column counts
    /// characters, as editors do ("—" is one column, not three bytes).
    pub fn position(&self, span: Range<usize>) -> (usize, usize) {
        let mut start = span.start.min(self.src.len());
        while !self.src.is_char_boundary(start) {
            start -= 1;
        }
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0).chain(self.src.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1)).collect()
        });
        // The last line start at or before `start`.
        let line = starts.partition_point(|&s| s <= start);
        let line_start = starts[line - 1];
        (line, self.src[line_start..start].chars().count() + 1)
    }

    /// An error at `span` (if known) for `key`.
    pub fn error(&self, span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError { file: self.file.to_path_buf(), position: span.map(|s| self.position(s)), key: key.into(), message: message.into() }
    }

    /// A timeout that `"0s"` turns off (`None`; `zero` says what 0 means in
    /// the message, "never" or "the kernel's"): otherwise at least 1 ms, the
    /// resolution of every application timer.
    pub fn timeout(&self, v: &Spanned<String>, key: &str, zero: &str) -> Result<Option<std::time::Duration>, ScenarioError> {
        let d = self.unit(v, key, crate::units::parse_duration)?;
        if !d.is_zero() && d < std::time::Duration::from_millis(1) {
            return Err(self.error(Some(v.span()), key, format!("is under a millisecond; allowed: \"0s\" ({zero}) or at least \"1ms\"")));
        }
        Ok(Some(d).filter(|d| !d.is_zero()))
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
        let ctx = Ctx::new(Path::new("f.toml"), src);
        let at = |needle: &str| ctx.position(src.find(needle).unwrap()..src.len());
        assert_eq!(at("key"), (3, 1));
        // "desc = \"—\" ; " is 13 characters (15 bytes): `bad` is in column 14.
        assert_eq!(at("bad"), (4, 14));
        // A span inside a multi-byte character starts at that character.
        let dash = src.rfind('—').unwrap();
        assert_eq!(ctx.position(dash + 1..dash + 2), (4, 9));
    }

    /// The line index gives what a scan of the text before the offset gives,
    /// at every offset (a newline, the first and last byte, inside a
    /// multi-byte character, past the end).
    #[test]
    fn positions_from_the_line_index_match_a_scan_at_every_offset() {
        let src = "a = 1\n\n# é — ü\nkey = \"—x\"\nlast";
        let ctx = Ctx::new(Path::new("f.toml"), src);
        for offset in 0..src.len() + 3 {
            let mut start = offset.min(src.len());
            while !src.is_char_boundary(start) {
                start -= 1;
            }
            let before = &src[..start];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let scanned = (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1);
            assert_eq!(ctx.position(offset..offset), scanned, "offset {offset}");
        }
    }
}
