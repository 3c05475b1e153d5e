//! Output: reports written atomically (an interrupted run never leaves half a
//! file), and stdout written so that a closed pipe is not an error.

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
    super::signals::writing(&tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        fill(&mut f).and_then(|_| f.sync_all())?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    super::signals::written(&tmp);
    result.map_err(err)
}

/// Print `text` on stdout, for people and scripts. A reader that stops
/// reading (`kasim run --format json | head -1`) ends the command quietly
/// ([`CliError::ClosedPipe`], exit 0, no message); any other failure (a full
/// disk behind `> file`) is one line on stderr and exit 2.
pub fn print_out(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => CliError::ClosedPipe,
        _ => CliError::Stdout(e),
    })
}
