//! Helpers more than one test module needs.

use harness::scenario::{self, Scenario};
use std::path::Path;

/// A scenario written inline in a test (its errors name `inline.toml`).
pub fn inline(src: &str) -> Scenario {
    scenario::parse(Path::new("inline.toml"), src).unwrap_or_else(|e| panic!("{e}"))
}

/// Simulated time in whole milliseconds: what the tests' hand calculations are written in.
pub fn ms(t: sim::Instant) -> u64 {
    t.as_nanos() / 1_000_000
}
