//! kasim's end-to-end tests, as one test binary (one link instead of one per
//! file; `cargo test -p kasim-tests NAME` still picks tests by name, and
//! `cargo test -p kasim-tests fleet::` picks one file's).
//!
//! Each module tests one capability through the crates' public interfaces:
//! scenario files parsed as a user writes them, runs and reports as the
//! command line makes them, figures checked against a hand calculation, the
//! kernel or a property. Helpers more than one module needs are in `common`.

mod common;

mod bad_input;
mod coverage;
mod deep_seeds;
mod fleet;
mod halving;
mod hand_computed;
mod idle_close;
mod listen_queue;
mod live;
mod modules;
mod operating_systems;
mod presets;
mod proxy;
mod reconnect_property;
mod repeating_faults;
mod sessions;
mod sessions_property;
mod snapshots;
