//! Ctrl-C and `kill`: every command stops within a fraction of a second,
//! leaves no half-written file, and exits 130 (SIGINT) or 143 (SIGTERM).
//!
//! The signal handler only records the signal (all a handler may safely do);
//! a watcher thread sees it within 20 ms, removes the temp files of writes in
//! progress (their targets are untouched: a write is a temp file and a
//! rename), runs the cleanups commands registered (`calibrate` removes its
//! network namespaces), and exits. Runs in progress are simply abandoned:
//! nothing of them was written yet.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CLEANUPS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

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
            for path in TEMPS.lock().map(|t| t.clone()).unwrap_or_default() {
                let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir_all(&path));
            }
            for cleanup in CLEANUPS.lock().map(|c| c.clone()).unwrap_or_default() {
                cleanup();
            }
            eprintln!("interrupted: nothing was written");
            std::process::exit(128 + signal);
        }
    });
}

/// A temp file (or folder) being written: removed if a signal ends the command first.
pub fn writing(path: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.push(path.to_path_buf());
    }
}

/// The temp file was renamed into place (or removed).
pub fn written(path: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.retain(|p| p != path);
    }
}

/// Run `cleanup` if a signal ends the command.
pub fn on_signal(cleanup: fn()) {
    if let Ok(mut c) = CLEANUPS.lock() {
        c.push(cleanup);
    }
}
