//! Async UDP sockets over the shared stack.

use core::future::poll_fn;
use core::task::Poll;

use super::Stack;
use crate::endpoint::IpEndpoint;
use crate::socket::udp::UdpMetadata;
use crate::socket::{BindError, RecvError, SendError, SocketHandle};
use crate::stack::StackError;

/// A UDP socket; removed from the stack when dropped.
#[derive(Debug)]
pub struct UdpSocket<'a> {
    stack: Stack<'a>,
    handle: SocketHandle,
}

impl<'a> UdpSocket<'a> {
    /// A new, unbound socket.
    pub fn new(stack: Stack<'a>) -> Result<Self, StackError> {
        let handle = stack.with(|s| s.add_udp_socket())?;
        Ok(Self { stack, handle })
    }

    /// Binds to `port` (0: an ephemeral port) and returns it.
    pub fn bind(&mut self, port: u16) -> Result<u16, BindError> {
        self.stack.with(|s| s.udp(self.handle).bind(port))
    }

    /// Accepts only `remote`'s datagrams and sends to it by default.
    pub fn connect(&mut self, remote: impl Into<IpEndpoint>) -> Result<(), BindError> {
        let remote = remote.into();
        self.stack.with(|s| s.udp(self.handle).connect(remote))
    }

    /// Lets up to `limit` datagrams wait unread.
    pub fn set_recv_queue_limit(&mut self, limit: u16) {
        self.stack
            .with(|s| s.udp(self.handle).set_recv_queue_limit(limit))
    }

    /// Sends `payload` to `remote`, waiting while the transmit queue or the
    /// packet pool is full.
    pub async fn send_to(
        &self,
        payload: &[u8],
        remote: impl Into<IpEndpoint>,
    ) -> Result<(), SendError> {
        let remote = remote.into();
        poll_fn(|cx| {
            self.stack.with(|s| {
                let mut socket = s.udp(self.handle);
                match socket.send_to(payload, remote) {
                    Err(SendError::WouldBlock) => {
                        socket.register_send_waker(cx);
                        Poll::Pending
                    }
                    result => Poll::Ready(result),
                }
            })
        })
        .await
    }

    /// Waits for a datagram and lends its payload, in place, to `read`.
    pub async fn recv_with<R>(
        &self,
        read: impl FnOnce(&[u8], UdpMetadata) -> R,
    ) -> Result<R, RecvError> {
        poll_fn(|cx| self.stack.with(|s| s.udp(self.handle).poll_recv_ready(cx))).await;
        self.stack.with(|s| s.udp(self.handle).recv_with(read))
    }

    /// Waits for a datagram and copies it into `buffer`.
    pub async fn recv_from(&self, buffer: &mut [u8]) -> Result<(usize, UdpMetadata), RecvError> {
        poll_fn(|cx| self.stack.with(|s| s.udp(self.handle).poll_recv_ready(cx))).await;
        self.stack.with(|s| s.udp(self.handle).recv_from(buffer))
    }

    /// The core stack's handle of this socket, for sans-IO glue such as
    /// `dhcpv4::run_on_stack`.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// The bound port (0 while unbound).
    pub fn local_port(&self) -> u16 {
        self.stack.with(|s| s.udp(self.handle).local_port())
    }
}

impl Drop for UdpSocket<'_> {
    fn drop(&mut self) {
        let _ = self.stack.with(|s| s.remove_socket(self.handle));
    }
}
