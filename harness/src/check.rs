//! `[[expect]]` evaluation: the observed value, pass or fail, and for a
//! failure the seeds that show it, each with the command that replays it.
//! With `confidence` (v3) the interval is judged instead of the figure:
//! pass, fail or inconclusive, and for an inconclusive one the seeds
//! estimated to decide it.

use crate::confidence::{self, Estimator, Interval};
use crate::scenario::{Expect, Metric, Op, Scenario};
use crate::summary::{RunSummary, SideOutcome};
use reports::model::{SideReport, StrategyReport};
use sim::Side;

/// What became of an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The figure (with `confidence`: its whole interval) meets the bound.
    Pass,
    /// The figure (with `confidence`: its whole interval) breaks the bound, or has no value.
    Fail,
    /// `confidence` only: the interval straddles the bound; more seeds may decide it.
    Inconclusive,
}

impl Verdict {
    /// `pass`, `fail`, `inconclusive`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// How many seeds would decide an inconclusive expectation, if the runs to
/// come looked like those made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedsToDecide {
    /// About this many seeds in all.
    About(u64),
    /// More than this many (the estimate sits on the bound, or the metric's
    /// interval never closes, as a maximum's).
    MoreThan(u64),
}

/// The most seeds [`SeedsToDecide`] looks at.
pub const MAX_SEEDS_ESTIMATE: u64 = 10_000_000;

/// One expectation's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The scenario's `name`.
    pub scenario: String,
    /// The expectation, as the file wrote it.
    pub expect: Expect,
    /// `None` when the metric has no value (no detection at all).
    pub observed: Option<f64>,
    /// The verdict is [`Verdict::Pass`].
    pub passed: bool,
    /// Pass, fail, or (with `confidence`) inconclusive.
    pub verdict: Verdict,
    /// With `confidence`: the interval judged, at `level`.
    pub interval: Option<Interval>,
    /// The level the interval was made at: the expectation's `confidence`,
    /// or less of the error for each look of `check --until-decided`.
    pub level: Option<f64>,
    /// The seeds the verdict stands on.
    pub runs: u64,
    /// For an inconclusive one: the seeds estimated to decide it.
    pub decide: Option<SeedsToDecide>,
    /// Seeds that show the failure (at most `limit`), worst first.
    pub seeds: Vec<u64>,
}

impl Checked {
    /// One line for stderr and JUnit: scenario, strategy, side, metric, bound, and what was
    /// observed (`buildbot-dialup: linux-default client detection_p99 <= 10800: observed 7875`);
    /// with `confidence`, the interval too.
    pub fn describe(&self) -> String {
        let e = &self.expect;
        let side = e.side.map(|s| format!(" {s}")).unwrap_or_default();
        let observed = self.observed.map_or("no value (nothing detected)".to_string(), |v| format!("{v}"));
        let mut line =
            format!("{}: {}{} {} {} {}: observed {}", self.scenario, e.strategy, side, e.metric.name(), e.op.symbol(), e.value, observed);
        if let (Some(i), Some(level)) = (self.interval, self.level) {
            let [lo, hi] = confidence::rounded(e.metric, i);
            let shown = Interval { lo, hi }.show(|v| format!("{v}"));
            line.push_str(&format!(", {} % interval {shown} over {} seeds", percent(level), self.runs));
        }
        line
    }

    /// For an inconclusive one: the interval against the bound and the seeds
    /// that would decide it, as `check` prints it.
    pub fn undecided(&self) -> Option<String> {
        let decide = self.decide?;
        let seeds = match decide {
            SeedsToDecide::About(n) => format!("about {n} seeds would decide it (--seeds {n}, or --until-decided)"),
            SeedsToDecide::MoreThan(n) => format!("more than {n} seeds would not decide it (the estimate sits on the bound)"),
        };
        Some(format!("the interval straddles the bound {}; {seeds}", self.expect.value))
    }
}

/// A level as a percentage without noise: 0.95 → "95", 0.975 → "97.5".
fn percent(level: f64) -> String {
    let p = (level * 1e6).round() / 1e4;
    format!("{p}")
}

fn side_of(r: &StrategyReport, side: Option<Side>) -> &SideReport {
    match side {
        Some(Side::Server) => &r.server,
        _ => &r.client,
    }
}

/// The value of `metric` in a strategy's report.
pub fn value(r: &StrategyReport, metric: Metric, side: Option<Side>) -> Option<f64> {
    let s = side_of(r, side);
    match metric {
        Metric::DetectionP50 => s.latency_s.p50,
        Metric::DetectionP90 => s.latency_s.p90,
        Metric::DetectionP99 => s.latency_s.p99,
        Metric::DetectionMax => s.latency_s.max,
        Metric::DetectionMean => s.latency_s.mean,
        Metric::Detected => Some(s.detected as f64),
        Metric::Undetected => Some(s.undetected as f64),
        Metric::FalsePositives => Some(s.false_positives as f64),
        Metric::FalsePositivesPerRun => per_run(s.false_positives, r.runs),
        Metric::FalsePositiveRate => Some(r.false_positives_per_1000_conn_hours),
        Metric::NatExpiries => Some(r.nat_expiries as f64),
        Metric::NatExpiriesPerRun => per_run(r.nat_expiries, r.runs),
        Metric::KeepalivePacketsPerHour => Some(r.keepalive_packets_per_hour),
        Metric::KeepaliveBytesPerHour => Some(r.keepalive_bytes_per_hour),
        Metric::IdleCloses => r.idle_closes.map(|n| n as f64),
        _ => session_value(r, metric),
    }
}

/// A session metric's value; `None` when the report has no session figures
/// or the percentile has no sample.
fn session_value(r: &StrategyReport, metric: Metric) -> Option<f64> {
    let s = r.session.as_ref()?;
    let restore = s.time_to_restore_s.unwrap_or_default();
    match metric {
        Metric::Requests => Some(s.requests.sent as f64),
        Metric::RequestsOk => Some(s.requests.ok as f64),
        Metric::RequestsFailed => Some(s.requests.failed as f64),
        Metric::RequestsHung => Some(s.requests.hung as f64),
        Metric::FailedRequestsPer1000 => Some(s.failed_requests_per_1000),
        Metric::RequestP50 => s.requests.latency_s.p50,
        Metric::RequestP99 => s.requests.latency_s.p99,
        Metric::TimeToRestoreP50 => restore.p50,
        Metric::TimeToRestoreP99 => restore.p99,
        Metric::TimeToRestoreMax => restore.max,
        Metric::Availability => Some(s.availability),
        Metric::ReconnectsPer1000ConnHours => Some(s.reconnects_per_1000_conn_hours),
        _ => None,
    }
}

/// A count divided by the runs, so that the bound does not depend on `--seeds`.
fn per_run(count: u64, runs: u64) -> Option<f64> {
    (runs > 0).then(|| count as f64 / runs as f64)
}

fn holds(op: Op, observed: f64, bound: f64) -> bool {
    match op {
        Op::Le => observed <= bound + 1e-9,
        Op::Ge => observed + 1e-9 >= bound,
        Op::Eq => (observed - bound).abs() <= 1e-9_f64.max(bound.abs() * 1e-9),
    }
}

/// Seeds that push the metric the wrong way, worst first.
fn witnesses(e: &Expect, runs: &[RunSummary], limit: usize) -> Vec<u64> {
    let side = e.side.unwrap_or(Side::Client);
    let detection = matches!(
        e.metric,
        Metric::DetectionP50 | Metric::DetectionP90 | Metric::DetectionP99 | Metric::DetectionMax | Metric::DetectionMean
    );
    // How much a run shows the metric (its connections together); `None`: not at all.
    let shows = |r: &RunSummary| -> Option<f64> {
        if matches!(e.metric, Metric::NatExpiries | Metric::NatExpiriesPerRun) {
            let n = r.expiries_while_held() as f64;
            return (n > 0.0 || e.op == Op::Ge).then_some(n);
        }
        let mut shown: Option<f64> = None;
        for outcome in r.outcomes(side) {
            let v = match (outcome, e.metric) {
                (SideOutcome::Detected(l), _) if detection => l.as_secs_f64(),
                (SideOutcome::Undetected, _) if detection => f64::INFINITY,
                (SideOutcome::Undetected, Metric::Undetected) | (SideOutcome::Detected(_), Metric::Detected) => 1.0,
                (SideOutcome::FalsePositive(_), Metric::FalsePositives | Metric::FalsePositivesPerRun | Metric::FalsePositiveRate) => 1.0,
                _ => continue,
            };
            // Latencies: the worst connection; counts: how many connections.
            shown = Some(match shown {
                None => v,
                Some(s) if detection => s.max(v),
                Some(s) => s + v,
            });
        }
        shown
    };
    // For a `ge` bound the witnesses are the runs that show the least.
    let sign = if e.op == Op::Ge { -1.0 } else { 1.0 };
    let mut scored: Vec<(f64, u64)> = runs.iter().filter_map(|r| shows(r).map(|s| (sign * s, r.seed))).collect();
    if e.op == Op::Ge && scored.is_empty() {
        scored = runs.iter().map(|r| (0.0, r.seed)).collect();
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, s)| s).collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// JUnit XML: one test suite per scenario, one test case per expectation; a
/// failure carries the observed value and the replay command for each seed.
/// `path_of` gives the scenario file for a scenario name.
pub fn junit(results: &[Checked], replay_of: &dyn Fn(&str, &str, u64) -> String) -> String {
    let mut suites: Vec<(&str, Vec<&Checked>)> = Vec::new();
    for c in results {
        match suites.iter_mut().find(|(n, _)| *n == c.scenario) {
            Some((_, v)) => v.push(c),
            None => suites.push((&c.scenario, vec![c])),
        }
    }
    let failures = results.iter().filter(|c| !c.passed).count();
    let describe_failure = |c: &Checked| match (c.verdict, c.undecided()) {
        (Verdict::Inconclusive, Some(why)) => format!("inconclusive: {why}"),
        _ => format!("observed {}", c.observed.map_or("no value (nothing detected)".to_string(), |v| v.to_string())),
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kasim check\" tests=\"{}\" failures=\"{failures}\">\n",
        results.len()
    );
    for (scenario, cases) in suites {
        let f = cases.iter().filter(|c| !c.passed).count();
        out.push_str(&format!("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\">\n", xml_escape(scenario), cases.len()));
        for c in cases {
            let e = &c.expect;
            let side = e.side.map(|s| format!(" {s}")).unwrap_or_default();
            let name = format!("{}{side} {} {} {}", e.strategy, e.metric.name(), e.op.symbol(), e.value);
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\"", xml_escape(scenario), xml_escape(&name)));
            if c.passed {
                out.push_str("/>\n");
                continue;
            }
            let message = describe_failure(c);
            let mut body = String::new();
            for seed in &c.seeds {
                body.push_str(&format!("reproduce with: {}\n", replay_of(scenario, &e.strategy, *seed)));
            }
            out.push_str(&format!(
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                xml_escape(&message),
                if c.verdict == Verdict::Inconclusive { "inconclusive" } else { "expectation" },
                xml_escape(&body)
            ));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Evaluate every expectation of a scenario against its report and runs.
pub fn check(scenario: &Scenario, reports: &[StrategyReport], runs: &[Vec<RunSummary>], limit: usize) -> Vec<Checked> {
    check_at(scenario, reports, runs, limit, &|c| c)
}

/// [`check`], each `confidence` turned into the level its interval is made
/// at by `level` (`check --until-decided` spends the error over its looks).
pub fn check_at(
    scenario: &Scenario,
    reports: &[StrategyReport],
    runs: &[Vec<RunSummary>],
    limit: usize,
    level: &dyn Fn(f64) -> f64,
) -> Vec<Checked> {
    scenario
        .expects
        .iter()
        .filter_map(|e| {
            let i = reports.iter().position(|r| r.name == e.strategy)?;
            let observed = value(&reports[i], e.metric, e.side);
            let mut c = Checked {
                scenario: scenario.name.clone(),
                expect: e.clone(),
                observed,
                passed: false,
                verdict: Verdict::Fail,
                interval: None,
                level: None,
                runs: runs[i].len() as u64,
                decide: None,
                seeds: Vec::new(),
            };
            match e.confidence {
                None => c.verdict = if observed.is_some_and(|v| holds(e.op, v, e.value)) { Verdict::Pass } else { Verdict::Fail },
                Some(confidence) => {
                    let at = level(confidence);
                    let estimator = confidence::estimator(e.metric, e.side.unwrap_or(Side::Client), &runs[i], scenario.horizon);
                    if let (Some(estimator), Some(_)) = (estimator, observed) {
                        let interval = estimator.interval(at);
                        c.verdict = judge(e.op, e.value, interval);
                        c.interval = Some(interval);
                        c.level = Some(at);
                        if c.verdict == Verdict::Inconclusive {
                            c.decide = Some(seeds_to_decide(&estimator, e, at, runs[i].len() as u64));
                        }
                    }
                }
            }
            c.passed = c.verdict == Verdict::Pass;
            if c.verdict == Verdict::Fail {
                c.seeds = witnesses(e, &runs[i], limit);
            }
            Some(c)
        })
        .collect()
}

/// An interval against a bound: wholly within it, wholly beyond it, or across it.
pub fn judge(op: Op, bound: f64, i: Interval) -> Verdict {
    let meets = |v: f64| holds(op, v, bound);
    match op {
        Op::Le | Op::Ge => {
            let (near, far) = if op == Op::Le { (i.lo, i.hi) } else { (i.hi, i.lo) };
            if far.is_some_and(meets) {
                Verdict::Pass
            } else if near.is_some_and(|v| !meets(v)) {
                Verdict::Fail
            } else {
                Verdict::Inconclusive
            }
        }
        Op::Eq => match (i.lo, i.hi) {
            (Some(lo), Some(hi)) if meets(lo) && meets(hi) => Verdict::Pass,
            (Some(lo), _) if lo > bound && !meets(lo) => Verdict::Fail,
            (_, Some(hi)) if hi < bound && !meets(hi) => Verdict::Fail,
            _ => Verdict::Inconclusive,
        },
    }
}

/// The fewest seeds (on a grid 25 % apart) whose projected interval decides
/// the expectation, up to [`MAX_SEEDS_ESTIMATE`].
fn seeds_to_decide(estimator: &Estimator, e: &Expect, level: f64, runs: u64) -> SeedsToDecide {
    let runs = runs.max(1);
    let mut seeds = runs as f64;
    while seeds < MAX_SEEDS_ESTIMATE as f64 {
        seeds = (seeds * 1.25).ceil();
        let projected = estimator.projected(level, seeds / runs as f64);
        if judge(e.op, e.value, projected) != Verdict::Inconclusive {
            return SeedsToDecide::About(seeds as u64);
        }
    }
    SeedsToDecide::MoreThan(MAX_SEEDS_ESTIMATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(holds(Op::Le, 3.0, 3.0));
        assert!(!holds(Op::Le, 3.001, 3.0));
        assert!(holds(Op::Ge, 0.0, 0.0));
        assert!(holds(Op::Eq, 7875.0, 7875.0));
        assert!(!holds(Op::Eq, 7874.0, 7875.0));
    }
}
