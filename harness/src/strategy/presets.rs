//! The keepalive rules of real protocols, with their real defaults. Each type
//! cites the rule it implements; `tests/tests/suite/presets.rs` checks each one's
//! detection time after a vanish against the number the rule gives.
//!
//! | preset | rule | detection after the last byte received |
//! | --- | --- | --- |
//! | gRPC client | grpc-go `http2_client.go` `keepalive()` | `time` + `timeout` (time ≥ 10 s) |
//! | gRPC server | grpc-go `http2_server.go` `handlePing` | closes after > 2 ping strikes |
//! | SSH | OpenSSH `clientloop.c` `server_alive_check` | (ServerAliveCountMax + 1) × ServerAliveInterval |
//! | MQTT client | MQTT 3.1.1 §3.1.2.10, mosquitto `mosquitto__check_keepalive` | PINGREQ after K idle, dead K later |
//! | MQTT broker | MQTT 3.1.1 §3.1.2.10 | 1.5 × K |
//! | AMQP | AMQP 0-9-1 §4.2.7, RabbitMQ `rabbit_heartbeat` | two heartbeat checks (every H) without octets |
//! | Redis | `anet.c` `anetKeepAlive` | kernel keepalive idle N, interval N/3, count 3: 2N |
//! | Erlang | `net_kernel` net_ticktime, `dist_util` ticks | 4 tick periods (T/4) without input |

use super::{Control, Observed, Strategy};
use sim::Instant;
use std::time::Duration;

/// grpc-go never lets a client ping more often than every 10 s
/// (`internal/transport`: "keepalive time less than 10s is raised to 10s").
pub const GRPC_MIN_CLIENT_TIME: Duration = Duration::from_secs(10);
/// An HTTP/2 PING frame: 9 bytes of header, 8 of payload.
pub const HTTP2_PING_BYTES: u64 = 17;

/// gRPC client keepalive (grpc-go `keepalive.ClientParameters`).
///
/// After `time` without reading any byte, send a PING; if nothing at all is
/// read within `timeout` after it (any read clears the outstanding ping),
/// close the transport. Without active calls the client stays dormant unless
/// `permit_without_calls`. The client default `time` is infinite (off).
///
/// The loop is grpc-go's: the timer sleeps `min(time, timeout_left)` after a
/// ping, so with `time` < `timeout` the close lands on a multiple of `time`.
#[derive(Clone, Debug)]
pub struct Grpc {
    /// `time`: ping after this long without reading (grpc-go `Time`; raised to at least
    /// `GRPC_MIN_CLIENT_TIME`, 10 s).
    pub time: Duration,
    /// `timeout`: close if nothing is read this long after a ping (grpc-go `Timeout`, default 20 s).
    pub timeout: Duration,
    /// `permit_without_calls`: ping even with no active call (nothing unacknowledged);
    /// grpc-go `PermitWithoutStream`, default false.
    pub permit_without_calls: bool,
    timer: Instant,
    last_read: Instant,
    prev_read: Instant,
    outstanding: bool,
    timeout_left: Duration,
    seq: u64,
}

impl Grpc {
    /// A client keepalive; `time` below 10 s is raised to 10 s, as grpc-go does.
    pub fn new(time: Duration, timeout: Duration, permit_without_calls: bool) -> Self {
        Grpc {
            time: time.max(GRPC_MIN_CLIENT_TIME),
            timeout,
            permit_without_calls,
            timer: Instant::MAX,
            last_read: Instant::ZERO,
            prev_read: Instant::ZERO,
            outstanding: false,
            timeout_left: Duration::ZERO,
            seq: 0,
        }
    }
}

impl Strategy for Grpc {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.last_read = now;
        self.prev_read = now;
        self.timer = now + self.time;
    }
    fn on_event(&mut self, now: Instant, event: Observed, _ctl: &mut Control) {
        if let Observed::Received { .. } = event {
            self.last_read = now;
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.timer)
    }
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if now < self.timer {
            return;
        }
        if self.last_read > self.prev_read {
            // Read activity since we last looked: the next check is `time` after it.
            self.outstanding = false;
            self.prev_read = self.last_read;
            self.timer = self.last_read + self.time;
            return;
        }
        if self.outstanding && self.timeout_left.is_zero() {
            ctl.declare_dead("keepalive ping failed to receive ACK within timeout");
            return;
        }
        if !self.permit_without_calls && ctl.unacked() == 0 {
            // Dormant: no active call. Look again a keepalive time later.
            self.timer = now + self.time;
            return;
        }
        if !self.outstanding {
            self.seq += 1;
            ctl.ping(self.seq, HTTP2_PING_BYTES);
            self.timeout_left = self.timeout;
            self.outstanding = true;
        }
        let sleep = self.time.min(self.timeout_left);
        self.timeout_left -= sleep;
        self.timer = now + sleep;
    }
}

/// gRPC server keepalive enforcement (grpc-go `keepalive.EnforcementPolicy`,
/// `handlePing`): a ping sooner than `min_time` (5 min) after the previous
/// one is a strike (without active streams and without
/// `permit_without_stream`, sooner than 2 hours); sending data or headers
/// resets the strikes; more than 2 strikes → GOAWAY `too_many_pings` and the
/// connection is closed. (Unary calls here are answered at once, so the
/// server never has an active stream when a ping arrives.)
#[derive(Clone, Debug)]
pub struct GrpcServer {
    /// `min_time`: pings closer than this are strikes when `permit_without_stream` is set
    /// (grpc-go `MinTime`, default 5 min).
    pub min_time: Duration,
    /// `permit_without_stream`: allow pings with no active stream (default false); without
    /// it the spacing expected is [`GrpcServer::NO_STREAM_MIN`] (2 h).
    pub permit_without_stream: bool,
    last_ping: Option<Instant>,
    strikes: u32,
}

impl GrpcServer {
    /// Strikes tolerated: the third ping too soon closes the connection (grpc-go `maxPingStrikes`).
    pub const MAX_PING_STRIKES: u32 = 2;
    /// grpc-go `defaultPingTimeout`: the ping spacing expected with no stream.
    pub const NO_STREAM_MIN: Duration = Duration::from_secs(2 * 3600);

    /// An enforcement policy with the scenario's parameters.
    pub fn new(min_time: Duration, permit_without_stream: bool) -> Self {
        GrpcServer { min_time, permit_without_stream, last_ping: None, strikes: 0 }
    }
}

impl Strategy for GrpcServer {
    fn on_connected(&mut self, _now: Instant, _ctl: &mut Control) {}
    fn on_event(&mut self, now: Instant, event: Observed, ctl: &mut Control) {
        match event {
            Observed::Wrote { .. } => self.strikes = 0,
            Observed::Ping { .. } => {
                let min = if self.permit_without_stream { self.min_time } else { Self::NO_STREAM_MIN };
                if self.last_ping.is_some_and(|last| now - last < min) {
                    self.strikes += 1;
                }
                self.last_ping = Some(now);
                if self.strikes > Self::MAX_PING_STRIKES {
                    ctl.declare_dead("GOAWAY too_many_pings");
                }
            }
            _ => {}
        }
    }
}

/// OpenSSH `ServerAliveInterval` / `ServerAliveCountMax` (`clientloop.c`):
/// whenever `interval` passes with nothing received, count one and send a
/// `keepalive@openssh.com` request; any received packet resets the count;
/// when the count exceeds `count_max`, disconnect. Dead (count_max + 1) ×
/// interval after the last receipt. `interval` 0 (the default) is off.
#[derive(Clone, Debug)]
pub struct Ssh {
    /// `interval`: ServerAliveInterval, silence before each keepalive request (0 = off, the default).
    pub interval: Duration,
    /// `count_max`: ServerAliveCountMax, unanswered requests tolerated (default 3).
    pub count_max: u32,
    next: Instant,
    count: u32,
    seq: u64,
}

/// An encrypted SSH global request: about 80 bytes on the wire.
pub const SSH_KEEPALIVE_BYTES: u64 = 80;

impl Ssh {
    /// An SSH client keepalive; `interval` zero turns it off.
    pub fn new(interval: Duration, count_max: u32) -> Self {
        Ssh { interval, count_max, next: Instant::MAX, count: 0, seq: 0 }
    }
}

impl Strategy for Ssh {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        if !self.interval.is_zero() {
            self.next = now + self.interval;
        }
    }
    fn on_event(&mut self, now: Instant, event: Observed, _ctl: &mut Control) {
        if let (Observed::Received { .. }, false) = (event, self.interval.is_zero()) {
            self.count = 0;
            self.next = now + self.interval;
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (!self.interval.is_zero()).then_some(self.next)
    }
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if now < self.next {
            return;
        }
        self.count += 1;
        if self.count > self.count_max {
            ctl.declare_dead("Timeout, server not responding");
            return;
        }
        self.seq += 1;
        ctl.ping(self.seq, SSH_KEEPALIVE_BYTES);
        self.next = now + self.interval;
    }
}

/// MQTT client keep alive (MQTT 3.1.1 §3.1.2.10; mosquitto's client loop):
/// when `keep_alive` has passed since it last sent anything, the client sends
/// PINGREQ; if the next check (`keep_alive` later) still finds the ping
/// unanswered, it disconnects.
#[derive(Clone, Debug)]
pub struct Mqtt {
    /// `keep_alive`: the Keep Alive K of the CONNECT packet (default 60 s, the client libraries').
    pub keep_alive: Duration,
    last_out: Instant,
    ping_sent: Option<Instant>,
    seq: u64,
}

/// PINGREQ and PINGRESP are 2 bytes each.
pub const MQTT_PING_BYTES: u64 = 2;

impl Mqtt {
    /// A client with Keep Alive `keep_alive`.
    pub fn new(keep_alive: Duration) -> Self {
        Mqtt { keep_alive, last_out: Instant::ZERO, ping_sent: None, seq: 0 }
    }
}

impl Strategy for Mqtt {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.last_out = now;
    }
    fn on_event(&mut self, now: Instant, event: Observed, _ctl: &mut Control) {
        match event {
            Observed::Pong { .. } => self.ping_sent = None,
            Observed::Wrote { .. } | Observed::Answered { .. } => self.last_out = now,
            _ => {}
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(match self.ping_sent {
            Some(at) => at + self.keep_alive,
            None => self.last_out + self.keep_alive,
        })
    }
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        match self.ping_sent {
            Some(at) if now >= at + self.keep_alive => ctl.declare_dead("keep alive timeout (no PINGRESP)"),
            None if now >= self.last_out + self.keep_alive => {
                self.seq += 1;
                ctl.ping(self.seq, MQTT_PING_BYTES);
                self.ping_sent = Some(now);
                self.last_out = now;
            }
            _ => {}
        }
    }
}

/// MQTT broker (MQTT 3.1.1 §3.1.2.10): "If the Keep Alive value is non-zero
/// and the Server does not receive a Control Packet from the Client within
/// one and a half times the Keep Alive time period, it MUST disconnect".
#[derive(Clone, Debug)]
pub struct MqttBroker {
    /// `keep_alive`: the client's Keep Alive K; the broker disconnects after 1.5 × K of silence.
    pub keep_alive: Duration,
    last_in: Instant,
}

impl MqttBroker {
    /// A broker enforcing Keep Alive `keep_alive`.
    pub fn new(keep_alive: Duration) -> Self {
        MqttBroker { keep_alive, last_in: Instant::ZERO }
    }
    fn limit(&self) -> Duration {
        self.keep_alive * 3 / 2
    }
}

impl Strategy for MqttBroker {
    fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
        self.last_in = now;
    }
    fn on_event(&mut self, now: Instant, event: Observed, _ctl: &mut Control) {
        if let Observed::Received { .. } = event {
            self.last_in = now;
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.last_in + self.limit())
    }
    fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
        if now >= self.last_in + self.limit() {
            ctl.declare_dead("keep alive exceeded (1.5 x K without a packet)");
        }
    }
}

/// A periodic sender of one-way frames plus a checker of received bytes,
/// shared by AMQP and Erlang: every `send_every`, send a frame if nothing was
/// written in that period; every `check_every`, count a miss if nothing was
/// received since the previous check; dead at `misses_allowed + 1` misses.
#[derive(Clone, Debug)]
struct Ticker {
    send_every: Duration,
    check_every: Duration,
    dead_at_misses: u32,
    frame_bytes: u64,
    cause: &'static str,
    next_send: Instant,
    next_check: Instant,
    wrote: bool,
    received: bool,
    misses: u32,
}

impl Ticker {
    fn start(&mut self, now: Instant) {
        self.next_send = now + self.send_every;
        self.next_check = now + self.check_every;
    }
    fn observe(&mut self, event: Observed) {
        match event {
            Observed::Received { .. } => self.received = true,
            Observed::Wrote { .. } | Observed::Answered { .. } => self.wrote = true,
            _ => {}
        }
    }
    fn next(&self) -> Instant {
        self.next_send.min(self.next_check)
    }
    fn tick(&mut self, now: Instant, ctl: &mut Control) {
        if now >= self.next_check {
            self.misses = if self.received { 0 } else { self.misses + 1 };
            self.received = false;
            self.next_check += self.check_every;
            if self.misses >= self.dead_at_misses {
                ctl.declare_dead(self.cause);
                return;
            }
        }
        if now >= self.next_send {
            if !self.wrote {
                ctl.beat(self.frame_bytes);
            }
            self.wrote = false;
            self.next_send += self.send_every;
        }
    }
}

/// AMQP 0-9-1 heartbeats as RabbitMQ runs them (`rabbit_heartbeat`): with
/// negotiated timeout H (RabbitMQ default 60 s), a heartbeat frame (8 bytes)
/// goes out every H/2 when nothing else was sent; the receiver checks every H
/// and closes when two consecutive checks saw no octets (AMQP §4.2.7: "no
/// incoming traffic for two heartbeat intervals"). Dead between 2H and 3H
/// after the last octet received.
#[derive(Clone, Debug)]
pub struct Amqp(Ticker);

impl Amqp {
    /// Heartbeats with negotiated timeout `heartbeat` (H): frames every H/2, checks every H.
    pub fn new(heartbeat: Duration) -> Self {
        Amqp(Ticker {
            send_every: heartbeat / 2,
            check_every: heartbeat,
            dead_at_misses: 2,
            frame_bytes: 8,
            cause: "missed heartbeats from peer",
            next_send: Instant::MAX,
            next_check: Instant::MAX,
            wrote: false,
            received: false,
            misses: 0,
        })
    }
}

/// Erlang distribution ticks (`net_kernel`, net_ticktime T, default 60 s):
/// every T/4 a 4-byte tick is sent if nothing else was written; if nothing
/// was received during four consecutive tick periods, the node is down. With
/// the peer ticking every T/4, detection is between T − T/4 and T + T/4 after
/// the peer stopped (45-75 s), as the Erlang documentation states.
#[derive(Clone, Debug)]
pub struct Erlang(Ticker);

impl Erlang {
    /// Ticks with `net_ticktime` T: a tick every T/4, down after 4 silent tick periods.
    pub fn new(net_ticktime: Duration) -> Self {
        Erlang(Ticker {
            send_every: net_ticktime / 4,
            check_every: net_ticktime / 4,
            dead_at_misses: 4,
            frame_bytes: 4,
            cause: "net_tick_timeout",
            next_send: Instant::MAX,
            next_check: Instant::MAX,
            wrote: false,
            received: false,
            misses: 0,
        })
    }
}

macro_rules! ticker_strategy {
    ($t:ty) => {
        impl Strategy for $t {
            fn on_connected(&mut self, now: Instant, _ctl: &mut Control) {
                self.0.start(now);
            }
            fn on_event(&mut self, _now: Instant, event: Observed, _ctl: &mut Control) {
                self.0.observe(event);
            }
            fn poll_timeout(&self) -> Option<Instant> {
                Some(self.0.next())
            }
            fn on_timeout(&mut self, now: Instant, ctl: &mut Control) {
                self.0.tick(now, ctl);
            }
        }
    };
}
ticker_strategy!(Amqp);
ticker_strategy!(Erlang);
