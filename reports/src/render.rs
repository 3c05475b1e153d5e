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

/// `value [lo, hi]`: a figure with its 95 % interval, each end through
/// `show` (`…` for an end the seeds cannot bound); the figure alone when
/// `ci` is off or it has no interval.
pub fn with_interval(ci: bool, value: String, interval: Option<&[Option<f64>; 2]>, show: impl Fn(f64) -> String) -> String {
    match interval.filter(|_| ci) {
        None => value,
        Some([lo, hi]) => {
            let end = |v: &Option<f64>| v.map_or("…".to_string(), &show);
            format!("{value} [{}, {}]", end(lo), end(hi))
        }
    }
}

fn secs(v: f64) -> String {
    seconds(Some(v))
}

fn one_decimal(v: f64) -> String {
    format!("{v:.1}")
}

fn rows(s: &StrategyReport, ci: bool) -> [String; 9] {
    let c = |name: &str| s.ci95.get(name);
    [
        s.name.clone(),
        s.kind.clone(),
        detected(&s.client),
        with_interval(ci, seconds(s.client.latency_s.p50), c("detection_p50"), secs),
        with_interval(ci, seconds(s.client.latency_s.p99), c("detection_p99"), secs),
        detected(&s.server),
        with_interval(ci, seconds(s.server.latency_s.p99), s.server.ci95.get("detection_p99"), secs),
        fp(s),
        with_interval(ci, format!("{:.1}", s.keepalive_packets_per_hour), c("keepalive_packets_per_hour"), one_decimal),
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
fn session_rows(s: &StrategyReport, ci: bool) -> Option<[String; 9]> {
    let x = s.session.as_ref()?;
    let restore = x.time_to_restore_s.unwrap_or_default();
    let c = |name: &str| s.ci95.get(name);
    Some([
        s.name.clone(),
        x.requests.sent.to_string(),
        with_interval(ci, format!("{:.1}", x.failed_requests_per_1000), c("failed_requests_per_1000"), one_decimal),
        x.requests.hung.to_string(),
        with_interval(ci, seconds(x.requests.latency_s.p99), c("request_p99"), secs),
        with_interval(ci, seconds(restore.p50), c("time_to_restore_p50"), secs),
        with_interval(ci, seconds(restore.p99), c("time_to_restore_p99"), secs),
        with_interval(ci, availability(x.availability), c("availability"), availability),
        with_interval(ci, format!("{:.1}", x.reconnects_per_1000_conn_hours), c("reconnects_per_1000_conn_hours"), one_decimal),
    ])
}

/// The cost block's columns; "idle closes" only where a strategy has them (QUIC).
fn cost_headers(idle_closes: bool) -> Vec<&'static str> {
    let mut h = vec!["strategy", "false positives/1000h", "nat expiries"];
    if idle_closes {
        h.push("idle closes");
    }
    h.push("keepalive B/h");
    h
}

/// What a strategy costs besides its detections: healthy connections it
/// killed per 1000 connection-hours, NAT mappings lost, (QUIC) idle closes,
/// and the bytes its keep-alives put on the wire.
fn cost_row(s: &StrategyReport, idle_closes: bool, ci: bool) -> Vec<String> {
    let c = |name: &str| s.ci95.get(name);
    let mut r = vec![
        s.name.clone(),
        with_interval(ci, format!("{:.2}", s.false_positives_per_1000_conn_hours), c("false_positives_per_1000_conn_hours"), |v| {
            format!("{v:.2}")
        }),
        with_interval(ci, s.nat_expiries.to_string(), c("nat_expiries"), one_decimal),
    ];
    if idle_closes {
        r.push(s.idle_closes.map_or("-".to_string(), |n| n.to_string()));
    }
    r.push(with_interval(ci, format!("{:.1}", s.keepalive_bytes_per_hour), c("keepalive_bytes_per_hour"), one_decimal));
    r
}

fn cost_rows(strategies: &[StrategyReport], ci: bool) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let idle_closes = strategies.iter().any(|s| s.idle_closes.is_some());
    (cost_headers(idle_closes), strategies.iter().map(|s| cost_row(s, idle_closes, ci)).collect())
}

/// Printed once under the tables: what the two easily misread columns count.
pub const LEGEND: &str = "detected: broken connections a side declared dead before the horizon, whether its keepalive
  found out or an error (ECONNRESET, ETIMEDOUT) on its own traffic did.
false positives: declarations on a connection that was not broken (by cause; per 1000 connection-hours below).";

/// Printed under markdown (and `--ci`) tables: what the brackets are.
pub const CI_LEGEND: &str = "[lo, hi]: the 95 % interval of the figure over the seeds (… where the seeds cannot bound it; see the README, \"How sure is a figure?\").";

/// Rows under headers, each column as wide as its widest cell.
pub fn aligned<R: AsRef<[String]>>(out: &mut String, headers: &[&str], all: &[R]) {
    let widths: Vec<usize> =
        (0..headers.len()).map(|i| all.iter().map(|r| r.as_ref()[i].len()).chain([headers[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: &[String]| {
        let mut l = String::from(" ");
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(l, " {:<w$} ", c, w = widths[i]);
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>()));
    for r in all {
        let _ = writeln!(out, "{}", line(r.as_ref()));
    }
}

/// One aligned table per scenario: detections, the session figures for a
/// scenario that measures them, and the costs; the legend once at the end.
pub fn table(report: &Report) -> String {
    table_with(report, false)
}

/// [`table`], each estimated figure followed by its 95 % interval when
/// `ci` (`kasim run --ci`); without it, today's bytes.
pub fn table_with(report: &Report, ci: bool) -> String {
    let mut out = String::new();
    for sc in &report.scenarios {
        let _ = writeln!(out, "{} ({} seeds)", sc.name, sc.seeds);
        let all: Vec<[String; 9]> = sc.strategies.iter().map(|s| rows(s, ci)).collect();
        aligned(&mut out, &HEADERS, &all);
        let sessions: Vec<[String; 9]> = sc.strategies.iter().filter_map(|s| session_rows(s, ci)).collect();
        if !sessions.is_empty() {
            out.push('\n');
            aligned(&mut out, &SESSION_HEADERS, &sessions);
        }
        let (headers, costs) = cost_rows(&sc.strategies, ci);
        out.push('\n');
        aligned(&mut out, &headers, &costs);
        out.push('\n');
    }
    if !report.scenarios.is_empty() {
        if ci {
            let _ = writeln!(out, "{CI_LEGEND}");
        }
        let _ = writeln!(out, "{LEGEND}");
    }
    out
}

/// A markdown table: header, separator, rows (each cell as `md_text` makes it, and a `|` inside escaped).
pub fn markdown_table<R: AsRef<[String]>>(out: &mut String, headers: &[&str], all: &[R]) {
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(headers.len()));
    for r in all {
        let cells: Vec<String> = r.as_ref().iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

/// Text from a scenario file (a name, a description) made inert in
/// markdown: a `<` that would open an HTML tag (`<img onerror=…>`, `</…`,
/// `<!…`) becomes `&lt;`; a `<` before a space or a digit ("< 30 s") is left
/// as written, so prose keeps its bytes.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('<', Some(n)) if n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?') => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell: [`md_text`], and a `|` that would end the cell is escaped.
fn md_cell(s: &str) -> String {
    md_text(s).replace('|', "\\|")
}

/// A description's paragraphs (split at blank lines), each on one line: the
/// file's single line breaks are only wrapping.
pub fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n").map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|p| !p.is_empty()).collect()
}

/// GitHub-flavoured markdown, ready for `$GITHUB_STEP_SUMMARY`.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("# kasim results\n\n");
    for sc in &report.scenarios {
        let _ = writeln!(out, "## {} ({} seeds)\n", md_text(&sc.name), sc.seeds);
        for paragraph in paragraphs(&sc.description) {
            let _ = writeln!(out, "{}\n", md_text(&paragraph));
        }
        let all: Vec<[String; 9]> = sc.strategies.iter().map(|s| rows(s, true)).collect();
        markdown_table(&mut out, &HEADERS, &all);
        let sessions: Vec<[String; 9]> = sc.strategies.iter().filter_map(|s| session_rows(s, true)).collect();
        if !sessions.is_empty() {
            out.push('\n');
            markdown_table(&mut out, &SESSION_HEADERS, &sessions);
        }
        let (headers, costs) = cost_rows(&sc.strategies, true);
        out.push('\n');
        markdown_table(&mut out, &headers, &costs);
        out.push('\n');
    }
    if !report.scenarios.is_empty() {
        let _ = writeln!(out, "_{}_\n", CI_LEGEND);
        let _ = writeln!(out, "_{}_", LEGEND.split_whitespace().collect::<Vec<_>>().join(" "));
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

    /// A strategy named `<img src=x onerror=alert(1)>` or `a|b|c` reached
    /// report.md raw (issue 27 item 6): a tag opener is escaped, a pipe in
    /// a cell too; prose with "< 30 s" keeps its bytes.
    #[test]
    fn markdown_makes_names_inert() {
        assert_eq!(md_cell("<img src=x onerror=alert(1)>"), "&lt;img src=x onerror=alert(1)>");
        assert_eq!(md_cell("a|b|c"), "a\\|b\\|c");
        assert_eq!(md_text("25 ms < 30 s, </b> <!-- x"), "25 ms < 30 s, &lt;/b> &lt;!-- x");
    }

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

    fn strategy(name: &str, fp_rate: f64, nat_expiries: u64, idle_closes: Option<u64>) -> StrategyReport {
        StrategyReport {
            name: name.into(),
            kind: if idle_closes.is_some() { "quic" } else { "tcp_keepalive" }.into(),
            runs: 10,
            connections: 1,
            client: SideReport { detected: 3, undetected: 1, ..Default::default() },
            server: SideReport::default(),
            false_positives_per_1000_conn_hours: fp_rate,
            nat_expiries,
            keepalive_packets_per_hour: 12.0,
            keepalive_bytes_per_hour: 624.0,
            session: None,
            idle_closes,
            ci95: Default::default(),
            per_seed: None,
            engine: None,
            lateness_ms: None,
        }
    }

    fn report(strategies: Vec<StrategyReport>) -> Report {
        let description = "First line of the lesson,\nwrapped in the file.\n\nA second paragraph.".into();
        Report {
            scenarios: vec![crate::model::ScenarioReport {
                name: "s".into(),
                seeds: 10,
                description,
                horizon_s: 3600.0,
                source: None,
                strategies,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn every_table_shows_false_positives_per_1000_hours_and_nat_expiries() {
        let r = report(vec![strategy("a", 4.1666, 7, None)]);
        let text = table(&r);
        // The cost block of a TCP-only scenario has no idle-closes column.
        assert!(
            text.contains(
                "  strategy  false positives/1000h  nat expiries  keepalive B/h\n  a         4.17                   7             624.0\n"
            ),
            "{text}"
        );
        assert!(text.ends_with(&format!("\n{LEGEND}\n")), "{text}");
        let md = markdown(&r);
        assert!(
            md.contains(
                "| strategy | false positives/1000h | nat expiries | keepalive B/h |\n| --- | --- | --- | --- |\n| a | 4.17 | 7 | 624.0 |"
            ),
            "{md}"
        );
        // The whole description, its wrapping undone, paragraphs kept.
        assert!(md.contains("First line of the lesson, wrapped in the file.\n\nA second paragraph.\n"), "{md}");
        // A QUIC strategy brings the idle-closes column; a TCP neighbour shows "-" there.
        let mixed = table(&report(vec![strategy("tcp", 0.0, 0, None), strategy("quic", 0.0, 0, Some(266))]));
        assert!(mixed.contains("  tcp       0.00                   0             -            624.0\n"), "{mixed}");
        assert!(mixed.contains("  quic      0.00                   0             266          624.0\n"), "{mixed}");
    }
}
