//! Writing reports: atomically, so an interrupted run never leaves half a file.

use super::CliError;
use std::io::Write;
use std::path::Path;

/// Write `contents` to `path` atomically: a temp file beside it, then rename.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), CliError> {
    write_atomic_with(path, |f| f.write_all(contents.as_bytes()))
}

/// Write a file atomically with `fill`: a temp file beside `path`, synced, then renamed.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<(), CliError> {
    let err = |source| CliError::Write { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("report"), std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    let written = fill(&mut f).and_then(|_| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    std::fs::rename(&tmp, path).map_err(err)
}
