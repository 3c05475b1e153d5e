//! The event loop: events in `(time, sequence)` order up to a time, an
//! event budget (a fuzzer's) or the run's connection limit (a storm of
//! attempts that connect would otherwise grow memory without bound), the
//! release of endpoints that are over after each event, and the outcome the
//! world leaves. Apart from the module that builds the world and the ones
//! that handle each kind of event.

use super::{Host, HostState, World, NUMBERS_PER_RECORD};
use crate::time::Instant;
use crate::world::{Outcome, SlotOutcome};

impl World {
    /// Run to the horizon and return what happened.
    pub fn run(mut self) -> Outcome {
        self.run_until(self.horizon);
        self.finish()
    }

    /// Process every event up to and including `until` (capped at the horizon).
    pub fn run_until(&mut self, until: Instant) {
        self.run_until_or(until, u64::MAX);
    }

    /// [`run_until`](Self::run_until), but stop after `max_events` more
    /// events (a fuzzer's budget), or when the run holds more connections
    /// than its limit ([`World::stopped`]); the world's clock then stays at
    /// the last event run.
    pub fn run_until_or(&mut self, until: Instant, max_events: u64) {
        let until = until.min(self.horizon);
        // A large world's TCP queues share their buffers (see `tcp::outbox`).
        crate::tcp::share_buffers(self.busy);
        if !self.started {
            // The first SYNs go out now: their log lines carry the time too.
            crate::time::set_current(Some(self.now));
            self.start();
        }
        if self.run_events(until, self.events_processed.saturating_add(max_events)) {
            self.now = self.now.max(until);
        }
        crate::tcp::share_buffers(false);
        crate::time::set_current(None);
    }

    /// Run events up to `until`; false when it stopped early (the budget
    /// `stop_at`, or the connection limit).
    fn run_events(&mut self, until: Instant, stop_at: u64) -> bool {
        while let Some(at) = self.queue.peek_time() {
            if at > until {
                break;
            }
            if self.events_processed >= stop_at {
                return false;
            }
            // A small world's event stays queued while it runs (see `EventQueue`).
            let (at, ev) = if self.busy {
                let next = self.queue.pop().expect("peeked");
                self.prefetch_ahead();
                next
            } else {
                self.queue.take().expect("peeked")
            };
            self.now = at;
            // Only log lines read the clock (one relaxed load when off).
            if crate::trace::logging() {
                crate::time::set_current(Some(at));
            }
            self.events_processed += 1;
            self.dispatch(ev);
            self.queue.settle();
            if !self.to_release.is_empty() {
                self.release_finished();
            }
            if let Some(held) = self.over_limit {
                self.stopped = Some((self.now, held));
                return false;
            }
        }
        true
    }

    /// Let the trace keep only what happens up to `at` (see [`Trace::keep_until`](crate::trace::Trace::keep_until)).
    pub fn trace_until(&mut self, at: Instant) {
        self.trace.keep_until(at);
    }

    /// When the run was stopped at its connection limit, and how many
    /// connections it held then (see
    /// [`WorldConfig::max_connections`](crate::WorldConfig::max_connections)).
    pub fn stopped(&self) -> Option<(Instant, usize)> {
        self.stopped
    }

    /// What the run's connections weigh against its limit, in records of
    /// about a kilobyte: each live endpoint, each attempt the outcome keeps,
    /// and one per [`NUMBERS_PER_RECORD`] endpoints ever opened (each keeps
    /// an 8-byte entry).
    #[inline]
    pub(super) fn connections_held(&self) -> usize {
        self.conns.live() + self.attempt_records + self.conns.len() / NUMBERS_PER_RECORD
    }

    /// What the run produced so far.
    pub fn finish(self) -> Outcome {
        let now = self.now;
        // A client still suspended at the end: its clock stopped when it went.
        let hosts = &self.hosts;
        let clock = |h: &Host| if h.state == HostState::Suspended { h.local(h.suspended_at) } else { h.local(now) };
        let slots: Vec<SlotOutcome> =
            self.slots.into_iter().map(|s| SlotOutcome { client_clock: clock(&hosts[s.client]), connections: s.gens }).collect();
        Outcome {
            ended_at: now,
            broken: slots.first().and_then(SlotOutcome::broken),
            declarations: self.declarations,
            slots,
            stats: self.stats,
            mappings_expired: self.nats.iter().map(|b| b.nat.expiries()).sum(),
            nat_expired_at: self.nat_expired_at,
            messages_received: self.messages_received,
            events_processed: self.events_processed,
            trace: self.trace.into_records(),
            stopped: self.stopped,
        }
    }
}
