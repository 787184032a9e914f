//! The acknowledgements that carry a packet identifier and a reason code
//! (PUBACK §3.4, PUBREC §3.5, PUBREL §3.6, PUBCOMP §3.7) and DISCONNECT
//! (§3.14), which carries only the reason code.

use super::buf::{Reader, Writer};
use super::connect::{read_properties, write_properties};
use super::properties::Context;
use super::{Error, Properties, ProtocolVersion};

/// The end most 5.0 replies share (PUBACK to PUBCOMP, DISCONNECT, AUTH): a
/// reason code and properties, each of which may be left off at the end of
/// the packet, meaning 0 (success) and none. 3.1.1 has neither.
fn read_reason<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
    context: Context,
) -> Result<(u8, Properties<'a>), Error> {
    let reason_code = match version {
        ProtocolVersion::V5 if !r.is_empty() => r.u8()?,
        _ => 0,
    };
    let properties = match version {
        ProtocolVersion::V5 if !r.is_empty() => read_properties(r, version, context)?,
        _ => Properties::EMPTY,
    };
    Ok((reason_code, properties))
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack<'a> {
    /// The publish being acknowledged.
    pub packet_id: u16,
    /// Reason code (5.0 §3.4.2.1); always 0 (success) in 3.1.1.
    pub reason_code: u8,
    /// Properties (5.0 §3.4.2.2); empty in 3.1.1.
    pub properties: Properties<'a>,
}

impl<'a> Ack<'a> {
    /// A successful acknowledgement with no properties.
    pub const fn success(packet_id: u16) -> Self {
        Ack {
            packet_id,
            reason_code: 0,
            properties: Properties::EMPTY,
        }
    }

    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        let packet_id = r.packet_id()?;
        // 5.0 §3.4.2.1: reason code and properties may be left off when the
        // reason is success and there are no properties.
        let (reason_code, properties) = read_reason(r, version, Context::Ack)?;
        Ok(Ack {
            packet_id,
            reason_code,
            properties,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.u16(self.packet_id)?;
        if version == ProtocolVersion::V5 && (self.reason_code != 0 || !self.properties.is_empty())
        {
            w.u8(self.reason_code)?;
            write_properties(w, version, &self.properties)?;
        }
        Ok(())
    }
}

/// AUTH (5.0 §3.15): a step of enhanced authentication, or
/// re-authentication, named by its Authentication Method property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// 0x00 success, 0x18 continue authentication, 0x19 re-authenticate.
    pub reason_code: u8,
    /// Authentication Method and Data, Reason String, User Properties.
    pub properties: Properties<'a>,
}

impl<'a> Auth<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        // 3.1.1 has no packet type 15.
        if version == ProtocolVersion::V311 {
            return Err(Error::InvalidPacketType(15));
        }
        // §3.15.2.1: no variable header at all means success, no properties.
        let (reason_code, properties) = read_reason(r, version, Context::Auth)?;
        if !matches!(reason_code, 0x00 | 0x18 | 0x19) {
            return Err(Error::MalformedPacket);
        }
        Ok(Auth {
            reason_code,
            properties,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        if version == ProtocolVersion::V311 {
            return Err(Error::InvalidPacketType(15));
        }
        if self.reason_code != 0 || !self.properties.is_empty() {
            w.u8(self.reason_code)?;
            write_properties(w, version, &self.properties)?;
        }
        Ok(())
    }
}

/// DISCONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Reason code (5.0 §3.14.2.1); 0 is a normal disconnection, 0x04
    /// asks the server to publish the will anyway. Always 0 in 3.1.1.
    pub reason_code: u8,
    /// Properties (5.0 §3.14.2.2); empty in 3.1.1.
    pub properties: Properties<'a>,
}

impl<'a> Disconnect<'a> {
    /// A normal disconnection.
    pub const NORMAL: Disconnect<'static> = Disconnect {
        reason_code: 0,
        properties: Properties::EMPTY,
    };

    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        // 3.1.1's DISCONNECT is empty; 5.0 §3.14.2.1: a remaining length
        // below 1 means reason 0, below 2 no properties.
        let (reason_code, properties) = read_reason(r, version, Context::Disconnect)?;
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        if version == ProtocolVersion::V5 && (self.reason_code != 0 || !self.properties.is_empty())
        {
            w.u8(self.reason_code)?;
            write_properties(w, version, &self.properties)?;
        }
        Ok(())
    }
}
