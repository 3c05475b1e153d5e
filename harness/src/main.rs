//! `kasim`: see `kasim --help` and the README.

fn main() -> std::process::ExitCode {
    harness::cli::main()
}
