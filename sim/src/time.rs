//! Simulated time.
//!
//! Time is an integer count of nanoseconds since the start of the run, so
//! arithmetic is exact and two runs with the same inputs see the same instants
//! bit for bit. Nothing in `sim` reads a wall clock: every state machine is
//! handed `now` by its caller (the smoltcp / quinn-proto pattern).
//!
//! Spans of time use [`std::time::Duration`], which already has the exact
//! integer semantics we want and is what users write in their own code.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in simulated time: nanoseconds since the world started.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The start of every run.
    pub const ZERO: Instant = Instant(0);
    /// Later than any reachable instant (about 584 years).
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }
    /// The instant `ms` milliseconds after the start; past about 584 years,
    /// [`Instant::MAX`] (saturating, as adding a duration does).
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1_000_000))
    }
    /// The instant `s` seconds after the start, saturating like
    /// [`from_millis`](Self::from_millis).
    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Seconds since the start, as a float (for reports only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The span since the start of the run.
    pub const fn since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }
    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

thread_local! {
    static CLOCK: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// The simulated time of the world running on this thread, while one runs
/// (for log lines: `tracing` output is stamped with it, not the wall clock).
pub fn current() -> Option<Instant> {
    CLOCK.with(|c| c.get())
}

/// Set (or clear) this thread's simulated time: the world's run loop does,
/// before each event.
pub fn set_current(now: Option<Instant>) {
    CLOCK.with(|c| c.set(now));
}

/// Nanoseconds in a `Duration`, saturating at `u64::MAX` (≈584 years).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(nanos(d)))
    }
}

impl Sub for Instant {
    type Output = Duration;
    /// Saturating: a later instant minus an earlier one; zero otherwise.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// `+HH:MM:SS.mmm` (days are folded into hours), the timeline's notation.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / 1_000_000;
        let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        write!(f, "+{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_hours_minutes_seconds_millis() {
        let t = Instant::ZERO + Duration::from_secs(33 * 60) + Duration::from_millis(12);
        assert_eq!(t.to_string(), "+00:33:00.012");
        assert_eq!(Instant::from_secs(26 * 3600).to_string(), "+26:00:00.000");
    }

    #[test]
    fn subtraction_saturates() {
        assert_eq!(Instant::from_secs(1) - Instant::from_secs(3), Duration::ZERO);
        assert_eq!(Instant::from_secs(3) - Instant::from_secs(1), Duration::from_secs(2));
    }

    #[test]
    fn construction_saturates_past_584_years() {
        // u64::MAX ns is 18 446 744 073.7 s: one second more is MAX, not a wrap to ~0.
        assert_eq!(Instant::from_secs(18_446_744_074), Instant::MAX);
        assert_eq!(Instant::from_millis(u64::MAX), Instant::MAX);
        assert_eq!(Instant::from_secs(18_446_744_073).as_nanos(), 18_446_744_073_000_000_000);
    }
}
