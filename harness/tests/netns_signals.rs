//! `--engine netns` under signals: SIGINT removes everything; SIGKILL leaves
//! namespaces for the next run to reap. Its own test binary, because any
//! other netns run going on at the same time would reap the namespaces this
//! test needs to see left behind (cargo runs test binaries one at a time).

mod common;
use common::netns::*;
use std::process::Command;

/// SIGINT in the middle of a run: exit 130, and no namespace or program of
/// the run is left. SIGKILL: the programs die with kasim (PR_SET_PDEATHSIG),
/// its namespaces stay, and the next netns run reaps them.
#[test]
#[ignore = "needs root, iproute2 and socat: cargo test -- --include-ignored (as .ci/run does)"]
fn interrupted_and_killed_runs_leave_nothing_behind() {
    // A client program with a marker no other test uses.
    let marker = format!("{}.25", 4000 + std::process::id() % 1000);
    let text = format!(
        "name = \"long\"\nhorizon = \"30s\"\n\n[[strategy]]\nname = \"sleeper\"\nkind = \"program\"\nclient = [\"sleep\", \"{marker}\"]\n"
    );
    let (_dir, path) = scenario("signals", &text);
    let alive = || {
        let out = Command::new("pgrep").args(["-f", &format!("^sleep {marker}$")]).output().unwrap();
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    };
    for (signal, code) in [(libc::SIGINT, Some(130)), (libc::SIGKILL, None)] {
        let mut child = kasim().arg("run").arg(&path).args(["--engine", "netns"]).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        let started = std::time::Instant::now();
        while !alive() && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(alive(), "the program started");
        assert!(!namespaces_of(pid).is_empty(), "the run made its namespaces");
        // SAFETY: a signal to our own child.
        unsafe {
            libc::kill(pid as i32, signal);
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), code);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!alive(), "the program died with kasim (signal {signal})");
        if signal == libc::SIGINT {
            assert_eq!(namespaces_of(pid), Vec::<String>::new());
        } else {
            let left = namespaces_of(pid);
            assert!(!left.is_empty(), "SIGKILL leaves namespaces for the next run to reap");
            let (_d, short) = scenario("short", "name = \"s\"\nhorizon = \"1s\"\n\n[[strategy]]\nname = \"none\"\nkind = \"none\"\n");
            let (out, _) = run_kasim(&["run", short.to_str().unwrap(), "--engine", "netns"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(String::from_utf8_lossy(&out.stderr).contains("removed"), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(namespaces_of(pid), Vec::<String>::new(), "reaped");
        }
    }
}
