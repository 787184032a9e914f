//! Hand-built Ethernet frames shared by the driver tests.
//!
//! Built byte by byte (not with the crate's own wire code) so that a driver
//! test does not depend on the code the drivers will later carry.

use std::vec::Vec;

/// Locally administered unicast addresses (IEEE 802: bit 1 of the first octet set).
pub(crate) const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
pub(crate) const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Ethernet II header: destination, source, ethertype (IEEE 802.3 clause 3.1.1).
pub(crate) fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// RFC 826 request "who has `tpa`, tell `spa`", broadcast.
pub(crate) fn arp_request(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut arp = Vec::with_capacity(28);
    arp.extend_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    arp.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes()); // protocol type
    arp.extend_from_slice(&[6, 4]); // hlen, plen
    arp.extend_from_slice(&1u16.to_be_bytes()); // operation: request
    arp.extend_from_slice(&sha);
    arp.extend_from_slice(&spa);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&tpa);
    ethernet([0xff; 6], sha, ETHERTYPE_ARP, &arp)
}

/// RFC 1071 Internet checksum over `data`.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet (RFC 791 §3.1, 20-byte header, valid header checksum) in
/// an Ethernet frame from A to B.
pub(crate) fn ipv4(protocol: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).unwrap_or(u16::MAX);
    let mut ip = Vec::with_capacity(20 + payload.len());
    ip.extend_from_slice(&[0x45, 0]);
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0]); // identification, DF
    ip.extend_from_slice(&[64, protocol, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let checksum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    ip.extend_from_slice(payload);
    ethernet(MAC_B, MAC_A, ETHERTYPE_IPV4, &ip)
}

/// A UDP datagram (RFC 768) from 10.0.0.1:`src_port` to 10.0.0.2:`dst_port`,
/// checksum zero ("not computed", allowed for IPv4).
pub(crate) fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let mut udp = Vec::with_capacity(8 + payload.len());
    udp.extend_from_slice(&src_port.to_be_bytes());
    udp.extend_from_slice(&dst_port.to_be_bytes());
    udp.extend_from_slice(&len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], &udp)
}

/// The `n`th frame of a numbered test stream: a UDP datagram whose payload
/// starts with `n` and whose length varies with `n`, so reordering, loss and
/// truncation all show up when the stream is compared.
pub(crate) fn numbered(n: u32) -> Vec<u8> {
    let mut payload = n.to_be_bytes().to_vec();
    payload.extend((0..(n % 64)).map(|i| (i as u8) ^ (n as u8)));
    udp(4000, 5000, &payload)
}

/// The number a [`numbered`] frame carries.
pub(crate) fn number_of(frame: &[u8]) -> u32 {
    let at = 14 + 20 + 8;
    u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]])
}

/// An IPv6 header (RFC 8200 §3) with no payload, enough to classify.
pub(crate) fn ipv6() -> Vec<u8> {
    let mut ip = std::vec![0u8; 40];
    ip[0] = 0x60;
    ip[6] = 59; // next header: no next header
    ip[7] = 64;
    ethernet(MAC_B, MAC_A, ETHERTYPE_IPV6, &ip)
}
