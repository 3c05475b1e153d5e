//! The endpoint's outgoing segments and socket events: queues that hold a
//! buffer only while they hold something.
//!
//! Why: an endpoint's segments and events are always drained within the
//! event that produced them (the world transmits and delivers before it
//! moves on), so between events every queue is empty. A `VecDeque` keeps
//! its buffer anyway: in a fleet of 10,000 connections, 20,000 endpoints
//! held two idle heap blocks each (~3.6 MB, the gap between a fleet's peak
//! and its 40 MB goal), and each event touched one more cold block. Here,
//! in a large world ([`share_buffers`]), a queue that empties hands its
//! buffer to its thread as the spare, and the next queue that needs one
//! takes it from there: a world's endpoints share a few warm buffers,
//! whatever their number. A small world keeps each queue's buffer, as a
//! `VecDeque` does: there the trip would cost more than it saves.
//!
//! Only memory moves: a queue holds and yields exactly what a `VecDeque`
//! would, in the same order, so no output changes. A world runs on one
//! thread (parallel runs each on their own), and a buffer is empty when it
//! moves, so sharing it between endpoints and worlds shares no state.

use crate::packet::Segment;
use crate::socket::SocketEvent;
use std::cell::Cell;
use std::collections::VecDeque;

/// The capacity a fresh buffer starts with (a `VecDeque`'s own first growth).
const FIRST_CAPACITY: usize = 4;

/// From now on, on this thread, queues that empty hand their buffers back
/// (`true`) or keep them (`false`, the default). The world turns it on
/// while a large world runs: sharing costs each event a few instructions
/// (the buffer's trip to the spare and back: 5.5 % more on one keepalive
/// connection, counted with callgrind), which pays only where the buffers
/// would not all stay in the cache anyway.
pub fn share_buffers(on: bool) {
    SHARING.set(on);
}

/// What a queue holds: each kind has its thread's spare buffer.
pub(crate) trait Pooled: Sized + 'static {
    /// This thread's spare buffer for `Self` (empty: none).
    fn spare() -> &'static std::thread::LocalKey<Cell<VecDeque<Self>>>;
}

thread_local! {
    /// Whether drained queues hand their buffers back (see [`share_buffers`]).
    static SHARING: Cell<bool> = const { Cell::new(false) };
    static SEGMENTS: Cell<VecDeque<Segment>> = const { Cell::new(VecDeque::new()) };
    static EVENTS: Cell<VecDeque<SocketEvent>> = const { Cell::new(VecDeque::new()) };
}

impl Pooled for Segment {
    #[inline(always)]
    fn spare() -> &'static std::thread::LocalKey<Cell<VecDeque<Self>>> {
        &SEGMENTS
    }
}

impl Pooled for SocketEvent {
    #[inline(always)]
    fn spare() -> &'static std::thread::LocalKey<Cell<VecDeque<Self>>> {
        &EVENTS
    }
}

/// A FIFO queue whose buffer, while it is empty, is its thread's spare.
#[derive(Clone, Debug)]
pub(crate) struct Outbox<T: Pooled> {
    queue: VecDeque<T>,
}

impl<T: Pooled> Outbox<T> {
    /// An empty queue, holding no buffer.
    pub(crate) const fn new() -> Self {
        Outbox { queue: VecDeque::new() }
    }

    /// Add `value` at the back (taking the spare buffer if it holds none).
    #[inline(always)]
    pub(crate) fn push_back(&mut self, value: T) {
        if self.queue.capacity() == 0 {
            self.take_spare();
        }
        self.queue.push_back(value);
    }

    /// Take the value at the front (handing the buffer back once empty).
    #[inline(always)]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let value = self.queue.pop_front()?;
        if self.queue.is_empty() && SHARING.get() {
            self.give_back();
        }
        Some(value)
    }

    /// The spare buffer (an empty `VecDeque` when there is none: then a fresh one).
    #[inline(never)]
    fn take_spare(&mut self) {
        self.queue = T::spare().take();
        if self.queue.capacity() == 0 {
            self.queue.reserve_exact(FIRST_CAPACITY);
        }
    }

    /// Hand the empty buffer to the thread as its spare. One spare is
    /// enough: a buffer moves back as soon as its queue is drained, so
    /// another queue rarely holds one at the same time (if one does, the
    /// spare it displaces is freed).
    #[inline(never)]
    fn give_back(&mut self) {
        let mut buffer = std::mem::take(&mut self.queue);
        // Back to its start, so the next queue fills it from its first line.
        buffer.clear();
        drop(T::spare().replace(buffer));
    }

    /// How many values it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether it holds a buffer (tests of the sharing).
    #[cfg(test)]
    fn holds_buffer(&self) -> bool {
        self.queue.capacity() > 0
    }
}

impl<T: Pooled> Default for Outbox<T> {
    fn default() -> Self {
        Outbox::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::SocketError;

    #[test]
    fn a_queue_yields_what_it_was_given_in_order_and_holds_no_buffer_when_empty() {
        share_buffers(true);
        let mut q: Outbox<SocketEvent> = Outbox::new();
        assert!(!q.holds_buffer());
        q.push_back(SocketEvent::Connected);
        q.push_back(SocketEvent::Received { up_to: 100 });
        assert!(q.holds_buffer());
        assert_eq!(q.pop_front(), Some(SocketEvent::Connected));
        q.push_back(SocketEvent::Error(SocketError::Reset));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_front(), Some(SocketEvent::Received { up_to: 100 }));
        assert_eq!(q.pop_front(), Some(SocketEvent::Error(SocketError::Reset)));
        assert!(!q.holds_buffer(), "drained: its buffer went back to its thread");
        assert_eq!(q.pop_front(), None);
    }

    #[test]
    fn a_drained_buffer_is_the_next_queues() {
        // Each test runs on its own thread: this spare starts empty.
        share_buffers(true);
        let mut a: Outbox<SocketEvent> = Outbox::new();
        a.push_back(SocketEvent::Eof);
        let first = a.queue.as_slices().0.as_ptr();
        a.pop_front();
        let mut b: Outbox<SocketEvent> = Outbox::new();
        b.push_back(SocketEvent::Eof);
        assert_eq!(b.queue.as_slices().0.as_ptr(), first, "b took a's buffer, not a new one");
        // While b holds it, a third queue gets a buffer of its own.
        let mut c: Outbox<SocketEvent> = Outbox::new();
        c.push_back(SocketEvent::Eof);
        assert_ne!(c.queue.as_slices().0.as_ptr(), first);
        assert_eq!(c.queue.capacity(), FIRST_CAPACITY);
        // Without sharing, a drained queue keeps its buffer.
        share_buffers(false);
        c.pop_front();
        assert!(c.holds_buffer());
    }
}
