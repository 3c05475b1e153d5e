//! The names a scenario file gives an enum's values (`kind = "vanish"`,
//! `on_expired = "new_port"`, ...), written once per enum: parsing, the
//! "allowed:" part of an error and the JSON Schema all read [`Named::ALL`]
//! and [`Named::name`], so they cannot disagree.

use schemars::{json_schema, Schema};

/// An enum a scenario file names by string.
pub(crate) trait Named: Copy + 'static {
    /// Every value, in the order errors and the schema list them.
    const ALL: &'static [Self];
    /// Its name in a scenario file.
    fn name(self) -> &'static str;
}

/// The value named `name`.
pub(crate) fn named<T: Named>(name: &str) -> Option<T> {
    T::ALL.iter().copied().find(|v| v.name() == name)
}

/// Every name, quoted, for an error's "allowed:" (`"drop", "rst"`).
pub(crate) fn allowed<T: Named>() -> String {
    T::ALL.iter().map(|v| format!("\"{}\"", v.name())).collect::<Vec<_>>().join(", ")
}

/// The JSON Schema of the key: one of the names.
pub(crate) fn schema<T: Named>() -> Schema {
    let names: Vec<&str> = T::ALL.iter().map(|v| v.name()).collect();
    json_schema!({ "enum": names })
}

impl Named for super::TrafficKind {
    const ALL: &'static [Self] = &[Self::Requests, Self::Upload, Self::Download];
    fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }
}

impl Named for super::FaultKind {
    const ALL: &'static [Self] = &[Self::Vanish, Self::Reboot, Self::Suspend, Self::Outage, Self::NatReboot, Self::Crash];
    fn name(self) -> &'static str {
        super::FaultKind::name(self)
    }
}

impl Named for super::ReconnectMode {
    const ALL: &'static [Self] = &[Self::Off, Self::Eager, Self::Lazy];
    fn name(self) -> &'static str {
        super::ReconnectMode::name(self)
    }
}

impl Named for sim::nat::OnExpired {
    const ALL: &'static [Self] = &sim::nat::OnExpired::ALL;
    fn name(self) -> &'static str {
        sim::nat::OnExpired::name(self)
    }
}

impl Named for sim::proxy_config::OnIdle {
    const ALL: &'static [Self] = &sim::proxy_config::OnIdle::ALL;
    fn name(self) -> &'static str {
        sim::proxy_config::OnIdle::name(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{FaultKind, ReconnectMode, TrafficKind};
    use sim::nat::OnExpired;
    use sim::proxy_config::OnIdle;

    fn round_trip<T: Named + PartialEq + std::fmt::Debug>() {
        for &v in T::ALL {
            assert_eq!(named::<T>(v.name()), Some(v));
        }
        assert_eq!(named::<T>("no such name"), None);
    }

    #[test]
    fn every_name_reads_back_as_its_value() {
        round_trip::<TrafficKind>();
        round_trip::<FaultKind>();
        round_trip::<ReconnectMode>();
        round_trip::<OnExpired>();
        round_trip::<OnIdle>();
        // Every value listed, in the order v1 and v2 printed in errors.
        assert_eq!(allowed::<OnExpired>(), r#""drop", "rst", "new_port", "loose""#);
        assert_eq!(allowed::<FaultKind>(), r#""vanish", "reboot", "suspend", "outage", "nat_reboot", "crash""#);
        assert_eq!(allowed::<TrafficKind>(), r#""requests", "upload", "download""#);
        assert_eq!(allowed::<ReconnectMode>(), r#""off", "eager", "lazy""#);
        assert_eq!(allowed::<OnIdle>(), r#""fin", "rst", "silent""#);
    }
}
