//! MQTT 5.0 topic aliases (§3.3.2.3.4) in the async client, both ways.
//!
//! Outbound, against a real mosquitto: a device publishes on a few topics
//! again and again, and on more topics than it has aliases for, through a
//! connection cut midway. Every PUBLISH it wrote is decoded and replayed
//! through a model of the broker's alias table, connection by connection:
//! aliases are used, never above what the broker allows or the device has,
//! never before the topic was named on that connection; and a plain
//! subscriber receives every message on its full topic.
//!
//! Inbound, against a scripted server on 127.0.0.1 (mosquitto 2.0.11 never
//! sends aliases to clients): hand-built PUBLISH bytes with aliases reach
//! the application with their full topics, and an invalid alias closes the
//! connection with DISCONNECT 0x94 (Topic Alias invalid), an unmapped one
//! with 0x82 (Protocol Error).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use duet::mqtt::alias::SLOT;
use duet::mqtt::codec::{Connect, Properties, Property};
use duet::mqtt::{
    Backoff, Client, ClientBuffers, ClientEvent, Connector, Packet, ProtocolVersion, QoS,
    SessionError,
};
use duet::netstack::time::Duration;
use embassy_futures::block_on;

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;

#[path = "common/mqtt_std.rs"]
mod mqtt_std;
use mqtt_std::{Proxy, Socket, StdClock, Tcp, poll_until};

const V5: ProtocolVersion = ProtocolVersion::V5;

const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(200),
};

/// 5.0: a session that outlives the connection, and at most 16 inbound
/// QoS 1/2 messages.
const V5_PROPERTIES: &[Property<'static>] = &[
    Property::SessionExpiryInterval(3600),
    Property::ReceiveMaximum(16),
];

fn connect(client_id: &str, version: ProtocolVersion) -> Connect<'_> {
    Connect {
        version,
        clean_start: false,
        keep_alive: 10,
        properties: match version {
            ProtocolVersion::V5 => Properties::List(V5_PROPERTIES),
            ProtocolVersion::V311 => Properties::EMPTY,
        },
        client_id,
        will: None,
        username: None,
        password: None,
    }
}

type TestClient<'b, C, A = &'b mut [u8]> = Client<'b, C, StdClock, 20, 16, (), A>;

struct Memory {
    receive: Vec<u8>,
    send: Vec<u8>,
    outbox: Vec<u8>,
    topic_aliases: Vec<u8>,
}

impl Memory {
    fn new(alias_slots: usize) -> Memory {
        Memory {
            receive: vec![0; 4096],
            send: vec![0; 4096],
            outbox: vec![0; 32 * 1024],
            topic_aliases: vec![0; alias_slots * SLOT],
        }
    }

    fn buffers(&mut self) -> ClientBuffers<'_, &mut [u8]> {
        ClientBuffers {
            receive: &mut self.receive,
            send: &mut self.send,
            outbox: &mut self.outbox,
            topic_aliases: &mut self.topic_aliases,
        }
    }

    /// The buffers with other alias storage than the memory's own.
    fn buffers_with<A>(&mut self, topic_aliases: A) -> ClientBuffers<'_, A> {
        ClientBuffers {
            receive: &mut self.receive,
            send: &mut self.send,
            outbox: &mut self.outbox,
            topic_aliases,
        }
    }
}

/// [`Tcp`], keeping every byte the client writes, one record per
/// connection.
struct Recording {
    tcp: Tcp,
    connections: Rc<RefCell<Vec<Vec<u8>>>>,
}

struct RecordingSocket {
    socket: Socket,
    connections: Rc<RefCell<Vec<Vec<u8>>>>,
    index: usize,
}

impl embedded_io_async::ErrorType for RecordingSocket {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for RecordingSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        self.socket.read(buf).await
    }
}

impl embedded_io_async::Write for RecordingSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        let n = self.socket.write(buf).await?;
        self.connections.borrow_mut()[self.index].extend_from_slice(&buf[..n]);
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        self.socket.flush().await
    }
}

impl Connector for Recording {
    type Transport = RecordingSocket;

    async fn connect(&mut self) -> Result<RecordingSocket, embedded_io::ErrorKind> {
        let socket = self.tcp.connect().await?;
        let mut connections = self.connections.borrow_mut();
        connections.push(Vec::new());
        Ok(RecordingSocket {
            socket,
            connections: self.connections.clone(),
            index: connections.len() - 1,
        })
    }
}

/// `hot` topics published on in turn, and two more now and then: more than
/// the aliases, so mappings are replaced. (With fewer aliases than hot
/// topics, the round robin would replace each mapping before its next use.)
fn topic_of(number: u32, hot: u32) -> String {
    if number % 10 == 9 {
        format!("duet/alias/cold/{}", number / 10 % 2)
    } else {
        format!("duet/alias/hot/{}", number % hot)
    }
}

/// What the device's PUBLISHes showed, replayed through the broker's side
/// of the aliases.
#[derive(Debug, Default)]
struct Replay {
    publishes: usize,
    /// PUBLISHes that carried an empty topic and an alias.
    aliased: usize,
    /// Aliases mapped again to another topic.
    replaced: usize,
    highest_alias: u16,
}

/// Decodes each connection's PUBLISHes and resolves their topics the way
/// the broker does: a table per connection, a topic with an alias maps it,
/// an empty topic must use a mapped alias. Every resolved topic must be the
/// one the message number says.
fn replay(connections: &[Vec<u8>], hot: u32) -> Replay {
    let mut replay = Replay::default();
    for bytes in connections {
        let mut table: BTreeMap<u16, &str> = BTreeMap::new();
        let mut at = 0;
        while let Ok((packet, used)) = Packet::decode(&bytes[at..], V5) {
            at += used;
            let Packet::Publish(p) = packet else { continue };
            replay.publishes += 1;
            let topic = match p.properties.topic_alias() {
                None => p.topic,
                Some(alias) => {
                    replay.highest_alias = replay.highest_alias.max(alias);
                    if p.topic.is_empty() {
                        replay.aliased += 1;
                        table
                            .get(&alias)
                            .unwrap_or_else(|| panic!("alias {alias} used before it was mapped"))
                    } else {
                        if table.insert(alias, p.topic).is_some_and(|t| t != p.topic) {
                            replay.replaced += 1;
                        }
                        p.topic
                    }
                }
            };
            let number: u32 = std::str::from_utf8(p.payload).unwrap().parse().unwrap();
            assert_eq!(topic, topic_of(number, hot), "message {number}");
        }
    }
    replay
}

/// `COUNT` QoS 1 publishes on [`topic_of`] from a 5.0 device with
/// `aliases` as its alias storage to a broker started with
/// `listener_options`, through a proxy whose connections are cut once
/// midway; a 3.1.1 subscriber on `duet/alias/#`. Returns the replay of
/// what the device wrote.
fn publish_through_a_cut<A: AsRef<[u8]> + AsMut<[u8]>>(
    name: &str,
    aliases: A,
    listener_options: &str,
    hot: u32,
) -> Replay {
    const COUNT: u32 = 400;
    let broker = Broker::start(listener_options);
    let proxy = Proxy::start(broker.port);
    let connections = Rc::new(RefCell::new(Vec::new()));
    let device_id = format!("alias-device-{name}");
    let mut device_memory = Memory::new(0);
    let mut device: TestClient<'_, _, A> = Client::new(
        Recording {
            tcp: Tcp(proxy.port),
            connections: connections.clone(),
        },
        StdClock(StdInstant::now()),
        connect(&device_id, V5),
        BACKOFF,
        device_memory.buffers_with(aliases),
        3,
    );
    let subscriber_id = format!("alias-subscriber-{name}");
    let mut subscriber_memory = Memory::new(0);
    let mut subscriber = TestClient::new(
        Tcp(broker.port),
        StdClock(StdInstant::now()),
        connect(&subscriber_id, ProtocolVersion::V311),
        BACKOFF,
        subscriber_memory.buffers(),
        5,
    );
    block_on(async {
        poll_until(&mut subscriber, 50, |e| {
            matches!(e, ClientEvent::Connected { .. })
        })
        .await;
        subscriber
            .subscribe("duet/alias/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        poll_until(&mut subscriber, 50, |e| {
            matches!(e, ClientEvent::Subscribed { .. })
        })
        .await;
        // Connected first, so that publishes go out as they are made (an
        // outbox flushed at once would name each topic once per flush).
        poll_until(&mut device, 50, |e| {
            matches!(e, ClientEvent::Connected { .. })
        })
        .await;
        let (mut connected, mut acked) = (1, 0);
        let count = |e: ClientEvent<'_>, connected: &mut u32, acked: &mut u32| match e {
            ClientEvent::Connected { .. } => *connected += 1,
            ClientEvent::Published { reason_code, .. } => {
                assert!(reason_code < 0x80, "refused: {reason_code:#x}");
                *acked += 1;
            }
            _ => {}
        };
        for number in 0..COUNT {
            device
                .publish(
                    &topic_of(number, hot),
                    number.to_string().as_bytes(),
                    QoS::AtLeastOnce,
                )
                .await
                .unwrap();
            if number == COUNT / 2 {
                // Mid-stream: publishes in flight, and aliases in use.
                proxy.cut();
            }
            // About ten in flight.
            while acked + 10 <= number {
                count(device.poll().await.unwrap(), &mut connected, &mut acked);
            }
        }
        while acked < COUNT {
            count(device.poll().await.unwrap(), &mut connected, &mut acked);
        }
        assert_eq!(device.outbox_used(), 0, "every publish acknowledged");
        // One cut, one reconnection: the broker never closed the
        // connection over an alias.
        assert_eq!(connected, 2, "connections");
        assert_eq!(device.last_error(), None);
        let mut seen = BTreeSet::new();
        for _ in 0..COUNT * 4 + 100 {
            if seen.len() == COUNT as usize {
                break;
            }
            if let ClientEvent::Message(p) = subscriber.poll().await.unwrap() {
                let number: u32 = std::str::from_utf8(p.payload).unwrap().parse().unwrap();
                assert_eq!(p.topic, topic_of(number, hot), "message {number}");
                seen.insert(number);
            }
        }
        assert_eq!(seen, (0..COUNT).collect(), "every message arrived");
    });
    let connections = connections.borrow();
    assert_eq!(connections.len(), 2);
    let replay = replay(&connections, hot);
    // Every publish once, those in flight at the cut again.
    assert!(replay.publishes >= COUNT as usize, "{replay:?}");
    eprintln!("{name}: {replay:?}");
    replay
}

#[test]
fn aliases_stay_within_mosquittos_maximum_through_replacement_and_a_cut() {
    // Eight slots: four ours, but the broker allows three.
    let replay = publish_through_a_cut("broker-bound", vec![0; 8 * SLOT], "max_topic_alias 3\n", 3);
    assert_eq!(replay.highest_alias, 3, "{replay:?}");
    // Most publishes are on a topic with an alias; five topics over three
    // aliases replace mappings.
    assert!(replay.aliased > replay.publishes / 2, "{replay:?}");
    assert!(replay.replaced > 0, "{replay:?}");
}

#[test]
fn aliases_stay_within_our_slots_below_mosquittos_default() {
    // Four slots: two ours, below mosquitto's default of 10.
    let replay = publish_through_a_cut("slot-bound", vec![0; 4 * SLOT], "", 2);
    assert_eq!(replay.highest_alias, 2, "{replay:?}");
    assert!(replay.aliased > replay.publishes / 2, "{replay:?}");
    assert!(replay.replaced > 0, "{replay:?}");
}

#[test]
fn without_alias_storage_every_topic_goes_in_full() {
    // `[]`, which leaves the alias code out of the firmware.
    let replay = publish_through_a_cut("none", [], "", 3);
    assert_eq!((replay.highest_alias, replay.aliased), (0, 0), "{replay:?}");
}

#[test]
fn with_empty_alias_storage_every_topic_goes_in_full() {
    // An empty slice: the code is there, and is never used.
    let replay = publish_through_a_cut("empty", Vec::new(), "", 3);
    assert_eq!((replay.highest_alias, replay.aliased), (0, 0), "{replay:?}");
}

/// A 5.0 PUBLISH as a server writes it, by hand: topic, packet identifier
/// at QoS 1, a Topic Alias property if any, payload.
fn publish_bytes(
    topic: &str,
    alias: Option<u16>,
    packet_id: Option<u16>,
    payload: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    if let Some(id) = packet_id {
        body.extend_from_slice(&id.to_be_bytes());
    }
    match alias {
        Some(alias) => {
            body.extend_from_slice(&[3, 0x23]);
            body.extend_from_slice(&alias.to_be_bytes());
        }
        None => body.push(0),
    }
    body.extend_from_slice(payload);
    assert!(body.len() < 128);
    let qos1 = if packet_id.is_some() { 0x02 } else { 0 };
    let mut packet = vec![0x30 | qos1, body.len() as u8];
    packet.extend(body);
    packet
}

/// CONNACK, 5.0: no session present, success, no properties.
const CONNACK: &[u8] = &[0x20, 3, 0, 0, 0];

/// Reads one whole packet.
fn read_packet(stream: &mut TcpStream) -> Vec<u8> {
    let mut packet = vec![0u8; 2];
    stream.read_exact(&mut packet).unwrap();
    while packet[packet.len() - 1] & 0x80 != 0 {
        let mut more = [0u8];
        stream.read_exact(&mut more).unwrap();
        packet.push(more[0]);
    }
    let (len, _) = duet::mqtt::codec::decode_varint(&packet[1..]).unwrap();
    let header = packet.len();
    packet.resize(header + len as usize, 0);
    stream.read_exact(&mut packet[header..]).unwrap();
    packet
}

/// A server for one connection on 127.0.0.1: it checks that the CONNECT
/// announces `alias_maximum`, writes CONNACK and `script`, and returns the
/// packets the client wrote after its CONNECT, up to the end of the
/// connection.
fn scripted_server(alias_maximum: u16, script: Vec<u8>) -> (u16, thread::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(StdDuration::from_secs(20)))
            .unwrap();
        let connect = read_packet(&mut stream);
        let Ok((Packet::Connect(c), _)) = Packet::decode(&connect, V5) else {
            panic!("not a CONNECT: {connect:?}")
        };
        assert_eq!(c.properties.topic_alias_maximum(), Some(alias_maximum));
        stream.write_all(CONNACK).unwrap();
        stream.write_all(&script).unwrap();
        let mut written = Vec::new();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        let mut at = 0;
        while let Ok((_, used)) = Packet::decode(&rest[at..], V5) {
            written.push(rest[at..at + used].to_vec());
            at += used;
        }
        assert_eq!(at, rest.len(), "a partial packet");
        written
    });
    (port, server)
}

/// A 5.0 client with four alias slots (two announced) connected to a
/// scripted server.
fn scripted_client(port: u16, memory: &mut Memory) -> TestClient<'_, Tcp> {
    TestClient::new(
        Tcp(port),
        StdClock(StdInstant::now()),
        connect("scripted", V5),
        BACKOFF,
        memory.buffers(),
        9,
    )
}

#[test]
fn aliased_messages_reach_the_application_with_their_full_topics() {
    let script = [
        publish_bytes("sensors/1/temp", Some(1), None, b"a"),
        publish_bytes("", Some(1), None, b"b"),
        publish_bytes("sensors/1/hum", Some(2), Some(1), b"c"),
        publish_bytes("", Some(2), Some(2), b"d"),
        // Alias 1 mapped again.
        publish_bytes("sensors/2/temp", Some(1), None, b"e"),
        publish_bytes("", Some(1), Some(3), b"f"),
        publish_bytes("", Some(2), None, b"g"),
        // No alias at all.
        publish_bytes("plain", None, None, b"h"),
    ]
    .concat();
    let (port, server) = scripted_server(2, script);
    let mut memory = Memory::new(4);
    let mut client = scripted_client(port, &mut memory);
    let mut messages = Vec::new();
    block_on(async {
        assert!(matches!(
            client.poll().await,
            Ok(ClientEvent::Connected { .. })
        ));
        while messages.len() < 8 {
            if let ClientEvent::Message(p) = client.poll().await.unwrap() {
                let message = (p.topic.to_owned(), p.payload.to_owned());
                // A layer above reading it again sees the same.
                let again = client.current_message().unwrap();
                assert_eq!((again.topic, again.payload), (&*message.0, &*message.1));
                messages.push(message);
            }
        }
        client.disconnect().await;
    });
    let expected = [
        ("sensors/1/temp", b"a"),
        ("sensors/1/temp", b"b"),
        ("sensors/1/hum", b"c"),
        ("sensors/1/hum", b"d"),
        ("sensors/2/temp", b"e"),
        ("sensors/2/temp", b"f"),
        ("sensors/1/hum", b"g"),
        ("plain", b"h"),
    ];
    let expected: Vec<(String, Vec<u8>)> = expected
        .iter()
        .map(|(t, p)| (t.to_string(), p.to_vec()))
        .collect();
    assert_eq!(messages, expected);
    // The three QoS 1 messages acknowledged, then a normal DISCONNECT.
    let written = server.join().unwrap();
    let acked: Vec<u16> = written
        .iter()
        .filter_map(|p| match Packet::decode(p, V5) {
            Ok((Packet::PubAck(a), _)) => Some(a.packet_id),
            _ => None,
        })
        .collect();
    assert_eq!(acked, [1, 2, 3]);
    assert_eq!(written.last().map(Vec::as_slice), Some(&[0xe0, 0][..]));
}

#[test]
fn an_invalid_alias_closes_the_connection_with_disconnect_0x94_or_0x82() {
    use SessionError::{ProtocolError, TopicAliasInvalid};
    for (case, alias, topic, error, reason) in [
        ("alias 0", 0, "t/x", TopicAliasInvalid, 0x94),
        ("above our maximum", 3, "t/x", TopicAliasInvalid, 0x94),
        ("unmapped", 2, "", ProtocolError, 0x82),
    ] {
        let bad = publish_bytes(topic, Some(alias), Some(5), b"bad");
        let script = [publish_bytes("t/ok", Some(1), None, b"ok"), bad].concat();
        let (port, server) = scripted_server(2, script);
        let mut memory = Memory::new(4);
        let mut client = scripted_client(port, &mut memory);
        block_on(async {
            assert!(matches!(
                client.poll().await,
                Ok(ClientEvent::Connected { .. })
            ));
            match client.poll().await {
                Ok(ClientEvent::Message(p)) => assert_eq!(p.topic, "t/ok"),
                other => panic!("{case}: {other:?}"),
            }
            assert_eq!(client.poll().await, Ok(ClientEvent::Disconnected), "{case}");
            assert_eq!(client.last_error(), Some(error), "{case}");
        });
        // The bad message was not acknowledged: DISCONNECT with the reason
        // code is all the client wrote, then it closed the connection.
        let written = server.join().unwrap();
        assert_eq!(written, [vec![0xe0, 2, reason, 0]], "{case}");
    }
}

#[test]
fn a_packet_that_does_not_decode_closes_the_connection_with_its_reason_code() {
    use duet::mqtt::codec::Error;
    for (case, bad, error, reason) in [
        // PUBACK whose body is one byte: shorter than its packet identifier.
        (
            "short PUBACK",
            vec![0x40, 1, 0],
            Error::MalformedPacket,
            0x81,
        ),
        // PUBLISH whose topic is not UTF-8.
        (
            "topic not UTF-8",
            vec![0x30, 5, 0, 2, 0xc3, 0x28, 0],
            Error::InvalidUtf8,
            0x81,
        ),
        // PUBLISH carrying Payload Format Indicator twice.
        (
            "property twice",
            vec![0x30, 10, 0, 3, b't', b'/', b'x', 4, 1, 0, 1, 1],
            Error::DuplicateProperty(1),
            0x82,
        ),
    ] {
        let (port, server) = scripted_server(2, bad);
        let mut memory = Memory::new(4);
        let mut client = scripted_client(port, &mut memory);
        block_on(async {
            assert!(matches!(
                client.poll().await,
                Ok(ClientEvent::Connected { .. })
            ));
            assert_eq!(client.poll().await, Ok(ClientEvent::Disconnected), "{case}");
            assert_eq!(
                client.last_error(),
                Some(SessionError::Codec(error)),
                "{case}"
            );
            assert!(!client.is_connected(), "{case}");
        });
        let written = server.join().unwrap();
        assert_eq!(written, [vec![0xe0, 2, reason, 0]], "{case}");
    }
}
