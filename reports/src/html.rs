//! `index.html`: one self-contained page (inline CSS and SVG, no fetches) per
//! run. Per scenario: the comparison table; the CDF of detection latency per
//! strategy; detection latency (p99) against false positives per 1000
//! connection-hours, one point per strategy, so the trade-off frontier shows;
//! and a timeline picture of one representative run per strategy.
//!
//! Plots are SVG drawn by plotters' SVG backend, which writes text as
//! `<text>` elements: no system fonts are needed to make them.

use crate::model::{Report, ScenarioReport};
use crate::plot::{
    cdf_svg, color, fleet_svg, mark_color, restore_cdf_svg, timeline_svg, tradeoff_svg, tune_svg, worst_p99, DrawResult, MARK_KINDS,
};
use crate::plot_input::{ScenarioPlots, StrategyPlots, TunePoint};
use crate::render::{availability, seconds, with_interval};

fn secs(v: f64) -> String {
    seconds(Some(v))
}
use plotters::style::RGBColor;
use std::fmt::Write;

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn table(sc: &ScenarioReport) -> String {
    let mut t = String::from(
        "<table class=\"comparison\"><thead><tr><th>strategy</th><th>kind</th><th>client detected</th><th>client p50</th>\
         <th>client p99</th><th>server detected</th><th>server p99</th><th>false positives</th><th>FP / 1000 h</th>\
         <th>NAT expiries</th><th>keepalive pkt/h</th></tr></thead><tbody>",
    );
    for s in &sc.strategies {
        let fp = s.client.false_positives + s.server.false_positives;
        let c = |name: &str| s.ci95.get(name);
        let _ = write!(
            t,
            "<tr data-strategy=\"{}\"><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.name),
            esc(&s.kind),
            s.client.detected,
            s.client.detected + s.client.undetected,
            with_interval(true, seconds(s.client.latency_s.p50), c("detection_p50"), secs),
            with_interval(true, seconds(s.client.latency_s.p99), c("detection_p99"), secs),
            s.server.detected,
            s.server.detected + s.server.undetected,
            with_interval(true, seconds(s.server.latency_s.p99), s.server.ci95.get("detection_p99"), secs),
            if fp > 0 { "bad" } else { "" },
            fp,
            with_interval(true, s.false_positives_per_1000_conn_hours.to_string(), c("false_positives_per_1000_conn_hours"), |v| v.to_string()),
            with_interval(true, s.nat_expiries.to_string(), c("nat_expiries"), |v| format!("{v:.1}")),
            with_interval(true, format!("{:.1}", s.keepalive_packets_per_hour), c("keepalive_packets_per_hour"), |v| format!("{v:.1}"))
        );
    }
    t.push_str("</tbody></table>");
    t
}

/// The session figures: what the users felt.
fn session_table(sc: &ScenarioReport) -> String {
    let mut t = String::from(
        "<table class=\"sessions\"><thead><tr><th>strategy</th><th>requests</th><th>failed / 1000</th><th>hung</th>\
         <th>request p99</th><th>restore p50</th><th>restore p99</th><th>unrestored</th><th>availability</th>\
         <th>reconnects / 1000 h</th></tr></thead><tbody>",
    );
    for s in &sc.strategies {
        let Some(x) = &s.session else { continue };
        let restore = x.time_to_restore_s.unwrap_or_default();
        let c = |name: &str| s.ci95.get(name);
        let one = |v: f64| format!("{v:.1}");
        let _ = write!(
            t,
            "<tr data-strategy=\"{}\"><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.name),
            x.requests.sent,
            if x.requests.failed > 0 { "bad" } else { "" },
            with_interval(true, one(x.failed_requests_per_1000), c("failed_requests_per_1000"), one),
            x.requests.hung,
            with_interval(true, seconds(x.requests.latency_s.p99), c("request_p99"), secs),
            with_interval(true, seconds(restore.p50), c("time_to_restore_p50"), secs),
            with_interval(true, seconds(restore.p99), c("time_to_restore_p99"), secs),
            x.unrestored,
            with_interval(true, availability(x.availability), c("availability"), availability),
            with_interval(true, one(x.reconnects_per_1000_conn_hours), c("reconnects_per_1000_conn_hours"), one)
        );
    }
    t.push_str("</tbody></table>");
    t
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
h1{margin-bottom:0}nav a{margin-right:1em}section{border-top:2px solid #ddd;margin-top:2em;padding-top:1em}\
p.description{white-space:pre-wrap;color:#444}table{border-collapse:collapse;font-size:14px;margin:1em 0}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child,td:nth-child(2){text-align:left}\
td.bad{color:#c00;font-weight:bold}figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}\
.timelines figure{margin:.3em 0}.legend span{margin-right:1em}";

/// A legend entry: `mark` in colour `c`, then the name.
fn swatch(c: RGBColor, mark: &str, name: &str) -> String {
    format!("<span><b style=\"color:rgb({},{},{})\">{mark}</b> {}</span>", c.0, c.1, c.2, esc(name))
}

/// A captioned picture (or why it could not be drawn) with `after` below it.
fn figure(class: &str, caption: &str, svg: DrawResult<String>, after: &str) -> String {
    match svg {
        Ok(svg) => format!("<figure class=\"plot {class}\"><figcaption>{caption}</figcaption>{svg}{after}</figure>"),
        Err(e) => format!(
            "<figure class=\"plot {class}\"><figcaption>{caption}</figcaption><p>could not draw: {}</p></figure>",
            esc(&e.to_string())
        ),
    }
}

/// The whole page.
pub fn page(report: &Report, plots: &[ScenarioPlots]) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kasim report</title>");
    let _ = write!(out, "<style>{STYLE}</style></head><body><h1>kasim report</h1><nav>");
    for sc in &report.scenarios {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", esc(&sc.name), esc(&sc.name));
    }
    out.push_str("</nav>");
    let legend: String = MARK_KINDS.iter().map(|k| swatch(mark_color(*k), "&#9679;", k.name())).collect();
    for (sc, p) in report.scenarios.iter().zip(plots) {
        let _ = write!(
            out,
            "<section class=\"scenario\" id=\"{}\"><h2>{}</h2><p class=\"description\">{}</p><p>{} seeds per strategy, {} simulated per run.</p>",
            esc(&sc.name),
            esc(&sc.name),
            esc(&sc.description),
            sc.seeds,
            seconds(Some(sc.horizon_s))
        );
        out.push_str(&table(sc));
        if sc.strategies.iter().any(|s| s.session.is_some()) {
            out.push_str(&session_table(sc));
        }
        let names: Vec<&str> = sc.strategies.iter().map(|s| s.name.as_str()).collect();
        // A line per strategy with samples; its name in the legend under the picture.
        let lines_legend = |has: &dyn Fn(&StrategyPlots) -> bool| -> String {
            let spans: String =
                p.strategies.iter().enumerate().filter(|(_, sp)| has(sp)).map(|(i, _)| swatch(color(i), "&#9644;", names[i])).collect();
            format!("<p class=\"legend\">{spans}</p>")
        };
        out.push_str(&figure(
            "cdf",
            "Detection latency, cumulative (runs where the connection broke and was detected)",
            cdf_svg(&p.strategies),
            &lines_legend(&|sp| !sp.latencies_s.is_empty()),
        ));
        let numbered: String = sc
            .strategies
            .iter()
            .enumerate()
            .filter(|(_, s)| worst_p99(s).is_some())
            .map(|(i, s)| {
                // Sessions: what the choice costs the users, beside the name.
                let name = match &s.session {
                    Some(x) => format!("{} ({} available)", s.name, crate::render::availability(x.availability)),
                    None => s.name.clone(),
                };
                swatch(color(i), &format!("&#9679; {}", i + 1), &name)
            })
            .collect();
        out.push_str(&figure(
            "tradeoff",
            "Trade-off: p99 detection latency against false positives per 1000 connection-hours (strategies that detected something)",
            tradeoff_svg(&sc.strategies),
            &format!("<p class=\"legend\">{numbered}</p>"),
        ));
        if p.strategies.iter().any(|s| !s.restore_s.is_empty()) {
            out.push_str(&figure(
                "restore",
                "Time to restore, cumulative (unavailable periods that ended before the horizon)",
                restore_cdf_svg(&p.strategies),
                &lines_legend(&|sp| !sp.restore_s.is_empty()),
            ));
        }
        let _ = write!(out, "<div class=\"timelines\"><h3>One run per strategy</h3><p class=\"legend\">{legend}</p>");
        for (name, sp) in names.iter().zip(&p.strategies) {
            let caption = if sp.why.is_empty() {
                format!("{} (seed {})", esc(name), sp.timeline.seed)
            } else {
                format!("{} (seed {}): {}. <code>{}</code>", esc(name), sp.timeline.seed, esc(&sp.why), esc(&sp.replay))
            };
            if let Some(fleet) = &sp.timeline.fleet {
                let caption = format!(
                    "{} (seed {}): all {} connections, per {} (black: connections that broke; green: detections; red: false positives; declarations of either side)",
                    esc(name),
                    sp.timeline.seed,
                    fleet.connections,
                    crate::plot::tick(fleet.bin_s)
                );
                out.push_str(&figure("fleet", &caption, fleet_svg(fleet, sp.timeline.horizon_s), ""));
            }
            out.push_str(&figure("timeline", &caption, timeline_svg(&sp.timeline), ""));
        }
        out.push_str("</div></section>");
    }
    out.push_str("</body></html>\n");
    out
}

/// The page `kasim tune --out DIR` writes: the explanation, the plot, the table (markdown as text).
pub fn tune_page(title: &str, explanation: &str, points: &[TunePoint], table_markdown: &str) -> String {
    let plot = match tune_svg(points) {
        Ok(svg) => svg,
        Err(e) => format!("<p>could not draw: {}</p>", esc(&e.to_string())),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\
         <h1>{t}</h1><p class=\"recommended\"><b>Recommended</b>: {e}</p>\
         <figure class=\"plot tune\"><figcaption>Keepalive cost against client p99 detection latency: grey infeasible, \
         blue feasible, ringed on the Pareto frontier (latency, false positives, packets), triangle the recommendation</figcaption>{plot}</figure>\
         <pre class=\"table\">{table}</pre></body></html>\n",
        t = esc(title),
        e = esc(explanation),
        table = esc(table_markdown)
    )
}
