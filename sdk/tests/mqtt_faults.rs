//! The async MQTT client through 100 faults: a device streams 10,000 QoS 1
//! and 10,000 QoS 2 messages to a subscriber (one speaking 3.1.1, the other
//! 5.0, both ways round), both clients reaching a real mosquitto through a
//! proxy, while the test cuts every connection 90 times
//! and restarts the broker (with persistence, so sessions and queued
//! messages survive) 10 times. QoS 1: every message reaches the subscribing
//! application. QoS 2: every message reaches it exactly once. A 5.0 device
//! publishes with topic aliases.
//!
//! Both clients run on one thread, joined; their sockets yield instead of
//! blocking, so each waits for the other's traffic without stalling it.

use std::cell::{Cell, RefCell};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use duet::mqtt::alias::SLOT;
use duet::mqtt::codec::{Connect, Properties, Property};
use duet::mqtt::{Backoff, Client, ClientBuffers, ClientError, ClientEvent, ProtocolVersion, QoS};
use duet::netstack::time::Duration;
use embassy_futures::join::join;
use embassy_futures::{block_on, yield_now};

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;

#[path = "common/mqtt_std.rs"]
mod mqtt_std;
use mqtt_std::{Proxy, StdClock, Tcp};

/// Messages per QoS level.
const PER_QOS: u32 = 10_000;
/// Messages in all: even numbers go at QoS 1, odd ones at QoS 2.
const TOTAL: u32 = 2 * PER_QOS;
const FAULTS: u32 = 100;
/// Every tenth fault restarts the broker; the others cut the connections.
const RESTART_EVERY: u32 = 10;
/// Far beyond what the run needs; a hang fails instead of stalling CI.
const DEADLINE: StdDuration = StdDuration::from_secs(300);

const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(10),
    max: Duration::from_millis(100),
};

/// 20 publishes in flight: mosquitto's `max_inflight_messages`, which a 3.1.1
/// client must not exceed and a 5.0 one learns from CONNACK.
/// Alias storage as a slice: the device has some, the subscriber none.
type FaultClient<'b, const INBOUND: usize> =
    Client<'b, Tcp, StdClock, 20, INBOUND, (), &'b mut [u8]>;

/// The device receives nothing. The subscriber tracks 256 inbound messages
/// and so remembers its last 256 QoS 2 completions: mosquitto 2.0.11 may
/// resend a QoS 2 PUBLISH after we completed it (see `Session`), at any
/// point of what it has in flight for us, which `LEAD` bounds.
const DEVICE_INBOUND: usize = 8;
const SUBSCRIBER_INBOUND: usize = 256;

/// How far the device may run ahead of the subscribing application. Without
/// a bound the broker queues the difference for the subscriber and, on each
/// reconnection, resends all of it that it had sent (mosquitto 2.0.11 does
/// not hold to the subscriber's Receive Maximum at QoS 2): the excess is
/// fetched correctly but with one reconnection per `SUBSCRIBER_INBOUND`.
const LEAD: u32 = 200;

fn qos_of(number: u32) -> QoS {
    if number % 2 == 0 {
        QoS::AtLeastOnce
    } else {
        QoS::ExactlyOnce
    }
}

fn topic_of(number: u32) -> &'static str {
    match qos_of(number) {
        QoS::AtLeastOnce => "duet/faults/qos1",
        _ => "duet/faults/qos2",
    }
}

fn client<'b, const INBOUND: usize>(
    port: u16,
    version: ProtocolVersion,
    client_id: &'b str,
    buffers: ClientBuffers<'b, &'b mut [u8]>,
    seed: u32,
) -> FaultClient<'b, INBOUND> {
    /// 5.0: the session outlives the connection (absent, it would end with
    /// it, §3.1.2.11.2), and the broker should send at most the 8 the
    /// smaller client tracks.
    const V5_PROPERTIES: &[Property<'static>] = &[
        Property::SessionExpiryInterval(3600),
        Property::ReceiveMaximum(DEVICE_INBOUND as u16),
    ];
    let connect = Connect {
        version,
        // Persistent sessions from the start: every reconnection resumes.
        clean_start: false,
        keep_alive: 10,
        properties: match version {
            ProtocolVersion::V5 => Properties::List(V5_PROPERTIES),
            _ => Properties::EMPTY,
        },
        client_id,
        will: None,
        username: None,
        password: None,
    };
    Client::new(
        Tcp(port),
        StdClock(StdInstant::now()),
        connect,
        BACKOFF,
        buffers,
        seed,
    )
}

/// The device's last message, after every numbered one was acknowledged.
const END: &[u8] = b"end";

/// What the subscribing application saw: how often each message arrived.
struct Deliveries {
    count: Vec<u32>,
    distinct: u32,
    ended: bool,
}

impl Deliveries {
    fn record(&mut self, topic: &str, payload: &[u8]) {
        if payload == END {
            self.ended = true;
            return;
        }
        let number: usize = std::str::from_utf8(payload)
            .ok()
            .and_then(|text| text.parse().ok())
            .expect("payload is a message number");
        assert_eq!(topic, topic_of(number as u32), "message {number}");
        self.count[number] += 1;
        if self.count[number] == 1 {
            self.distinct += 1;
        }
    }
}

/// Subscribes to both topics whenever the broker has no session for the
/// subscriber (the first connection), says when both SUBACKs are in, then
/// records every message until all have arrived and so has the device's
/// end mark, so duplicates resent until then are counted too.
async fn run_subscriber(
    subscriber: &mut FaultClient<'_, SUBSCRIBER_INBOUND>,
    subscribed: &Cell<bool>,
    deliveries: &RefCell<Deliveries>,
) {
    let mut acknowledged_subscriptions = 0;
    while !(deliveries.borrow().ended && deliveries.borrow().distinct == TOTAL) {
        match subscriber.poll().await {
            Ok(ClientEvent::Connected {
                session_present: false,
            }) => {
                for number in [0, 1] {
                    // A cut right here is retried on the next connection,
                    // which the broker again reports without a session.
                    let _ = subscriber.subscribe(topic_of(number), qos_of(number)).await;
                }
            }
            Ok(ClientEvent::Subscribed { .. }) => {
                acknowledged_subscriptions += 1;
                subscribed.set(acknowledged_subscriptions >= 2);
            }
            Ok(ClientEvent::Message(publish)) => deliveries
                .borrow_mut()
                .record(publish.topic, publish.payload),
            Ok(_) => {}
            Err(e) => panic!("subscriber: {e:?}"),
        }
    }
}

/// Publishes every message, keeping the outbox full but at most `LEAD`
/// messages ahead of what the subscriber has seen, and injects a fault after
/// each hundredth of the stream has been acknowledged.
async fn run_device(
    device: &mut FaultClient<'_, DEVICE_INBOUND>,
    subscribed: impl Fn() -> bool,
    delivered: impl Fn() -> u32,
    mut fault: impl FnMut(u32),
) -> u32 {
    // Publish only once the subscriptions exist, so nothing is published to
    // no one.
    while !subscribed() {
        yield_now().await;
    }
    let (mut next, mut acknowledged, mut faults, mut connections) = (0, 0, 0, 0);
    while acknowledged < TOTAL {
        while next < TOTAL.min(delivered() + LEAD) {
            let payload = next.to_string();
            match device
                .publish(topic_of(next), payload.as_bytes(), qos_of(next))
                .await
            {
                Ok(()) => next += 1,
                Err(ClientError::OutboxFull) => break,
                Err(e) => panic!("device publish: {e:?}"),
            }
        }
        if device.outbox_used() == 0 {
            // Nothing to be acknowledged: wait for the subscriber.
            yield_now().await;
            continue;
        }
        match device.poll().await {
            Ok(ClientEvent::Published { reason_code, .. }) => {
                assert_eq!(reason_code, 0);
                acknowledged += 1;
                if faults < FAULTS && acknowledged >= (faults + 1) * (TOTAL / (FAULTS + 1)) {
                    faults += 1;
                    fault(faults);
                }
            }
            Ok(ClientEvent::Connected { .. }) => connections += 1,
            Ok(_) => {}
            Err(e) => panic!("device: {e:?}"),
        }
    }
    assert_eq!(faults, FAULTS);
    device
        .publish(topic_of(0), END, QoS::AtLeastOnce)
        .await
        .expect("room for the end mark");
    loop {
        match device.poll().await {
            Ok(ClientEvent::Published { .. }) => return connections,
            Ok(_) => {}
            Err(e) => panic!("device: {e:?}"),
        }
    }
}

/// The stream through the faults, the device speaking `device_version` and
/// the subscriber `subscriber_version`.
fn stream_through_faults(device_version: ProtocolVersion, subscriber_version: ProtocolVersion) {
    let broker = RefCell::new(Broker::start_persistent());
    let proxy = Proxy::start(broker.borrow().port);
    let (mut device_receive, mut device_send, mut device_outbox) =
        (vec![0; 1024], vec![0; 1024], vec![0; 8 * 1024]);
    // A 5.0 device sends its two topics as aliases (two of the four slots
    // are its own), named again on every new connection.
    let mut device_aliases = vec![0; 4 * SLOT];
    let mut device = client(
        proxy.port,
        device_version,
        "faults-device",
        ClientBuffers {
            receive: &mut device_receive,
            send: &mut device_send,
            outbox: &mut device_outbox,
            topic_aliases: &mut device_aliases,
        },
        17,
    );
    let (mut subscriber_receive, mut subscriber_send, mut subscriber_outbox) =
        (vec![0; 4096], vec![0; 1024], vec![0; 64]);
    let mut subscriber = client(
        proxy.port,
        subscriber_version,
        "faults-subscriber",
        ClientBuffers {
            receive: &mut subscriber_receive,
            send: &mut subscriber_send,
            outbox: &mut subscriber_outbox,
            topic_aliases: &mut [],
        },
        23,
    );
    let deliveries = RefCell::new(Deliveries {
        count: vec![0; TOTAL as usize],
        distinct: 0,
        ended: false,
    });
    let restarts = Cell::new(0);
    let started = StdInstant::now();
    // A client waiting for a packet that never comes would hang the test:
    // fail it instead.
    std::thread::spawn(|| {
        std::thread::sleep(DEADLINE);
        eprintln!("the fault stream did not finish within {DEADLINE:?}");
        std::process::exit(1);
    });
    let subscribed = Cell::new(false);
    let (connections, ()) = block_on(join(
        run_device(
            &mut device,
            || subscribed.get(),
            || deliveries.borrow().distinct,
            |fault| {
                if fault % RESTART_EVERY == 0 {
                    broker.borrow_mut().restart();
                    restarts.set(restarts.get() + 1);
                } else {
                    proxy.cut();
                }
            },
        ),
        run_subscriber(&mut subscriber, &subscribed, &deliveries),
    ));
    let deliveries = deliveries.into_inner();
    let missing: Vec<usize> = (0..TOTAL as usize)
        .filter(|&n| deliveries.count[n] == 0)
        .collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let duplicated_qos2: Vec<usize> = (1..TOTAL as usize)
        .step_by(2)
        .filter(|&n| deliveries.count[n] > 1)
        .collect();
    assert!(
        duplicated_qos2.is_empty(),
        "QoS 2 delivered twice: {duplicated_qos2:?}"
    );
    let duplicated_qos1 = (0..TOTAL as usize)
        .step_by(2)
        .filter(|&n| deliveries.count[n] > 1)
        .count();
    assert_eq!(restarts.get(), FAULTS / RESTART_EVERY);
    assert!(
        connections > FAULTS,
        "{connections} device connections for {FAULTS} faults"
    );
    eprintln!(
        "faults {device_version:?} -> {subscriber_version:?}: {FAULTS} ({} restarts), \
         device connections {connections}, \
         QoS 1 duplicates {duplicated_qos1}, {:.1} s",
        restarts.get(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_v311_device_to_a_v5_subscriber_through_100_faults() {
    stream_through_faults(ProtocolVersion::V311, ProtocolVersion::V5);
}

#[test]
fn a_v5_device_to_a_v311_subscriber_through_100_faults() {
    stream_through_faults(ProtocolVersion::V5, ProtocolVersion::V311);
}
