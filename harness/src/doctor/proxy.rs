//! The doctor's rules about a TCP-terminating proxy on the path: the boxes
//! beside it, the keepalive that should keep it open, and the client pool
//! in front of it. Why a proxy needs rules of its own: it ends the client's
//! TCP connection, so what keeps a NAT's mapping (a kernel keepalive's
//! probes) may never reach its timers, and its idle close is a FIN that a
//! request can cross.

use super::{evidence, first_showing, seconds};
use crate::scenario::Scenario;
use crate::strategy::StrategySpec;
use crate::summary::RunSummary;

/// `box-forgets-before-proxy`: a NAT-like box next to the proxy that forgets
/// an idle flow before the proxy closes that connection: on the clients'
/// side, an idle client connection is lost in the box (a RST or a silent
/// drop) where the proxy would have closed it with a FIN the client sees;
/// on the server's side, the proxy's backend connection is. The question
/// of kubernetes/ingress-nginx#5695 ("NLB in front of ingress-nginx: which
/// timeout must be larger?"): the proxy's, shorter.
pub(super) fn box_before_proxy(
    s: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    let (Some(at), Some(proxy)) = (s.proxy_position(), s.proxy()) else { return };
    let proxy_name = s.box_name(at);
    for (k, nat) in s.nats() {
        // The proxy's timer on that side: the client's leg in front of it, the server's behind.
        let (keeps, leg) = match (k < at, proxy.per_side()) {
            (true, true) => (proxy.client_timeout, "client connection"),
            (false, true) => (proxy.server_timeout, "connection to the server"),
            (true, false) => (proxy.idle_timeout, "client connection"),
            (false, false) => (proxy.idle_timeout, "connection to the server"),
        };
        if keeps.is_some_and(|p| p < nat.idle_timeout) {
            continue;
        }
        let (strategy, seed) = first_showing(strategies, runs, |x| x.expiries_while_held() > 0);
        let box_name = s.box_name(k);
        let side = if k < at { "in front of" } else { "behind" };
        let message = format!(
            "{box_name} {side} the proxy ({proxy_name}) forgets a TCP flow idle for {} but the proxy keeps an idle {leg} {}: \
             the connection is lost in the box ({}) where the proxy would have closed it with a FIN; make the proxy's idle \
             timeout shorter than the box's, or keep the flow busy{}",
            seconds(nat.idle_timeout),
            keeps.map_or("for ever".to_string(), |p| format!("for {}", seconds(p))),
            if nat.on_expired == sim::nat::OnExpired::Rst { "its next packet meets a RST" } else { "its next packet is dropped" },
            seed.map_or(" (no seed run lost a mapping)".to_string(), |seed| format!(" (seed {seed} loses one)"))
        );
        finding(strategy, "box-forgets-before-proxy", message, seed);
    }
}

/// "the proxy", naming its place in a `[[middlebox]]` chain.
pub(super) fn the_proxy(s: &Scenario, at: usize) -> String {
    if s.chained {
        format!("the proxy ({})", s.box_name(at))
    } else {
        "the proxy".to_string()
    }
}

/// The proxy's position and client-side idle timeout, when it is the
/// first on the path to close an idle connection: neither application
/// closes one sooner (a server that does is `server-closes-before-proxy`'s,
/// a pool that does is sound).
fn proxy_closes_first(s: &Scenario) -> Option<(usize, std::time::Duration)> {
    let timeout = s.proxy()?.forwards_for()?;
    let sooner = [s.client_idle_timeout, s.server_idle_timeout].into_iter().flatten().any(|t| t <= timeout);
    (!sooner).then_some((s.proxy_position()?, timeout))
}

/// `proxy-closes-idle-connection`: a keepalive that does not keep the
/// proxy's client connection open. The proxy's client-side timer (an ALB's
/// idle timeout, haproxy's `timeout client`) is restarted only by data it
/// relays: a kernel keepalive's probes are answered by the proxy's own
/// kernel and never reach it (measured on haproxy 2.6, DESIGN.md), and an
/// application ping slower than the timer comes too late.
pub(super) fn proxy_closes_idle_connection(
    s: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    let Some((at, timeout)) = proxy_closes_first(s) else { return };
    for (st, runs) in strategies.iter().zip(runs) {
        // A UDP flow does not cross a TCP proxy's timers; a strategy that sends nothing keeps nothing open.
        if super::over_udp(st) {
            continue;
        }
        let kernel = st.kind().is_kernel_keepalive();
        let says = match st.kind().quiet_period() {
            Some(_) if kernel => {
                format!("{}'s kernel keepalive probes are answered by the proxy's own stack and never restart that timer", st.name)
            }
            Some((q, key)) if q >= timeout => format!("{} stays quiet up to {} ({key})", st.name, seconds(q)),
            _ => continue,
        };
        let (seed, count) = evidence(runs, |r| r.orderly_ends > 0);
        let message = format!(
            "{} closes a client connection idle for {}, and {says}: an idle connection the strategy means to keep is \
             closed by the proxy; send application-level pings more often than {}, or raise the proxy's idle timeout: {}",
            the_proxy(s, at),
            seconds(timeout),
            seconds(timeout),
            match seed {
                Some(seed) => format!("{count} of {} seeds show a connection closed idle (first: seed {seed})", runs.len()),
                None => format!("none of {} seeds showed one (traffic kept it busy, or it broke first)", runs.len()),
            }
        );
        finding(&st.name, "proxy-closes-idle-connection", message, seed);
    }
}

/// `pool-outlives-proxy-idle`: a client pool that keeps an idle connection
/// at least as long as the proxy in front of the server does. The proxy's
/// idle close is a FIN that takes a one-way delay to reach the client; a
/// request the pool sends on that connection in between meets a closed
/// connection and fails (the ALB/node race of nodejs/node#20256, one hop
/// earlier). The downstream must give up first: the pool's max-idle under
/// the proxy's idle timeout. Judged on the strategies whose connections
/// reach the proxy's timer: where a NAT in front forgets sooner, only those
/// whose packets keep it.
pub(super) fn pool_outlives_proxy_idle(
    s: &Scenario,
    strategies: &[&StrategySpec],
    runs: &[Vec<RunSummary>],
    finding: &mut impl FnMut(&str, &'static str, String, Option<u64>),
) {
    let requests = s.traffic.iter().any(|t| t.kind == crate::scenario::TrafficKind::Requests && t.from == sim::Side::Client);
    let Some((at, proxy_idle)) = proxy_closes_first(s) else { return };
    if !requests {
        return;
    }
    let pool = s.client_idle_timeout;
    // A NAT in front that forgets sooner loses the idle connection first
    // (its own rules say so), unless the strategy's packets keep it.
    let front = s.nats().filter(|&(k, _)| k < at).map(|(_, n)| n.idle_timeout).min().filter(|&n| n <= proxy_idle);
    let reach = |st: &StrategySpec| front.is_none_or(|n| !super::over_udp(st) && st.kind().quiet_period().is_some_and(|(q, _)| q < n));
    let (strategies, runs): (Vec<&StrategySpec>, Vec<Vec<RunSummary>>) =
        strategies.iter().zip(runs).filter(|(st, _)| reach(st)).map(|(st, r)| (*st, r.clone())).unzip();
    if strategies.is_empty() {
        return;
    }
    let failed = |r: &RunSummary| r.session.as_ref().is_some_and(|x| x.requests.failed > 0);
    let (strategy, seed) = first_showing(&strategies, &runs, failed);
    let message = format!(
        "the client pool keeps an idle connection {} but {} closes it after {}: a request sent while the proxy's FIN \
         is on its way fails; close idle connections in the client first ([client.app] idle_timeout under {}){}",
        pool.map_or("for ever".to_string(), |c| format!("for {}", seconds(c))),
        the_proxy(s, at),
        seconds(proxy_idle),
        seconds(proxy_idle),
        seed.map_or(" (no seed run showed a failed request)".to_string(), |seed| format!(" (seed {seed} shows a failed request)"))
    );
    finding(strategy, "pool-outlives-proxy-idle", message, seed);
}
