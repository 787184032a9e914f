//! The fixed header (3.1.1 §2.2, 5.0 §2.1) and the packet enum that
//! dispatches on it.

use super::ack::{Ack, Auth, Disconnect};
use super::buf::{Reader, Writer};
use super::connect::{ConnAck, Connect};
use super::publish::Publish;
use super::subscribe::{SubAck, Subscribe, SubscribeList, UnsubAck, Unsubscribe};
use super::varint::decode_varint;
use super::{Error, ProtocolVersion};

/// The packet type in the high nibble of the first byte (5.0 §2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Client asks to connect.
    Connect = 1,
    /// Server answers CONNECT.
    ConnAck = 2,
    /// An application message.
    Publish = 3,
    /// QoS 1 acknowledgement.
    PubAck = 4,
    /// QoS 2, step 1: received.
    PubRec = 5,
    /// QoS 2, step 2: release.
    PubRel = 6,
    /// QoS 2, step 3: complete.
    PubComp = 7,
    /// Client subscribes.
    Subscribe = 8,
    /// Server answers SUBSCRIBE.
    SubAck = 9,
    /// Client unsubscribes.
    Unsubscribe = 10,
    /// Server answers UNSUBSCRIBE.
    UnsubAck = 11,
    /// Keepalive probe.
    PingReq = 12,
    /// Keepalive answer.
    PingResp = 13,
    /// Orderly close.
    Disconnect = 14,
    /// Enhanced authentication (5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The first byte of the fixed header for every type but PUBLISH, whose
    /// flags vary (§2.1.3, 3.1.1 §2.2.2): the type in the high nibble,
    /// 0b0010 in the low one for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 for
    /// the rest.
    pub(crate) const fn header(self) -> u8 {
        let flags = match self {
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        };
        ((self as u8) << 4) | flags
    }
}

/// One MQTT control packet, borrowing from the bytes it was decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT (§3.1).
    Connect(Connect<'a>),
    /// CONNACK (§3.2).
    ConnAck(ConnAck<'a>),
    /// PUBLISH (§3.3).
    Publish(Publish<'a>),
    /// PUBACK (§3.4).
    PubAck(Ack<'a>),
    /// PUBREC (§3.5).
    PubRec(Ack<'a>),
    /// PUBREL (§3.6).
    PubRel(Ack<'a>),
    /// PUBCOMP (§3.7).
    PubComp(Ack<'a>),
    /// SUBSCRIBE (§3.8).
    Subscribe(Subscribe<'a>),
    /// SUBACK (§3.9).
    SubAck(SubAck<'a>),
    /// UNSUBSCRIBE (§3.10).
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK (§3.11).
    UnsubAck(UnsubAck<'a>),
    /// PINGREQ (§3.12).
    PingReq,
    /// PINGRESP (§3.13).
    PingResp,
    /// DISCONNECT (§3.14).
    Disconnect(Disconnect<'a>),
    /// AUTH (5.0 §3.15).
    Auth(Auth<'a>),
}

/// The length of the first packet in `buf` (fixed header included), so a
/// reader knows how many bytes to wait for. `Incomplete` until the fixed
/// header itself is complete.
pub fn frame_len(buf: &[u8]) -> Result<usize, Error> {
    if buf.is_empty() {
        return Err(Error::Incomplete);
    }
    let (remaining, n) = decode_varint(&buf[1..])?;
    Ok(1 + n + remaining as usize)
}

impl<'a> Packet<'a> {
    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Decodes the first packet in `buf`, returning it and the bytes it took.
    ///
    /// `Incomplete` means the buffer ends inside the packet; any other error
    /// means the bytes are not a valid packet of `version`. CONNECT carries
    /// its own version and ignores the argument.
    pub fn decode(buf: &'a [u8], version: ProtocolVersion) -> Result<(Self, usize), Error> {
        Self::decode_as::<false>(buf, version)
    }

    /// [`Packet::decode`] for a client: only what a server may send
    /// (CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ are
    /// `InvalidPacketType`), so a client's firmware does not carry the
    /// server-side decoders.
    pub fn decode_from_server(
        buf: &'a [u8],
        version: ProtocolVersion,
    ) -> Result<(Self, usize), Error> {
        Self::decode_as::<true>(buf, version)
    }

    fn decode_as<const FROM_SERVER: bool>(
        buf: &'a [u8],
        version: ProtocolVersion,
    ) -> Result<(Self, usize), Error> {
        let header = *buf.first().ok_or(Error::Incomplete)?;
        let (remaining, prefix) = decode_varint(&buf[1..])?;
        let body = buf
            .get(1 + prefix..)
            .and_then(|rest| rest.get(..remaining as usize))
            .ok_or(Error::Incomplete)?;
        let total = 1 + prefix + body.len();
        let mut r = Reader::new(body);
        let flags = header & 0x0f;
        let kind = header >> 4;
        // 0 is reserved; a server receives what a client sends.
        if kind == 0 || (FROM_SERVER && matches!(kind, 1 | 8 | 10 | 12)) {
            return Err(Error::InvalidPacketType(kind));
        }
        // §2.1.3 (3.1.1 §2.2.2): fixed flags for every type but PUBLISH.
        let fixed_flags = match kind {
            3 => flags,
            6 | 8 | 10 => 0b0010, // PUBREL, SUBSCRIBE, UNSUBSCRIBE
            _ => 0,
        };
        if flags != fixed_flags {
            return Err(Error::ReservedFlags);
        }
        let packet = match kind {
            1 if !FROM_SERVER => Connect::read(&mut r).map(Packet::Connect),
            2 => ConnAck::read(&mut r, version).map(Packet::ConnAck),
            3 => Publish::read(flags, &mut r, version).map(Packet::Publish),
            4 => Ack::read(&mut r, version).map(Packet::PubAck),
            5 => Ack::read(&mut r, version).map(Packet::PubRec),
            6 => Ack::read(&mut r, version).map(Packet::PubRel),
            7 => Ack::read(&mut r, version).map(Packet::PubComp),
            8 if !FROM_SERVER => Subscribe::read(&mut r, version).map(Packet::Subscribe),
            9 => SubAck::read(&mut r, version).map(Packet::SubAck),
            10 if !FROM_SERVER => Unsubscribe::read(&mut r, version).map(Packet::Unsubscribe),
            11 => UnsubAck::read(&mut r, version).map(Packet::UnsubAck),
            12 if !FROM_SERVER => Ok(Packet::PingReq),
            13 => Ok(Packet::PingResp),
            14 => Disconnect::read(&mut r, version).map(Packet::Disconnect),
            15 => Auth::read(&mut r, version).map(Packet::Auth),
            // Refused above.
            _ => Err(Error::InvalidPacketType(kind)),
        }?;
        if !r.is_empty() {
            return Err(Error::MalformedPacket);
        }
        Ok((packet, total))
    }

    fn header_byte(&self) -> u8 {
        match self {
            Packet::Publish(p) => p.header_byte(),
            _ => self.packet_type().header(),
        }
    }

    /// Encodes the packet into `buf`, returning the bytes written.
    ///
    /// `BufferTooSmall` if the packet does not fit; nothing is written then.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut [u8]) -> Result<usize, Error> {
        self.encode_as::<false>(version, buf)
    }

    /// [`Packet::encode`] for a client: only what a client may send
    /// (CONNACK, SUBACK, UNSUBACK and PINGRESP are `InvalidPacketType`), so
    /// a client's firmware does not carry the server-side encoders.
    pub fn encode_from_client(
        &self,
        version: ProtocolVersion,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        self.encode_as::<true>(version, buf)
    }

    fn encode_as<const FROM_CLIENT: bool>(
        &self,
        version: ProtocolVersion,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let server_only = matches!(
            self,
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp
        );
        if FROM_CLIENT && server_only {
            return Err(Error::InvalidPacketType(self.packet_type() as u8));
        }
        encode(&AnyPacket::<FROM_CLIENT>(self), version, buf)
    }

    fn write_body<const FROM_CLIENT: bool>(
        &self,
        w: &mut Writer<'_>,
        version: ProtocolVersion,
    ) -> Result<(), Error> {
        match self {
            Packet::Connect(c) => c.write(w)?,
            Packet::ConnAck(c) if !FROM_CLIENT => c.write(w, version)?,
            Packet::Publish(p) => p.write(w, version)?,
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                a.write(w, version)?
            }
            Packet::Subscribe(s) => s.write(w, version)?,
            Packet::SubAck(s) if !FROM_CLIENT => s.write(w, version)?,
            Packet::Unsubscribe(u) => u.write(w, version)?,
            Packet::UnsubAck(u) if !FROM_CLIENT => u.write(w, version)?,
            Packet::PingReq | Packet::PingResp => {}
            // Refused by `encode_as`.
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) => {}
            Packet::Disconnect(d) => d.write(w, version)?,
            Packet::Auth(a) => a.write(w, version)?,
        }
        Ok(())
    }
}

/// A packet as [`encode`] takes it: the first byte of its fixed header and
/// a writer for what follows the remaining length.
///
/// [`Packet`] is one, for any packet; the packets a client sends are others
/// on their own, so a client that encodes through them links the writers of
/// the packet types it sends and no others (a match over the enum keeps
/// every arm).
pub(crate) trait Encode {
    /// Packet type in the high nibble, flags in the low (§2.1.2).
    fn header_byte(&self) -> u8;
    /// Variable header and payload.
    fn write_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error>;
}

/// Encodes `packet` into `buf`, returning the bytes written; nothing is
/// written when it does not fit (`BufferTooSmall`). Measured first, so every
/// length prefix is written in place.
///
/// Through `dyn Encode`: one copy of the two passes serves every packet
/// type, where a generic function was copied, with its two inlined passes,
/// per type (−304 bytes of flash in `cargo xtask footprint`'s
/// `mqtt-async-client`, −324 in `azure-device`).
pub(crate) fn encode(
    packet: &dyn Encode,
    version: ProtocolVersion,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut measure = Writer::measuring();
    write_frame(packet, &mut measure, version)?;
    if measure.position() > buf.len() {
        return Err(Error::BufferTooSmall);
    }
    let mut w = Writer::with_lengths(buf, measure.section_lengths());
    write_frame(packet, &mut w, version)?;
    Ok(w.position())
}

fn write_frame(
    packet: &dyn Encode,
    w: &mut Writer<'_>,
    version: ProtocolVersion,
) -> Result<(), Error> {
    w.u8(packet.header_byte())?;
    w.begin_len_prefixed()?;
    packet.write_body(w, version)?;
    w.end_len_prefixed()
}

/// [`Packet`] through [`Encode`]; `FROM_CLIENT` leaves the server-side
/// writers out.
struct AnyPacket<'p, 'a, const FROM_CLIENT: bool>(&'p Packet<'a>);

impl<const FROM_CLIENT: bool> Encode for AnyPacket<'_, '_, FROM_CLIENT> {
    fn header_byte(&self) -> u8 {
        self.0.header_byte()
    }

    fn write_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        self.0.write_body::<FROM_CLIENT>(w, version)
    }
}

impl Encode for Connect<'_> {
    fn header_byte(&self) -> u8 {
        PacketType::Connect.header()
    }

    fn write_body(&self, w: &mut Writer<'_>, _: ProtocolVersion) -> Result<(), Error> {
        // CONNECT names its own version.
        self.write(w)
    }
}

impl Encode for Publish<'_> {
    fn header_byte(&self) -> u8 {
        ((PacketType::Publish as u8) << 4) | self.flags()
    }

    fn write_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
        self.write(w, version)
    }
}

/// `Encode` for packet types whose fixed-header flags follow from their
/// type alone and whose own `write` takes the version.
macro_rules! encode_by_type {
    ($($packet:ident => $kind:ident),* $(,)?) => {$(
        impl Encode for $packet<'_> {
            fn header_byte(&self) -> u8 {
                PacketType::$kind.header()
            }

            fn write_body(&self, w: &mut Writer<'_>, version: ProtocolVersion) -> Result<(), Error> {
                self.write(w, version)
            }
        }
    )*};
}

encode_by_type!(
    Subscribe => Subscribe,
    SubscribeList => Subscribe,
    Unsubscribe => Unsubscribe,
    Disconnect => Disconnect,
);

/// The packets of two or four fixed bytes a client owes: PINGREQ (§3.12)
/// and the acknowledgements of success without properties — PUBACK,
/// PUBREC, PUBREL, PUBCOMP with a Remaining Length of 2, which 5.0
/// §3.4.2.1 (and §3.5.2.1, §3.6.2.1, §3.7.2.1) allows when the reason code
/// is 0 and there are no properties, and which is all 3.1.1 has. Written
/// as bytes: a session sends one per message received or acknowledged.
pub(crate) fn encode_fixed(
    packet_type: PacketType,
    packet_id: Option<u16>,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let len = if packet_id.is_some() { 4 } else { 2 };
    let out = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    out[0] = packet_type.header();
    out[1] = len as u8 - 2;
    if let Some(id) = packet_id {
        out[2..].copy_from_slice(&id.to_be_bytes());
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{Properties, QoS};
    use crate::mqtt::codec::{
        Property, RetainHandling, SubscribeFilters, SubscribeOptions, UnsubscribeFilters, Will,
    };
    use duet_netstack::rand::Rng;

    const V3: ProtocolVersion = ProtocolVersion::V311;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    const PROPS: &[Property<'static>] = &[
        Property::SessionExpiryInterval(3600),
        Property::ReceiveMaximum(10),
        Property::MaximumPacketSize(4096),
        Property::TopicAliasMaximum(5),
        Property::UserProperty("region", "eu"),
    ];
    const WILL_PROPS: &[Property<'static>] = &[
        Property::WillDelayInterval(5),
        Property::PayloadFormatIndicator(1),
        Property::UserProperty("k", "v"),
    ];
    const PUBLISH_PROPS: &[Property<'static>] = &[
        Property::TopicAlias(2),
        Property::MessageExpiryInterval(60),
        Property::ResponseTopic("reply/here"),
        Property::CorrelationData(&[1, 2]),
        Property::UserProperty("k", "v"),
    ];
    const ACK_PROPS: &[Property<'static>] = &[
        Property::ReasonString("no subscribers"),
        Property::UserProperty("k", "v"),
    ];
    const SUBSCRIBE_PROPS: &[Property<'static>] = &[
        Property::SubscriptionIdentifier(7),
        Property::UserProperty("k", "v"),
    ];
    const USER_ONLY: &[Property<'static>] = &[Property::UserProperty("k", "v")];
    const DISCONNECT_PROPS: &[Property<'static>] = &[
        Property::SessionExpiryInterval(0),
        Property::ReasonString("bye"),
    ];
    const FILTERS: &[(&str, SubscribeOptions)] = &[
        ("a/+/c", SubscribeOptions::qos(QoS::AtLeastOnce)),
        (
            "d/#",
            SubscribeOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        ),
    ];

    /// Every packet type, with properties where the version has them.
    fn samples(version: ProtocolVersion) -> [Packet<'static>; 15] {
        let pick = |list: &'static [Property<'static>]| match version {
            V3 => Properties::EMPTY,
            V5 => Properties::List(list),
        };
        let reason = if version == V5 { 0x10 } else { 0 };
        let ack = crate::mqtt::codec::Ack {
            packet_id: 7,
            reason_code: reason,
            properties: pick(ACK_PROPS),
        };
        let filters: &'static [(&'static str, SubscribeOptions)] = if version == V5 {
            FILTERS
        } else {
            &FILTERS[..1]
        };
        [
            Packet::Connect(crate::mqtt::codec::Connect {
                version,
                clean_start: true,
                keep_alive: 60,
                properties: pick(PROPS),
                client_id: "dev-1",
                will: Some(Will {
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: pick(WILL_PROPS),
                    topic: "dev/1/status",
                    payload: b"gone",
                }),
                username: Some("user"),
                password: Some(b"secret"),
            }),
            Packet::ConnAck(crate::mqtt::codec::ConnAck {
                session_present: true,
                reason_code: 0,
                properties: pick(PROPS),
            }),
            Packet::Publish(crate::mqtt::codec::Publish {
                dup: true,
                qos: QoS::ExactlyOnce,
                retain: true,
                topic: "a/b",
                packet_id: 9,
                properties: pick(PUBLISH_PROPS),
                payload: b"payload",
            }),
            Packet::Publish(crate::mqtt::codec::Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: "a",
                packet_id: 0,
                properties: Properties::EMPTY,
                payload: b"",
            }),
            Packet::PubAck(ack),
            Packet::PubRec(ack),
            Packet::PubRel(ack),
            Packet::PubComp(ack),
            Packet::PubAck(crate::mqtt::codec::Ack::success(1)),
            Packet::Subscribe(crate::mqtt::codec::Subscribe {
                packet_id: 3,
                properties: pick(SUBSCRIBE_PROPS),
                filters: SubscribeFilters::List(filters),
            }),
            Packet::SubAck(crate::mqtt::codec::SubAck {
                packet_id: 3,
                properties: pick(ACK_PROPS),
                reason_codes: &[1, 0x80],
            }),
            Packet::Unsubscribe(crate::mqtt::codec::Unsubscribe {
                packet_id: 4,
                properties: pick(USER_ONLY),
                filters: UnsubscribeFilters::List(&["a/+/c", "d/#"]),
            }),
            Packet::UnsubAck(crate::mqtt::codec::UnsubAck {
                packet_id: 4,
                properties: pick(ACK_PROPS),
                reason_codes: if version == V5 { &[0, 0x11] } else { &[] },
            }),
            Packet::PingReq,
            Packet::Disconnect(crate::mqtt::codec::Disconnect {
                reason_code: reason,
                properties: pick(DISCONNECT_PROPS),
            }),
        ]
    }

    #[test]
    fn every_packet_round_trips_in_both_versions() {
        for version in [V3, V5] {
            for packet in samples(version).into_iter().chain([Packet::PingResp]) {
                let mut buf = [0u8; 512];
                let n = packet.encode(version, &mut buf).unwrap();
                let (decoded, used) = Packet::decode(&buf[..n], version).unwrap();
                assert_eq!(used, n);
                assert_eq!(decoded, packet, "{version:?}");
                // Every shorter prefix is incomplete, never an error or a panic.
                for cut in 0..n {
                    assert_eq!(
                        Packet::decode(&buf[..cut], version).map(|_| ()),
                        Err(Error::Incomplete)
                    );
                }
            }
        }
    }

    fn encoded(packet: Packet<'_>, version: ProtocolVersion) -> ([u8; 64], usize) {
        let mut buf = [0u8; 64];
        let n = packet.encode(version, &mut buf).unwrap();
        (buf, n)
    }

    #[test]
    fn byte_exact_vectors_built_from_the_spec() {
        let connect = crate::mqtt::codec::Connect {
            version: V3,
            clean_start: true,
            keep_alive: 60,
            properties: Properties::EMPTY,
            client_id: "a",
            will: None,
            username: None,
            password: None,
        };
        let (b, n) = encoded(Packet::Connect(connect), V3);
        assert_eq!(&b[..n], b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a");
        let (b, n) = encoded(
            Packet::Connect(crate::mqtt::codec::Connect {
                version: V5,
                ..connect
            }),
            V5,
        );
        assert_eq!(
            &b[..n],
            b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01a"
        );
        let publish = crate::mqtt::codec::Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "a/b",
            packet_id: 10,
            properties: Properties::EMPTY,
            payload: b"hi",
        };
        let (b, n) = encoded(Packet::Publish(publish), V3);
        assert_eq!(&b[..n], b"\x32\x09\x00\x03a/b\x00\x0ahi");
        let (b, n) = encoded(Packet::Publish(publish), V5);
        assert_eq!(&b[..n], b"\x32\x0a\x00\x03a/b\x00\x0a\x00hi");
        let sub = crate::mqtt::codec::Subscribe {
            packet_id: 1,
            properties: Properties::EMPTY,
            filters: SubscribeFilters::List(&[("a/#", SubscribeOptions::qos(QoS::AtLeastOnce))]),
        };
        let (b, n) = encoded(Packet::Subscribe(sub), V3);
        assert_eq!(&b[..n], b"\x82\x08\x00\x01\x00\x03a/#\x01");
        let (b, n) = encoded(Packet::PubRel(crate::mqtt::codec::Ack::success(5)), V5);
        assert_eq!(&b[..n], b"\x62\x02\x00\x05");
        let (b, n) = encoded(Packet::PingReq, V3);
        assert_eq!(&b[..n], b"\xc0\x00");
        let (b, n) = encoded(
            Packet::Disconnect(crate::mqtt::codec::Disconnect::NORMAL),
            V5,
        );
        assert_eq!(&b[..n], b"\xe0\x00");
        assert_eq!(
            Packet::decode(b"\x20\x02\x01\x00", V3).unwrap().0,
            Packet::ConnAck(crate::mqtt::codec::ConnAck {
                session_present: true,
                reason_code: 0,
                properties: Properties::EMPTY
            })
        );
        // A 5.0 PUBACK with reason code 0x10 (no matching subscribers), no properties.
        let (p, _) = Packet::decode(b"\x40\x03\x00\x07\x10", V5).unwrap();
        assert_eq!(
            p,
            Packet::PubAck(crate::mqtt::codec::Ack {
                packet_id: 7,
                reason_code: 0x10,
                properties: Properties::EMPTY
            })
        );
    }

    #[test]
    fn typed_encoders_write_what_the_packet_enum_writes() {
        /// The packet through its own type's encoder (`session: false`),
        /// or through the one the session writes it with, where that is
        /// another (a SUBSCRIBE with a list); `None` where there is none.
        fn typed(
            packet: &Packet<'_>,
            session: bool,
            version: ProtocolVersion,
            buf: &mut [u8],
        ) -> Option<Result<usize, Error>> {
            Some(match (*packet, session) {
                (Packet::Connect(c), false) => encode(&c, version, buf),
                (Packet::Publish(p), false) => encode(&p, version, buf),
                (Packet::Subscribe(s), false) => encode(&s, version, buf),
                (Packet::Subscribe(s), true) => {
                    let SubscribeFilters::List(filters) = s.filters else {
                        return None;
                    };
                    let list = SubscribeList {
                        packet_id: s.packet_id,
                        properties: s.properties,
                        filters,
                    };
                    encode(&list, version, buf)
                }
                (Packet::Unsubscribe(u), false) => encode(&u, version, buf),
                (Packet::Disconnect(d), false) => encode(&d, version, buf),
                _ => return None,
            })
        }
        let mut subscribe_lists = 0;
        for version in [V3, V5] {
            for packet in samples(version) {
                let mut expected = [0u8; 256];
                let n = packet.encode(version, &mut expected).unwrap();
                for session in [false, true] {
                    let mut buf = [0u8; 256];
                    let Some(result) = typed(&packet, session, version, &mut buf) else {
                        continue;
                    };
                    assert_eq!(result, Ok(n), "{packet:?}");
                    assert_eq!(buf[..n], expected[..n], "{packet:?}");
                    subscribe_lists += usize::from(session);
                    // Too small by one byte: nothing written, a typed error.
                    let mut short = [0xaau8; 256];
                    let result = typed(&packet, session, version, &mut short[..n - 1]);
                    assert_eq!(result, Some(Err(Error::BufferTooSmall)));
                    assert!(short.iter().all(|&b| b == 0xaa));
                }
            }
        }
        assert!(subscribe_lists > 0, "no SUBSCRIBE sample has a list");
        let empty = SubscribeList {
            packet_id: 1,
            properties: Properties::EMPTY,
            filters: &[],
        };
        assert_eq!(
            encode(&empty, V5, &mut [0u8; 16]),
            Err(Error::NoTopicFilters)
        );
    }

    #[test]
    fn fixed_packets_match_their_general_encoding() {
        for version in [V3, V5] {
            for (kind, packet) in [
                (PacketType::PubAck, Packet::PubAck(Ack::success(0x1234))),
                (PacketType::PubRec, Packet::PubRec(Ack::success(0x1234))),
                (PacketType::PubRel, Packet::PubRel(Ack::success(0x1234))),
                (PacketType::PubComp, Packet::PubComp(Ack::success(0x1234))),
            ] {
                let (expected, n) = encoded(packet, version);
                let mut buf = [0u8; 8];
                assert_eq!(encode_fixed(kind, Some(0x1234), &mut buf), Ok(4));
                assert_eq!(buf[..4], expected[..n]);
                assert_eq!(
                    encode_fixed(kind, Some(0x1234), &mut buf[..3]),
                    Err(Error::BufferTooSmall)
                );
            }
            let (expected, n) = encoded(Packet::PingReq, version);
            let mut buf = [0u8; 2];
            assert_eq!(encode_fixed(PacketType::PingReq, None, &mut buf), Ok(2));
            assert_eq!(buf[..], expected[..n]);
        }
    }

    #[test]
    fn the_client_side_entry_points_take_only_their_direction() {
        for version in [V3, V5] {
            for packet in samples(version).into_iter().chain([Packet::PingResp]) {
                let mut buf = [0u8; 512];
                let n = packet.encode(version, &mut buf).unwrap();
                let from_server = matches!(
                    packet,
                    Packet::ConnAck(_)
                        | Packet::Publish(_)
                        | Packet::PubAck(_)
                        | Packet::PubRec(_)
                        | Packet::PubRel(_)
                        | Packet::PubComp(_)
                        | Packet::SubAck(_)
                        | Packet::UnsubAck(_)
                        | Packet::PingResp
                        | Packet::Disconnect(_)
                );
                let from_client = !matches!(
                    packet,
                    Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp
                );
                let kind = packet.packet_type() as u8;
                let decoded = Packet::decode_from_server(&buf[..n], version).map(|(p, _)| p);
                let expected = if from_server {
                    Ok(packet)
                } else {
                    Err(Error::InvalidPacketType(kind))
                };
                assert_eq!(decoded, expected, "{version:?}");
                let mut again = [0u8; 512];
                let encoded = packet.encode_from_client(version, &mut again);
                if from_client {
                    assert_eq!(encoded, Ok(n));
                    assert_eq!(again[..n], buf[..n]);
                } else {
                    assert_eq!(encoded, Err(Error::InvalidPacketType(kind)));
                }
            }
        }
    }

    #[test]
    fn auth_round_trips_in_5_0_and_does_not_exist_in_3_1_1() {
        const AUTH_PROPS: &[Property<'static>] = &[
            Property::AuthenticationMethod("SCRAM-SHA-256"),
            Property::AuthenticationData(b"client-first"),
            Property::ReasonString("continue"),
        ];
        let auth = Packet::Auth(crate::mqtt::codec::Auth {
            reason_code: 0x18,
            properties: Properties::List(AUTH_PROPS),
        });
        let mut buf = [0u8; 128];
        let n = auth.encode(V5, &mut buf).unwrap();
        assert_eq!(buf[0], 0xf0);
        let (decoded, used) = Packet::decode(&buf[..n], V5).unwrap();
        assert_eq!((decoded, used), (auth, n));
        // Success with nothing else is the two-byte form (§3.15.2.1).
        let bare = Packet::Auth(crate::mqtt::codec::Auth {
            reason_code: 0,
            properties: Properties::EMPTY,
        });
        assert_eq!(bare.encode(V5, &mut buf), Ok(2));
        assert_eq!(&buf[..2], b"\xf0\x00");
        assert_eq!(Packet::decode(b"\xf0\x00", V5).unwrap().0, bare);
        assert_eq!(auth.encode(V3, &mut buf), Err(Error::InvalidPacketType(15)));
        // A property AUTH may not carry (Session Expiry Interval).
        assert_eq!(
            Packet::decode(b"\xf0\x07\x18\x05\x11\x00\x00\x00\x01", V5).map(|_| ()),
            Err(Error::PropertyNotAllowed(0x11))
        );
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        let cases: &[(&[u8], ProtocolVersion, Error)] = &[
            (b"\x30\xff\xff\xff\xff\x01", V3, Error::MalformedVarInt),
            (b"\xc1\x00", V3, Error::ReservedFlags),
            (b"\x60\x02\x00\x01", V3, Error::ReservedFlags),
            (b"\x80\x08\x00\x01\x00\x03a/#\x01", V3, Error::ReservedFlags),
            (b"\x00\x00", V3, Error::InvalidPacketType(0)),
            (b"\xf0\x00", V3, Error::InvalidPacketType(15)),
            (b"\xf1\x00", V5, Error::ReservedFlags),
            (b"\xf0\x01\x05", V5, Error::MalformedPacket),
            (b"\x36\x05\x00\x01a\x00\x01", V3, Error::InvalidQoS),
            (b"\x38\x03\x00\x01a", V3, Error::MalformedPacket),
            (b"\x30\x03\x00\x01+", V3, Error::WildcardInTopicName),
            (b"\x30\x04\x00\x02\xc3\x28", V3, Error::InvalidUtf8),
            (b"\x30\x03\x00\x01\x00", V3, Error::NullCharacter),
            (b"\x30\x03\x00\x05a", V3, Error::MalformedPacket),
            (b"\x32\x05\x00\x01a\x00\x00", V3, Error::MalformedPacket),
            (b"\x40\x03\x00\x01\x00", V3, Error::MalformedPacket),
            (b"\x40\x02\x00\x00", V3, Error::MalformedPacket),
            (b"\xc0\x01\x00", V3, Error::MalformedPacket),
            (b"\x20\x02\x02\x00", V3, Error::MalformedPacket),
            (b"\x82\x02\x00\x01", V3, Error::NoTopicFilters),
            (
                b"\x82\x08\x00\x01\x00\x03a/#\x04",
                V3,
                Error::MalformedPacket,
            ),
            (
                b"\x82\x08\x00\x01\x00\x03#/a\x01",
                V3,
                Error::InvalidTopicFilter,
            ),
            (
                b"\x40\x05\x00\x01\x00\x01\x05",
                V5,
                Error::UnknownProperty(5),
            ),
            // A Topic Alias belongs in PUBLISH, not in PUBACK.
            (
                b"\x40\x07\x00\x01\x00\x03\x23\x00\x01",
                V5,
                Error::PropertyNotAllowed(0x23),
            ),
            (
                b"\x10\x0d\x00\x04MQTX\x04\x02\x00\x3c\x00\x01a",
                V3,
                Error::InvalidProtocolName,
            ),
            (
                b"\x10\x0d\x00\x04MQTT\x03\x02\x00\x3c\x00\x01a",
                V3,
                Error::UnsupportedProtocolLevel(3),
            ),
            (
                b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01a",
                V3,
                Error::MalformedPacket,
            ),
            (
                b"\x10\x0d\x00\x04MQTT\x04\x42\x00\x3c\x00\x01a",
                V3,
                Error::MalformedPacket,
            ),
        ];
        for &(bytes, version, error) in cases {
            assert_eq!(
                Packet::decode(bytes, version).map(|_| ()),
                Err(error),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn encoding_rejects_what_the_peer_would() {
        let mut buf = [0u8; 4];
        assert_eq!(
            Packet::Publish(crate::mqtt::codec::Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: "topic",
                packet_id: 0,
                properties: Properties::EMPTY,
                payload: b"x",
            })
            .encode(V3, &mut buf),
            Err(Error::BufferTooSmall)
        );
        let sub = crate::mqtt::codec::Subscribe {
            packet_id: 1,
            properties: Properties::EMPTY,
            filters: SubscribeFilters::List(&[]),
        };
        assert_eq!(
            Packet::Subscribe(sub).encode(V3, &mut [0; 64]),
            Err(Error::NoTopicFilters)
        );
    }

    /// Random bytes and randomly corrupted valid packets: decoding never
    /// panics, and whatever decodes re-encodes to something that decodes to
    /// the same packet.
    #[test]
    fn random_input_never_panics_and_decoded_packets_round_trip() {
        let mut rng = Rng::new(0x6d71_7474);
        let mut valid = [[0u8; 512]; 2];
        let mut input = [0u8; 512];
        let mut out = [0u8; 1024];
        for round in 0..40_000u32 {
            let version = if round % 2 == 0 { V3 } else { V5 };
            let len = if round % 3 == 0 {
                let len = rng.below(64) as usize;
                rng.fill(&mut input[..len]);
                len
            } else {
                let all = samples(version);
                let packet = all[rng.below(all.len() as u32) as usize];
                let slot = &mut valid[round as usize % 2];
                let len = packet.encode(version, slot).unwrap();
                input[..len].copy_from_slice(&slot[..len]);
                for _ in 0..=rng.below(3) {
                    let at = rng.below(len as u32) as usize;
                    input[at] = rng.next_u32() as u8;
                }
                len
            };
            if let Ok((packet, used)) = Packet::decode(&input[..len], version) {
                assert!(used <= len);
                let n = packet.encode(version, &mut out).unwrap();
                let (again, _) = Packet::decode(&out[..n], version).unwrap();
                assert_eq!(again, packet);
            }
        }
    }
}
