//! Text renderings: a terminal table (the figures a person scans first), a
//! markdown table for CI job summaries, and the JSON document.

use crate::model::{Report, SideReport, StrategyReport};
use std::fmt::Write;

/// "7875s", "13m 0s", "2.5s", "-" for none.
pub fn seconds(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(s) if s >= 3600.0 => {
            // Whole minutes (truncated, as before), split after rounding: never "59m60s".
            let m = (s / 60.0) as u64;
            format!("{}h{:02}m", m / 60, m % 60)
        }
        Some(s) if s >= 59.995 => {
            let t = s.round() as u64;
            format!("{}m{:02}s", t / 60, t % 60)
        }
        Some(s) => format!("{s:.2}s"),
    }
}

fn detected(s: &SideReport) -> String {
    format!("{}/{}", s.detected, s.detected + s.undetected)
}

fn fp(s: &StrategyReport) -> String {
    let n = s.client.false_positives + s.server.false_positives;
    if n == 0 {
        return "0".into();
    }
    let mut causes: Vec<(String, u64)> = Vec::new();
    for side in [&s.client, &s.server] {
        for (cause, c) in &side.false_positives_by_cause {
            if *c > 0 {
                match causes.iter_mut().find(|(k, _)| k == cause) {
                    Some(e) => e.1 += c,
                    None => causes.push((cause.clone(), *c)),
                }
            }
        }
    }
    let parts: Vec<String> = causes.iter().map(|(k, c)| format!("{c} {k}")).collect();
    format!("{n} ({})", parts.join(", "))
}

const HEADERS: [&str; 9] = [
    "strategy",
    "kind",
    "client detected",
    "client p50",
    "client p99",
    "server detected",
    "server p99",
    "false positives",
    "keepalive pkt/h",
];

fn rows(s: &StrategyReport) -> [String; 9] {
    [
        s.name.clone(),
        s.kind.clone(),
        detected(&s.client),
        seconds(s.client.latency_s.p50),
        seconds(s.client.latency_s.p99),
        detected(&s.server),
        seconds(s.server.latency_s.p99),
        fp(s),
        format!("{:.1}", s.keepalive_packets_per_hour),
    ]
}

/// Availability as a reader expects it: "99.95 %", with enough decimals to
/// show the nines ("99.9953 %"), "100 %" only when nothing was unavailable.
pub fn availability(a: f64) -> String {
    if a >= 1.0 {
        return "100 %".into();
    }
    let p = a * 100.0;
    let decimals = if p < 99.9 {
        2
    } else if p < 99.99 {
        3
    } else {
        4
    };
    let shown = format!("{p:.decimals$}");
    // Never round a loss up to "100.0000".
    let shown = if shown.starts_with("100") { format!("{:.decimals$}", 100.0 - 10f64.powi(-(decimals as i32))) } else { shown };
    format!("{shown} %")
}

const SESSION_HEADERS: [&str; 9] =
    ["strategy", "requests", "failed/1000", "hung", "request p99", "restore p50", "restore p99", "availability", "reconnects/1000h"];

/// The session figures of a strategy that has them.
fn session_rows(s: &StrategyReport) -> Option<[String; 9]> {
    let x = s.session.as_ref()?;
    let restore = x.time_to_restore_s.unwrap_or_default();
    Some([
        s.name.clone(),
        x.requests.sent.to_string(),
        format!("{:.1}", x.failed_requests_per_1000),
        x.requests.hung.to_string(),
        seconds(x.requests.latency_s.p99),
        seconds(restore.p50),
        seconds(restore.p99),
        availability(x.availability),
        format!("{:.1}", x.reconnects_per_1000_conn_hours),
    ])
}

const UDP_HEADERS: [&str; 4] = ["strategy", "nat expiries", "idle closes", "keepalive B/h"];

/// The figures of a strategy over UDP (QUIC or a datagram tunnel): its NAT
/// survival and what the keep-alives cost; `None` for TCP strategies.
fn udp_rows(s: &StrategyReport) -> Option<[String; 4]> {
    if !matches!(s.kind.as_str(), "quic" | "udp_keepalive") {
        return None;
    }
    Some([
        s.name.clone(),
        s.nat_expiries.to_string(),
        s.idle_closes.map_or("-".to_string(), |n| n.to_string()),
        format!("{:.1}", s.keepalive_bytes_per_hour),
    ])
}

/// Rows under headers, each column as wide as its widest cell.
fn aligned<const N: usize>(out: &mut String, headers: &[&str; N], all: &[[String; N]]) {
    let widths: Vec<usize> = (0..N).map(|i| all.iter().map(|r| r[i].len()).chain([headers[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| {
        let mut l = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(l, " {:<w$} ", c, w = widths[i]);
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&headers.map(String::from)));
    for r in all {
        let _ = writeln!(out, "{}", line(r));
    }
}

/// One aligned table per scenario (and a second with the session figures
/// for a scenario that measures them).
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    for sc in &report.scenarios {
        let _ = writeln!(out, "{} ({} seeds)", sc.name, sc.seeds);
        let all: Vec<[String; 9]> = sc.strategies.iter().map(rows).collect();
        aligned(&mut out, &HEADERS, &all);
        let sessions: Vec<[String; 9]> = sc.strategies.iter().filter_map(session_rows).collect();
        if !sessions.is_empty() {
            out.push('\n');
            aligned(&mut out, &SESSION_HEADERS, &sessions);
        }
        let udp: Vec<[String; 4]> = sc.strategies.iter().filter_map(udp_rows).collect();
        if !udp.is_empty() {
            out.push('\n');
            aligned(&mut out, &UDP_HEADERS, &udp);
        }
        out.push('\n');
    }
    out
}

/// GitHub-flavoured markdown, ready for `$GITHUB_STEP_SUMMARY`.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("# kasim results\n\n");
    for sc in &report.scenarios {
        let _ = writeln!(out, "## {} ({} seeds)\n", sc.name, sc.seeds);
        if !sc.description.is_empty() {
            let _ = writeln!(out, "{}\n", sc.description.lines().next().unwrap_or(""));
        }
        let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(HEADERS.len()));
        for s in &sc.strategies {
            let _ = writeln!(out, "| {} |", rows(s).join(" | "));
        }
        let sessions: Vec<[String; 9]> = sc.strategies.iter().filter_map(session_rows).collect();
        if !sessions.is_empty() {
            let _ = writeln!(out, "\n| {} |", SESSION_HEADERS.join(" | "));
            let _ = writeln!(out, "|{}", " --- |".repeat(SESSION_HEADERS.len()));
            for r in &sessions {
                let _ = writeln!(out, "| {} |", r.join(" | "));
            }
        }
        let udp: Vec<[String; 4]> = sc.strategies.iter().filter_map(udp_rows).collect();
        if !udp.is_empty() {
            let _ = writeln!(out, "\n| {} |", UDP_HEADERS.join(" | "));
            let _ = writeln!(out, "|{}", " --- |".repeat(UDP_HEADERS.len()));
            for r in &udp {
                let _ = writeln!(out, "| {} |", r.join(" | "));
            }
        }
        out.push('\n');
    }
    out
}

/// The contract's JSON document, pretty-printed, with a trailing newline.
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_human() {
        assert_eq!(seconds(Some(7875.0)), "2h11m");
        assert_eq!(seconds(Some(780.0)), "13m00s");
        assert_eq!(seconds(Some(4.44)), "4.44s");
        // Round the total, then split: 779.9999 s is 13 minutes, not "12m60s".
        assert_eq!(seconds(Some(779.9999)), "13m00s");
        assert_eq!(seconds(Some(59.999)), "1m00s");
        assert_eq!(seconds(None), "-");
    }

    #[test]
    fn availability_shows_its_nines() {
        assert_eq!(availability(1.0), "100 %");
        assert_eq!(availability(0.291674), "29.17 %");
        assert_eq!(availability(0.9995), "99.950 %");
        assert_eq!(availability(0.999953), "99.9953 %");
        // 0.9999999 is not 100 %: one unavailable second in four months.
        assert_eq!(availability(0.9999999), "99.9999 %");
    }
}
