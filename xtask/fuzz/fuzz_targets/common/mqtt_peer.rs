//! What the MQTT targets share: the CONNECT they send (`INBOUND` QoS 1/2
//! messages from the server at once, which a 5.0 CONNECT must announce as
//! its Receive Maximum, or the session refuses to connect) and how the
//! input carries the server's bytes.

use duet::mqtt::ProtocolVersion;
use duet::mqtt::codec::{Connect, Properties, Property};

/// QoS 1/2 messages the client takes from the server at once.
pub const INBOUND: usize = 4;

const RECEIVE_MAXIMUM: [Property<'static>; 1] = [Property::ReceiveMaximum(INBOUND as u16)];

/// A CONNECT of `version` with a 5-second keep-alive.
pub fn connect(version: ProtocolVersion, clean_start: bool) -> Connect<'static> {
    Connect {
        version,
        clean_start,
        keep_alive: 5,
        properties: match version {
            ProtocolVersion::V311 => Properties::EMPTY,
            ProtocolVersion::V5 => Properties::List(&RECEIVE_MAXIMUM),
        },
        client_id: "fuzz",
        will: None,
        username: None,
        password: None,
    }
}

/// Takes the server's bytes off the front of `steps`: a length byte, then
/// that many bytes (fewer where the input ends).
pub fn server_bytes<'a>(steps: &mut &'a [u8]) -> &'a [u8] {
    let input = *steps;
    let len = input
        .first()
        .map_or(0, |&n| usize::from(n))
        .min(input.len().saturating_sub(1));
    *steps = &input[(1 + len).min(input.len())..];
    input.get(1..1 + len).unwrap_or_default()
}
