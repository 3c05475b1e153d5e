//! `kasim run --out DIR` writes `index.html`: one self-contained page with,
//! per scenario, the comparison table, a latency CDF, the trade-off scatter
//! and a timeline per strategy, all as inline SVG with data in them.

use std::process::Command;

#[test]
fn index_html_has_every_scenario_strategy_and_plot_with_data_and_fetches_nothing() {
    let dir = std::env::temp_dir().join(format!("kasim-html-{}", std::process::id()));
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
        }
        // Every figure is an SVG that carries data, not an empty frame.
        let figures: Vec<&str> = section.split("<figure class=\"plot ").skip(1).collect();
        assert_eq!(figures.len(), 2 + names.len(), "{scenario}: CDF, trade-off, one timeline per strategy");
        for f in &figures {
            assert!(f.contains("<svg") && f.contains("</svg>"), "{scenario}: an SVG in {}", &f[..40]);
        }
        let cdf = figures.iter().find(|f| f.starts_with("cdf")).unwrap();
        assert!(cdf.contains("<polyline"), "{scenario}: CDF lines");
        let tradeoff = figures.iter().find(|f| f.starts_with("tradeoff")).unwrap();
        assert!(tradeoff.contains("<circle"), "{scenario}: trade-off points");
        for t in figures.iter().filter(|f| f.starts_with("timeline")) {
            assert!(t.contains("<circle"), "{scenario}: timeline marks");
        }
    }
    // Self-contained: no scripts, stylesheets, images or fonts from anywhere.
    for needle in ["src=\"http", "href=\"http", "url(", "@import", "<script", "<link"] {
        assert!(!html.contains(needle), "the page fetches: {needle}");
    }
}
