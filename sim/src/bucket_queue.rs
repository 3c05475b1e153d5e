//! A priority queue for a large world's timers: a small heap for the
//! current second or so, and the later entries in buckets of about a
//! second. The event queue and each NAT's flow deadlines use it.
//!
//! Why not one heap of everything: a world of 10 000 connections keeps tens
//! of thousands of pending timers, and one heap of them is larger than the
//! cache this machine gives a process. Every pop then walks the heap's whole
//! depth, a cache miss per level near the bottom, and so does every lazy
//! move of a NAT flow's deadline (a busy flow's entry reaches the top about
//! once per idle timeout only to move to its real, later deadline: seven
//! levels that nothing else touches). Here only the current second's entries
//! are in a heap, which stays in the cache; an entry for a later second is
//! appended to that second's bucket, found in a small ordered map whose
//! nodes stay in the cache too.
//!
//! The order is exactly the keys' (a time, then a unique tie-breaker: see
//! [`crate::heap::key`]), as one heap's: every entry in the heap is due in
//! the current bucket or earlier, every entry in a bucket in a later one,
//! and a bucket's entries go into the heap (which orders them) when it
//! becomes the current one. The heap is never empty while a bucket holds
//! entries, so the smallest key is always the heap's top.
//!
//! A small queue (under [`SMALL`] entries, and no bucket in use) takes every
//! entry into its heap: a one-connection world never touches the buckets.

use crate::heap::{time_of, QuadHeap};
use std::collections::BTreeMap;

/// A bucket's width: 2^30 ns, about 1.07 s.
const BUCKET_SHIFT: u32 = 30;

/// A heap of fewer entries than this takes any entry while no bucket is in
/// use: 32 KiB of heap, which stays in the cache. (Measured with callgrind
/// on the engine bench's 100-connection world, for the NAT's deadlines: with
/// 64, its flows went into buckets and it ran 2.8 % more instructions per
/// event than one heap.)
pub(crate) const SMALL: usize = 1024;

/// Which bucket a key's time falls in.
#[inline(always)]
fn bucket_of(key: u128) -> u64 {
    time_of(key).as_nanos() >> BUCKET_SHIFT
}

/// Values by key, smallest first (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct BucketQueue<T> {
    /// Entries due in bucket `current` or earlier.
    soon: QuadHeap<T>,
    /// The last bucket `soon` covers.
    current: u64,
    /// Entries due after bucket `current`, by bucket, in no order within one.
    later: BTreeMap<u64, Vec<Parked<T>>>,
}

impl<T> Default for BucketQueue<T> {
    fn default() -> Self {
        BucketQueue { soon: QuadHeap::default(), current: 0, later: BTreeMap::new() }
    }
}

/// An entry in a bucket: its key in two halves, so that it is 24 bytes with
/// a 4-byte value where the heap's entries take 32 (their 128-bit key is
/// 16-aligned).
#[derive(Clone, Copy, Debug)]
struct Parked<T> {
    at: u64,
    tie: u64,
    value: T,
}

impl<T: Copy> BucketQueue<T> {
    /// Add `value` under `key`.
    #[inline]
    pub(crate) fn push(&mut self, key: u128, value: T) {
        let bucket = bucket_of(key);
        if self.fits_soon(bucket) {
            self.soon.push(key, value);
            return;
        }
        self.later.entry(bucket).or_default().push(Parked { at: (key >> 64) as u64, tie: key as u64, value });
    }

    /// Whether an entry due in `bucket` goes into the heap: if the heap
    /// covers that bucket, or if no bucket is in use and the heap is small
    /// (then the heap's cover grows to `bucket`, which no bucket in use
    /// contradicts).
    #[inline(always)]
    fn fits_soon(&mut self, bucket: u64) -> bool {
        if bucket <= self.current {
            return true;
        }
        if self.later.is_empty() && self.soon.len() < SMALL {
            self.current = bucket;
            return true;
        }
        false
    }

    /// The smallest key and its value.
    #[inline]
    pub(crate) fn peek(&self) -> Option<(u128, T)> {
        self.soon.peek()
    }

    /// The value of the smallest key, and the value most likely to follow
    /// it (see [`QuadHeap::next_two`]).
    #[inline]
    pub(crate) fn next_two(&self) -> (Option<T>, Option<T>) {
        self.soon.next_two()
    }

    /// Remove and return the smallest key and its value.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<(u128, T)> {
        let top = self.soon.pop()?;
        self.refill();
        Some(top)
    }

    /// Replace the smallest key with `key`, for `value` (one pass down
    /// instead of a pop and a push while `key` is due in the current
    /// bucket), for a key that most likely belongs near the bottom (see
    /// [`QuadHeap::replace_top`]). The queue must not be empty.
    #[inline]
    pub(crate) fn replace_top(&mut self, key: u128, value: T) {
        self.replace_top_with(key, value, false);
    }

    /// [`replace_top`](Self::replace_top) for a key that most likely belongs
    /// near the top (see [`QuadHeap::replace_top_near`]).
    #[inline]
    pub(crate) fn replace_top_near(&mut self, key: u128, value: T) {
        self.replace_top_with(key, value, true);
    }

    fn replace_top_with(&mut self, key: u128, value: T, near: bool) {
        if self.fits_soon(bucket_of(key)) {
            if near {
                self.soon.replace_top_near(key, value);
            } else {
                self.soon.replace_top(key, value);
            }
        } else {
            self.soon.pop();
            self.push(key, value);
            self.refill();
        }
    }

    /// Forget every entry.
    pub(crate) fn clear(&mut self) {
        self.soon.clear();
        self.later.clear();
    }

    /// Every entry, in no particular order (for tests).
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u128, T)> + '_ {
        let parked = self.later.values().flatten().map(|p| ((u128::from(p.at) << 64) | u128::from(p.tie), p.value));
        self.soon.iter().chain(parked)
    }

    /// Entries in buckets (for tests).
    #[cfg(test)]
    pub(crate) fn parked(&self) -> usize {
        self.later.values().map(Vec::len).sum()
    }

    /// Keep the heap from being empty while a bucket holds entries.
    #[inline(always)]
    fn refill(&mut self) {
        if self.soon.len() == 0 && !self.later.is_empty() {
            self.next_bucket();
        }
    }

    /// The heap is empty: the earliest bucket becomes the current one and
    /// its entries go into the heap. The heap gives back room it no longer
    /// needs (a fleet's first timers, all set at once, may have filled it).
    #[cold]
    fn next_bucket(&mut self) {
        let Some((bucket, entries)) = self.later.pop_first() else { return };
        self.current = bucket;
        self.soon.shrink_to(SMALL.max(2 * entries.len()));
        for e in entries {
            self.soon.push((u128::from(e.at) << 64) | u128::from(e.tie), e.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::key;
    use crate::time::Instant;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// A queue that never holds `SMALL` entries never uses a bucket,
    /// however far apart its times (a one-connection world's timers): 1 000
    /// entries an hour apart all go into the heap, and come out in order.
    #[test]
    fn a_small_queue_is_one_heap() {
        let mut q = BucketQueue::default();
        for i in (0..1000u64).rev() {
            q.push(key(Instant::from_secs(3600 * i), i), i);
        }
        assert_eq!((q.soon.len(), q.parked()), (1000, 0));
        // One more past `SMALL`'s reach (the heap holds 1 024 at most)...
        for i in 1000..1024u64 {
            q.push(key(Instant::from_secs(3600 * i), i), i);
        }
        // ...and the 1 025th, later than the heap's cover, waits in a bucket.
        q.push(key(Instant::from_secs(3600 * 5000), 5000), 5000);
        assert_eq!((q.soon.len(), q.parked()), (1024, 1));
        let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|(_, v)| v)).collect();
        assert_eq!(order, (0..1024).chain([5000]).collect::<Vec<_>>());
    }

    /// Random pushes (times over ten minutes, many equal), pops, moves of
    /// the top to a later time (the NAT's lazy moves) and clears give
    /// exactly `BinaryHeap`'s order, and the entries do pass through the
    /// buckets (most pushes land in a later one once the heap is past
    /// `SMALL`; before that, all go into the heap).
    #[test]
    fn gives_keys_in_order_like_binary_heap() {
        let mut ours = BucketQueue::default();
        let mut reference = BinaryHeap::new();
        let (mut x, mut tie) = (0x9E37_79B9_7F4A_7C15u64, 0u64);
        let (mut now, mut popped, mut moved, mut into_buckets, mut cleared) = (0u64, 0, 0, 0, 0);
        for round in 0..300_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            tie += 1;
            // Deadlines from now to ten minutes on, on a 100 ms grid: many ties.
            let at = |r: u64| Instant::from_nanos(now + (r % 6_000) * 100_000_000);
            if round % 100_000 == 99_999 {
                ours.clear();
                reference.clear();
                cleared += 1;
            }
            match x % 100 {
                0..=49 => {
                    let k = key(at(x >> 20), tie);
                    let in_heap = ours.soon.len();
                    ours.push(k, round);
                    into_buckets += usize::from(ours.soon.len() == in_heap);
                    reference.push(Reverse((k, round)));
                }
                50..=59 if !reference.is_empty() => {
                    let Reverse((top, _)) = reference.pop().unwrap();
                    assert_eq!(ours.peek().map(|(k, _)| k), Some(top));
                    let later = key(time_of(top) + std::time::Duration::from_nanos((x >> 20) % 400_000_000_000), tie);
                    if round % 2 == 0 {
                        ours.replace_top(later, round);
                    } else {
                        ours.replace_top_near(later, round);
                    }
                    reference.push(Reverse((later, round)));
                    moved += 1;
                }
                _ => {
                    let expected = reference.pop().map(|Reverse(e)| e);
                    assert_eq!(ours.peek(), expected, "round {round}");
                    assert_eq!(ours.pop(), expected, "round {round}");
                    if let Some((k, _)) = expected {
                        now = now.max(time_of(k).as_nanos());
                        popped += 1;
                    }
                }
            }
            if round % 1000 == 0 {
                assert_eq!(ours.iter().count(), reference.len(), "round {round}");
            }
        }
        assert!(popped > 100_000 && moved > 20_000 && into_buckets > 50_000, "{popped} popped, {moved} moved, {into_buckets} into buckets");
        assert_eq!(cleared, 3);
        while let Some(Reverse(e)) = reference.pop() {
            assert_eq!(ours.pop(), Some(e));
        }
        assert_eq!(ours.pop(), None);
    }
}
