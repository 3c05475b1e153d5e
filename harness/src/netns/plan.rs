//! A run's faults as the actions they take on real hosts, in time order
//! (vanish: break, power off, SIGSTOP; reboot: break, power off, kill and a
//! fresh namespace, then power on and restart; crash: break and kill, then
//! restart if it says so; suspend: power off and SIGSTOP, then back).
//! Outages and NAT expiry are the network models' own.

use crate::record::DerivedFault;
use crate::scenario::FaultKind;
use sim::oracle::BreakCause;
use sim::world::HostRef;
use sim::{Instant, Side};

/// One thing a fault does to host number `usize` (clients `0..n`, then the
/// server, then the proxy if there is one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Action {
    /// The ground truth: the host's connections break, for this cause.
    Break(usize, BreakCause),
    /// The network drops everything of the host (`false`), or carries it again.
    Power(usize, bool),
    /// SIGSTOP to its programs.
    Stop(usize),
    /// SIGCONT to its programs.
    Resume(usize),
    /// Kill its programs; `true`: also replace its namespace (a reboot's empty socket state).
    Kill(usize, bool),
    /// Start its program again.
    Restart(usize),
    /// NAT `usize` of the chain (from the clients) forgets every mapping.
    NatReboot(usize),
}

/// The host a fault acts on (`None`: the NAT).
pub(super) fn host_index(f: &DerivedFault, server: usize, proxy: Option<usize>) -> Option<usize> {
    match f.host {
        Some(HostRef::Client(c)) => Some(c as usize),
        Some(HostRef::Server) => Some(server),
        Some(HostRef::Proxy) => proxy,
        _ => None,
    }
}

/// The actions a run's faults take, in time order.
pub(super) fn actions(faults: &[DerivedFault], server: usize, proxy: Option<usize>) -> Vec<(Instant, Action)> {
    let mut v = Vec::new();
    for f in faults {
        let at = Instant::ZERO + f.at;
        let end = at + f.duration.unwrap_or_default();
        let Some(h) = host_index(f, server, proxy) else {
            if f.kind == FaultKind::NatReboot {
                // Every NAT stands before the proxy: a box's position is its NAT index.
                v.push((at, Action::NatReboot(f.middlebox.unwrap_or(0) as usize)));
            }
            continue;
        };
        // The proxy is its clients' server, as in the event engine.
        let side = if h >= server { Side::Server } else { Side::Client };
        match f.kind {
            FaultKind::Vanish => {
                v.extend([(at, Action::Break(h, BreakCause::Vanish(side))), (at, Action::Power(h, false)), (at, Action::Stop(h))])
            }
            FaultKind::Reboot => v.extend([
                (at, Action::Break(h, BreakCause::Reboot(side))),
                (at, Action::Power(h, false)),
                (at, Action::Kill(h, true)),
                (end, Action::Power(h, true)),
                (end, Action::Restart(h)),
            ]),
            FaultKind::Crash => {
                v.extend([(at, Action::Break(h, BreakCause::Crash(side))), (at, Action::Kill(h, false))]);
                if f.duration.is_some() {
                    v.push((end, Action::Restart(h)));
                }
            }
            FaultKind::Suspend => {
                v.extend([(at, Action::Power(h, false)), (at, Action::Stop(h)), (end, Action::Power(h, true)), (end, Action::Resume(h))])
            }
            FaultKind::Outage | FaultKind::NatReboot => {}
        }
    }
    v.sort_by_key(|a| a.0);
    v
}
