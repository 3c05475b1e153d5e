//! # sim — a deterministic packet-level network with Linux-faithful TCP timers
//!
//! The engine under kasim. A [`World`] holds one TCP connection between a
//! client and a server, their access links, an optional NAT, and a list of
//! faults; it runs in simulated time from a seed and reports every death
//! declaration its applications made, judged against ground truth.
//!
//! Design rules, each for a reason:
//! * **Discrete events, integer time** ([`time`]): idle hours cost nothing and
//!   every run is exactly reproducible.
//! * **Sans-IO state machines** ([`tcp::TcpEndpoint`], [`nat::Nat`],
//!   [`app::Application`]): fed `now`, asked for their next deadline; nothing
//!   reads a clock, so each piece is testable on its own.
//! * **Linux where it matters** ([`tcp`], [`timer`]): the numbers kasim
//!   reports are detection latencies, so timers follow the kernel, down to its
//!   timer wheel's rounding.
//! * **Randomness split by purpose** ([`rng`]): one component's draws never
//!   shift another's.
//! * **A ground-truth oracle** ([`oracle`]) and a zero-cost-when-off
//!   [`trace`].
//!
//! ```
//! use sim::{app::Idle, World, WorldConfig, Fault, Side, Instant};
//! use std::time::Duration;
//!
//! let cfg = WorldConfig {
//!     horizon: Duration::from_secs(3600),
//!     faults: vec![Fault::Vanish { host: Side::Server.into(), at: Instant::from_secs(60) }],
//!     ..WorldConfig::default()
//! };
//! let outcome = World::new(cfg, Box::new(Idle), Box::new(Idle)).unwrap().run();
//! assert_eq!(outcome.broken.map(|b| b.0), Some(Instant::from_secs(60)));
//! assert!(outcome.declarations.is_empty()); // an idle socket never notices
//! ```

pub mod app;
pub mod error;
pub mod link;
pub mod nat;
pub mod oracle;
pub mod packet;
pub mod rng;
pub mod tcp;
pub mod time;
pub mod timer;
pub mod trace;
pub mod world;

pub use app::{AppEvent, AppIo, Application, Side};
pub use error::ConfigError;
pub use time::Instant;
pub use world::{AccessLink, Fault, Outcome, World, WorldConfig};
