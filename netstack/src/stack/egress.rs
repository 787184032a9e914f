//! The send path: routing, building the IPv4 and Ethernet headers in a pool
//! packet, and handing it to the neighbour cache or the transmit queue.
//!
//! Datagrams are built once, in place, in the buffer the driver will send;
//! the transport writes its header and payload straight into it.

use core::net::Ipv4Addr;

use super::Stack;
use crate::iface::neighbor::Resolution;
use crate::pool::PacketId;
use crate::socket::SendError;
use crate::stats::bump;
use crate::wire::checksum;
use crate::wire::{EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet};

/// Where a datagram goes on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextHop {
    /// To this IPv4 address, resolved by ARP.
    Neighbor(Ipv4Addr),
    /// To a fixed link address (broadcast, or a multicast group's mapping).
    Link(EthernetAddress),
}

/// The Ethernet and IPv4 headers of a datagram we send.
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameHeader {
    pub src_mac: EthernetAddress,
    pub dst_mac: EthernetAddress,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    pub ident: u16,
    /// Software computes the IPv4 header checksum (no offload).
    pub ip_checksum: bool,
}

impl FrameHeader {
    /// Writes both headers at the start of `frame`, for `payload_len` bytes
    /// of transport behind them (at [`TRANSPORT_OFFSET`]).
    pub fn write(&self, frame: &mut [u8], payload_len: usize) {
        self.template().write(frame, self.ident, payload_len);
    }

    /// Both headers with the fields that differ between the datagrams of a
    /// burst (length, identification, checksum) left zero.
    pub fn template(&self) -> HeaderTemplate {
        let mut bytes = [0u8; TRANSPORT_OFFSET];
        EthernetFrame::new_unchecked(&mut bytes[..]).write_header(
            self.dst_mac,
            self.src_mac,
            EtherType::Ipv4,
        );
        let mut ip = Ipv4Packet::new_unchecked(&mut bytes[EthernetFrame::<&[u8]>::HEADER_LEN..]);
        ip.write_header(self.src, self.dst, self.protocol, self.ttl, 0, 0);
        ip.set_total_len(0);
        ip.set_checksum(0);
        let ip_sum = self.ip_checksum.then(|| checksum::native_sum(ip.as_ref()));
        HeaderTemplate { bytes, ip_sum }
    }
}

/// The Ethernet and IPv4 headers of a burst of datagrams to one
/// destination (a TCP flush), composed once: each datagram copies them and
/// fills in its total length and identification, and its header checksum
/// from the constant fields' sum plus those two (RFC 1071 §2(A)
/// commutativity), instead of writing twenty fields and summing the header.
#[derive(Debug, Clone, Copy)]
pub(super) struct HeaderTemplate {
    bytes: [u8; TRANSPORT_OFFSET],
    /// The [`checksum::native_sum`] of the IPv4 header with length,
    /// identification and checksum zero; `None` when the checksum is left
    /// to the hardware (the field stays 0).
    ip_sum: Option<u64>,
}

impl HeaderTemplate {
    /// Writes both headers at the start of `frame`, for `payload_len` bytes
    /// of transport behind them, as datagram `ident`.
    pub fn write(&self, frame: &mut [u8], ident: u16, payload_len: usize) {
        frame[..TRANSPORT_OFFSET].copy_from_slice(&self.bytes);
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[EthernetFrame::<&[u8]>::HEADER_LEN..]);
        let total_len =
            (payload_len as u16).saturating_add(Ipv4Packet::<&[u8]>::MIN_HEADER_LEN as u16);
        ip.set_total_len(total_len);
        ip.set_ident(ident);
        if let Some(constant) = self.ip_sum {
            // Total length fills the second half of the header's first
            // word, identification the first half of its second.
            let [len_hi, len_lo] = total_len.to_be_bytes();
            let [id_hi, id_lo] = ident.to_be_bytes();
            let varying = u64::from(u32::from_ne_bytes([0, 0, len_hi, len_lo]))
                + u64::from(u32::from_ne_bytes([id_hi, id_lo, 0, 0]));
            ip.set_checksum(checksum::finish(constant + varying));
        }
    }
}

/// A datagram between [`Stack::begin_ipv4`] and [`Stack::finish_ipv4`].
#[derive(Debug)]
#[must_use = "a datagram being built must be finished, or its packet leaks"]
pub(super) struct OutgoingDatagram {
    packet: PacketId,
    route: Route,
    /// The source address routing chose (transport checksums need it).
    pub src: Ipv4Addr,
    pub checksums: TransportChecksums,
}

/// Where [`Stack::route`] sends a datagram: interface, source address and
/// next hop.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    iface: usize,
    src: Ipv4Addr,
    next_hop: NextHop,
}

impl Route {
    /// The interface the datagram leaves by.
    pub fn iface(&self) -> usize {
        self.iface
    }
}

/// IPv4 header plus Ethernet header: where the transport starts in a frame we build.
pub(super) const TRANSPORT_OFFSET: usize =
    EthernetFrame::<&[u8]>::HEADER_LEN + Ipv4Packet::<&[u8]>::MIN_HEADER_LEN;

impl Stack<'_> {
    /// Chooses the interface, source address and next hop for `dst`.
    pub(super) fn route(&self, dst: Ipv4Addr) -> Result<Route, SendError> {
        let configured = || {
            self.interfaces
                .iter()
                .enumerate()
                .filter(|(_, i)| i.in_use)
                .filter_map(|(index, i)| i.ipv4.map(|c| (index, c)))
        };
        for (iface, config) in configured() {
            let src = config.address.address();
            if dst.is_broadcast() || config.address.broadcast() == Some(dst) {
                return Ok(Route {
                    iface,
                    src,
                    next_hop: NextHop::Link(EthernetAddress::BROADCAST),
                });
            }
            if dst.is_multicast() {
                return Ok(Route {
                    iface,
                    src,
                    next_hop: NextHop::Link(multicast_mac(dst)),
                });
            }
            if config.address.contains(dst) {
                return Ok(Route {
                    iface,
                    src,
                    next_hop: NextHop::Neighbor(dst),
                });
            }
        }
        let via_gateway = configured().find_map(|(iface, config)| {
            let gateway = config.gateway?;
            Some(Route {
                iface,
                src: config.address.address(),
                next_hop: NextHop::Neighbor(gateway),
            })
        });
        via_gateway
            .or_else(|| self.unconfigured_broadcast_route(dst))
            .ok_or(SendError::NoRoute)
    }

    /// A host that has no address yet may still broadcast from 0.0.0.0
    /// (RFC 1122 §3.2.1.3), as DHCP does: on the first interface without
    /// IPv4 settings.
    fn unconfigured_broadcast_route(&self, dst: Ipv4Addr) -> Option<Route> {
        if !dst.is_broadcast() {
            return None;
        }
        let iface = self
            .interfaces
            .iter()
            .position(|i| i.in_use && i.ipv4.is_none())?;
        Some(Route {
            iface,
            src: Ipv4Addr::UNSPECIFIED,
            next_hop: NextHop::Link(EthernetAddress::BROADCAST),
        })
    }

    /// Everything needed to put datagrams for `dst` straight into driver
    /// buffers of interface `iface`, given the `route` to `dst` (found by
    /// the caller, which needs it anyway): the route goes there and the next hop's
    /// link address is known (otherwise the pooled path parks and resolves).
    /// Found once for a burst of datagrams, as neither changes within a
    /// poll; each datagram takes its own [`ident`](FrameHeader::ident) from
    /// [`next_direct_ident`](Self::next_direct_ident).
    pub(super) fn direct_header(
        &self,
        iface: usize,
        route: &Route,
        dst: Ipv4Addr,
        protocol: IpProtocol,
    ) -> Option<(FrameHeader, TransportChecksums)> {
        let NextHop::Neighbor(next_hop) = route.next_hop else {
            return None;
        };
        if route.iface != iface {
            return None;
        }
        let entries = &self.neighbors[self.neighbor_range(iface)];
        let mac = crate::iface::neighbor::usable(entries, next_hop, self.now)?;
        let interface = &self.interfaces[iface];
        let policy = interface.checksum;
        let header = FrameHeader {
            src_mac: interface.hardware_address,
            dst_mac: mac,
            src: route.src,
            dst,
            protocol,
            ttl: self.config.ttl,
            ident: 0,
            ip_checksum: policy.ipv4.1,
        };
        let checksums = TransportChecksums {
            udp: policy.udp.1,
            icmpv4: policy.icmpv4.1,
            tcp: policy.tcp.1,
        };
        Some((header, checksums))
    }

    /// The identification for the next datagram sent straight into a
    /// driver buffer of `iface`, or `None` while datagrams wait in its
    /// transmit queue: a direct one would overtake them.
    pub(super) fn next_direct_ident(&mut self, iface: usize) -> Option<u16> {
        self.interfaces[iface]
            .tx_queue
            .is_empty()
            .then(|| self.next_ipv4_ident())
    }

    /// The interface that reaches `dst`.
    pub(super) fn route_interface(&self, dst: Ipv4Addr) -> Result<usize, SendError> {
        self.route(dst).map(|route| route.iface)
    }

    /// Our source address toward `dst`, and the largest TCP payload its
    /// interface carries (IP MTU less 40 bytes of IPv4 and TCP headers).
    pub(super) fn route_source(&self, dst: Ipv4Addr) -> Result<(Ipv4Addr, u16), SendError> {
        let route = self.route(dst)?;
        Ok((
            route.src,
            self.interfaces[route.iface].ip_mtu.saturating_sub(40),
        ))
    }

    /// Builds and queues one IPv4 datagram of `payload_len` bytes for `dst`.
    /// `write` fills the IPv4 payload given the chosen source address; it
    /// computes its own checksum if `checksums` says software must.
    pub(super) fn send_ipv4(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
        write: impl FnOnce(&mut [u8], Ipv4Addr, TransportChecksums),
    ) -> Result<(), SendError> {
        let datagram = self.begin_ipv4(dst, protocol, payload_len)?;
        write(
            self.transport_mut(&datagram),
            datagram.src,
            datagram.checksums,
        );
        self.finish_ipv4(datagram)
    }

    /// First half of sending: routes, checks room, takes a pool packet and
    /// writes the Ethernet and IPv4 headers. The caller writes the transport
    /// part into [`transport_mut`](Self::transport_mut), then calls
    /// [`finish_ipv4`](Self::finish_ipv4). Split so a transport can fill the
    /// packet from other stack memory (TCP's send ring) while it is built.
    pub(super) fn begin_ipv4(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
    ) -> Result<OutgoingDatagram, SendError> {
        let route = match self.route(dst) {
            Ok(route) => route,
            Err(error) => {
                bump(&mut self.stats.ipv4.tx_no_route);
                return Err(error);
            }
        };
        let interface = &self.interfaces[route.iface];
        let ip_len = Ipv4Packet::<&[u8]>::MIN_HEADER_LEN + payload_len;
        if ip_len > interface.mtu() {
            return Err(SendError::TooLarge);
        }
        if interface.tx_queue.len() >= usize::from(self.config.tx_queue_limit) {
            self.senders_blocked = true;
            return Err(SendError::WouldBlock);
        }
        let Some(packet) = self.pool.alloc() else {
            bump(&mut self.stats.pool.exhausted);
            self.senders_blocked = true;
            return Err(SendError::WouldBlock);
        };
        let (our_mac, policy) = (interface.hardware_address, interface.checksum);
        let ident = self.next_ipv4_ident();
        let ttl = if dst.is_multicast() {
            1
        } else {
            self.config.ttl
        };
        let frame = self.pool.resize(&packet, TRANSPORT_OFFSET + payload_len);
        let header = FrameHeader {
            src_mac: our_mac,
            // Filled in once the neighbour is known.
            dst_mac: EthernetAddress::BROADCAST,
            src: route.src,
            dst,
            protocol,
            ttl,
            ident,
            ip_checksum: policy.ipv4.1,
        };
        header.write(frame, payload_len);
        let checksums = TransportChecksums {
            udp: policy.udp.1,
            icmpv4: policy.icmpv4.1,
            tcp: policy.tcp.1,
        };
        Ok(OutgoingDatagram {
            packet,
            route,
            src: route.src,
            checksums,
        })
    }

    /// The transport part of a datagram being built.
    pub(super) fn transport_mut(&mut self, datagram: &OutgoingDatagram) -> &mut [u8] {
        transport_of(&mut self.pool, datagram)
    }

    /// Second half of sending: hands the datagram to the link.
    pub(super) fn finish_ipv4(&mut self, datagram: OutgoingDatagram) -> Result<(), SendError> {
        let OutgoingDatagram { packet, route, .. } = datagram;
        bump(&mut self.stats.ipv4.tx_packets);
        match route.next_hop {
            NextHop::Link(mac) => {
                EthernetFrame::new_unchecked(self.pool.frame_mut(&packet)).set_dst_addr(mac);
                self.queue_for_driver(route.iface, packet);
                Ok(())
            }
            NextHop::Neighbor(next_hop) => self.send_to_neighbor(route.iface, next_hop, packet),
        }
    }

    /// Sends `packet` to `next_hop` once its link address is known.
    fn send_to_neighbor(
        &mut self,
        iface: usize,
        next_hop: Ipv4Addr,
        packet: PacketId,
    ) -> Result<(), SendError> {
        let now = self.now;
        let config = self.config.neighbor.clone();
        let range = self.neighbor_range(iface);
        let mut cache = crate::iface::neighbor::NeighborCache::new(&mut self.neighbors[range]);
        let (resolution, eviction) = cache.resolve(next_hop, now, &config, &mut self.pool);
        match resolution {
            Resolution::Known { mac, refresh } => {
                EthernetFrame::new_unchecked(self.pool.frame_mut(&packet)).set_dst_addr(mac);
                self.queue_for_driver(iface, packet);
                if refresh {
                    self.send_arp_request(iface, next_hop, Some(mac));
                }
            }
            Resolution::Wait { index, request } => {
                let dropped = cache.park(index, packet, &config, &mut self.pool);
                for _ in 0..dropped {
                    bump(&mut self.stats.arp.pending_dropped);
                }
                if request {
                    self.send_arp_request(iface, next_hop, None);
                }
            }
            Resolution::Unreachable => {
                self.pool.free(packet);
                self.count_eviction(eviction);
                return Err(SendError::Unreachable);
            }
        }
        self.count_eviction(eviction);
        Ok(())
    }

    /// Puts a finished frame on interface `iface`'s transmit queue.
    pub(super) fn queue_for_driver(&mut self, iface: usize, packet: PacketId) {
        self.interfaces[iface]
            .tx_queue
            .push_back(&mut self.pool, packet);
        self.poll_waker.wake();
    }
}

/// The transport part of a datagram being built, borrowing only the pool.
pub(super) fn transport_of<'p>(
    pool: &'p mut crate::pool::PacketPool<'_>,
    datagram: &OutgoingDatagram,
) -> &'p mut [u8] {
    &mut pool.frame_mut(&datagram.packet)[TRANSPORT_OFFSET..]
}

/// Which transport checksums software must fill in (the rest the hardware does).
#[derive(Debug, Clone, Copy)]
pub(super) struct TransportChecksums {
    #[cfg_attr(not(feature = "udp"), allow(dead_code))]
    pub udp: bool,
    #[cfg_attr(not(feature = "tcp"), allow(dead_code))]
    pub tcp: bool,
    #[cfg_attr(not(feature = "icmp"), allow(dead_code))]
    pub icmpv4: bool,
}

/// The Ethernet address of an IPv4 multicast group (RFC 1112 §6.4):
/// 01:00:5e followed by the low 23 bits of the group.
pub(crate) fn multicast_mac(group: Ipv4Addr) -> EthernetAddress {
    let [_, b, c, d] = group.octets();
    EthernetAddress([0x01, 0x00, 0x5e, b & 0x7f, c, d])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_mapping_keeps_low_23_bits() {
        assert_eq!(
            multicast_mac(Ipv4Addr::new(224, 0, 0, 251)).0,
            [0x01, 0x00, 0x5e, 0, 0, 251]
        );
        assert_eq!(
            multicast_mac(Ipv4Addr::new(239, 255, 1, 2)).0,
            [0x01, 0x00, 0x5e, 0x7f, 1, 2]
        );
        assert_eq!(
            multicast_mac(Ipv4Addr::new(239, 128, 1, 2)).0,
            [0x01, 0x00, 0x5e, 0x00, 1, 2]
        );
    }

    /// The template's headers are those written field by field, checksum
    /// included, for any length and identification; with offload the
    /// checksum field stays 0.
    #[test]
    fn header_template_writes_the_headers_field_by_field() {
        for ip_checksum in [true, false] {
            let header = FrameHeader {
                src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
                dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
                src: Ipv4Addr::new(10, 0, 0, 1),
                dst: Ipv4Addr::new(192, 168, 200, 254),
                protocol: IpProtocol::Tcp,
                ttl: 64,
                ident: 0,
                ip_checksum,
            };
            let template = header.template();
            for (ident, payload_len) in [(0, 0), (1, 1480), (0xffff, 1), (0x8001, 65515)] {
                let mut expect = [0u8; TRANSPORT_OFFSET];
                EthernetFrame::new_unchecked(&mut expect[..]).write_header(
                    header.dst_mac,
                    header.src_mac,
                    EtherType::Ipv4,
                );
                let mut ip = Ipv4Packet::new_unchecked(&mut expect[14..]);
                ip.write_header(
                    header.src,
                    header.dst,
                    header.protocol,
                    header.ttl,
                    payload_len as u16,
                    ident,
                );
                if !ip_checksum {
                    ip.set_checksum(0);
                }
                let mut got = [0xaau8; TRANSPORT_OFFSET];
                template.write(&mut got, ident, payload_len);
                assert_eq!(got, expect, "ident {ident} length {payload_len}");
                if ip_checksum {
                    assert!(Ipv4Packet::new_unchecked(&got[14..]).verify_checksum());
                }
            }
        }
    }
}
