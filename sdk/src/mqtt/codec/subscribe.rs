//! SUBSCRIBE (§3.8), SUBACK (§3.9), UNSUBSCRIBE (§3.10), UNSUBACK (§3.11).

use super::buf::{Reader, Writer};
use super::connect::{read_properties, write_properties};
use super::properties::Context;
use super::{Error, Properties, ProtocolVersion, QoS};
use crate::mqtt::topic::check_topic_filter;

/// Retain Handling (5.0 §3.8.3.1): when retained messages are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainHandling {
    /// Send retained messages at subscribe time.
    SendOnSubscribe = 0,
    /// Send them only if the subscription is new.
    SendIfNew = 1,
    /// Never send them.
    DoNotSend = 2,
}

/// Subscription Options byte (5.0 §3.8.3.1; 3.1.1 has only the QoS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// Maximum QoS the client accepts on this subscription.
    pub qos: QoS,
    /// No Local: do not echo the client's own publishes (5.0 only).
    pub no_local: bool,
    /// Retain As Published (5.0 only).
    pub retain_as_published: bool,
    /// Retain Handling (5.0 only).
    pub retain_handling: RetainHandling,
}

impl SubscribeOptions {
    /// Only a maximum QoS, the defaults otherwise (and all 3.1.1 can say).
    pub const fn qos(qos: QoS) -> Self {
        SubscribeOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendOnSubscribe,
        }
    }

    fn from_byte(byte: u8, version: ProtocolVersion) -> Result<Self, Error> {
        let reserved = match version {
            ProtocolVersion::V311 => 0xfc,
            ProtocolVersion::V5 => 0xc0,
        };
        if byte & reserved != 0 {
            return Err(Error::MalformedPacket);
        }
        let retain_handling = match (byte >> 4) & 0x03 {
            0 => RetainHandling::SendOnSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(Error::MalformedPacket),
        };
        Ok(SubscribeOptions {
            qos: QoS::from_bits(byte & 0x03)?,
            no_local: byte & 0x04 != 0,
            retain_as_published: byte & 0x08 != 0,
            retain_handling,
        })
    }

    fn to_byte(self, version: ProtocolVersion) -> u8 {
        let qos = self.qos as u8;
        match version {
            ProtocolVersion::V311 => qos,
            ProtocolVersion::V5 => {
                qos | (u8::from(self.no_local) << 2)
                    | (u8::from(self.retain_as_published) << 3)
                    | ((self.retain_handling as u8) << 4)
            }
        }
    }
}

/// The topic filters of a SUBSCRIBE: given to encode, or as received.
#[derive(Debug, Clone, Copy)]
pub enum SubscribeFilters<'a> {
    /// Filters to encode.
    List(&'a [(&'a str, SubscribeOptions)]),
    /// Received bytes, validated, decoded on iteration.
    Wire(&'a [u8], ProtocolVersion),
}

impl<'a> SubscribeFilters<'a> {
    /// The filters with their options, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, SubscribeOptions)> + 'a {
        let (list, wire, version) = match *self {
            SubscribeFilters::List(list) => (list, &[][..], ProtocolVersion::V5),
            SubscribeFilters::Wire(bytes, version) => (&[][..], bytes, version),
        };
        let mut r = Reader::new(wire);
        list.iter().copied().chain(core::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            let filter = r.str().ok()?;
            let options = SubscribeOptions::from_byte(r.u8().ok()?, version).ok()?;
            Some((filter, options))
        }))
    }
}

impl PartialEq for SubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for SubscribeFilters<'_> {}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Packet Identifier (§3.8.2).
    pub packet_id: u16,
    /// Properties (5.0 §3.8.2.1); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// At least one topic filter (§3.8.3).
    pub filters: SubscribeFilters<'a>,
}

impl<'a> Subscribe<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        let packet_id = r.packet_id()?;
        let properties = read_properties(r, version, Context::Subscribe)?;
        let bytes = r.rest();
        let mut check = Reader::new(bytes);
        if check.is_empty() {
            return Err(Error::NoTopicFilters);
        }
        while !check.is_empty() {
            check_topic_filter(check.str()?)?;
            SubscribeOptions::from_byte(check.u8()?, version)?;
        }
        Ok(Subscribe {
            packet_id,
            properties,
            filters: SubscribeFilters::Wire(bytes, version),
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.u16(self.packet_id)?;
        write_properties(w, version, &self.properties)?;
        let mut any = false;
        for (filter, options) in self.filters.iter() {
            write_filter(w, version, filter, options)?;
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(Error::NoTopicFilters)
        }
    }
}

/// A SUBSCRIBE as a client writes it, from its own list of filters: a
/// firmware that encodes through it does not link the iterator that reads
/// received filters back (≈ 300 bytes of `Chain` and `from_fn`).
pub(crate) struct SubscribeList<'a> {
    pub packet_id: u16,
    pub properties: Properties<'a>,
    pub filters: &'a [(&'a str, SubscribeOptions)],
}

impl SubscribeList<'_> {
    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        if self.filters.is_empty() {
            return Err(Error::NoTopicFilters);
        }
        w.u16(self.packet_id)?;
        write_properties(w, version, &self.properties)?;
        for &(filter, options) in self.filters {
            write_filter(w, version, filter, options)?;
        }
        Ok(())
    }
}

/// One topic filter and its Subscription Options byte (§3.8.3).
fn write_filter(
    w: &mut Writer<'_>,
    version: ProtocolVersion,
    filter: &str,
    options: SubscribeOptions,
) -> Result<(), Error> {
    check_topic_filter(filter)?;
    w.str(filter)?;
    w.u8(options.to_byte(version))
}

/// The SUBACK code of a refused filter in 3.1.1, and the lowest of the
/// failure codes in 5.0 (§3.9.3): a code at or above it is a refusal,
/// one below it the QoS granted.
pub const SUBACK_FAILURE: u8 = 0x80;

/// A SUBACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// Packet Identifier of the SUBSCRIBE answered.
    pub packet_id: u16,
    /// Properties (5.0 §3.9.2.1); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// One return/reason code per filter (§3.9.3): the granted QoS (0-2) or
    /// a failure ([`SUBACK_FAILURE`] and up).
    pub reason_codes: &'a [u8],
}

impl<'a> SubAck<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        let packet_id = r.packet_id()?;
        let properties = read_properties(r, version, Context::SubAck)?;
        let reason_codes = r.rest();
        // 3.1.1 §3.9.3: only 0x00, 0x01, 0x02 and 0x80 are allowed.
        let allowed = |c: u8| c <= 2 || c == SUBACK_FAILURE;
        if version == ProtocolVersion::V311 && !reason_codes.iter().all(|&c| allowed(c)) {
            return Err(Error::MalformedPacket);
        }
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.u16(self.packet_id)?;
        write_properties(w, version, &self.properties)?;
        w.slice(self.reason_codes)
    }
}

/// The topic filters of an UNSUBSCRIBE: given to encode, or as received.
#[derive(Debug, Clone, Copy)]
pub enum UnsubscribeFilters<'a> {
    /// Filters to encode.
    List(&'a [&'a str]),
    /// Received bytes, validated, decoded on iteration.
    Wire(&'a [u8]),
}

impl<'a> UnsubscribeFilters<'a> {
    /// The filters, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (list, wire) = match *self {
            UnsubscribeFilters::List(list) => (list, &[][..]),
            UnsubscribeFilters::Wire(bytes) => (&[][..], bytes),
        };
        let mut r = Reader::new(wire);
        list.iter().copied().chain(core::iter::from_fn(move || {
            if r.is_empty() { None } else { r.str().ok() }
        }))
    }
}

impl PartialEq for UnsubscribeFilters<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnsubscribeFilters<'_> {}

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Packet Identifier (§3.10.2).
    pub packet_id: u16,
    /// Properties (5.0 §3.10.2.1); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// At least one topic filter (§3.10.3).
    pub filters: UnsubscribeFilters<'a>,
}

impl<'a> Unsubscribe<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        let packet_id = r.packet_id()?;
        let properties = read_properties(r, version, Context::Unsubscribe)?;
        let bytes = r.rest();
        let mut check = Reader::new(bytes);
        if check.is_empty() {
            return Err(Error::NoTopicFilters);
        }
        while !check.is_empty() {
            check_topic_filter(check.str()?)?;
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters: UnsubscribeFilters::Wire(bytes),
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.u16(self.packet_id)?;
        write_properties(w, version, &self.properties)?;
        let mut any = false;
        for filter in self.filters.iter() {
            check_topic_filter(filter)?;
            w.str(filter)?;
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(Error::NoTopicFilters)
        }
    }
}

/// An UNSUBACK packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubAck<'a> {
    /// Packet Identifier of the UNSUBSCRIBE answered.
    pub packet_id: u16,
    /// Properties (5.0 §3.11.2.1); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// One reason code per filter (5.0 §3.11.3); empty in 3.1.1.
    pub reason_codes: &'a [u8],
}

impl<'a> UnsubAck<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        let packet_id = r.packet_id()?;
        let properties = read_properties(r, version, Context::UnsubAck)?;
        let reason_codes = match version {
            ProtocolVersion::V311 => &[][..],
            ProtocolVersion::V5 => r.rest(),
        };
        Ok(UnsubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.u16(self.packet_id)?;
        write_properties(w, version, &self.properties)?;
        if version == ProtocolVersion::V5 {
            w.slice(self.reason_codes)?;
        }
        Ok(())
    }
}
