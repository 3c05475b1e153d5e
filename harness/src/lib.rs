#![warn(missing_docs)]
//! # harness — kasim's main job
//!
//! Scenario files in, judged runs and metrics out:
//!
//! * [`scenario`]: the TOML format (see CONTRACT.md), validated with errors
//!   that name file, line, column, key and what is allowed;
//! * [`strategy`]: the public [`strategy::Strategy`] trait and the built-in
//!   keepalive policies;
//! * [`driver`]: the application driver on each end of every connection (workload + strategy);
//! * [`session`]: reconnects and request outcomes across a slot's connections;
//! * [`wire`]: message classes and tags; [`source`]: where a bad value came from;
//!   [`input`]: reading untrusted files (regular files only, size limits);
//! * [`catalogue`]: the bundled scenarios, embedded in the binary;
//! * [`runner`]: scenario × strategy × seed in parallel; [`record`]: what one run
//!   leaves behind; [`summary`]: a run boiled down to what the metrics need;
//!   [`metrics`]: summaries → figures; [`confidence`]: their intervals;
//! * [`shard`]: `--shard K/N` partial results and `kasim merge`; [`tune`]: `kasim tune`;
//! * [`check`]: `[[expect]]` evaluation;
//! * [`timeline`]: a readable account of one run; [`export`]: one seed as a fixed scenario;
//!   [`paste`]: the commands kasim prints, quoted to run as printed;
//! * [`calibrate`]: the model against the real kernel, in network namespaces;
//! * `live` (feature `live`): users' tokio code on turmoil, judged the same way;
//! * [`reference`](mod@reference): the generated parts of `docs/reference.md`;
//! * [`cli`]: the `kasim` command.

pub mod calibrate;
pub mod catalogue;
pub mod check;
pub mod cli;
pub mod confidence;
pub mod diff;
pub mod doctor;
pub mod driver;
pub mod export;
pub mod fuzz;
pub mod input;
#[cfg(feature = "live")]
pub mod live;
pub mod metrics;
pub mod netns;
pub mod packed;
pub mod paste;
pub mod plots;
pub mod record;
pub mod reference;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod shard;
pub mod source;
pub mod strategy;
pub mod summary;
pub mod timeline;
pub mod tune;
pub mod units;
pub mod wire;
