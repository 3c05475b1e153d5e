//! What a live run shows of itself. turmoil's TCP has no packet trace to
//! hook, but turmoil and the user's tokio code both speak `tracing`: while a
//! live run steps, a thread-local subscriber with this layer listens, stamps
//! each event with turmoil's simulated time, and keeps
//!
//! * the user's log lines (and turmoil's INFO ones), with the host they ran
//!   on (turmoil enters a `node` span named after the host), as trace
//!   records for the run's timeline;
//! * every message turmoil puts on a link (its TRACE event "Send"), counted
//!   per host and kind as wire statistics. turmoil's streams carry SYN, data,
//!   FIN and RST messages, no ACKs and no headers (the accept answers the SYN
//!   on a channel, off the network): a message counts as 40 bytes (IPv4 + TCP
//!   headers) plus its payload.
//!
//! Events are filtered by callsite, so turmoil's per-tick "step" line (and
//! anything else not kept) is never even formatted.

use sim::packet::SegmentKind;
use sim::trace::{TraceEvent, TraceRecord};
use sim::world::WireStats;
use sim::{Instant, Side};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// turmoil's tracing target.
const TURMOIL: &str = "turmoil";

/// Bytes of IPv4 and TCP headers counted per message.
const HEADERS: u64 = 40;

/// What one live run showed.
#[derive(Debug, Default)]
pub struct Captured {
    /// Log lines, in the order they happened (kept only when asked for).
    pub records: Vec<TraceRecord>,
    /// Messages sent by the client (0) and the server (1).
    pub stats: [WireStats; 2],
    /// Data messages (with a payload) sent by each side, and their payload bytes.
    pub data_messages: [u64; 2],
    pub data_bytes: [u64; 2],
}

/// The simulated time at the start of the step being run, for events turmoil
/// logs where it cannot tell the time itself.
#[derive(Clone, Default)]
pub struct StepClock(Arc<AtomicU64>);

impl StepClock {
    pub fn set(&self, elapsed: Duration) {
        self.0.store(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Run `f` (the stepping of a turmoil simulation, which keeps the clock at
/// each step's start) with the capture listening on this thread; `logs`:
/// keep log lines too, not only the statistics.
pub fn capture<T>(logs: bool, f: impl FnOnce(&StepClock) -> T) -> (T, Captured) {
    let out = Arc::new(Mutex::new(Captured::default()));
    let clock = StepClock::default();
    let subscriber = tracing_subscriber::registry().with(CaptureLayer { out: out.clone(), logs, clock: clock.clone() });
    let value = tracing::subscriber::with_default(subscriber, || f(&clock));
    let captured = std::mem::take(&mut *out.lock().unwrap_or_else(|e| e.into_inner()));
    (value, captured)
}

struct CaptureLayer {
    out: Arc<Mutex<Captured>>,
    logs: bool,
    clock: StepClock,
}

/// The host a `node` span runs, stored in the span.
struct Host(Side);

impl CaptureLayer {
    fn wants(&self, meta: &Metadata<'_>) -> bool {
        if meta.is_span() {
            return meta.name() == "node";
        }
        if meta.target().starts_with(TURMOIL) {
            // Its messages (fields src, dst, protocol), and its INFO lines when logs are kept.
            return meta.fields().field("protocol").is_some() || (self.logs && *meta.level() <= Level::INFO);
        }
        self.logs && *meta.level() <= Level::DEBUG
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CaptureLayer {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.wants(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.wants(meta)
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let side = match fields.get("name") {
            Some("client") => Side::Client,
            Some("server") => Side::Server,
            _ => return,
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Host(side));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Inside a host turmoil knows the time; its own link code (where it
        // logs "Send") runs with the world borrowed: then the step's start.
        let elapsed = turmoil::sim_elapsed().unwrap_or_else(|| Duration::from_nanos(self.clock.0.load(Ordering::Relaxed)));
        let side = ctx.event_scope(event).and_then(|scope| scope.from_root().find_map(|s| s.extensions().get::<Host>().map(|h| h.0)));
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if meta.fields().field("protocol").is_some() {
            if let (Some("Send"), Some(side), Some(protocol)) = (fields.get("message"), side, fields.get("protocol")) {
                if let Some((kind, payload)) = classify(protocol) {
                    let stats = &mut out.stats[side.index()];
                    stats.packets[kind as usize] += 1;
                    stats.bytes[kind as usize] += HEADERS + payload;
                    if payload > 0 {
                        out.data_messages[side.index()] += 1;
                        out.data_bytes[side.index()] += payload;
                    }
                }
            }
            return;
        }
        let message = fields.rest();
        let record = TraceEvent::Log { side, level: *meta.level(), target: meta.target().to_string(), message };
        out.records.push(TraceRecord { at: Instant::ZERO + elapsed, event: record, conn: None });
    }
}

/// A turmoil message as it prints it: "TCP SYN", "TCP FIN", "TCP RST",
/// "TCP [0X0, 0X1, …]" (data, one entry per byte), "UDP [...]". The
/// listener's "TCP SYN-ACK" line logs the answer it gives the connecting
/// side on a channel, not on the link, so it is no message and not counted.
fn classify(protocol: &str) -> Option<(SegmentKind, u64)> {
    let payload = |list: &str| list.trim_start_matches('[').trim_end_matches(']').split(", ").filter(|b| !b.is_empty()).count() as u64;
    match protocol {
        "TCP SYN" => Some((SegmentKind::Handshake, 0)),
        "TCP FIN" => Some((SegmentKind::Data, 0)),
        "TCP RST" => Some((SegmentKind::Reset, 0)),
        "TCP SYN-ACK" => None,
        p => p.strip_prefix("TCP ").map(|data| (SegmentKind::Data, payload(data))),
    }
}

/// An event's or span's fields as text.
#[derive(Default)]
struct Fields(Vec<(&'static str, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
    /// The message, then the other fields as `key=value`.
    fn rest(&self) -> String {
        let mut text = self.get("message").unwrap_or_default().to_string();
        for (k, v) in self.0.iter().filter(|(k, _)| *k != "message") {
            text.push_str(&format!(" {k}={v}"));
        }
        text
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turmoil_messages_are_classified_with_their_payload() {
        assert_eq!(classify("TCP SYN"), Some((SegmentKind::Handshake, 0)));
        assert_eq!(classify("TCP SYN-ACK"), None);
        assert_eq!(classify("TCP [0X0, 0X0, 0X0, 0X0, 0X0, 0X0, 0X0, 0X1]"), Some((SegmentKind::Data, 8)));
        assert_eq!(classify("TCP RST"), Some((SegmentKind::Reset, 0)));
        assert_eq!(classify("TCP FIN"), Some((SegmentKind::Data, 0)));
    }
}
