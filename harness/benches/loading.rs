//! What loading a scenario costs as it grows: files of 5 000 to 40 000
//! `[[expect]]` entries (each remembers its line) and `[[fault]]` entries.
//! `cargo bench -p harness --bench loading` prints the time per entry at
//! each size; loading is linear when that figure stays flat as the file
//! grows 8-fold (it grew with the file while each position rescanned the
//! text before it: 40 000 expectations took 86 s).

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

fn text(n: usize, fault: bool) -> String {
    let mut s = String::from("name = \"big\"\nhorizon = \"1h\"\n[[strategy]]\nname = \"n\"\nkind = \"none\"\n");
    for i in 0..n {
        if fault {
            let _ = write!(s, "[[fault]]\nkind = \"outage\"\ntarget = \"client.link\"\nat = \"{}s\"\nduration = \"1s\"\n", i % 3000 + 1);
        } else {
            s.push_str("[[expect]]\nstrategy = \"n\"\nside = \"client\"\nmetric = \"false_positives\"\nle = 5\n");
        }
    }
    s
}

fn main() {
    for fault in [false, true] {
        for n in [5_000, 10_000, 20_000, 40_000] {
            let src = text(n, fault);
            let best = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    harness::scenario::parse(Path::new("big.toml"), &src).expect("valid");
                    t.elapsed()
                })
                .min()
                .expect("three runs");
            let what = if fault { "faults" } else { "expects" };
            println!("{n:>6} {what:<8} {:>8.1} ms  {:>6.2} us per entry", best.as_secs_f64() * 1e3, best.as_secs_f64() * 1e6 / n as f64);
        }
    }
}
