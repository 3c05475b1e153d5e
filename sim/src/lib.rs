//! # sim — a deterministic packet-level network with Linux-faithful TCP timers
//!
//! The engine under kasim. A [`World`] holds client hosts (a fleet), each
//! with its access link and its own stack keeping one or more connections
//! (a pool: TCP, or QUIC through quinn-proto ([`quic`]), or a WireGuard-style
//! datagram [`tunnel`]) to a server, an optional NAT they all share, an optional
//! TCP-terminating proxy, and a list of faults; it runs in simulated time
//! from a seed and reports every death declaration its applications made,
//! each judged against the ground truth of its own connection.
//!
//! Design rules, each for a reason:
//! * **Discrete events, integer time** ([`time`]): idle hours cost nothing and
//!   every run is exactly reproducible.
//! * **Sans-IO state machines** ([`tcp::TcpEndpoint`], [`nat::Nat`],
//!   [`app::Application`]): fed `now`, asked for their next deadline; nothing
//!   reads a clock, so each piece is testable on its own.
//! * **No per-event scan of the connections** ([`world`]): stacks find a
//!   segment's connection by hash, the NAT its flow by hash and its next
//!   expiry from a heap, and each connection has its own wake-up in the event
//!   queue: an event costs O(log n) in the number of connections.
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

#![warn(missing_docs)]

pub mod app;
mod bucket_queue;
pub mod error;
mod heap;
pub mod link;
pub mod nat;
pub mod oracle;
pub mod packet;
mod prefetch;
pub mod proxy_config;
pub mod quic;
pub mod rng;
pub mod side;
mod slab;
pub mod socket;
pub mod tcp;
pub mod time;
pub mod timer;
pub mod trace;
pub mod tunnel;
pub mod world;

pub use app::{AppEvent, AppIo, Application};
pub use error::ConfigError;
pub use side::Side;
pub use time::Instant;
pub use world::{AccessLink, Fault, Outcome, World, WorldConfig};
