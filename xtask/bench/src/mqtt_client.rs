//! The `mqtt` area's second Duet figure: the async [`Client`] a firmware
//! uses (outbox, events, one write per turn), where the area's main figure
//! drives the sans-IO session by hand. Here it runs over a std socket whose
//! reads and writes block inside the futures, under `block_on`: no
//! executor, no spinning, and no timer ever due (the keep-alive is a
//! minute, a run a second or two).
//!
//! The application publishes until the outbox is full, then polls for one
//! event, and so on; the clock stops as in the main figure, once the
//! broker has closed the connection after the DISCONNECT.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant as WallClock;

use duet::mqtt::codec::{Connect, Properties};
use duet::mqtt::{
    Backoff, Client, ClientBuffers, ClientError, ClientEvent, Clock, Connector, ProtocolVersion,
    QoS,
};
use duet::netstack::time::Instant;
use embassy_futures::block_on;

use crate::mqtt::{PAYLOAD, TOPIC, WINDOW};

/// A connected std socket; each read or write blocks until it is done.
struct BlockingSocket(TcpStream);

impl embedded_io_async::ErrorType for BlockingSocket {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for BlockingSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        self.0
            .read(buf)
            .map_err(|_| embedded_io::ErrorKind::ConnectionReset)
    }
}

impl embedded_io_async::Write for BlockingSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        self.0
            .write(buf)
            .map_err(|_| embedded_io::ErrorKind::ConnectionReset)
    }

    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

/// Connects to the broker on 127.0.0.1:`port`.
struct Loopback(u16);

impl Connector for Loopback {
    type Transport = BlockingSocket;

    async fn connect(&mut self) -> Result<BlockingSocket, embedded_io::ErrorKind> {
        let stream = TcpStream::connect(("127.0.0.1", self.0))
            .map_err(|_| embedded_io::ErrorKind::ConnectionRefused)?;
        stream
            .set_nodelay(true)
            .map_err(|_| embedded_io::ErrorKind::Other)?;
        Ok(BlockingSocket(stream))
    }

    /// After the DISCONNECT: the write side closed, then read until the
    /// broker closes, so the broker has read every publish.
    fn release(&mut self, transport: BlockingSocket) {
        let mut stream = transport.0;
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut rest = [0u8; 1024];
        while matches!(stream.read(&mut rest), Ok(n) if n > 0) {}
    }
}

/// std's monotonic clock. Nothing waits on it in a run.
struct WallTime(WallClock);

impl Clock for WallTime {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }

    async fn sleep_until(&self, deadline: Instant) {
        let left = deadline.saturating_since(self.now());
        std::thread::sleep(std::time::Duration::from_micros(left.as_micros()));
    }
}

/// Duet's `Client`: `count` publishes at `qos`, messages per second.
pub fn rate(port: u16, qos: u8, count: u64) -> Result<f64, String> {
    let (mut receive, mut send, mut outbox) =
        (vec![0; 4096], vec![0; 16 * 1024], vec![0; 64 * 1024]);
    let buffers = ClientBuffers {
        receive: &mut receive,
        send: &mut send,
        outbox: &mut outbox,
        topic_aliases: [],
    };
    let connect = Connect {
        version: ProtocolVersion::V311,
        clean_start: true,
        keep_alive: 60,
        properties: Properties::EMPTY,
        client_id: "duet-client-bench",
        will: None,
        username: None,
        password: None,
    };
    let mut client: Client<'_, Loopback, WallTime, WINDOW, 4> = Client::new(
        Loopback(port),
        WallTime(WallClock::now()),
        connect,
        Backoff::default(),
        buffers,
        1,
    );
    let level = match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    block_on(async {
        match client.poll().await {
            Ok(ClientEvent::Connected { .. }) => {}
            other => return Err(format!("no connection: {other:?}")),
        }
        let started = WallClock::now();
        let (mut sent, mut completed) = (0u64, 0u64);
        while completed < count {
            while sent < count {
                match client.publish(TOPIC, &PAYLOAD, level).await {
                    Ok(()) => sent += 1,
                    Err(ClientError::OutboxFull) => break,
                    Err(e) => return Err(format!("publish: {e:?}")),
                }
            }
            if qos == 0 {
                completed = sent;
                continue;
            }
            match client.poll().await {
                Ok(ClientEvent::Published { .. }) => completed += 1,
                Ok(ClientEvent::Disconnected | ClientEvent::ConnectFailed) => {
                    return Err("the connection was lost".into());
                }
                Ok(_) => {}
                Err(e) => return Err(format!("poll: {e:?}")),
            }
        }
        // DISCONNECT; the connector's `release` waits for the broker.
        client.disconnect().await;
        Ok(count as f64 / started.elapsed().as_secs_f64())
    })
}
