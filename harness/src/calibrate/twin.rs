//! Simulated twins that no scenario can express: the harness's client
//! application reacts to EOF at once (it declares and aborts), while the
//! kernel case's client deliberately does not read. Two small applications
//! on the bare engine do exactly what the kernel case's sockets do.

use super::Measured;
use sim::app::{AppEvent, AppIo, Application};
use sim::packet::SegmentKind;
use sim::trace::TraceEvent;
use sim::{Instant, Side, World, WorldConfig};
use std::time::Duration;

/// Does one thing `after` its connection is up: close it on purpose (the
/// server's idle close) or write a 100-byte request (the client, which never
/// reads, so the FIN it got changes nothing for it).
struct After {
    after: Duration,
    close: bool,
    at: Option<Instant>,
}

impl Application for After {
    fn on_event(&mut self, now: Instant, event: AppEvent, _io: &mut AppIo) {
        if event == AppEvent::Connected {
            self.at = Some(now + self.after);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.at
    }
    fn on_timeout(&mut self, _now: Instant, io: &mut AppIo) {
        self.at = None;
        if self.close {
            io.close_on_purpose();
        } else {
            io.write(100, 1);
        }
    }
}

/// The server's application closes the connection 1 s after accepting it;
/// the client writes a request 1.5 s after connecting. The server's kernel
/// answers data for a socket its application closed with RST (Linux
/// TCPAbortOnData); measured: from the write to that RST reaching the client.
pub fn request_after_idle_close() -> Measured {
    let cfg = WorldConfig { horizon: Duration::from_secs(10), trace: true, ..WorldConfig::default() };
    let client = After { after: Duration::from_millis(1500), close: false, at: None };
    let server = After { after: Duration::from_secs(1), close: true, at: None };
    let Ok(mut world) = World::new(cfg, Box::new(client), Box::new(server)) else {
        return Measured { seconds: f64::NAN, outcome: "the twin's world is invalid".into() };
    };
    world.run_until(Instant::from_secs(10));
    let outcome = world.finish();
    let trace = &outcome.trace;
    let write = trace.iter().find(|t| matches!(t.event, TraceEvent::AppWrite { side: Side::Client, .. })).map(|t| t.at);
    let rst = trace.iter().find(|t| {
        write.is_some_and(|w| t.at >= w)
            && matches!(&t.event, TraceEvent::Delivered { side: Side::Client, seg } if seg.kind == SegmentKind::Reset)
    });
    match (write, rst) {
        (Some(w), Some(r)) => Measured { seconds: (r.at - w).as_secs_f64(), outcome: "RST".into() },
        _ => Measured { seconds: f64::NAN, outcome: "no RST".into() },
    }
}
