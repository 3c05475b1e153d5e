//! The server application's listen queue (`[server.app] backlog`,
//! `accept_time`) and a process that restarts (`crash` with a duration).

use crate::common::ms;
use harness::runner;
use harness::scenario::parse;
use sim::trace::{DropReason, TraceEvent};
use std::path::Path;

/// Four clients connect at once to a server whose application accepts one
/// connection a second and whose queue holds one (`backlog = 0`: Linux's
/// queue is full when it holds more than the backlog). Links 1 ms each way,
/// exact timers.
#[test]
fn a_full_listen_queue_drops_handshakes_until_the_application_catches_up() {
    let s = parse(
        Path::new("backlog.toml"),
        r#"
name = "backlog"
horizon = "30s"
[client]
count = 4
[client.link]
delay = "1ms"
[server.link]
delay = "1ms"
[server.app]
backlog = 0
accept_time = "1s"
[tcp]
timers = "exact"
[[strategy]]
name = "none"
kind = "none"
"#,
    )
    .unwrap();
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    let accepted: Vec<(u64, u64)> = r
        .outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::Accepted { waited } => Some((ms(t.at), (waited.as_micros() as u64 + 500) / 1000)),
            _ => None,
        })
        .collect();
    let dropped: Vec<u64> = r
        .outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::Dropped { reason: DropReason::ListenOverflow, .. } => Some(ms(t.at)),
            _ => None,
        })
        .collect();
    // The four handshakes complete at 6 ms (SYN 2 ms, SYN-ACK 4 ms, ACK 6 ms;
    // the ACKs a few hundred ns apart on the server's link; waits rounded to
    // the millisecond). The first is
    // accepted at once and the app is busy until 1.006 s; the second waits
    // in the queue; the third and fourth ACKs find it full and are dropped.
    // Their server ends resend the SYN-ACK after the initial RTO (1.002 s):
    // the ACKs come back at 1.006 s, when the second was just accepted, so
    // the third takes the free place (accepted at 2.006 s) and the fourth is
    // dropped again; its next SYN-ACK (2 s later, 3.002 s) completes at
    // 3.006 s, when the app is free: accepted at once.
    assert_eq!(accepted, [(6, 0), (1_006, 1_000), (2_006, 1_000), (3_006, 0)]);
    assert_eq!(dropped, [6, 6, 1_006]);
}

/// A server process crashes and its supervisor restarts it 5 s later: every
/// client sees the FIN of the crash, reconnects at once and is refused
/// (nothing listens), backs off, and gets in after the restart.
#[test]
fn a_restarted_server_listens_again() {
    let s = parse(
        Path::new("restart.toml"),
        r#"
name = "restart"
horizon = "1m"
[client.link]
delay = "1ms"
[server.link]
delay = "1ms"
[client.reconnect]
mode = "eager"
initial_backoff = "1s"
multiplier = 2.0
[[fault]]
kind = "crash"
target = "server"
at = "10s"
duration = "5s"
[[strategy]]
name = "none"
kind = "none"
"#,
    )
    .unwrap();
    let r = runner::run_one(&s, &s.strategies[0], 0, false);
    let opened: Vec<u64> = r.outcome.slots[0].connections.iter().map(|c| ms(c.opened_at)).collect();
    // The crash's FIN reaches the client at 10.002 s: EOF, reconnect at once;
    // the SYN meets a closed port (RST, ECONNREFUSED at 10.006 s); attempts
    // then start 1, 2, 4 s after each refusal: 11.006 (refused 11.010),
    // 13.010 (refused 13.014), 17.014 — after the restart at 15 s: accepted,
    // established one round trip later.
    assert_eq!(opened, [0, 10_002, 11_006, 13_010, 17_014]);
    let last = r.outcome.slots[0].connections.last().unwrap();
    assert_eq!(last.established_at.map(ms), Some(17_018));
}
