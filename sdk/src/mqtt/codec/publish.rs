//! PUBLISH (3.1.1 §3.3, 5.0 §3.3): an application message, topic and
//! payload borrowed from the received bytes.

use super::buf::{Reader, Writer};
use super::connect::{read_properties, write_properties};
use super::properties::Context;
use super::{Error, Properties, ProtocolVersion, QoS};
use crate::mqtt::topic::check_topic_name;

/// A PUBLISH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// DUP (§3.3.1.1): this may be a redelivery.
    pub dup: bool,
    /// QoS (§3.3.1.2).
    pub qos: QoS,
    /// RETAIN (§3.3.1.3).
    pub retain: bool,
    /// Topic Name (§3.3.2.1); empty only in 5.0 with a Topic Alias.
    pub topic: &'a str,
    /// Packet Identifier (§3.3.2.2); present only at QoS 1 and 2, 0 at QoS 0.
    pub packet_id: u16,
    /// PUBLISH properties (5.0 §3.3.2.3); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// The application message.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | ((self.qos as u8) << 1) | u8::from(self.retain)
    }

    pub(crate) fn read(
        flags: u8,
        r: &mut Reader<'a>,
        version: ProtocolVersion,
    ) -> Result<Self, Error> {
        let dup = flags & 0x08 != 0;
        let qos = QoS::from_bits((flags >> 1) & 0x03)?;
        // §3.3.1.1: DUP must be 0 at QoS 0.
        if dup && qos == QoS::AtMostOnce {
            return Err(Error::MalformedPacket);
        }
        let topic = r.str()?;
        let packet_id = match qos {
            QoS::AtMostOnce => 0,
            _ => r.packet_id()?,
        };
        let properties = read_properties(r, version, Context::Publish)?;
        if topic.is_empty() {
            // 5.0 §3.3.2.1: an empty topic needs a Topic Alias to stand in.
            if properties.topic_alias().is_none() {
                return Err(Error::MalformedPacket);
            }
        } else {
            check_topic_name(topic)?;
        }
        Ok(Publish {
            dup,
            qos,
            retain: flags & 1 != 0,
            topic,
            packet_id,
            properties,
            payload: r.rest(),
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.str(self.topic)?;
        if self.qos != QoS::AtMostOnce {
            w.u16(self.packet_id)?;
        }
        write_properties(w, version, &self.properties)?;
        w.slice(self.payload)
    }
}
