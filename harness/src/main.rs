//! `kasim`: see `kasim --help` and the README.

use std::sync::atomic::{AtomicBool, Ordering};

/// Was descriptor 1 closed when the process started (`kasim run >&-`)?
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Runs before Rust's runtime starts, which would reopen a closed stdout on
/// /dev/null (the report would vanish with exit 0): only a constructor sees
/// the descriptor as the shell left it.
extern "C" fn probe_stdout() {
    // SAFETY: F_GETFD only reads descriptor 1's flags.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

#[used]
#[link_section = ".init_array"]
static PROBE_STDOUT: extern "C" fn() = probe_stdout;

fn main() -> std::process::ExitCode {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        eprintln!("error: stdout is closed; kasim prints its report there (redirect it to a file or /dev/null)");
        return std::process::ExitCode::from(2);
    }
    harness::cli::main()
}
