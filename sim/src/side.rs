//! Which end of a connection: the one word nearly every module needs (the
//! oracle's verdicts, the trace, the world's configuration, the
//! applications), kept in a leaf so none of them depends on another for it.

use std::fmt;

/// Which end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The end that connects: a client host's connection (or a proxy's leg
    /// toward the server, which it opens).
    Client,
    /// The end that accepts: the server's connection (or a proxy's leg
    /// toward a client, which it accepted).
    Server,
}

impl Side {
    /// Both sides, in [`index`](Self::index) order.
    pub const BOTH: [Side; 2] = [Side::Client, Side::Server];

    /// 0 for the client, 1 for the server: the index of per-side arrays
    /// (`[client, server]`, as in [`Outcome::stats`](crate::Outcome::stats)).
    pub fn index(self) -> usize {
        self as usize
    }
    /// The other end of the connection.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    /// `"client"` or `"server"`: the name in traces, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
