//! What travels in the byte stream, as the applications see it: each message
//! has a tag whose top byte says what it is (request, reply, ping, …). A leaf
//! module: the strategies write pings with it, the driver reads everything.

/// What a message is, encoded in the top byte of its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    /// A workload request (`[[traffic]] kind = "requests"`); the peer answers with a reply when `reply` is set.
    Request = 1,
    /// The answer to a request, `reply` bytes long.
    Reply = 2,
    /// A one-way message from the client (`kind = "upload"`).
    Upload = 3,
    /// A one-way message from the server (`kind = "download"`).
    Download = 4,
    /// A strategy's ping; the peer's application answers it with a pong as soon as it has read it.
    Ping = 5,
    /// The answer to a ping: the same size, the same id.
    Pong = 6,
    /// A one-way keepalive frame (heartbeat, tick): read, never answered.
    Beat = 7,
}

impl Class {
    /// The class a tag says, or `None` when its top byte is none of them.
    pub fn of(tag: u64) -> Option<Class> {
        match tag >> 56 {
            1 => Some(Class::Request),
            2 => Some(Class::Reply),
            3 => Some(Class::Upload),
            4 => Some(Class::Download),
            5 => Some(Class::Ping),
            6 => Some(Class::Pong),
            7 => Some(Class::Beat),
            _ => None,
        }
    }
    /// The class's name in timelines and `kasim replay` output (`request`, …, `heartbeat`).
    pub fn name(self) -> &'static str {
        match self {
            Class::Request => "request",
            Class::Reply => "reply",
            Class::Upload => "upload",
            Class::Download => "download",
            Class::Ping => "ping",
            Class::Pong => "pong",
            Class::Beat => "heartbeat",
        }
    }
}

/// A message's tag: its class in the top byte, `id` in the low 56 bits. A
/// workload message's id holds its traffic entry in bits 40 to 55 and its
/// sequence number within the entry in the low 40 ([`traffic_index`],
/// [`traffic_seq`]); a ping's is the strategy's ping id.
pub fn tag(class: Class, id: u64) -> u64 {
    ((class as u64) << 56) | (id & ((1 << 56) - 1))
}
pub(crate) fn traffic_tag(class: Class, index: usize, seq: u64) -> u64 {
    tag(class, ((index as u64) << 40) | (seq & ((1 << 40) - 1)))
}
/// The sequence number of a traffic message within its entry (the low 40 bits
/// of its tag; 0 for the entry's first message).
pub fn traffic_seq(tag: u64) -> u64 {
    tag & ((1 << 40) - 1)
}

/// The traffic entry (its index in the scenario's `[[traffic]]`) a workload message's tag
/// carries: bits 40 to 55.
pub fn traffic_index(tag: u64) -> usize {
    ((tag >> 40) & 0xFFFF) as usize
}
/// The id part of a tag.
pub fn tag_id(tag: u64) -> u64 {
    tag & ((1 << 56) - 1)
}
