//! Output: reports written atomically (an interrupted run never leaves half a
//! file), and stdout written so that a closed pipe is not an error.

use super::CliError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `contents` to `path` atomically: a temp file beside it, then rename.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), CliError> {
    write_atomic_with(path, |f| f.write_all(contents.as_bytes()))
}

/// Follow `path` through symbolic links to the file they name (which may not
/// exist yet). A loop (more than 40 links, as Linux's ELOOP) is an error:
/// writing "through" it would replace the link itself.
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&p) {
            Ok(target) => p = p.parent().map_or(target.clone(), |dir| dir.join(&target)),
            Err(_) => return Ok(p),
        }
    }
    Err(std::io::Error::other("it is a loop of symbolic links; allowed: a file path, or a link to one"))
}

/// Do two output paths name the same file (through links, `./`, `..`)?
pub fn same_output(a: &Path, b: &Path) -> bool {
    let key = |p: &Path| -> Option<(PathBuf, std::ffi::OsString)> {
        let r = resolve(p).ok()?;
        let parent = r.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some((parent.canonicalize().ok()?, r.file_name()?.to_os_string()))
    };
    a == b || key(a).is_some_and(|k| Some(k) == key(b))
}

/// Remove what killed runs (SIGKILL: no handler runs) left beside `target`:
/// temp files and folders `.NAME.tmp-PID` whose process is gone. A live
/// process's temp is left alone (another kasim writing the same report).
fn reap_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        let Some(pid) = file.strip_prefix(&prefix).and_then(|p| p.parse::<i32>().ok()) else { continue };
        // SAFETY: kill with signal 0 only asks whether the process exists.
        // Only a real process id: 0 and negatives name process groups.
        let gone = pid > 0
            && pid != std::process::id() as i32
            && unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let path = e.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

/// Write a file with `fill`, never leaving half of it: a regular file (or a
/// new one) is written to a temp file beside it, synced, then renamed over
/// it; a symbolic link has its target replaced that way (the link stays); a
/// device, FIFO or socket (`--junit /dev/null`, a pipe) is written in place,
/// since renaming over it would replace it with a regular file.
pub fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>) -> Result<(), CliError> {
    let err = |source| CliError::Write { path: path.to_path_buf(), source };
    let target = resolve(path).map_err(err)?;
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => return Err(err(std::io::Error::other("it is a folder; allowed: a file path"))),
        Ok(m) if !m.is_file() => {
            let mut f = std::fs::OpenOptions::new().write(true).open(&target).map_err(err)?;
            return fill(&mut f).map_err(err);
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("report");
    reap_stale_temps(dir, name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _guard = super::signals::writing(&tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        fill(&mut f).and_then(|_| f.sync_all())?;
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    super::signals::written(&tmp, result.is_ok().then_some(path));
    result.map_err(err)
}

/// Write a set of files into the folder `dir` as a whole: into a new sibling
/// folder first, which then takes `dir`'s place in one atomic exchange
/// (`renameat2(RENAME_EXCHANGE)`), so that `dir` holds the old set or the new
/// one, never a mix. A `dir` that holds anything but such a set (`--out .`)
/// is refused rather than replaced; a `dir` that is a file is refused too.
pub fn write_set(given: &Path, files: &[(&str, String)]) -> Result<(), CliError> {
    let err = |source| CliError::Write { path: given.to_path_buf(), source };
    let refuse = |why: String| err(std::io::Error::other(why));
    // `--out LINK` writes the folder the link names (exchanging the link
    // itself for the new folder left the old report at the target).
    let resolved = resolve(given).map_err(err)?;
    let dir = resolved.as_path();
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(refuse("it is a file; allowed: a folder (created if missing)".into())),
        Ok(_) => {
            let ours = |name: &str| files.iter().any(|(f, _)| *f == name);
            for entry in std::fs::read_dir(dir).map_err(err)? {
                let name = entry.map_err(err)?.file_name().to_string_lossy().to_string();
                if !ours(&name) {
                    return Err(refuse(format!(
                        "it holds {name}, which is not one of this report's files; allowed: a new folder or one holding only {}",
                        files.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
                    )));
                }
            }
        }
        Err(_) => {}
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(err)?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("report");
    reap_stale_temps(parent, name);
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _guard = super::signals::writing(&tmp);
    let result = (|| {
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp)?;
        for (file, contents) in files {
            let mut f = std::fs::File::create(tmp.join(file))?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
        }
        if dir.is_dir() {
            exchange(&tmp, dir)?;
            std::fs::remove_dir_all(&tmp)
        } else {
            std::fs::rename(&tmp, dir)
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    super::signals::written(&tmp, result.is_ok().then_some(given));
    result.map_err(err)
}

/// Swap two paths atomically (Linux `renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths, relative to the working directory.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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
