//! Fuzzing the command line: random subcommands with flags drawn from the
//! real ones and edge-case values (`--jobs 18446744073709551615`, `--shard
//! 0/3`, `--vary idle=1ns..400d/1ns`, `--require '<=x'`), parsed by clap and
//! then checked as the commands check them before running anything (seeds,
//! jobs, shard, the tune plan on a bundled scenario). A flag must end in
//! a clear error or be accepted, never a panic.

use super::{catching, pick, FuzzStats, DURATIONS, NUMBERS};
use clap::Parser;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

const COMMANDS: &[&str] = &["run", "check", "replay", "list", "merge", "tune", "schema", "calibrate", "nope", ""];
const FLAGS: &[&str] = &[
    "--seeds",
    "--jobs",
    "--shard",
    "--format",
    "--strategy",
    "--out",
    "--engine",
    "--seed",
    "--since",
    "--until",
    "--only",
    "--vary",
    "--require",
    "--minimize",
    "--halving",
    "--all",
    "--check",
    "--limit",
    "--junit",
    "--reps",
    "--pcap",
    "--export-scenario",
    "--tick",
];
const VALUES: &[&str] = &[
    "1/1",
    "0/3",
    "4/3",
    "1/10001",
    "auto",
    "a/b",
    "2/4",
    "json",
    "table",
    "markdown",
    "xml",
    "text",
    "event",
    "live",
    "netns",
    "idle=60s..600s/30s",
    "idle=1ns..400d/1ns",
    "interval=1s,2s,3s",
    "idle=",
    "=",
    "nope=1,2",
    "count=1..1000000/1",
    "nat_expiries_per_run<=0",
    "detection_p99<=1h",
    "<=",
    "false_positives>=1e308",
    "x<=y",
    "keepalive_packets_per_hour",
    "linux-default",
    "keepalive-300-60-3",
    "ka",
    "",
    "-",
    "--",
    "faults",
    "declarations",
    "\u{1b}[31m",
];
const PATHS: &[&str] =
    &["aws-nat-gateway", "server-power-off", "buildbot-dialup", "phone-flaky-cellular-sessions", "/nonexistent.toml", "."];

/// Try `inputs` command lines.
pub fn fuzz_flags(rng: &mut ChaCha8Rng, inputs: u64, stats: &mut FuzzStats) {
    for _ in 0..inputs {
        let mut argv = vec!["kasim".to_string(), pick(rng, COMMANDS)];
        if rng.random_range(0..3) > 0 {
            argv.push(pick(rng, PATHS));
        }
        for _ in 0..rng.random_range(0..6) {
            argv.push(pick(rng, FLAGS));
            let value = match rng.random_range(0..4) {
                0 => pick(rng, NUMBERS),
                1 => pick(rng, DURATIONS).trim_matches('"').to_string(),
                2 => continue,
                _ => pick(rng, VALUES),
            };
            argv.push(value);
        }
        stats.inputs += 1;
        let line = argv.join(" ");
        match catching(|| check(&argv)) {
            Ok(valid) => stats.valid += u64::from(valid),
            Err(message) => stats.panics.push((line, message)),
        }
    }
}

/// Parse `argv` and check what the command would check before running; true if all is accepted.
fn check(argv: &[String]) -> bool {
    use crate::cli::{check_jobs, check_seeds, Cli, Command};
    let Ok(cli) = Cli::try_parse_from(argv) else { return false };
    let seeds_ok = |seeds: Option<u64>| check_seeds(seeds).is_ok();
    match cli.command {
        Command::Run(a) | Command::Check(crate::cli::CheckArgs { run: a, .. }) => {
            let shard = a.shard.as_deref().map(|s| crate::shard::Shard::parse(s, &|_| None));
            seeds_ok(a.seeds) && check_jobs(a.jobs).is_ok() && shard.is_none_or(|s| s.is_ok())
        }
        Command::Tune(a) => {
            let Some(Ok(s)) = crate::catalogue::named(&a.path) else { return false };
            let Some(st) = s.strategies.iter().find(|st| st.name == a.strategy) else { return false };
            if !seeds_ok(a.seeds) || check_jobs(a.jobs).is_err() {
                return false;
            }
            let seeds = crate::runner::seeds(&s, a.seeds.map(|n| n.min(16)));
            match crate::tune::Plan::new(st, &a.vary, &a.require, &a.minimize, seeds, a.halving) {
                Ok(plan) => plan.check_sessions(s.sessions()).is_ok() && !plan.grid().is_empty(),
                Err(_) => false,
            }
        }
        _ => true,
    }
}
