//! `kasim`: the command line. (Scenario runs arrive with the harness issue.)

fn main() {
    println!("kasim {}: the simulation engine (crate `sim`) is built; scenario runs are not yet implemented.", env!("CARGO_PKG_VERSION"));
    println!("Try: cargo test -p sim   |   cargo bench -p sim");
}
