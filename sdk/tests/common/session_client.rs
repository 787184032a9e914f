//! The MQTT session engine driven over a blocking `TcpStream` against a
//! real broker, for the mosquitto tests: connect, subscribe, publish, and
//! the application events that come back, copied out of the receive buffer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use duet::mqtt::codec::{Connect, Packet, Properties, Property, Publish, SubscribeOptions};
use duet::mqtt::{Event, ProtocolVersion, QoS, Session};
use duet::netstack::time::Instant;

use super::mosquitto::Broker;

/// CONNECT with a clean start; in 5.0 it bounds the server's in-flight
/// messages to the session's inbound slots.
pub fn basic_connect(version: ProtocolVersion, id: &str, keep_alive: u16) -> Connect<'_> {
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
pub enum Got {
    Connected(bool),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        properties: MessageProperties,
    },
    Published(u16),
    Subscribed(Vec<u8>),
    Unsubscribed,
}

/// The session engine driven over a blocking TCP stream.
pub struct Client {
    pub stream: TcpStream,
    pub session: Session<8, 8>,
    epoch: StdInstant,
    rx: Vec<u8>,
    pub out: [u8; 1024],
    pub pings_sent: usize,
    assigned: Option<String>,
}

impl Client {
    pub fn connect(broker: &Broker, version: ProtocolVersion, id: &str, keep_alive: u16) -> Client {
        let (client, assigned) = Client::connect_assigned(broker, version, id, keep_alive);
        assert_eq!(assigned, None);
        client
    }

    /// Connects, also returning the 5.0 Assigned Client Identifier, if any.
    pub fn connect_assigned(
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
    pub fn open(
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
    pub fn close_cleanly(mut self) -> Session<8, 8> {
        let n = self.session.disconnect(&mut self.out).unwrap();
        self.stream.write_all(&self.out[..n]).unwrap();
        self.session
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    pub fn flush(&mut self) {
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
    pub fn pump(&mut self, limit: StdDuration, mut done: impl FnMut(&Got) -> bool) -> Vec<Got> {
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
                        properties: MessageProperties::of(&p.properties),
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

    pub fn wait_for(&mut self, done: impl FnMut(&Got) -> bool) -> Vec<Got> {
        let got = self.pump(StdDuration::from_secs(10), done);
        assert!(!got.is_empty(), "timed out waiting for the broker");
        got
    }

    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        self.subscribe_with(filter, SubscribeOptions::qos(qos), Properties::EMPTY)
    }

    /// Subscribes to `filter` with `options` and `properties` (5.0: a
    /// Subscription Identifier, User Properties); returns the SUBACK's
    /// reason codes.
    pub fn subscribe_with(
        &mut self,
        filter: &str,
        options: SubscribeOptions,
        properties: Properties<'_>,
    ) -> Vec<u8> {
        let now = self.now();
        let filters = [(filter, options)];
        let (n, _) = self
            .session
            .subscribe(now, &filters, properties, &mut self.out)
            .unwrap();
        self.stream.write_all(&self.out[..n]).unwrap();
        match self.wait_for(|g| matches!(g, Got::Subscribed(_))).pop() {
            Some(Got::Subscribed(codes)) => codes,
            other => panic!("no SUBACK: {other:?}"),
        }
    }

    /// Publishes and, at QoS 1 and 2, waits for the acknowledgement;
    /// returns the events that came meanwhile.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Vec<Got> {
        self.publish_with(&Publish {
            dup: false,
            qos,
            retain,
            topic,
            packet_id: 0,
            properties: Properties::EMPTY,
            payload,
        })
    }

    /// Publishes `publish` as given (5.0: with its properties) and, at QoS
    /// 1 and 2, waits for the acknowledgement; returns the events that came
    /// meanwhile.
    pub fn publish_with(&mut self, publish: &Publish<'_>) -> Vec<Got> {
        let now = self.now();
        let qos = publish.qos;
        let (n, id) = self.session.publish(now, publish, &mut self.out).unwrap();
        self.stream.write_all(&self.out[..n]).unwrap();
        if qos == QoS::AtMostOnce {
            return Vec::new();
        }
        let got = self.wait_for(|g| *g == Got::Published(id));
        assert_eq!(got.last(), Some(&Got::Published(id)));
        got
    }
}

/// The 5.0 properties of a received message that the tests look at, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    pub subscription_ids: Vec<u32>,
    pub user: Vec<(String, String)>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub payload_format: Option<u8>,
    pub message_expiry: Option<u32>,
}

impl MessageProperties {
    fn of(properties: &Properties<'_>) -> Self {
        let mut owned = MessageProperties::default();
        for property in properties.iter() {
            match property {
                Property::SubscriptionIdentifier(id) => owned.subscription_ids.push(id),
                Property::UserProperty(name, value) => {
                    owned.user.push((name.to_string(), value.to_string()))
                }
                Property::ResponseTopic(topic) => owned.response_topic = Some(topic.to_string()),
                Property::CorrelationData(data) => owned.correlation_data = Some(data.to_vec()),
                Property::ContentType(kind) => owned.content_type = Some(kind.to_string()),
                Property::PayloadFormatIndicator(format) => owned.payload_format = Some(format),
                Property::MessageExpiryInterval(seconds) => owned.message_expiry = Some(seconds),
                _ => {}
            }
        }
        owned
    }
}

pub fn messages(got: &[Got]) -> Vec<(String, Vec<u8>, QoS, bool)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Message {
                topic,
                payload,
                qos,
                retain,
                ..
            } => Some((topic.clone(), payload.clone(), *qos, *retain)),
            _ => None,
        })
        .collect()
}
