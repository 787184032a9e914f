//! UDP socket state (RFC 768). The operations that need the packet pool and
//! the interfaces live on the stack (`crate::stack::udp`); this is what one
//! socket remembers.

use core::net::IpAddr;

use super::datagram_queue::DatagramQueue;
use crate::endpoint::IpEndpoint;

/// One UDP socket: its binding and its queue of received datagrams, which
/// are pool packets read in place.
#[derive(Debug, Clone)]
pub struct UdpSocket {
    /// Bound port; 0 while unbound.
    pub(crate) local_port: u16,
    /// Bound address; `None` accepts any of the host's addresses and broadcasts.
    pub(crate) local_addr: Option<IpAddr>,
    /// Set by `connect`: only this peer's datagrams are accepted, and it is the
    /// default destination.
    pub(crate) remote: Option<IpEndpoint>,
    pub(crate) queue: DatagramQueue,
    pub(crate) stats: UdpSocketStats,
}

impl UdpSocket {
    pub(crate) const fn new(rx_limit: u16) -> Self {
        Self {
            local_port: 0,
            local_addr: None,
            remote: None,
            queue: DatagramQueue::new(rx_limit),
            stats: UdpSocketStats {
                rx_datagrams: 0,
                tx_datagrams: 0,
                rx_dropped: 0,
            },
        }
    }

    /// Whether a datagram from `src` to `dst` belongs to this socket.
    pub(crate) fn accepts(&self, src: IpEndpoint, dst: IpAddr, dst_is_broadcast: bool) -> bool {
        let local_ok = match self.local_addr {
            None => true,
            Some(bound) => bound == dst && !dst_is_broadcast,
        };
        let remote_ok = self.remote.is_none_or(|remote| remote == src);
        local_ok && remote_ok
    }
}

/// Counters of one UDP socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UdpSocketStats {
    pub rx_datagrams: u32,
    pub tx_datagrams: u32,
    /// Datagrams for this socket dropped because its queue was full.
    pub rx_dropped: u32,
}

/// Where a received datagram came from and was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UdpMetadata {
    pub remote: IpEndpoint,
    /// The destination address: ours, or a broadcast.
    pub local_addr: IpAddr,
}
