//! What can happen next (the event queue's entries, ordered in
//! [`super::event_queue`]), and the tables that hold packets in flight, so a
//! queue entry stays 32 bytes however big a segment is.

use crate::packet::Segment;

#[derive(Clone, Copy, Debug)]
pub(super) enum Hop {
    /// Leaving a host's access link toward the middle (NAT or plain wire).
    Middle { from: u32 },
    /// Arriving at a host.
    Host(u32),
}

/// An event. Kept small (the queue entry is 32 bytes): a packet in flight
/// waits in the world's segment table and the event holds its index.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
    Arrive {
        hop: Hop,
        seg: u32,
    },
    /// Connection `conn`'s wake-up; `place` is where its state was when
    /// this was scheduled (a look-ahead prefetches it without the number's
    /// lookup, and the wake-up checks it is still that connection's).
    Wake {
        conn: u32,
        place: u32,
    },
    /// NAT-like box N of the world's (in path order) is due.
    NatWake(u32),
    FaultStart(u32),
    FaultEnd(u32),
    /// A host's application accepts the next connection of its listen queue.
    Accept(u32),
}

/// A segment in flight, and the connection it is most likely for.
#[derive(Clone, Copy, Debug)]
pub(super) struct InFlight {
    pub(super) seg: Segment,
    /// The connection the segment is most likely for: its sender's peer
    /// when it was sent ([`NO_CONN`] if none). Only a hint: the receiving
    /// host checks it (see the `stack` module), and the look-ahead loads its
    /// state early (see the `lookahead` module). Kept beside the segment so
    /// that neither has to load the sender's state, long out of the cache
    /// in a large world, to learn it.
    pub(super) to: u32,
}

/// No connection to hint at.
pub(super) const NO_CONN: u32 = u32::MAX;

/// Segments in flight, in slots reused as they arrive.
#[derive(Default)]
pub(super) struct SegmentTable {
    slots: Vec<InFlight>,
    free: Vec<u32>,
}

impl SegmentTable {
    pub(super) fn put(&mut self, seg: Segment, to: u32) -> u32 {
        crate::slab::put(&mut self.slots, &mut self.free, InFlight { seg, to })
    }
    /// The segment in slot `i`, left in place.
    pub(super) fn peek(&self, i: u32) -> &InFlight {
        &self.slots[i as usize]
    }
    pub(super) fn take(&mut self, i: u32) -> InFlight {
        self.free.push(i);
        self.slots[i as usize]
    }
}

/// The bytes of datagrams on their way, by the id their [`Segment::payload`]
/// holds, from the sender's `poll_transmit` until they are delivered or dropped.
#[derive(Default)]
pub(super) struct Payloads {
    slots: Vec<Vec<u8>>,
    free: Vec<u32>,
}

impl Payloads {
    pub(super) fn put(&mut self, bytes: Vec<u8>) -> u32 {
        crate::slab::put(&mut self.slots, &mut self.free, bytes)
    }
    /// The bytes of `seg` (empty for a TCP segment), freeing their slot.
    pub(super) fn take(&mut self, seg: &Segment) -> Vec<u8> {
        if seg.payload == Segment::NO_PAYLOAD {
            return Vec::new();
        }
        self.free.push(seg.payload);
        std::mem::take(&mut self.slots[seg.payload as usize])
    }
}
