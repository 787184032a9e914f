//! Frames for the malformed-input tests, built byte by byte (not with the
//! crate's wire code, so a bug there cannot hide itself), and header surgery
//! on frames of unknown validity, where every access is bounds-checked.

use std::net::Ipv4Addr;

use super::*;
use crate::common::internet_checksum;

pub(crate) fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An IEEE 802.1Q tagged frame with tag control information `tci`.
pub(crate) fn tagged(dst: [u8; 6], tci: u16, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = ethernet(dst, PEER_MAC, ETHERTYPE_VLAN, &tci.to_be_bytes());
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// RFC 826 packet for Ethernet/IPv4.
pub(crate) fn arp(
    operation: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0x00, 6, 4];
    arp.extend_from_slice(&operation.to_be_bytes());
    arp.extend_from_slice(&sha);
    arp.extend_from_slice(&spa.octets());
    arp.extend_from_slice(&tha);
    arp.extend_from_slice(&tpa.octets());
    arp
}

/// An RFC 791 datagram with `options` (a multiple of four bytes) and a valid
/// header checksum.
pub(crate) fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let header_len = 20 + options.len();
    let total = (header_len + payload.len()) as u16;
    let mut ip = vec![0x40 | (header_len / 4) as u8, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, protocol, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(options);
    let checksum = internet_checksum(&ip, 0);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    ip.extend_from_slice(payload);
    ip
}

/// The RFC 768 pseudo-header sum (source, destination, protocol, length).
pub(crate) fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let words = [&src.octets()[..], &dst.octets()[..]].concat();
    let mut sum = u32::from(protocol) + u32::from(len);
    for pair in words.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    sum
}

/// A UDP datagram with its checksum (`with_checksum` false leaves it zero:
/// "not computed", RFC 768).
pub(crate) fn udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dst_port: u16,
    payload: &[u8],
    with_checksum: bool,
) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut udp = Vec::with_capacity(usize::from(len));
    udp.extend_from_slice(&5000u16.to_be_bytes());
    udp.extend_from_slice(&dst_port.to_be_bytes());
    udp.extend_from_slice(&len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    if with_checksum {
        let sum = pseudo_header_sum(src, dst, PROTO_UDP, len);
        let checksum = match internet_checksum(&udp, sum) {
            0 => 0xffff,
            checksum => checksum,
        };
        udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    }
    udp
}

/// An ICMP message (RFC 792) with a valid checksum.
pub(crate) fn icmp(msg_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![msg_type, code, 0, 0];
    icmp.extend_from_slice(&rest);
    icmp.extend_from_slice(data);
    let checksum = internet_checksum(&icmp, 0);
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    icmp
}

pub(crate) fn echo(msg_type: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let [i0, i1] = ident.to_be_bytes();
    let [s0, s1] = seq.to_be_bytes();
    icmp(msg_type, 0, [i0, i1, s0, s1], data)
}

/// A pattern payload of `len` bytes.
pub(crate) fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ salt).collect()
}

/// The fixed fields of a TCP header (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpHeader {
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) seq: u32,
    pub(crate) ack: u32,
    pub(crate) flags: u8,
    pub(crate) window: u16,
}

impl TcpHeader {
    /// The header of the segment after this one's SYN, with `flags`.
    pub(crate) fn next(self, flags: u8) -> Self {
        TcpHeader {
            seq: self.seq.wrapping_add(1),
            flags,
            ..self
        }
    }
}

/// TCP control bits (RFC 9293 §3.1).
pub(crate) mod flag {
    pub(crate) const FIN: u8 = 0x01;
    pub(crate) const SYN: u8 = 0x02;
    pub(crate) const RST: u8 = 0x04;
    pub(crate) const PSH: u8 = 0x08;
    pub(crate) const ACK: u8 = 0x10;
}

/// TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018), byte by byte.
pub(crate) mod option {
    pub(crate) fn mss(mss: u16) -> Vec<u8> {
        let [hi, lo] = mss.to_be_bytes();
        vec![2, 4, hi, lo]
    }

    pub(crate) fn window_scale(shift: u8) -> Vec<u8> {
        vec![1, 3, 3, shift]
    }

    pub(crate) fn sack_permitted() -> Vec<u8> {
        vec![1, 1, 4, 2]
    }

    pub(crate) fn timestamps(tsval: u32, tsecr: u32) -> Vec<u8> {
        let mut option = vec![1, 1, 8, 10];
        option.extend_from_slice(&tsval.to_be_bytes());
        option.extend_from_slice(&tsecr.to_be_bytes());
        option
    }

    pub(crate) fn sack(blocks: &[(u32, u32)]) -> Vec<u8> {
        let mut option = vec![1, 1, 5, 2 + 8 * blocks.len() as u8];
        for (left, right) in blocks {
            option.extend_from_slice(&left.to_be_bytes());
            option.extend_from_slice(&right.to_be_bytes());
        }
        option
    }
}

/// A TCP segment with `options` (padded with NOPs to a multiple of four
/// bytes) and a valid checksum.
pub(crate) fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    header: TcpHeader,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut options = options.to_vec();
    while options.len() % 4 != 0 {
        options.push(1);
    }
    let header_len = 20 + options.len();
    let mut segment = Vec::with_capacity(header_len + payload.len());
    segment.extend_from_slice(&header.src_port.to_be_bytes());
    segment.extend_from_slice(&header.dst_port.to_be_bytes());
    segment.extend_from_slice(&header.seq.to_be_bytes());
    segment.extend_from_slice(&header.ack.to_be_bytes());
    segment.extend_from_slice(&[((header_len / 4) << 4) as u8, header.flags]);
    segment.extend_from_slice(&header.window.to_be_bytes());
    segment.extend_from_slice(&[0, 0, 0, 0]);
    segment.extend_from_slice(&options);
    segment.extend_from_slice(payload);
    let sum = pseudo_header_sum(src, dst, PROTO_TCP, segment.len() as u16);
    let checksum = internet_checksum(&segment, sum);
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    segment
}

/// A TCP segment from the peer to us.
pub(crate) fn tcp_frame(header: TcpHeader, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let segment = tcp(PEER_IP, OUR_IP, header, options, payload);
    ethernet(
        OUR_MAC,
        PEER_MAC,
        ETHERTYPE_IPV4,
        &ipv4(PEER_IP, OUR_IP, PROTO_TCP, &[], &segment),
    )
}

pub(crate) fn udp_frame(dst_mac: [u8; 6], dst: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let segment = udp(PEER_IP, dst, port, payload, true);
    ethernet(
        dst_mac,
        PEER_MAC,
        ETHERTYPE_IPV4,
        &ipv4(PEER_IP, dst, PROTO_UDP, &[], &segment),
    )
}

pub(crate) fn icmp_frame(message: &[u8]) -> Vec<u8> {
    let datagram = ipv4(PEER_IP, OUR_IP, PROTO_ICMP, &[], message);
    ethernet(OUR_MAC, PEER_MAC, ETHERTYPE_IPV4, &datagram)
}

pub(crate) fn arp_frame(dst_mac: [u8; 6], packet: &[u8]) -> Vec<u8> {
    ethernet(dst_mac, PEER_MAC, ETHERTYPE_ARP, packet)
}

/// A valid frame and what the stack does with it.
pub(crate) struct Seed {
    pub(crate) name: &'static str,
    pub(crate) frame: Vec<u8>,
    pub(crate) outcome: &'static str,
}

/// Valid frames of every kind the stack handles: the starting points for
/// mutation. The TCP segments for the stack's connection are built for
/// `connection` as it stands right after the handshake; fed in this order,
/// each meets the state the ones before it left.
pub(crate) fn corpus(connection: &Connection) -> Vec<Seed> {
    let request_for_us = arp(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP);
    let reply_to_us = arp(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP);
    let request_for_other = arp(1, PEER_MAC, PEER_IP, [0; 6], Ipv4Addr::new(10, 0, 0, 9));
    let small = pattern(24, 0x5a);
    let to_us = |segment: &[u8]| ipv4(PEER_IP, OUR_IP, PROTO_UDP, &[], segment);
    let open = udp(PEER_IP, OUR_IP, OPEN_PORT, &small, true);
    let unchecked = udp(PEER_IP, OUR_IP, OPEN_PORT, &small, false);
    let with_options = ipv4(PEER_IP, OUR_IP, PROTO_UDP, &[1, 1, 1, 0], &open);
    let mut padded = udp_frame(OUR_MAC, OUR_IP, OPEN_PORT, b"pad");
    padded.resize(60, 0);
    let quoted = ipv4(
        OUR_IP,
        PEER_IP,
        PROTO_UDP,
        &[],
        &udp(OUR_IP, PEER_IP, 53, b"q", true),
    );
    let experimental = ipv4(PEER_IP, OUR_IP, 253, &[], &small);
    let stray = |dst_port: u16, seq: u32, ack: u32, flags: u8| TcpHeader {
        src_port: 40_000,
        dst_port,
        seq,
        ack,
        flags,
        window: 8192,
    };
    let every_option = [
        option::mss(1460),
        option::sack_permitted(),
        option::timestamps(77, 0),
        option::window_scale(7),
    ]
    .concat();
    let syn_from = |port: u16| TcpHeader {
        src_port: port,
        ..stray(TCP_LISTEN_PORT, 0x0bad_cafe, 0, flag::SYN)
    };
    // The connection: the peer's data starts at PEER_ISS + 1 and the stack's
    // at its ISS + 1; `sent` is how far the peer's data has gone when a seed
    // arrives, `acked` how much of the stack's data it acknowledges.
    let c = *connection;
    let on_connection = |sent: u32, acked: u32, flags: u8| TcpHeader {
        src_port: PEER_TCP_PORT,
        dst_port: c.port,
        seq: PEER_ISS.wrapping_add(1).wrapping_add(sent),
        ack: c.iss.wrapping_add(1).wrapping_add(acked),
        flags,
        window: 1024,
    };
    let stamp = option::timestamps(PEER_TSVAL + 10, c.ts_echo);
    let old_stamp = option::timestamps(PEER_TSVAL - 1000, c.ts_echo);
    let first_data = c.mss;
    let sacked = [(
        c.iss.wrapping_add(1 + first_data),
        c.iss.wrapping_add(1 + 2 * first_data),
    )];
    let sack = [
        option::timestamps(PEER_TSVAL + 10, c.ts_echo),
        option::sack(&sacked),
    ]
    .concat();

    #[rustfmt::skip]
    let seeds = vec![
        ("ARP request for us", "arp.tx_replies",
            arp_frame(BROADCAST_MAC, &request_for_us)),
        ("ARP reply to us", "arp.processed",
            arp_frame(OUR_MAC, &reply_to_us)),
        ("ARP request for another host", "arp.processed",
            arp_frame(BROADCAST_MAC, &request_for_other)),
        ("ARP request for us, priority tagged", "arp.tx_replies",
            tagged(BROADCAST_MAC, 0x6000, ETHERTYPE_ARP, &request_for_us)),
        ("echo request", "icmp.tx_echo_replies",
            icmp_frame(&echo(8, 0x0101, 1, &pattern(56, 1)))),
        ("empty echo request, identifier 0, sequence 0", "icmp.tx_echo_replies",
            icmp_frame(&echo(8, 0, 0, &[]))),
        ("echo reply for our ping socket", "icmp.delivered",
            icmp_frame(&echo(0, PING_IDENT, 9, &pattern(32, 2)))),
        ("port unreachable", "icmp.rx_errors",
            icmp_frame(&icmp(3, 3, [0; 4], &quoted))),
        ("timestamp request", "icmp.drop_unsupported_type",
            icmp_frame(&icmp(13, 0, [0, 1, 0, 1], &[0; 12]))),
        ("UDP to an open port", "udp.rx_datagrams",
            udp_frame(OUR_MAC, OUR_IP, OPEN_PORT, &pattern(100, 3))),
        ("UDP to a closed port", "udp.drop_no_socket",
            udp_frame(OUR_MAC, OUR_IP, CLOSED_PORT, &small)),
        ("UDP broadcast to an open port", "udp.rx_datagrams",
            udp_frame(BROADCAST_MAC, Ipv4Addr::BROADCAST, OPEN_PORT, &small)),
        ("UDP subnet broadcast to a closed port", "udp.drop_no_socket",
            udp_frame(BROADCAST_MAC, SUBNET_BROADCAST, CLOSED_PORT, &small)),
        ("UDP to all hosts", "udp.rx_datagrams",
            udp_frame(ALL_HOSTS_MAC, ALL_HOSTS, OPEN_PORT, &small)),
        ("UDP without checksum", "udp.rx_datagrams",
            ethernet(OUR_MAC, PEER_MAC, ETHERTYPE_IPV4, &to_us(&unchecked))),
        ("UDP of the largest size", "udp.rx_datagrams",
            udp_frame(OUR_MAC, OUR_IP, OPEN_PORT, &pattern(1472, 4))),
        ("UDP behind IPv4 options", "udp.rx_datagrams",
            ethernet(OUR_MAC, PEER_MAC, ETHERTYPE_IPV4, &with_options)),
        ("UDP with Ethernet padding", "udp.rx_datagrams",
            padded),
        ("UDP priority tagged", "udp.rx_datagrams",
            tagged(OUR_MAC, 0xa000, ETHERTYPE_IPV4, &to_us(&open))),
        ("UDP on VLAN 5", "ethernet.drop_unknown_vlan",
            tagged(OUR_MAC, 5, ETHERTYPE_IPV4, &to_us(&open))),
        ("IPv4 protocol 253 (experimental)", "ipv4.drop_unknown_protocol",
            ethernet(OUR_MAC, PEER_MAC, ETHERTYPE_IPV4, &experimental)),
        ("IPv6", "ethernet.drop_unknown_ethertype",
            ethernet(OUR_MAC, PEER_MAC, ETHERTYPE_IPV6, &[0x60; 40])),
        ("TCP SYN to a closed port", "tcp.tx_resets_no_socket",
            tcp_frame(stray(TCP_CLOSED_PORT, 0x1234_5678, 0, flag::SYN), &option::mss(1460), &[])),
        ("TCP data to a closed port", "tcp.tx_resets_no_socket",
            tcp_frame(stray(TCP_CLOSED_PORT, 7, 0xfedc_ba98, flag::ACK | flag::PSH), &[], &small)),
        ("TCP FIN without ACK to a closed port", "tcp.tx_resets_no_socket",
            tcp_frame(stray(TCP_CLOSED_PORT, u32::MAX, 0, flag::FIN), &[], &[])),
        ("TCP RST to a closed port", "tcp.processed",
            tcp_frame(stray(TCP_CLOSED_PORT, 9, 0, flag::RST), &[], &[])),
        ("TCP SYN with every option to the listening port", "tcp.processed",
            tcp_frame(syn_from(40_002), &every_option, &[])),
        ("TCP SYN without options to the listening port", "tcp.processed",
            tcp_frame(syn_from(40_003), &[], &[])),
        ("TCP ACK of another SYN-ACK in SYN-RECEIVED", "tcp.tx_resets_bad_ack",
            tcp_frame(TcpHeader { ack: 0x0bad_0000, ..syn_from(40_003) }.next(flag::ACK), &[],
                &[])),
        ("TCP data in order", "tcp.processed",
            tcp_frame(on_connection(0, 0, flag::ACK | flag::PSH), &stamp, &pattern(100, 5))),
        ("TCP data out of order", "tcp.processed",
            tcp_frame(on_connection(300, 0, flag::ACK), &stamp, &pattern(200, 6))),
        ("TCP ACK of the first data segment", "tcp.processed",
            tcp_frame(on_connection(100, first_data, flag::ACK), &stamp, &[])),
        ("TCP duplicate ACK with a SACK block", "tcp.processed",
            tcp_frame(on_connection(100, first_data, flag::ACK), &sack, &[])),
        ("TCP data beyond the window", "tcp.drop_out_of_window",
            tcp_frame(on_connection(100_000, 0, flag::ACK), &stamp, &small)),
        ("TCP RST inside the window", "tcp.tx_challenge_acks",
            tcp_frame(on_connection(110, 0, flag::RST), &[], &[])),
        ("TCP SYN on the connection", "tcp.tx_challenge_acks",
            tcp_frame(on_connection(100, 0, flag::SYN), &stamp, &[])),
        ("TCP ACK with an old timestamp", "tcp.drop_paws",
            tcp_frame(on_connection(100, first_data, flag::ACK), &old_stamp, &[])),
        ("TCP ACK for data never sent", "tcp.processed",
            tcp_frame(on_connection(100, 1_000_000, flag::ACK), &stamp, &[])),
        ("TCP MSS option of length 3", "tcp.drop_malformed",
            tcp_frame(on_connection(100, 0, flag::ACK), &[2, 3, 5, 0], &[])),
        ("TCP FIN", "tcp.processed",
            tcp_frame(on_connection(100, first_data, flag::ACK | flag::FIN), &stamp, &[])),
        ("TCP RST at RCV.NXT", "tcp.rx_resets",
            tcp_frame(on_connection(101, 0, flag::RST), &[], &[])),
    ];
    seeds
        .into_iter()
        .map(|(name, outcome, frame)| Seed {
            name,
            frame,
            outcome,
        })
        .collect()
}

/// Where the network header starts: behind one 802.1Q tag if there is one.
pub(crate) fn network_offset(frame: &[u8]) -> usize {
    if frame.get(12..14) == Some(&ETHERTYPE_VLAN.to_be_bytes()[..]) {
        18
    } else {
        14
    }
}

pub(crate) fn ethertype_of(frame: &[u8]) -> Option<u16> {
    let at = network_offset(frame) - 2;
    frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

/// Where the transport header starts, by the IHL, if the frame reaches it.
pub(crate) fn transport_offset(frame: &[u8]) -> Option<usize> {
    let network = network_offset(frame);
    let ihl = usize::from(frame.get(network)? & 0x0f) * 4;
    Some(network + ihl)
}

pub(crate) fn read_u16(frame: &[u8], at: usize) -> Option<u16> {
    frame
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

pub(crate) fn read_ipv4(frame: &[u8], at: usize) -> Option<Ipv4Addr> {
    frame
        .get(at..at + 4)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

/// Recomputes the IPv4 header checksum and the UDP, TCP or ICMP checksum over
/// whatever the (possibly mutated) length fields describe, as far as the
/// frame holds them, so that mutations reach the checks behind the checksums.
pub(crate) fn fix_checksums(frame: &mut [u8]) {
    if ethertype_of(frame) != Some(ETHERTYPE_IPV4) {
        return;
    }
    let network = network_offset(frame);
    let Some(transport) = transport_offset(frame) else {
        return;
    };
    if transport < network + 20 || transport > frame.len() {
        return;
    }
    frame[network + 10..network + 12].fill(0);
    let checksum = internet_checksum(&frame[network..transport], 0);
    frame[network + 10..network + 12].copy_from_slice(&checksum.to_be_bytes());

    let total = usize::from(read_u16(frame, network + 2).unwrap_or(0));
    let end = (network + total).min(frame.len());
    let (Some(src), Some(dst)) = (
        read_ipv4(frame, network + 12),
        read_ipv4(frame, network + 16),
    ) else {
        return;
    };
    match frame[network + 9] {
        PROTO_UDP if end >= transport + 8 => {
            let len = read_u16(frame, transport + 4).unwrap_or(0);
            let span = (transport + usize::from(len)).clamp(transport + 8, end);
            frame[transport + 6..transport + 8].fill(0);
            let sum = pseudo_header_sum(src, dst, PROTO_UDP, len);
            let checksum = match internet_checksum(&frame[transport..span], sum) {
                0 => 0xffff,
                checksum => checksum,
            };
            frame[transport + 6..transport + 8].copy_from_slice(&checksum.to_be_bytes());
        }
        PROTO_TCP if end >= transport + 20 => {
            frame[transport + 16..transport + 18].fill(0);
            let sum = pseudo_header_sum(src, dst, PROTO_TCP, (end - transport) as u16);
            let checksum = internet_checksum(&frame[transport..end], sum);
            frame[transport + 16..transport + 18].copy_from_slice(&checksum.to_be_bytes());
        }
        PROTO_ICMP if end >= transport + 8 => {
            frame[transport + 2..transport + 4].fill(0);
            let checksum = internet_checksum(&frame[transport..end], 0);
            frame[transport + 2..transport + 4].copy_from_slice(&checksum.to_be_bytes());
        }
        _ => {}
    }
}
