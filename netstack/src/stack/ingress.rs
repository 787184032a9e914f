//! The receive path: Ethernet demultiplexing and IPv4 input validation.
//!
//! A frame is validated once, through the wire views, before any protocol
//! state sees it; every rejection bumps the counter that names its reason.
//! Accepted packets move on as the same pool buffer — nothing is re-parsed
//! into structs or copied.

use core::net::Ipv4Addr;

use super::Stack;
use crate::pool::PacketId;
use crate::stats::bump;
use crate::wire::ipv4::is_martian_source;
use crate::wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, WireError};

/// Picks the counter a rejected frame bumps.
pub(crate) type DropCounter = fn(&mut crate::stats::Stats) -> &mut u32;

/// Whether `frame` carries IPv4/TCP (untagged or 802.1Q tagged), by a peek at
/// the EtherType and protocol bytes; the full checks follow.
#[cfg(feature = "tcp")]
pub(crate) fn is_tcp_frame(frame: &[u8]) -> bool {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    const ETHERTYPE_VLAN: [u8; 2] = [0x81, 0x00];
    let network = match frame.get(12..14) {
        Some(t) if t == ETHERTYPE_VLAN && frame.get(16..18) == Some(&ETHERTYPE_IPV4[..]) => 18,
        Some(t) if t == ETHERTYPE_IPV4 => 14,
        _ => return false,
    };
    frame.get(network + 9) == Some(&6)
}

/// How an accepted IPv4 datagram was addressed to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cast {
    /// To one of our addresses.
    Unicast,
    /// To the limited or a subnet-directed broadcast.
    Broadcast,
    /// To a group we belong to.
    Multicast,
}

/// Where an accepted datagram sits in its frame, so later stages need not
/// re-validate it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ipv4Meta {
    /// Offset of the IPv4 header in the frame.
    pub network: usize,
    /// Offset of the IPv4 payload in the frame.
    pub transport: usize,
    /// Length of the IPv4 payload (total length less header).
    pub payload_len: usize,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub cast: Cast,
}

impl Stack<'_> {
    /// Entry point for every frame taken from the driver of interface `iface`.
    pub(super) fn process_frame(&mut self, iface: usize, packet: PacketId) {
        match self.check_ethernet(iface, self.pool.frame(&packet)) {
            Ok((EtherType::Arp, network)) => self.process_arp(iface, packet, network),
            Ok((EtherType::Ipv4, network)) => self.process_ipv4(iface, packet, network),
            Ok(_) => self.drop_packet(packet, |s| &mut s.ethernet.drop_unknown_ethertype),
            Err(counter) => self.drop_packet(packet, counter),
        }
    }

    /// A TCP segment, in the driver's receive buffer (see `is_tcp_frame`).
    #[cfg(feature = "tcp")]
    pub(super) fn receive_tcp_in_place(&mut self, iface: usize, frame: &[u8]) {
        let checked = self
            .check_ethernet(iface, frame)
            .and_then(|(_, network)| self.validate_ipv4(iface, frame, network));
        match checked {
            Ok(meta) => {
                bump(&mut self.stats.ipv4.rx_packets);
                self.process_tcp(iface, frame, meta);
            }
            Err(counter) => bump(counter(&mut self.stats)),
        }
    }

    /// Ethernet input: addressed to us, no VLAN we lack. Returns the
    /// EtherType and where the network header starts.
    fn check_ethernet(
        &self,
        iface: usize,
        frame: &[u8],
    ) -> Result<(EtherType, usize), DropCounter> {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return Err(|s| &mut s.ethernet.drop_truncated);
        };
        let dst = eth.dst_addr();
        if dst != self.interfaces[iface].hardware_address
            && !dst.is_broadcast()
            && !dst.is_multicast()
        {
            return Err(|s| &mut s.ethernet.drop_not_for_us);
        }
        // A priority tag (VLAN 0, IEEE 802.1Q §9.6) carries no VLAN; any other
        // id belongs to a VLAN interface we do not have.
        if eth.vlan_tag().is_some_and(|tag| tag.vid != 0) {
            return Err(|s| &mut s.ethernet.drop_unknown_vlan);
        }
        Ok((eth.ethertype(), eth.header_len()))
    }

    /// RFC 791 input with RFC 1122 §3.2.1 and RFC 1812 §5.3.7 checks.
    fn process_ipv4(&mut self, iface: usize, packet: PacketId, network: usize) {
        let meta = match self.validate_ipv4(iface, self.pool.frame(&packet), network) {
            Ok(meta) => meta,
            Err(counter) => return self.drop_packet(packet, counter),
        };
        bump(&mut self.stats.ipv4.rx_packets);
        let protocol = Ipv4Packet::new_unchecked(&self.pool.frame(&packet)[network..]).protocol();
        match protocol {
            #[cfg(feature = "icmp")]
            IpProtocol::Icmp => self.process_icmp(iface, packet, meta),
            #[cfg(feature = "udp")]
            IpProtocol::Udp => self.process_udp(iface, packet, meta),
            // TCP segments never reach the pool (`is_tcp_frame`); were one to,
            // it is malformed for the fast path's peek, i.e. truncated.
            #[cfg(feature = "tcp")]
            IpProtocol::Tcp => self.drop_packet(packet, |s| &mut s.tcp.drop_malformed),
            _ => {
                bump(&mut self.stats.ipv4.drop_unknown_protocol);
                #[cfg(feature = "icmp")]
                if meta.cast == Cast::Unicast {
                    let code = crate::wire::icmpv4::unreachable_code::PROTOCOL;
                    return self.send_dest_unreachable(iface, packet, meta, code);
                }
                self.pool.free(packet);
            }
        }
    }

    /// Checks a datagram and classifies its destination; on rejection,
    /// returns the counter to bump.
    fn validate_ipv4(
        &self,
        iface: usize,
        frame: &[u8],
        network: usize,
    ) -> Result<Ipv4Meta, DropCounter> {
        let ip = match Ipv4Packet::new_checked(&frame[network..]) {
            Ok(ip) => ip,
            Err(WireError::Truncated) => return Err(|s| &mut s.ipv4.drop_truncated),
            Err(_) => return Err(|s| &mut s.ipv4.drop_malformed),
        };
        let interface = &self.interfaces[iface];
        if interface.checksum.ipv4.0 && !ip.verify_checksum() {
            return Err(|s| &mut s.ipv4.drop_bad_checksum);
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let cast = if interface.has_ipv4_address(dst) {
            Cast::Unicast
        } else if interface.is_ipv4_broadcast(dst) {
            Cast::Broadcast
        } else if dst == Ipv4Addr::new(224, 0, 0, 1) {
            // All-hosts (RFC 1112 §4): every multicast-capable host is a member.
            Cast::Multicast
        } else if dst.is_multicast() {
            return Err(|s| &mut s.ipv4.drop_not_member);
        } else if is_martian_destination(dst) {
            return Err(|s| &mut s.ipv4.drop_martian);
        } else {
            return Err(|s| &mut s.ipv4.drop_not_for_us);
        };
        // A source may be "this host" (0.0.0.0) only while it learns its
        // address, i.e. in broadcasts (RFC 1122 §3.2.1.3: DHCP, BOOTP).
        let unspecified_misused = src.is_unspecified() && cast != Cast::Broadcast;
        if is_martian_source(src)
            || unspecified_misused
            || interface.is_ipv4_broadcast(src)
            || interface.has_ipv4_address(src)
        {
            return Err(|s| &mut s.ipv4.drop_martian);
        }
        if ip.more_frags() || ip.frag_offset() != 0 {
            return Err(|s| &mut s.ipv4.drop_fragment);
        }
        let transport = network + ip.header_len();
        Ok(Ipv4Meta {
            network,
            transport,
            payload_len: ip.payload().len(),
            src,
            dst,
            cast,
        })
    }

    /// Frees `packet` after bumping the counter that says why.
    pub(super) fn drop_packet(
        &mut self,
        packet: PacketId,
        counter: impl FnOnce(&mut crate::stats::Stats) -> &mut u32,
    ) {
        bump(counter(&mut self.stats));
        self.pool.free(packet);
    }
}

/// Destinations that may not appear on a wire: "this host", loopback, class E.
fn is_martian_destination(dst: Ipv4Addr) -> bool {
    dst.is_unspecified() || dst.is_loopback() || (dst.octets()[0] >= 240 && !dst.is_broadcast())
}
