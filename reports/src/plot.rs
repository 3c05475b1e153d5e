//! The report's pictures as SVG strings, drawn by plotters' SVG backend
//! (text stays `<text>`: no fonts are needed to make them).
//!
//! Readers compare latencies that span decades (a 30 s ping beside a 2 h
//! kernel default), so a latency axis turns logarithmic when its values span
//! more than two decades, and every time axis is labelled in a reader's units
//! ("30s", "5m", "2h"), not in raw seconds. Names live in HTML legends beside
//! the pictures ([`crate::html`]), not inside them, so no legend box covers a
//! curve and no two long labels overprint: a trade-off point carries only its
//! number. On a timeline, faults that last (outages, suspensions, reboots, a
//! crashed process) are spans from start to end, and a label that would
//! overprint its row's previous one is left out (its mark stays).

use crate::model::StrategyReport;
use crate::plot_input::{FleetActivity, Mark, MarkKind, Row, RunTimeline, StrategyPlots, TunePoint};
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Picture width in pixels.
const W: u32 = 720;
/// Tick labels and axis titles: plotters' defaults come out at 9-10 px on a
/// 720 px picture, too small to read at a glance (issue 29). The SVG backend
/// writes a font of size N as 0.81 N px: these are 13 and 13.7 px.
const LABEL_FONT: (&str, u32) = ("sans-serif", 16);
const AXIS_FONT: (&str, u32) = ("sans-serif", 17);
/// The timeline's mark labels: 11.3 px.
const MARK_FONT: (&str, u32) = ("sans-serif", 14);

/// A timeline mark's colour (its legend swatch too).
pub(crate) fn mark_color(kind: MarkKind) -> RGBColor {
    match kind {
        MarkKind::Fault => RGBColor(120, 120, 120),
        MarkKind::Broken => RGBColor(0, 0, 0),
        MarkKind::NatExpiry => RGBColor(230, 150, 0),
        MarkKind::Detection => RGBColor(30, 140, 60),
        MarkKind::FalsePositive => RGBColor(210, 30, 30),
        MarkKind::PeerClosed => RGBColor(110, 140, 180),
    }
}

/// Series colour `i` (matplotlib's ten, minus two hard to tell apart).
pub fn color(i: usize) -> RGBColor {
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

/// A tick label in a reader's units: "250ms", "2.5s", "30s", "1m30s",
/// "5m", "1h15m", "24h", "1d12h", "3d" (hours up to two days: "36h" reads
/// better than "1d12h").
pub fn tick(s: f64) -> String {
    // Up to one decimal, none when whole.
    let short = |v: f64| if (v - v.round()).abs() < 0.05 { format!("{:.0}", v) } else { format!("{:.1}", v) };
    if s == 0.0 {
        return "0".into();
    }
    if s.abs() < 1.0 {
        return format!("{}ms", short(s * 1000.0));
    }
    if s.abs() < 60.0 {
        return format!("{}s", short(s));
    }
    let t = s.round() as u64;
    let (d, h, m, sec) = (t / 86_400, t % 86_400 / 3600, t % 3600 / 60, t % 60);
    match t {
        _ if t < 3600 && sec == 0 => format!("{m}m"),
        _ if t < 3600 => format!("{m}m{sec:02}s"),
        _ if t < 172_800 && m == 0 => format!("{}h", t / 3600),
        _ if t < 172_800 => format!("{}h{m:02}m", t / 3600),
        _ if h == 0 => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

/// Ticks for a linear time axis from `lo` to `hi`: multiples of the
/// smallest round step (1 s, 15 s, 5 m, 1 h, 6 h, 1 d, …) giving at most
/// eight, so labels read "15m, 30m, 45m" and not "16.7m, 33.3m".
pub fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    const STEPS: [f64; 31] = [
        0.001,
        0.002,
        0.005,
        0.01,
        0.02,
        0.05,
        0.1,
        0.2,
        0.5,
        1.0,
        2.0,
        5.0,
        10.0,
        15.0,
        30.0,
        60.0,
        120.0,
        300.0,
        600.0,
        900.0,
        1800.0,
        3600.0,
        7200.0,
        10_800.0,
        21_600.0,
        43_200.0,
        86_400.0,
        172_800.0,
        604_800.0,
        1_209_600.0,
        2_592_000.0,
    ];
    let span = (hi - lo).max(1e-9);
    let step = STEPS.into_iter().find(|s| span / s <= 8.0).unwrap_or(span / 8.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Do positive values from `lo` to `hi` span more than two decades? Then a
/// linear axis would crush the small ones against zero.
pub fn spans_decades(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo > 100.0
}

/// Ticks for a logarithmic time axis from `lo` to `hi`: round values in a
/// reader's units (1 s, 10 s, 1 m, 10 m, 1 h, …) rather than powers of ten.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    const NICE: [f64; 17] = [
        0.001,
        0.01,
        0.1,
        1.0,
        10.0,
        30.0,
        60.0,
        300.0,
        600.0,
        1800.0,
        3600.0,
        7200.0,
        21_600.0,
        43_200.0,
        86_400.0,
        604_800.0,
        2_592_000.0,
    ];
    let inside: Vec<f64> = NICE.into_iter().filter(|t| (lo..=hi).contains(t)).collect();
    // At most eight: every other one when there are more.
    let step = inside.len().div_ceil(8).max(1);
    inside.into_iter().step_by(step).collect()
}

/// A time axis ticked where we say. (plotters' `with_key_points` does the
/// same but drops the default formatter its mesh insists on, even when the
/// labels are ours.)
pub struct Ticked<R> {
    inner: R,
    ticks: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }
    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// A logarithmic time axis from `lo` to `hi` with [`log_ticks`].
fn log_axis(lo: f64, hi: f64) -> Ticked<LogCoord<f64>> {
    Ticked { inner: (lo..hi).log_scale().into(), ticks: log_ticks(lo, hi) }
}

/// A linear time axis from `lo` to `hi` with [`linear_ticks`].
fn linear_axis(lo: f64, hi: f64) -> Ticked<RangedCoordf64> {
    Ticked { inner: (lo..hi).into(), ticks: linear_ticks(lo, hi) }
}

/// CDF of detection latency, one line per strategy with detections.
pub fn cdf_svg(plots: &[StrategyPlots]) -> DrawResult<String> {
    let series: Vec<&[f64]> = plots.iter().map(|p| p.latencies_s.as_slice()).collect();
    samples_cdf_svg(&series, ("detection latency", "fraction of detections"))
}

/// CDF of time to restore (sessions), one line per strategy with restored periods.
pub fn restore_cdf_svg(plots: &[StrategyPlots]) -> DrawResult<String> {
    let series: Vec<&[f64]> = plots.iter().map(|p| p.restore_s.as_slice()).collect();
    samples_cdf_svg(&series, ("time to restore", "fraction of unavailable periods"))
}

/// An empirical CDF per series in colour [`color`]`(i)` (empty series are left
/// out); the x axis logarithmic when the samples span decades.
fn samples_cdf_svg(series: &[&[f64]], descs: (&str, &str)) -> DrawResult<String> {
    let all = || series.iter().flat_map(|p| p.iter().copied());
    let hi = all().fold(0.0f64, f64::max).max(1e-3);
    let lo = all().filter(|x| *x > 0.0).fold(f64::INFINITY, f64::min);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        if spans_decades(lo, hi) {
            let (x0, x1) = (lo / 1.25, hi * 1.25);
            draw_cdf(&root, log_axis(x0, x1), (x0, x1), series, descs, true)?;
        } else {
            let x1 = hi * 1.05;
            draw_cdf(&root, linear_axis(0.0, x1), (0.0, x1), series, descs, false)?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_cdf<X>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    x: X,
    (x0, x1): (f64, f64),
    series: &[&[f64]],
    (x_desc, y_desc): (&str, &str),
    log: bool,
) -> DrawResult<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root).margin(12).x_label_area_size(44).y_label_area_size(78).build_cartesian_2d(x, 0f64..1.0)?;
    let x_desc = if log { format!("{x_desc} (log scale)") } else { x_desc.to_string() };
    chart
        .configure_mesh()
        .label_style(LABEL_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| tick(*v))
        .draw()?;
    for (i, p) in series.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let mut xs = p.to_vec();
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        // A step up at each sample: from the left edge at 0 to the right edge at 1.
        let mut pts = vec![(x0, 0.0)];
        for (k, x) in xs.iter().enumerate() {
            let x = x.max(x0);
            pts.push((x, k as f64 / n));
            pts.push((x, (k + 1) as f64 / n));
        }
        pts.push((x1, 1.0));
        chart.draw_series(LineSeries::new(pts, color(i).stroke_width(2)))?;
    }
    Ok(())
}

/// The worst p99 detection latency of a strategy's two sides, if any.
pub fn worst_p99(s: &StrategyReport) -> Option<f64> {
    [s.client.latency_s.p99, s.server.latency_s.p99].into_iter().flatten().reduce(f64::max)
}

/// p99 detection latency against false positives per 1000 connection-hours:
/// strategy `i` is a point in [`color`]`(i)` numbered `i + 1` (the HTML legend
/// names it); the latency axis logarithmic when the points span decades.
pub fn tradeoff_svg(strategies: &[StrategyReport]) -> DrawResult<String> {
    let pts: Vec<(usize, f64, f64)> =
        strategies.iter().enumerate().filter_map(|(i, s)| Some((i, s.false_positives_per_1000_conn_hours, worst_p99(s)?))).collect();
    let xmax = pts.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let ymax = pts.iter().map(|p| p.2).fold(0.0f64, f64::max).max(1e-3);
    let ymin = pts.iter().map(|p| p.2).filter(|y| *y > 0.0).fold(f64::INFINITY, f64::min);
    let descs = ("false positives per 1000 connection-hours", "p99 detection latency");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        if spans_decades(ymin, ymax) {
            let (y0, y1) = (ymin / 1.5, ymax * 1.5);
            draw_points(&root, 0f64..xmax, log_axis(y0, y1), &pts, descs, true)?;
        } else {
            let y1 = ymax * 1.15;
            draw_points(&root, 0f64..xmax, linear_axis(0.0, y1), &pts, descs, false)?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn draw_points<Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    x: std::ops::Range<f64>,
    y: Y,
    pts: &[(usize, f64, f64)],
    (x_desc, y_desc): (&str, &str),
    log: bool,
) -> DrawResult<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root).margin(12).x_label_area_size(44).y_label_area_size(78).build_cartesian_2d(x, y)?;
    let y_desc = if log { format!("{y_desc} (log scale)") } else { y_desc.to_string() };
    chart
        .configure_mesh()
        .label_style(LABEL_FONT)
        .axis_desc_style(AXIS_FONT)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    for &(i, x, y) in pts {
        let c = color(i);
        chart.draw_series(std::iter::once(Circle::new((x, y), 6, c.filled())))?;
        let number = EmptyElement::at((x, y)) + Text::new((i + 1).to_string(), (8, -16), ("sans-serif", 15).into_font().color(&BLACK));
        chart.draw_series(std::iter::once(number))?;
    }
    Ok(())
}

/// Which labels a crowded timeline keeps first.
fn label_rank(kind: MarkKind) -> u8 {
    match kind {
        MarkKind::Broken => 0,
        MarkKind::Fault => 1,
        MarkKind::FalsePositive => 2,
        MarkKind::Detection => 3,
        MarkKind::PeerClosed => 4,
        MarkKind::NatExpiry => 5,
    }
}

/// Pixels a label of `chars` characters takes at the timeline's mark font.
fn label_px(chars: usize) -> f64 {
    8.0 * chars as f64
}

/// One run: faults (spans for those that last), NAT expiries, the break and
/// every declaration on a time axis in a reader's units.
pub fn timeline_svg(t: &RunTimeline) -> DrawResult<String> {
    let xmax = t.horizon_s.max(1e-3);
    let (left, margin) = (64u32, 10u32);
    let px_per_s = f64::from(W - left - 2 * margin) / xmax;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 170)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(margin)
            .x_label_area_size(40)
            .y_label_area_size(left)
            .build_cartesian_2d(linear_axis(0.0, xmax), 0f64..3f64)?;
        chart
            .configure_mesh()
            .label_style(LABEL_FONT)
            .axis_desc_style(AXIS_FONT)
            .disable_y_mesh()
            // Ticks every half row; the odd ones sit on the rows and carry their names.
            .y_labels(7)
            .y_label_formatter(&|y| match (y * 2.0).round() as i64 {
                1 => "server".into(),
                3 => "network".into(),
                5 => "client".into(),
                _ => String::new(),
            })
            .x_label_formatter(&|x| tick(*x))
            .x_desc("time since the start")
            .draw()?;
        let row_y = |r: Row| match r {
            Row::Server => 0.5,
            Row::Network => 1.5,
            Row::Client => 2.5,
        };
        for m in &t.marks {
            let (x, y) = (m.at_s, row_y(m.row));
            let c = mark_color(m.kind);
            match m.until_s {
                Some(end) => {
                    let end = end.max(x + 1.0 / px_per_s);
                    chart.draw_series(std::iter::once(Rectangle::new([(x, y - 0.22), (end, y + 0.22)], c.mix(0.45).filled())))?;
                }
                None => {
                    chart.draw_series(std::iter::once(Circle::new((x, y), 5, c.filled())))?;
                }
            }
        }
        // Labels by importance (the break, faults, declarations, then NAT
        // expiries), each only where it overprints no label already on its row.
        let mut by_importance: Vec<&Mark> = t.marks.iter().filter(|m| !m.label.is_empty()).collect();
        by_importance.sort_by_key(|m| label_rank(m.kind));
        let mut taken: [Vec<(f64, f64)>; 3] = Default::default();
        for m in by_importance {
            let (x, y) = (m.at_s, row_y(m.row));
            let span = (x, x + label_px(m.label.chars().count()) / px_per_s);
            let row = &mut taken[m.row as usize];
            if row.iter().any(|&(a, b)| span.0 < b && a < span.1) {
                continue;
            }
            row.push(span);
            let c = mark_color(m.kind);
            chart.draw_series(std::iter::once(Text::new(m.label.clone(), (x, y + 0.32), MARK_FONT.into_font().color(&c))))?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// A fleet's run: per stretch of time, how many connections broke (black),
/// were detected (green) and were declared dead by mistake (red), three
/// bars side by side in each stretch.
pub fn fleet_svg(f: &FleetActivity, horizon_s: f64) -> DrawResult<String> {
    let xmax = horizon_s.max(1e-3);
    let ymax = f.bins.iter().flat_map(|b| b.iter()).copied().max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 170)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(linear_axis(0.0, xmax), 0f64..f64::from(ymax) * 1.1)?;
        chart
            .configure_mesh()
            .label_style(LABEL_FONT)
            .axis_desc_style(AXIS_FONT)
            .disable_x_mesh()
            .light_line_style(WHITE)
            .y_labels(5)
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("time since the start")
            .y_desc("how many")
            .draw()?;
        let kinds = [MarkKind::Broken, MarkKind::Detection, MarkKind::FalsePositive];
        let third = f.bin_s / 3.0;
        for (i, bin) in f.bins.iter().enumerate() {
            for (k, (&n, kind)) in bin.iter().zip(kinds).enumerate() {
                if n == 0 {
                    continue;
                }
                let x0 = i as f64 * f.bin_s + k as f64 * third;
                chart.draw_series(std::iter::once(Rectangle::new([(x0, 0.0), (x0 + third, f64::from(n))], mark_color(kind).filled())))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// Keepalive cost against p99 detection latency, one point per grid point:
/// grey infeasible, blue feasible, ringed when on the Pareto frontier, the
/// recommendation a large green triangle with its label.
pub fn tune_svg(points: &[TunePoint]) -> DrawResult<String> {
    let pts: Vec<&TunePoint> = points.iter().filter(|p| p.p99_s.is_some()).collect();
    let xmax = pts.iter().map(|p| p.packets_per_hour).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let ymax = pts.iter().filter_map(|p| p.p99_s).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(78)
            .build_cartesian_2d(0f64..xmax, linear_axis(0.0, ymax))?;
        chart
            .configure_mesh()
            .label_style(LABEL_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_desc("keepalive packets per hour")
            .y_desc("client p99 detection latency")
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
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
                chart.draw_series(std::iter::once(Text::new(text, at, ("sans-serif", 15).into_font().color(&green))))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// Marks of a timeline's kinds, for tests and the legend.
pub const MARK_KINDS: [MarkKind; 6] =
    [MarkKind::Fault, MarkKind::Broken, MarkKind::NatExpiry, MarkKind::Detection, MarkKind::FalsePositive, MarkKind::PeerClosed];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_in_a_readers_units() {
        let t: Vec<String> = [0.0, 0.25, 1.0, 30.0, 90.0, 300.0, 5400.0, 7875.0, 86_400.0, 259_200.0].map(tick).to_vec();
        assert_eq!(t, ["0", "250ms", "1s", "30s", "1m30s", "5m", "1h30m", "2h11m", "24h", "3d"]);
        // A day and a half is "36h"; past two days, days and hours.
        assert_eq!((tick(129_600.0), tick(216_000.0)), ("36h".to_string(), "2d12h".to_string()));
        // Linear ticks: the smallest round step giving at most eight.
        assert_eq!(linear_ticks(0.0, 7000.0), [0.0, 900.0, 1800.0, 2700.0, 3600.0, 4500.0, 5400.0, 6300.0]);
        // Three days: every 12 h, 0 to 72 h.
        assert_eq!(linear_ticks(0.0, 259_200.0), (0..=6).map(|k| k as f64 * 43_200.0).collect::<Vec<_>>());
    }

    /// The numbers on an axis as the SVG writes them.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split('>').nth(1))
            .map(|t| t.split('<').next().unwrap_or("").trim().to_string())
            .collect()
    }

    #[test]
    fn a_latency_axis_spanning_decades_is_logarithmic() {
        // 30 s and 2.2 h: 263x apart, so log (axis 24 s to 2.7 h), ticked at
        // round values: 30 s, 1 m, 5 m, 10 m, 30 m, 1 h, 2 h.
        let wide = StrategyPlots { latencies_s: vec![30.0, 40.0, 7200.0, 7900.0], ..Default::default() };
        let svg = cdf_svg(std::slice::from_ref(&wide)).unwrap();
        assert!(svg.contains("detection latency (log scale)"), "{svg}");
        let ticks = texts(&svg);
        assert!(ticks.ends_with(&["30s", "1m", "5m", "10m", "30m", "1h", "2h"].map(String::from)), "{ticks:?}");
        // 30 s to 45 s: linear, labelled in seconds.
        let narrow = StrategyPlots { latencies_s: vec![30.0, 45.0], ..Default::default() };
        let svg = cdf_svg(std::slice::from_ref(&narrow)).unwrap();
        assert!(!svg.contains("log scale") && texts(&svg).iter().any(|t| t == "40s"), "{:?}", texts(&svg));
    }

    #[test]
    fn a_lasting_fault_is_a_span_from_its_start_to_its_end() {
        let outage = Mark { at_s: 3600.0, until_s: Some(5400.0), row: Row::Network, kind: MarkKind::Fault, label: "outage".into() };
        let t = RunTimeline { seed: 1, horizon_s: 86_400.0, marks: vec![outage], connection: None, fleet: None };
        let svg = timeline_svg(&t).unwrap();
        // 646 plot pixels for a day: the half hour is 13.5 px wide.
        let rect = svg.split("<rect").skip(2).find(|r| r.contains("opacity=\"0.45\"")).expect("a span");
        let num = |k: &str| rect.split(&format!(" {k}=\"")).nth(1).unwrap().split('"').next().unwrap().parse::<f64>().unwrap();
        assert!((num("width") - 1800.0 * 646.0 / 86_400.0).abs() < 1.5, "{rect}");
        assert!(!svg.contains("<circle"), "a span, not a dot");
    }

    #[test]
    fn labels_that_would_overprint_are_left_out() {
        // Two NAT expiries 10 s apart on a day-long axis are 0.07 px apart: one label.
        let mark = |at_s: f64| Mark { at_s, until_s: None, row: Row::Network, kind: MarkKind::NatExpiry, label: "NAT expiry".into() };
        // The break just after the first of them keeps its label: it matters more.
        let broken = Mark { at_s: 1005.0, until_s: None, row: Row::Network, kind: MarkKind::Broken, label: "broken: NAT expiry".into() };
        let t = RunTimeline {
            seed: 1,
            horizon_s: 86_400.0,
            marks: vec![mark(1000.0), mark(1010.0), mark(40_000.0), broken],
            connection: None,
            fleet: None,
        };
        let svg = timeline_svg(&t).unwrap();
        assert_eq!(svg.matches(">\nNAT expiry\n<").count(), 1, "{svg}");
        assert_eq!(svg.matches(">\nbroken: NAT expiry\n<").count(), 1, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 4, "every mark keeps its dot");
    }
}
