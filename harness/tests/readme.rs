//! The README's `console` blocks are run as written and their output
//! compared (trycmd): a command or an output that drifts fails this test.
//! Blocks marked `text` or `sh` are not run (they need root, a shell or
//! minutes). In an expected output, a line `...` stands for any number of
//! lines and `[..]` for the rest of a line.
//!
//! The commands run in a fresh folder holding the repository's `scenarios/`,
//! `calibration/` and `examples/`, so what they write (a pcap, an exported scenario) lands
//! there and not in the checkout. To refresh the outputs after a deliberate
//! change: `TRYCMD=overwrite cargo test --release -p harness --test readme`,
//! then read the diff.

mod common;

use std::path::Path;

#[test]
fn readme_commands_print_what_the_readme_says() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf();
    let dir = common::temp_folder("readme", "commands");
    for folder in ["scenarios", "examples", "calibration"] {
        std::os::unix::fs::symlink(repo.join(folder), dir.join(folder)).unwrap();
    }
    // This test binary holds one test, so moving the process into the folder
    // affects nobody else; trycmd runs each command in the current folder.
    std::env::set_current_dir(&dir).unwrap();
    trycmd::TestCases::new()
        .register_bin("kasim", Path::new(env!("CARGO_BIN_EXE_kasim")))
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "off")
        .case(repo.join("README.md"));
    // TestCases runs when dropped (above); then out of the folder, which
    // goes when `dir` does.
    let _ = std::env::set_current_dir(&repo);
}
