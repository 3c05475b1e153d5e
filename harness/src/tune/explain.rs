//! The words `kasim tune` prints about its recommendation: why that point,
//! what a cheaper one would break, and how late a kernel keepalive fires
//! against the NAT it must beat.

use super::{Axis, Plan, Point, Tuned};
use crate::scenario::Scenario;
use crate::strategy::StrategyKind;
use crate::units;

/// A value of `axis` for people: durations as written, the rest as is.
pub fn show(axis: &Axis, value: &str) -> String {
    format!("{}={value}", axis.param)
}

/// The one-line reason for the recommendation.
pub fn explain(scenario: &Scenario, plan: &Plan, tuned: &Tuned) -> String {
    let Some(r) = tuned.recommended else {
        let complete = tuned.points.iter().filter(|p| p.dropped.is_none()).count();
        let mut line = format!("no point meets every constraint ({complete} of {} points ran every seed)", tuned.points.len());
        // The closest point: fewest constraints broken, then the least relative shortfall
        // (the first in grid order among equals), and by how much it misses each.
        let broken = |q: &Point| plan.constraints.iter().filter(|c| !c.holds(&q.report)).collect::<Vec<_>>();
        let score = |q: &Point| (broken(q).len(), plan.constraints.iter().map(|c| c.shortfall(&q.report)).sum::<f64>());
        let closest = tuned
            .points
            .iter()
            .filter(|q| q.dropped.is_none())
            .min_by(|a, b| score(a).0.cmp(&score(b).0).then(score(a).1.total_cmp(&score(b).1)));
        if let Some(q) = closest {
            let name = plan.axes.iter().zip(&q.values).map(|(a, v)| show(a, v)).collect::<Vec<_>>().join(" ");
            let misses: Vec<String> = broken(q)
                .iter()
                .map(|c| format!("{} (observed {})", c.text, c.metric.value(&q.report).map_or("no value".to_string(), |v| v.to_string())))
                .collect();
            line += &format!("; the closest, {name}, breaks {}", misses.join(" and "));
        }
        return line;
    };
    let p = &tuned.points[r];
    let name = |p: &Point| plan.axes.iter().zip(&p.values).map(|(a, v)| show(a, v)).collect::<Vec<_>>().join(" ");
    let objective = plan.minimize.value(&p.report).unwrap_or(f64::NAN);
    let feasible = tuned.points.iter().filter(|p| p.feasible).count();
    let mut line =
        format!("{}: the least {} ({objective}) of the {feasible} feasible points of {}", name(p), plan.minimize, tuned.points.len());
    // A keepalive idle against a NAT: the kernel fires it late, by up to its wheel level's
    // granularity. Said of each point it names, right after the point (issue 29: the
    // recommendation's 330 s figures read as if they were the cheaper 6m point's).
    let idle = plan.axes.iter().position(|a| a.param == "idle" && matches!(plan.strategy.kind(), StrategyKind::TcpKeepalive { .. }));
    // The box of the path that forgets soonest is the one the keepalive must beat.
    let soonest = scenario.nats().min_by_key(|(_, n)| n.idle_timeout);
    let wheel = |q: &Point| match (idle, soonest) {
        (Some(i), Some((k, nat))) => {
            let whose = if scenario.chained { format!("{}'s", scenario.box_name(k)) } else { "the NAT's".to_string() };
            let idle = units::parse_duration(&q.values[i]).unwrap_or_default();
            let late = scenario.tcp.timers.granularity(idle);
            format!(
                "its probes fire up to {:.1} s late on the kernel's timer wheel ({:.1} s {} {whose} {:.1} s)",
                late.as_secs_f64(),
                (idle + late).as_secs_f64(),
                if idle + late < nat.idle_timeout { "<" } else { ">=" },
                nat.idle_timeout.as_secs_f64()
            )
        }
        _ => String::new(),
    };
    let own = wheel(p);
    if !own.is_empty() {
        line += &format!("; {own}");
    }
    // The cheaper point nearest in objective (the first in grid order among equals), and what it breaks.
    let mut cheaper: Option<(&Point, f64)> = None;
    for q in tuned.points.iter().filter(|q| !q.feasible) {
        if let Some(v) = plan.minimize.value(&q.report).filter(|v| *v < objective) {
            if cheaper.is_none_or(|(_, best)| v > best) {
                cheaper = Some((q, v));
            }
        }
    }
    let cheaper = cheaper.map(|(q, _)| q);
    if let Some(q) = cheaper {
        if let Some(c) = plan.constraints.iter().find(|c| !c.holds(&q.report)) {
            let observed = c.metric.value(&q.report).map_or("no value".to_string(), |v| v.to_string());
            line += &format!("; {} would be cheaper but breaks {} (observed {observed})", name(q), c.text);
            let theirs = wheel(q);
            if !theirs.is_empty() {
                line += &format!(": {theirs}");
            }
        }
    }
    line
}
