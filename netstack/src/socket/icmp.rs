//! ICMP echo ("ping") socket state (RFC 792). Each socket owns one echo
//! identifier; replies carrying it are queued here as pool packets.

use super::datagram_queue::DatagramQueue;

/// One ICMP echo socket.
#[derive(Debug, Clone)]
pub struct IcmpSocket {
    /// The echo identifier this socket sends with and receives on; 0 = unbound.
    pub(crate) ident: u16,
    pub(crate) queue: DatagramQueue,
}

impl IcmpSocket {
    pub(crate) const fn new(rx_limit: u16) -> Self {
        Self {
            ident: 0,
            queue: DatagramQueue::new(rx_limit),
        }
    }
}

/// One echo reply, read in place from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply<'p> {
    pub from: core::net::IpAddr,
    pub seq: u16,
    pub payload: &'p [u8],
}
