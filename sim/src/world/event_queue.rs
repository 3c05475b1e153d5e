//! The event queue: events in `(time, sequence)` order, in the engine's
//! bucketed queue ([`crate::bucket_queue`]: a 4-ary heap for the current
//! second, buckets of about a second after it).
//!
//! The order is exactly `(time, sequence)`: the sequence number is unique and
//! increasing, so ties run in the order they were scheduled and a run is a
//! pure function of its inputs (the test below checks it against
//! `BinaryHeap` over random interleavings).

use super::queue::Ev;
use crate::bucket_queue::BucketQueue;
use crate::heap::{key, time_of};
use crate::time::Instant;

// An entry is 32 bytes: the 16-byte key and the 12-byte event.
const _: () = assert!(std::mem::size_of::<Ev>() <= 16);

/// Events by `(time, sequence)`, earliest first.
#[derive(Default)]
pub(super) struct EventQueue {
    heap: BucketQueue<Ev>,
    /// The last sequence number handed out.
    seq: u64,
}

impl EventQueue {
    /// Schedule `ev` at `at`, after everything already scheduled at `at`.
    #[inline]
    pub(super) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.heap.push(key(at, self.seq), ev);
    }

    /// When the earliest event runs.
    #[inline]
    pub(super) fn peek_time(&self) -> Option<Instant> {
        self.heap.peek().map(|(k, _)| time_of(k))
    }

    /// Remove and return the earliest event.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(Instant, Ev)> {
        self.heap.pop().map(|(k, ev)| (time_of(k), ev))
    }

    /// Every pending event, in no particular order (for tests).
    #[cfg(test)]
    pub(super) fn pending(&self) -> impl Iterator<Item = (Instant, Ev)> + '_ {
        self.heap.iter().map(|(k, ev)| (time_of(k), ev))
    }

    /// The next event, and the one most likely to follow it (the earliest of
    /// the root's children; an event the next one schedules may come first).
    #[inline]
    pub(super) fn next_two(&self) -> (Option<Ev>, Option<Ev>) {
        self.heap.next_two()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Random pushes (many at equal times, up to eight and a half minutes
    /// ahead, so that many wait in buckets) and pops give exactly
    /// `BinaryHeap`'s `(time, sequence)` order.
    #[test]
    fn pops_in_time_then_sequence_order_like_binary_heap() {
        let mut ours = EventQueue::default();
        let mut reference = BinaryHeap::new();
        let (mut x, mut seq, mut popped, mut most_parked) = (0x9E37_79B9_7F4A_7C15u64, 0u64, 0, 0);
        let mut now = Instant::ZERO;
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Pushes slightly outnumber pops, so the heap grows to thousands.
            if x % 100 < 52 {
                // From the last time popped to 8.5 minutes on, half a second
                // apart: many ties, and many entries in buckets.
                let at = now + std::time::Duration::from_millis((x >> 54) * 500);
                seq += 1;
                ours.push(at, Ev::Wake { conn: round, place: 0 });
                reference.push(Reverse((at, seq, round)));
            } else {
                let expected = reference.pop().map(|Reverse((at, _, round))| (at, round));
                let got = ours.pop().map(|(at, ev)| match ev {
                    Ev::Wake { conn: round, .. } => (at, round),
                    other => panic!("pushed only wakes, popped {other:?}"),
                });
                assert_eq!(got, expected, "round {round}");
                popped += usize::from(got.is_some());
                now = got.map_or(now, |(at, _)| at);
                if round % 1000 == 0 {
                    most_parked = most_parked.max(ours.heap.parked());
                }
            }
        }
        assert!(
            reference.len() > 1000 && popped > 90_000 && most_parked > 1000,
            "{} left, {popped} popped, {most_parked} parked",
            reference.len()
        );
        while let Some(Reverse((at, _, round))) = reference.pop() {
            assert_eq!(ours.peek_time(), Some(at));
            assert!(matches!(ours.pop(), Some((t, Ev::Wake { conn: r, .. })) if t == at && r == round));
        }
        assert!(ours.pop().is_none());
    }
}
