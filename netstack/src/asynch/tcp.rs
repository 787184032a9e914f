//! Async TCP: a socket that implements `embedded_io_async::{Read, Write}`,
//! so TLS, MQTT and HTTP run on it unchanged, and a listener with a backlog.

use core::future::poll_fn;
use core::task::Poll;

use super::Stack;
use crate::endpoint::IpEndpoint;
use crate::stack::{ListenerHandle, TcpHandle};
use crate::tcp::{TcpError, TcpSocketStats, TcpState};
use crate::time::Duration;

/// A TCP connection; closed gracefully and freed in the background when dropped.
#[derive(Debug)]
pub struct TcpSocket<'a> {
    stack: Stack<'a>,
    handle: TcpHandle,
}

impl<'a> TcpSocket<'a> {
    /// A closed socket with rings of `rx_len` and `tx_len` bytes from the
    /// stack's TCP memory.
    pub fn new(stack: Stack<'a>, rx_len: usize, tx_len: usize) -> Result<Self, TcpError> {
        let handle = stack.with(|s| s.add_tcp_socket(rx_len, tx_len))?;
        Ok(Self { stack, handle })
    }

    /// Connects to `remote` and waits until the connection is established
    /// or has failed.
    pub async fn connect(&mut self, remote: impl Into<IpEndpoint>) -> Result<(), TcpError> {
        let remote = remote.into();
        self.stack.with(|s| s.tcp(self.handle).connect(remote, 0))?;
        poll_fn(|cx| {
            self.stack.with(|s| {
                let mut tcp = s.tcp(self.handle);
                match tcp.state() {
                    TcpState::Established | TcpState::CloseWait => Poll::Ready(Ok(())),
                    TcpState::SynSent | TcpState::SynReceived => {
                        let _ = tcp.poll_send(cx);
                        Poll::Pending
                    }
                    _ => Poll::Ready(Err(tcp.error().unwrap_or(TcpError::ConnectionRefused))),
                }
            })
        })
        .await
    }

    /// Reads what has arrived, waiting for at least one byte; `Ok(0)` at the
    /// end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            self.stack.with(|s| {
                let mut tcp = s.tcp(self.handle);
                match tcp.recv_slice(buf) {
                    Ok(0) if tcp.may_recv() => {
                        let _ = tcp.poll_recv(cx);
                        // Data may have landed between the read and the registration.
                        if tcp.can_recv() {
                            Poll::Ready(tcp.recv_slice(buf))
                        } else {
                            Poll::Pending
                        }
                    }
                    result => Poll::Ready(result),
                }
            })
        })
        .await
    }

    /// Queues bytes for sending, waiting for room for at least one.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, TcpError> {
        if buf.is_empty() {
            return Ok(0);
        }
        poll_fn(|cx| {
            self.stack.with(|s| {
                let mut tcp = s.tcp(self.handle);
                match tcp.state() {
                    TcpState::SynSent | TcpState::SynReceived => {
                        let _ = tcp.poll_send(cx);
                        return Poll::Pending;
                    }
                    _ => {}
                }
                match tcp.send_slice(buf) {
                    Ok(0) => match tcp.poll_send(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(()) => Poll::Ready(tcp.send_slice(buf)),
                    },
                    result => Poll::Ready(result),
                }
            })
        })
        .await
    }

    /// Waits until everything written has been acknowledged by the peer.
    pub async fn flush(&mut self) -> Result<(), TcpError> {
        poll_fn(|cx| {
            self.stack.with(|s| {
                let mut tcp = s.tcp(self.handle);
                if let Some(error) = tcp.error() {
                    return Poll::Ready(Err(error));
                }
                tcp.poll_flush(cx).map(Ok)
            })
        })
        .await
    }

    /// Closes the sending side; reading goes on until the peer closes.
    pub fn close(&mut self) {
        self.stack.with(|s| s.tcp(self.handle).close())
    }

    /// Resets the connection.
    pub fn abort(&mut self) {
        self.stack.with(|s| s.tcp(self.handle).abort())
    }

    pub fn state(&self) -> TcpState {
        self.stack.with(|s| s.tcp(self.handle).state())
    }

    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.stack.with(|s| s.tcp(self.handle).set_nodelay(nodelay))
    }

    /// Probes an idle peer every `interval`, rounded up to whole seconds;
    /// `None` turns keepalive off.
    pub fn set_keepalive(&mut self, interval: Option<Duration>) {
        self.stack
            .with(|s| s.tcp(self.handle).set_keepalive(interval))
    }

    /// Gives up when data stays unacknowledged this long (RFC 5482), rounded
    /// up to whole seconds.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.stack.with(|s| s.tcp(self.handle).set_timeout(timeout))
    }

    pub fn remote_endpoint(&self) -> Option<IpEndpoint> {
        self.stack.with(|s| s.tcp(self.handle).remote_endpoint())
    }

    pub fn stats(&self) -> TcpSocketStats {
        self.stack.with(|s| s.tcp(self.handle).stats())
    }
}

/// Dropping closes the connection gracefully in the background (BSD
/// `close`); call [`TcpSocket::abort`] first to reset it instead.
impl Drop for TcpSocket<'_> {
    fn drop(&mut self) {
        let _ = self.stack.with(|s| s.release_tcp_socket(self.handle));
    }
}

impl embedded_io_async::ErrorType for TcpSocket<'_> {
    type Error = TcpError;
}

impl embedded_io_async::Read for TcpSocket<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        TcpSocket::read(self, buf).await
    }
}

impl embedded_io_async::Write for TcpSocket<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TcpError> {
        TcpSocket::write(self, buf).await
    }

    async fn flush(&mut self) -> Result<(), TcpError> {
        TcpSocket::flush(self).await
    }
}

/// Accepts connections on a port, holding up to `backlog` not yet accepted.
/// A SYN that finds the backlog full is dropped (the peer retries), or
/// answered with a SYN cookie when the stack's `TcpConfig::syn_cookies` is on.
#[derive(Debug)]
pub struct TcpListener<'a> {
    stack: Stack<'a>,
    handle: ListenerHandle,
}

impl<'a> TcpListener<'a> {
    /// Listens on `port`; accepted connections get rings of the given sizes.
    pub fn bind(
        stack: Stack<'a>,
        port: u16,
        backlog: u16,
        rx_len: usize,
        tx_len: usize,
    ) -> Result<Self, TcpError> {
        let handle = stack.with(|s| s.tcp_listen(port, backlog, rx_len, tx_len))?;
        Ok(Self { stack, handle })
    }

    /// Waits for the next established connection.
    pub async fn accept(&mut self) -> TcpSocket<'a> {
        let handle = poll_fn(|cx| {
            self.stack.with(|s| match s.tcp_accept(self.handle) {
                Some(handle) => Poll::Ready(handle),
                None => {
                    // Registers the task; a connection that completes its
                    // handshake wakes it.
                    let _ = s.tcp_poll_accept(self.handle, cx);
                    Poll::Pending
                }
            })
        })
        .await;
        TcpSocket {
            stack: self.stack,
            handle,
        }
    }
}

impl Drop for TcpListener<'_> {
    fn drop(&mut self) {
        self.stack.with(|s| s.tcp_unlisten(self.handle));
    }
}
