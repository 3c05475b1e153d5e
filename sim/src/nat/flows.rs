//! The NAT's live flows: where each mapping lives, how a packet finds it,
//! and which expires next.
//!
//! Why a table of its own: a carrier NAT holds tens of thousands of flows and
//! every packet crossing it looks one up, so how they are stored decides the
//! NAT's cost. Mappings sit in a slab (a `Vec` whose freed places are
//! reused), so a flow is found by its place ([`FlowSlot`]) with one load.
//! Two hash maps find a flow's place by its inside or its public 4-tuple.
//! The world remembers, per connection, the place its last packet used
//! (a [`FlowSlot`] handed back by the NAT) and offers it with the next one:
//! the table checks that the flow there has exactly that packet's 4-tuple,
//! which makes it the map's answer, and skips the map. A wrong or stale
//! hint costs one comparison and the map lookup.
//!
//! Deadlines sit in a priority queue (`crate::bucket_queue`: a heap for
//! the current second, buckets after it) with one entry per flow, lazily: a packet
//! that moves a flow's deadline later only updates the flow; when the
//! flow's entry comes to the top with a stale time it moves to the real
//! deadline (about once per idle timeout for a busy flow). A deadline that
//! moves *earlier* (a FIN switches to the shorter transitory timer) is pushed
//! at once. Entries are ordered by time, then by the flow's creation number,
//! so flows due at the same instant expire in the order they were created
//! whatever places they occupy.

use super::{FlowKey, Mapping, NatConfig};
use crate::bucket_queue::BucketQueue;
use crate::heap::{key, time_of};
use crate::time::Instant;
use rustc_hash::FxHashMap as HashMap;

/// Where a flow lives in its NAT's table: a hint the NAT hands back with
/// each packet it translated, for the same flow's next packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSlot(u32);

impl FlowSlot {
    /// No hint: the table looks the flow up by its 4-tuple.
    pub const NONE: FlowSlot = FlowSlot(u32::MAX);
}

/// A live flow: its mapping and its creation number.
#[derive(Clone, Copy, Debug)]
struct Flow {
    /// Creation number: never reused, it orders flows due at the same instant.
    id: u64,
    mapping: Mapping,
}

/// Live flows, found by place, by inside or public 4-tuple, and by deadline.
#[derive(Clone, Debug, Default)]
pub(super) struct FlowTable {
    slab: Vec<Option<Flow>>,
    /// Places of `slab` that are empty, reused last-freed first.
    free: Vec<u32>,
    by_inside: HashMap<FlowKey, u32>,
    by_public: HashMap<FlowKey, u32>,
    /// Places by `(deadline, creation number)`, earliest first.
    deadlines: BucketQueue<u32>,
    next_id: u64,
}

impl FlowTable {
    /// Live flows: the places not free.
    pub(super) fn len(&self) -> usize {
        self.slab.len() - self.free.len()
    }

    /// The flow at `slot`, if it is live.
    fn at(&self, slot: FlowSlot) -> Option<&Mapping> {
        self.slab.get(slot.0 as usize).and_then(Option::as_ref).map(|f| &f.mapping)
    }

    /// Start loading the flow at `slot` (any slot will do: one out of
    /// range is skipped, a free one only wastes the hint).
    #[inline(always)]
    pub(super) fn prefetch(&self, slot: FlowSlot) {
        if let Some(flow) = self.slab.get(slot.0 as usize) {
            crate::prefetch::all(flow);
        }
    }

    /// The place of the flow from `inside` to `remote`: `hint` if the flow
    /// there is that one (then the map would say the same: a live flow's
    /// inside 4-tuple is unique), else the map's answer.
    #[inline]
    pub(super) fn find_inside(&self, (inside, remote): FlowKey, hint: FlowSlot) -> Option<FlowSlot> {
        if self.at(hint).is_some_and(|m| m.inside == inside && m.remote == remote) {
            return Some(hint);
        }
        self.by_inside.get(&(inside, remote)).map(|&s| FlowSlot(s))
    }

    /// The place of the flow whose public end is `public`, talking to
    /// `remote`: as [`find_inside`](Self::find_inside), by the public 4-tuple.
    #[inline]
    pub(super) fn find_public(&self, (public, remote): FlowKey, hint: FlowSlot) -> Option<FlowSlot> {
        if self.at(hint).is_some_and(|m| m.public == public && m.remote == remote) {
            return Some(hint);
        }
        self.by_public.get(&(public, remote)).map(|&s| FlowSlot(s))
    }

    /// The mapping of a live flow.
    pub(super) fn get(&self, slot: FlowSlot) -> &Mapping {
        self.at(slot).expect("a live flow")
    }

    /// Apply `change` to a live flow; queue its deadline again only if it moved earlier.
    #[inline]
    pub(super) fn touch(&mut self, slot: FlowSlot, cfg: &NatConfig, change: impl FnOnce(&mut Mapping)) -> Mapping {
        let flow = self.slab[slot.0 as usize].as_mut().expect("a live flow");
        let m = &mut flow.mapping;
        change(m);
        let deadline = m.deadline(cfg);
        if deadline < m.queued {
            m.queued = deadline;
            self.deadlines.push(key(deadline, flow.id), slot.0);
        }
        *m
    }

    /// Add a flow (its `queued` deadline already set) and queue its deadline.
    pub(super) fn insert(&mut self, mapping: Mapping) -> FlowSlot {
        let id = self.next_id;
        self.next_id += 1;
        let flow = Some(Flow { id, mapping });
        let slot = crate::slab::put(&mut self.slab, &mut self.free, flow);
        self.by_inside.insert((mapping.inside, mapping.remote), slot);
        self.by_public.insert((mapping.public, mapping.remote), slot);
        self.deadlines.push(key(mapping.queued, id), slot);
        FlowSlot(slot)
    }

    /// Take a live flow out; its heap entry goes stale.
    pub(super) fn remove(&mut self, slot: FlowSlot) -> Mapping {
        let m = self.slab[slot.0 as usize].take().expect("a live flow").mapping;
        self.free.push(slot.0);
        self.by_inside.remove(&(m.inside, m.remote));
        self.by_public.remove(&(m.public, m.remote));
        m
    }

    /// Live flows' places, oldest first.
    pub(super) fn oldest_first(&self) -> Vec<FlowSlot> {
        let mut live: Vec<(u64, u32)> = self.slab.iter().enumerate().filter_map(|(s, f)| f.as_ref().map(|f| (f.id, s as u32))).collect();
        live.sort_unstable();
        live.into_iter().map(|(_, s)| FlowSlot(s)).collect()
    }

    /// Forget every deadline (every flow was removed).
    pub(super) fn clear_deadlines(&mut self) {
        self.deadlines.clear();
    }

    /// When the next flow expires, with the heap's top brought up to date:
    /// entries of flows that are gone or were queued again are dropped, and
    /// a flow whose deadline moved later is moved to it.
    pub(super) fn next_deadline(&mut self, cfg: &NatConfig) -> Option<(Instant, FlowSlot)> {
        loop {
            let (k, slot) = self.deadlines.peek()?;
            let (at, id) = (time_of(k), k as u64);
            let live = self.slab[slot as usize].as_mut().filter(|f| f.id == id && f.mapping.queued == at);
            let Some(flow) = live else {
                self.deadlines.pop();
                continue;
            };
            let real = flow.mapping.deadline(cfg);
            if real == at {
                return Some((at, FlowSlot(slot)));
            }
            flow.mapping.queued = real;
            // In place of the top: one pass down instead of a pop and a push.
            self.deadlines.replace_top(key(real, id), slot);
        }
    }

    /// Drop the top entry (the flow [`next_deadline`](Self::next_deadline) named).
    pub(super) fn pop_deadline(&mut self) {
        self.deadlines.pop();
    }
}
