//! Hints that start loading memory an upcoming event will touch.
//!
//! Why: in a world of thousands of connections each event touches state
//! (a connection, its application, its host) that was last used long ago and
//! has left the cache; the run is then bound by memory latency, not by work.
//! The event queue knows what comes next, so while one event runs the next
//! ones' state can already be on its way. A prefetch is only a hint: it never
//! faults, never changes what the program computes, and costs a few
//! instructions where it does not help.

/// Ask the CPU to bring the cache line holding `at` into L1. Any address
/// will do, even a dangling one.
#[inline(always)]
pub(crate) fn line<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program's state and cannot
    // fault, whatever the address; SSE is part of x86_64's baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Ask the CPU to bring every cache line `*value` touches into L1.
#[inline(always)]
pub(crate) fn all<T: ?Sized>(value: &T) {
    bytes((value as *const T).cast::<u8>(), std::mem::size_of_val(value));
}

/// Ask the CPU to bring the cache lines of the first `len` bytes of `*value`
/// into L1: for a struct that puts what most events touch first.
#[inline(always)]
pub(crate) fn prefix<T>(value: &T, len: usize) {
    bytes((value as *const T).cast::<u8>(), len.min(std::mem::size_of::<T>()));
}

/// The lines of `len` bytes from `start`.
#[inline(always)]
fn bytes(start: *const u8, len: usize) {
    let end = start as usize + len;
    // From the start of the first line, so an unaligned value's last line is not missed.
    let mut at = start.wrapping_sub(start as usize % LINE);
    while (at as usize) < end {
        line(at);
        at = at.wrapping_add(LINE);
    }
}

/// A cache line's size on x86_64 (and most else).
const LINE: usize = 64;
