//! Interfaces: one per link the device has, each with its own addresses,
//! neighbour cache and transmit queue.
//!
//! The stack keeps a list of them (sized by the caller), so a device with
//! Ethernet and Wi-Fi — or IPv6 next to IPv4 — fits without a redesign.

pub mod neighbor;

use core::net::Ipv4Addr;

use embassy_net_driver::{Capabilities, Checksum};

use crate::pool::PacketQueue;
use crate::wire::EthernetAddress;

/// Names one interface of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InterfaceId(pub(crate) u8);

impl InterfaceId {
    /// The first interface added to a stack.
    pub const FIRST: InterfaceId = InterfaceId(0);

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// An IPv4 address with its prefix length, e.g. `192.168.1.20/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv4Cidr {
    address: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// `prefix_len` above 32 is clamped to 32.
    pub const fn new(address: Ipv4Addr, prefix_len: u8) -> Self {
        Self {
            address,
            prefix_len: if prefix_len > 32 { 32 } else { prefix_len },
        }
    }

    pub const fn address(&self) -> Ipv4Addr {
        self.address
    }

    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The subnet mask, e.g. 255.255.255.0 for /24.
    pub fn netmask(&self) -> Ipv4Addr {
        let bits = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        Ipv4Addr::from(bits)
    }

    /// True when `addr` is on this subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = self.netmask().to_bits();
        addr.to_bits() & mask == self.address.to_bits() & mask
    }

    /// The subnet-directed broadcast address (RFC 919), if the prefix has one
    /// (/31 and /32 do not: RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len <= 30)
            .then(|| Ipv4Addr::from(self.address.to_bits() | !self.netmask().to_bits()))
    }
}

/// IPv4 settings of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ipv4Config {
    pub address: Ipv4Cidr,
    /// Default router, which must be on the subnet.
    pub gateway: Option<Ipv4Addr>,
}

/// What an interface is made with.
#[derive(Debug, Clone, Copy)]
pub struct InterfaceConfig {
    /// The link's own address (from the driver's `hardware_address()`).
    pub hardware_address: EthernetAddress,
    /// Static IPv4 settings; `None` until DHCP or AutoIP configures them.
    pub ipv4: Option<Ipv4Config>,
}

/// Which checksums the stack computes and verifies itself, from the driver's
/// [`Capabilities`]: hardware that offloads a checksum clears its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChecksumPolicy {
    pub ipv4: (bool, bool),
    pub udp: (bool, bool),
    pub tcp: (bool, bool),
    pub icmpv4: (bool, bool),
}

impl ChecksumPolicy {
    pub const SOFTWARE: Self = Self {
        ipv4: (true, true),
        udp: (true, true),
        tcp: (true, true),
        icmpv4: (true, true),
    };

    fn split(checksum: Checksum) -> (bool, bool) {
        let verify = matches!(checksum, Checksum::Both | Checksum::Rx);
        let compute = matches!(checksum, Checksum::Both | Checksum::Tx);
        (verify, compute)
    }

    pub fn from_capabilities(caps: &Capabilities) -> Self {
        Self {
            ipv4: Self::split(caps.checksum.ipv4),
            udp: Self::split(caps.checksum.udp),
            tcp: Self::split(caps.checksum.tcp),
            icmpv4: Self::split(caps.checksum.icmpv4),
        }
    }
}

/// Per-interface state. Storage comes from `StackResources`; an interface
/// that was never added stays `in_use == false`.
#[derive(Debug, Clone)]
pub struct Interface {
    pub(crate) in_use: bool,
    pub(crate) hardware_address: EthernetAddress,
    pub(crate) ipv4: Option<Ipv4Config>,
    /// IP MTU: the driver's frame size less the Ethernet header.
    pub(crate) ip_mtu: u16,
    pub(crate) checksum: ChecksumPolicy,
    pub(crate) link_up: bool,
    /// A gratuitous ARP is owed (link came up or the address changed).
    pub(crate) announce: bool,
    /// Frames resolved and ready for the driver.
    pub(crate) tx_queue: PacketQueue,
}

impl Interface {
    pub(crate) const UNUSED: Interface = Interface {
        in_use: false,
        hardware_address: EthernetAddress([0; 6]),
        ipv4: None,
        ip_mtu: 1500,
        checksum: ChecksumPolicy::SOFTWARE,
        link_up: false,
        announce: false,
        tx_queue: PacketQueue::new(),
    };

    /// Storage for an interface, every byte zero, for [`crate::StackResources`]
    /// (`Stack::new` sets each entry to `UNUSED` before use). Its values mean
    /// nothing: `Some` address `0.0.0.0/0`, because `None` is not zero bits.
    pub(crate) const UNFORMATTED: Interface = Interface {
        in_use: false,
        hardware_address: EthernetAddress([0; 6]),
        ipv4: Some(Ipv4Config {
            address: Ipv4Cidr {
                address: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
            },
            gateway: None,
        }),
        ip_mtu: 0,
        checksum: ChecksumPolicy {
            ipv4: (false, false),
            udp: (false, false),
            tcp: (false, false),
            icmpv4: (false, false),
        },
        link_up: false,
        announce: false,
        tx_queue: PacketQueue::UNFORMATTED,
    };

    pub fn hardware_address(&self) -> EthernetAddress {
        self.hardware_address
    }

    pub fn ipv4(&self) -> Option<Ipv4Config> {
        self.ipv4
    }

    pub fn is_link_up(&self) -> bool {
        self.link_up
    }

    /// IP MTU in bytes.
    pub fn mtu(&self) -> usize {
        usize::from(self.ip_mtu)
    }

    /// True when `addr` is this interface's own IPv4 address.
    pub(crate) fn has_ipv4_address(&self, addr: Ipv4Addr) -> bool {
        self.ipv4.is_some_and(|c| c.address.address() == addr)
    }

    /// True when `addr` is a broadcast this interface receives: limited
    /// broadcast, or its subnet's directed broadcast.
    pub(crate) fn is_ipv4_broadcast(&self, addr: Ipv4Addr) -> bool {
        addr.is_broadcast() || self.ipv4.and_then(|c| c.address.broadcast()) == Some(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        let cidr = Ipv4Cidr::new(Ipv4Addr::new(192, 168, 7, 20), 24);
        assert_eq!(cidr.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(cidr.broadcast(), Some(Ipv4Addr::new(192, 168, 7, 255)));
        assert!(cidr.contains(Ipv4Addr::new(192, 168, 7, 1)));
        assert!(!cidr.contains(Ipv4Addr::new(192, 168, 8, 1)));
        assert_eq!(
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 0).netmask(),
            Ipv4Addr::UNSPECIFIED
        );
        assert_eq!(
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 31).broadcast(),
            None
        );
        assert_eq!(
            Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 1), 99).prefix_len(),
            32
        );
    }

    #[test]
    fn checksum_policy_follows_driver_capabilities() {
        let mut caps = Capabilities::default();
        assert_eq!(
            ChecksumPolicy::from_capabilities(&caps),
            ChecksumPolicy::SOFTWARE
        );
        caps.checksum.udp = Checksum::None;
        caps.checksum.ipv4 = Checksum::Tx;
        let policy = ChecksumPolicy::from_capabilities(&caps);
        assert_eq!(policy.udp, (false, false));
        assert_eq!(policy.ipv4, (false, true));
    }
}
