//! What travels in the byte stream, as the applications see it: each message
//! has a tag whose top byte says what it is (request, reply, ping, …). A leaf
//! module: the strategies write pings with it, the driver reads everything.

/// What a message is, encoded in the top byte of its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    Request = 1,
    Reply = 2,
    Upload = 3,
    Download = 4,
    Ping = 5,
    Pong = 6,
    /// A one-way keepalive frame (heartbeat, tick): read, never answered.
    Beat = 7,
}

impl Class {
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

/// Class in the top byte, traffic index in the next, a sequence number below.
pub fn tag(class: Class, id: u64) -> u64 {
    ((class as u64) << 56) | (id & ((1 << 56) - 1))
}
pub(crate) fn traffic_tag(class: Class, index: usize, seq: u64) -> u64 {
    tag(class, ((index as u64) << 40) | (seq & ((1 << 40) - 1)))
}
/// The traffic entry a workload message's tag carries.
/// The sequence number of a traffic message within its entry.
pub fn traffic_seq(tag: u64) -> u64 {
    tag & ((1 << 40) - 1)
}

pub fn traffic_index(tag: u64) -> usize {
    ((tag >> 40) & 0xFFFF) as usize
}
/// The id part of a tag.
pub fn tag_id(tag: u64) -> u64 {
    tag & ((1 << 56) - 1)
}
