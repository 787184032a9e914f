//! Footprint image `mqtt-client`: what Duet's MQTT client costs alone — the
//! 3.1.1 and 5.0 codec and the session engine with QoS 0, 1 and 2 in both
//! directions, keepalive and resume — without the transport under it.
//!
//! Every input (protocol version, QoS, received bytes, time) comes through
//! `core::hint::black_box`, and every output goes into one, so no packet
//! type or QoS path can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet::mqtt::codec::{Properties, Publish, SubscribeOptions};
use duet::mqtt::{Packet, Session};
use duet_netstack::Instant;
use mqtt_inputs::qos;
use panic_halt as _;

#[path = "../mqtt_inputs.rs"]
mod mqtt_inputs;

#[entry]
fn main() -> ! {
    let mut session: Session<8, 8> = Session::new();
    let version = mqtt_inputs::version();
    let mut out = [0u8; 256];
    let mut received = [0u8; 256];
    let mut millis = 0u64;
    let connect = mqtt_inputs::connect(version);
    let _ = black_box(session.connect(Instant::from_millis(millis), &connect, &mut out));
    loop {
        millis += black_box(1);
        let now = Instant::from_millis(millis);
        // Whatever the transport delivered, decoded in place and handled.
        black_box(&mut received);
        if let Ok((packet, _)) = Packet::decode_from_server(&received, version) {
            let _ = black_box(session.handle_packet(now, &packet));
        }
        while let Ok(Some(n)) = session.poll_transmit(now, &mut out) {
            black_box(&out[..n]);
        }
        if session.poll_timeout().is_some_and(|at| at <= now) {
            let _ = black_box(session.handle_timeout(now));
        }
        if black_box(millis as u32).is_multiple_of(1000) {
            let filters = [(
                "devices/+/commands/#",
                SubscribeOptions::qos(qos(black_box(2))),
            )];
            let _ = black_box(session.subscribe(now, &filters, Properties::EMPTY, &mut out));
        }
        let publish = Publish {
            dup: false,
            qos: qos(black_box(millis as u8)),
            retain: false,
            topic: "devices/device-01/telemetry",
            packet_id: 0,
            properties: Properties::EMPTY,
            payload: black_box(b"{\"temperature\":21.5}"),
        };
        let _ = black_box(session.publish(now, &publish, &mut out));
    }
}
