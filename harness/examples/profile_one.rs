fn main() {
    let s = harness::scenario::load(std::path::Path::new("scenarios/buildbot-dialup.toml")).unwrap();
    for st in &s.strategies {
        for seed in 0..40 {
            let t = std::time::Instant::now();
            let r = harness::runner::run_one(&s, st, seed, false);
            if t.elapsed().as_millis() > 50 {
                println!("{} seed {seed} events {} in {:?} stats {:?}", st.name, r.outcome.events_processed, t.elapsed(), r.outcome.stats[0].packets);
            }
        }
    }
}
