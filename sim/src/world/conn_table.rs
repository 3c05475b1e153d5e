//! Every connection endpoint the world has opened, by a number that is
//! never reused, with the state of only the live ones.
//!
//! Why: a reconnect storm (a 1 ms backoff against a crashed server opens
//! about 1 000 attempts a second) kept every attempt's endpoint, socket and
//! application until the run ended: 0.55 GB at 10 minutes, 3.3 GB at an
//! hour. An endpoint that is over (closed, its application quiet, nothing
//! of it left for its peer to read; the `release` module decides) gives
//! its place back here, and the next endpoint opened takes it. Its number
//! stays what segments on the wire, NAT flows, wake-ups in the event queue
//! and the trace call it by, so none of them has to be found and rewritten:
//! a number maps to its place (one more load, from a table of 8 bytes per
//! endpoint ever opened), or, once released, to what those late readers
//! still ask of it, its slot, attempt and role ([`Ident`]).
//!
//! Reading a released endpoint's state is a bug, and indexing panics on
//! it; [`ConnTable::get`] answers `None` for readers that may meet one.

use super::{Conn, Role};

/// What a connection number still says after its endpoint is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ident {
    pub(super) slot: u32,
    /// Which of its slot's connections it was (0 = the first).
    pub(super) gen: u32,
    pub(super) role: Role,
}

/// Where a live connection's state is, for the handlers that touch it
/// most: found once per call, it spares each access the number's lookup.
/// Valid until the end of the event: a place is reused only after a
/// release, and releases wait for the end of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Place(u32);

impl Place {
    /// Its index, for an event to carry ([`ConnTable::place_in_bounds`] takes it back).
    pub(super) fn index(self) -> u32 {
        self.0
    }
}

/// Set on a released number's entry; the rest of the entry is its [`Ident`].
const RELEASED: u64 = 1 << 63;
const ROLES: [Role; 4] = [Role::Client, Role::Server, Role::ProxyFront, Role::ProxyBack];

impl Ident {
    /// `RELEASED | role (2 bits) << 61 | slot (29 bits) << 32 | gen`: slots
    /// stay under [`MAX_SLOTS`](super::MAX_SLOTS) (2^18), far below 2^29.
    fn pack(self) -> u64 {
        let role = ROLES.iter().position(|&r| r == self.role).expect("every role is listed") as u64;
        debug_assert!(self.slot < 1 << 29);
        RELEASED | role << 61 | u64::from(self.slot) << 32 | u64::from(self.gen)
    }
    fn unpack(entry: u64) -> Ident {
        Ident { slot: ((entry >> 32) & ((1 << 29) - 1)) as u32, gen: entry as u32, role: ROLES[((entry >> 61) & 3) as usize] }
    }
}

/// Connections by number: see the module docs.
#[derive(Default)]
pub(super) struct ConnTable {
    /// Live endpoints, and released places waiting for the next one.
    places: Vec<Conn>,
    /// Released places, the most recent last (reused first: still in cache).
    free: Vec<u32>,
    /// Per number: its place, or `RELEASED | Ident`.
    entries: Vec<u64>,
}

impl ConnTable {
    /// Numbers handed out so far (every endpoint ever opened).
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `index` as a place if there is one (live or waiting for reuse: a
    /// look-ahead's prefetch of a reused place is only wasted).
    #[inline(always)]
    pub(super) fn place_in_bounds(&self, index: u32) -> Option<Place> {
        ((index as usize) < self.places.len()).then_some(Place(index))
    }

    /// Endpoints not released.
    pub(super) fn live(&self) -> usize {
        self.places.len() - self.free.len()
    }

    /// Room for `n` more endpoints without growing.
    pub(super) fn reserve_exact(&mut self, n: usize) {
        self.places.reserve_exact(n);
        self.entries.reserve_exact(n);
    }

    /// Open `conn`: its number.
    pub(super) fn push(&mut self, conn: Conn) -> usize {
        // Into a released place, if any: the released endpoint's socket and buffers go now.
        let place = crate::slab::put(&mut self.places, &mut self.free, conn);
        self.entries.push(u64::from(place));
        self.entries.len() - 1
    }

    /// Connection `c`, unless it was released (or never existed).
    #[inline]
    pub(super) fn get(&self, c: usize) -> Option<&Conn> {
        let e = *self.entries.get(c)?;
        if e & RELEASED != 0 {
            return None;
        }
        // SAFETY: as in `index`.
        Some(unsafe { self.places.get_unchecked(e as usize) })
    }

    #[inline]
    pub(super) fn get_mut(&mut self, c: usize) -> Option<&mut Conn> {
        let e = *self.entries.get(c)?;
        if e & RELEASED != 0 {
            return None;
        }
        // SAFETY: as in `index`.
        Some(unsafe { self.places.get_unchecked_mut(e as usize) })
    }

    /// Where live connection `c`'s state is; panics if it was released.
    #[inline(always)]
    pub(super) fn place(&self, c: usize) -> Place {
        let e = self.entries[c];
        if e & RELEASED != 0 {
            released(c);
        }
        Place(e as u32)
    }

    /// Where connection `c`'s state is, unless it was released.
    #[inline(always)]
    pub(super) fn live_place(&self, c: usize) -> Option<Place> {
        let e = *self.entries.get(c)?;
        (e & RELEASED == 0).then_some(Place(e as u32))
    }

    /// `place` if it still holds connection `c` (a wake-up scheduled for
    /// `c` there may have outlived it).
    #[inline(always)]
    pub(super) fn still_at(&self, c: usize, place: u32) -> Option<Place> {
        (self.places.get(place as usize)?.number as usize == c).then_some(Place(place))
    }

    /// Start loading number `c`'s entry (see [`crate::prefetch`]).
    #[inline(always)]
    pub(super) fn prefetch_entry(&self, c: usize) {
        if let Some(e) = self.entries.get(c) {
            crate::prefetch::line(e);
        }
    }

    /// Is `c` a live endpoint?
    #[inline]
    pub(super) fn is_live(&self, c: usize) -> bool {
        self.entries.get(c).is_some_and(|e| e & RELEASED == 0)
    }

    /// Slot, attempt and role of connection `c`, live or released.
    pub(super) fn ident(&self, c: usize) -> Option<Ident> {
        let e = *self.entries.get(c)?;
        Some(match e & RELEASED {
            0 => {
                let conn = &self.places[e as usize];
                Ident { slot: conn.slot, gen: conn.gen, role: conn.role }
            }
            _ => Ident::unpack(e),
        })
    }

    /// Give `c`'s place back. Its application and message ledger are dropped
    /// now; the rest when the place is reused.
    pub(super) fn release(&mut self, c: usize) {
        let e = self.entries[c];
        assert_eq!(e & RELEASED, 0, "connection {c} released twice");
        let conn = &mut self.places[e as usize];
        conn.number = u32::MAX;
        conn.app = super::AppSlot::new(Box::new(crate::app::Idle));
        conn.ledger = Default::default();
        self.entries[c] = Ident { slot: conn.slot, gen: conn.gen, role: conn.role }.pack();
        self.free.push(e as u32);
    }

    /// Live endpoints with their numbers, in the order they were opened.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &Conn)> + '_ {
        (0..self.len()).filter_map(|c| self.get(c).map(|conn| (c, conn)))
    }
}

impl std::ops::Index<usize> for ConnTable {
    type Output = Conn;
    /// Connection `c`'s state; panics if it was released.
    #[inline(always)]
    fn index(&self, c: usize) -> &Conn {
        let e = self.entries[c];
        if e & RELEASED != 0 {
            released(c);
        }
        // SAFETY: an entry without RELEASED is a place that `push` handed
        // out, below `places.len()`; `places` never shrinks. (This check is
        // on every event's path: the number's own bounds check stays.)
        unsafe { self.places.get_unchecked(e as usize) }
    }
}

impl std::ops::IndexMut<usize> for ConnTable {
    #[inline(always)]
    fn index_mut(&mut self, c: usize) -> &mut Conn {
        let e = self.entries[c];
        if e & RELEASED != 0 {
            released(c);
        }
        // SAFETY: as in `index`.
        unsafe { self.places.get_unchecked_mut(e as usize) }
    }
}

impl std::ops::Index<Place> for ConnTable {
    type Output = Conn;
    #[inline(always)]
    fn index(&self, p: Place) -> &Conn {
        // SAFETY: a place was handed out by `push`, below `places.len()`,
        // and `places` never shrinks.
        unsafe { self.places.get_unchecked(p.0 as usize) }
    }
}

impl std::ops::IndexMut<Place> for ConnTable {
    #[inline(always)]
    fn index_mut(&mut self, p: Place) -> &mut Conn {
        // SAFETY: as in `index`.
        unsafe { self.places.get_unchecked_mut(p.0 as usize) }
    }
}

#[cold]
#[inline(never)]
fn released(c: usize) -> ! {
    panic!("connection {c} was released")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ident_survives_packing_at_the_limits() {
        for role in ROLES {
            for (slot, gen) in [(0, 0), ((1 << 29) - 1, u32::MAX), (super::super::MAX_SLOTS - 1, 12345)] {
                let id = Ident { slot, gen, role };
                let packed = id.pack();
                assert_ne!(packed & RELEASED, 0);
                // As a place it is past any vector.
                assert!(packed as usize > isize::MAX as usize);
                assert_eq!(Ident::unpack(packed), id);
            }
        }
    }
}
