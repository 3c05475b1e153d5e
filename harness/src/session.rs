//! Sessions: what the client's users feel across connections.
//!
//! Detection latency and false positives are the detector's view. A session
//! is the client's connection *slot* over the whole run: its connection may
//! end (declared dead, reset, closed by an idle timeout), be replaced
//! (`[client.reconnect]`: eager, lazy, with backoff and jitter), and meanwhile
//! the client keeps issuing requests. Two records come out of it:
//!
//! - a [`RequestBook`] (shared by every client application of a run): each
//!   request ends as exactly one of ok (whole reply within its `timeout`),
//!   hung (later than that, or none by the horizon while its connection
//!   stayed open) or failed (its connection ended first, or there was none
//!   and the mode is `off`); a request still young at the horizon is not
//!   counted;
//! - [`Reconnector`], the per-slot state machine that decides when the next
//!   connection attempt starts (sans-IO: fed `now`, asked for its deadline).
//!
//! The unavailable periods are not kept here: they follow from the world's
//! ground truth (each connection's establishment, break and end), so the
//! metrics derive them from the run's outcome (see `summary::unavailable_periods`).

use crate::packed::PackedCounts;
use crate::scenario::{Reconnect, ReconnectMode};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sim::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// A request's identity: (slot, traffic entry, sequence number).
pub type RequestId = (u32, u32, u64);

#[derive(Clone, Copy, Debug)]
struct Pending {
    issued: Instant,
    timeout: Option<Duration>,
    /// The connection (generation) it was written on; `None` while it waits for one.
    conn: Option<u32>,
}

/// Request outcomes of one run: counts and the latencies of the ok ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Requests issued (every one, counted or not).
    pub issued: u64,
    /// Still unanswered at the horizon and not yet hung: not counted.
    pub uncounted: u64,
    /// Requests whose whole reply arrived within their `timeout` (contract: `requests.ok`).
    pub ok: u64,
    /// Requests whose connection ended before the reply, or that found no connection with
    /// reconnection `off` (contract: `requests.failed`).
    pub failed: u64,
    /// Requests unanswered after their `timeout`, or by the horizon while their connection
    /// stayed open (contract: `requests.hung`).
    pub hung: u64,
    /// Latency of each ok request rounded to the millisecond → how many.
    /// Reports round to the millisecond, so percentiles from these are exact.
    pub latency_ms: BTreeMap<u64, u64>,
    /// Sum of the ok latencies, microseconds (for the mean).
    pub latency_sum_us: u64,
}

impl RequestCounts {
    /// Requests counted: `ok + failed + hung` (contract: `requests.sent`).
    pub fn sent(&self) -> u64 {
        self.ok + self.failed + self.hung
    }

    /// Add a finished run's tally (aggregating runs).
    pub fn add(&mut self, other: &RequestTally) {
        self.issued += other.issued;
        self.uncounted += other.uncounted;
        self.ok += other.ok;
        self.failed += other.failed;
        self.hung += other.hung;
        for (ms, n) in other.latency_ms.iter() {
            *self.latency_ms.entry(ms).or_default() += n;
        }
        self.latency_sum_us += other.latency_sum_us;
    }

    fn ok_after(&mut self, latency: Duration) {
        self.ok += 1;
        let ms = (latency.as_nanos() + 500_000) / 1_000_000;
        *self.latency_ms.entry(ms as u64).or_default() += 1;
        self.latency_sum_us += (latency.as_nanos() / 1000) as u64;
    }
}

/// A finished run's request outcomes as kept per seed until the report:
/// [`RequestCounts`] with its latencies packed ([`PackedCounts`], a few bytes
/// a distinct latency instead of a B-tree's nodes). Serialized exactly as
/// `RequestCounts` is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestTally {
    /// Requests issued (every one, counted or not).
    pub issued: u64,
    /// Still unanswered at the horizon and not yet hung: not counted.
    pub uncounted: u64,
    /// Whole reply within the request's `timeout`.
    pub ok: u64,
    /// Its connection ended first, or there was none and reconnection is `off`.
    pub failed: u64,
    /// No reply within its `timeout`, or none by the horizon on a connection that stayed open.
    pub hung: u64,
    /// Latency of each ok request rounded to the millisecond → how many.
    pub latency_ms: PackedCounts,
    /// Sum of the ok latencies, microseconds (for the mean).
    pub latency_sum_us: u64,
}

impl From<&RequestCounts> for RequestTally {
    fn from(c: &RequestCounts) -> Self {
        RequestTally {
            issued: c.issued,
            uncounted: c.uncounted,
            ok: c.ok,
            failed: c.failed,
            hung: c.hung,
            latency_ms: PackedCounts::from(&c.latency_ms),
            latency_sum_us: c.latency_sum_us,
        }
    }
}

/// How one request ended, for `kasim replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestEnd {
    /// The whole reply arrived within the request's `timeout` (or it has none).
    Ok {
        /// From issue to the whole reply, on the client host's simulated clock (which
        /// stops while the host is suspended).
        latency: Duration,
    },
    /// The reply came later than the request's `timeout`, or none came by the horizon (or by
    /// the end of its connection) once the timeout had passed.
    Hung,
    /// Its connection ended before the reply, or there was none and reconnection is `off`.
    Failed,
}

/// One request's outcome and when it was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestOutcome {
    /// When the outcome was decided (the client host's simulated clock): the reply, the
    /// connection's end, the failure, or the horizon.
    pub at: Instant,
    /// Which request: (slot, traffic entry, sequence number).
    pub id: RequestId,
    /// When the client issued it (its host's simulated clock).
    pub issued: Instant,
    /// How it ended.
    pub end: RequestEnd,
}

/// Every client request of a run still waiting for its outcome, and the
/// outcomes so far (each one logged too, when replaying).
#[derive(Debug, Default)]
pub struct RequestBook {
    pending: BTreeMap<RequestId, Pending>,
    counts: RequestCounts,
    log: Option<Vec<RequestOutcome>>,
}

impl RequestBook {
    /// A book that also logs each outcome (for `kasim replay`).
    pub fn logging() -> Self {
        RequestBook { log: Some(Vec::new()), ..RequestBook::default() }
    }

    fn record(&mut self, at: Instant, id: RequestId, issued: Instant, end: RequestEnd) {
        match end {
            RequestEnd::Ok { latency } => self.counts.ok_after(latency),
            RequestEnd::Hung => self.counts.hung += 1,
            RequestEnd::Failed => self.counts.failed += 1,
        }
        if let Some(log) = &mut self.log {
            log.push(RequestOutcome { at, id, issued, end });
        }
    }

    /// A request was issued at `now`: written on connection `conn`, or
    /// waiting for one (`None`).
    pub fn issue(&mut self, id: RequestId, now: Instant, timeout: Option<Duration>, conn: Option<u32>) {
        self.counts.issued += 1;
        self.pending.insert(id, Pending { issued: now, timeout, conn });
    }

    /// A waiting request was written on connection `conn`.
    pub fn written(&mut self, id: RequestId, conn: u32) {
        if let Some(p) = self.pending.get_mut(&id) {
            p.conn = Some(conn);
        }
    }

    /// A request failed at once (no connection, reconnect `off`).
    pub fn fail_now(&mut self, id: RequestId, now: Instant) {
        self.counts.issued += 1;
        self.record(now, id, now, RequestEnd::Failed);
    }

    /// Its whole reply arrived at `now`.
    pub fn answered(&mut self, id: RequestId, now: Instant) {
        let Some(p) = self.pending.remove(&id) else { return };
        let latency = now.saturating_since(p.issued);
        let end = match p.timeout {
            Some(t) if latency > t => RequestEnd::Hung,
            _ => RequestEnd::Ok { latency },
        };
        self.record(now, id, p.issued, end);
    }

    /// Connection `conn` of `slot` ended at `now`: its unanswered requests
    /// failed, unless their timeout had already made them hung.
    pub fn connection_ended(&mut self, slot: u32, conn: u32, now: Instant) {
        let ids: Vec<RequestId> = self
            .pending
            .range((slot, 0, 0)..=(slot, u32::MAX, u64::MAX))
            .filter(|(_, p)| p.conn == Some(conn))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let p = self.pending.remove(&id).expect("listed");
            let hung = p.timeout.is_some_and(|t| now.saturating_since(p.issued) > t);
            self.record(now, id, p.issued, if hung { RequestEnd::Hung } else { RequestEnd::Failed });
        }
    }

    /// The run reached its horizon, which slot `s`'s client clock reads as
    /// `horizon(s)` (requests are stamped on that clock, which a suspension
    /// stops): what is still pending is hung if its timeout has passed, else
    /// not counted.
    pub fn finish(mut self, horizon: impl Fn(u32) -> Instant) -> (RequestCounts, Vec<RequestOutcome>) {
        for (id, p) in std::mem::take(&mut self.pending) {
            let horizon = horizon(id.0);
            if p.timeout.is_some_and(|t| horizon.saturating_since(p.issued) > t) {
                self.record(horizon, id, p.issued, RequestEnd::Hung);
            } else {
                self.counts.uncounted += 1;
            }
        }
        (self.counts, self.log.unwrap_or_default())
    }
}

/// When a slot's next connection attempt starts.
#[derive(Debug)]
pub struct Reconnector {
    policy: Reconnect,
    rng: ChaCha8Rng,
    /// Failed attempts in a row.
    failures: u32,
    /// No attempt before this (a backoff running).
    not_before: Option<Instant>,
    /// The current attempt is abandoned at this instant (`connect_timeout`).
    attempt_deadline: Option<Instant>,
}

impl Reconnector {
    /// A slot's reconnector for `policy`; `rng` draws the jitter (one stream per slot, so runs
    /// stay deterministic).
    pub fn new(policy: Reconnect, rng: ChaCha8Rng) -> Self {
        Reconnector { policy, rng, failures: 0, not_before: None, attempt_deadline: None }
    }

    /// When the slot reconnects (`[client.reconnect] mode`).
    pub fn mode(&self) -> ReconnectMode {
        self.policy.mode
    }

    /// An attempt starts at `now`.
    pub fn attempt_started(&mut self, now: Instant) {
        self.not_before = None;
        self.attempt_deadline = self.policy.connect_timeout.map(|t| now + t);
    }

    /// The attempt succeeded: the backoff starts over.
    pub fn connected(&mut self) {
        self.failures = 0;
        self.attempt_deadline = None;
    }

    /// The attempt failed at `now` (refused, timed out, reset): the next may
    /// start after the backoff, `initial_backoff * multiplier^(k-1)` capped at
    /// `max_backoff`, times a draw from `uniform(1 - jitter, 1 + jitter)`.
    pub fn attempt_failed(&mut self, now: Instant) {
        self.failures += 1;
        self.attempt_deadline = None;
        let base = self.policy.backoff(self.failures);
        let j = self.policy.jitter;
        let scale = if j > 0.0 { self.rng.random_range(1.0 - j..=1.0 + j) } else { 1.0 };
        self.not_before = Some(now + base.mul_f64(scale));
    }

    /// An established connection ended: the first attempt after it may start at once.
    pub fn ended(&mut self) {
        self.not_before = None;
        self.attempt_deadline = None;
    }

    /// When the current attempt is to be abandoned.
    pub fn attempt_deadline(&self) -> Option<Instant> {
        self.attempt_deadline
    }

    /// The earliest instant a new attempt may start.
    pub fn not_before(&self) -> Option<Instant> {
        self.not_before
    }

    /// May an attempt start at `now`?
    pub fn may_attempt(&self, now: Instant) -> bool {
        self.policy.mode != ReconnectMode::Off && self.not_before.is_none_or(|t| t <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> Reconnect {
        Reconnect {
            mode: ReconnectMode::Eager,
            initial_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
            jitter,
            connect_timeout: Some(Duration::from_secs(10)),
        }
    }

    #[test]
    fn backoff_doubles_from_each_failure_up_to_the_cap() {
        let mut r = Reconnector::new(policy(0.0), sim::rng::chacha(1, 3000));
        let mut now = Instant::ZERO;
        let mut pauses = Vec::new();
        for _ in 0..7 {
            r.attempt_started(now);
            assert_eq!(r.attempt_deadline(), Some(now + Duration::from_secs(10)));
            r.attempt_failed(now);
            let next = r.not_before().expect("a backoff");
            pauses.push((next - now).as_secs());
            assert!(!r.may_attempt(now) && r.may_attempt(next));
            now = next;
        }
        // 1 s × 2^(k-1): 1, 2, 4, 8, 16, then the 30 s cap.
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
        r.connected();
        assert_eq!(r.failures, 0);
    }

    #[test]
    fn jitter_stays_within_its_band_and_is_seeded() {
        let draw = |seed| {
            let mut r = Reconnector::new(policy(0.5), sim::rng::chacha(seed, 3000));
            (0..200)
                .map(|_| {
                    r.failures = 0;
                    r.attempt_failed(Instant::ZERO);
                    r.not_before().unwrap().since_start().as_secs_f64()
                })
                .collect::<Vec<f64>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        // 1 s scaled by uniform(0.5, 1.5).
        assert!(a.iter().all(|&x| (0.5..=1.5).contains(&x)), "{a:?}");
        assert!(a.iter().any(|&x| x < 0.7) && a.iter().any(|&x| x > 1.3));
    }

    #[test]
    fn each_request_ends_as_exactly_one_outcome() {
        let t = |s| Instant::ZERO + Duration::from_secs(s);
        let mut b = RequestBook::default();
        let timeout = Some(Duration::from_secs(5));
        b.issue((0, 0, 0), t(0), timeout, Some(0));
        b.answered((0, 0, 0), t(2)); // ok after 2 s
        b.issue((0, 0, 1), t(10), timeout, Some(0));
        b.answered((0, 0, 1), t(16)); // 6 s > 5 s: hung
        b.issue((0, 0, 2), t(20), timeout, Some(0));
        b.issue((1, 0, 0), t(20), timeout, Some(0)); // another slot: untouched
        b.connection_ended(0, 0, t(21)); // failed
        b.issue((0, 0, 3), t(30), timeout, Some(1));
        b.connection_ended(0, 1, t(40)); // 10 s > 5 s before the end: hung
        b.issue((0, 0, 4), t(98), timeout, None); // young at the horizon: not counted
        b.fail_now((0, 0, 5), t(99));
        let (c, log) = b.finish(|_| t(100));
        assert!(log.is_empty(), "not logging"); // slot 1's request is 80 s old: hung
        assert_eq!((c.ok, c.failed, c.hung, c.sent()), (1, 2, 3, 6));
        assert_eq!((c.issued, c.uncounted), (7, 1));
        assert_eq!(c.latency_ms, BTreeMap::from([(2000, 1)]));
        assert_eq!(c.latency_sum_us, 2_000_000);
    }

    #[test]
    fn a_logging_book_says_when_each_outcome_was_decided() {
        let t = |s| Instant::ZERO + Duration::from_secs(s);
        let mut b = RequestBook::logging();
        b.issue((0, 0, 0), t(1), Some(Duration::from_secs(5)), Some(0));
        b.issue((0, 0, 1), t(2), None, Some(0));
        b.answered((0, 0, 1), t(3));
        b.connection_ended(0, 0, t(10)); // the first: 9 s > 5 s, hung when the connection ended
        let (_, log) = b.finish(|_| t(20));
        let ends: Vec<(Instant, RequestEnd)> = log.iter().map(|o| (o.at, o.end)).collect();
        assert_eq!(ends, [(t(3), RequestEnd::Ok { latency: Duration::from_secs(1) }), (t(10), RequestEnd::Hung)]);
    }
}
