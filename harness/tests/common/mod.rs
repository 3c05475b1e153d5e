//! What the end-to-end tests of the `kasim` binary share: running it, its
//! stderr as text, and a fresh folder per test. (Each test file includes
//! this module; not every file uses every helper.)
#![allow(dead_code)]

pub mod netns;

use std::path::{Path, PathBuf};
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

/// A fresh, empty folder for one test: `kasim-<test file>-<pid>-<tag>` under the temp folder.
pub fn temp_folder(file: &str, tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kasim-{file}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a temp folder");
    d
}
