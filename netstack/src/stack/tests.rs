//! Engine tests on crafted frames: two stacks joined by an in-memory wire
//! that the test can read, drop from and write to.

extern crate std;

use std::collections::VecDeque;
use std::vec::Vec;

use core::net::{IpAddr, Ipv4Addr};
use core::task::Context;

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};

use super::*;
use crate::endpoint::IpEndpoint;
use crate::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use crate::socket::{BindError, RecvError, SendError};
use crate::time::Duration;
use crate::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetAddress, EthernetFrame, Icmpv4Packet, Icmpv4Type,
    IpProtocol, Ipv4Packet, UdpPacket,
};

pub(super) const MAC_A: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xa]);
pub(super) const MAC_B: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xb]);
pub(super) const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(super) const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// One end of the test wire: `inbox` holds frames for this end's stack,
/// `outbox` what it sent.
#[derive(Default)]
pub(super) struct TestDriver {
    pub mac: [u8; 6],
    pub inbox: VecDeque<Vec<u8>>,
    pub outbox: VecDeque<Vec<u8>>,
    pub link_down: bool,
    pub caps: Option<Capabilities>,
}

pub(super) struct Rx(Vec<u8>);
pub(super) struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl embassy_net_driver::RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl embassy_net_driver::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = std::vec![0; len];
        let result = f(&mut frame);
        self.0.push_back(frame);
        result
    }
}

impl Driver for TestDriver {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((Rx(frame), Tx(&mut self.outbox)))
    }
    fn transmit(&mut self, _: &mut Context) -> Option<Tx<'_>> {
        Some(Tx(&mut self.outbox))
    }
    fn link_state(&mut self, _: &mut Context) -> LinkState {
        if self.link_down {
            LinkState::Down
        } else {
            LinkState::Up
        }
    }
    fn capabilities(&self) -> Capabilities {
        self.caps.clone().unwrap_or_else(|| {
            let mut caps = Capabilities::default();
            caps.max_transmission_unit = 1514;
            caps
        })
    }
    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

pub(super) type Resources = StackResources<16, 4, 4>;

pub(super) fn stack_on(resources: &mut Resources, mac: EthernetAddress, ip: Ipv4Addr) -> Stack<'_> {
    let mut stack = Stack::new(
        resources,
        Config {
            seed: u64::from(ip.octets()[3]),
            ..Config::default()
        },
    );
    let ipv4 = Ipv4Config {
        address: Ipv4Cidr::new(ip, 24),
        gateway: None,
    };
    stack
        .add_interface(InterfaceConfig {
            hardware_address: mac,
            ipv4: Some(ipv4),
        })
        .unwrap();
    stack
}

pub(super) fn driver(mac: EthernetAddress) -> TestDriver {
    TestDriver {
        mac: mac.0,
        ..TestDriver::default()
    }
}

/// Polls both stacks at `now`, carrying frames across, until both are quiet.
pub(super) fn exchange(
    a: &mut Stack,
    da: &mut TestDriver,
    b: &mut Stack,
    db: &mut TestDriver,
    now: Instant,
) {
    for _ in 0..20 {
        a.poll(now, da);
        b.poll(now, db);
        let moved = !da.outbox.is_empty() || !db.outbox.is_empty();
        db.inbox.extend(da.outbox.drain(..));
        da.inbox.extend(db.outbox.drain(..));
        if !moved {
            return;
        }
    }
    panic!("the stacks never went quiet");
}

pub(super) fn frames_of_kind(frames: &VecDeque<Vec<u8>>, kind: EtherType) -> usize {
    frames
        .iter()
        .filter(|f| EthernetFrame::new_checked(&f[..]).map(|e| e.ethertype()) == Ok(kind))
        .count()
}

#[test]
fn link_up_sends_one_gratuitous_arp() {
    let mut res = Resources::new();
    let mut a = stack_on(&mut res, MAC_A, IP_A);
    let mut da = driver(MAC_A);
    a.poll(Instant::ZERO, &mut da);
    assert_eq!(da.outbox.len(), 1);
    let frame = EthernetFrame::new_checked(&da.outbox[0][..]).unwrap();
    assert!(frame.dst_addr().is_broadcast());
    let arp = ArpPacket::new_checked(frame.payload()).unwrap();
    assert_eq!(arp.operation(), ArpOperation::Request);
    assert_eq!(
        (arp.sender_protocol_addr(), arp.target_protocol_addr()),
        (IP_A, IP_A)
    );
    a.poll(Instant::from_millis(1), &mut da);
    assert_eq!(da.outbox.len(), 1, "announced once per link-up");
    da.link_down = true;
    a.poll(Instant::from_millis(2), &mut da);
    da.link_down = false;
    a.poll(Instant::from_millis(3), &mut da);
    assert_eq!(a.stats().arp.tx_announcements, 2);
}

#[test]
fn udp_round_trip_resolves_arp_both_ways_and_reads_in_place() {
    let (mut ra, mut rb) = (Resources::new(), Resources::new());
    let (mut a, mut b) = (
        stack_on(&mut ra, MAC_A, IP_A),
        stack_on(&mut rb, MAC_B, IP_B),
    );
    let (mut da, mut db) = (driver(MAC_A), driver(MAC_B));
    exchange(&mut a, &mut da, &mut b, &mut db, Instant::ZERO);

    let server = b.add_udp_socket().unwrap();
    assert_eq!(b.udp(server).bind(7), Ok(7));
    let client = a.add_udp_socket().unwrap();
    a.udp(client).send_to(b"hello", (IP_B, 7)).unwrap();
    let client_port = a.udp(client).local_port();
    assert!((49152..=65535).contains(&client_port));
    exchange(&mut a, &mut da, &mut b, &mut db, Instant::from_millis(1));
    assert_eq!(a.neighbor(InterfaceId::FIRST, IP_B), Some(MAC_B));
    assert_eq!(b.neighbor(InterfaceId::FIRST, IP_A), Some(MAC_A));

    let mut buf = [0u8; 64];
    let (len, meta) = b.udp(server).recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"hello");
    assert_eq!(meta.remote, IpEndpoint::new(IpAddr::V4(IP_A), client_port));
    assert_eq!(meta.local_addr, IpAddr::V4(IP_B));
    assert_eq!(
        b.udp(server).recv_from(&mut buf),
        Err(RecvError::WouldBlock)
    );

    b.udp(server).send_to(b"world!", meta.remote).unwrap();
    exchange(&mut a, &mut da, &mut b, &mut db, Instant::from_millis(2));
    let echoed = a
        .udp(client)
        .recv_with(|payload, _| payload.to_vec())
        .unwrap();
    assert_eq!(echoed, b"world!");
    assert_eq!(a.stats().udp.rx_datagrams, 1);
    assert_eq!(b.stats().udp.tx_datagrams, 1);
    assert_eq!(a.pool_usage().0, 16, "every buffer is back in the pool");
}

#[test]
fn echo_request_is_answered_and_reaches_the_ping_socket() {
    let (mut ra, mut rb) = (Resources::new(), Resources::new());
    let (mut a, mut b) = (
        stack_on(&mut ra, MAC_A, IP_A),
        stack_on(&mut rb, MAC_B, IP_B),
    );
    let (mut da, mut db) = (driver(MAC_A), driver(MAC_B));
    let ping = a.add_icmp_socket().unwrap();
    let ident = a.icmp(ping).bind(0).unwrap();
    for seq in 0..3 {
        a.icmp(ping)
            .send_echo(IpAddr::V4(IP_B), seq, b"abcdefgh")
            .unwrap();
    }
    exchange(&mut a, &mut da, &mut b, &mut db, Instant::ZERO);
    for seq in 0..3 {
        let (from, got_seq, payload) = a
            .icmp(ping)
            .recv_with(|r| (r.from, r.seq, r.payload.to_vec()))
            .unwrap();
        assert_eq!(
            (from, got_seq, &payload[..]),
            (IpAddr::V4(IP_B), seq, &b"abcdefgh"[..])
        );
    }
    assert_eq!(b.stats().icmp.tx_echo_replies, 3);
    assert_eq!(a.stats().icmp.rx_echo_replies, 3);
    assert_ne!(ident, 0);
}

/// Builds a UDP datagram from A to B as raw bytes, for crafted-input tests.
fn udp_frame(dst_ip: Ipv4Addr, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = std::vec![0u8; 14 + 20 + 8 + payload.len()];
    EthernetFrame::new_unchecked(&mut frame[..]).write_header(MAC_B, MAC_A, EtherType::Ipv4);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.write_header(
        IP_A,
        dst_ip,
        IpProtocol::Udp,
        64,
        (8 + payload.len()) as u16,
        1,
    );
    let mut udp = UdpPacket::new_unchecked(&mut frame[34..]);
    udp.write_header(5000, dst_port, payload.len() as u16);
    udp.payload_mut().copy_from_slice(payload);
    udp.fill_checksum(&IpAddr::V4(IP_A), &IpAddr::V4(dst_ip));
    frame
}

#[test]
fn closed_port_gets_a_rate_limited_port_unreachable_quoting_the_datagram() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    for _ in 0..30 {
        db.inbox.push_back(udp_frame(IP_B, 9999, b"knock"));
    }
    b.poll(Instant::from_secs(10), &mut db);
    let burst = Config::default().icmp_error_burst as usize;
    assert_eq!(db.outbox.len(), burst);
    assert_eq!(b.stats().udp.drop_no_socket, 30);
    assert_eq!(b.stats().icmp.tx_rate_limited as usize, 30 - burst);

    let reply = &db.outbox[0];
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(eth.dst_addr(), MAC_A);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.protocol()),
        (IP_B, IP_A, IpProtocol::Icmp)
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(
        (icmp.msg_type(), icmp.code()),
        (Icmpv4Type::DestUnreachable, 3)
    );
    let original = udp_frame(IP_B, 9999, b"knock");
    assert_eq!(
        icmp.data(),
        &original[14..],
        "quotes the whole offending datagram"
    );

    // A second later the bucket has refilled by the configured rate.
    db.outbox.clear();
    for _ in 0..30 {
        db.inbox.push_back(udp_frame(IP_B, 9999, b"knock"));
    }
    b.poll(Instant::from_secs(11), &mut db);
    assert_eq!(
        db.outbox.len(),
        Config::default().icmp_errors_per_second as usize
    );
}

#[test]
fn broadcast_to_a_closed_port_is_not_answered() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    let mut frame = udp_frame(Ipv4Addr::BROADCAST, 9999, b"anyone?");
    EthernetFrame::new_unchecked(&mut frame[..]).set_dst_addr(EthernetAddress::BROADCAST);
    db.inbox.push_back(frame);
    b.poll(Instant::from_secs(1), &mut db);
    assert!(db.outbox.is_empty());
    assert_eq!(b.stats().udp.drop_no_socket, 1);
}

#[test]
fn broadcast_datagrams_reach_a_socket_bound_to_any_address() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    let socket = b.add_udp_socket().unwrap();
    b.udp(socket).bind(68).unwrap();
    for dst in [Ipv4Addr::BROADCAST, Ipv4Addr::new(10, 0, 0, 255)] {
        let mut frame = udp_frame(dst, 68, b"offer");
        EthernetFrame::new_unchecked(&mut frame[..]).set_dst_addr(EthernetAddress::BROADCAST);
        db.inbox.push_back(frame);
    }
    b.poll(Instant::ZERO, &mut db);
    let mut buf = [0; 16];
    assert_eq!(
        b.udp(socket).recv_from(&mut buf).unwrap().1.local_addr,
        IpAddr::V4(Ipv4Addr::BROADCAST)
    );
    assert_eq!(b.udp(socket).recv_from(&mut buf).unwrap().0, 5);
}

#[test]
fn an_unresolvable_neighbour_fails_its_sends_and_blocks_nobody_else() {
    let (mut ra, mut rb) = (Resources::new(), Resources::new());
    let (mut a, mut b) = (
        stack_on(&mut ra, MAC_A, IP_A),
        stack_on(&mut rb, MAC_B, IP_B),
    );
    let (mut da, mut db) = (driver(MAC_A), driver(MAC_B));
    let server = b.add_udp_socket().unwrap();
    b.udp(server).bind(7).unwrap();
    let client = a.add_udp_socket().unwrap();
    let ghost = Ipv4Addr::new(10, 0, 0, 99);
    for _ in 0..6 {
        a.udp(client).send_to(b"into the void", (ghost, 7)).unwrap();
    }
    let mut now = Instant::ZERO;
    let mut delivered = 0;
    while now < Instant::from_secs(4) {
        a.udp(client).send_to(b"to b", (IP_B, 7)).unwrap();
        exchange(&mut a, &mut da, &mut b, &mut db, now);
        while b.udp(server).recv_with(|_, _| ()).is_ok() {
            delivered += 1;
        }
        now += Duration::from_millis(250);
    }
    assert_eq!(delivered, 16, "traffic to B flowed the whole time");
    let stats = &a.stats().arp;
    assert_eq!(stats.resolution_failures, 1);
    assert_eq!(
        stats.pending_dropped, 6,
        "4 parked, then failed; 2 displaced by newer ones"
    );
    assert_eq!(
        a.udp(client).send_to(b"again", (ghost, 7)),
        Err(SendError::Unreachable)
    );
    let requests_for_ghost = a.stats().arp.tx_requests;
    assert_eq!(requests_for_ghost, 3 + 1, "three for the ghost, one for B");
    // After the hold the neighbour may be tried again.
    a.poll(now + Duration::from_secs(6), &mut da);
    assert_eq!(a.udp(client).send_to(b"again", (ghost, 7)), Ok(()));
    a.poll(now + Duration::from_secs(6), &mut da);
    assert_eq!(
        a.pool_usage().0 + 1,
        16,
        "only the new attempt holds a buffer"
    );
}

#[test]
fn arp_requests_for_us_are_answered_in_place_and_conflicts_counted() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    let arp_frame = |sha: EthernetAddress, spa: Ipv4Addr, tpa: Ipv4Addr| {
        let mut frame = std::vec![0u8; 60];
        EthernetFrame::new_unchecked(&mut frame[..]).write_header(
            EthernetAddress::BROADCAST,
            sha,
            EtherType::Arp,
        );
        ArpPacket::new_unchecked(&mut frame[14..]).write_packet(
            ArpOperation::Request,
            sha,
            spa,
            EthernetAddress([0; 6]),
            tpa,
        );
        frame
    };
    db.inbox.push_back(arp_frame(MAC_A, IP_A, IP_B));
    db.inbox
        .push_back(arp_frame(MAC_A, IP_A, Ipv4Addr::new(10, 0, 0, 77)));
    db.inbox.push_back(arp_frame(
        EthernetAddress([0x02, 9, 9, 9, 9, 9]),
        IP_B,
        IP_B,
    ));
    b.poll(Instant::from_millis(1), &mut db);
    assert_eq!(
        db.outbox.len(),
        1,
        "only the request for our address is answered"
    );
    let reply = &db.outbox[0];
    assert_eq!(reply.len(), 42, "padding is not echoed");
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (MAC_A, MAC_B));
    let arp = ArpPacket::new_checked(eth.payload()).unwrap();
    assert_eq!(arp.operation(), ArpOperation::Reply);
    assert_eq!(
        (arp.sender_hardware_addr(), arp.sender_protocol_addr()),
        (MAC_B, IP_B)
    );
    assert_eq!(
        (arp.target_hardware_addr(), arp.target_protocol_addr()),
        (MAC_A, IP_A)
    );
    assert_eq!(b.stats().arp.address_conflicts, 1);
    assert_eq!(b.neighbor(InterfaceId::FIRST, IP_A), Some(MAC_A));
}

#[test]
fn neighbour_cache_evicts_the_least_recently_used() {
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    let mut da = driver(MAC_A);
    a.poll(Instant::ZERO, &mut da);
    // Learn five neighbours into a four-entry cache by answering requests for us.
    for host in 10..15u8 {
        let mut frame = std::vec![0u8; 42];
        let mac = EthernetAddress([0x02, 0, 0, 0, 1, host]);
        EthernetFrame::new_unchecked(&mut frame[..]).write_header(MAC_A, mac, EtherType::Arp);
        ArpPacket::new_unchecked(&mut frame[14..]).write_packet(
            ArpOperation::Request,
            mac,
            Ipv4Addr::new(10, 0, 0, host),
            EthernetAddress([0; 6]),
            IP_A,
        );
        da.inbox.push_back(frame);
        a.poll(Instant::from_millis(u64::from(host)), &mut da);
    }
    assert_eq!(
        a.neighbor(InterfaceId::FIRST, Ipv4Addr::new(10, 0, 0, 10)),
        None
    );
    for host in 11..15u8 {
        assert!(
            a.neighbor(InterfaceId::FIRST, Ipv4Addr::new(10, 0, 0, host))
                .is_some()
        );
    }
    assert_eq!(a.stats().arp.cache_evictions, 1);
}

#[test]
fn invalid_ipv4_is_dropped_with_the_right_counter() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    let good = udp_frame(IP_B, 7, b"x");
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut frame = good.clone();
        f(&mut frame);
        frame
    };
    type Counter = fn(&Stats) -> u32;
    let cases: [(Vec<u8>, Counter); 9] = [
        (mutate(&|f| f[14] = 0x65), |s| s.ipv4.drop_malformed),
        (mutate(&|f| f[14] = 0x44), |s| s.ipv4.drop_malformed),
        (mutate(&|f| f.truncate(30)), |s| s.ipv4.drop_truncated),
        (mutate(&|f| f[24] ^= 0xff), |s| s.ipv4.drop_bad_checksum),
        (
            mutate(&|f| resign(f, |ip| ip.set_src_addr(Ipv4Addr::new(127, 0, 0, 1)))),
            |s| s.ipv4.drop_martian,
        ),
        (
            mutate(&|f| resign(f, |ip| ip.set_src_addr(Ipv4Addr::new(224, 0, 0, 9)))),
            |s| s.ipv4.drop_martian,
        ),
        (
            mutate(&|f| resign(f, |ip| ip.set_dst_addr(Ipv4Addr::new(10, 0, 0, 3)))),
            |s| s.ipv4.drop_not_for_us,
        ),
        (
            mutate(&|f| resign(f, |ip| ip.set_flags_and_frag_offset(false, true, 0))),
            |s| s.ipv4.drop_fragment,
        ),
        (mutate(&|f| f[41] ^= 0x01), |s| s.udp.drop_bad_checksum),
    ];
    for (frame, counter) in cases {
        let before = counter(b.stats());
        db.inbox.push_back(frame);
        b.poll(Instant::ZERO, &mut db);
        assert_eq!(counter(b.stats()), before + 1);
    }
    assert_eq!(b.pool_usage().0, 16);
}

fn resign(frame: &mut [u8], edit: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    edit(&mut ip);
    ip.fill_checksum();
}

#[test]
fn a_full_socket_queue_drops_and_counts() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    let socket = b.add_udp_socket().unwrap();
    b.udp(socket).bind(7).unwrap();
    b.udp(socket).set_recv_queue_limit(3);
    for _ in 0..5 {
        db.inbox.push_back(udp_frame(IP_B, 7, b"x"));
    }
    b.poll(Instant::ZERO, &mut db);
    assert_eq!(b.udp(socket).recv_queue_len(), 3);
    assert_eq!(b.stats().udp.drop_queue_full, 2);
    assert_eq!(b.udp(socket).stats().rx_dropped, 2);
    b.remove_socket(socket).unwrap();
    assert_eq!(b.pool_usage().0, 16, "removing the socket frees its queue");
}

#[test]
fn an_empty_pool_drops_frames_and_recovers() {
    let mut rb = StackResources::<2, 2, 2>::new();
    let mut b = Stack::new(&mut rb, Config::default());
    let ipv4 = Ipv4Config {
        address: Ipv4Cidr::new(IP_B, 24),
        gateway: None,
    };
    b.add_interface(InterfaceConfig {
        hardware_address: MAC_B,
        ipv4: Some(ipv4),
    })
    .unwrap();
    let mut db = driver(MAC_B);
    db.link_down = true;
    let socket = b.add_udp_socket().unwrap();
    b.udp(socket).bind(7).unwrap();
    b.udp(socket).set_recv_queue_limit(10);
    for _ in 0..4 {
        db.inbox.push_back(udp_frame(IP_B, 7, b"x"));
    }
    b.poll(Instant::ZERO, &mut db);
    assert_eq!(b.stats().ethernet.drop_no_buffer, 2);
    assert_eq!(b.stats().pool.exhausted, 2);
    while b.udp(socket).recv_with(|_, _| ()).is_ok() {}
    db.inbox.push_back(udp_frame(IP_B, 7, b"x"));
    b.poll(Instant::ZERO, &mut db);
    assert_eq!(b.udp(socket).recv_queue_len(), 1);
}

#[test]
fn sends_are_refused_with_would_block_when_the_transmit_queue_is_full() {
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    let socket = a.add_udp_socket().unwrap();
    let limit = Config::default().tx_queue_limit.min(16) as usize;
    let mut results = Vec::new();
    for _ in 0..limit + 2 {
        results.push(a.udp(socket).send_to(b"x", (Ipv4Addr::BROADCAST, 9)));
    }
    let refused = results
        .iter()
        .filter(|r| **r == Err(SendError::WouldBlock))
        .count();
    assert!(refused >= 2, "{results:?}");
    let mut da = driver(MAC_A);
    a.poll(Instant::ZERO, &mut da);
    assert_eq!(
        a.udp(socket).send_to(b"x", (Ipv4Addr::BROADCAST, 9)),
        Ok(())
    );
}

#[test]
fn off_subnet_traffic_goes_to_the_gateway_and_no_route_without_one() {
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    let socket = a.add_udp_socket().unwrap();
    let far = Ipv4Addr::new(192, 0, 2, 1);
    assert_eq!(
        a.udp(socket).send_to(b"x", (far, 9)),
        Err(SendError::NoRoute)
    );
    assert_eq!(a.stats().ipv4.tx_no_route, 1);
    let gateway = Ipv4Addr::new(10, 0, 0, 254);
    a.set_ipv4(
        InterfaceId::FIRST,
        Some(Ipv4Config {
            address: Ipv4Cidr::new(IP_A, 24),
            gateway: Some(gateway),
        }),
    )
    .unwrap();
    assert_eq!(a.udp(socket).send_to(b"x", (far, 9)), Ok(()));
    let mut da = driver(MAC_A);
    a.poll(Instant::ZERO, &mut da);
    let asked = da.outbox.iter().any(|f| {
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        eth.ethertype() == EtherType::Arp
            && ArpPacket::new_checked(eth.payload())
                .unwrap()
                .target_protocol_addr()
                == gateway
    });
    assert!(asked, "the gateway is resolved, not the far host");
    assert_eq!(frames_of_kind(&da.outbox, EtherType::Ipv4), 0);
}

#[test]
fn oversized_datagrams_are_refused() {
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    let socket = a.add_udp_socket().unwrap();
    let big = [0u8; 1473];
    assert_eq!(
        a.udp(socket).send_to(&big, (Ipv4Addr::BROADCAST, 9)),
        Err(SendError::TooLarge)
    );
    assert_eq!(
        a.udp(socket)
            .send_to(&big[..1472], (Ipv4Addr::BROADCAST, 9)),
        Ok(())
    );
}

#[test]
fn bind_conflicts_and_connected_filtering() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    let first = b.add_udp_socket().unwrap();
    let second = b.add_udp_socket().unwrap();
    b.udp(first).bind(7).unwrap();
    assert_eq!(b.udp(second).bind(7), Err(BindError::AddrInUse));
    assert_eq!(b.udp(first).bind(8), Err(BindError::InvalidState));
    b.udp(first)
        .connect((Ipv4Addr::new(10, 0, 0, 50), 5000))
        .unwrap();
    db.inbox
        .push_back(udp_frame(IP_B, 7, b"from A, not the peer"));
    b.poll(Instant::ZERO, &mut db);
    assert_eq!(b.udp(first).recv_queue_len(), 0);
    b.remove_socket(first).unwrap();
    assert_eq!(b.udp(second).bind(7), Ok(7), "the port is free again");
}

#[test]
fn checksum_offload_skips_software_checksums_both_ways() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    let mut caps = Capabilities::default();
    caps.max_transmission_unit = 1514;
    caps.checksum.ipv4 = embassy_net_driver::Checksum::None;
    caps.checksum.udp = embassy_net_driver::Checksum::None;
    caps.checksum.icmpv4 = embassy_net_driver::Checksum::None;
    db.caps = Some(caps);
    let socket = b.add_udp_socket().unwrap();
    b.udp(socket).bind(7).unwrap();
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    // The hardware verified these already, so the stack must not look again.
    let mut frame = udp_frame(IP_B, 7, b"offloaded");
    frame[24] ^= 0xff;
    frame[40] ^= 0xff;
    db.inbox.push_back(frame);
    b.poll(Instant::from_millis(1), &mut db);
    let (len, meta) = b.udp(socket).recv_from(&mut [0u8; 32]).unwrap();
    assert_eq!(len, 9);
    b.udp(socket).send_to(b"reply", meta.remote).unwrap();
    let ghost = b.add_udp_socket().unwrap();
    b.udp(ghost)
        .send_to(b"bcast", (Ipv4Addr::BROADCAST, 9))
        .unwrap();
    b.poll(Instant::from_millis(2), &mut db);
    assert_eq!(
        frames_of_kind(&db.outbox, EtherType::Ipv4),
        1,
        "the broadcast; the reply awaits ARP"
    );
    for sent in &db.outbox {
        let eth = EthernetFrame::new_checked(&sent[..]).unwrap();
        if eth.ethertype() != EtherType::Ipv4 {
            continue;
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.checksum(), 0, "left for the hardware");
        assert_eq!(UdpPacket::new_checked(ip.payload()).unwrap().checksum(), 0);
    }
}

#[test]
fn aged_entries_are_confirmed_by_unicast_and_forgotten_when_silent() {
    let (mut ra, mut rb) = (Resources::new(), Resources::new());
    let (mut a, mut b) = (
        stack_on(&mut ra, MAC_A, IP_A),
        stack_on(&mut rb, MAC_B, IP_B),
    );
    let (mut da, mut db) = (driver(MAC_A), driver(MAC_B));
    let socket = a.add_udp_socket().unwrap();
    a.udp(socket).send_to(b"x", (IP_B, 9)).unwrap();
    exchange(&mut a, &mut da, &mut b, &mut db, Instant::ZERO);
    assert_eq!(a.neighbor(InterfaceId::FIRST, IP_B), Some(MAC_B));

    // Past the reachable time, a send still goes out at once, with a unicast
    // request to confirm the entry (RFC 1122 §2.3.2.1).
    let later = Instant::ZERO + Config::default().neighbor.reachable_time + Duration::from_secs(1);
    a.poll(later, &mut da);
    a.udp(socket).send_to(b"y", (IP_B, 9)).unwrap();
    a.poll(later, &mut da);
    assert_eq!(frames_of_kind(&da.outbox, EtherType::Ipv4), 1);
    assert_eq!(frames_of_kind(&da.outbox, EtherType::Arp), 1);
    let probe = da
        .outbox
        .iter()
        .find(|f| f[12..14] == [0x08, 0x06])
        .unwrap();
    assert_eq!(
        EthernetFrame::new_checked(&probe[..]).unwrap().dst_addr(),
        MAC_B
    );
    let requests_before = a.stats().arp.tx_requests;
    // B stays silent: the probe is repeated, then the entry is dropped.
    da.outbox.clear();
    let mut now = later;
    for _ in 0..5 {
        now += Duration::from_secs(1);
        a.poll(now, &mut da);
    }
    assert_eq!(
        a.stats().arp.tx_requests - requests_before,
        2,
        "max_requests in all"
    );
    assert_eq!(a.neighbor(InterfaceId::FIRST, IP_B), None);
    assert_eq!(
        a.stats().arp.resolution_failures,
        0,
        "nothing was waiting on it"
    );
}

/// An ICMP message from A to B with a valid checksum, as raw bytes.
fn icmp_frame(msg_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut frame = std::vec![0u8; 14 + 20 + 8 + data.len()];
    EthernetFrame::new_unchecked(&mut frame[..]).write_header(MAC_B, MAC_A, EtherType::Ipv4);
    Ipv4Packet::new_unchecked(&mut frame[14..]).write_header(
        IP_A,
        IP_B,
        IpProtocol::Icmp,
        64,
        (8 + data.len()) as u16,
        1,
    );
    frame[34] = msg_type;
    frame[35] = code;
    frame[38..42].copy_from_slice(&rest);
    frame[42..].copy_from_slice(data);
    Icmpv4Packet::new_unchecked(&mut frame[34..]).fill_checksum();
    frame
}

#[test]
fn icmp_types_we_do_not_act_on_are_discarded_and_counted() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    // Timestamp request (RFC 792), redirect, router advertisement (RFC 1256), unassigned.
    for msg_type in [13, 5, 9, 200] {
        db.inbox
            .push_back(icmp_frame(msg_type, 0, [0, 1, 0, 1], &[0; 12]));
    }
    b.poll(Instant::from_millis(1), &mut db);
    let icmp = &b.stats().icmp;
    assert_eq!(icmp.rx_messages, 4);
    assert_eq!(icmp.drop_unsupported_type, 4);
    assert!(db.outbox.is_empty(), "RFC 1122 §3.2.2: no reply");
    assert_eq!(b.pool_usage().0, 16);
}

#[test]
fn our_own_arp_coming_back_is_dropped_and_counted() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    // The gratuitous ARP B just sent, reflected back to it.
    let announcement = db.outbox.pop_front().unwrap();
    db.inbox.push_back(announcement);
    b.poll(Instant::from_millis(1), &mut db);
    let arp = &b.stats().arp;
    assert_eq!((arp.rx_packets, arp.drop_looped_back), (1, 1));
    assert_eq!((arp.drop_malformed, arp.address_conflicts), (0, 0));
    assert!(db.outbox.is_empty());
    assert_eq!(b.pool_usage().0, 16);
}

#[test]
fn an_all_zero_echo_reply_gets_the_checksum_a_full_computation_gives() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    // Identifier 0, sequence 0, no data: the reply is all zero but for its
    // checksum, which must be 0xffff (the sum of zeros is +0, RFC 1071).
    db.inbox.push_back(icmp_frame(8, 0, [0; 4], &[]));
    b.poll(Instant::from_millis(1), &mut db);
    assert_eq!(db.outbox.len(), 1);
    let eth = EthernetFrame::new_checked(&db.outbox[0][..]).unwrap();
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let reply = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(reply.msg_type(), Icmpv4Type::EchoReply);
    assert_eq!(reply.checksum(), 0xffff);
    assert!(reply.verify_checksum());
}

#[test]
fn without_an_address_only_the_limited_broadcast_goes_out_from_0_0_0_0() {
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    a.set_ipv4(InterfaceId::FIRST, None).unwrap();
    let socket = a.add_udp_socket().unwrap();
    a.udp(socket).bind(68).unwrap();
    assert_eq!(
        a.udp(socket).send_to(b"x", (IP_B, 67)),
        Err(SendError::NoRoute)
    );
    assert_eq!(
        a.udp(socket)
            .send_to(b"discover", (Ipv4Addr::BROADCAST, 67)),
        Ok(())
    );
    let mut da = driver(MAC_A);
    a.poll(Instant::ZERO, &mut da);
    let sent: Vec<_> = da
        .outbox
        .iter()
        .filter_map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            (eth.ethertype() == EtherType::Ipv4).then(|| {
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                (eth.dst_addr(), ip.src_addr(), ip.dst_addr())
            })
        })
        .collect();
    assert_eq!(
        sent,
        [(
            EthernetAddress::BROADCAST,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST
        )]
    );
}

/// An ARP packet from `sha` as another station would send it.
fn arp_from(
    operation: ArpOperation,
    sha: EthernetAddress,
    spa: Ipv4Addr,
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut frame = std::vec![0u8; 60];
    EthernetFrame::new_unchecked(&mut frame[..]).write_header(
        EthernetAddress::BROADCAST,
        sha,
        EtherType::Arp,
    );
    ArpPacket::new_unchecked(&mut frame[14..]).write_packet(
        operation,
        sha,
        spa,
        EthernetAddress([0; 6]),
        tpa,
    );
    frame
}

/// The ARP fields of `frame`: destination, operation, sender and target.
fn arp_fields(
    frame: &[u8],
) -> (
    EthernetAddress,
    ArpOperation,
    (EthernetAddress, Ipv4Addr),
    (EthernetAddress, Ipv4Addr),
) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), EtherType::Arp);
    let arp = ArpPacket::new_checked(eth.payload()).unwrap();
    (
        eth.dst_addr(),
        arp.operation(),
        (arp.sender_hardware_addr(), arp.sender_protocol_addr()),
        (arp.target_hardware_addr(), arp.target_protocol_addr()),
    )
}

#[test]
fn an_arp_probe_is_sent_from_0_0_0_0_and_an_announcement_claims_the_address() {
    let candidate = Ipv4Addr::new(169, 254, 7, 9);
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    a.set_ipv4(InterfaceId::FIRST, None).unwrap();
    let mut da = driver(MAC_A);
    a.poll(Instant::ZERO, &mut da);
    assert!(
        da.outbox.is_empty(),
        "nothing to announce without an address"
    );
    assert_eq!(a.send_arp_probe(InterfaceId::FIRST, candidate), Ok(()));
    a.poll(Instant::from_millis(1), &mut da);
    let probe = da.outbox.pop_front().unwrap();
    assert_eq!(probe.len(), 42);
    assert_eq!(
        arp_fields(&probe),
        (
            EthernetAddress::BROADCAST,
            ArpOperation::Request,
            (MAC_A, Ipv4Addr::UNSPECIFIED),
            (EthernetAddress([0; 6]), candidate)
        )
    );
    assert_eq!(a.stats().arp.tx_probes, 1);

    // Claiming: the address is set, and the announcement sent for it is the
    // gratuitous ARP the new address was owed, not one more.
    let cidr = Ipv4Cidr::new(candidate, 16);
    let config = Ipv4Config {
        address: cidr,
        gateway: None,
    };
    a.set_ipv4(InterfaceId::FIRST, Some(config)).unwrap();
    assert_eq!(
        a.send_arp_announcement(InterfaceId::FIRST, candidate),
        Ok(())
    );
    a.poll(Instant::from_millis(2), &mut da);
    assert_eq!(da.outbox.len(), 1);
    assert_eq!(
        arp_fields(&da.outbox[0]),
        (
            EthernetAddress::BROADCAST,
            ArpOperation::Request,
            (MAC_A, candidate),
            (EthernetAddress([0; 6]), candidate)
        )
    );
    assert_eq!(a.stats().arp.tx_announcements, 1);

    let missing = InterfaceId(3);
    assert_eq!(
        a.send_arp_probe(missing, candidate),
        Err(SendError::InvalidState)
    );
    assert_eq!(
        a.send_arp_announcement(missing, candidate),
        Err(SendError::InvalidState)
    );
    assert_eq!(
        a.watch_address(missing, Some(candidate)),
        Err(StackError::InvalidHandle)
    );
    assert_eq!(a.take_address_conflict(missing), None);
}

#[test]
fn conflicts_with_a_probed_address_are_reported() {
    let candidate = Ipv4Addr::new(169, 254, 7, 9);
    let mut ra = Resources::new();
    let mut a = stack_on(&mut ra, MAC_A, IP_A);
    a.set_ipv4(InterfaceId::FIRST, None).unwrap();
    let mut da = driver(MAC_A);
    a.watch_address(InterfaceId::FIRST, Some(candidate))
        .unwrap();
    a.send_arp_probe(InterfaceId::FIRST, candidate).unwrap();
    a.poll(Instant::ZERO, &mut da);
    // Our own probe reflected back is no conflict.
    let own = da.outbox.pop_front().unwrap();
    da.inbox.push_back(own);
    // Someone asking for the candidate (not a probe) is none either.
    da.inbox
        .push_back(arp_from(ArpOperation::Request, MAC_B, IP_B, candidate));
    a.poll(Instant::from_millis(1), &mut da);
    assert_eq!(a.take_address_conflict(InterfaceId::FIRST), None);

    // The holder answers the probe (as Linux does: a reply to 0.0.0.0).
    da.inbox.push_back(arp_from(
        ArpOperation::Reply,
        MAC_B,
        candidate,
        Ipv4Addr::UNSPECIFIED,
    ));
    a.poll(Instant::from_millis(2), &mut da);
    assert_eq!(a.take_address_conflict(InterfaceId::FIRST), Some(MAC_B));
    assert_eq!(a.take_address_conflict(InterfaceId::FIRST), None, "taken");

    // Another station probing for the same address (RFC 5227 §2.1.1).
    let mac_c = EthernetAddress([0x02, 0, 0, 0, 0, 0xc]);
    da.inbox.push_back(arp_from(
        ArpOperation::Request,
        mac_c,
        Ipv4Addr::UNSPECIFIED,
        candidate,
    ));
    a.poll(Instant::from_millis(3), &mut da);
    assert_eq!(a.take_address_conflict(InterfaceId::FIRST), Some(mac_c));
    assert!(da.outbox.is_empty(), "a probed address is not answered for");

    // A new watch forgets a conflict with the old address.
    da.inbox
        .push_back(arp_from(ArpOperation::Request, mac_c, candidate, candidate));
    a.poll(Instant::from_millis(4), &mut da);
    a.watch_address(InterfaceId::FIRST, Some(Ipv4Addr::new(169, 254, 8, 8)))
        .unwrap();
    assert_eq!(a.take_address_conflict(InterfaceId::FIRST), None);
    let arp = &a.stats().arp;
    assert_eq!((arp.watch_conflicts, arp.address_conflicts), (3, 0));
}

#[test]
fn a_watched_configured_address_reports_users_but_answers_probes() {
    let mut rb = Resources::new();
    let mut b = stack_on(&mut rb, MAC_B, IP_B);
    let mut db = driver(MAC_B);
    b.poll(Instant::ZERO, &mut db);
    db.outbox.clear();
    b.watch_address(InterfaceId::FIRST, Some(IP_B)).unwrap();
    // A probe for our address: once it is ours, we answer it (RFC 5227
    // §2.4) and it is no conflict.
    db.inbox.push_back(arp_from(
        ArpOperation::Request,
        MAC_A,
        Ipv4Addr::UNSPECIFIED,
        IP_B,
    ));
    b.poll(Instant::from_millis(1), &mut db);
    assert_eq!(b.take_address_conflict(InterfaceId::FIRST), None);
    assert_eq!(db.outbox.len(), 1);
    let (dst, operation, sender, target) = arp_fields(&db.outbox[0]);
    assert_eq!((dst, operation), (MAC_A, ArpOperation::Reply));
    assert_eq!(sender, (MAC_B, IP_B));
    assert_eq!(target, (MAC_A, Ipv4Addr::UNSPECIFIED));
    db.outbox.clear();

    // Another station announcing our address: a conflict to defend, and
    // still counted as before.
    db.inbox
        .push_back(arp_from(ArpOperation::Request, MAC_A, IP_B, IP_B));
    b.poll(Instant::from_millis(2), &mut db);
    assert_eq!(b.take_address_conflict(InterfaceId::FIRST), Some(MAC_A));
    let arp = &b.stats().arp;
    assert_eq!((arp.watch_conflicts, arp.address_conflicts), (1, 1));
    assert!(db.outbox.is_empty());
}
