//! A 4-ary min-heap on one 128-bit key: the current second of the engine's
//! event queue and of each NAT's flow deadlines (see [`crate::bucket_queue`]
//! for the seconds after it).
//!
//! Why not `std::collections::BinaryHeap`: a fleet's heaps hold one entry per
//! connection or flow (10 000 connections: ~10 000 entries each), so every
//! pop walks the heap's whole depth, and with `BinaryHeap` that was a third
//! of the engine's instructions. Four children per node halve the depth (7
//! levels instead of 14 at 10 000 entries) and keep a node's children in 128
//! contiguous bytes; a single integer key makes each comparison one
//! instruction pair instead of a tuple's chain of branches. (Keys apart from
//! values, four to a cache line aligned so that a node's children are one
//! line, measured no faster on the fleet and 4 % more instructions on one
//! connection. Nor did 32-aligned entries behind a pad that puts each
//! node's four children in two whole cache lines instead of across three.)
//!
//! The order is exactly the key's. Users make keys unique (a time in the high
//! 64 bits, a sequence or creation number in the low), so which of two equal
//! times comes first never depends on the heap's shape: the tests below
//! check it against `BinaryHeap` over random interleavings.

/// One entry: its key and the value it orders. 32 bytes for values of up
/// to 16 (the key is 16-aligned).
#[derive(Clone, Copy, Debug)]
struct Entry<T> {
    key: u128,
    value: T,
}

/// Values by key, smallest first.
#[derive(Clone, Debug)]
pub(crate) struct QuadHeap<T> {
    heap: Vec<Entry<T>>,
}

impl<T> Default for QuadHeap<T> {
    fn default() -> Self {
        QuadHeap { heap: Vec::new() }
    }
}

const ARITY: usize = 4;

/// A key of a time and a number that breaks ties: `at << 64 | tie`.
#[inline(always)]
pub(crate) fn key(at: crate::time::Instant, tie: u64) -> u128 {
    (u128::from(at.as_nanos()) << 64) | u128::from(tie)
}

/// The time in a [`key`].
#[inline(always)]
pub(crate) fn time_of(key: u128) -> crate::time::Instant {
    crate::time::Instant::from_nanos((key >> 64) as u64)
}

impl<T: Copy> QuadHeap<T> {
    /// Add `value` under `key`.
    #[inline]
    pub(crate) fn push(&mut self, key: u128, value: T) {
        let entry = Entry { key, value };
        let hole = self.heap.len();
        self.heap.push(entry);
        self.sift_up(hole, entry);
    }

    /// How many entries it holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The smallest key and its value.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(u128, T)> {
        self.heap.first().map(|e| (e.key, e.value))
    }

    /// Remove and return the smallest key and its value.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<(u128, T)> {
        let last = self.heap.pop()?;
        let Some(&top) = self.heap.first() else {
            return Some((last.key, last.value));
        };
        self.sift_down(last);
        Some((top.key, top.value))
    }

    /// Replace the smallest entry with `value` under `key` (one pass down
    /// instead of a pop and a push), for a key that belongs near the bottom
    /// (a NAT flow's deadline moving on by a whole idle timeout). The heap
    /// must not be empty.
    #[inline]
    pub(crate) fn replace_top(&mut self, key: u128, value: T) {
        self.sift_down(Entry { key, value });
    }

    /// [`replace_top`](Self::replace_top) for a key that belongs near the
    /// top (the event an event schedules, most often a segment's arrival
    /// milliseconds later): it goes down only as far as it belongs, where
    /// `replace_top` takes the hole to the bottom and climbs back.
    #[inline]
    pub(crate) fn replace_top_near(&mut self, key: u128, value: T) {
        let moving = Entry { key, value };
        let mut hole = 0;
        while let Some(best) = self.smallest_child(hole) {
            if moving.key < self.heap[best].key {
                break;
            }
            self.heap[hole] = self.heap[best];
            hole = best;
        }
        self.heap[hole] = moving;
    }

    /// The value of the smallest key, and the value most likely to follow
    /// it (the smallest of the root's children; something pushed meanwhile
    /// may come first).
    #[inline]
    pub(crate) fn next_two(&self) -> (Option<T>, Option<T>) {
        let next = self.heap.first().map(|e| e.value);
        let after = self.heap.get(1..self.heap.len().min(1 + ARITY)).and_then(|c| c.iter().min_by_key(|e| e.key)).map(|e| e.value);
        (next, after)
    }

    /// Every entry, in no particular order (for tests).
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u128, T)> + '_ {
        self.heap.iter().map(|e| (e.key, e.value))
    }

    /// Give back room beyond `entries` (or beyond what it holds, if more).
    pub(crate) fn shrink_to(&mut self, entries: usize) {
        self.heap.shrink_to(entries);
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }

    /// Put `entry` at `hole` or above it: parents larger than it move down.
    #[inline]
    fn sift_up(&mut self, mut hole: usize, entry: Entry<T>) {
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

    /// Put `moving` in the root's place (the root's entry is dropped). As
    /// `BinaryHeap` does, the hole goes all the way down along the smaller
    /// children first and `moving` (usually an old last leaf, so large)
    /// climbs back up from there: that skips one comparison per level on the
    /// way down.
    #[inline]
    fn sift_down(&mut self, moving: Entry<T>) {
        let mut hole = 0;
        while let Some(best) = self.smallest_child(hole) {
            self.heap[hole] = self.heap[best];
            hole = best;
        }
        self.sift_up(hole, moving);
    }

    /// The child of `parent` with the smallest key, if it has children.
    #[inline(always)]
    fn smallest_child(&self, parent: usize) -> Option<usize> {
        let n = self.heap.len();
        let first = ARITY * parent + 1;
        if first + ARITY <= n {
            // A full node: the smallest of four, in two rounds of pairs.
            let c = &self.heap[first..first + ARITY];
            let left = if c[1].key < c[0].key { 1 } else { 0 };
            let right = if c[3].key < c[2].key { 3 } else { 2 };
            Some(first + if c[right].key < c[left].key { right } else { left })
        } else if first < n {
            Some((first + 1..n).fold(first, |best, j| if self.heap[j].key < self.heap[best].key { j } else { best }))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Random pushes (many at equal times), pops and top replacements give
    /// exactly `BinaryHeap`'s order.
    #[test]
    fn pops_in_key_order_like_binary_heap() {
        let mut ours = QuadHeap::default();
        let mut reference = BinaryHeap::new();
        let (mut x, mut seq, mut popped, mut replaced) = (0x9E37_79B9_7F4A_7C15u64, 0u64, 0, 0);
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = crate::time::Instant::from_nanos(x >> 54); // 1 024 distinct times: many ties
            seq += 1;
            // Pushes slightly outnumber pops, so the heap grows to thousands.
            if x % 100 < 52 {
                ours.push(key(at, seq), round);
                reference.push(Reverse((key(at, seq), round)));
            } else if x % 100 < 60 && !reference.is_empty() {
                // The top moves to a later time (the NAT's lazy deadlines).
                let Reverse((top, _)) = reference.pop().unwrap();
                let later = key(time_of(top) + std::time::Duration::from_nanos(x >> 56), seq);
                reference.push(Reverse((later, round)));
                if round % 2 == 0 {
                    ours.replace_top(later, round);
                } else {
                    ours.replace_top_near(later, round);
                }
                replaced += 1;
            } else {
                let expected = reference.pop().map(|Reverse(e)| e);
                let got = ours.pop();
                assert_eq!(got, expected, "round {round}");
                popped += usize::from(got.is_some());
            }
        }
        assert!(reference.len() > 1000 && popped > 70_000 && replaced > 10_000, "{} left, {popped} popped", reference.len());
        while let Some(Reverse((k, round))) = reference.pop() {
            assert_eq!(ours.peek(), Some((k, round)));
            assert_eq!(ours.pop(), Some((k, round)));
        }
        assert!(ours.pop().is_none());
    }
}
