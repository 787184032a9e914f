//! Transport endpoints that are IPv4 or IPv6 alike.

use core::net::{IpAddr, SocketAddr};

/// An IP address and port: where a datagram comes from or goes to.
///
/// Smaller than `core::net::SocketAddr` (no IPv6 flow label or scope id),
/// which matters in every socket of a small device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IpEndpoint {
    pub addr: IpAddr,
    pub port: u16,
}

impl IpEndpoint {
    pub const fn new(addr: IpAddr, port: u16) -> Self {
        Self { addr, port }
    }
}

impl From<SocketAddr> for IpEndpoint {
    fn from(addr: SocketAddr) -> Self {
        Self {
            addr: addr.ip(),
            port: addr.port(),
        }
    }
}

impl From<IpEndpoint> for SocketAddr {
    fn from(endpoint: IpEndpoint) -> Self {
        SocketAddr::new(endpoint.addr, endpoint.port)
    }
}

impl<A: Into<IpAddr>> From<(A, u16)> for IpEndpoint {
    fn from((addr, port): (A, u16)) -> Self {
        Self {
            addr: addr.into(),
            port,
        }
    }
}

impl core::fmt::Display for IpEndpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&SocketAddr::from(*self), f)
    }
}
