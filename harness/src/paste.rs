//! Commands kasim prints for people to paste (`reproduce with: kasim replay
//! …`, the HTML report's replay lines, a storm's `--until`): each must run as
//! printed, in a POSIX shell, from the directory it was printed in. A
//! bundled scenario is named as `kasim replay NAME` finds it (its
//! `<bundled>/NAME.toml` path is no file anywhere); anything a shell would
//! split or expand (a space, a quote, `$`, `*`) is single-quoted.

use std::path::Path;

/// `s` as one shell word: as is when it is plain, else in single quotes
/// (a single quote inside written `'\''`).
pub fn word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// How a command names the scenario read from `path`: a bundled one by its
/// name, any other by its path as given.
pub fn scenario(path: &Path) -> String {
    match path.strip_prefix("<bundled>") {
        Ok(file) => word(file.to_string_lossy().trim_end_matches(".toml")),
        Err(_) => word(&path.display().to_string()),
    }
}

/// `kasim replay SCENARIO --strategy NAME --seed S`, ready to paste.
pub fn replay(path: &Path, strategy: &str, seed: u64) -> String {
    format!("kasim replay {} --strategy {} --seed {seed}", scenario(path), word(strategy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_commands_survive_a_shell() {
        assert_eq!(
            replay(Path::new("scenarios/buildbot-dialup.toml"), "ping-10m-3m", 3),
            "kasim replay scenarios/buildbot-dialup.toml --strategy ping-10m-3m --seed 3"
        );
        // A bundled scenario by name: `<bundled>/…` is not a path a shell can open.
        assert_eq!(scenario(Path::new("<bundled>/buildbot-dialup.toml")), "buildbot-dialup");
        assert_eq!(
            replay(Path::new("my scenarios/it's.toml"), "two strikes", 0),
            "kasim replay 'my scenarios/it'\\''s.toml' --strategy 'two strikes' --seed 0"
        );
        assert_eq!(word("$HOME"), "'$HOME'");
        assert_eq!(word(""), "''");
    }

    /// The quoting is what a shell undoes: `sh -c 'printf %s\\n WORD'` prints the original.
    #[test]
    fn a_shell_reads_each_word_back() {
        for s in ["plain", "two words", "it's", "$HOME", "a*b", "semi;colon", "back\\slash", "\"quoted\""] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", word(s))).output().expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
