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
///
/// A small world runs its events with [`take`](Self::take) and
/// [`settle`](Self::settle): the event being run stays at the top until it
/// has run, and the first event it schedules takes its place, one pass down
/// the heap that stops where the new event belongs, instead of a pop's pass
/// to the bottom and a push's way back up (callgrind, the engine bench's
/// worlds: 100 connections 11 % fewer instructions per event, one
/// connection 3.5 % fewer). A large world pops: the first event one of its
/// events schedules sinks most of the way into a heap of thousands of
/// timers anyway, and the take's extra tests cost it 5 % more instructions.
#[derive(Default)]
pub(super) struct EventQueue {
    heap: BucketQueue<Ev>,
    /// The last sequence number handed out.
    seq: u64,
    /// The event taken is still the heap's top.
    taken: bool,
}

impl EventQueue {
    /// Schedule `ev` at `at`, after everything already scheduled at `at`.
    #[inline]
    pub(super) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        if std::mem::take(&mut self.taken) {
            self.heap.replace_top_near(key(at, self.seq), ev);
        } else {
            self.heap.push(key(at, self.seq), ev);
        }
    }

    /// When the earliest event runs.
    #[inline]
    pub(super) fn peek_time(&self) -> Option<Instant> {
        debug_assert!(!self.taken, "peeked at the event being run");
        self.heap.peek().map(|(k, _)| time_of(k))
    }

    /// Remove and return the earliest event.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(Instant, Ev)> {
        debug_assert!(!self.taken, "popped while an event taken runs");
        self.heap.pop().map(|(k, ev)| (time_of(k), ev))
    }

    /// The earliest event, to run now. It stays in the queue until the
    /// first [`push`](Self::push) takes its place or [`settle`](Self::settle)
    /// removes it; nothing else may be asked of the queue meanwhile.
    #[inline]
    pub(super) fn take(&mut self) -> Option<(Instant, Ev)> {
        debug_assert!(!self.taken, "took an event before the last one was settled");
        let (k, ev) = self.heap.peek()?;
        self.taken = true;
        Some((time_of(k), ev))
    }

    /// The event taken has run: remove it, unless an event it scheduled
    /// took its place. Nothing to do after a [`pop`](Self::pop).
    #[inline]
    pub(super) fn settle(&mut self) {
        if std::mem::take(&mut self.taken) {
            self.heap.pop();
        }
    }

    /// Every pending event, in no particular order (for tests).
    #[cfg(test)]
    pub(super) fn pending(&self) -> impl Iterator<Item = (Instant, Ev)> + '_ {
        self.heap.iter().map(|(k, ev)| (time_of(k), ev))
    }

    /// After a pop: the next event, and the one most likely to follow it
    /// (the earliest of the root's children; an event the next one
    /// schedules may come first).
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

    /// An event loop that takes each event and settles it after the events
    /// it schedules (none to three, from the same instant to minutes on,
    /// many into buckets) runs exactly the events, in exactly the order, of
    /// one that pops.
    #[test]
    fn taking_runs_the_order_popping_does() {
        let (mut popping, mut taking) = (EventQueue::default(), EventQueue::default());
        for q in [&mut popping, &mut taking] {
            for c in 0..600u32 {
                q.push(Instant::from_nanos(u64::from(c) * 1_000_000), Ev::Wake { conn: c, place: 0 });
            }
        }
        let (mut x, mut events, mut replaced, mut most_parked) = (0x2545_F491_4F6C_DD1Du64, 0u32, 0u32, 0usize);
        let wake = |(at, ev): (Instant, Ev)| match ev {
            Ev::Wake { conn, place } => (at, conn, place),
            other => panic!("pushed only wakes, got {other:?}"),
        };
        while let Some(at) = popping.peek_time() {
            assert_eq!(taking.peek_time(), Some(at));
            let popped = popping.pop().map(wake);
            let taken = taking.take().map(wake);
            assert_eq!(popped, taken, "event {events}");
            events += 1;
            if events > 60_000 {
                break;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 0-3 new events, the first 0-40 ms on, the others up to ~9 minutes on.
            for i in 0..(x % 4) {
                let gap = if i == 0 { (x >> 8) % 40_000_000 } else { (x >> (8 + 8 * i)) % 540_000_000_000 };
                let ev = Ev::Wake { conn: events, place: i as u32 };
                popping.push(at + std::time::Duration::from_nanos(gap), ev);
                replaced += u32::from(taking.taken);
                taking.push(at + std::time::Duration::from_nanos(gap), ev);
            }
            taking.settle();
            most_parked = most_parked.max(taking.heap.parked());
        }
        assert!(events > 60_000 && replaced > 40_000 && most_parked > 1000, "{events} events, {replaced} replaced, {most_parked} parked");
    }
}
