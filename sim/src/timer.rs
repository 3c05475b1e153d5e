//! When a timer armed for `delay` actually fires.
//!
//! Linux does not fire TCP timers at `now + delay`. Delays are converted to
//! jiffies (rounded up; HZ = 250 on the reference kernel, so 4 ms), and the
//! timer wheel (`kernel/time/timer.c`, `calc_wheel_index`) files a timer in a
//! level whose granularity grows with the delay: 1 jiffy below 63 jiffies,
//! 8 below 504, 64 below 4032, 512 below 32256, and so on (×8 per level). The
//! expiry is rounded *up* to the next multiple of that granularity, strictly
//! after the requested jiffy (`calc_index`: `((expires >> shift) + 1) << shift`).
//!
//! This matters for the numbers kasim promises. With exact timers,
//! `tcp_retries2 = 5` on a ~0 ms link aborts after 25.6 s: the RTO expiries
//! 0.4, 0.8, 1.6, 3.2, 6.4, 12.8 s leave only 12.4 s since the first
//! retransmission at the 12.8 s check, short of the 12.6 s model timeout, so
//! one more doubling is needed. The kernel, measured, aborts at 13.4 s because
//! every expiry is a little late (+0.414, +0.842, +1.674, +3.338, +6.73 s).
//! The wheel model below reproduces those expiries to within a few ms
//! (0.416, 0.832, 1.664, 3.328, 6.656, abort at 13.312 s).
//!
//! [`TimerModel::Exact`] is kept for closed-form reasoning: with it, the default
//! keepalive detects exactly 7200 + 9·75 s after the last receipt. With the
//! wheel, the kernel's slack shows (up to 131 s on a 2-hour timer, as in Linux).

use crate::time::{nanos, Instant};
use std::time::Duration;

/// How a TCP endpoint turns "fire in `delay`" into an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerModel {
    /// Fire exactly at `now + delay`.
    Exact,
    /// Linux: jiffies at `hz`, rounded up, then the timer wheel's granularity.
    LinuxWheel {
        /// `CONFIG_HZ`: jiffies per second (250 on the reference kernel, so
        /// a jiffy is 4 ms).
        hz: u32,
    },
}

impl Default for TimerModel {
    /// The reference kernel: Linux 6.18 with HZ = 250.
    fn default() -> Self {
        TimerModel::LinuxWheel { hz: 250 }
    }
}

/// `LVL_CLK_SHIFT` in `kernel/time/timer.c`: each level is 8× coarser.
const LVL_CLK_SHIFT: u32 = 3;
/// `LVL_BITS`: 64 buckets per level.
const LVL_SIZE: u64 = 64;
/// `LVL_DEPTH` for HZ > 100.
const LVL_DEPTH: u32 = 9;

impl TimerModel {
    /// A duration cut to whole jiffies, as the kernel's integer division
    /// by `USEC_PER_SEC / HZ` cuts it (`tcp_init_metrics`'s cached RTT).
    pub fn round_down(self, d: Duration) -> Duration {
        match self {
            TimerModel::Exact => d,
            TimerModel::LinuxWheel { hz } => {
                let jiffy = 1_000_000_000 / u64::from(hz.max(1));
                Duration::from_nanos(nanos(d) / jiffy * jiffy)
            }
        }
    }

    /// A duration as the kernel stores it: rounded up to whole jiffies.
    pub fn round_up(self, d: Duration) -> Duration {
        match self {
            TimerModel::Exact => d,
            TimerModel::LinuxWheel { hz } => {
                let jiffy = 1_000_000_000 / u64::from(hz.max(1));
                Duration::from_nanos(nanos(d).div_ceil(jiffy).saturating_mul(jiffy))
            }
        }
    }

    /// The instant at which a timer armed at `now` for `delay` runs.
    ///
    /// Always `>= now + delay` (never early), like the kernel's wheel.
    pub fn deadline(self, now: Instant, delay: Duration) -> Instant {
        match self {
            TimerModel::Exact => now + delay,
            TimerModel::LinuxWheel { hz } => {
                let jiffy = 1_000_000_000 / u64::from(hz.max(1));
                let now_j = now.as_nanos() / jiffy;
                // usecs_to_jiffies / msecs_to_jiffies round up.
                let delta_j = nanos(delay).div_ceil(jiffy).max(if delay.is_zero() { 0 } else { 1 });
                let expires = now_j + delta_j;
                let level = wheel_level(delta_j);
                let shift = level * LVL_CLK_SHIFT;
                let bucket = ((expires >> shift) + 1) << shift;
                Instant::from_nanos(bucket.saturating_mul(jiffy))
            }
        }
    }
}

impl TimerModel {
    /// The granularity of the wheel level a timer of `delay` lands in: the
    /// most it can fire late (besides rounding up to a whole jiffy). 330 s at
    /// HZ 250 is level 4: 4096 jiffies = 16.384 s.
    pub fn granularity(self, delay: Duration) -> Duration {
        match self {
            TimerModel::Exact => Duration::ZERO,
            TimerModel::LinuxWheel { hz } => {
                let jiffy = 1_000_000_000 / u64::from(hz.max(1));
                let delta_j = nanos(delay).div_ceil(jiffy);
                Duration::from_nanos((1u64 << (wheel_level(delta_j) * LVL_CLK_SHIFT)) * jiffy)
            }
        }
    }
}

/// `LVL_START(n) = (LVL_SIZE - 1) << ((n - 1) * LVL_CLK_SHIFT)`; the first
/// level whose range holds `delta` jiffies.
fn wheel_level(delta: u64) -> u32 {
    (1..LVL_DEPTH).find(|&n| delta < (LVL_SIZE - 1) << ((n - 1) * LVL_CLK_SHIFT)).map_or(LVL_DEPTH - 1, |n| n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHEEL: TimerModel = TimerModel::LinuxWheel { hz: 250 };

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    #[test]
    fn exact_model_adds_the_delay() {
        assert_eq!(TimerModel::Exact.deadline(Instant::from_millis(5), ms(200)), Instant::from_millis(205));
    }

    #[test]
    fn level_zero_fires_one_jiffy_after_the_rounded_up_delay() {
        // 200.05 ms -> 51 jiffies (rounded up); level 0 adds one: jiffy 52 = 208 ms.
        let d = Duration::from_micros(200_050);
        assert_eq!(WHEEL.deadline(Instant::ZERO, d), Instant::from_millis(208));
    }

    #[test]
    fn level_one_rounds_up_to_a_multiple_of_eight_jiffies() {
        // armed at jiffy 104 (416 ms) for 102 jiffies: expires 206 -> bucket 208 = 832 ms,
        // the kernel's second RTO expiry measured at +0.842 s.
        assert_eq!(WHEEL.deadline(Instant::from_millis(416), ms(408)), Instant::from_millis(832));
        // 2 s keepalive from 0: 500 jiffies (level 1) -> bucket 504 = 2.016 s.
        assert_eq!(WHEEL.deadline(Instant::ZERO, Duration::from_secs(2)), Instant::from_millis(2016));
    }

    #[test]
    fn level_two_rounds_to_sixty_four_jiffies() {
        // jiffy 832 + 816 = 1648 -> (25 + 1) * 64 = 1664 jiffies = 6.656 s.
        assert_eq!(WHEEL.deadline(Instant::from_millis(3328), ms(3264)), Instant::from_millis(6656));
    }

    #[test]
    fn two_hour_timer_lands_on_a_level_five_bucket() {
        // 7200 s = 1 800 000 jiffies: level 5 (granularity 32768 jiffies).
        // (1800000 >> 15) + 1 = 55; 55 << 15 = 1 802 240 jiffies = 7208.96 s.
        assert_eq!(WHEEL.deadline(Instant::ZERO, Duration::from_secs(7200)), Instant::from_millis(7_208_960));
    }

    #[test]
    fn granularity_is_the_levels_bucket_width() {
        assert_eq!(WHEEL.granularity(ms(200)), ms(4));
        assert_eq!(WHEEL.granularity(Duration::from_secs(330)), ms(16_384));
        assert_eq!(WHEEL.granularity(Duration::from_secs(7200)), Duration::from_millis(131_072));
        // The deadline never lands later than the granularity plus a jiffy.
        let now = Instant::from_millis(1234);
        let d = Duration::from_secs(330);
        assert!(WHEEL.deadline(now, d) - (now + d) <= WHEEL.granularity(d) + ms(4));
    }

    #[test]
    fn never_early() {
        for start in [0u64, 1, 3_999_999, 123_456_789] {
            for d in [1u64, 4_000_000, 75_000_000_000, 7_200_000_000_000] {
                let now = Instant::from_nanos(start);
                let d = Duration::from_nanos(d);
                assert!(WHEEL.deadline(now, d) >= now + d);
            }
        }
    }
}
