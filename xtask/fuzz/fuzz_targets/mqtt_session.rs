//! An MQTT session (3.1.1 or 5.0, chosen by the first byte) driven by the
//! input: each step is one operation byte — feed the server packet whose
//! length comes next (decoded as a client decodes, and also with the
//! server-side decoders and re-encoded), publish at a QoS, subscribe and
//! unsubscribe, drain what is due, fire the timers, or lose and re-open the
//! connection — with the clock advanced by the byte's high nibble. A
//! protocol error aborts and reconnects, as the client does.
#![no_main]

use duet::mqtt::codec::{Properties, Publish, SubscribeOptions};
use duet::mqtt::session::State;
use duet::mqtt::{Packet, ProtocolVersion, QoS, Session};
use duet_netstack::Instant;
use libfuzzer_sys::fuzz_target;

#[path = "common/mqtt_peer.rs"]
mod mqtt_peer;
use mqtt_peer::INBOUND;

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut steps)) = data.split_first() else {
        return;
    };
    let version = if first & 1 == 0 {
        ProtocolVersion::V311
    } else {
        ProtocolVersion::V5
    };
    let mut aliases = [0u8; 256];
    let mut session: Session<4, INBOUND, &mut [u8]> = Session::with_topic_aliases(&mut aliases[..]);
    let mut out = [0u8; 1024];
    let connect = mqtt_peer::connect(version, first & 2 != 0);
    let mut millis = 0u64;
    let _ = session.connect(Instant::from_millis(millis), &connect, &mut out);
    let mut connected = false;
    while let Some((&op, rest)) = steps.split_first() {
        steps = rest;
        millis += u64::from(op >> 4) * 100;
        let now = Instant::from_millis(millis);
        match op & 7 {
            0..=2 => {
                // (The length byte was once read as the packet's first
                // byte too, so no seed packet ever decoded.)
                let packet_bytes = mqtt_peer::server_bytes(&mut steps);
                if let Ok((packet, _)) = Packet::decode_from_server(packet_bytes, version)
                    && let Err(error) = session.handle_packet(now, &packet)
                {
                    let _ = session.abort(error, &mut out);
                    let _ = session.connect(now, &connect, &mut out);
                }
                if let Ok((packet, _)) = Packet::decode(packet_bytes, version) {
                    let _ = packet.encode(version, &mut [0u8; 512]);
                }
            }
            3 => {
                let qos = match op >> 6 {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                let publish = Publish {
                    dup: false,
                    qos,
                    retain: false,
                    topic: "a/b",
                    packet_id: 0,
                    properties: Properties::EMPTY,
                    payload: b"x",
                };
                let _ = session.publish(now, &publish, &mut out);
            }
            4 => {
                let filters = [("a/#", SubscribeOptions::qos(QoS::ExactlyOnce))];
                let _ = session.subscribe(now, &filters, Properties::EMPTY, &mut out);
                let _ = session.unsubscribe(now, &["a/+"], &mut out);
            }
            5 => while let Ok(Some(_)) = session.poll_transmit(now, &mut out) {},
            6 => {
                if let Err(error) = session.handle_timeout(now) {
                    let _ = session.abort(error, &mut out);
                }
            }
            _ => {
                session.connection_lost();
                let _ = session.connect(now, &connect, &mut out);
            }
        }
        connected |= session.state() == State::Connected;
    }
    // CI runs the seeds with this set: each must get the session connected,
    // or the target fuzzes only a session that refused to connect (as it
    // did for every 5.0 input before its CONNECT announced a Receive
    // Maximum).
    if std::env::var_os("DUET_FUZZ_SEEDS_COMPLETE").is_some() {
        assert!(connected, "a seed never got the session connected");
    }
});
