//! The MQTT codec and session engine against a real mosquitto, over std
//! TCP: publish/subscribe at QoS 0, 1 and 2, retained messages, keepalive,
//! unsubscribe, `$SYS` topics and `#`, zero-length client ids, resumed
//! sessions and will messages, in MQTT 3.1.1 and 5.0.
//!
//! Each test starts its own mosquitto (`common/mosquitto.rs`) and kills it
//! when done.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use duet::mqtt::codec::{Connect, Packet, Properties, Property, Publish, SubscribeOptions, Will};
use duet::mqtt::session::State;
use duet::mqtt::{Event, ProtocolVersion, QoS, Session};
use duet::netstack::time::Instant;

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;

/// CONNECT with a clean start; in 5.0 it bounds the server's in-flight
/// messages to the session's inbound slots.
fn basic_connect(version: ProtocolVersion, id: &str, keep_alive: u16) -> Connect<'_> {
    const RM: &[Property<'static>] = &[Property::ReceiveMaximum(8)];
    Connect {
        version,
        clean_start: true,
        keep_alive,
        properties: match version {
            ProtocolVersion::V311 => Properties::EMPTY,
            ProtocolVersion::V5 => Properties::List(RM),
        },
        client_id: id,
        will: None,
        username: None,
        password: None,
    }
}

/// An application event, copied out of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Connected(bool),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    },
    Published(u16),
    Subscribed(Vec<u8>),
    Unsubscribed,
}

/// The session engine driven over a blocking TCP stream.
struct Client {
    stream: TcpStream,
    session: Session<8, 8>,
    epoch: StdInstant,
    rx: Vec<u8>,
    out: [u8; 1024],
    pings_sent: usize,
    assigned: Option<String>,
}

impl Client {
    fn connect(broker: &Broker, version: ProtocolVersion, id: &str, keep_alive: u16) -> Client {
        let (client, assigned) = Client::connect_assigned(broker, version, id, keep_alive);
        assert_eq!(assigned, None);
        client
    }

    /// Connects, also returning the 5.0 Assigned Client Identifier, if any.
    fn connect_assigned(
        broker: &Broker,
        version: ProtocolVersion,
        id: &str,
        keep_alive: u16,
    ) -> (Client, Option<String>) {
        let connect = basic_connect(version, id, keep_alive);
        let (client, session_present, assigned) = Client::open(broker, Session::new(), &connect);
        assert!(!session_present);
        (client, assigned)
    }

    /// Sends `connect` for `session` on a new connection and waits for
    /// CONNACK; returns Session Present and any Assigned Client Identifier.
    fn open(
        broker: &Broker,
        session: Session<8, 8>,
        connect: &Connect<'_>,
    ) -> (Client, bool, Option<String>) {
        let stream = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
        stream
            .set_read_timeout(Some(StdDuration::from_millis(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut client = Client {
            stream,
            session,
            epoch: StdInstant::now(),
            rx: Vec::new(),
            out: [0; 1024],
            pings_sent: 0,
            assigned: None,
        };
        let now = client.now();
        let n = client
            .session
            .connect(now, connect, &mut client.out)
            .unwrap();
        client.stream.write_all(&client.out[..n]).unwrap();
        let got = client.wait_for(|g| matches!(g, Got::Connected(_)));
        let Some(Got::Connected(session_present)) = got.last().cloned() else {
            panic!("no CONNACK: {got:?}")
        };
        let assigned = client.assigned.take();
        (client, session_present, assigned)
    }

    /// Sends DISCONNECT, closes the connection, and keeps the session state.
    fn close_cleanly(mut self) -> Session<8, 8> {
        let n = self.session.disconnect(&mut self.out).unwrap();
        self.stream.write_all(&self.out[..n]).unwrap();
        self.session
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn flush(&mut self) {
        let now = self.now();
        while let Some(n) = self.session.poll_transmit(now, &mut self.out).unwrap() {
            if self.out[0] == 0xc0 {
                self.pings_sent += 1;
            }
            self.stream.write_all(&self.out[..n]).unwrap();
        }
    }

    /// Reads and handles packets (and runs timers) for up to `limit`,
    /// returning every event; stops early once `done` matches one.
    fn pump(&mut self, limit: StdDuration, mut done: impl FnMut(&Got) -> bool) -> Vec<Got> {
        let deadline = StdInstant::now() + limit;
        let mut got = Vec::new();
        let mut chunk = [0u8; 2048];
        while StdInstant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("broker closed the connection"),
                Ok(n) => self.rx.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read: {e}"),
            }
            let mut finished = false;
            loop {
                let version = self.session.version();
                let now = self.now();
                let (packet, used) = match Packet::decode(&self.rx, version) {
                    Ok(decoded) => decoded,
                    Err(duet::mqtt::Error::Incomplete) => break,
                    Err(e) => panic!("broker sent a packet we cannot decode: {e}"),
                };
                let event = self.session.handle_packet(now, &packet).unwrap();
                let owned = event.map(|e| match e {
                    Event::Connected { session_present } => {
                        if let Packet::ConnAck(ack) = &packet {
                            let id = ack.properties.assigned_client_identifier();
                            self.assigned = id.map(str::to_string);
                        }
                        Got::Connected(session_present)
                    }
                    Event::Message(p) => Got::Message {
                        topic: p.topic.to_string(),
                        payload: p.payload.to_vec(),
                        qos: p.qos,
                        retain: p.retain,
                    },
                    Event::Published {
                        packet_id,
                        reason_code,
                    } => {
                        assert!(reason_code < 0x80, "publish failed: 0x{reason_code:02x}");
                        Got::Published(packet_id)
                    }
                    Event::Subscribed { reason_codes, .. } => {
                        Got::Subscribed(reason_codes.to_vec())
                    }
                    Event::Unsubscribed { .. } => Got::Unsubscribed,
                    other => panic!("unexpected event {other:?}"),
                });
                self.rx.drain(..used);
                // Acknowledge at once: the session's inbound slots are few,
                // and a 3.1.1 broker has no Receive Maximum to respect them.
                self.flush();
                if let Some(g) = owned {
                    finished |= done(&g);
                    got.push(g);
                }
                if finished {
                    // Later packets stay buffered for the next pump.
                    break;
                }
            }
            let now = self.now();
            if self.session.poll_timeout().is_some_and(|t| now >= t) {
                self.session.handle_timeout(now).unwrap();
            }
            self.flush();
            if finished {
                break;
            }
        }
        got
    }

    fn wait_for(&mut self, done: impl FnMut(&Got) -> bool) -> Vec<Got> {
        let got = self.pump(StdDuration::from_secs(10), done);
        assert!(!got.is_empty(), "timed out waiting for the broker");
        got
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        let now = self.now();
        let filters = [(filter, SubscribeOptions::qos(qos))];
        let (n, _) = self
            .session
            .subscribe(now, &filters, Properties::EMPTY, &mut self.out)
            .unwrap();
        self.stream.write_all(&self.out[..n]).unwrap();
        match self.wait_for(|g| matches!(g, Got::Subscribed(_))).pop() {
            Some(Got::Subscribed(codes)) => codes,
            other => panic!("no SUBACK: {other:?}"),
        }
    }

    /// Publishes and, at QoS 1 and 2, waits for the acknowledgement;
    /// returns the events that came meanwhile.
    fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Vec<Got> {
        let now = self.now();
        let publish = Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id: 0,
            properties: Properties::EMPTY,
            payload,
        };
        let (n, id) = self.session.publish(now, &publish, &mut self.out).unwrap();
        self.stream.write_all(&self.out[..n]).unwrap();
        if qos == QoS::AtMostOnce {
            return Vec::new();
        }
        let got = self.wait_for(|g| *g == Got::Published(id));
        assert_eq!(got.last(), Some(&Got::Published(id)));
        got
    }
}

fn messages(got: &[Got]) -> Vec<(String, Vec<u8>, QoS, bool)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Message {
                topic,
                payload,
                qos,
                retain,
            } => Some((topic.clone(), payload.clone(), *qos, *retain)),
            _ => None,
        })
        .collect()
}

fn publish_subscribe_at_every_qos(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut subscriber = Client::connect(&broker, version, "duet-sub", 30);
    assert_eq!(subscriber.subscribe("duet/test/#", QoS::ExactlyOnce), [2]);
    let mut publisher = Client::connect(&broker, version, "duet-pub", 30);
    let qos_levels = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for round in 0..5 {
        for qos in qos_levels {
            let payload = format!("round {round} qos {}", qos as u8);
            publisher.publish(
                &format!("duet/test/q{}", qos as u8),
                payload.as_bytes(),
                qos,
                false,
            );
        }
    }
    let mut received = Vec::new();
    let expected = 15;
    let deadline = StdInstant::now() + StdDuration::from_secs(10);
    while received.len() < expected && StdInstant::now() < deadline {
        received.extend(messages(
            &subscriber.pump(StdDuration::from_millis(100), |_| false),
        ));
    }
    // Anything resent would arrive now.
    received.extend(messages(
        &subscriber.pump(StdDuration::from_millis(300), |_| false),
    ));
    let mut want = Vec::new();
    for round in 0..5 {
        for qos in qos_levels {
            let payload = format!("round {round} qos {}", qos as u8).into_bytes();
            want.push((format!("duet/test/q{}", qos as u8), payload, qos, false));
        }
    }
    // Per-topic order is preserved; across QoS levels the broker may interleave.
    received.sort();
    want.sort();
    assert_eq!(received, want);
    assert_eq!(subscriber.session.state(), State::Connected);
}

fn retained_message_reaches_a_later_subscriber(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut publisher = Client::connect(&broker, version, "duet-retainer", 30);
    publisher.publish("duet/retained", b"last known state", QoS::AtLeastOnce, true);
    let mut late = Client::connect(&broker, version, "duet-late", 30);
    assert_eq!(late.subscribe("duet/+", QoS::AtLeastOnce), [1]);
    let got = late.wait_for(|g| matches!(g, Got::Message { .. }));
    assert_eq!(
        messages(&got),
        [(
            "duet/retained".to_string(),
            b"last known state".to_vec(),
            QoS::AtLeastOnce,
            true
        )]
    );
}

fn idle_client_kept_alive(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut idle = Client::connect(&broker, version, "duet-idle", 1);
    // mosquitto drops a client silent for 1.5 × keepalive; stay 3.5 × keepalive.
    let got = idle.pump(StdDuration::from_millis(3500), |_| false);
    assert!(got.is_empty(), "{got:?}");
    assert!(idle.pings_sent >= 3, "only {} PINGREQs", idle.pings_sent);
    assert_eq!(idle.session.state(), State::Connected);
    // Still connected from the broker's side: a QoS 1 round trip works.
    idle.publish("duet/alive", b"yes", QoS::AtLeastOnce, false);
}

fn unsubscribe_stops_delivery(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut client = Client::connect(&broker, version, "duet-unsub", 30);
    assert_eq!(client.subscribe("duet/u/+", QoS::AtLeastOnce), [1]);
    // The broker may deliver our own message before or after its PUBACK.
    let mut got = client.publish("duet/u/1", b"before", QoS::AtLeastOnce, false);
    if messages(&got).is_empty() {
        got = client.wait_for(|g| matches!(g, Got::Message { .. }));
    }
    assert_eq!(messages(&got).len(), 1);
    let now = client.now();
    let (n, _) = client
        .session
        .unsubscribe(now, &["duet/u/+"], &mut client.out)
        .unwrap();
    client.stream.write_all(&client.out[..n]).unwrap();
    client.wait_for(|g| *g == Got::Unsubscribed);
    let mut got = client.publish("duet/u/1", b"after", QoS::AtLeastOnce, false);
    got.extend(client.pump(StdDuration::from_millis(300), |_| false));
    assert!(messages(&got).is_empty(), "{got:?}");
}

fn dollar_sys_not_matched_by_hash(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut everything = Client::connect(&broker, version, "duet-hash", 30);
    assert_eq!(everything.subscribe("#", QoS::AtMostOnce), [0]);
    let mut sys = Client::connect(&broker, version, "duet-sys", 30);
    assert_eq!(sys.subscribe("$SYS/broker/version", QoS::AtMostOnce), [0]);
    // mosquitto keeps $SYS topics retained: an explicit subscription gets one.
    let got = sys.wait_for(|g| matches!(g, Got::Message { .. }));
    assert!(messages(&got).iter().all(|m| m.0 == "$SYS/broker/version"));
    let got = everything.pump(StdDuration::from_millis(500), |_| false);
    assert!(
        messages(&got).iter().all(|m| !m.0.starts_with('$')),
        "{got:?}"
    );
}

fn resumed_session_receives_offline_messages(version: ProtocolVersion) {
    let broker = Broker::start("");
    // 5.0 §3.1.2.11.2: without a Session Expiry Interval the session ends
    // with the connection.
    const KEEP: &[Property<'static>] = &[
        Property::ReceiveMaximum(8),
        Property::SessionExpiryInterval(300),
    ];
    let connect = Connect {
        properties: match version {
            ProtocolVersion::V311 => Properties::EMPTY,
            ProtocolVersion::V5 => Properties::List(KEEP),
        },
        // 3.1.1 §3.1.2.4: a Clean Session connection's session ends with it,
        // so even the first connection asks for a persistent one.
        clean_start: version == ProtocolVersion::V5,
        ..basic_connect(version, "duet-resume", 30)
    };
    let (mut sub, present, _) = Client::open(&broker, Session::new(), &connect);
    assert!(!present);
    assert_eq!(sub.subscribe("duet/offline/#", QoS::ExactlyOnce), [2]);
    let session = sub.close_cleanly();
    std::thread::sleep(StdDuration::from_millis(100));
    let mut publisher = Client::connect(&broker, version, "duet-offline-pub", 30);
    publisher.publish("duet/offline/1", b"one", QoS::AtLeastOnce, false);
    publisher.publish("duet/offline/2", b"two", QoS::ExactlyOnce, false);
    publisher.publish("duet/offline/0", b"zero", QoS::AtMostOnce, false);
    let resume = Connect {
        clean_start: false,
        ..connect
    };
    let (mut sub, present, _) = Client::open(&broker, session, &resume);
    assert!(present, "the broker kept the session");
    let mut received = Vec::new();
    let deadline = StdInstant::now() + StdDuration::from_secs(10);
    while received.len() < 2 && StdInstant::now() < deadline {
        received.extend(messages(
            &sub.pump(StdDuration::from_millis(100), |_| false),
        ));
    }
    received.extend(messages(
        &sub.pump(StdDuration::from_millis(300), |_| false),
    ));
    received.sort();
    // QoS 0 messages are not queued for an offline client (mosquitto's
    // default `queue_qos0_messages false`); QoS 1 and 2 are, once each.
    assert_eq!(
        received,
        [
            (
                "duet/offline/1".to_string(),
                b"one".to_vec(),
                QoS::AtLeastOnce,
                false
            ),
            (
                "duet/offline/2".to_string(),
                b"two".to_vec(),
                QoS::ExactlyOnce,
                false
            ),
        ]
    );
}

fn will_published_on_abrupt_close_only(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut watcher = Client::connect(&broker, version, "duet-watcher", 30);
    assert_eq!(watcher.subscribe("duet/will/#", QoS::AtLeastOnce), [1]);
    for (id, abrupt) in [("clean", false), ("abrupt", true)] {
        let topic = format!("duet/will/{id}");
        let connect = Connect {
            will: Some(Will {
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Properties::EMPTY,
                topic: &topic,
                payload: b"gone",
            }),
            ..basic_connect(version, id, 30)
        };
        let (client, _, _) = Client::open(&broker, Session::new(), &connect);
        if abrupt {
            // The TCP connection ends without DISCONNECT (§3.1.2.5).
            drop(client);
        } else {
            client.close_cleanly();
        }
    }
    let mut received = Vec::new();
    let deadline = StdInstant::now() + StdDuration::from_secs(10);
    while received.is_empty() && StdInstant::now() < deadline {
        received.extend(messages(
            &watcher.pump(StdDuration::from_millis(100), |_| false),
        ));
    }
    received.extend(messages(
        &watcher.pump(StdDuration::from_millis(500), |_| false),
    ));
    assert_eq!(
        received,
        [(
            "duet/will/abrupt".to_string(),
            b"gone".to_vec(),
            QoS::AtLeastOnce,
            false
        )]
    );
}

#[test]
fn v311_resumed_session_delivers_offline_qos1_and_qos2() {
    resumed_session_receives_offline_messages(ProtocolVersion::V311);
}

#[test]
fn v5_resumed_session_delivers_offline_qos1_and_qos2() {
    resumed_session_receives_offline_messages(ProtocolVersion::V5);
}

#[test]
fn v311_will_on_abrupt_close_not_on_disconnect() {
    will_published_on_abrupt_close_only(ProtocolVersion::V311);
}

#[test]
fn v5_will_on_abrupt_close_not_on_disconnect() {
    will_published_on_abrupt_close_only(ProtocolVersion::V5);
}

fn overlapping_subscriptions_deliver_once(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut sub = Client::connect(&broker, version, "duet-overlap", 30);
    assert_eq!(sub.subscribe("duet/o/#", QoS::AtLeastOnce), [1]);
    assert_eq!(sub.subscribe("duet/o/+", QoS::ExactlyOnce), [2]);
    let mut publisher = Client::connect(&broker, version, "duet-overlap-pub", 30);
    publisher.publish("duet/o/x", b"once", QoS::ExactlyOnce, false);
    let mut received = messages(&sub.wait_for(|g| matches!(g, Got::Message { .. })));
    received.extend(messages(
        &sub.pump(StdDuration::from_millis(300), |_| false),
    ));
    // At least one copy at the highest QoS among the matching subscriptions
    // (3.1.1 §3.3.5, 5.0 §3.3.4). 5.0 also allows a further copy per
    // subscription, and mosquitto 2.0 sends them to 5.0 clients only.
    received.sort();
    let once = (
        "duet/o/x".to_string(),
        b"once".to_vec(),
        QoS::ExactlyOnce,
        false,
    );
    let mut want = vec![once.clone()];
    if version == ProtocolVersion::V5 {
        want.insert(0, (once.0, once.1, QoS::AtLeastOnce, false));
    }
    assert_eq!(received, want);
}

#[test]
fn v311_overlapping_subscriptions() {
    overlapping_subscriptions_deliver_once(ProtocolVersion::V311);
}

#[test]
fn v5_overlapping_subscriptions() {
    overlapping_subscriptions_deliver_once(ProtocolVersion::V5);
}

#[test]
fn v311_unsubscribe() {
    unsubscribe_stops_delivery(ProtocolVersion::V311);
}

#[test]
fn v5_unsubscribe() {
    unsubscribe_stops_delivery(ProtocolVersion::V5);
}

#[test]
fn v311_dollar_sys_not_matched_by_hash() {
    dollar_sys_not_matched_by_hash(ProtocolVersion::V311);
}

#[test]
fn v5_dollar_sys_not_matched_by_hash() {
    dollar_sys_not_matched_by_hash(ProtocolVersion::V5);
}

#[test]
fn zero_length_client_id() {
    let broker = Broker::start("");
    // 3.1.1 §3.1.3.1: accepted with a clean session; no id is reported.
    let (mut v3, assigned) = Client::connect_assigned(&broker, ProtocolVersion::V311, "", 30);
    assert_eq!(assigned, None);
    v3.publish("duet/anon", b"v3", QoS::AtLeastOnce, false);
    // 5.0 §3.2.2.3.7: the server assigns one and says which.
    let (mut v5, assigned) = Client::connect_assigned(&broker, ProtocolVersion::V5, "", 30);
    assert!(assigned.is_some_and(|id| !id.is_empty()));
    v5.publish("duet/anon", b"v5", QoS::ExactlyOnce, false);
}

#[test]
fn v311_publish_subscribe_at_qos_0_1_2() {
    publish_subscribe_at_every_qos(ProtocolVersion::V311);
}

#[test]
fn v5_publish_subscribe_at_qos_0_1_2() {
    publish_subscribe_at_every_qos(ProtocolVersion::V5);
}

#[test]
fn v311_retained_message() {
    retained_message_reaches_a_later_subscriber(ProtocolVersion::V311);
}

#[test]
fn v5_retained_message() {
    retained_message_reaches_a_later_subscriber(ProtocolVersion::V5);
}

#[test]
fn v311_keepalive_past_three_intervals() {
    idle_client_kept_alive(ProtocolVersion::V311);
}

#[test]
fn v5_keepalive_past_three_intervals() {
    idle_client_kept_alive(ProtocolVersion::V5);
}
