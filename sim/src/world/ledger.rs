//! A connection's ledger: the boundaries of the messages it wrote that its
//! peer has not read yet, oldest first.
//!
//! Why a type of its own: nearly every connection has at most one message
//! in flight (a request, a reply, a ping), yet a `VecDeque` keeps even one
//! in a heap block of its own, which in a world of thousands of connections
//! has left the cache by the time the message is written or read: a memory
//! stall on each. The oldest message lives inline in the connection (which
//! the event loop has just loaded, see `lookahead`), and a queue is made,
//! boxed, only when two are in flight at once, so the ledger takes what the
//! bare `VecDeque` took inside the connection (32 bytes) and no heap block
//! for the usual one message. The order is the `VecDeque`'s, so nothing a
//! run computes changes.

use super::Message;
use std::collections::VecDeque;

/// No message is this long: a stream's offsets are `u64`, so a message of
/// `u64::MAX` bytes could not end within one. It marks an empty `oldest`.
const NONE: u64 = u64::MAX;

/// The messages a connection wrote and its peer has not read, oldest first.
#[derive(Debug)]
pub(super) struct Ledger {
    /// The oldest; its `size` is [`NONE`] when the ledger is empty.
    oldest: Message,
    /// The newer ones, in order; made when a second message is written
    /// while one waits (and kept for the connection's life). Boxed on
    /// purpose: 8 bytes in the connection instead of a `VecDeque`'s 32, for
    /// a queue most connections never need.
    #[allow(clippy::box_collection)]
    newer: Option<Box<VecDeque<Message>>>,
}

/// An empty `oldest`.
const EMPTY: Message = Message { end: 0, tag: 0, size: NONE };

impl Default for Ledger {
    fn default() -> Self {
        Ledger { oldest: EMPTY, newer: None }
    }
}

impl Ledger {
    /// Add a message after every other.
    pub(super) fn push(&mut self, m: Message) {
        debug_assert!(m.size != NONE, "a message of u64::MAX bytes");
        if self.oldest.size == NONE {
            self.oldest = m;
        } else {
            self.newer.get_or_insert_default().push_back(m);
        }
    }

    /// The oldest message, if any.
    #[inline]
    pub(super) fn front(&self) -> Option<&Message> {
        (self.oldest.size != NONE).then_some(&self.oldest)
    }

    /// Remove the oldest message.
    pub(super) fn pop_front(&mut self) {
        self.oldest = self.newer.as_mut().and_then(|q| q.pop_front()).unwrap_or(EMPTY);
    }

    /// No message is waiting to be read.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.oldest.size == NONE
    }
}

const _: () = assert!(std::mem::size_of::<Ledger>() <= std::mem::size_of::<VecDeque<Message>>());

#[cfg(test)]
mod tests {
    use super::*;

    fn m(end: u64) -> Message {
        Message { end, tag: end * 10, size: 1 }
    }

    /// Messages come out in the order they went in, whether one or several
    /// are waiting, and the queue is made only for a second one. The
    /// ledger is no bigger than the `VecDeque` it replaced.
    #[test]
    fn messages_leave_in_order_and_one_needs_no_heap_block() {
        let mut l = Ledger::default();
        assert!(l.is_empty() && l.front().is_none());
        l.push(m(1));
        assert!(l.newer.is_none(), "one message lives inline");
        assert_eq!(l.front().map(|x| x.end), Some(1));
        l.pop_front();
        assert!(l.is_empty());
        for end in 2..=5 {
            l.push(m(end));
        }
        let mut out = Vec::new();
        while let Some(x) = l.front() {
            out.push((x.end, x.tag));
            l.pop_front();
        }
        assert_eq!(out, vec![(2, 20), (3, 30), (4, 40), (5, 50)]);
        // Emptied, then one again: inline once more.
        l.push(m(6));
        assert_eq!(l.front().map(|x| x.end), Some(6));
        assert!(!l.is_empty());
    }
}
