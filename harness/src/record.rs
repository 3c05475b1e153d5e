//! What one run leaves behind: its faults with their drawn times, the
//! world's outcome, and what its applications counted. Kept apart from the
//! runner that fills it in, so the per-run summary, the timeline and the
//! plots read it without depending on the runner.

use crate::driver::DriverStats;
use crate::scenario::FaultKind;
use crate::session::{RequestBook, RequestCounts, RequestOutcome};
use sim::world::HostRef;
use sim::{Outcome, Side};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// A fault with its times drawn for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct DerivedFault {
    /// What happens (the `[[fault]]`'s `kind`).
    pub kind: FaultKind,
    /// The host's role, or that of the host whose link; `None` for the NAT.
    pub side: Option<Side>,
    /// The host itself (which client of a fleet); `None` for the NAT.
    pub host: Option<HostRef>,
    /// As a scenario names it: "client", "server.link", "client:3.link", "nat".
    pub target: String,
    /// When it starts: simulated time from the start of the run (the world's global clock),
    /// drawn to the millisecond; always before the horizon.
    pub at: Duration,
    /// How long it lasts (reboot, suspend, outage), or when a crashed process restarts
    /// (crash); drawn anew for each occurrence, at least 1 ms. `None` when the kind has no
    /// duration or a crash never restarts.
    pub duration: Option<Duration>,
    /// The box it hits, by its position on the path (a nat_reboot's NAT, the proxy).
    pub middlebox: Option<u8>,
}

/// One run's raw result.
#[derive(Debug)]
pub struct RunRecord {
    /// The seed the run was made with (`base_seed + i`).
    pub seed: u64,
    /// Every fault occurrence of the run with its drawn times, in scenario order.
    pub faults: Vec<DerivedFault>,
    /// What the simulated world recorded: declarations and their verdicts, each slot's
    /// connections, breaks, NAT expiries, wire counters, and the trace when asked for.
    pub outcome: Outcome,
    /// Ping and pong counters of every client application, and of every server one.
    pub endpoints: [DriverStats; 2],
    /// The scenario's horizon: simulated time the run covered.
    pub horizon: Duration,
    /// Request outcomes, when the scenario measures sessions.
    pub requests: Option<RequestCounts>,
    /// Each request's outcome, when the run was traced (`kasim replay`).
    pub request_log: Vec<RequestOutcome>,
}

/// What a run's applications count while it runs, read when it ends.
pub struct Probes {
    /// Ping and pong counters, `[client, server]`.
    pub stats: [Rc<RefCell<DriverStats>>; 2],
    /// The request outcomes, when the scenario measures sessions.
    pub book: Option<Rc<RefCell<RequestBook>>>,
}
