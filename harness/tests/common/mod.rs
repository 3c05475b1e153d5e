//! What the end-to-end tests of the `kasim` binary share: running it, its
//! stderr as text, and a fresh folder per test. (Each test file includes
//! this module; not every file uses every helper.)
#![allow(dead_code)]

pub mod netns;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Run `kasim` with `args` in the harness crate's folder (so `../scenarios` is the catalogue).
pub fn kasim(args: &[&str]) -> Output {
    kasim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Run `kasim` with `args` in `dir`, stdin empty. A run still going after
/// 60 s is killed and fails the test (a read that blocks for ever must not
/// hang the suite).
pub fn kasim_in(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kasim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kasim runs");
    // Drain the pipes on threads, so a large output cannot block the child while we wait.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let stdout = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).map(|_| v).unwrap_or_default()
    });
    let stderr = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).map(|_| v).unwrap_or_default()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("kasim {args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { status, stdout: stdout.join().expect("stdout"), stderr: stderr.join().expect("stderr") }
}

/// What a run printed on stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A fresh, empty folder for one test, `kasim-<test file>-<tag>-XXXXXX` under
/// the temp folder (unique, so parallel runs of the suite never share one).
pub fn temp_folder(file: &str, tag: &str) -> TempFolder {
    let dir = tempfile::Builder::new().prefix(&format!("kasim-{file}-{tag}-")).tempdir().expect("a temp folder");
    TempFolder(dir)
}

/// A test's folder ([`temp_folder`]): removed when dropped, so a run of the
/// suite leaves nothing behind, unless the test panics: then it stays, and
/// its path is printed, for a look at what the test left.
pub struct TempFolder(tempfile::TempDir);

impl std::ops::Deref for TempFolder {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for TempFolder {
    fn as_ref(&self) -> &Path {
        self
    }
}

impl AsRef<std::ffi::OsStr> for TempFolder {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.as_os_str()
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.disable_cleanup(true);
            eprintln!("the failed test's folder is kept: {}", self.0.path().display());
        }
    }
}
