//! ARP on the stack (RFC 826): answering requests, learning neighbours,
//! sending requests and announcements, detecting address conflicts
//! (RFC 5227 §2.4), and the probes and conflict reports that address
//! conflict detection (RFC 5227 §2.1, AutoIP RFC 3927 §2.2) needs.

use core::net::Ipv4Addr;

use super::{Stack, StackError};
use crate::iface::InterfaceId;
use crate::iface::neighbor::{Due, Eviction, Learned};
use crate::pool::{PacketId, PacketQueue};
use crate::socket::SendError;
use crate::stats::bump;
use crate::wire::{ArpOperation, ArpPacket, EtherType, EthernetAddress, EthernetFrame};

/// One interface's watched address: the one being probed for, or the one
/// held and defended, and the last station seen to conflict with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AddressWatch {
    address: Option<Ipv4Addr>,
    conflict: Option<EthernetAddress>,
}

impl AddressWatch {
    pub(crate) const EMPTY: AddressWatch = AddressWatch {
        address: None,
        conflict: None,
    };

    /// Whether an ARP packet from another station (`sha` is not ours)
    /// conflicts with the watched address. `configured` says whether the
    /// interface already holds that address; while it does not, we are
    /// probing.
    fn conflicts(
        &self,
        configured: bool,
        operation: ArpOperation,
        spa: Ipv4Addr,
        tpa: Ipv4Addr,
    ) -> bool {
        let Some(watched) = self.address else {
            return false;
        };
        // RFC 5227 §2.1.1 and §2.4: the sender uses the address.
        let in_use = spa == watched;
        // RFC 5227 §2.1.1: another host probes for the address we probe for.
        // Once it is ours, its probe gets our reply instead (§2.4).
        let probed = !configured
            && operation == ArpOperation::Request
            && spa.is_unspecified()
            && tpa == watched;
        in_use || probed
    }
}

impl Stack<'_> {
    pub(super) fn process_arp(&mut self, iface: usize, packet: PacketId, network: usize) {
        bump(&mut self.stats.arp.rx_packets);
        let frame = self.pool.frame(&packet);
        let Ok(arp) = ArpPacket::new_checked(&frame[network..]) else {
            return self.drop_packet(packet, |s| &mut s.arp.drop_malformed);
        };
        let (operation, sha, spa, tpa) = (
            arp.operation(),
            arp.sender_hardware_addr(),
            arp.sender_protocol_addr(),
            arp.target_protocol_addr(),
        );
        if !sha.is_unicast() || spa.is_broadcast() || spa.is_multicast() {
            return self.drop_packet(packet, |s| &mut s.arp.drop_malformed);
        }
        let interface = &self.interfaces[iface];
        let our_mac = interface.hardware_address;
        let our_ip = interface.ipv4.map(|c| c.address.address());
        if sha == our_mac {
            // Our own frame looped back (a hub, or a TAP reflecting it).
            return self.drop_packet(packet, |s| &mut s.arp.drop_looped_back);
        }
        let watch = &mut self.address_watches[iface];
        let configured = watch.address.is_some() && watch.address == our_ip;
        if watch.conflicts(configured, operation, spa, tpa) {
            watch.conflict = Some(sha);
            bump(&mut self.stats.arp.watch_conflicts);
        }
        if our_ip.is_some_and(|ip| ip == spa) {
            return self.drop_packet(packet, |s| &mut s.arp.address_conflicts);
        }
        let for_us = our_ip.is_some_and(|ip| ip == tpa);
        // RFC 826 "merge": refresh what we know; add the sender only when the
        // packet is for us (it will talk to us next). A probe's sender
        // (0.0.0.0, RFC 5227 §2.1.1) has no address to learn.
        if !spa.is_unspecified() {
            self.learn_neighbor(iface, spa, sha, for_us);
        }
        if for_us && operation == ArpOperation::Request {
            self.reply_to_arp_in_place(iface, packet, network, our_mac);
        } else {
            self.pool.free(packet);
        }
    }

    /// Turns the request in `packet` into our reply, in the same buffer.
    fn reply_to_arp_in_place(
        &mut self,
        iface: usize,
        packet: PacketId,
        network: usize,
        our_mac: EthernetAddress,
    ) {
        let frame = self.pool.resize(&packet, network + ArpPacket::<&[u8]>::LEN);
        let mut arp = ArpPacket::new_unchecked(&mut frame[network..]);
        let (requester_mac, requester_ip, our_ip) = (
            arp.sender_hardware_addr(),
            arp.sender_protocol_addr(),
            arp.target_protocol_addr(),
        );
        arp.write_packet(
            ArpOperation::Reply,
            our_mac,
            our_ip,
            requester_mac,
            requester_ip,
        );
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        eth.set_dst_addr(requester_mac);
        eth.set_src_addr(our_mac);
        bump(&mut self.stats.arp.tx_replies);
        self.queue_for_driver(iface, packet);
    }

    /// Records `ip` at `mac` and sends whatever was waiting for it.
    pub(super) fn learn_neighbor(
        &mut self,
        iface: usize,
        ip: Ipv4Addr,
        mac: EthernetAddress,
        create: bool,
    ) {
        let now = self.now;
        let config = self.config.neighbor.clone();
        let range = self.neighbor_range(iface);
        let mut cache = crate::iface::neighbor::NeighborCache::new(&mut self.neighbors[range]);
        let (learned, eviction) = cache.learn(ip, mac, now, create, &config, &mut self.pool);
        self.count_eviction(eviction);
        if let Learned::Release(mut waiting) = learned {
            waiting.for_each_mut(&mut self.pool, |frame| {
                EthernetFrame::new_unchecked(frame).set_dst_addr(mac);
            });
            let tx_queue = &mut self.interfaces[iface].tx_queue;
            waiting.append_to(&mut self.pool, tx_queue);
            self.poll_waker.wake();
        }
    }

    pub(super) fn count_eviction(&mut self, eviction: Eviction) {
        if eviction.live {
            bump(&mut self.stats.arp.cache_evictions);
        }
        for _ in 0..eviction.dropped {
            bump(&mut self.stats.arp.pending_dropped);
        }
    }

    /// Acts on one piece of neighbour-cache timer work.
    pub(super) fn neighbor_due(&mut self, iface: usize, due: Due) {
        match due {
            Due::Request { ip, unicast } => self.send_arp_request(iface, ip, unicast),
            Due::Failed { ip: _, mut pending } => {
                bump(&mut self.stats.arp.resolution_failures);
                self.fail_pending(&mut pending);
            }
        }
    }

    fn fail_pending(&mut self, pending: &mut PacketQueue) {
        for _ in 0..pending.free_all(&mut self.pool) {
            bump(&mut self.stats.arp.pending_dropped);
        }
        self.senders_blocked = true;
    }

    /// Asks who has `target` (broadcast, or `unicast` to confirm a cached entry).
    pub(super) fn send_arp_request(
        &mut self,
        iface: usize,
        target: Ipv4Addr,
        unicast: Option<EthernetAddress>,
    ) {
        let Some(our_ip) = self.interfaces[iface].ipv4.map(|c| c.address.address()) else {
            return;
        };
        let dst = unicast.unwrap_or(EthernetAddress::BROADCAST);
        if self.send_arp(
            iface,
            ArpOperation::Request,
            dst,
            our_ip,
            EthernetAddress([0; 6]),
            target,
        ) {
            bump(&mut self.stats.arp.tx_requests);
        }
    }

    /// Gratuitous ARP (RFC 5227 §3 announcement): a request for our own
    /// address, so neighbours update their caches and a conflicting host shows
    /// itself.
    pub(super) fn send_announcement(&mut self, iface: usize) {
        let Some(our_ip) = self.interfaces[iface].ipv4.map(|c| c.address.address()) else {
            return;
        };
        let zero = EthernetAddress([0; 6]);
        if self.send_arp(
            iface,
            ArpOperation::Request,
            EthernetAddress::BROADCAST,
            our_ip,
            zero,
            our_ip,
        ) {
            bump(&mut self.stats.arp.tx_announcements);
        }
    }

    /// Sends an ARP probe for `ip` (RFC 5227 §2.1.1): a broadcast request
    /// from our hardware address with sender IP 0.0.0.0, so that no
    /// neighbour learns a mapping for an address that may not be ours, and
    /// a holder of `ip` answers. Works with or without an IPv4 address on
    /// the interface. Pair with [`watch_address`](Self::watch_address) to
    /// hear the answer.
    pub fn send_arp_probe(&mut self, iface: InterfaceId, ip: Ipv4Addr) -> Result<(), SendError> {
        let index = self
            .arp_interface(iface)
            .map_err(|_| SendError::InvalidState)?;
        let zero = EthernetAddress([0; 6]);
        let broadcast = EthernetAddress::BROADCAST;
        let unspecified = Ipv4Addr::UNSPECIFIED;
        if !self.send_arp(
            index,
            ArpOperation::Request,
            broadcast,
            unspecified,
            zero,
            ip,
        ) {
            return Err(SendError::WouldBlock);
        }
        bump(&mut self.stats.arp.tx_probes);
        Ok(())
    }

    /// Sends an ARP announcement of `ip` (RFC 5227 §2.3): a broadcast
    /// request with sender and target IP both `ip`, claiming it (after
    /// probing) or defending it (§2.4 (b)). When `ip` is the interface's
    /// configured address this is also the gratuitous ARP owed for a new
    /// address or link-up, which then is not sent again.
    pub fn send_arp_announcement(
        &mut self,
        iface: InterfaceId,
        ip: Ipv4Addr,
    ) -> Result<(), SendError> {
        let index = self
            .arp_interface(iface)
            .map_err(|_| SendError::InvalidState)?;
        let zero = EthernetAddress([0; 6]);
        let broadcast = EthernetAddress::BROADCAST;
        if !self.send_arp(index, ArpOperation::Request, broadcast, ip, zero, ip) {
            return Err(SendError::WouldBlock);
        }
        let interface = &mut self.interfaces[index];
        if interface.link_up && interface.has_ipv4_address(ip) {
            interface.announce = false;
        }
        bump(&mut self.stats.arp.tx_announcements);
        Ok(())
    }

    /// Watches `ip` on `iface` for conflicts (`None` stops watching): ARP
    /// from another station with `ip` as its sender address (someone uses
    /// it), and, while `ip` is not the interface's address, ARP probes for
    /// it from another station (a simultaneous probe, RFC 5227 §2.1.1).
    /// Read them with [`take_address_conflict`](Self::take_address_conflict).
    /// Watching a new address forgets a conflict not yet taken; the
    /// interface's own conflict counting (`address_conflicts`) is unchanged.
    pub fn watch_address(
        &mut self,
        iface: InterfaceId,
        ip: Option<Ipv4Addr>,
    ) -> Result<(), StackError> {
        let index = self.arp_interface(iface)?;
        let watch = &mut self.address_watches[index];
        if watch.address != ip {
            *watch = AddressWatch {
                address: ip,
                conflict: None,
            };
        }
        Ok(())
    }

    /// The hardware address of the latest station that conflicted with the
    /// watched address since the last call, if any.
    pub fn take_address_conflict(&mut self, iface: InterfaceId) -> Option<EthernetAddress> {
        let index = self.arp_interface(iface).ok()?;
        self.address_watches[index].conflict.take()
    }

    /// The index of interface `iface`, for the ARP calls above.
    fn arp_interface(&mut self, iface: InterfaceId) -> Result<usize, StackError> {
        self.interface_mut(iface)?;
        Ok(iface.index())
    }

    fn send_arp(
        &mut self,
        iface: usize,
        operation: ArpOperation,
        dst: EthernetAddress,
        spa: Ipv4Addr,
        tha: EthernetAddress,
        tpa: Ipv4Addr,
    ) -> bool {
        let Some(packet) = self.pool.alloc() else {
            bump(&mut self.stats.pool.exhausted);
            return false;
        };
        let our_mac = self.interfaces[iface].hardware_address;
        let frame = self.pool.resize(
            &packet,
            EthernetFrame::<&[u8]>::HEADER_LEN + ArpPacket::<&[u8]>::LEN,
        );
        EthernetFrame::new_unchecked(&mut frame[..]).write_header(dst, our_mac, EtherType::Arp);
        ArpPacket::new_unchecked(&mut frame[EthernetFrame::<&[u8]>::HEADER_LEN..])
            .write_packet(operation, our_mac, spa, tha, tpa);
        self.queue_for_driver(iface, packet);
        true
    }
}
