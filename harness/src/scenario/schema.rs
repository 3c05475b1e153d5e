//! The JSON Schema of the scenario format (for editors; `kasim schema`).

use super::names;
use super::Metric;
use schemars::{json_schema, Schema, SchemaGenerator};

pub(crate) const DURATION_PATTERN: &str = r"^\s*[0-9][0-9a-zA-Z. ]*$";
const TIME_PATTERN: &str = r"^\s*([0-9][0-9a-zA-Z. ]*|exp\(.+\)|uniform\(.+,.+\))\s*$";

pub(crate) fn duration_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": DURATION_PATTERN, "examples": ["250ms", "75s", "20m", "2h", "3d"] })
}
pub(crate) fn opt_duration_schema(g: &mut SchemaGenerator) -> Schema {
    duration_schema(g)
}
pub(crate) fn time_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": TIME_PATTERN, "examples": ["26h", "exp(6h)", "uniform(30h, 60h)"] })
}
pub(crate) fn opt_time_schema(g: &mut SchemaGenerator) -> Schema {
    time_schema(g)
}
pub(crate) fn size_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": r"^\s*[0-9.]+\s*(B|KB|kB|MB|GB|KiB|MiB|GiB)\s*$", "examples": ["200B", "64KiB", "5MB"] })
}
pub(crate) fn opt_size_schema(g: &mut SchemaGenerator) -> Schema {
    size_schema(g)
}
pub(crate) fn opt_rate_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": r"^\s*[0-9.]+\s*(bit/s|kbit/s|Mbit/s|Gbit/s|bps|kbps|Mbps|Gbps)\s*$", "examples": ["56kbit/s", "1Mbit/s"] })
}
pub(crate) fn on_expired_schema(_: &mut SchemaGenerator) -> Schema {
    names::schema::<sim::nat::OnExpired>()
}
pub(crate) fn nat_preset_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = super::presets::NAT_PRESETS.iter().map(|p| p.name).collect();
    json_schema!({ "enum": names })
}
pub(crate) fn proxy_preset_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = super::presets::PROXY_PRESETS.iter().map(|p| p.name).collect();
    json_schema!({ "enum": names })
}
pub(crate) fn middlebox_preset_schema(_: &mut SchemaGenerator) -> Schema {
    let nats = super::presets::NAT_PRESETS.iter().map(|p| p.name);
    let names: Vec<&str> = nats.chain(super::presets::PROXY_PRESETS.iter().map(|p| p.name)).collect();
    json_schema!({ "enum": names })
}
pub(crate) fn middlebox_kind_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["nat", "proxy"] })
}
pub(crate) fn os_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = sim::tcp::Os::ALL.iter().map(|o| o.name()).collect();
    json_schema!({ "enum": names })
}
pub(crate) fn on_idle_schema(_: &mut SchemaGenerator) -> Schema {
    names::schema::<sim::proxy_config::OnIdle>()
}
pub(crate) fn reconnect_mode_schema(_: &mut SchemaGenerator) -> Schema {
    names::schema::<super::ReconnectMode>()
}
pub(crate) fn timers_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["linux", "exact"] })
}
pub(crate) fn traffic_kind_schema(_: &mut SchemaGenerator) -> Schema {
    names::schema::<super::TrafficKind>()
}
pub(crate) fn opt_side_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "enum": ["client", "server"] })
}
pub(crate) fn fault_kind_schema(_: &mut SchemaGenerator) -> Schema {
    names::schema::<super::FaultKind>()
}
pub(crate) fn fault_target_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": r"^(client(:[0-9]+)?(\.link)?|server(\.link)?|nat|proxy|middlebox:[0-9]+)$", "examples": ["client", "client:3.link", "server", "server.link", "nat", "proxy", "middlebox:1"] })
}
pub(crate) fn metric_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Metric::ALL.iter().map(|(n, _)| *n).collect();
    json_schema!({ "enum": names })
}
pub(crate) fn bound_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["number", "string"], "description": "a number, or a duration (compared in seconds)" })
}

/// The JSON Schema of the scenario format.
pub fn json_schema() -> Schema {
    schemars::schema_for!(super::raw::RawScenario)
}
