//! The receive side's sequence space: in-order delivery from out-of-order
//! segments.
//!
//! `rcv_nxt` only ever moves forward, and only over bytes that have arrived,
//! so the application sees every byte exactly once and in order; out-of-order
//! ranges wait in a map until the hole before them is filled.

use std::collections::BTreeMap;

/// One direction's receive sequence space: `rcv_nxt` and the ranges
/// received above a hole.
#[derive(Clone, Debug, Default)]
pub struct Reassembly {
    rcv_nxt: u64,
    /// start -> end of ranges above `rcv_nxt`, possibly overlapping.
    pending: BTreeMap<u64, u64>,
}

/// What one arriving range did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Everything was already received.
    Duplicate,
    /// `rcv_nxt` advanced from the first to the second value.
    Advanced(u64, u64),
    /// Stored above a hole; `rcv_nxt` unchanged.
    OutOfOrder,
}

impl Reassembly {
    /// Nothing received yet; the next byte expected is `rcv_nxt`.
    pub fn new(rcv_nxt: u64) -> Self {
        Reassembly { rcv_nxt, pending: BTreeMap::new() }
    }

    /// The next sequence number expected: everything below it arrived.
    pub fn rcv_nxt(&self) -> u64 {
        self.rcv_nxt
    }

    /// How many ranges are held above a hole (ranges, not bytes).
    pub fn out_of_order_ranges(&self) -> usize {
        self.pending.len()
    }

    /// Record the arrival of `[start, end)`.
    pub fn insert(&mut self, start: u64, end: u64) -> Arrival {
        if end <= self.rcv_nxt || start >= end {
            return Arrival::Duplicate;
        }
        if start > self.rcv_nxt {
            let e = self.pending.entry(start).or_insert(end);
            *e = (*e).max(end);
            return Arrival::OutOfOrder;
        }
        let before = self.rcv_nxt;
        self.rcv_nxt = end;
        while let Some((&s, &e)) = self.pending.first_key_value() {
            if s > self.rcv_nxt {
                break;
            }
            self.rcv_nxt = self.rcv_nxt.max(e);
            self.pending.pop_first();
        }
        Arrival::Advanced(before, self.rcv_nxt)
    }

    /// Consume one sequence number (a FIN) at `rcv_nxt`.
    pub fn consume_fin(&mut self) {
        self.rcv_nxt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_holes_in_order() {
        let mut r = Reassembly::new(100);
        assert_eq!(r.insert(200, 300), Arrival::OutOfOrder);
        assert_eq!(r.insert(150, 250), Arrival::OutOfOrder);
        assert_eq!(r.insert(50, 100), Arrival::Duplicate);
        assert_eq!(r.insert(90, 150), Arrival::Advanced(100, 300));
        assert_eq!(r.out_of_order_ranges(), 0);
        assert_eq!(r.insert(100, 300), Arrival::Duplicate);
    }
}
