//! The async MQTT client (`duet::mqtt::Client`) against a real mosquitto:
//! publishes made while the broker is down wait in the outbox and go out,
//! after backoff, once it is up; a connection cut repeatedly in the middle
//! of a QoS 1 stream loses nothing (the resumed session resends what was
//! unacknowledged, with DUP).
//!
//! The transport is a non-blocking std socket whose reads yield to the
//! executor, and the clock std's, so `select` between a read and the
//! keep-alive timer works under `embassy_futures::block_on`.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant as StdInstant;

use duet::mqtt::codec::{Connect, Properties};
use duet::mqtt::{
    Backoff, Client, ClientBuffers, ClientEvent, Clock, Connector, ProtocolVersion, QoS,
};
use duet::netstack::time::{Duration, Instant};
use embassy_futures::{block_on, yield_now};

#[path = "common/mosquitto.rs"]
mod mosquitto;
use mosquitto::Broker;
use mosquitto::server_port::server_port;

/// A std socket made non-blocking: a read or write that would block yields.
struct Socket(TcpStream);

impl embedded_io_async::ErrorType for Socket {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for Socket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => yield_now().await,
                Err(_) => return Err(embedded_io::ErrorKind::ConnectionReset),
                Ok(n) => return Ok(n),
            }
        }
    }
}

impl embedded_io_async::Write for Socket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => yield_now().await,
                Err(_) => return Err(embedded_io::ErrorKind::ConnectionReset),
                Ok(n) => return Ok(n),
            }
        }
    }

    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

/// Connects to 127.0.0.1:`port`.
struct Tcp(u16);

impl Connector for Tcp {
    type Transport = Socket;

    async fn connect(&mut self) -> Result<Socket, embedded_io::ErrorKind> {
        let stream = TcpStream::connect(("127.0.0.1", self.0))
            .map_err(|_| embedded_io::ErrorKind::ConnectionRefused)?;
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        Ok(Socket(stream))
    }
}

/// std's monotonic clock; waits yield.
struct StdClock(StdInstant);

impl Clock for StdClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }

    async fn sleep_until(&self, deadline: Instant) {
        while self.now() < deadline {
            yield_now().await;
        }
    }
}

fn connect(client_id: &str) -> Connect<'_> {
    Connect {
        version: ProtocolVersion::V311,
        // A persistent session from the start, so a reconnection resumes it.
        clean_start: false,
        keep_alive: 10,
        properties: Properties::EMPTY,
        client_id,
        will: None,
        username: None,
        password: None,
    }
}

const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(200),
};

/// 32 publishes in flight; 64 inbound slots, because a 3.1.1 broker
/// (mosquitto's default of 20 in flight) counts only QoS 2 messages awaiting
/// PUBREC, so up to 20 more can be awaiting PUBREL at the same time.
type TestClient<'b> = Client<'b, Tcp, StdClock, 32, 64>;

struct Memory {
    receive: Vec<u8>,
    send: Vec<u8>,
    outbox: Vec<u8>,
}

impl Memory {
    fn new(outbox: usize) -> Memory {
        Memory {
            receive: vec![0; 4096],
            send: vec![0; 4096],
            outbox: vec![0; outbox],
        }
    }

    fn buffers(&mut self) -> ClientBuffers<'_> {
        ClientBuffers {
            receive: &mut self.receive,
            send: &mut self.send,
            outbox: &mut self.outbox,
        }
    }
}

/// Polls until `done` says so, failing after `limit` events.
async fn poll_until(
    client: &mut TestClient<'_>,
    limit: usize,
    mut done: impl FnMut(&ClientEvent<'_>) -> bool,
) {
    for _ in 0..limit {
        let event = client.poll().await.unwrap();
        if done(&event) {
            return;
        }
    }
    panic!("gave up after {limit} events");
}

/// A subscriber on `topic` at QoS 1: its message numbers come back from
/// `collect`.
async fn subscribe(subscriber: &mut TestClient<'_>, topic: &str) {
    poll_until(subscriber, 50, |e| {
        matches!(e, ClientEvent::Connected { .. })
    })
    .await;
    subscriber.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    poll_until(subscriber, 50, |e| {
        matches!(e, ClientEvent::Subscribed { .. })
    })
    .await;
}

/// Reads messages "n<number>" until `want` distinct numbers are in.
async fn collect(subscriber: &mut TestClient<'_>, want: usize, seen: &mut BTreeSet<u32>) {
    for _ in 0..want * 4 + 100 {
        if seen.len() >= want {
            return;
        }
        if let ClientEvent::Message(publish) = subscriber.poll().await.unwrap() {
            let text = std::str::from_utf8(publish.payload).unwrap();
            seen.insert(text[1..].parse().unwrap());
        }
    }
    panic!("only {} of {want} messages arrived", seen.len());
}

#[test]
fn publishes_made_while_the_broker_is_down_go_out_once_it_is_up() {
    let port = server_port();
    let mut device_memory = Memory::new(4096);
    let mut device = TestClient::new(
        Tcp(port),
        StdClock(StdInstant::now()),
        connect("offline-device"),
        BACKOFF,
        device_memory.buffers(),
        7,
    );
    block_on(async {
        for i in 0..20u32 {
            let payload = format!("n{i}");
            device
                .publish("duet/offline", payload.as_bytes(), QoS::AtLeastOnce)
                .await
                .unwrap();
        }
        assert!(device.outbox_used() > 0);
        // Nothing listens yet: two attempts fail, with backoff between.
        assert_eq!(device.poll().await, Ok(ClientEvent::ConnectFailed));
        assert_eq!(device.poll().await, Ok(ClientEvent::ConnectFailed));
    });
    let _broker = Broker::start_on(port, "", None);
    let mut subscriber_memory = Memory::new(256);
    let mut subscriber = TestClient::new(
        Tcp(port),
        StdClock(StdInstant::now()),
        connect("offline-subscriber"),
        BACKOFF,
        subscriber_memory.buffers(),
        11,
    );
    block_on(async {
        subscribe(&mut subscriber, "duet/offline").await;
        let mut acked = 0;
        poll_until(&mut device, 200, |e| {
            acked += usize::from(matches!(e, ClientEvent::Published { .. }));
            acked == 20
        })
        .await;
        assert_eq!(device.outbox_used(), 0, "every publish acknowledged");
        let mut seen = BTreeSet::new();
        collect(&mut subscriber, 20, &mut seen).await;
        assert_eq!(seen, (0..20).collect());
    });
}

/// A TCP proxy whose connections the test can cut at any moment.
struct Proxy {
    port: u16,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let registry = live.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut sockets = registry.lock().unwrap();
                sockets.push(client.try_clone().unwrap());
                sockets.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, live }
    }

    /// Closes every connection through the proxy, both ways.
    fn cut(&self) {
        for socket in self.live.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// 300 publishes at `qos` from a device whose connection (through a proxy)
/// is cut three times mid-stream, to a subscriber at the same QoS on a
/// connection that stays up. Returns every message number the subscriber's
/// application saw, in order, duplicates included, once all 300 were seen,
/// and how many connections the device made.
fn stream_through_cuts(qos: QoS, name: &str) -> (Vec<u32>, u32) {
    const COUNT: u32 = 300;
    let broker = Broker::start("");
    let proxy = Proxy::start(broker.port);
    let topic = format!("duet/cut/{name}");
    let device_id = format!("cut-device-{name}");
    let subscriber_id = format!("cut-subscriber-{name}");
    let mut device_memory = Memory::new(32 * 1024);
    let mut device = TestClient::new(
        Tcp(proxy.port),
        StdClock(StdInstant::now()),
        connect(&device_id),
        BACKOFF,
        device_memory.buffers(),
        3,
    );
    let mut subscriber_memory = Memory::new(256);
    let mut subscriber = TestClient::new(
        Tcp(broker.port),
        StdClock(StdInstant::now()),
        connect(&subscriber_id),
        BACKOFF,
        subscriber_memory.buffers(),
        5,
    );
    let (mut connections, mut acked) = (0, 0);
    let mut received = Vec::new();
    block_on(async {
        poll_until(&mut subscriber, 50, |e| {
            matches!(e, ClientEvent::Connected { .. })
        })
        .await;
        subscriber.subscribe(&topic, qos).await.unwrap();
        poll_until(&mut subscriber, 50, |e| {
            matches!(e, ClientEvent::Subscribed { .. })
        })
        .await;
        // All publishes are made first; the outbox holds them, the window
        // lets 32 at a time go out.
        for i in 0..COUNT {
            let payload = format!("n{i}");
            device
                .publish(&topic, payload.as_bytes(), qos)
                .await
                .unwrap();
        }
        let mut cuts = [50, 150, 250].into_iter().peekable();
        poll_until(&mut device, 20_000, |e| {
            match e {
                ClientEvent::Connected { .. } => connections += 1,
                ClientEvent::Published { .. } => acked += 1,
                _ => {}
            }
            // Mid-stream: some publishes in flight, the rest queued.
            if cuts.peek() == Some(&acked) {
                cuts.next();
                proxy.cut();
            }
            acked >= COUNT
        })
        .await;
        assert_eq!(device.outbox_used(), 0, "every publish acknowledged");
        let mut distinct = BTreeSet::new();
        for _ in 0..COUNT * 4 + 100 {
            if distinct.len() == COUNT as usize {
                break;
            }
            if let ClientEvent::Message(publish) = subscriber.poll().await.unwrap() {
                let text = std::str::from_utf8(publish.payload).unwrap();
                let number: u32 = text[1..].parse().unwrap();
                received.push(number);
                distinct.insert(number);
            }
        }
        assert_eq!(distinct, (0..COUNT).collect(), "every message arrived");
        assert_eq!(subscriber.last_error(), None);
    });
    (received, connections)
}

#[test]
fn a_qos1_stream_survives_connection_cuts_without_loss() {
    let (received, connections) = stream_through_cuts(QoS::AtLeastOnce, "qos1");
    assert!(received.len() >= 300);
    assert!(connections >= 4, "three cuts, {connections} connections");
}
