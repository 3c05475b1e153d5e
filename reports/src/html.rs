//! `index.html`: one self-contained page (inline CSS and SVG, no fetches) per
//! run. Per scenario: the comparison table; the CDF of detection latency per
//! strategy; detection latency (p99) against false positives per 1000
//! connection-hours, one point per strategy, so the trade-off frontier shows;
//! and a timeline picture of one representative run per strategy.
//!
//! Plots are SVG drawn by plotters' SVG backend, which writes text as
//! `<text>` elements: no system fonts are needed to make them.

use crate::model::{Report, ScenarioReport, StrategyReport};
use crate::render::seconds;
use plotters::prelude::*;
use std::fmt::Write;

/// What a timeline mark is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// A fault started (vanish, reboot, suspend, outage, …).
    Fault,
    /// The connection broke (ground truth).
    Broken,
    /// A NAT mapping expired.
    NatExpiry,
    /// A correct death declaration.
    Detection,
    /// A false positive.
    FalsePositive,
    /// The peer's decision reaching this side (ECONNRESET/EOF after it declared): not counted.
    PeerClosed,
}

impl MarkKind {
    fn color(self) -> RGBColor {
        match self {
            MarkKind::Fault => RGBColor(120, 120, 120),
            MarkKind::Broken => RGBColor(0, 0, 0),
            MarkKind::NatExpiry => RGBColor(230, 150, 0),
            MarkKind::Detection => RGBColor(30, 140, 60),
            MarkKind::FalsePositive => RGBColor(210, 30, 30),
            MarkKind::PeerClosed => RGBColor(110, 140, 180),
        }
    }
    fn name(self) -> &'static str {
        match self {
            MarkKind::Fault => "fault",
            MarkKind::Broken => "broken",
            MarkKind::NatExpiry => "NAT expiry",
            MarkKind::Detection => "detected",
            MarkKind::FalsePositive => "false positive",
            MarkKind::PeerClosed => "closed by the peer's decision",
        }
    }
}

/// Which row of the timeline a mark goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    Client,
    Network,
    Server,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub at_s: f64,
    pub row: Row,
    pub kind: MarkKind,
    pub label: String,
}

/// One run, drawn.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RunTimeline {
    pub seed: u64,
    pub horizon_s: f64,
    pub marks: Vec<Mark>,
}

/// What the plots need beyond the report's figures.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StrategyPlots {
    /// Every detection latency (both sides), seconds.
    pub latencies_s: Vec<f64>,
    /// Sessions: the length of every restored unavailable period, seconds.
    pub restore_s: Vec<f64>,
    pub timeline: RunTimeline,
    /// Why this run was drawn ("the first false positive", "the median detection, 33.6 s").
    pub why: String,
    /// The command that replays it.
    pub replay: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ScenarioPlots {
    /// In the order of the report's strategies.
    pub strategies: Vec<StrategyPlots>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const W: u32 = 720;

fn color(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    P[i % P.len()]
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// CDF of detection latency, one line per strategy with detections.
pub fn cdf_svg(names: &[&str], plots: &[StrategyPlots]) -> DrawResult<String> {
    let series: Vec<&[f64]> = plots.iter().map(|p| p.latencies_s.as_slice()).collect();
    samples_cdf_svg(names, &series, ("detection latency (s)", "fraction of detections"))
}

/// CDF of time to restore (sessions), one line per strategy with restored periods.
pub fn restore_cdf_svg(names: &[&str], plots: &[StrategyPlots]) -> DrawResult<String> {
    let series: Vec<&[f64]> = plots.iter().map(|p| p.restore_s.as_slice()).collect();
    samples_cdf_svg(names, &series, ("time to restore (s)", "fraction of unavailable periods"))
}

/// An empirical CDF per series (empty series are left out), axes `(x, y)`.
fn samples_cdf_svg(names: &[&str], series: &[&[f64]], (x_desc, y_desc): (&str, &str)) -> DrawResult<String> {
    let mut svg = String::new();
    let xmax = series.iter().flat_map(|p| p.iter().copied()).fold(0.0f64, f64::max).max(1.0) * 1.05;
    {
        let root = SVGBackend::with_string(&mut svg, (W, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart =
            ChartBuilder::on(&root).margin(12).x_label_area_size(36).y_label_area_size(48).build_cartesian_2d(0f64..xmax, 0f64..1.0f64)?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
        for (i, (name, p)) in names.iter().zip(series).enumerate() {
            if p.is_empty() {
                continue;
            }
            let mut xs = p.to_vec();
            xs.sort_by(f64::total_cmp);
            let n = xs.len() as f64;
            let mut pts = vec![(0.0, 0.0)];
            for (k, x) in xs.iter().enumerate() {
                pts.push((*x, k as f64 / n));
                pts.push((*x, (k + 1) as f64 / n));
            }
            pts.push((xmax, 1.0));
            let c = color(i);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// p99 detection latency against false positives per 1000 connection-hours.
pub fn tradeoff_svg(strategies: &[StrategyReport]) -> DrawResult<String> {
    let pts: Vec<(usize, f64, f64)> = strategies
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let p99 = [s.client.latency_s.p99, s.server.latency_s.p99]
                .into_iter()
                .flatten()
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
            Some((i, s.false_positives_per_1000_conn_hours, p99))
        })
        .collect();
    let xmax = pts.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let ymax = pts.iter().map(|p| p.2).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart =
            ChartBuilder::on(&root).margin(12).x_label_area_size(36).y_label_area_size(56).build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        chart.configure_mesh().x_desc("false positives per 1000 connection-hours").y_desc("p99 detection latency (s)").draw()?;
        for (i, x, y) in pts {
            let c = color(i);
            // Sessions: what the choice costs the users, beside the name.
            let name = match &strategies[i].session {
                Some(s) => format!("{} ({} available)", strategies[i].name, crate::render::availability(s.availability)),
                None => strategies[i].name.clone(),
            };
            chart.draw_series(std::iter::once(Circle::new((x, y), 6, c.filled())))?;
            chart.draw_series(std::iter::once(Text::new(name, (x, y), ("sans-serif", 13).into_font().color(&BLACK))))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// One run: faults, NAT expiries, the break and every declaration on a time axis.
pub fn timeline_svg(t: &RunTimeline) -> DrawResult<String> {
    let hours = t.horizon_s > 7200.0;
    let scale = if hours { 3600.0 } else { 1.0 };
    let xmax = (t.horizon_s / scale).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 170)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart =
            ChartBuilder::on(&root).margin(10).x_label_area_size(30).y_label_area_size(64).build_cartesian_2d(0f64..xmax, 0f64..3f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            // Ticks every half row; the odd ones sit on the rows and carry their names.
            .y_labels(7)
            .y_label_formatter(&|y| match (y * 2.0).round() as i64 {
                1 => "server".into(),
                3 => "network".into(),
                5 => "client".into(),
                _ => String::new(),
            })
            .x_desc(if hours { "hours" } else { "seconds" })
            .draw()?;
        let row_y = |r: Row| match r {
            Row::Server => 0.5,
            Row::Network => 1.5,
            Row::Client => 2.5,
        };
        for m in &t.marks {
            let (x, y) = (m.at_s / scale, row_y(m.row));
            let c = m.kind.color();
            chart.draw_series(std::iter::once(Circle::new((x, y), 5, c.filled())))?;
            chart.draw_series(std::iter::once(Text::new(m.label.clone(), (x, y + 0.32), ("sans-serif", 11).into_font().color(&c))))?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn table(sc: &ScenarioReport) -> String {
    let mut t = String::from(
        "<table class=\"comparison\"><thead><tr><th>strategy</th><th>kind</th><th>client detected</th><th>client p50</th>\
         <th>client p99</th><th>server detected</th><th>server p99</th><th>false positives</th><th>FP / 1000 h</th>\
         <th>NAT expiries</th><th>keepalive pkt/h</th></tr></thead><tbody>",
    );
    for s in &sc.strategies {
        let fp = s.client.false_positives + s.server.false_positives;
        let _ = write!(
            t,
            "<tr data-strategy=\"{}\"><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&s.name),
            esc(&s.name),
            esc(&s.kind),
            s.client.detected,
            s.client.detected + s.client.undetected,
            seconds(s.client.latency_s.p50),
            seconds(s.client.latency_s.p99),
            s.server.detected,
            s.server.detected + s.server.undetected,
            seconds(s.server.latency_s.p99),
            if fp > 0 { "bad" } else { "" },
            fp,
            s.false_positives_per_1000_conn_hours,
            s.nat_expiries,
            s.keepalive_packets_per_hour
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
        let _ = write!(
            t,
            "<tr data-strategy=\"{}\"><td>{}</td><td>{}</td><td class=\"{}\">{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td></tr>",
            esc(&s.name),
            esc(&s.name),
            x.requests.sent,
            if x.requests.failed > 0 { "bad" } else { "" },
            x.failed_requests_per_1000,
            x.requests.hung,
            seconds(x.requests.latency_s.p99),
            seconds(restore.p50),
            seconds(restore.p99),
            x.unrestored,
            crate::render::availability(x.availability),
            x.reconnects_per_1000_conn_hours
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

/// The whole page.
pub fn page(report: &Report, plots: &[ScenarioPlots]) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kasim report</title>");
    let _ = write!(out, "<style>{STYLE}</style></head><body><h1>kasim report</h1><nav>");
    for sc in &report.scenarios {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", esc(&sc.name), esc(&sc.name));
    }
    out.push_str("</nav>");
    let legend: String =
        [MarkKind::Fault, MarkKind::Broken, MarkKind::NatExpiry, MarkKind::Detection, MarkKind::FalsePositive, MarkKind::PeerClosed]
            .iter()
            .map(|k| {
                let c = k.color();
                format!("<span style=\"color:rgb({},{},{})\">&#9679; {}</span>", c.0, c.1, c.2, k.name())
            })
            .collect();
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
        let figure = |class: &str, caption: &str, svg: DrawResult<String>| match svg {
            Ok(svg) => format!("<figure class=\"plot {class}\"><figcaption>{caption}</figcaption>{svg}</figure>"),
            Err(e) => format!(
                "<figure class=\"plot {class}\"><figcaption>{caption}</figcaption><p>could not draw: {}</p></figure>",
                esc(&e.to_string())
            ),
        };
        out.push_str(&figure(
            "cdf",
            "Detection latency, cumulative (runs where the connection broke and was detected)",
            cdf_svg(&names, &p.strategies),
        ));
        out.push_str(&figure(
            "tradeoff",
            "Trade-off: p99 detection latency against false positives per 1000 connection-hours (strategies that detected something)",
            tradeoff_svg(&sc.strategies),
        ));
        if p.strategies.iter().any(|s| !s.restore_s.is_empty()) {
            out.push_str(&figure(
                "restore",
                "Time to restore, cumulative (unavailable periods that ended before the horizon)",
                restore_cdf_svg(&names, &p.strategies),
            ));
        }
        let _ = write!(out, "<div class=\"timelines\"><h3>One run per strategy</h3><p class=\"legend\">{legend}</p>");
        for (name, sp) in names.iter().zip(&p.strategies) {
            let caption = if sp.why.is_empty() {
                format!("{} (seed {})", esc(name), sp.timeline.seed)
            } else {
                format!("{} (seed {}): {}. <code>{}</code>", esc(name), sp.timeline.seed, esc(&sp.why), esc(&sp.replay))
            };
            out.push_str(&figure("timeline", &caption, timeline_svg(&sp.timeline)));
        }
        out.push_str("</div></section>");
    }
    out.push_str("</body></html>\n");
    out
}

/// One point of a `kasim tune` grid, for its plot.
#[derive(Clone, Debug, PartialEq)]
pub struct TunePoint {
    pub label: String,
    /// Client p99 detection latency (none: nothing detected).
    pub p99_s: Option<f64>,
    pub packets_per_hour: f64,
    pub feasible: bool,
    pub pareto: bool,
    pub recommended: bool,
}

/// Keepalive cost against p99 detection latency, one point per grid point:
/// grey infeasible, blue feasible, ringed when on the Pareto frontier, the
/// recommendation a large green star with its label.
pub fn tune_svg(points: &[TunePoint]) -> DrawResult<String> {
    let pts: Vec<&TunePoint> = points.iter().filter(|p| p.p99_s.is_some()).collect();
    let xmax = pts.iter().map(|p| p.packets_per_hour).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let ymax = pts.iter().filter_map(|p| p.p99_s).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart =
            ChartBuilder::on(&root).margin(12).x_label_area_size(36).y_label_area_size(56).build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
        chart.configure_mesh().x_desc("keepalive packets per hour").y_desc("client p99 detection latency (s)").draw()?;
        let grey = RGBColor(170, 170, 170);
        let blue = RGBColor(31, 119, 180);
        let green = RGBColor(30, 140, 60);
        for p in &pts {
            let at = (p.packets_per_hour, p.p99_s.unwrap_or(0.0));
            let c = if p.feasible { blue } else { grey };
            chart.draw_series(std::iter::once(Circle::new(at, 4, c.filled())))?;
            if p.pareto {
                chart.draw_series(std::iter::once(Circle::new(at, 8, c.stroke_width(2))))?;
            }
            if p.recommended {
                chart.draw_series(std::iter::once(TriangleMarker::new(at, 12, green.filled())))?;
                let text = format!("recommended: {}", p.label);
                chart.draw_series(std::iter::once(Text::new(text, at, ("sans-serif", 13).into_font().color(&green))))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
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
