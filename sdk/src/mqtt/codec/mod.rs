//! The MQTT wire format: fixed header, variable header and payload of every
//! packet of MQTT 3.1.1 and MQTT 5.0 (chapters 2 and 3 of both specs).
//!
//! Decoding borrows from the input buffer (topics, payloads, property
//! strings, subscription lists), so a received PUBLISH reaches the
//! application without a copy. Encoding writes into a caller buffer. The
//! protocol version is a run-time argument because the same firmware may
//! talk 3.1.1 to one broker and 5.0 to another.

mod ack;
mod buf;
mod connect;
mod error;
mod packet;
mod properties;
mod publish;
mod string;
mod subscribe;
mod varint;

pub use ack::{Ack, Auth, Disconnect};
pub use connect::{ConnAck, Connect, Will};
pub use error::Error;
pub(crate) use packet::{Encode, encode, encode_fixed};
pub use packet::{Packet, PacketType, frame_len};
pub use properties::{Properties, Property, PropertyIter};
pub use publish::Publish;
pub use string::check_utf8;
pub(crate) use subscribe::SubscribeList;
pub use subscribe::{
    RetainHandling, SUBACK_FAILURE, SubAck, Subscribe, SubscribeFilters, SubscribeOptions,
    UnsubAck, Unsubscribe, UnsubscribeFilters,
};
pub use varint::{MAX_VARINT, decode_varint, encode_varint, varint_len};

/// The protocol level byte of CONNECT (3.1.1 §3.1.2.2, 5.0 §3.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1, protocol level 4.
    V311,
    /// MQTT 5.0, protocol level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level carried in CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The version a CONNECT protocol level names.
    pub fn from_level(level: u8) -> Result<Self, Error> {
        match level {
            4 => Ok(ProtocolVersion::V311),
            5 => Ok(ProtocolVersion::V5),
            other => Err(Error::UnsupportedProtocolLevel(other)),
        }
    }
}

/// Quality of service of a PUBLISH (3.1.1 §4.3, 5.0 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QoS {
    /// At most once: no acknowledgement.
    AtMostOnce = 0,
    /// At least once: PUBACK.
    AtLeastOnce = 1,
    /// Exactly once: PUBREC, PUBREL, PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS named by two bits; 3 is malformed in every packet that carries one.
    pub fn from_bits(bits: u8) -> Result<Self, Error> {
        match bits {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            2 => Ok(QoS::ExactlyOnce),
            _ => Err(Error::InvalidQoS),
        }
    }
}
