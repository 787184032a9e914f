//! Why bytes could not be decoded or a packet could not be encoded.

use core::fmt;

/// A codec error. Decoding never panics; every malformed input maps to one
/// of these (3.1.1 §4.8 and 5.0 §4.13 say the receiver then closes the
/// connection, with reason code 0x81 Malformed Packet in 5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer does not yet hold a whole packet; read more and retry.
    Incomplete,
    /// The output buffer is too small for the packet.
    BufferTooSmall,
    /// A variable byte integer runs past four bytes (§1.5.5 / §2.2.3).
    MalformedVarInt,
    /// A value does not fit its field (string over 65,535 bytes, integer
    /// over 268,435,455).
    ValueTooLarge,
    /// The packet's contents disagree with its remaining length, or a field
    /// holds a value the spec forbids.
    MalformedPacket,
    /// A string is not well-formed UTF-8 (5.0 §1.5.4, 3.1.1 §1.5.3).
    InvalidUtf8,
    /// A string contains U+0000, which the spec forbids.
    NullCharacter,
    /// Packet type 0 (reserved), or AUTH in 3.1.1.
    InvalidPacketType(u8),
    /// Fixed-header flags differ from the values the spec fixes (§2.2.2).
    ReservedFlags,
    /// A QoS field holds 3.
    InvalidQoS,
    /// A CONNECT protocol name other than "MQTT".
    InvalidProtocolName,
    /// A protocol level this codec does not speak.
    UnsupportedProtocolLevel(u8),
    /// A property identifier MQTT 5.0 §2.2.2.2 does not define.
    UnknownProperty(u8),
    /// A property in a packet that may not carry it (5.0 §2.2.2.2, table 2-4).
    PropertyNotAllowed(u8),
    /// A property that may appear once appears twice (5.0 §2.2.2.2).
    DuplicateProperty(u8),
    /// A PUBLISH topic name contains `+` or `#` (§4.7.1).
    WildcardInTopicName,
    /// A topic filter is empty or misplaces a wildcard (§4.7.1).
    InvalidTopicFilter,
    /// SUBSCRIBE or UNSUBSCRIBE with no topic filter (§3.8.3 / §3.10.3).
    NoTopicFilters,
}

impl Error {
    /// The 5.0 reason code of the DISCONNECT a receiver of a packet that
    /// fails to decode with this error sends (§4.13.1): 0x82 Protocol Error
    /// for a property in the wrong place or repeated (§2.2.2.2), 0x81
    /// Malformed Packet for the rest; `None` for the errors of encoding and
    /// of a packet not yet whole, which are not the peer's.
    pub fn reason_code(&self) -> Option<u8> {
        match self {
            Error::Incomplete | Error::BufferTooSmall | Error::ValueTooLarge => None,
            Error::PropertyNotAllowed(_) | Error::DuplicateProperty(_) => Some(0x82),
            _ => Some(0x81),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Incomplete => f.write_str("incomplete packet"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::MalformedVarInt => f.write_str("malformed variable byte integer"),
            Error::ValueTooLarge => f.write_str("value too large for its field"),
            Error::MalformedPacket => f.write_str("malformed packet"),
            Error::InvalidUtf8 => f.write_str("string is not well-formed UTF-8"),
            Error::NullCharacter => f.write_str("string contains U+0000"),
            Error::InvalidPacketType(t) => write!(f, "invalid packet type {t}"),
            Error::ReservedFlags => f.write_str("reserved fixed-header flags"),
            Error::InvalidQoS => f.write_str("QoS 3"),
            Error::InvalidProtocolName => f.write_str("protocol name is not MQTT"),
            Error::UnsupportedProtocolLevel(l) => write!(f, "unsupported protocol level {l}"),
            Error::UnknownProperty(p) => write!(f, "unknown property 0x{p:02x}"),
            Error::PropertyNotAllowed(p) => write!(f, "property 0x{p:02x} not allowed here"),
            Error::DuplicateProperty(p) => write!(f, "duplicate property 0x{p:02x}"),
            Error::WildcardInTopicName => f.write_str("wildcard in topic name"),
            Error::InvalidTopicFilter => f.write_str("invalid topic filter"),
            Error::NoTopicFilters => f.write_str("no topic filters"),
        }
    }
}
