//! The NAT's flow deadlines, earliest first: a small heap for the next
//! second or so, and the later ones in buckets of about a second.
//!
//! Why not one heap of every flow: a carrier NAT holds a deadline per flow,
//! and a busy flow's entry reaches the top about once per idle timeout only
//! to move to its real, later deadline (the lazy scheme of the `flows`
//! module). In one heap of 10 000 flows that move is a pass down seven
//! levels that nothing else touches, so each level is a cache miss: it was
//! about a tenth of a 10 000-connection fleet's time. Here a move to a later
//! second is an append to that second's bucket, found in a small ordered map
//! whose nodes stay in the cache, and only the current second's entries are
//! in a heap.
//!
//! The order is exactly the keys' (time, then the flow's creation number),
//! as one heap's: every entry in the heap is due in the current bucket or
//! earlier, every entry in a bucket in a later one, and a bucket's entries
//! go into the heap (which orders them) when it becomes the current one.

use crate::heap::{time_of, QuadHeap};
use std::collections::BTreeMap;

/// A bucket's width: 2^30 ns, about 1.07 s.
const BUCKET_SHIFT: u32 = 30;

/// A heap of fewer entries than this takes any entry while no bucket is in
/// use: 32 KiB of heap, which stays in the cache, so a NAT of up to a
/// thousand flows is one heap. (Measured with callgrind on the engine
/// bench's 100-connection world: with 64, its flows went into buckets and it
/// ran 2.8 % more instructions per event than one heap.)
const SMALL: usize = 1024;

/// Which bucket a key's time falls in.
fn bucket_of(key: u128) -> u64 {
    time_of(key).as_nanos() >> BUCKET_SHIFT
}

/// Keys (`heap::key`: a time and a unique tie-breaker) with their flow's
/// place, smallest key first.
#[derive(Clone, Debug, Default)]
pub(super) struct Deadlines {
    /// Entries due in bucket `current` or earlier.
    soon: QuadHeap<u32>,
    /// The bucket `soon` covers up to.
    current: u64,
    /// Entries due after bucket `current`, by bucket, in no order within one.
    later: BTreeMap<u64, Vec<Parked>>,
}

/// An entry in a bucket: 24 bytes where the heap's take 32 (its 128-bit
/// key is 16-aligned). A fleet's NAT has one per flow.
#[derive(Clone, Copy, Debug)]
struct Parked {
    at: u64,
    tie: u64,
    slot: u32,
}

impl Deadlines {
    /// Add `slot` under `key`.
    #[inline]
    pub(super) fn push(&mut self, key: u128, slot: u32) {
        let bucket = bucket_of(key);
        if self.fits_soon(bucket) {
            self.soon.push(key, slot);
            return;
        }
        self.later.entry(bucket).or_default().push(Parked { at: (key >> 64) as u64, tie: key as u64, slot });
    }

    /// Whether an entry due in `bucket` goes into the heap: if the heap
    /// covers that bucket, or if no bucket is in use and the heap is small
    /// (a NAT of a few flows keeps them all in the heap, as the heap then
    /// costs less than the buckets' map: the heap's cover grows to `bucket`,
    /// which no bucket in use contradicts).
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

    /// The smallest key and its slot.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<(u128, u32)> {
        match self.soon.peek() {
            Some(top) => Some(top),
            None => self.next_bucket(),
        }
    }

    /// The heap is empty: the earliest bucket becomes the current one, its
    /// entries go into the heap, and the smallest of them is the answer.
    /// The heap gives back room it no longer needs (a fleet's first flows,
    /// all made at once, may have filled it with every flow).
    #[cold]
    fn next_bucket(&mut self) -> Option<(u128, u32)> {
        let (bucket, entries) = self.later.pop_first()?;
        self.current = bucket;
        self.soon.shrink_to(SMALL.max(2 * entries.len()));
        for e in entries {
            self.soon.push((u128::from(e.at) << 64) | u128::from(e.tie), e.slot);
        }
        self.soon.peek()
    }

    /// Drop the smallest key (the one [`peek`](Self::peek) gave).
    #[inline]
    pub(super) fn pop(&mut self) {
        self.soon.pop();
    }

    /// Replace the smallest key (the one [`peek`](Self::peek) gave) with
    /// `key`, for `slot`.
    pub(super) fn replace_top(&mut self, key: u128, slot: u32) {
        if self.fits_soon(bucket_of(key)) {
            self.soon.replace_top(key, slot);
        } else {
            self.soon.pop();
            self.push(key, slot);
        }
    }

    /// Forget every entry.
    pub(super) fn clear(&mut self) {
        self.soon.clear();
        self.later.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::key;
    use crate::time::Instant;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// Random pushes (times over ten minutes, many equal), pops, moves of
    /// the top to a later time (the NAT's lazy moves) and clears give
    /// exactly `BinaryHeap`'s order, and the entries do pass through the
    /// buckets (most pushes land in a later one once the heap is past
    /// `SMALL`; before that, all go into the heap).
    #[test]
    fn gives_keys_in_order_like_binary_heap() {
        let mut ours = Deadlines::default();
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
                    ours.replace_top(later, round);
                    reference.push(Reverse((later, round)));
                    moved += 1;
                }
                _ => {
                    let expected = reference.pop().map(|Reverse(e)| e);
                    assert_eq!(ours.peek(), expected, "round {round}");
                    if let Some((k, _)) = expected {
                        ours.pop();
                        now = now.max(time_of(k).as_nanos());
                        popped += 1;
                    }
                }
            }
        }
        assert!(popped > 100_000 && moved > 20_000 && into_buckets > 50_000, "{popped} popped, {moved} moved, {into_buckets} into buckets");
        assert_eq!(cleared, 3);
        while let Some(Reverse(e)) = reference.pop() {
            assert_eq!(ours.peek(), Some(e));
            ours.pop();
        }
        assert_eq!(ours.peek(), None);
    }
}
