//! The scenario file's units: durations ("250ms", "75s", "20m", "2h", "3d"),
//! sizes ("200B", "64KiB", "5MB"), rates ("56kbit/s", "1Mbit/s"), and times
//! that may be random ("exp(6h)", "uniform(30h, 60h)", or a fixed duration).
//!
//! Durations go through `humantime` (which knows "3d" and "250ms"), after a
//! check that the string is a plain number-unit sequence. Each parser returns
//! what is allowed in its error, so the scenario loader can say it.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// What was wrong with a value, and what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}; allowed: {allowed}")]
pub struct UnitError {
    /// What is wrong, quoting the value ("\"5 parsecs\" is not a duration").
    pub problem: String,
    /// The forms accepted: one of [`DURATION_ALLOWED`], [`SIZE_ALLOWED`], [`RATE_ALLOWED`],
    /// [`TIME_ALLOWED`], or a range.
    pub allowed: &'static str,
}

/// The duration forms a scenario may write, as error messages list them.
pub const DURATION_ALLOWED: &str =
    "a duration such as \"250ms\", \"75s\", \"1.5m\", \"20m\", \"2h 11m\", \"3d\" (units ns, us, ms, s, m = minutes, h, d, w; or sec, min, hours, days, weeks)";
/// The size forms a scenario may write (`queue`, `size`, `reply`, `ping_size`).
pub const SIZE_ALLOWED: &str = "a size such as \"200B\", \"64KiB\", \"5MB\" (B, KB, MB, GB, KiB, MiB, GiB)";
/// The rate forms a scenario may write (`[client.link] up`, `down`).
pub const RATE_ALLOWED: &str = "a rate such as \"56kbit/s\", \"1Mbit/s\" (bit/s, kbit/s, Mbit/s, Gbit/s)";
/// The forms of a time that may be random (`at`, `every`, `duration`).
pub const TIME_ALLOWED: &str = "a duration (\"26h\"), \"exp(MEAN)\" or \"uniform(A, B)\"";

fn err(problem: String, allowed: &'static str) -> UnitError {
    UnitError { problem, allowed }
}

/// The unit names a duration may use (humantime's, less months and years).
const DURATION_UNITS: &[&str] = &[
    "ns", "nsec", "us", "usec", "ms", "msec", "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes", "h", "hr",
    "hrs", "hour", "hours", "d", "day", "days", "w", "week", "weeks",
];

/// A duration: humantime's syntax ("250ms", "2h 11m", "1.5m", "3d"), without months or
/// years (no fixed length) and without "M" (months to the parser, minutes to many
/// readers); at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let t = s.trim();
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(err(format!("\"{s}\" is not a duration"), DURATION_ALLOWED));
    }
    // Each unit: "M" is months to humantime and minutes to many readers;
    // months and years have no fixed length. Refuse them by name.
    for unit in t.split(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace()).filter(|u| !u.is_empty()) {
        if unit == "M" {
            return Err(err(format!("\"{s}\" is ambiguous: M means months to the parser and minutes to many readers"), DURATION_ALLOWED));
        }
        if !DURATION_UNITS.contains(&unit) {
            let lower = unit.to_ascii_lowercase();
            let hint = if DURATION_UNITS.contains(&lower.as_str()) {
                format!("units are lower case: write \"{lower}\"")
            } else if ["mo", "mon", "month", "months", "y", "yr", "yrs", "year", "years"].contains(&lower.as_str()) {
                "months and years have no fixed length: write days".to_string()
            } else {
                "see the units below".to_string()
            };
            return Err(err(format!("\"{s}\": unknown unit \"{unit}\" ({hint})"), DURATION_ALLOWED));
        }
    }
    let d = humantime::parse_duration(t).map_err(|e| err(format!("\"{s}\" is not a duration ({e})"), DURATION_ALLOWED))?;
    // No timer in a scenario means anything past a century, and sums of
    // durations that large would overflow (found by the fuzzer).
    if d > MAX_DURATION {
        return Err(err(format!("\"{s}\" is longer than any scenario can use"), "at most 36500d (a century)"));
    }
    Ok(d)
}

/// The longest duration a scenario may write anywhere.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// Split "12.5KiB" into (12.5, "KiB").
fn number_and_unit(s: &str) -> Option<(f64, &str)> {
    let t = s.trim();
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let n: f64 = t[..end].parse().ok()?;
    Some((n, t[end..].trim()))
}

/// The largest size a scenario may give (a message, a reply, a ping, a
/// queue): 1 TiB. Past it the model's byte counters near 2^64 (a message
/// within ~1.2e9 B of it was logged "written" and never sent); 1 TiB takes
/// 2.4 h at 1 Gbit/s.
pub const MAX_SIZE: u64 = 1 << 40;

/// The fastest link rate a scenario may give: 1 Tbit/s.
pub const MAX_RATE: u64 = 1_000_000_000_000;

/// A size in bytes: decimal (KB = 1000 B, MB, GB) or binary units (KiB = 1024 B, MiB,
/// GiB), fractions rounded to the nearest byte; at most [`MAX_SIZE`].
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let bad = || err(format!("\"{s}\" is not a size"), SIZE_ALLOWED);
    let (n, unit) = number_and_unit(s).ok_or_else(bad)?;
    let mult: f64 = match unit {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = (n * mult).round();
    if bytes > MAX_SIZE as f64 {
        return Err(err(format!("\"{s}\" is more than 1 TiB"), "a size up to \"1024GiB\" (1099511627776 B)"));
    }
    Ok(bytes as u64)
}

/// A rate in bits per second: bit/s, kbit/s (1000), Mbit/s, Gbit/s (or bps, kbps, Mbps,
/// Gbps), rounded to the nearest bit/s.
pub fn parse_rate(s: &str) -> Result<u64, UnitError> {
    let bad = || err(format!("\"{s}\" is not a rate"), RATE_ALLOWED);
    let (n, unit) = number_and_unit(s).ok_or_else(bad)?;
    let mult: f64 = match unit {
        "bit/s" | "bps" => 1.0,
        "kbit/s" | "kbps" => 1e3,
        "Mbit/s" | "Mbps" => 1e6,
        "Gbit/s" | "Gbps" => 1e9,
        _ => return Err(bad()),
    };
    let rate = (n * mult).round();
    if rate > MAX_RATE as f64 {
        return Err(err(format!("\"{s}\" is more than 1 Tbit/s"), "a rate up to \"1000Gbit/s\""));
    }
    Ok(rate as u64)
}

/// For command-line flags: a duration, with the allowed forms in the error.
pub fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// A time that may be drawn at random, per seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RandomTime {
    /// A fixed duration ("26h").
    Fixed(Duration),
    /// Exponential with this mean.
    Exp(Duration),
    /// `uniform(A, B)`: uniform between the two bounds, `A <= B`.
    Uniform(Duration, Duration),
}

impl RandomTime {
    /// Read a fixed duration, `exp(MEAN)` (mean above zero) or `uniform(A, B)` (`A <= B`).
    pub fn parse(s: &str) -> Result<RandomTime, UnitError> {
        let t = s.trim();
        let inner = |prefix: &str| t.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
        if let Some(mean) = inner("exp(") {
            let mean =
                parse_duration(mean).map_err(|e| err(format!("\"{s}\": the mean is not a duration: {}", e.problem), TIME_ALLOWED))?;
            if mean.is_zero() {
                return Err(err(format!("\"{s}\": the mean must be greater than zero"), TIME_ALLOWED));
            }
            return Ok(RandomTime::Exp(mean));
        }
        if let Some(args) = inner("uniform(") {
            let (a, b) = args.split_once(',').ok_or_else(|| err(format!("\"{s}\" needs two bounds"), TIME_ALLOWED))?;
            let a =
                parse_duration(a).map_err(|e| err(format!("\"{s}\": the lower bound is not a duration: {}", e.problem), TIME_ALLOWED))?;
            let b =
                parse_duration(b).map_err(|e| err(format!("\"{s}\": the upper bound is not a duration: {}", e.problem), TIME_ALLOWED))?;
            if b < a {
                return Err(err(format!("\"{s}\": the upper bound is below the lower"), TIME_ALLOWED));
            }
            return Ok(RandomTime::Uniform(a, b));
        }
        parse_duration(t).map(RandomTime::Fixed).map_err(|_| err(format!("\"{s}\" is not a time"), TIME_ALLOWED))
    }

    /// The latest value this can take (exp: unbounded).
    pub fn max(&self) -> Option<Duration> {
        match *self {
            RandomTime::Fixed(d) => Some(d),
            RandomTime::Uniform(_, b) => Some(b),
            RandomTime::Exp(_) => None,
        }
    }

    /// The earliest value this can take.
    pub fn min(&self) -> Duration {
        match *self {
            RandomTime::Fixed(d) | RandomTime::Uniform(d, _) => d,
            RandomTime::Exp(_) => Duration::ZERO,
        }
    }

    /// Draw one value, to the millisecond (so printed values replay exactly).
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        let ms = match *self {
            RandomTime::Fixed(d) => return d,
            RandomTime::Exp(mean) => {
                let u: f64 = rng.random::<f64>();
                -(1.0 - u).ln() * mean.as_secs_f64() * 1000.0
            }
            RandomTime::Uniform(a, b) => {
                let u: f64 = rng.random::<f64>();
                a.as_secs_f64() * 1000.0 + u * (b - a).as_secs_f64() * 1000.0
            }
        };
        Duration::from_millis(ms.round() as u64)
    }
}

/// "1h 30m 0.250s"-style rendering is hard to scan; this prints the shortest
/// exact form ("90m", "250ms", "7875s", "1500us"), which `parse_duration`
/// reads back to the same value.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if !ns.is_multiple_of(1_000_000) {
        // Below the millisecond: whole microseconds, else nanoseconds.
        return if ns.is_multiple_of(1000) { format!("{}us", ns / 1000) } else { format!("{ns}ns") };
    }
    let ms = ns / 1_000_000;
    for (unit, div) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= div && ms.is_multiple_of(div) {
            return format!("{}{unit}", ms / div);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_duration("2h 11m"), Ok(Duration::from_secs(7860)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
        // Documented forms: decimals and long unit names.
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30 sec"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2 hours"), Ok(Duration::from_secs(7200)));
        // "M" is months to humantime (5M = 13 150 080 s) and minutes to many readers: refused.
        let e = parse_duration("5M").unwrap_err();
        assert!(e.problem.contains("\"5M\" is ambiguous"), "{e}");
        for bad in ["1y", "2months", "3 years", "4mo"] {
            assert!(parse_duration(bad).unwrap_err().problem.contains("unknown unit"), "{bad}");
        }
        // A century at most: u64::MAX seconds as an app_ping timeout overflowed
        // a sum of durations (found by the fuzzer).
        assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
        let e = parse_duration("18446744073709551615s").unwrap_err();
        assert_eq!(e.allowed, "at most 36500d (a century)");
    }

    /// Exact, shortest, and read back to the same value: `--vary x=1ms..3ms/0.5ms`
    /// printed "1ms, 1ms, 2ms" when the half milliseconds were dropped.
    #[test]
    fn durations_print_exactly() {
        for (d, text) in [
            (Duration::from_micros(1500), "1500us"),
            (Duration::from_millis(1), "1ms"),
            (Duration::from_nanos(250), "250ns"),
            (Duration::from_micros(2), "2us"),
            (Duration::from_secs(5400), "90m"),
            (Duration::from_millis(7_875_000), "7875s"),
            (Duration::ZERO, "0ms"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text} reads back");
        }
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("200B"), Ok(200));
        assert_eq!(parse_rate("56kbit/s"), Ok(56_000));
        assert_eq!(parse_rate("33.6kbit/s"), Ok(33_600));
        assert!(parse_rate("56k").unwrap_err().allowed.contains("kbit/s"));
    }

    #[test]
    fn random_times() {
        assert_eq!(
            RandomTime::parse("uniform(30h, 60h)"),
            Ok(RandomTime::Uniform(Duration::from_secs(30 * 3600), Duration::from_secs(60 * 3600)))
        );
        assert_eq!(RandomTime::parse("exp(6h)"), Ok(RandomTime::Exp(Duration::from_secs(6 * 3600))));
        // A wrong unit inside says which (issue 29 item 7): "3H" is "3h" in upper case.
        let e = RandomTime::parse("exp(3H)").unwrap_err().to_string();
        assert!(e.contains("the mean is not a duration: \"3H\": unknown unit \"H\" (units are lower case: write \"h\")"), "{e}");
        let e = parse_duration("2 years").unwrap_err().to_string();
        assert!(e.contains("unknown unit \"years\" (months and years have no fixed length: write days)"), "{e}");
        assert_eq!(RandomTime::parse("26h"), Ok(RandomTime::Fixed(Duration::from_secs(26 * 3600))));
        assert!(RandomTime::parse("uniform(5h)").is_err());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let u = RandomTime::Uniform(Duration::from_secs(10), Duration::from_secs(20));
        for _ in 0..100 {
            let v = u.sample(&mut rng);
            assert!(v >= Duration::from_secs(10) && v <= Duration::from_secs(20));
        }
        // The exponential's sample mean over 20 000 draws is within 3 % of the mean.
        let e = RandomTime::Exp(Duration::from_secs(100));
        let mean: f64 = (0..20_000).map(|_| e.sample(&mut rng).as_secs_f64()).sum::<f64>() / 20_000.0;
        assert!((mean - 100.0).abs() < 3.0, "{mean}");
    }

    #[test]
    fn shortest_exact_rendering() {
        assert_eq!(format_duration(Duration::from_secs(7875)), "7875s");
        assert_eq!(format_duration(Duration::from_secs(1200)), "20m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
