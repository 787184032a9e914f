//! What the MQTT footprint images feed their client: a CONNECT whose
//! protocol version the optimiser cannot see, and QoS levels drawn from
//! opaque bits, so the 3.1.1 and 5.0 paths and every QoS stay in the image.

use core::hint::black_box;

use duet::mqtt::codec::{Connect, Properties};
use duet::mqtt::{ProtocolVersion, QoS};

/// 5.0 or 3.1.1, the choice hidden from the optimiser.
#[inline(always)]
pub fn version() -> ProtocolVersion {
    if black_box(true) {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    }
}

/// A CONNECT for `version`. Inlined, as if written in the image's `main`:
/// a call would add bytes that are the harness's, not the client's.
#[inline(always)]
pub fn connect(version: ProtocolVersion) -> Connect<'static> {
    Connect {
        version,
        clean_start: black_box(false),
        keep_alive: 60,
        properties: Properties::EMPTY,
        client_id: "device-01",
        will: None,
        username: None,
        password: None,
    }
}

/// A QoS level from opaque bits.
#[inline(always)]
pub fn qos(bits: u8) -> QoS {
    match bits % 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}
