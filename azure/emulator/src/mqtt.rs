//! MQTT 3.1.1 framing on the server side, over Duet's codec: cutting
//! frames out of the received plaintext, and the owned packets the
//! emulator sends, encoded on their way out.

use duet::mqtt::codec::{Ack, ConnAck, Error, Properties, Publish, SubAck, UnsubAck, frame_len};
use duet::mqtt::{Packet, ProtocolVersion, QoS};

use crate::Violation;

/// IoT Hub takes messages of up to 256 KiB; a packet carries a topic and
/// headers besides.
pub(crate) const MAX_PACKET: usize = 256 * 1024 + 16 * 1024;

/// The only version the hub speaks here.
pub(crate) const VERSION: ProtocolVersion = ProtocolVersion::V311;

/// The length of the first whole frame in `buf`; `None` while incomplete.
pub(crate) fn next_frame_len(buf: &[u8]) -> Result<Option<usize>, Violation> {
    match frame_len(buf) {
        Ok(len) if len > MAX_PACKET => Err(Violation::OversizedPacket),
        Ok(len) if len <= buf.len() => Ok(Some(len)),
        Ok(_) | Err(Error::Incomplete) => Ok(None),
        Err(_) => Err(Violation::MalformedPacket),
    }
}

/// Decodes one whole frame.
pub(crate) fn decode(frame: &[u8]) -> Result<Packet<'_>, Violation> {
    match Packet::decode(frame, VERSION) {
        Ok((packet, used)) if used == frame.len() => Ok(packet),
        _ => Err(Violation::MalformedPacket),
    }
}

/// A PUBLISH from the emulator to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutPublish {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) qos: QoS,
    /// 0 at QoS 0.
    pub(crate) packet_id: u16,
    pub(crate) dup: bool,
}

impl OutPublish {
    /// A QoS 0 message, as the hub sends method requests and twin traffic.
    pub(crate) fn at_most_once(topic: String, payload: Vec<u8>) -> Self {
        OutPublish {
            topic,
            payload,
            qos: QoS::AtMostOnce,
            packet_id: 0,
            dup: false,
        }
    }
}

/// A packet the emulator sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    ConnAck { session_present: bool, code: u8 },
    Publish(OutPublish),
    PubAck(u16),
    SubAck { packet_id: u16, codes: Vec<u8> },
    UnsubAck(u16),
    PingResp,
}

impl Outgoing {
    /// The packet's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let packet = match self {
            Outgoing::ConnAck {
                session_present,
                code,
            } => Packet::ConnAck(ConnAck {
                session_present: *session_present,
                reason_code: *code,
                properties: Properties::EMPTY,
            }),
            Outgoing::Publish(p) => Packet::Publish(Publish {
                dup: p.dup,
                qos: p.qos,
                retain: false,
                topic: &p.topic,
                packet_id: p.packet_id,
                properties: Properties::EMPTY,
                payload: &p.payload,
            }),
            Outgoing::PubAck(id) => Packet::PubAck(Ack::success(*id)),
            Outgoing::SubAck { packet_id, codes } => Packet::SubAck(SubAck {
                packet_id: *packet_id,
                properties: Properties::EMPTY,
                reason_codes: codes,
            }),
            Outgoing::UnsubAck(id) => Packet::UnsubAck(UnsubAck {
                packet_id: *id,
                properties: Properties::EMPTY,
                reason_codes: &[],
            }),
            Outgoing::PingResp => Packet::PingResp,
        };
        // Fixed header (5 bytes at most), topic length and packet id, plus
        // the codec's slack for the remaining length.
        let size = match self {
            Outgoing::Publish(p) => p.topic.len() + p.payload.len() + 16,
            Outgoing::SubAck { codes, .. } => codes.len() + 16,
            _ => 16,
        };
        let mut buf = vec![0; size];
        // The buffer is sized for the packet; a topic or payload past
        // MQTT's limits is the only way to fail, and the emulator builds
        // none.
        let n = packet.encode(VERSION, &mut buf).unwrap_or(0);
        buf.truncate(n);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_packets_decode_back() {
        let publish = Outgoing::Publish(OutPublish {
            topic: "devices/d/messages/devicebound/a=b".into(),
            payload: vec![7; 300],
            qos: QoS::AtLeastOnce,
            packet_id: 9,
            dup: true,
        });
        let bytes = publish.encode();
        assert_eq!(next_frame_len(&bytes), Ok(Some(bytes.len())));
        let Packet::Publish(p) = Packet::decode_from_server(&bytes, VERSION).unwrap().0 else {
            panic!("not a publish");
        };
        assert_eq!(
            (p.topic, p.packet_id, p.dup, p.payload.len()),
            ("devices/d/messages/devicebound/a=b", 9, true, 300)
        );
        for out in [
            Outgoing::ConnAck {
                session_present: true,
                code: 0,
            },
            Outgoing::PubAck(1),
            Outgoing::SubAck {
                packet_id: 2,
                codes: vec![1, 0x80],
            },
            Outgoing::UnsubAck(3),
            Outgoing::PingResp,
        ] {
            let bytes = out.encode();
            assert!(!bytes.is_empty());
            assert!(
                Packet::decode_from_server(&bytes, VERSION).is_ok(),
                "{out:?}"
            );
        }
    }

    #[test]
    fn frames_are_cut_and_bounded() {
        assert_eq!(next_frame_len(&[]), Ok(None));
        assert_eq!(next_frame_len(&[0xc0]), Ok(None));
        assert_eq!(next_frame_len(&[0xc0, 0x00, 0xc0]), Ok(Some(2)));
        assert_eq!(next_frame_len(&[0x30, 0x05, 0x00]), Ok(None));
        assert_eq!(
            next_frame_len(&[0x30, 0xff, 0xff, 0xff, 0x7f]),
            Err(Violation::OversizedPacket)
        );
        assert_eq!(
            next_frame_len(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(Violation::MalformedPacket)
        );
        assert_eq!(
            decode(&[0x00, 0x00]).err(),
            Some(Violation::MalformedPacket)
        );
    }
}
