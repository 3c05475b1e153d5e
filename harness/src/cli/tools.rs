//! `kasim calibrate` and `kasim list`.

use super::files::print_out;
use super::{load_all, CalibrateArgs, CliError, ListArgs, ReplayFormat, EXIT_SKIPPED};
use crate::strategy::KINDS;
use crate::units::format_duration;
use std::process::ExitCode;

/// `kasim calibrate PATH...`: the scenarios on both engines; exit 1 when a figure differs.
fn calibrate_scenarios(args: &CalibrateArgs) -> Result<ExitCode, CliError> {
    super::check_seeds(args.seeds)?;
    let scenarios = load_all(&args.paths)?;
    let rows = super::netns::calibrate_scenarios(&scenarios, args.seeds, args.max_wall)?;
    match args.format {
        ReplayFormat::Text => print_out(&crate::netns::compare::table(&rows))?,
        ReplayFormat::Json => {
            print_out(&format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({ "scenarios": rows })).unwrap_or_default()))?
        }
    }
    Ok(if rows.iter().all(|r| r.ok) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `kasim calibrate`: with PATH, those scenarios on both engines; without,
/// the bundled calibration set: the kernel cases (real sockets against the
/// model's twin of each), then the calibration scenarios on both engines.
pub fn calibrate(args: &CalibrateArgs) -> Result<ExitCode, CliError> {
    use crate::calibrate;
    if args.reps == 0 || args.reps > 20 {
        return Err(CliError::BadFlag { flag: "reps", message: "allowed: 1..=20".into() });
    }
    if let Err(why) = calibrate::available() {
        eprintln!("SKIPPED: kasim calibrate cannot build its testbed here: {why}");
        return Ok(ExitCode::from(EXIT_SKIPPED));
    }
    if !args.paths.is_empty() {
        return calibrate_scenarios(args);
    }
    super::check_seeds(args.seeds)?;
    let scenarios = crate::catalogue::calibration().map_err(CliError::Scenario)?;
    // Our namespaces go away on Ctrl-C and kill too; those a killed run left are reaped now.
    super::signals::on_signal(calibrate::remove_all);
    let reaped = calibrate::reap_stale();
    if !reaped.is_empty() {
        eprintln!("removed {} network namespaces left by an earlier run that was killed: {}", reaped.len(), reaped.join(", "));
    }
    eprintln!("calibrating {} cases x {} repetitions in parallel (about 30 s)...", calibrate::Case::ALL.len(), args.reps);
    let cases = calibrate::run(&calibrate::Case::ALL, args.reps);
    calibrate::remove_all();
    let rows = super::netns::calibrate_scenarios(&scenarios, args.seeds, args.max_wall)?;
    match args.format {
        ReplayFormat::Text => print_out(&format!("{}\n{}", calibrate::table(&cases), crate::netns::compare::table(&rows)))?,
        ReplayFormat::Json => {
            let doc: Vec<serde_json::Value> = cases
                .iter()
                .map(|r| match r {
                    Ok(row) => serde_json::to_value(row).unwrap_or_default(),
                    Err(e) => serde_json::json!({ "error": e }),
                })
                .collect();
            let doc = serde_json::json!({ "cases": doc, "scenarios": rows });
            print_out(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default()))?;
        }
    }
    if cases.iter().any(|r| r.is_err()) {
        return Ok(ExitCode::from(2));
    }
    let ok = cases.iter().all(|r| r.as_ref().is_ok_and(|r| r.ok)) && rows.iter().all(|r| r.ok);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Width of `kasim list`'s name column.
const NAME_COLUMN: usize = 28;

/// `kasim list`: the scenarios with their strategies, then the strategy kinds.
pub fn list(args: &ListArgs) -> Result<ExitCode, CliError> {
    if args.presets {
        print_out(&crate::scenario::presets::listing())?;
        return Ok(ExitCode::SUCCESS);
    }
    let scenarios = load_all(&args.paths)?;
    use std::fmt::Write as _;
    let mut out = String::from("Scenarios:\n");
    for s in &scenarios {
        let names: Vec<&str> = s.strategies.iter().map(|st| st.name.as_str()).collect();
        // A bundled scenario's `<bundled>/…` path is no file: say what commands accept.
        let place =
            if s.path.starts_with("<bundled>") { "bundled (commands take its name)".to_string() } else { s.path.display().to_string() };
        // A name that fills its column gets a line of its own, so it never runs into the path.
        let head =
            if s.name.len() < NAME_COLUMN { format!("{:<NAME_COLUMN$}", s.name) } else { format!("{}\n  {:<NAME_COLUMN$}", s.name, "") };
        let _ = writeln!(out, "  {head} {place} (horizon {}, {} seeds)", format_duration(s.horizon), s.seeds);
        for line in s.description.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            let _ = writeln!(out, "  {:<NAME_COLUMN$} {}", "", line);
        }
        let _ = writeln!(out, "  {:<NAME_COLUMN$} strategies: {}", "", names.join(", "));
    }
    // Files named on the command line: only the kinds they use (the catalogue: every kind).
    let used: Vec<&str> = scenarios.iter().flat_map(|s| s.strategies.iter().map(|st| st.kind_name())).collect();
    let kinds: Vec<_> = KINDS.iter().filter(|k| args.paths.is_empty() || used.contains(&k.kind)).collect();
    if args.paths.is_empty() {
        out.push_str("\nStrategy kinds (parameter = default):\n");
    } else {
        out.push_str("\nStrategy kinds these files use (parameter = default; `kasim list` prints every kind):\n");
    }
    for k in kinds {
        let _ = writeln!(out, "  {:<14} {}", k.kind, k.help);
        for p in k.params {
            let _ = writeln!(out, "      {:<22} = {:<8} {}", p.name, p.default, p.help);
        }
    }
    print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `kasim doctor`: findings of every scenario; exit 1 when any is an error.
pub fn doctor(args: &super::DoctorArgs) -> Result<ExitCode, CliError> {
    let scenarios = load_all(&args.paths)?;
    let pool = super::worker_pool(args.seeds, args.jobs)?;
    super::check_seed_range(&scenarios, args.seeds)?;
    let findings: Vec<crate::doctor::Finding> =
        pool.install(|| scenarios.iter().flat_map(|s| crate::doctor::examine(s, args.seeds)).collect());
    match args.format {
        ReplayFormat::Text => print_out(&crate::doctor::text(&findings))?,
        ReplayFormat::Json => {
            let mut text = serde_json::to_string_pretty(&serde_json::json!({ "findings": findings })).unwrap_or_default();
            text.push('\n');
            print_out(&text)?;
        }
    }
    let errors = findings.iter().any(|f| f.severity == crate::doctor::Severity::Error);
    Ok(if errors { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
