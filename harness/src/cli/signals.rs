//! Ctrl-C and `kill`: every command stops within a fraction of a second,
//! leaves no half-written file, and exits 130 (SIGINT) or 143 (SIGTERM).
//!
//! The signal handler only records the signal (all a handler may safely do);
//! a watcher thread sees it within 20 ms, waits for a write in progress to
//! finish or fail (a write holds [`WRITING`] from its temp file to its
//! rename, so the watcher never removes a temp file the writer is about to
//! rename, and never says "nothing was written" after a rename), removes
//! the temp files left, runs the cleanups registered (`calibrate` removes
//! its network namespaces), says what was written, and exits. Runs in
//! progress are simply abandoned: nothing of them was written yet.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CLEANUPS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());
/// Held by a write from its temp file to its rename (or failure).
static WRITING: Mutex<()> = Mutex::new(());
/// The outputs written so far (renamed into place).
static WRITTEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn record(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
}

/// Install the handlers and the watcher (once, at start).
pub fn install() {
    let handler = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: `record` only stores into an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_millis(20));
        let signal = SIGNAL.load(Ordering::SeqCst);
        if signal != 0 {
            // Held until exit: no write starts or finishes after this.
            let _no_more_writes = WRITING.lock().unwrap_or_else(|e| e.into_inner());
            for path in TEMPS.lock().map(|t| t.clone()).unwrap_or_default() {
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
            }
            for cleanup in CLEANUPS.lock().map(|c| c.clone()).unwrap_or_default() {
                cleanup();
            }
            let written = WRITTEN.lock().map(|w| w.clone()).unwrap_or_default();
            if written.is_empty() {
                eprintln!("interrupted: nothing was written");
            } else {
                let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                eprintln!("interrupted: {} had been written in whole; nothing else was", names.join(", "));
            }
            std::process::exit(128 + signal);
        }
    });
}

/// A temp file (or folder) being written: removed if a signal ends the
/// command first. Hold the guard until [`written`]: a signal's watcher
/// waits for it.
pub fn writing(path: &Path) -> std::sync::MutexGuard<'static, ()> {
    let guard = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut t) = TEMPS.lock() {
        t.push(path.to_path_buf());
    }
    guard
}

/// The temp file was renamed into place as `output` (or removed: `None`).
pub fn written(path: &Path, output: Option<&Path>) {
    if let Ok(mut t) = TEMPS.lock() {
        t.retain(|p| p != path);
    }
    if let (Some(output), Ok(mut w)) = (output, WRITTEN.lock()) {
        w.push(output.to_path_buf());
    }
}

/// Run `cleanup` if a signal ends the command.
pub fn on_signal(cleanup: fn()) {
    if let Ok(mut c) = CLEANUPS.lock() {
        c.push(cleanup);
    }
}
