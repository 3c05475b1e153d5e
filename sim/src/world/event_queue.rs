//! The event queue: a 4-ary min-heap on one 128-bit key, `time << 64 | sequence`.
//!
//! Why not `std::collections::BinaryHeap`: a fleet's queue holds one wake-up
//! per connection (10 000 connections: ~10 000 entries), so every pop walks
//! the heap's whole depth, and with `BinaryHeap` that was a third of the
//! engine's instructions. Four children per node halve the depth (7 levels
//! instead of 14 at 10 000 entries) and keep a node's children in 128
//! contiguous bytes; a single integer key makes each comparison one
//! instruction pair instead of a tuple's chain of branches. (Keys apart from
//! events, four to a cache line aligned so that a node's children are one
//! line, measured no faster on the fleet and 4 % more instructions on one
//! connection.)
//!
//! The order is exactly `(time, sequence)`: the sequence number is unique and
//! increasing, so ties run in the order they were scheduled and a run is a
//! pure function of its inputs (the test below checks it against
//! `BinaryHeap` over random interleavings).

use super::queue::Ev;
use crate::time::Instant;

/// One scheduled event. 32 bytes: the key is 16-aligned, the event 12 bytes.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u128,
    ev: Ev,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl Entry {
    fn at(&self) -> Instant {
        Instant::from_nanos((self.key >> 64) as u64)
    }
}

/// Events by `(time, sequence)`, earliest first.
#[derive(Default)]
pub(super) struct EventQueue {
    heap: Vec<Entry>,
    /// The last sequence number handed out.
    seq: u64,
}

const ARITY: usize = 4;

impl EventQueue {
    /// Schedule `ev` at `at`, after everything already scheduled at `at`.
    #[inline]
    pub(super) fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        let entry = Entry { key: (u128::from(at.as_nanos()) << 64) | u128::from(self.seq), ev };
        let hole = self.heap.len();
        self.heap.push(entry);
        self.sift_up(hole, entry);
    }

    /// Put `entry` at `hole` or above it: parents later than it move down.
    #[inline]
    fn sift_up(&mut self, mut hole: usize, entry: Entry) {
        while hole > 0 {
            let parent = (hole - 1) / ARITY;
            if self.heap[parent].key < entry.key {
                break;
            }
            self.heap[hole] = self.heap[parent];
            hole = parent;
        }
        self.heap[hole] = entry;
    }

    /// When the earliest event runs.
    #[inline]
    pub(super) fn peek_time(&self) -> Option<Instant> {
        self.heap.first().map(Entry::at)
    }

    /// Remove and return the earliest event.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(Instant, Ev)> {
        let last = self.heap.pop()?;
        let Some(&top) = self.heap.first() else {
            return Some((last.at(), last.ev));
        };
        self.sift_down(last);
        Some((top.at(), top.ev))
    }

    /// Put `moving` (the old last leaf) in the root's place. As `BinaryHeap`
    /// does, the hole goes all the way down along the smaller children first
    /// and `moving` (the old last leaf, so usually large) climbs back up from
    /// there: that skips one comparison per level on the way down.
    #[inline]
    fn sift_down(&mut self, moving: Entry) {
        let n = self.heap.len();
        let mut hole = 0;
        loop {
            let first = ARITY * hole + 1;
            let best = if first + ARITY <= n {
                // A full node: the smallest of four, in two rounds of pairs.
                let c = &self.heap[first..first + ARITY];
                let left = if c[1].key < c[0].key { 1 } else { 0 };
                let right = if c[3].key < c[2].key { 3 } else { 2 };
                first + if c[right].key < c[left].key { right } else { left }
            } else if first < n {
                (first + 1..n).fold(first, |best, j| if self.heap[j].key < self.heap[best].key { j } else { best })
            } else {
                break;
            };
            self.heap[hole] = self.heap[best];
            hole = best;
        }
        self.sift_up(hole, moving);
    }

    /// Every pending event, in no particular order (for tests).
    #[cfg(test)]
    pub(super) fn pending(&self) -> impl Iterator<Item = (Instant, Ev)> + '_ {
        self.heap.iter().map(|e| (e.at(), e.ev))
    }

    /// The next event, and the one most likely to follow it (the earliest of
    /// the root's children; an event the next one schedules may come first).
    #[inline]
    pub(super) fn next_two(&self) -> (Option<Ev>, Option<Ev>) {
        let next = self.heap.first().map(|e| e.ev);
        let after = self.heap.get(1..self.heap.len().min(1 + ARITY)).and_then(|c| c.iter().min_by_key(|e| e.key)).map(|e| e.ev);
        (next, after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Random pushes (many at equal times) and pops give exactly
    /// `BinaryHeap`'s `(time, sequence)` order.
    #[test]
    fn pops_in_time_then_sequence_order_like_binary_heap() {
        let mut ours = EventQueue::default();
        let mut reference = BinaryHeap::new();
        let (mut x, mut seq, mut popped) = (0x9E37_79B9_7F4A_7C15u64, 0u64, 0);
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Pushes slightly outnumber pops, so the heap grows to thousands.
            if x % 100 < 52 {
                let at = Instant::from_nanos(x >> 54); // 1 024 distinct times: many ties
                seq += 1;
                ours.push(at, Ev::Wake(round));
                reference.push(Reverse((at, seq, round)));
            } else {
                let expected = reference.pop().map(|Reverse((at, _, round))| (at, round));
                let got = ours.pop().map(|(at, ev)| match ev {
                    Ev::Wake(round) => (at, round),
                    other => panic!("pushed only wakes, popped {other:?}"),
                });
                assert_eq!(got, expected, "round {round}");
                popped += usize::from(got.is_some());
            }
        }
        assert!(reference.len() > 1000 && popped > 90_000, "{} left, {popped} popped", reference.len());
        while let Some(Reverse((at, _, round))) = reference.pop() {
            assert_eq!(ours.peek_time(), Some(at));
            assert!(matches!(ours.pop(), Some((t, Ev::Wake(r))) if t == at && r == round));
        }
        assert!(ours.pop().is_none());
    }
}
