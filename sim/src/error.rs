//! Errors from the engine's builders. Bad input is a value naming the field,
//! never a panic: the harness turns these into messages for the user.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("`{field}` must be greater than zero")]
    MustBePositive { field: &'static str },
    #[error("`{field}` = {value} is out of range; allowed: {allowed}")]
    OutOfRange { field: &'static str, value: String, allowed: &'static str },
    #[error("fault #{index} ({kind}) at {at:?} is not before the horizon {horizon:?}")]
    FaultAfterHorizon { index: usize, kind: &'static str, at: Duration, horizon: Duration },
    #[error("fault #{index} ({kind}) cannot target {target}; allowed: {allowed}")]
    BadFaultTarget { index: usize, kind: &'static str, target: &'static str, allowed: &'static str },
    #[error("fault #{index} ({kind}) needs a duration greater than zero")]
    FaultNeedsDuration { index: usize, kind: &'static str },
    #[error("fault #{index} ({kind}) targets client:{client}, but there are {clients} clients (0..={})", clients - 1)]
    NoSuchClient { index: usize, kind: &'static str, client: u32, clients: u32 },
    #[error("fault #{index} ({kind}) targets the proxy, and the topology has none")]
    NoProxy { index: usize, kind: &'static str },
    #[error("fault #{index} ({kind}) needs a NAT, and the topology has none")]
    NoNat { index: usize, kind: &'static str },
    #[error("{what} is not supported")]
    Unsupported { what: &'static str },
}

pub(crate) fn positive(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        Err(ConfigError::MustBePositive { field })
    } else {
        Ok(())
    }
}
