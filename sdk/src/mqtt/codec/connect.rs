//! CONNECT (3.1.1 §3.1, 5.0 §3.1) and CONNACK (3.1.1 §3.2, 5.0 §3.2).

use super::buf::{Reader, Writer};
use super::properties::Context;
use super::{Error, Properties, ProtocolVersion, QoS};

/// The will message the server publishes if the client vanishes (§3.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Will QoS (§3.1.2.6).
    pub qos: QoS,
    /// Will Retain (§3.1.2.7).
    pub retain: bool,
    /// Will properties (5.0 §3.1.3.2); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// Will Topic (§3.1.3.3).
    pub topic: &'a str,
    /// Will Payload (§3.1.3.4).
    pub payload: &'a [u8],
}

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Protocol level (§3.1.2.2); decides the layout of every later packet.
    pub version: ProtocolVersion,
    /// Clean Start / Clean Session (§3.1.2.4): discard any previous session.
    pub clean_start: bool,
    /// Keep Alive in seconds (§3.1.2.10); 0 turns keepalive off.
    pub keep_alive: u16,
    /// CONNECT properties (5.0 §3.1.2.11); empty in 3.1.1.
    pub properties: Properties<'a>,
    /// Client Identifier (§3.1.3.1); may be empty.
    pub client_id: &'a str,
    /// Will message, if any.
    pub will: Option<Will<'a>>,
    /// User Name (§3.1.3.5).
    pub username: Option<&'a str>,
    /// Password (§3.1.3.6).
    pub password: Option<&'a [u8]>,
}

const PROTOCOL_NAME: &str = "MQTT";
const FLAG_RESERVED: u8 = 0x01;
const FLAG_CLEAN_START: u8 = 0x02;
const FLAG_WILL: u8 = 0x04;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_USERNAME: u8 = 0x80;

impl<'a> Connect<'a> {
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self, Error> {
        if r.str()? != PROTOCOL_NAME {
            return Err(Error::InvalidProtocolName);
        }
        let version = ProtocolVersion::from_level(r.u8()?)?;
        let flags = r.u8()?;
        // §3.1.2.3: the reserved flag must be zero.
        if flags & FLAG_RESERVED != 0 {
            return Err(Error::MalformedPacket);
        }
        let will_flag = flags & FLAG_WILL != 0;
        let will_qos = QoS::from_bits((flags >> 3) & 0x03)?;
        let will_retain = flags & FLAG_WILL_RETAIN != 0;
        // §3.1.2.9 / §3.1.2.11: no will, so no will QoS or retain.
        if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(Error::MalformedPacket);
        }
        // 3.1.1 §3.1.2.9: a password needs a user name (5.0 dropped this).
        if version == ProtocolVersion::V311
            && flags & FLAG_PASSWORD != 0
            && flags & FLAG_USERNAME == 0
        {
            return Err(Error::MalformedPacket);
        }
        let keep_alive = r.u16()?;
        let properties = read_properties(r, version, Context::Connect)?;
        let client_id = r.str()?;
        let will = if will_flag {
            let properties = read_properties(r, version, Context::Will)?;
            Some(Will {
                qos: will_qos,
                retain: will_retain,
                properties,
                topic: r.str()?,
                payload: r.binary()?,
            })
        } else {
            None
        };
        let username = if flags & FLAG_USERNAME != 0 {
            Some(r.str()?)
        } else {
            None
        };
        let password = if flags & FLAG_PASSWORD != 0 {
            Some(r.binary()?)
        } else {
            None
        };
        Ok(Connect {
            version,
            clean_start: flags & FLAG_CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        w.str(PROTOCOL_NAME)?;
        w.u8(self.version.level())?;
        let mut flags = 0;
        if self.clean_start {
            flags |= FLAG_CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= FLAG_WILL | ((will.qos as u8) << 3);
            if will.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            flags |= FLAG_PASSWORD;
        }
        w.u8(flags)?;
        w.u16(self.keep_alive)?;
        write_properties(w, self.version, &self.properties)?;
        w.str(self.client_id)?;
        if let Some(will) = &self.will {
            write_properties(w, self.version, &will.properties)?;
            w.str(will.topic)?;
            w.binary(will.payload)?;
        }
        if let Some(username) = self.username {
            w.str(username)?;
        }
        if let Some(password) = self.password {
            w.binary(password)?;
        }
        Ok(())
    }
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck<'a> {
    /// Session Present (§3.2.2.2): the server resumed a stored session.
    pub session_present: bool,
    /// Connect Return Code (3.1.1 §3.2.2.3) or Reason Code (5.0 §3.2.2.2);
    /// 0 is success in both.
    pub reason_code: u8,
    /// CONNACK properties (5.0 §3.2.2.3); empty in 3.1.1.
    pub properties: Properties<'a>,
}

impl<'a> ConnAck<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, version: ProtocolVersion) -> Result<Self, Error> {
        let flags = r.u8()?;
        // §3.2.2.1: bits 7-1 are reserved.
        if flags & 0xfe != 0 {
            return Err(Error::MalformedPacket);
        }
        let reason_code = r.u8()?;
        let properties = read_properties(r, version, Context::ConnAck)?;
        Ok(ConnAck {
            session_present: flags & 1 != 0,
            reason_code,
            properties,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        w.u8(u8::from(self.session_present))?;
        w.u8(self.reason_code)?;
        write_properties(w, version, &self.properties)
    }
}

/// Properties exist only in 5.0; 3.1.1 packets read as having none.
pub(crate) fn read_properties<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
    context: Context,
) -> Result<Properties<'a>, Error> {
    match version {
        ProtocolVersion::V311 => Ok(Properties::EMPTY),
        ProtocolVersion::V5 => Properties::read(r, context),
    }
}

/// Writes the property block in 5.0; 3.1.1 has no place for one, so
/// properties given for a 3.1.1 packet are not sent.
pub(crate) fn write_properties(
    w: &mut Writer<'_>,
    version: ProtocolVersion,
    properties: &Properties<'_>,
) -> Result<(), Error> {
    match version {
        ProtocolVersion::V311 => Ok(()),
        ProtocolVersion::V5 => properties.write(w),
    }
}
