//! What the async MQTT client tests run on: a std socket whose reads and
//! writes yield to the executor instead of blocking (so `select` between a
//! read and the keep-alive timer, and several clients joined on one thread,
//! work under `embassy_futures::block_on`), std's clock, and a TCP proxy
//! whose connections the test can cut at any moment.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant as StdInstant;

use duet::mqtt::{Clock, Connector};
use duet::netstack::time::{Duration, Instant};
use embassy_futures::yield_now;

/// A std socket made non-blocking: a read or write that would block yields.
pub struct Socket(TcpStream);

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
pub struct Tcp(pub u16);

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
pub struct StdClock(pub StdInstant);

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

/// A TCP proxy whose connections the test can cut at any moment.
#[allow(dead_code)] // Not every test binary cuts connections.
pub struct Proxy {
    pub port: u16,
    live: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
}

#[allow(dead_code)]
impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepted: Arc<AtomicUsize> = Arc::default();
        let (registry, counter) = (live.clone(), accepted.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                counter.fetch_add(1, Ordering::SeqCst);
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
        Proxy {
            port,
            live,
            accepted,
        }
    }

    /// Connections the proxy has accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection through the proxy, both ways.
    pub fn cut(&self) {
        for socket in self.live.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// How long [`poll_until`] waits for its event.
const PATIENCE: Duration = Duration::from_secs(60);

/// Polls until `done` says so, failing after `limit` events or
/// [`PATIENCE`] (a `wake_at` deadline: an event that never comes fails the
/// test instead of hanging it).
#[allow(dead_code)] // Not every test binary waits for events this way.
pub async fn poll_until<C, const WINDOW: usize, const INBOUND: usize, A>(
    client: &mut duet::mqtt::Client<'_, C, StdClock, WINDOW, INBOUND, (), A>,
    limit: usize,
    mut done: impl FnMut(&duet::mqtt::ClientEvent<'_>) -> bool,
) where
    C: Connector,
    A: AsRef<[u8]> + AsMut<[u8]>,
{
    client.wake_at(Some(client.clock().now() + PATIENCE));
    for _ in 0..limit {
        let event = client.poll().await.unwrap();
        if event == duet::mqtt::ClientEvent::Wake {
            panic!("the event waited for did not come within {PATIENCE:?}");
        }
        if done(&event) {
            client.wake_at(None);
            return;
        }
    }
    panic!("gave up after {limit} events");
}
