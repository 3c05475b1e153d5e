//! Errors from the engine's builders. Bad input is a value naming the field,
//! never a panic: the harness turns these into messages for the user.

use std::time::Duration;

/// Why a [`WorldConfig`](crate::WorldConfig) (or one of its parts) was
/// refused by its `validate`, before anything ran. Field names are the
/// scenario file's keys (`tcp.rto_min`, `client.link.up`, …), so the message
/// points at what the user wrote.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A duration or count that must be greater than zero is zero.
    #[error("`{field}` must be greater than zero")]
    MustBePositive {
        /// The offending key.
        field: &'static str,
    },
    /// A value outside the range the model (or Linux) accepts.
    #[error("`{field}` = {value} is out of range; allowed: {allowed}")]
    OutOfRange {
        /// The offending key.
        field: &'static str,
        /// The value given, as text.
        value: String,
        /// What would have been accepted, as text (`"0..=255"`).
        allowed: &'static str,
    },
    /// A fault starts at or after the end of the run, so it could never happen.
    #[error("fault #{index} ({kind}) at {at:?} is not before the horizon {horizon:?}")]
    FaultAfterHorizon {
        /// The fault's position in [`WorldConfig::faults`](crate::WorldConfig::faults), from 0.
        index: usize,
        /// Its kind ([`Fault::kind_name`](crate::Fault::kind_name)).
        kind: &'static str,
        /// When it was to start, since the start of the run.
        at: Duration,
        /// The run's length.
        horizon: Duration,
    },
    /// A fault aimed at a host it cannot hit: the proxy may vanish, reboot or
    /// crash, but not be suspended or have its link cut.
    #[error("fault #{index} ({kind}) cannot target {target}; allowed: {allowed}")]
    BadFaultTarget {
        /// The fault's position in the list, from 0.
        index: usize,
        /// Its kind.
        kind: &'static str,
        /// The host it named.
        target: &'static str,
        /// The hosts it may name.
        allowed: &'static str,
    },
    /// A reboot, suspend, outage or crash-with-restart of zero length.
    #[error("fault #{index} ({kind}) needs a duration greater than zero")]
    FaultNeedsDuration {
        /// The fault's position in the list, from 0.
        index: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// A fault names a client host the world does not have.
    #[error("fault #{index} ({kind}) targets client:{client}, but there are {clients} clients (0..={})", clients - 1)]
    NoSuchClient {
        /// The fault's position in the list, from 0.
        index: usize,
        /// Its kind.
        kind: &'static str,
        /// The client index it named (0-based).
        client: u32,
        /// How many client hosts the world has.
        clients: u32,
    },
    /// A fault names the proxy in a world without one.
    #[error("fault #{index} ({kind}) targets the proxy, and the topology has none")]
    NoProxy {
        /// The fault's position in the list, from 0.
        index: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// A NAT reboot in a world without a NAT.
    #[error("fault #{index} ({kind}) needs a NAT, and the topology has none")]
    NoNat {
        /// The fault's position in the list, from 0.
        index: usize,
        /// Its kind.
        kind: &'static str,
    },
    /// A combination the engine does not model (QUIC through a TCP proxy, a
    /// tunnel with a listen queue, …).
    #[error("{what} is not supported")]
    Unsupported {
        /// The combination, in words.
        what: &'static str,
    },
}

/// `value` of `field` within `range` (a sysctl's range), else `OutOfRange`
/// saying which.
pub(crate) fn within(
    field: &'static str,
    value: u32,
    range: std::ops::RangeInclusive<u32>,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { field, value: value.to_string(), allowed })
    }
}

pub(crate) fn positive(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        Err(ConfigError::MustBePositive { field })
    } else {
        Ok(())
    }
}
