//! One direction of an access link: rate, propagation delay, a FIFO queue
//! with tail drop, random loss, and scheduled outages.
//!
//! A packet offered at `now` starts serialising when the transmitter is free
//! (`busy_until`), takes `bytes·8/rate`, and arrives `delay` after its last
//! bit left. Bytes count the IP packet plus link framing, because that is what
//! a real bottleneck (a modem, or tbf on a veth) meters: 100 KiB over
//! 56 kbit/s takes ~15.3 s, not the 14.6 s the payload alone suggests.
//!
//! The queue is evaluated lazily: the link keeps the departure times of the
//! packets it accepted and forgets those already gone when a new one is
//! offered, so a packet costs one event (its arrival), not three.

use crate::error::ConfigError;
use crate::rng::Stream;
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// Settings of one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Bits per second.
    pub rate_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Most bytes waiting or in transmission; an offered packet that would
    /// exceed it is dropped (tail drop).
    pub queue_bytes: u64,
    /// Probability that a packet is lost, independently of all others.
    pub loss: f64,
    /// Link-layer bytes added to every IP packet (Ethernet: 14).
    pub framing_bytes: u32,
}

impl Default for LinkConfig {
    /// A fast, clean link: 1 Gbit/s, no delay, 4 MiB of queue, no loss.
    fn default() -> Self {
        LinkConfig {
            rate_bps: 1_000_000_000,
            delay: Duration::ZERO,
            queue_bytes: 4 << 20,
            loss: 0.0,
            framing_bytes: crate::packet::DEFAULT_FRAMING_BYTES,
        }
    }
}

impl LinkConfig {
    /// Check the settings: a rate and a queue greater than zero, a loss
    /// probability in [0, 1). `name` (`client.link.up`, …) is the key the
    /// error names.
    pub fn validate(&self, name: &'static str) -> Result<(), ConfigError> {
        if self.rate_bps == 0 {
            return Err(ConfigError::OutOfRange { field: name, value: "rate 0 bit/s".into(), allowed: "a rate above 0" });
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(ConfigError::OutOfRange { field: name, value: format!("loss {}", self.loss), allowed: "loss in [0, 1)" });
        }
        if self.queue_bytes == 0 {
            return Err(ConfigError::OutOfRange { field: name, value: "queue 0 B".into(), allowed: "a queue above 0 bytes" });
        }
        Ok(())
    }

    /// Time to put `bytes` on the wire, rounded up to the nanosecond.
    pub fn serialisation(&self, bytes: u64) -> Duration {
        let ns = (u128::from(bytes) * 8 * 1_000_000_000).div_ceil(u128::from(self.rate_bps));
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// An interval during which the link passes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    /// First instant of the outage (the world's global clock).
    pub start: Instant,
    /// First instant after it: the span is `[start, end)`.
    pub end: Instant,
}

impl Outage {
    /// An outage of `duration` from `start`.
    pub fn new(start: Instant, duration: Duration) -> Self {
        Outage { start, end: start + duration }
    }
    /// Is the link down at `t` (`start <= t < end`)?
    pub fn contains(&self, t: Instant) -> bool {
        self.start <= t && t < self.end
    }
}

/// Why a link did not deliver a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDrop {
    /// Tail drop: the packet would have pushed the backlog past
    /// [`LinkConfig::queue_bytes`].
    QueueFull,
    /// Lost at random, with probability [`LinkConfig::loss`].
    RandomLoss,
    /// Offered during an outage, or still on its way when one began.
    Outage,
}

/// What became of an offered packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Arrives at the far end at this instant, after `queued` behind others.
    Arrives {
        /// When its last bit reaches the far end (serialisation plus delay).
        at: Instant,
        /// How long it waited for the transmitter before its first bit left.
        queued: Duration,
    },
    /// Never arrives, for this reason.
    Dropped(LinkDrop),
}

/// One direction of a link, with its state.
#[derive(Clone, Debug)]
pub struct LinkDir {
    cfg: LinkConfig,
    /// When the last bit of the last packet offered leaves.
    busy_until: Instant,
    /// (departure of the last bit, wire bytes) of the packets not yet fully
    /// sent before the last one, oldest first. The last one is
    /// (`busy_until`, `last_wire`), kept out of the queue: most of a fleet's
    /// links never hold two packets at once, and then the queue's buffer,
    /// long out of the cache, is never touched.
    earlier: VecDeque<(Instant, u64)>,
    /// The wire bytes of the last packet offered (in flight while `busy_until` is ahead).
    last_wire: u64,
    /// The wire bytes of every packet not yet fully sent.
    backlog_bytes: u64,
    outages: Vec<Outage>,
    rng: Stream,
}

impl LinkDir {
    /// An idle link with settings `cfg`, drawing its random losses from `rng`.
    pub fn new(cfg: LinkConfig, rng: Stream) -> Self {
        LinkDir { cfg, busy_until: Instant::ZERO, earlier: VecDeque::new(), last_wire: 0, backlog_bytes: 0, outages: Vec::new(), rng }
    }

    /// Its settings.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// Schedule an outage (the world adds each `outage` fault to both
    /// directions of the host's link before the run).
    pub fn add_outage(&mut self, outage: Outage) {
        self.outages.push(outage);
    }

    /// Does an outage hold the link at `t`?
    pub fn in_outage(&self, t: Instant) -> bool {
        self.outages.iter().any(|o| o.contains(t))
    }

    /// How long a packet offered at `now` would wait before its first bit goes out.
    pub fn backlog_delay(&self, now: Instant) -> Duration {
        self.busy_until - now
    }

    /// Offer an IP packet of `ip_bytes` at `now`.
    pub fn offer(&mut self, now: Instant, ip_bytes: u32) -> Offer {
        if self.in_outage(now) {
            return Offer::Dropped(LinkDrop::Outage);
        }
        if self.busy_until <= now {
            // Every packet queued has left (none finishes after the last):
            // forget them without reading the queue.
            self.earlier.clear();
            self.backlog_bytes = 0;
        }
        // The last packet is still in flight here (`busy_until` > now), so
        // only the earlier ones can have left.
        while let Some(&(done, bytes)) = self.earlier.front() {
            if done > now {
                break;
            }
            self.earlier.pop_front();
            self.backlog_bytes -= bytes;
        }
        let wire = u64::from(ip_bytes) + u64::from(self.cfg.framing_bytes);
        if self.backlog_bytes + wire > self.cfg.queue_bytes {
            return Offer::Dropped(LinkDrop::QueueFull);
        }
        // The transmitter is busy for this packet whether or not it survives.
        let start = self.busy_until.max(now);
        let done = start + self.cfg.serialisation(wire);
        if self.busy_until > now {
            // The packet before is still going out: it joins the queue.
            if self.earlier.capacity() == 0 {
                // Room for one at first (a plain push reserves four).
                self.earlier.reserve_exact(1);
            }
            self.earlier.push_back((self.busy_until, self.last_wire));
        }
        self.busy_until = done;
        self.last_wire = wire;
        self.backlog_bytes += wire;
        if self.cfg.loss > 0.0 && self.rng.unit() < self.cfg.loss {
            return Offer::Dropped(LinkDrop::RandomLoss);
        }
        let at = done + self.cfg.delay;
        // In flight when an outage began: lost with the link.
        if self.outages.iter().any(|o| o.start > now && o.start < at) {
            return Offer::Dropped(LinkDrop::Outage);
        }
        Offer::Arrives { at, queued: start - now }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_rate_and_a_zero_queue_are_told_apart() {
        let rate = LinkConfig { rate_bps: 0, ..LinkConfig::default() }.validate("client.link.up").unwrap_err();
        let queue = LinkConfig { queue_bytes: 0, ..LinkConfig::default() }.validate("client.link.up").unwrap_err();
        assert!(rate.to_string().contains("rate 0 bit/s") && rate.to_string().contains("client.link.up"), "{rate}");
        assert!(queue.to_string().contains("queue 0 B"), "{queue}");
        assert_eq!(LinkConfig::default().validate("client.link.up"), Ok(()));
    }

    use crate::rng::Purpose;

    fn dialup() -> LinkDir {
        let cfg = LinkConfig { rate_bps: 56_000, delay: Duration::from_millis(100), queue_bytes: 3100, ..LinkConfig::default() };
        LinkDir::new(cfg, Stream::new(1, Purpose::ClientUpLoss))
    }

    #[test]
    fn serialises_at_rate_then_adds_delay() {
        let mut l = dialup();
        // 1500 + 14 bytes = 12112 bits at 56 kbit/s = 216.285715 ms (rounded up), then 100 ms.
        let first = l.offer(Instant::ZERO, 1500);
        assert_eq!(first, Offer::Arrives { at: Instant::from_nanos(216_285_715 + 100_000_000), queued: Duration::ZERO });
        // A second packet waits for the first.
        match l.offer(Instant::ZERO, 1500) {
            Offer::Arrives { at, queued } => {
                assert_eq!(queued, Duration::from_nanos(216_285_715));
                assert_eq!(at, Instant::from_nanos(2 * 216_285_715 + 100_000_000));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tail_drops_beyond_the_queue_limit_and_frees_space_as_packets_leave() {
        let mut l = dialup();
        assert!(matches!(l.offer(Instant::ZERO, 1400), Offer::Arrives { .. }));
        assert!(matches!(l.offer(Instant::ZERO, 1400), Offer::Arrives { .. }));
        assert_eq!(l.offer(Instant::ZERO, 1400), Offer::Dropped(LinkDrop::QueueFull));
        // After the first packet has left (1414 B = 202 ms) there is room again.
        assert!(matches!(l.offer(Instant::from_millis(203), 1400), Offer::Arrives { .. }));
    }

    /// The last packet on the link is kept inline: packets that never
    /// overlap leave the queue's block unmade, and the inline one still
    /// counts toward the queue limit. 1414 B take 202 ms at 56 kbit/s.
    #[test]
    fn one_packet_at_a_time_needs_no_queue_block_but_still_fills_the_queue() {
        let mut l = dialup();
        for i in 0..5 {
            assert!(matches!(l.offer(Instant::from_millis(300 * i), 1400), Offer::Arrives { .. }));
        }
        assert_eq!(l.earlier.capacity(), 0, "never two packets at once");
        // Now two at once: the first joins the queue, then 3100 B of queue hold no third.
        assert!(matches!(l.offer(Instant::from_millis(1500), 1400), Offer::Arrives { .. }));
        assert!(matches!(l.offer(Instant::from_millis(1500), 1400), Offer::Arrives { .. }));
        assert_eq!(l.earlier.len(), 1);
        assert_eq!(l.offer(Instant::from_millis(1500), 1400), Offer::Dropped(LinkDrop::QueueFull));
        // The first left at 1702 ms; the inline second (until 1904 ms) and a new third fit.
        assert!(matches!(l.offer(Instant::from_millis(1703), 1400), Offer::Arrives { .. }));
        assert_eq!(l.backlog_bytes, 2 * 1414);
    }

    #[test]
    fn outage_drops_entering_and_in_flight_packets() {
        let mut l = dialup();
        l.add_outage(Outage::new(Instant::from_millis(250), Duration::from_secs(1)));
        // Leaves at 216 ms, would arrive at 316 ms: in flight when the outage starts.
        assert_eq!(l.offer(Instant::ZERO, 1500), Offer::Dropped(LinkDrop::Outage));
        assert_eq!(l.offer(Instant::from_millis(300), 100), Offer::Dropped(LinkDrop::Outage));
        assert!(matches!(l.offer(Instant::from_millis(1250), 100), Offer::Arrives { .. }));
    }

    #[test]
    fn random_loss_rate_is_close_to_configured() {
        let cfg = LinkConfig { loss: 0.02, ..LinkConfig::default() };
        let mut l = LinkDir::new(cfg, Stream::new(3, Purpose::ServerUpLoss));
        let n = 100_000u64;
        let lost = (0..n).filter(|i| l.offer(Instant::from_millis(*i), 100) == Offer::Dropped(LinkDrop::RandomLoss)).count();
        // Binomial(100000, 0.02): mean 2000, σ ≈ 44; ±5σ.
        assert!((1780..=2220).contains(&lost), "lost {lost}");
    }
}
