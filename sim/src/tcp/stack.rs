//! Other operating systems' TCP timer rules, as far as they differ from
//! Linux's: where an established connection's retransmissions give up (a
//! count, not Linux's `tcp_retries2` turned into time), how far the RTO
//! backs off, XNU's slop on every RTO, and XNU's connect deadline.
//!
//! Why a handful of numbers and not a second TCP: the questions kasim
//! answers ("when does a Windows client notice a dead server?", "why does
//! macOS give up after ~8 minutes and Linux after 15?") turn on these
//! rules; congestion control, SACK and the rest stay Linux's. The numbers
//! come from documentation and source, not from measuring those stacks here
//! (kasim runs only Linux kernels): every profile says so.

use super::{TcpConfig, TimerModel};
use std::time::Duration;

/// The rules of a stack that are not Linux's. `StackRules::default()` is
/// Linux's (and Android's): every field off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackRules {
    /// An established connection gives up at the retransmission timer that
    /// follows this many retransmissions (Windows `TcpMaxDataRetransmissions`
    /// 5; XNU `TCP_MAXRXTSHIFT` 12). `None`: Linux's `tcp_retries2`, as time.
    pub max_retransmissions: Option<u32>,
    /// The RTO's largest backoff multiplier (XNU's `tcp_backoff` table ends
    /// in 64s); `None`: doubling up to `rto_max`, as Linux.
    pub max_backoff: Option<u32>,
    /// Added to every RTO once established (XNU `TCPTV_REXMTSLOP`, 200 ms,
    /// `TCP_ADD_REXMTSLOP`); zero on Linux.
    pub rto_slop: Duration,
    /// A connect gives up this long after its first SYN, whatever it has
    /// retransmitted (XNU `TCPTV_KEEP_INIT`, 75 s); `None`: Linux's count.
    pub connect_timeout: Option<Duration>,
}

/// An operating system whose stack a host runs (`[client] os`, `[server] os`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    /// Linux: kasim's model, calibrated against this machine's kernel.
    Linux,
    /// Android: Linux's kernel and its defaults (AOSP's common kernel keeps
    /// `TCP_RETR2` 15, `TCP_KEEPALIVE_TIME` 2 h, 75 s, 9).
    Android,
    /// Windows 10/11 (the "Internet" TCP template).
    Windows,
    /// macOS (XNU).
    Macos,
    /// iOS (XNU: macOS's rules).
    Ios,
}

impl Os {
    /// Every OS, in the order `kasim list --presets` prints them.
    pub const ALL: [Os; 5] = [Os::Linux, Os::Android, Os::Windows, Os::Macos, Os::Ios];

    /// The name a scenario file uses.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Android => "android",
            Os::Windows => "windows",
            Os::Macos => "macos",
            Os::Ios => "ios",
        }
    }

    /// The OS named `name`.
    pub fn from_name(name: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Its keepalive defaults: (idle, interval, probes).
    pub fn keepalive_defaults(self) -> (Duration, Duration, u32) {
        let s = Duration::from_secs;
        match self {
            Os::Linux | Os::Android => (s(7200), s(75), 9),
            Os::Windows => (s(7200), s(1), 10),
            Os::Macos | Os::Ios => (s(7200), s(75), 8),
        }
    }

    /// Its stack's timers, on top of `linux` (the scenario's `[tcp]`, which
    /// Linux and Android keep as they are).
    pub fn tcp_config(self, linux: &TcpConfig) -> TcpConfig {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        match self {
            Os::Linux | Os::Android => linux.clone(),
            Os::Windows => TcpConfig {
                // MinRto 300 ms; the RTO "increases exponentially ... up to its
                // maximum value of 60sec"; a connect: SYN at 0, 3 and 9 s and
                // the give-up at 21 s (TcpInitialRTT 3 s, TcpMaxConnectRetransmissions 2).
                rto_min: ms(300),
                rto_max: s(60),
                rto_initial: s(3),
                syn_retries: 2,
                syn_linear_timeouts: 0,
                timers: TimerModel::Exact,
                stack: StackRules { max_retransmissions: Some(5), ..StackRules::default() },
                // Linux's tcp_metrics cache is Linux's; others' are not modelled.
                no_metrics_save: true,
                ..linux.clone()
            },
            Os::Macos | Os::Ios => TcpConfig {
                // t_rttmin 30 ms off the local link; TCPTV_REXMTMAX 64 s;
                // TCPTV_RTOBASE 1 s; SYNs on tcp_syn_backoff {1,1,1,1,1,2,4,...}
                // (Linux's five linear timeouts give the same 0, 1, 2, 3, 4, 5,
                // 7, 11, 19, 35, 67 s) until TCPTV_KEEP_INIT, 75 s.
                rto_min: ms(30),
                rto_max: s(64),
                rto_initial: s(1),
                syn_retries: 12,
                syn_linear_timeouts: 4,
                timers: TimerModel::Exact,
                stack: StackRules { max_retransmissions: Some(12), max_backoff: Some(64), rto_slop: ms(200), connect_timeout: Some(s(75)) },
                no_metrics_save: true,
                ..linux.clone()
            },
        }
    }

    /// Where its numbers come from, and how sure they are.
    pub fn source(self) -> &'static str {
        match self {
            Os::Linux => {
                "kasim's model of Linux (include/net/tcp.h, net/ipv4/tcp_timer.c), calibrated against this \
                          machine's kernel (kasim calibrate)."
            }
            Os::Android => {
                "Linux's defaults (AOSP common kernel include/net/tcp.h: TCP_RETR2 15, TCP_SYN_RETRIES 6, \
                            TCP_KEEPALIVE_TIME 2 h, TCP_KEEPALIVE_INTVL 75 s, TCP_KEEPALIVE_PROBES 9); no AOSP init \
                            script overriding them was found; vendors' kernels may. From documentation, not calibrated."
            }
            Os::Windows => {
                "Microsoft's documentation (as of 2024): keepalive 2 h / 1 s, 10 probes on Vista and later \
                            (SIO_KEEPALIVE_VALS); TcpMaxDataRetransmissions 5 with a doubling RTO (KB170359, \
                            Windows 2000 to 7), MinRto 300 ms and the 60 s RTO cap (Windows 10/11 Internet template, \
                            IPPROTO_TCP socket options); connect give-up 21 s (TcpInitialRTT 3 s, \
                            TcpMaxConnectRetransmissions 2; measured 21.0 s on GitHub's Windows runners, \
                            SciQLop/speasy#344). Not confirmed for Windows 10/11 data retransmissions (one source \
                            reports about 9). From documentation, not calibrated."
            }
            Os::Macos | Os::Ios => {
                "XNU's source (apple/darwin-xnu bsd/netinet/tcp_timer.h, tcp_timer.c): \
                                    TCPTV_KEEP_IDLE 2 h, TCPTV_KEEPINTVL 75 s, TCPTV_KEEPCNT 8; TCP_MAXRXTSHIFT 12 \
                                    with tcp_backoff {1,2,4,...,64,64} and TCPTV_REXMTMAX 64 s; TCPTV_REXMTSLOP 200 ms \
                                    once established; TCPTV_KEEP_INIT 75 s for a connect. Not modelled: XNU's RTT \
                                    reset after 4 backoffs and its 100 ms/500 ms timer ticks. From source, not \
                                    calibrated."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_linux_is_unchanged() {
        for os in Os::ALL {
            assert_eq!(Os::from_name(os.name()), Some(os));
        }
        let linux = TcpConfig::default();
        assert_eq!(Os::Linux.tcp_config(&linux), linux);
        assert_eq!(Os::Android.tcp_config(&linux), linux);
        assert_eq!(linux.stack, StackRules::default());
    }
}
