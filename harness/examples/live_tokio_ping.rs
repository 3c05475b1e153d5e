//! A tokio ping/pong keepalive, written the way an application writes it,
//! run unchanged on turmoil hosts against a bundled scenario and judged by
//! kasim's oracle, next to kasim's own `app_ping` with the same policy.
//!
//!     cargo run --release --features harness/live --example live_tokio_ping

use harness::live::{self, DeathHandle, LiveConfig, LiveStrategy, LocalTask};
use harness::runner;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::TcpStream;

/// Our application's keepalive: every `every`, send "PING" + a counter; if no
/// matching "PONG" comes back within `patience`, the server is gone.
struct MyKeepalive {
    every: Duration,
    patience: Duration,
}

impl LiveStrategy for MyKeepalive {
    fn client(&self, stream: TcpStream, dead: DeathHandle) -> LocalTask {
        let (every, patience) = (self.every, self.patience);
        Box::pin(async move {
            let (mut rx, mut tx) = stream.into_split();
            let mut n: u32 = 0;
            loop {
                tokio::time::sleep(every).await;
                n += 1;
                let mut ping = *b"PING\0\0\0\0";
                ping[4..].copy_from_slice(&n.to_be_bytes());
                if tx.write_all(&ping).await.is_err() {
                    return dead.declare_dead("send failed");
                }
                let answered = tokio::time::timeout(patience, async {
                    let mut pong = [0u8; 8];
                    loop {
                        rx.read_exact(&mut pong).await?;
                        if &pong[..4] == b"PONG" && pong[4..] == n.to_be_bytes() {
                            return Ok::<_, std::io::Error>(());
                        }
                    }
                })
                .await;
                match answered {
                    Ok(Ok(())) => continue,
                    Ok(Err(_)) => return dead.declare_dead("connection error"),
                    Err(_) => return dead.declare_dead("ping timeout"),
                }
            }
        })
    }

    fn server(&self, stream: TcpStream, _dead: DeathHandle) -> LocalTask {
        Box::pin(async move {
            let (mut rx, mut tx) = stream.into_split();
            let mut msg = [0u8; 8];
            while rx.read_exact(&mut msg).await.is_ok() {
                msg[..4].copy_from_slice(b"PONG");
                if tx.write_all(&msg).await.is_err() {
                    return;
                }
            }
        })
    }
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/live-server-vanish.toml");
    let scenario = harness::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mine: Rc<dyn LiveStrategy> = Rc::new(MyKeepalive { every: Duration::from_secs(60), patience: Duration::from_secs(10) });
    let runs: Vec<_> = runner::seeds(&scenario, None)
        .into_iter()
        .map(|seed| {
            let r =
                live::run(&scenario, mine.clone(), Duration::from_secs(70), seed, LiveConfig::default()).unwrap_or_else(|e| panic!("{e}"));
            harness::summary::RunSummary::of(&r)
        })
        .collect();
    let app = scenario
        .strategies
        .iter()
        .find(|s| matches!(s.kind(), harness::strategy::StrategyKind::AppPing { .. }))
        .expect("the scenario's app_ping");
    let event = runner::run_scenario(&scenario, &[app], None, &|| {});
    let mut section = runner::scenario_report(&scenario, &[app], &event, scenario.seeds);
    section.strategies.push(harness::metrics::aggregate(
        "my-tokio-keepalive (live)",
        "live",
        harness::strategy::TransportKind::Tcp,
        scenario.horizon,
        &runs,
    ));
    print!("{}", reports::render::table(&reports::Report { scenarios: vec![section], ..Default::default() }));
}
