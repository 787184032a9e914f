//! Bad input: random and mutated frames fed into a stack never panic, never
//! leak a packet buffer, and each lands on exactly one outcome counter.
//!
//! The outcome of a frame is read from the counters alone ([`classify`]):
//! the driver hands it over (or it is oversized, or no buffer was free);
//! Ethernet refuses it or passes it to ARP or IPv4; IPv4 refuses it or passes
//! it to ICMP, UDP or "unknown protocol"; and so on down to a socket, a reply
//! or one drop counter. At every level exactly one counter moves by one, and
//! no counter outside the frame's path moves at all, so a frame that is
//! dropped without a counter, or counted twice, fails the test.
//!
//! The property test is seeded (the crate's own `Rng`) and bounded; set
//! `DUET_MALFORMED_ITERATIONS` to run longer and `DUET_MALFORMED_SEED` to
//! explore other inputs locally.

mod common;
#[path = "malformed_input/frames.rs"]
mod frames;
#[path = "malformed_input/mutate.rs"]
mod mutate;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Context;

use common::{counters, delta};
use duet_netstack::rand::Rng;
use duet_netstack::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Icmpv4Type, IpProtocol,
    Ipv4Packet,
};
use duet_netstack::{
    Config, EthernetAddress, InterfaceConfig, InterfaceId, Ipv4Cidr, Ipv4Config, SocketHandle,
    Stack, StackResources, Stats,
};
use duet_netstack::{Duration, Instant};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use frames::{
    arp, arp_frame, corpus, echo, fix_checksums, icmp_frame, network_offset, pattern, read_ipv4,
    read_u16, tagged, transport_offset, udp_frame,
};
use mutate::{MUTATIONS, Mutation, mutate};

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const OTHER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0c];
const BROADCAST_MAC: [u8; 6] = [0xff; 6];
const ALL_HOSTS_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0, 0, 1];
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SUBNET_BROADCAST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 255);
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
const OPEN_PORT: u16 = 7;
const CLOSED_PORT: u16 = 9;
const PING_IDENT: u16 = 0x4242;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_ICMP: u8 = 1;
const PROTO_UDP: u8 = 17;

/// Pool buffers of the stack under test: one frame is in flight at a time,
/// so a handful is plenty, and a leak of even one shows at once.
const PACKETS: usize = 8;
type Resources = StackResources<PACKETS, 4, 8>;

// ---------------------------------------------------------------------------
// The stack under test and its driver.

/// A driver that hands the stack one frame at a time and keeps what it sends.
#[derive(Debug, Default)]
struct Feeder {
    inbox: Option<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

#[derive(Debug)]
struct Rx(Vec<u8>);

#[derive(Debug)]
struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl embassy_net_driver::RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl embassy_net_driver::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Driver for Feeder {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _cx: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let frame = self.inbox.take()?;
        Some((Rx(frame), Tx(&mut self.sent)))
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx<'_>> {
        Some(Tx(&mut self.sent))
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::default();
        capabilities.max_transmission_unit = 1514;
        capabilities
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(OUR_MAC)
    }
}

/// One stack with an open UDP port, a ping socket and a learned neighbour.
struct Harness<'a> {
    stack: Stack<'a>,
    driver: Feeder,
    udp: SocketHandle,
    ping: SocketHandle,
    now: Instant,
}

impl<'a> Harness<'a> {
    fn new(resources: &'a mut Resources) -> Self {
        let mut stack = Stack::new(
            resources,
            Config {
                seed: 7,
                ..Config::default()
            },
        );
        stack
            .add_interface(InterfaceConfig {
                hardware_address: EthernetAddress(OUR_MAC),
                ipv4: Some(Ipv4Config {
                    address: Ipv4Cidr::new(OUR_IP, 24),
                    gateway: None,
                }),
            })
            .expect("one interface fits");
        let udp = stack.add_udp_socket().expect("socket slot");
        stack.udp(udp).bind(OPEN_PORT).expect("port 7 is free");
        let ping = stack.add_icmp_socket().expect("socket slot");
        stack.icmp(ping).bind(PING_IDENT).expect("ident is free");
        let mut harness = Harness {
            stack,
            driver: Feeder::default(),
            udp,
            ping,
            now: Instant::from_secs(1),
        };
        // Link up: the gratuitous ARP goes out first.
        harness.stack.poll(harness.now, &mut harness.driver);
        assert_eq!(harness.stack.stats().arp.tx_announcements, 1);
        harness.driver.sent.clear();
        // A neighbour in the cache, so ARP input updates as well as creates.
        let request = arp_frame(BROADCAST_MAC, &arp(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP));
        assert_eq!(harness.feed(&request), "arp.tx_replies");
        assert_eq!(
            harness.stack.neighbor(InterfaceId::FIRST, PEER_IP),
            Some(EthernetAddress(PEER_MAC))
        );
        harness
    }

    /// Feeds one frame, polls, drains the sockets and checks every
    /// invariant; returns the frame's outcome. On a panic the frame is
    /// printed so the case can be replayed.
    fn feed(&mut self, frame: &[u8]) -> &'static str {
        match catch_unwind(AssertUnwindSafe(|| self.feed_unguarded(frame))) {
            Ok(outcome) => outcome,
            Err(panic) => {
                eprintln!("frame ({} bytes): {}", frame.len(), hex(frame));
                resume_unwind(panic)
            }
        }
    }

    fn feed_unguarded(&mut self, frame: &[u8]) -> &'static str {
        let before = self.stack.stats().clone();
        self.now += Duration::from_millis(1);
        self.driver.inbox = Some(frame.to_vec());
        self.stack.poll(self.now, &mut self.driver);
        assert!(self.driver.inbox.is_none(), "the stack took the frame");

        let udp_delivered = self.drain_udp(frame);
        let echo_delivered = self.drain_ping(frame);
        let gained = delta(self.stack.stats(), &before);
        let outcome = classify(&gained, udp_delivered, echo_delivered)
            .unwrap_or_else(|error| panic!("{error}\ncounters moved: {:?}", moved(&gained)));
        check_replies(&gained, &self.driver.sent, frame);
        self.driver.sent.clear();
        assert_eq!(
            self.stack.pool_usage().0,
            PACKETS,
            "every buffer is back in the pool"
        );
        outcome
    }

    /// Reads what the UDP socket got; each datagram must be exactly what the
    /// frame's UDP header describes.
    fn drain_udp(&mut self, frame: &[u8]) -> u32 {
        let mut count = 0;
        while let Ok((payload, remote)) = self
            .stack
            .udp(self.udp)
            .recv_with(|payload, meta| (payload.to_vec(), meta.remote))
        {
            count += 1;
            let transport = transport_offset(frame).expect("a delivered frame has IPv4");
            let network = network_offset(frame);
            let src = read_ipv4(frame, network + 12).expect("source address");
            let src_port = read_u16(frame, transport).expect("source port");
            let len = usize::from(read_u16(frame, transport + 4).expect("UDP length"));
            assert_eq!(payload, &frame[transport + 8..transport + len]);
            assert_eq!((remote.addr, remote.port), (IpAddr::V4(src), src_port));
        }
        count
    }

    /// Reads what the ping socket got; each reply must carry the frame's
    /// sequence number and data.
    fn drain_ping(&mut self, frame: &[u8]) -> u32 {
        let mut count = 0;
        while let Ok((seq, payload)) = self
            .stack
            .icmp(self.ping)
            .recv_with(|reply| (reply.seq, reply.payload.to_vec()))
        {
            count += 1;
            let network = network_offset(frame);
            let transport = transport_offset(frame).expect("a delivered frame has IPv4");
            let total = usize::from(read_u16(frame, network + 2).expect("total length"));
            assert_eq!(Some(seq), read_u16(frame, transport + 6));
            assert_eq!(payload, &frame[transport + 8..network + total]);
        }
        count
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The counters that moved, by name.
fn moved(gained: &Stats) -> Vec<(&'static str, u32)> {
    counters(gained)
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect()
}

/// Follows the frame through the counters that moved (`gained`), level by
/// level; at each level exactly one counter must have moved, by one. Two
/// outcomes have no counter of their own and are measured instead:
/// `icmp.delivered` (an echo reply queued on the ping socket, read back
/// from it) and `arp.processed` (an ARP packet learned from or ignored as
/// not for us: counted in `arp.rx_packets` and nothing else).
fn classify(d: &Stats, udp_delivered: u32, echo_delivered: u32) -> Result<&'static str, String> {
    let mut path = Vec::new();
    let mut one = |level: &str, options: &[(&'static str, u32)], required: bool| {
        let moved: Vec<_> = options.iter().filter(|(_, n)| *n != 0).collect();
        match moved.as_slice() {
            [] if !required => Ok(None),
            [(name, 1)] => {
                path.push(*name);
                Ok(Some(*name))
            }
            _ => Err(format!("{level}: want exactly one of {options:?}")),
        }
    };
    let (e, arp, ip, icmp, udp) = (&d.ethernet, &d.arp, &d.ipv4, &d.icmp, &d.udp);
    let taken = [
        ("ethernet.rx_frames", e.rx_frames),
        ("ethernet.drop_oversized", e.drop_oversized),
        ("ethernet.drop_no_buffer", e.drop_no_buffer),
    ];
    let link = [
        ("ethernet.drop_truncated", e.drop_truncated),
        ("ethernet.drop_not_for_us", e.drop_not_for_us),
        ("ethernet.drop_unknown_vlan", e.drop_unknown_vlan),
        ("ethernet.drop_unknown_ethertype", e.drop_unknown_ethertype),
        ("arp.rx_packets", arp.rx_packets),
        ("ipv4.rx_packets", ip.rx_packets),
        ("ipv4.drop_truncated", ip.drop_truncated),
        ("ipv4.drop_malformed", ip.drop_malformed),
        ("ipv4.drop_bad_checksum", ip.drop_bad_checksum),
        ("ipv4.drop_martian", ip.drop_martian),
        ("ipv4.drop_not_for_us", ip.drop_not_for_us),
        ("ipv4.drop_not_member", ip.drop_not_member),
        ("ipv4.drop_fragment", ip.drop_fragment),
    ];
    let arp_outcomes = [
        ("arp.drop_malformed", arp.drop_malformed),
        ("arp.drop_looped_back", arp.drop_looped_back),
        ("arp.address_conflicts", arp.address_conflicts),
        ("arp.tx_replies", arp.tx_replies),
    ];
    let transport = [
        ("ipv4.drop_unknown_protocol", ip.drop_unknown_protocol),
        ("icmp.rx_messages", icmp.rx_messages),
        ("icmp.drop_malformed", icmp.drop_malformed),
        ("icmp.drop_bad_checksum", icmp.drop_bad_checksum),
        ("udp.rx_datagrams", udp.rx_datagrams),
        ("udp.drop_malformed", udp.drop_malformed),
        ("udp.drop_bad_checksum", udp.drop_bad_checksum),
        ("udp.drop_no_socket", udp.drop_no_socket),
        ("udp.drop_queue_full", udp.drop_queue_full),
    ];
    let icmp_types = [
        ("icmp.rx_echo_requests", icmp.rx_echo_requests),
        ("icmp.rx_echo_replies", icmp.rx_echo_replies),
        ("icmp.rx_errors", icmp.rx_errors),
        ("icmp.drop_unsupported_type", icmp.drop_unsupported_type),
    ];
    let echo_requests = [
        ("icmp.tx_echo_replies", icmp.tx_echo_replies),
        ("icmp.drop_broadcast_echo", icmp.drop_broadcast_echo),
    ];
    let echo_replies = [
        ("icmp.delivered", echo_delivered),
        ("icmp.drop_no_socket", icmp.drop_no_socket),
        ("icmp.drop_queue_full", icmp.drop_queue_full),
    ];

    let mut name = one("driver", &taken, true)?.unwrap_or_default();
    if name == "ethernet.rx_frames" {
        name = one("link", &link, true)?.unwrap_or_default();
    }
    if name == "arp.rx_packets" {
        name = one("arp", &arp_outcomes, false)?.unwrap_or("arp.processed");
    }
    if name == "ipv4.rx_packets" {
        name = one("transport", &transport, true)?.unwrap_or_default();
    }
    if name == "icmp.rx_messages" {
        name = one("icmp", &icmp_types, true)?.unwrap_or_default();
    }
    if name == "icmp.rx_echo_requests" {
        name = one("echo request", &echo_requests, true)?.unwrap_or_default();
    }
    if name == "icmp.rx_echo_replies" {
        name = one("echo reply", &echo_replies, true)?.unwrap_or_default();
    }
    if udp_delivered != udp.rx_datagrams {
        return Err(format!(
            "{udp_delivered} datagrams read, udp.rx_datagrams moved by {}",
            udp.rx_datagrams
        ));
    }
    if echo_delivered != u32::from(name == "icmp.delivered") {
        return Err(format!(
            "{echo_delivered} echo replies read for outcome {name}"
        ));
    }

    // Counters the reply to a frame may move, checked in `check_replies`.
    let replies = [
        "ethernet.tx_frames",
        "ipv4.tx_packets",
        "icmp.tx_messages",
        "icmp.tx_dest_unreachable",
        "icmp.tx_rate_limited",
        // Learning a sender may push another neighbour out of the cache.
        "arp.cache_evictions",
    ];
    let stray: Vec<_> = moved(d)
        .into_iter()
        .filter(|(counter, _)| !path.contains(counter) && !replies.contains(counter))
        .collect();
    if !stray.is_empty() {
        return Err(format!("outcome {name}, but also {stray:?}"));
    }
    Ok(name)
}

/// What the stack sent in answer to one frame: exactly the replies its
/// counters claim, each well formed and addressed to the frame's sender.
fn check_replies(d: &Stats, sent: &[Vec<u8>], frame: &[u8]) {
    let icmp = &d.icmp;
    let replies = d.arp.tx_replies + icmp.tx_echo_replies + icmp.tx_dest_unreachable;
    assert_eq!(sent.len(), replies as usize, "one frame per reply counted");
    assert_eq!(d.ethernet.tx_frames, replies);
    assert_eq!(
        icmp.tx_messages,
        icmp.tx_echo_replies + icmp.tx_dest_unreachable
    );
    assert_eq!(d.ipv4.tx_packets, icmp.tx_messages);
    assert!(
        icmp.tx_dest_unreachable + icmp.tx_rate_limited
            <= d.udp.drop_no_socket + d.ipv4.drop_unknown_protocol,
        "errors only about datagrams nobody took"
    );
    for reply in sent {
        let eth = EthernetFrame::new_checked(&reply[..]).expect("a whole Ethernet header");
        assert_eq!(eth.src_addr(), EthernetAddress(OUR_MAC));
        match eth.ethertype() {
            EtherType::Arp => {
                // To the station the request names as its sender.
                let arp = ArpPacket::new_checked(eth.payload()).expect("a valid ARP reply");
                assert_eq!(arp.operation(), ArpOperation::Reply);
                assert_eq!(
                    (arp.sender_hardware_addr(), arp.sender_protocol_addr()),
                    (EthernetAddress(OUR_MAC), OUR_IP)
                );
                assert_eq!(eth.dst_addr(), arp.target_hardware_addr());
            }
            EtherType::Ipv4 => {
                // To the station the datagram came from, at its address.
                assert_eq!(eth.dst_addr().0, frame[6..12]);
                let ip = Ipv4Packet::new_checked(eth.payload()).expect("a valid IPv4 header");
                assert!(ip.verify_checksum(), "IPv4 checksum of {}", hex(reply));
                assert_eq!((ip.src_addr(), ip.protocol()), (OUR_IP, IpProtocol::Icmp));
                assert_eq!(
                    Some(ip.dst_addr()),
                    read_ipv4(frame, network_offset(frame) + 12)
                );
                let message = Icmpv4Packet::new_checked(ip.payload()).expect("an ICMP header");
                assert!(message.verify_checksum(), "ICMP checksum of {}", hex(reply));
                assert!(matches!(
                    message.msg_type(),
                    Icmpv4Type::EchoReply | Icmpv4Type::DestUnreachable
                ));
            }
            other => panic!("unexpected reply of type {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn every_seed_frame_has_its_expected_outcome() {
    let mut resources = Resources::new();
    let mut harness = Harness::new(&mut resources);
    for seed in corpus() {
        assert_eq!(harness.feed(&seed.frame), seed.outcome, "{}", seed.name);
    }
}

/// A damaged frame and what was done to it.
type Damage = (&'static str, Vec<u8>);

/// A seed frame edited by `edit`.
fn edited(frame: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut frame = frame.to_vec();
    edit(&mut frame);
    frame
}

/// Edits the IPv4 header and signs it again, so only the edit is wrong.
fn resigned(frame: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edited(frame, |frame| {
        edit(frame);
        fix_checksums(frame);
    })
}

#[test]
fn each_kind_of_damage_hits_its_own_counter() {
    let udp_in = udp_frame(OUR_MAC, OUR_IP, OPEN_PORT, &pattern(40, 9));
    let tiny_udp = udp_frame(OUR_MAC, OUR_IP, OPEN_PORT, b"x");
    let tagged_udp = tagged(OUR_MAC, 0, ETHERTYPE_IPV4, &udp_in[14..]);
    let request = arp_frame(BROADCAST_MAC, &arp(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP));
    let ping = icmp_frame(&echo(8, 0x0101, 1, &pattern(16, 1)));
    // Writes `bytes` at `at`: offsets are those of an untagged frame, whose
    // IPv4 header starts at 14, UDP or ICMP at 34, and ARP at 14.
    let set = |at: usize, bytes: &'static [u8]| {
        move |frame: &mut Vec<u8>| frame[at..at + bytes.len()].copy_from_slice(bytes)
    };

    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<Damage>)> = vec![
        ("ethernet.drop_truncated", vec![
            ("empty frame", vec![]),
            ("cut inside the Ethernet header", udp_in[..13].to_vec()),
            ("cut inside the 802.1Q tag", tagged_udp[..17].to_vec()),
        ]),
        ("ethernet.drop_not_for_us", vec![
            ("to another station", edited(&udp_in, set(0, &OTHER_MAC))),
        ]),
        ("ethernet.drop_unknown_vlan", vec![
            ("on VLAN 4095", edited(&tagged_udp, set(14, &[0x0f, 0xff]))),
        ]),
        ("ethernet.drop_unknown_ethertype", vec![
            ("IEEE 802.3 length field", edited(&udp_in, set(12, &[0x05, 0xdc]))),
            ("double tagged", edited(&tagged_udp, set(16, &[0x81, 0x00]))),
        ]),
        ("ethernet.drop_oversized", vec![
            ("larger than a pool buffer", vec![0xaa; 1535]),
        ]),
        ("arp.drop_malformed", vec![
            ("ARP cut short", request[..41].to_vec()),
            ("ARP hardware type IEEE 802", edited(&request, set(14, &[0, 6]))),
            ("ARP for IPv6", edited(&request, set(16, &[0x86, 0xdd]))),
            ("ARP hlen 8", edited(&request, set(18, &[8]))),
            ("ARP plen 16", edited(&request, set(19, &[16]))),
            ("ARP from a broadcast MAC", edited(&request, set(22, &BROADCAST_MAC))),
            ("ARP from a multicast IP", edited(&request, set(28, &[224, 0, 0, 5]))),
        ]),
        ("arp.address_conflicts", vec![
            ("ARP claiming our address", edited(&request, set(28, &[10, 0, 0, 2]))),
        ]),
        ("arp.drop_looped_back", vec![
            ("ARP from our own MAC", edited(&request, set(22, &OUR_MAC))),
        ]),
        ("arp.processed", vec![
            ("ARP operation 0xffff for us", edited(&request, set(20, &[0xff, 0xff]))),
        ]),
        ("ipv4.drop_truncated", vec![
            ("IPv4 header cut short", udp_in[..14 + 19].to_vec()),
            ("total length past the frame", resigned(&udp_in, set(16, &[0x05, 0xdc]))),
        ]),
        ("ipv4.drop_malformed", vec![
            ("IPv4 version 6", resigned(&udp_in, set(14, &[0x65]))),
            ("IHL 4", resigned(&udp_in, set(14, &[0x44]))),
            ("IHL 15 beyond the total length", resigned(&tiny_udp, set(14, &[0x4f]))),
            ("total length below the header", resigned(&udp_in, set(16, &[0, 19]))),
        ]),
        ("ipv4.drop_bad_checksum", vec![
            ("IPv4 checksum wrong", edited(&udp_in, |f| f[24] ^= 0x80)),
        ]),
        ("ipv4.drop_martian", vec![
            ("from loopback", resigned(&udp_in, set(26, &[127, 0, 0, 1]))),
            ("from the limited broadcast", resigned(&udp_in, set(26, &[255; 4]))),
            ("from ourselves", resigned(&udp_in, set(26, &[10, 0, 0, 2]))),
            ("from 0.0.0.0 to unicast", resigned(&udp_in, set(26, &[0; 4]))),
            ("to 0.0.0.0", resigned(&udp_in, set(30, &[0; 4]))),
            ("to class E", resigned(&udp_in, set(30, &[240, 0, 0, 1]))),
        ]),
        ("ipv4.drop_not_for_us", vec![
            ("to another host", resigned(&udp_in, set(30, &[10, 0, 0, 3]))),
        ]),
        ("ipv4.drop_not_member", vec![
            ("to a group not joined", resigned(&udp_in, set(30, &[239, 1, 2, 3]))),
        ]),
        ("ipv4.drop_fragment", vec![
            ("first fragment", resigned(&udp_in, set(20, &[0x20, 0]))),
            ("last fragment", resigned(&udp_in, set(20, &[0, 0x10]))),
        ]),
        ("ipv4.drop_unknown_protocol", vec![
            ("protocol 253", resigned(&udp_in, set(23, &[253]))),
        ]),
        ("udp.drop_malformed", vec![
            ("UDP header cut by the total length", resigned(&udp_in, set(16, &[0, 24]))),
            ("UDP length 7", resigned(&udp_in, set(38, &[0, 7]))),
            ("UDP length 0", resigned(&udp_in, set(38, &[0, 0]))),
            ("UDP length past the datagram", resigned(&udp_in, set(38, &[0x05, 0xdc]))),
        ]),
        ("udp.drop_bad_checksum", vec![
            ("UDP checksum wrong", edited(&udp_in, |f| f[50] ^= 1)),
            ("UDP length shortened", edited(&udp_in, set(38, &[0, 9]))),
        ]),
        ("udp.drop_no_socket", vec![
            ("UDP to a closed port", resigned(&udp_in, set(36, &[0, 9]))),
        ]),
        ("icmp.drop_malformed", vec![
            ("ICMP header cut by the total length", resigned(&ping, set(16, &[0, 27]))),
        ]),
        ("icmp.drop_bad_checksum", vec![
            ("ICMP checksum wrong", edited(&ping, |f| f[45] ^= 4)),
        ]),
        ("icmp.drop_broadcast_echo", vec![
            ("echo request to the broadcast", resigned(&ping, set(30, &[255; 4]))),
        ]),
        ("icmp.drop_no_socket", vec![
            ("echo reply for no socket", resigned(&ping, set(34, &[0]))),
        ]),
        ("icmp.tx_echo_replies", vec![
            ("echo request with code 1", resigned(&ping, set(35, &[1]))),
        ]),
        ("icmp.rx_errors", vec![
            ("time exceeded", resigned(&ping, set(34, &[11]))),
            ("parameter problem", resigned(&ping, set(34, &[12]))),
        ]),
        ("icmp.drop_unsupported_type", vec![
            ("address mask request", resigned(&ping, set(34, &[17]))),
            ("unassigned ICMP type", resigned(&ping, set(34, &[255]))),
        ]),
    ];
    let mut resources = Resources::new();
    let mut harness = Harness::new(&mut resources);
    for (outcome, frames) in cases {
        for (name, frame) in frames {
            assert_eq!(harness.feed(&frame), outcome, "{name}");
        }
    }
    // A full socket queue, made full by a limit of zero.
    harness.stack.udp(harness.udp).set_recv_queue_limit(0);
    assert_eq!(harness.feed(&udp_in), "udp.drop_queue_full");
    assert_eq!(harness.stack.udp(harness.udp).stats().rx_dropped, 1);
}

#[test]
fn a_full_ping_queue_and_an_empty_pool_are_counted() {
    let mut resources = StackResources::<2, 2, 2>::new();
    let mut stack = Stack::new(
        &mut resources,
        Config {
            socket_rx_limit: 1,
            ..Config::default()
        },
    );
    stack
        .add_interface(InterfaceConfig {
            hardware_address: EthernetAddress(OUR_MAC),
            ipv4: Some(Ipv4Config {
                address: Ipv4Cidr::new(OUR_IP, 24),
                gateway: None,
            }),
        })
        .expect("one interface fits");
    let ping = stack.add_icmp_socket().expect("socket slot");
    stack.icmp(ping).bind(PING_IDENT).expect("ident is free");
    let udp = stack.add_udp_socket().expect("socket slot");
    stack.udp(udp).bind(OPEN_PORT).expect("port is free");
    let mut driver = Feeder::default();
    let mut now = Instant::from_secs(1);
    let mut feed = |stack: &mut Stack, frame: Vec<u8>| {
        now += Duration::from_millis(1);
        driver.inbox = Some(frame);
        stack.poll(now, &mut driver);
        driver.sent.clear();
    };
    feed(&mut stack, vec![]);
    let reply = icmp_frame(&echo(0, PING_IDENT, 1, b"one"));
    feed(&mut stack, reply.clone());
    feed(&mut stack, reply);
    assert_eq!(stack.stats().icmp.rx_echo_replies, 2);
    assert_eq!(stack.stats().icmp.drop_queue_full, 1);
    // Two buffers: one holds the queued reply, the next datagram takes the
    // other, and the third finds none.
    stack.udp(udp).set_recv_queue_limit(8);
    for _ in 0..2 {
        feed(&mut stack, udp_frame(OUR_MAC, OUR_IP, OPEN_PORT, b"fill"));
    }
    let stats = stack.stats();
    assert_eq!(stats.udp.rx_datagrams, 1);
    assert_eq!(
        (stats.ethernet.drop_no_buffer, stats.pool.exhausted),
        (1, 1)
    );
    assert_eq!(stack.pool_usage(), (0, 0));
    while stack.icmp(ping).recv_with(|_| ()).is_ok() {}
    while stack.udp(udp).recv_with(|_, _| ()).is_ok() {}
    assert_eq!(stack.pool_usage().0, 2, "both buffers come back");
}

/// `name` from the environment, parsed, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Frames fed by the property test when `DUET_MALFORMED_ITERATIONS` is unset.
const DEFAULT_ITERATIONS: usize = 500_000;

#[test]
fn random_and_mutated_frames_never_panic_leak_or_go_uncounted() {
    let iterations = env_or("DUET_MALFORMED_ITERATIONS", DEFAULT_ITERATIONS);
    let rng_seed = env_or("DUET_MALFORMED_SEED", 0x00d0_e7f0_22ed_u64);
    let corpus = corpus();
    let mut resources = Resources::new();
    let mut harness = Harness::new(&mut resources);
    let mut outcomes: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_mutation: BTreeMap<Mutation, u64> = BTreeMap::new();
    let mut frames = 0u64;

    // Every seed cut at every length.
    for seed in &corpus {
        for len in 0..seed.frame.len() {
            *outcomes
                .entry(harness.feed(&seed.frame[..len]))
                .or_default() += 1;
            frames += 1;
        }
    }
    let mut rng = Rng::new(rng_seed);
    for _ in 0..iterations {
        let mutation = MUTATIONS[rng.below(MUTATIONS.len() as u32) as usize];
        let frame = mutate(&mut rng, &corpus, mutation);
        *outcomes.entry(harness.feed(&frame)).or_default() += 1;
        *by_mutation.entry(mutation).or_default() += 1;
        frames += 1;
    }
    println!("{frames} frames; by mutation {by_mutation:?}");
    println!("outcomes {outcomes:#?}");

    // Every frame ended in exactly one outcome (checked per frame above);
    // the totals agree with the stack's own counters.
    let stats = harness.stack.stats();
    let total: u64 = outcomes.values().sum();
    assert_eq!(total, frames);
    assert_eq!(
        common::frames_taken(stats),
        common::rx_drops(stats) + common::accepted(stats)
    );
    // The mutations reached every layer: each outcome the stack can give
    // one frame at a time was seen.
    let expected = [
        "ethernet.drop_truncated",
        "ethernet.drop_not_for_us",
        "ethernet.drop_unknown_vlan",
        "ethernet.drop_unknown_ethertype",
        "ethernet.drop_oversized",
        "arp.drop_malformed",
        "arp.drop_looped_back",
        "arp.address_conflicts",
        "arp.tx_replies",
        "arp.processed",
        "ipv4.drop_truncated",
        "ipv4.drop_malformed",
        "ipv4.drop_bad_checksum",
        "ipv4.drop_martian",
        "ipv4.drop_not_for_us",
        "ipv4.drop_not_member",
        "ipv4.drop_fragment",
        "ipv4.drop_unknown_protocol",
        "icmp.drop_malformed",
        "icmp.drop_bad_checksum",
        "icmp.tx_echo_replies",
        "icmp.drop_broadcast_echo",
        "icmp.delivered",
        "icmp.drop_no_socket",
        "icmp.rx_errors",
        "icmp.drop_unsupported_type",
        "udp.rx_datagrams",
        "udp.drop_malformed",
        "udp.drop_bad_checksum",
        "udp.drop_no_socket",
    ];
    if iterations >= DEFAULT_ITERATIONS {
        let missing: Vec<_> = expected
            .iter()
            .filter(|name| !outcomes.contains_key(*name))
            .collect();
        assert!(missing.is_empty(), "never reached: {missing:?}");
    }
    assert_eq!(harness.stack.pool_usage().0, PACKETS);
}
