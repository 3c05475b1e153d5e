//! Application idle timeouts: a server that closes idle connections (node's
//! keepAliveTimeout 5 s) and a pool's max-idle on the client. Links are
//! 10 ms each way, so the handshake completes at the server at 60 ms (SYN
//! 0 → 20 ms, SYN-ACK → 40 ms, ACK → 60 ms) and every packet takes 20 ms
//! end to end. Application timers are exact.

use crate::common::ms;
use harness::runner;
use harness::scenario::Scenario;
use harness::summary::RunSummary;
use sim::oracle::Verdict;
use sim::packet::Flags;
use sim::trace::TraceEvent;
use sim::Side;

fn scenario(extra: &str) -> Scenario {
    let src = format!(
        r#"
name = "idle"
horizon = "2m"
[client.link]
delay = "10ms"
[server.link]
delay = "10ms"
{extra}
[[strategy]]
name = "none"
kind = "none"
"#
    );
    crate::common::inline(&src)
}

fn requests_at(times: &[&str]) -> String {
    times
        .iter()
        .map(|t| format!("[[traffic]]\nkind = \"requests\"\nfrom = \"client\"\nat = \"{t}\"\nsize = \"200B\"\nreply = \"1KiB\"\n"))
        .collect()
}

/// When `side` sent segments with `flags`, in whole milliseconds (each
/// packet also spends about a microsecond on the 1 Gbit/s links).
fn sent(r: &harness::record::RunRecord, side: Side, flags: Flags) -> Vec<u64> {
    r.outcome
        .trace
        .iter()
        .filter_map(|t| match t.event {
            TraceEvent::Sent { side: s, seg } if s == side && seg.flags.contains(flags) => Some(ms(t.at)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_server_closes_5s_after_accept_and_the_client_sees_an_orderly_end() {
    let s = scenario("[server.app]\nidle_timeout = \"5s\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    // Accepted at 60 ms, nothing read or written: FIN at 5.060 s.
    assert_eq!(sent(&r, Side::Server, Flags::FIN), vec![5060]);
    assert_eq!(r.outcome.slots[0].ended_at().map(ms), Some(5060));
    // The client reads EOF at 5.080 s: an orderly end, not a false positive.
    let d = &r.outcome.declarations[0];
    assert_eq!((d.side, d.cause.as_str(), ms(d.at), d.verdict), (Side::Client, "EOF", 5080, Verdict::OrderlyEnd));
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!(report.client.false_positives + report.server.false_positives + report.client.detected + report.client.undetected, 0);
}

#[test]
fn each_read_or_write_restarts_the_servers_timer() {
    let s = scenario(&format!("[server.app]\nidle_timeout = \"5s\"\n{}", requests_at(&["4.99s"])));
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    // The request arrives at 5.010 s (before the 5.060 s deadline) and is answered
    // at once: the timer restarts there, and the FIN leaves at 10.010 s.
    assert_eq!(sent(&r, Side::Server, Flags::FIN), vec![10_010]);
    assert_eq!(r.outcome.messages_received, [1, 1]);
}

/// The close-versus-reuse race, from the model alone: the client writes a
/// request at 10.005 s, 5 ms before the server's FIN leaves; it reaches the
/// server at 10.025 s, after its application closed the socket, and the
/// server's kernel answers with RST (Linux TCPAbortOnData) at once.
#[test]
fn a_request_racing_the_servers_idle_close_meets_rst() {
    let s = scenario(&format!("[server.app]\nidle_timeout = \"5s\"\n{}", requests_at(&["4.99s", "10.005s"])));
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert_eq!(sent(&r, Side::Server, Flags::FIN), vec![10_010]);
    assert_eq!(sent(&r, Side::Server, Flags::RST), vec![10_025]);
    // The second request was never read, so never answered.
    assert_eq!(r.outcome.messages_received, [1, 1]);
    assert!(r.outcome.declarations.iter().all(|d| d.verdict == Verdict::OrderlyEnd), "{:?}", r.outcome.declarations);
}

/// The fix: a pool max-idle (4 s) shorter than the server's (5 s). A request
/// at 3 s is answered at 3.020 s (the server's timer restarts: 8.020 s) and
/// its reply arrives at 3.040 s; with no request outstanding, the pool closes
/// the connection 4 s later, at 7.040 s, before the server would have.
#[test]
fn a_pool_max_idle_below_the_servers_closes_first() {
    let s = scenario(&format!("[server.app]\nidle_timeout = \"5s\"\n[client.app]\nidle_timeout = \"4s\"\n{}", requests_at(&["3s"])));
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert_eq!(sent(&r, Side::Client, Flags::FIN), vec![7_040]);
    assert_eq!(r.outcome.slots[0].ended_at().map(ms), Some(7_040));
    // The server reads EOF at 7.060 s, before its own timer (8.020 s): orderly.
    let d = &r.outcome.declarations[0];
    assert_eq!((d.side, d.cause.as_str(), ms(d.at), d.verdict), (Side::Server, "EOF", 7_060, Verdict::OrderlyEnd));
    assert!(sent(&r, Side::Server, Flags::FIN).is_empty());
    // A request outstanding holds the connection: with the request at 3.999 s
    // (4 s after the connection at 0.040 s would have expired the pool's timer
    // at 4.040 s) the close moves to 4 s after its reply, 4.039 + 4 = 8.039 s.
    let s = scenario(&format!("[client.app]\nidle_timeout = \"4s\"\n{}", requests_at(&["3.999s"])));
    let r = runner::run_one(&s, &s.strategies[0], 0, true);
    assert_eq!(sent(&r, Side::Client, Flags::FIN), vec![8_039]);
}

#[test]
fn a_fault_after_an_orderly_end_breaks_nothing() {
    let s = scenario("[server.app]\nidle_timeout = \"5s\"\n[[fault]]\nkind = \"vanish\"\ntarget = \"server\"\nat = \"30s\"");
    let r = runner::run_one(&s, &s.strategies[0], 0, false);
    assert_eq!(r.outcome.slots[0].broken(), None);
    let report = runner::aggregate(&s.strategies[0], s.horizon, &[RunSummary::of(&r)]);
    assert_eq!((report.client.detected, report.client.undetected, report.server.undetected), (0, 0, 0));
}
