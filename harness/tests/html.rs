//! `kasim run --out DIR` writes `index.html`: one self-contained page with,
//! per scenario, the comparison table, a latency CDF, the trade-off scatter
//! and a timeline per strategy, all as inline SVG with data in them.

mod common;

use std::process::Command;

#[test]
fn index_html_has_every_scenario_strategy_and_plot_with_data_and_fetches_nothing() {
    let dir = common::temp_folder("html", "catalogue");
    let scenarios = ["buildbot-dialup", "server-reboot"];
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(scenarios.iter().map(|s| format!("../scenarios/{s}.toml")));
    args.extend(["--seeds".into(), "6".into(), "--out".into(), dir.to_string_lossy().to_string()]);
    let out = Command::new(env!("CARGO_BIN_EXE_kasim")).args(&args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();

    let strategies = [vec!["linux-default", "ping-10m-3m", "ping-10m-3m-ack-progress"], vec!["linux-default", "ping-1m-10s"]];
    for (scenario, names) in scenarios.iter().zip(&strategies) {
        let start = html.find(&format!("<section class=\"scenario\" id=\"{scenario}\">")).unwrap_or_else(|| panic!("section {scenario}"));
        let end = html[start..].find("</section>").unwrap() + start;
        let section = &html[start..end];
        for name in names {
            assert!(section.contains(&format!("<tr data-strategy=\"{name}\">")), "{scenario}: table row {name}");
            assert!(section.contains(&format!("<figcaption>{name} (seed ")), "{scenario}: timeline {name}");
            // Each drawn run says why it was chosen and how to replay it.
            let caption = section.split(&format!("<figcaption>{name} (seed ")).nth(1).unwrap().split("</figcaption>").next().unwrap();
            let seed = caption.split(')').next().unwrap();
            assert!(
                ["the first false positive", "the median detection, ", "no declaration in any run"].iter().any(|w| caption.contains(w)),
                "{caption}"
            );
            assert!(
                caption.contains(&format!("kasim replay ../scenarios/{scenario}.toml --strategy {name} --seed {seed}</code>")),
                "{caption}"
            );
        }
        // Every figure is an SVG that carries data, not an empty frame.
        let figures: Vec<&str> = section.split("<figure class=\"plot ").skip(1).collect();
        assert_eq!(figures.len(), 2 + names.len(), "{scenario}: CDF, trade-off, one timeline per strategy");
        for f in &figures {
            assert!(f.contains("<svg") && f.contains("</svg>"), "{scenario}: an SVG in {}", &f[..40]);
        }
        // What the plots show, against the report written beside them: one CDF
        // line per strategy that detected anything, one trade-off point per
        // strategy with a p99, labelled with its name.
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        let sc = report["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == *scenario).unwrap();
        let detecting: Vec<&str> = sc["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|st| st["client"]["detected"].as_u64().unwrap() + st["server"]["detected"].as_u64().unwrap() > 0)
            .map(|st| st["name"].as_str().unwrap())
            .collect();
        assert!(!detecting.is_empty(), "{scenario}: a vanish or reboot is detected by someone");
        let cdf = figures.iter().find(|f| f.starts_with("cdf")).unwrap();
        // A CDF line is a 2-px polyline stepping up once per detection: from
        // (0, 0), two points per sample, out to the right edge: 2k + 2 points.
        let lines: Vec<usize> = cdf
            .split("<polyline")
            .skip(1)
            .filter(|p| p.contains("stroke-width=\"2\""))
            .map(|p| p.split("points=\"").nth(1).unwrap().split('"').next().unwrap().split_whitespace().count())
            .filter(|&n| n > 2)
            .collect();
        let steps: Vec<usize> = sc["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|st| (st["client"]["detected"].as_u64().unwrap() + st["server"]["detected"].as_u64().unwrap()) as usize)
            .filter(|&k| k > 0)
            .map(|k| 2 * k + 2)
            .collect();
        assert_eq!(lines, steps, "{scenario}: one CDF line per detecting strategy, a step per detection");
        // Its legend sits under the picture (HTML, not inside the SVG): one entry per line, in the line's order.
        let (svg, legend) = cdf.split_once("</svg>").unwrap();
        for name in &detecting {
            assert!(legend.contains(&format!("&#9644;</b> {name}</span>")), "{scenario}: CDF legend names {name}");
            assert!(!svg.contains(&format!(">\n{name}\n<")), "{scenario}: {name} written over the curves");
        }
        assert_eq!(legend.matches("&#9644;").count(), detecting.len(), "{scenario}: no legend entry for a strategy without a line");
        let tradeoff = figures.iter().find(|f| f.starts_with("tradeoff")).unwrap();
        assert_eq!(tradeoff.matches("<circle").count(), detecting.len(), "{scenario}: a trade-off point per detecting strategy");
        // Each point carries its strategy's number; the legend under the picture names it.
        let names_in_order: Vec<&str> = sc["strategies"].as_array().unwrap().iter().map(|st| st["name"].as_str().unwrap()).collect();
        for name in &detecting {
            let number = names_in_order.iter().position(|n| n == name).unwrap() + 1;
            assert!(tradeoff.contains(&format!(">\n{number}\n<")), "{scenario}: point numbered {number}");
            assert!(tradeoff.contains(&format!("&#9679; {number}</b> {name}")), "{scenario}: legend entry {number} {name}");
        }
        // Each timeline shows its run's fault and the break it caused.
        // (plotters writes a label's text on a line of its own)
        let fault = if *scenario == "server-reboot" { ">\nreboot\n<" } else { ">\nvanish\n<" };
        for t in figures.iter().filter(|f| f.starts_with("timeline")) {
            assert!(t.contains(fault), "{scenario}: the fault is drawn");
            assert!(t.contains(">\nbroken: "), "{scenario}: the break is drawn");
        }
    }
    // Legible (issue 29): every text in the pictures is at least 11 px (plotters'
    // defaults were 8.9-9.7 px on the 720 px pictures).
    let sizes: Vec<f64> = html.split("font-size=\"").skip(1).map(|s| s.split('"').next().unwrap().parse().unwrap()).collect();
    assert!(!sizes.is_empty() && sizes.iter().all(|&px| px >= 11.0), "{sizes:?}");
    // Captions say latencies as a reader does ("1h54m10.5s", "33.6s"), never "6850.5 s".
    assert!(!html.contains(" s. <code>") && !html.contains(" s; connection"), "a caption in raw seconds");
    // Self-contained: no scripts, stylesheets, images or fonts from anywhere.
    for needle in ["src=\"http", "href=\"http", "url(", "@import", "<script", "<link"] {
        assert!(!html.contains(needle), "the page fetches: {needle}");
    }
}

/// A fleet's `--out` (issue 29): each strategy's run is drawn as the whole
/// fleet's activity (one bar picture) and one connection's timeline, whose
/// caption replays that connection alone. In seed 3 of
/// fleet-behind-carrier-nat every one of the 50 workers' mappings expires at
/// 20 min (in the first 72-minute stretch); the connection's timeline has a
/// handful of marks (its own outages, the vanish, its break and its
/// declarations), where the whole fleet's had hundreds.
#[test]
fn a_fleets_report_draws_the_fleet_as_bars_and_one_connection_as_a_timeline() {
    let dir = common::temp_folder("html", "fleet");
    let args = ["run", "../scenarios/fleet-behind-carrier-nat.toml", "--seeds", "4", "--strategy", "linux-default", "--out"];
    let out = Command::new(env!("CARGO_BIN_EXE_kasim")).args(args).arg(&dir).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let fleet = html.split("<figure class=\"plot fleet\">").nth(1).expect("a fleet picture");
    assert!(fleet.contains("all 50 connections, per 1h12m"), "{}", &fleet[..300.min(fleet.len())]);
    let timeline = html.split("<figure class=\"plot timeline\">").nth(1).expect("a timeline");
    let caption = timeline.split("</figcaption>").next().unwrap();
    assert!(caption.contains("of that run") && caption.contains(" --connection "), "{caption}");
    let svg = timeline.split("</svg>").next().unwrap();
    let marks = svg.matches("<circle").count() + svg.matches("<rect").count();
    assert!((3..60).contains(&marks), "{marks} marks on one connection's timeline");
}

/// The README's `--out` figure for a 500-client fleet
/// (`examples/fleet-500-behind-carrier-nat.toml`, two seeds, one strategy):
/// the page's four pictures (the latency CDF, the trade-off, the fleet's
/// bars and one connection's timeline) hold 392 SVG elements in all, not
/// one per connection and event. Counted by tag, as the README says.
#[test]
fn a_500_client_fleets_pictures_hold_the_readmes_392_elements() {
    let dir = common::temp_folder("html", "fleet500");
    let args = ["run", "../examples/fleet-500-behind-carrier-nat.toml", "--seeds", "2", "--strategy", "ping-10m-3m", "--out"];
    let out = Command::new(env!("CARGO_BIN_EXE_kasim")).args(args).arg(&dir).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 4);
    let elements: usize = ["<circle", "<line", "<polyline", "<rect", "<text", "<path"].iter().map(|t| html.matches(t).count()).sum();
    assert_eq!(elements, 392);
}
