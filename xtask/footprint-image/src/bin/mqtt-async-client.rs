//! Footprint image `mqtt-async-client`: the MQTT client a firmware links
//! when it uses `mqtt::Client` — reconnection with backoff and jitter, the
//! outbox that keeps publishes across connections, events, over the session
//! and codec that `mqtt-client` measures alone (3.1.1 and 5.0, QoS 0–2) —
//! without TCP or TLS under it, and without topic aliases (`[]`).
//!
//! The transport's bytes, the connector's and clock's answers, the protocol
//! version and every QoS come through `core::hint::black_box`, and every
//! output goes into one, so no path of the client can be proven dead.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use duet::connector::Connector;
use duet::mqtt::{Backoff, Client, ClientBuffers, ClientEvent, Clock};
use duet_netstack::Instant;
use embedded_io::ErrorKind;
use embedded_io_async::{ErrorType, Read, Write};
use mqtt_inputs::qos;
use panic_halt as _;

#[path = "../mqtt_inputs.rs"]
mod mqtt_inputs;

/// A connection whose bytes and failures the optimiser cannot see.
struct Opaque;

impl ErrorType for Opaque {
    type Error = ErrorKind;
}

impl Read for Opaque {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        black_box(&mut *buf);
        if black_box(false) {
            return Err(ErrorKind::ConnectionReset);
        }
        Ok(black_box(buf.len()).min(buf.len()))
    }
}

impl Write for Opaque {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        black_box(buf);
        if black_box(false) {
            return Err(ErrorKind::ConnectionReset);
        }
        Ok(black_box(buf.len()).min(buf.len()))
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        if black_box(false) {
            return Err(ErrorKind::ConnectionReset);
        }
        Ok(())
    }
}

/// Opens an [`Opaque`] connection, or fails to.
struct Dial;

impl Connector for Dial {
    type Transport = Opaque;

    async fn connect(&mut self) -> Result<Opaque, ErrorKind> {
        if black_box(false) {
            return Err(ErrorKind::ConnectionRefused);
        }
        Ok(Opaque)
    }
}

/// A clock that reads whatever it is told and never waits.
struct Ticks;

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant::from_millis(black_box(0))
    }

    async fn sleep_until(&self, deadline: Instant) {
        black_box(deadline);
    }
}

#[entry]
fn main() -> ! {
    let (mut receive, mut send, mut outbox) = ([0u8; 512], [0u8; 512], [0u8; 1024]);
    let connect = mqtt_inputs::connect(mqtt_inputs::version());
    let buffers = ClientBuffers {
        receive: &mut receive,
        send: &mut send,
        outbox: &mut outbox,
        topic_aliases: [],
    };
    let mut client: Client<'_, Dial, Ticks, 8, 8> = Client::new(
        Dial,
        Ticks,
        connect,
        Backoff::default(),
        buffers,
        black_box(1),
    );
    embassy_futures::block_on(async {
        loop {
            match client.poll().await {
                Ok(ClientEvent::Connected { session_present }) => {
                    black_box(session_present);
                    let subscribed = client
                        .subscribe("devices/+/commands/#", qos(black_box(2)))
                        .await;
                    let _ = black_box(subscribed);
                }
                Ok(ClientEvent::Message(message)) => {
                    black_box(message.topic);
                    black_box(message.payload);
                }
                event => {
                    let _ = black_box(event);
                }
            }
            let published = client
                .publish(
                    "devices/device-01/telemetry",
                    black_box(b"{\"temperature\":21.5}"),
                    qos(black_box(1)),
                )
                .await;
            let _ = black_box(published);
        }
    })
}
