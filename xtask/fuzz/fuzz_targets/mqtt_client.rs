//! The async MQTT client (`duet::mqtt::Client`) over a connection whose
//! server side the input plays: the bytes the server sends, in pieces of the
//! size the input picks (so packets arrive split and run together), the
//! connection closed or refused, time passing, and the application's
//! publishes and subscriptions in between — with a receive buffer small
//! enough that packets too large for it come too, and with or without the
//! flash journal under the outbox.
//!
//! Layout: an options byte (bit 0: 5.0, bits 1–2: receive buffer size,
//! bit 3: the journal, bits 4–6: read piece size, bit 7: clean start), then
//! operations, one byte each, low three bits the operation and the rest its
//! argument: the server sends the bytes whose count comes next (0–2),
//! publish (3), subscribe (4), the server closes the connection (5), time
//! passes (6), the next connection attempts are refused (7); a publish
//! whose argument has bit 4 set carries 5.0 properties. After each
//! operation the application task (which polls the client, and publishes
//! and subscribes between its events, as firmware does) runs until it waits
//! for the server or the clock.
//!
//! Besides "no panic": every packet the client writes must decode as an MQTT
//! packet of its version.
#![no_main]

use core::cell::{Cell, RefCell};
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;
use std::rc::Rc;

use duet::mqtt::codec::{Properties, Property, frame_len};
use duet::mqtt::journal::Journal;
use duet::mqtt::outbox::OutboxStore;
use duet::mqtt::{
    Backoff, Client, ClientBuffers, ClientEvent, Clock, Connector, Error, Packet, ProtocolVersion,
    QoS,
};
use duet_netstack::time::{Duration, Instant};
use embedded_io::ErrorKind;
use libfuzzer_sys::fuzz_target;

#[path = "../../../sdk/tests/common/ram_flash.rs"]
mod ram_flash;
use ram_flash::RamFlash;

#[path = "common/mqtt_peer.rs"]
mod mqtt_peer;
use mqtt_peer::INBOUND;

const WINDOW: usize = 4;
/// Topic alias storage: four 64-byte slots, two for each direction.
const ALIAS_BYTES: usize = 256;
/// Events taken from one run of polls before the next operation.
const MAX_EVENTS: usize = 64;
const RECEIVE_SIZES: [usize; 4] = [48, 96, 256, 2048];
const PIECES: [usize; 8] = [1, 2, 3, 5, 7, 16, 64, 1500];
const TOPICS: [&str; 3] = ["a/b", "devices/fuzz/messages/events/", "$x/y"];
const JOURNAL_HALF: u32 = 1024;

/// The server's side of the connection, as the input plays it.
#[derive(Default)]
struct Server {
    /// Sent to the client, not read yet.
    to_client: VecDeque<u8>,
    /// The most one read returns.
    piece: usize,
    /// The current connection's number; a transport with an older one is
    /// closed.
    connection: u32,
    /// Connection attempts still to refuse.
    refusals: u32,
    /// Written by the client on the current connection, not checked yet.
    from_client: Vec<u8>,
}

type Shared = Rc<RefCell<Server>>;

struct Net(Shared);

struct Transport {
    server: Shared,
    connection: u32,
}

impl embedded_io::ErrorType for Transport {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for Transport {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        poll_fn(|_| {
            let mut server = self.server.borrow_mut();
            if server.connection != self.connection {
                return Poll::Ready(Ok(0));
            }
            if server.to_client.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(server.piece).min(server.to_client.len());
            for (slot, byte) in buf.iter_mut().zip(server.to_client.drain(..n)) {
                *slot = byte;
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl embedded_io_async::Write for Transport {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let mut server = self.server.borrow_mut();
        if server.connection != self.connection {
            return Err(ErrorKind::BrokenPipe);
        }
        server.from_client.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl Connector for Net {
    type Transport = Transport;

    async fn connect(&mut self) -> Result<Transport, ErrorKind> {
        let mut server = self.0.borrow_mut();
        if server.refusals > 0 {
            server.refusals -= 1;
            return Err(ErrorKind::ConnectionRefused);
        }
        // A new connection starts empty both ways.
        server.connection += 1;
        server.to_client.clear();
        server.from_client.clear();
        Ok(Transport {
            server: Rc::clone(&self.0),
            connection: server.connection,
        })
    }
}

/// Time moves only when the input says so.
struct FuzzClock(Rc<Cell<Instant>>);

impl Clock for FuzzClock {
    fn now(&self) -> Instant {
        self.0.get()
    }

    async fn sleep_until(&self, deadline: Instant) {
        poll_fn(|_| {
            if self.0.get() >= deadline {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Checks that what the client wrote is whole MQTT packets of `version`
/// (the last one may still be coming), and drops the checked ones. A
/// PUBLISH goes with what is left of its Message Expiry Interval: never
/// more than [`PUBLISH_PROPERTIES`] gave it, never none (the outbox keeps
/// a deadline in its place while the publish waits).
fn check_written(server: &Shared, version: ProtocolVersion) {
    let mut server = server.borrow_mut();
    let written = &server.from_client;
    let mut at = 0;
    loop {
        let len = match frame_len(&written[at..]) {
            Ok(len) if written.len() - at >= len => len,
            Ok(_) | Err(Error::Incomplete) => break,
            Err(e) => panic!("the client wrote a broken fixed header ({e}): {written:02x?}"),
        };
        let packet = &written[at..at + len];
        match Packet::decode(packet, version) {
            Err(e) => panic!("the client wrote a packet that does not decode ({e}): {packet:02x?}"),
            Ok((Packet::Publish(publish), _)) => {
                let expiry = publish.properties.message_expiry_interval();
                assert!(
                    matches!(expiry, None | Some(1..=EXPIRY)),
                    "the client sent a Message Expiry Interval of {expiry:?}"
                );
            }
            Ok(_) => {}
        }
        at += len;
    }
    server.from_client.drain(..at);
}

/// The seconds a publish with properties has to live: the clock moves up
/// to 7.75 s a step, so some run out in the outbox.
const EXPIRY: u32 = 10;

/// What a publish with properties carries.
const PUBLISH_PROPERTIES: &[Property<'static>] = &[
    Property::MessageExpiryInterval(EXPIRY),
    Property::ResponseTopic("r/t"),
    Property::UserProperty("k", "v"),
];

/// What the application asks of the client between two of its events.
enum Command {
    Publish {
        topic: &'static str,
        len: usize,
        qos: QoS,
        fill: u8,
    },
    Subscribe {
        filter: &'static str,
        qos: QoS,
    },
}

/// How far a run got.
#[derive(Default)]
struct Reached {
    /// Events the client reported: the driver's measure of progress.
    events: Cell<u32>,
    connections: Cell<u32>,
    acknowledged: Cell<u32>,
}

/// The application, as a firmware runs it: poll for the next event, and in
/// between do what was asked meanwhile. Never cancels a poll (a poll
/// cancelled while connecting would lose the attempt, as the client's
/// documentation says); it sets a wake-up 100 ms ahead instead, so asks
/// wait at most that long.
async fn application<S: OutboxStore>(
    mut client: Client<'_, Net, FuzzClock, WINDOW, INBOUND, S, &mut [u8; ALIAS_BYTES]>,
    asks: &RefCell<VecDeque<Command>>,
    server: &Shared,
    version: ProtocolVersion,
    reached: &Reached,
) {
    loop {
        loop {
            // Taken out first: the driver adds asks while this awaits.
            let next = asks.borrow_mut().pop_front();
            let Some(command) = next else {
                break;
            };
            match command {
                Command::Publish {
                    topic,
                    len,
                    qos,
                    fill,
                } => {
                    let payload = &[fill; 40][..len];
                    // Some with 5.0 properties, some of those retained:
                    // they ride in the outbox (and the journal) with the
                    // message, and go out with every resend.
                    if fill & 16 != 0 {
                        let properties = Properties::List(PUBLISH_PROPERTIES);
                        let retain = fill & 8 != 0;
                        let _ = client
                            .publish_with(topic, payload, qos, retain, properties)
                            .await;
                    } else {
                        let _ = client.publish(topic, payload, qos).await;
                    }
                }
                Command::Subscribe { filter, qos } => {
                    let _ = client.subscribe(filter, qos).await;
                }
            }
        }
        let now = client.clock().now();
        client.wake_at(Some(now + Duration::from_millis(100)));
        match client.poll().await {
            Ok(ClientEvent::Connected { .. }) => bump(&reached.connections),
            Ok(ClientEvent::Published { .. }) => bump(&reached.acknowledged),
            _ => {}
        }
        bump(&reached.events);
        check_written(server, version);
        // Back to the driver after every event, so a client that reports
        // events without end cannot hold it.
        let mut yielded = false;
        poll_fn(|_| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                Poll::Pending
            }
        })
        .await;
    }
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get() + 1);
}

fn run<S: OutboxStore>(options: u8, mut steps: &[u8], store: S) -> (u32, u32) {
    let version = if options & 1 == 0 {
        ProtocolVersion::V311
    } else {
        ProtocolVersion::V5
    };
    let server: Shared = Rc::new(RefCell::new(Server {
        piece: PIECES[usize::from(options >> 4) & 7],
        ..Server::default()
    }));
    let clock = Rc::new(Cell::new(Instant::from_secs(1)));
    let mut receive = vec![0u8; RECEIVE_SIZES[usize::from(options >> 1) & 3]];
    let mut send = [0u8; 512];
    let mut outbox = [0u8; 2048];
    let mut aliases = [0u8; ALIAS_BYTES];
    let connect = mqtt_peer::connect(version, options & 0x80 != 0);
    let backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };
    let buffers = ClientBuffers {
        receive: &mut receive,
        send: &mut send,
        outbox: &mut outbox,
        topic_aliases: &mut aliases,
    };
    let client = Client::with_store(
        Net(Rc::clone(&server)),
        FuzzClock(Rc::clone(&clock)),
        connect,
        backoff,
        buffers,
        1,
        store,
    );
    let asks = RefCell::new(VecDeque::new());
    let reached = Reached::default();
    let mut app = pin!(application(client, &asks, &server, version, &reached));
    let mut cx = Context::from_waker(Waker::noop());
    // Runs the application until it waits for the server or the clock.
    let mut settle = || {
        for _ in 0..MAX_EVENTS {
            let before = reached.events.get();
            let _ = app.as_mut().poll(&mut cx);
            if reached.events.get() == before {
                break;
            }
        }
    };
    settle();
    while let Some((&op, rest)) = steps.split_first() {
        steps = rest;
        let argument = op >> 3;
        match op & 7 {
            0..=2 => {
                let bytes = mqtt_peer::server_bytes(&mut steps);
                server.borrow_mut().to_client.extend(bytes);
            }
            3 => asks.borrow_mut().push_back(Command::Publish {
                topic: TOPICS[usize::from(argument >> 2) % TOPICS.len()],
                len: usize::from(argument) % 40,
                qos: qos(argument),
                fill: argument,
            }),
            4 => asks.borrow_mut().push_back(Command::Subscribe {
                filter: ["a/+", "#", "$x/#"][usize::from(argument >> 2) % 3],
                qos: qos(argument),
            }),
            5 => server.borrow_mut().connection += 1,
            6 => clock.set(clock.get() + Duration::from_millis(u64::from(argument) * 250 + 1)),
            _ => server.borrow_mut().refusals = u32::from(argument % 4),
        }
        settle();
    }
    (reached.connections.get(), reached.acknowledged.get())
}

fn qos(bits: u8) -> QoS {
    match bits % 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, steps)) = data.split_first() else {
        return;
    };
    let (connections, acknowledged) = if options & 0x08 == 0 {
        run(options, steps, ())
    } else {
        let mut flash = RamFlash::new(2 * JOURNAL_HALF as usize);
        let Ok(journal) = Journal::mount(&mut flash, 0, JOURNAL_HALF) else {
            panic!("a blank flash mounts");
        };
        run(options, steps, journal)
    };
    // CI runs the seeds with this set: each connects, reconnects after the
    // server closes, and gets publishes acknowledged, or the harness has
    // fallen out of step with the client and fuzzes only the CONNECT.
    if std::env::var_os("DUET_FUZZ_SEEDS_COMPLETE").is_some() {
        assert!(
            connections >= 2 && acknowledged >= 2,
            "a seed stopped short: {connections} connections, {acknowledged} publishes acknowledged"
        );
    }
});
