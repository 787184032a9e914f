//! Bad input: random and mutated frames fed into a stack never panic, never
//! leak a packet buffer, and each lands on exactly one outcome counter.
//!
//! The outcome of a frame is read from the counters alone ([`classify`]):
//! the driver hands it over (or it is oversized, or no buffer was free);
//! Ethernet refuses it or passes it to ARP or IPv4; IPv4 refuses it or passes
//! it to ICMP, UDP, TCP or "unknown protocol"; and so on down to a socket, a
//! reply or one drop counter. At every level exactly one counter moves by
//! one, and no counter outside the frame's path moves at all, so a frame that
//! is dropped without a counter, or counted twice, fails the test.
//!
//! TCP counts every segment it is handed in `tcp.rx_segments` (RFC 4022's
//! tcpInSegs counts errors too). Below that, exactly one of these moves by
//! one, or none of them:
//! - an entry check refused it: `drop_not_unicast`, `drop_malformed`,
//!   `drop_bad_checksum`; nothing is sent;
//! - no connection wanted it: `tx_resets_no_socket`, and one reset of exactly
//!   the RFC 9293 §3.10.7.1 form goes back (none when no route leads there);
//!   or `drop_backlog_full`, a SYN for a full listener, and nothing is sent;
//! - a connection refused it: `drop_paws`, `drop_out_of_window`,
//!   `tx_challenge_acks`, `challenge_acks_limited`, `tx_resets_bad_ack`; or it
//!   reset the connection: `rx_resets`, and nothing is sent;
//! - none of them: `tcp.processed`, a segment a listener or a connection took
//!   in (or an RST nobody wanted, which RFC 9293 §3.10.7.1 drops silently).
//!
//! What TCP sends moves only `tcp.tx_segments` (with `retransmissions` and
//! `fast_recoveries` where the segment triggered them), and every segment
//! sent is checked: addressed through the neighbour cache, with valid
//! checksums.
//!
//! Besides its UDP port and ping socket, the stack runs a TCP listener and a
//! client connection whose peer the test plays. Before each frame one
//! millisecond passes ([`Harness::tick`]): timers fire, the application
//! accepts and closes connections and re-opens its client connection when it
//! ended; a tick takes no frame and what it sends is checked like a reply.
//! ARP requests the stack sends (for a peer not yet in its cache) are
//! answered at once, so no packet waits for an address and every buffer is
//! back in the pool after each frame.
//!
//! The property test is seeded (the crate's own `Rng`) and bounded; set
//! `DUET_MALFORMED_ITERATIONS` to run longer and `DUET_MALFORMED_SEED` to
//! explore other inputs locally.

mod common;
use common::queue_driver::QueueDriver;
#[path = "malformed_input/frames.rs"]
mod frames;
#[path = "malformed_input/mutate.rs"]
mod mutate;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use common::{counters, delta};
use duet_netstack::rand::Rng;
use duet_netstack::stack::{ListenerHandle, TcpHandle, TcpResources};
use duet_netstack::tcp::TcpState;
use duet_netstack::wire::tcp::{TcpFlags, TcpPacket};
use duet_netstack::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Icmpv4Type, IpProtocol,
    Ipv4Packet,
};
use duet_netstack::{
    Config, EthernetAddress, InterfaceConfig, InterfaceId, Ipv4Cidr, Ipv4Config, SocketHandle,
    Stack, StackResources, Stats,
};
use duet_netstack::{Duration, Instant};
use frames::{
    TcpHeader, arp, arp_frame, corpus, echo, fix_checksums, flag, icmp_frame, network_offset,
    option, pattern, read_ipv4, read_u16, tagged, tcp_frame, transport_offset, udp_frame,
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
const TCP_LISTEN_PORT: u16 = 80;
const TCP_CLOSED_PORT: u16 = 81;
/// Connections a listener holds before it drops SYNs.
const TCP_BACKLOG: u16 = 2;
/// Where the stack's client connection goes.
const PEER_TCP_PORT: u16 = 5000;
/// The peer's initial sequence number, close to the wrap (RFC 9293 §3.4).
const PEER_ISS: u32 = 0xffff_ff80;
/// The peer's timestamp clock at the handshake (RFC 7323 §3).
const PEER_TSVAL: u32 = 1_000_000;
/// The peer's window scale (RFC 7323 §2) and MSS.
const PEER_WINDOW_SHIFT: u8 = 2;
const PEER_MSS: u16 = 1460;
/// Bytes the stack sends on each new client connection: three segments.
const CLIENT_DATA: usize = 3000;
/// Ticks a client connection may spend out of ESTABLISHED before the
/// application gives up on it and opens another.
const PATIENCE: u32 = 50;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Pool buffers of the stack under test: one frame is in flight at a time,
/// so a handful is plenty, and a leak of even one shows at once.
const PACKETS: usize = 8;
type Resources = StackResources<PACKETS, 4, 8>;
type Tcp = TcpResources<8, 32768>;

// ---------------------------------------------------------------------------
// The stack under test and its driver.

/// The stack's client connection, whose peer the test plays: what the
/// peer's segments must carry to be part of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    handle: TcpHandle,
    /// The stack's port.
    pub(crate) port: u16,
    /// The stack's initial sequence number.
    pub(crate) iss: u32,
    /// The TSval of the stack's SYN, which the peer echoes.
    pub(crate) ts_echo: u32,
    /// The stack's data segment size: the peer's MSS less the timestamps.
    pub(crate) mss: u32,
}

/// Counters a tick (time passing, the application acting) may move: it
/// takes no frame, so only what it sends.
const TICK_COUNTERS: [&str; 8] = [
    "ethernet.tx_frames",
    "ipv4.tx_packets",
    "arp.tx_requests",
    "arp.cache_evictions",
    "tcp.tx_segments",
    "tcp.retransmissions",
    "tcp.timeouts",
    "tcp.tx_resets_abort",
];

/// One stack with an open UDP port, a ping socket, a learned neighbour, a
/// TCP listener and a TCP client connection.
struct Harness<'a> {
    stack: Stack<'a>,
    driver: QueueDriver,
    udp: SocketHandle,
    ping: SocketHandle,
    listener: ListenerHandle,
    /// The client connection, once its handshake completed.
    connection: Option<Connection>,
    /// Counts client connections opened: the TCP seeds change with it.
    generation: u64,
    /// 0 right after the client's handshake (its data is not yet queued),
    /// then 1 + the ticks it has spent out of ESTABLISHED since.
    unestablished: u32,
    now: Instant,
}

impl<'a> Harness<'a> {
    fn new(resources: &'a mut Resources, tcp: &'a mut Tcp) -> Self {
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
        stack.enable_tcp(tcp);
        let udp = stack.add_udp_socket().expect("socket slot");
        stack.udp(udp).bind(OPEN_PORT).expect("port 7 is free");
        let ping = stack.add_icmp_socket().expect("socket slot");
        stack.icmp(ping).bind(PING_IDENT).expect("ident is free");
        let listener = stack
            .tcp_listen(TCP_LISTEN_PORT, TCP_BACKLOG, 1024, 1024)
            .expect("port 80 is free");
        let mut harness = Harness {
            stack,
            driver: QueueDriver::new(OUR_MAC),
            udp,
            ping,
            listener,
            connection: None,
            generation: 0,
            unestablished: 0,
            now: Instant::from_secs(1),
        };
        // Link up: the gratuitous ARP goes out first.
        harness.stack.poll(harness.now, &mut harness.driver);
        assert_eq!(harness.stack.stats().arp.tx_announcements, 1);
        harness.driver.outbox.clear();
        // A neighbour in the cache, so ARP input updates as well as creates.
        // (The tick before it opens the client connection.)
        let request = arp_frame(BROADCAST_MAC, &arp(1, PEER_MAC, PEER_IP, [0; 6], OUR_IP));
        assert_eq!(harness.feed(&request), "arp.tx_replies");
        assert_eq!(
            harness.stack.neighbor(InterfaceId::FIRST, PEER_IP),
            Some(EthernetAddress(PEER_MAC))
        );
        assert!(harness.connection.is_some());
        // The client's data goes out with the next tick.
        harness.tick();
        harness
    }

    /// The seeds for the client connection as it is now.
    fn corpus(&self) -> Vec<frames::Seed> {
        corpus(&self.connection.expect("a client connection"))
    }

    /// Lets a tick pass, then feeds one frame, polls, drains the sockets
    /// and checks every invariant; returns the frame's outcome. On a panic
    /// the frame is printed so the case can be replayed.
    fn feed(&mut self, frame: &[u8]) -> &'static str {
        match catch_unwind(AssertUnwindSafe(|| {
            self.tick();
            self.feed_now(frame)
        })) {
            Ok(outcome) => outcome,
            Err(panic) => {
                eprintln!("frame ({} bytes): {}", frame.len(), hex(frame));
                resume_unwind(panic)
            }
        }
    }

    /// Feeds one frame at the current time, with the ARP answers its
    /// replies need, and checks what was sent and the pool.
    fn feed_now(&mut self, frame: &[u8]) -> &'static str {
        let before = self.stack.stats().clone();
        let (outcome, mut sent) = self.deliver(frame);
        let released = self.answer_arp(&sent);
        sent.extend(released);
        let gained = delta(self.stack.stats(), &before);
        self.check_sent(&gained, &sent, Some((frame, outcome)));
        assert_eq!(
            self.stack.pool_usage().0,
            PACKETS,
            "every buffer is back in the pool"
        );
        outcome
    }

    /// Hands `frame` to the stack, drains the sockets and classifies the
    /// frame by the counters that moved; returns its outcome and what the
    /// stack sent.
    fn deliver(&mut self, frame: &[u8]) -> (&'static str, Vec<Vec<u8>>) {
        let before = self.stack.stats().clone();
        self.driver.inbox.push_back(frame.to_vec());
        self.stack.poll(self.now, &mut self.driver);
        assert!(self.driver.inbox.is_empty(), "the stack took the frame");

        let udp_delivered = self.drain_udp(frame);
        let echo_delivered = self.drain_ping(frame);
        let gained = delta(self.stack.stats(), &before);
        let outcome = classify(&gained, udp_delivered, echo_delivered)
            .unwrap_or_else(|error| panic!("{error}\ncounters moved: {:?}", moved(&gained)));
        (outcome, std::mem::take(&mut self.driver.outbox))
    }

    /// Answers each ARP request in `sent` as the station asked for would
    /// (the peer with its own MAC, any other address with one made from
    /// it); returns what the stack sent then: the packets that waited.
    fn answer_arp(&mut self, sent: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut released = Vec::new();
        let mut requests: Vec<Ipv4Addr> = sent.iter().filter_map(|f| arp_request_for(f)).collect();
        while let Some(target) = requests.pop() {
            let [a, b, c, d] = target.octets();
            let mac = if target == PEER_IP {
                PEER_MAC
            } else {
                [0x02, 0x01, a, b, c, d]
            };
            let answer = arp_frame(OUR_MAC, &arp(2, mac, target, OUR_MAC, OUR_IP));
            let (outcome, out) = self.deliver(&answer);
            assert_eq!(outcome, "arp.processed", "the answer for {target}");
            requests.extend(out.iter().filter_map(|f| arp_request_for(f)));
            released.extend(out);
        }
        released
    }

    /// One millisecond passes: the application does its part, timers fire,
    /// and what the stack sends is checked. The client connection is
    /// (re)opened here, its handshake completed by the peer at once.
    fn tick(&mut self) {
        self.now += Duration::from_millis(1);
        let before = self.stack.stats().clone();
        let connecting = self.run_application();
        self.stack.poll(self.now, &mut self.driver);
        let mut sent = std::mem::take(&mut self.driver.outbox);
        let gained = delta(self.stack.stats(), &before);
        let stray: Vec<_> = moved(&gained)
            .into_iter()
            .filter(|(counter, _)| !TICK_COUNTERS.contains(counter))
            .collect();
        assert!(stray.is_empty(), "a tick moved {stray:?}");
        let released = self.answer_arp(&sent);
        sent.extend(released);
        if let Some(handle) = connecting {
            let answered = self.complete_handshake(handle, &sent);
            sent.extend(answered);
        }
        let gained = delta(self.stack.stats(), &before);
        self.check_sent(&gained, &sent, None);
        assert_eq!(
            self.stack.pool_usage().0,
            PACKETS,
            "every buffer is back in the pool after a tick"
        );
    }

    /// The application: takes and closes what the listener accepted, reads
    /// the client connection, and opens a new one when it has ended (or
    /// hangs out of ESTABLISHED). Returns a connection just opened.
    fn run_application(&mut self) -> Option<TcpHandle> {
        while let Some(accepted) = self.stack.tcp_accept(self.listener) {
            self.stack
                .remove_tcp_socket(accepted)
                .expect("an accepted socket");
        }
        if let Some(connection) = self.connection {
            let mut tcp = self.stack.tcp(connection.handle);
            let mut buffer = [0u8; 4096];
            while matches!(tcp.recv_slice(&mut buffer), Ok(n) if n > 0) {}
            let state = tcp.state();
            if state == TcpState::Established {
                if self.unestablished == 0 {
                    // Once, the tick after the handshake.
                    let queued = tcp
                        .send_slice(&pattern(CLIENT_DATA, 0x33))
                        .expect("room to send");
                    assert_eq!(queued, CLIENT_DATA);
                }
                self.unestablished = 1;
                return None;
            }
            self.unestablished = self.unestablished.max(1) + 1;
            if state != TcpState::Closed && self.unestablished < PATIENCE {
                return None;
            }
            self.stack
                .remove_tcp_socket(connection.handle)
                .expect("the client socket");
            self.connection = None;
        }
        let handle = self
            .stack
            .add_tcp_socket(4096, 4096)
            .expect("room for the client socket");
        self.stack
            .tcp(handle)
            .connect((PEER_IP, PEER_TCP_PORT), 0)
            .expect("connect");
        Some(handle)
    }

    /// Plays the peer's part of a handshake the stack started: finds its SYN
    /// in `sent`, answers SYN-ACK, and queues the client's data. Returns
    /// what the stack sent in answer (its ACK).
    fn complete_handshake(&mut self, handle: TcpHandle, sent: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let port = self
            .stack
            .tcp(handle)
            .local_endpoint()
            .expect("an open socket")
            .port;
        let syn = sent
            .iter()
            .filter_map(|frame| tcp_segment_of(frame))
            .find(|s| s.dst_port == PEER_TCP_PORT && s.src_port == port)
            .expect("the client's SYN");
        assert_eq!(syn.flags, TcpFlags::SYN);
        let (ts_echo, _) = syn.timestamp.expect("the SYN offers timestamps");
        let syn_ack = TcpHeader {
            src_port: PEER_TCP_PORT,
            dst_port: port,
            seq: PEER_ISS,
            ack: syn.seq.wrapping_add(1),
            flags: flag::SYN | flag::ACK,
            window: 65535,
        };
        let options = [
            option::mss(PEER_MSS),
            option::sack_permitted(),
            option::timestamps(PEER_TSVAL, ts_echo),
            option::window_scale(PEER_WINDOW_SHIFT),
        ]
        .concat();
        let (outcome, answer) = self.deliver(&tcp_frame(syn_ack, &options, &[]));
        assert_eq!(outcome, "tcp.processed");
        assert_eq!(self.stack.tcp(handle).state(), TcpState::Established);
        self.connection = Some(Connection {
            handle,
            port,
            iss: syn.seq,
            ts_echo,
            mss: u32::from(PEER_MSS) - 12,
        });
        self.generation += 1;
        self.unestablished = 0;
        answer
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

    /// What the stack sent while `d` was gained: exactly the frames its
    /// counters claim, each well formed and addressed to the station it
    /// answers. `frame` is the frame answered, with its outcome (none for
    /// a tick).
    fn check_sent(&mut self, d: &Stats, sent: &[Vec<u8>], frame: Option<(&[u8], &str)>) {
        let icmp = &d.icmp;
        let arp_replies = sent.iter().filter(|f| arp_operation(f) == Some(2)).count();
        let arp_requests = sent.iter().filter(|f| arp_request_for(f).is_some()).count();
        let tcp_segments = sent.iter().filter(|f| tcp_segment_of(f).is_some()).count();
        assert_eq!(
            sent.len() as u32,
            d.ethernet.tx_frames,
            "every frame counted"
        );
        assert_eq!(arp_replies as u32, d.arp.tx_replies);
        assert_eq!(arp_requests as u32, d.arp.tx_requests);
        assert_eq!(tcp_segments as u32, d.tcp.tx_segments);
        assert_eq!(
            icmp.tx_messages,
            icmp.tx_echo_replies + icmp.tx_dest_unreachable
        );
        assert_eq!(d.ipv4.tx_packets, icmp.tx_messages + d.tcp.tx_segments);
        assert_eq!(
            sent.len(),
            arp_replies + arp_requests + tcp_segments + icmp.tx_messages as usize,
            "nothing else was sent"
        );
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
                    let arp = ArpPacket::new_checked(eth.payload()).expect("a valid ARP packet");
                    assert_eq!(
                        (arp.sender_hardware_addr(), arp.sender_protocol_addr()),
                        (EthernetAddress(OUR_MAC), OUR_IP)
                    );
                    if arp.operation() == ArpOperation::Reply {
                        // To the station the request names as its sender.
                        assert!(frame.is_some(), "an ARP reply answers a frame");
                        assert_eq!(eth.dst_addr(), arp.target_hardware_addr());
                    } else {
                        // A request for a station on our subnet.
                        assert_eq!(arp.operation(), ArpOperation::Request);
                        let target = arp.target_protocol_addr();
                        assert_eq!(target.octets()[..3], OUR_IP.octets()[..3]);
                    }
                }
                EtherType::Ipv4 => {
                    let ip = Ipv4Packet::new_checked(eth.payload()).expect("a valid IPv4 header");
                    assert!(ip.verify_checksum(), "IPv4 checksum of {}", hex(reply));
                    assert_eq!(ip.src_addr(), OUR_IP);
                    if ip.protocol() == IpProtocol::Tcp {
                        // Through the neighbour cache, to what it holds.
                        let neighbor = self.stack.neighbor(InterfaceId::FIRST, ip.dst_addr());
                        assert_eq!(Some(eth.dst_addr()), neighbor, "{}", hex(reply));
                        let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
                        let segment = TcpPacket::new_checked(ip.payload()).expect("a TCP header");
                        assert!(segment.verify_checksum(&src, &dst), "{}", hex(reply));
                        segment.segment_options().expect("well-formed TCP options");
                        continue;
                    }
                    // ICMP: to the station the datagram came from, at its address.
                    let (frame, _) = frame.expect("ICMP answers a frame");
                    assert_eq!(eth.dst_addr().0, frame[6..12]);
                    assert_eq!(ip.protocol(), IpProtocol::Icmp);
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
        let Some((frame, outcome)) = frame else {
            return;
        };
        match outcome {
            "tcp.tx_resets_no_socket" | "tcp.tx_resets_bad_ack" if d.ipv4.tx_no_route == 0 => {
                check_reset(frame, sent);
            }
            "tcp.tx_resets_no_socket" | "tcp.tx_resets_bad_ack" => {
                assert_eq!(d.tcp.tx_segments, 0);
            }
            "tcp.drop_not_unicast"
            | "tcp.drop_malformed"
            | "tcp.drop_bad_checksum"
            | "tcp.drop_backlog_full"
            | "tcp.rx_resets" => {
                assert_eq!(d.tcp.tx_segments, 0, "{outcome}: nothing is sent");
            }
            _ => {}
        }
    }
}

/// A TCP segment as the test reads it back.
#[derive(Debug, Clone, Copy)]
struct SentSegment {
    dst: Ipv4Addr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    header_len: usize,
    payload_len: usize,
    timestamp: Option<(u32, u32)>,
}

/// The TCP segment in a frame the stack sent, if it is one.
fn tcp_segment_of(frame: &[u8]) -> Option<SentSegment> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.protocol() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    Some(SentSegment {
        dst: ip.dst_addr(),
        src_port: tcp.src_port(),
        dst_port: tcp.dst_port(),
        seq: tcp.seq_number().0,
        ack: tcp.ack_number().0,
        flags: tcp.flags(),
        window: tcp.window_len(),
        header_len: tcp.header_len(),
        payload_len: tcp.payload().len(),
        timestamp: tcp.segment_options().ok()?.timestamp,
    })
}

/// The ARP operation of a frame, if it is ARP.
fn arp_operation(frame: &[u8]) -> Option<u16> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Arp {
        return None;
    }
    let arp = ArpPacket::new_checked(eth.payload()).ok()?;
    Some(match arp.operation() {
        ArpOperation::Request => 1,
        ArpOperation::Reply => 2,
        _ => 0,
    })
}

/// The address an ARP request the stack sent asks for.
fn arp_request_for(frame: &[u8]) -> Option<Ipv4Addr> {
    if arp_operation(frame) != Some(1) {
        return None;
    }
    let eth = EthernetFrame::new_checked(frame).ok()?;
    Some(
        ArpPacket::new_checked(eth.payload())
            .ok()?
            .target_protocol_addr(),
    )
}

/// The reset for a segment no connection wanted (RFC 9293 §3.10.7.1), or
/// with an unacceptable ACK in SYN-SENT or SYN-RECEIVED (§3.10.7.3/4): to
/// its sender, `<SEQ=SEG.ACK><CTL=RST>` if it had an ACK, else
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`; no window, options or data.
fn check_reset(frame: &[u8], sent: &[Vec<u8>]) {
    let network = network_offset(frame);
    let transport = transport_offset(frame).expect("a TCP frame");
    let src = read_ipv4(frame, network + 12).expect("source address");
    let total = usize::from(read_u16(frame, network + 2).expect("total length"));
    let segment = &frame[transport..network + total];
    let seq = u32::from_be_bytes(segment[4..8].try_into().expect("4 bytes"));
    let ack = u32::from_be_bytes(segment[8..12].try_into().expect("4 bytes"));
    let header_len = usize::from(segment[12] >> 4) * 4;
    let flags = segment[13];
    let seg_len = (segment.len() - header_len) as u32
        + u32::from(flags & flag::SYN != 0)
        + u32::from(flags & flag::FIN != 0);
    let resets: Vec<_> = sent.iter().filter_map(|f| tcp_segment_of(f)).collect();
    let [reset] = resets.as_slice() else {
        panic!("one reset, not {resets:?}");
    };
    assert_eq!(reset.dst, src);
    assert_eq!(
        (reset.src_port, reset.dst_port),
        (read_u16(segment, 2).unwrap(), read_u16(segment, 0).unwrap())
    );
    let expected = if flags & flag::ACK != 0 {
        (ack, 0, TcpFlags::RST)
    } else {
        (0, seq.wrapping_add(seg_len), TcpFlags::RST | TcpFlags::ACK)
    };
    assert_eq!((reset.seq, reset.ack, reset.flags), expected);
    assert_eq!(
        (reset.window, reset.header_len, reset.payload_len),
        (0, 20, 0)
    );
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
/// level; at each level exactly one counter must have moved, by one. Three
/// outcomes have no counter of their own and are measured instead:
/// `icmp.delivered` (an echo reply queued on the ping socket, read back
/// from it), `arp.processed` (an ARP packet learned from or ignored as
/// not for us: counted in `arp.rx_packets` and nothing else) and
/// `tcp.processed` (a segment counted in `tcp.rx_segments` and in none of
/// TCP's verdicts).
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
    let (e, arp, ip, icmp, udp, tcp) = (&d.ethernet, &d.arp, &d.ipv4, &d.icmp, &d.udp, &d.tcp);
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
        ("tcp.rx_segments", tcp.rx_segments),
    ];
    // The TCP outcomes (the module documentation says what each implies);
    // none of them is `tcp.processed`.
    let tcp_outcomes = [
        ("tcp.drop_not_unicast", tcp.drop_not_unicast),
        ("tcp.drop_malformed", tcp.drop_malformed),
        ("tcp.drop_bad_checksum", tcp.drop_bad_checksum),
        ("tcp.tx_resets_no_socket", tcp.tx_resets_no_socket),
        ("tcp.drop_backlog_full", tcp.drop_backlog_full),
        ("tcp.drop_paws", tcp.drop_paws),
        ("tcp.drop_out_of_window", tcp.drop_out_of_window),
        ("tcp.rx_resets", tcp.rx_resets),
        ("tcp.rx_resets_refused", tcp.rx_resets_refused),
        ("tcp.tx_challenge_acks", tcp.tx_challenge_acks),
        ("tcp.challenge_acks_limited", tcp.challenge_acks_limited),
        ("tcp.tx_resets_bad_ack", tcp.tx_resets_bad_ack),
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
    if name == "tcp.rx_segments" {
        name = one("tcp", &tcp_outcomes, false)?.unwrap_or("tcp.processed");
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

    // Counters the reply to a frame may move, checked in `Harness::check_sent`.
    let replies = [
        "ethernet.tx_frames",
        "ipv4.tx_packets",
        "icmp.tx_messages",
        "icmp.tx_dest_unreachable",
        "icmp.tx_rate_limited",
        // Learning a sender may push another neighbour out of the cache.
        "arp.cache_evictions",
    ];
    // What TCP may send in answer to a segment: segments, among them
    // retransmissions (a fast retransmit), an ARP request for a peer not in
    // the cache, or nothing for lack of a route.
    let tcp_replies = [
        "tcp.tx_segments",
        "tcp.retransmissions",
        "tcp.fast_recoveries",
        "tcp.sack_recoveries",
        "arp.tx_requests",
        "ipv4.tx_no_route",
    ];
    // Counters that say why an outcome came about, and the outcomes they
    // may move with: a RST in the window but not at RCV.NXT is challenged
    // (or the challenge withheld by the rate limit); one outside it is
    // dropped as out of window.
    let reasons = [
        ("tcp.rx_resets_challenged", "tcp.tx_challenge_acks"),
        ("tcp.rx_resets_challenged", "tcp.challenge_acks_limited"),
        ("tcp.rx_resets_out_of_window", "tcp.drop_out_of_window"),
    ];
    let to_tcp = path.contains(&"tcp.rx_segments");
    let stray: Vec<_> = moved(d)
        .into_iter()
        .filter(|(counter, _)| {
            !(path.contains(counter)
                || replies.contains(counter)
                || to_tcp && tcp_replies.contains(counter)
                || reasons
                    .iter()
                    .any(|(reason, outcome)| reason == counter && path.contains(outcome)))
        })
        .collect();
    if !stray.is_empty() {
        return Err(format!("outcome {name}, but also {stray:?}"));
    }
    Ok(name)
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn every_seed_frame_has_its_expected_outcome() {
    let (mut resources, mut tcp) = (Resources::new(), Tcp::new());
    let mut harness = Harness::new(&mut resources, &mut tcp);
    for seed in harness.corpus() {
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
    let segment = |dst_port: u16, flags: u8| TcpHeader {
        src_port: 41_000,
        dst_port,
        seq: 1000,
        ack: 2000,
        flags,
        window: 512,
    };
    let tcp_data = tcp_frame(segment(TCP_CLOSED_PORT, flag::ACK), &[], &pattern(30, 2));
    let tcp_syn = tcp_frame(segment(TCP_LISTEN_PORT, flag::SYN), &[], &[]);
    // Writes `bytes` at `at`: offsets are those of an untagged frame, whose
    // IPv4 header starts at 14, UDP, TCP or ICMP at 34, and ARP at 14.
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
        ("tcp.drop_malformed", vec![
            ("TCP data offset 4", resigned(&tcp_data, set(46, &[0x40]))),
            ("TCP data offset past the segment", resigned(&tcp_syn, set(46, &[0x60]))),
            ("TCP header cut by the total length", resigned(&tcp_syn, set(16, &[0, 39]))),
            ("TCP option of length 0",
                tcp_frame(segment(TCP_LISTEN_PORT, flag::SYN), &[30, 0, 1, 1], &[])),
            ("TCP option past the header",
                tcp_frame(segment(TCP_LISTEN_PORT, flag::SYN), &[1, 1, 2, 4], &[])),
            ("TCP timestamps of length 8",
                tcp_frame(segment(TCP_CLOSED_PORT, flag::ACK), &[8, 8, 0, 0, 0, 0, 0, 0], &[])),
            ("TCP from port 0", resigned(&tcp_syn, set(34, &[0, 0]))),
            ("TCP to port 0", resigned(&tcp_data, set(36, &[0, 0]))),
            ("TCP SACK of a block and a half",
                tcp_frame(segment(TCP_CLOSED_PORT, flag::ACK), &[5, 14, 0, 0, 0, 1, 0, 0, 0, 2,
                    0, 0, 0, 3], &[])),
        ]),
        ("tcp.drop_bad_checksum", vec![
            ("TCP checksum wrong", edited(&tcp_data, |f| f[50] ^= 1)),
            ("TCP data changed", edited(&tcp_data, |f| f[60] ^= 0x10)),
            ("TCP checksum zero", edited(&tcp_syn, set(50, &[0, 0]))),
        ]),
        ("tcp.drop_not_unicast", vec![
            ("TCP SYN to the subnet broadcast", resigned(&tcp_syn, |f| {
                f[..6].copy_from_slice(&BROADCAST_MAC);
                f[30..34].copy_from_slice(&SUBNET_BROADCAST.octets());
            })),
            ("TCP SYN to all hosts", resigned(&tcp_syn, |f| {
                f[..6].copy_from_slice(&ALL_HOSTS_MAC);
                f[30..34].copy_from_slice(&ALL_HOSTS.octets());
            })),
        ]),
        ("tcp.tx_resets_no_socket", vec![
            ("TCP data to a closed port", tcp_data.clone()),
            ("TCP SYN-ACK to the listening port",
                tcp_frame(segment(TCP_LISTEN_PORT, flag::SYN | flag::ACK), &[], &[])),
            ("TCP ACK to the listening port",
                tcp_frame(segment(TCP_LISTEN_PORT, flag::ACK), &[], &[])),
            ("TCP SYN+FIN with data to a closed port",
                tcp_frame(segment(TCP_CLOSED_PORT, flag::SYN | flag::FIN), &[], b"xyz")),
            ("TCP segment with no flags to a closed port",
                tcp_frame(segment(TCP_CLOSED_PORT, 0), &[], &[])),
        ]),
        ("tcp.processed", vec![
            ("TCP RST to the listening port", tcp_frame(segment(TCP_LISTEN_PORT, flag::RST),
                &[], &[])),
            ("TCP RST+ACK to a closed port", tcp_frame(segment(TCP_CLOSED_PORT,
                flag::RST | flag::ACK), &[], &[])),
        ]),
    ];
    let (mut resources, mut tcp) = (Resources::new(), Tcp::new());
    let mut harness = Harness::new(&mut resources, &mut tcp);
    for (outcome, frames) in cases {
        for (name, frame) in frames {
            assert_eq!(harness.feed(&frame), outcome, "{name}");
        }
    }
    // A full socket queue, made full by a limit of zero.
    harness.stack.udp(harness.udp).set_recv_queue_limit(0);
    assert_eq!(harness.feed(&udp_in), "udp.drop_queue_full");
    assert_eq!(harness.stack.udp(harness.udp).stats().rx_dropped, 1);
    // A listener with a backlog of two takes two SYNs and drops the third.
    for (port, outcome) in [
        (42_000, "tcp.processed"),
        (42_001, "tcp.processed"),
        (42_002, "tcp.drop_backlog_full"),
    ] {
        let syn = TcpHeader {
            src_port: port,
            ..segment(TCP_LISTEN_PORT, flag::SYN)
        };
        assert_eq!(harness.feed(&tcp_frame(syn, &[], &[])), outcome, "{port}");
    }
    // RSTs inside the window earn challenge ACKs (RFC 5961 §3.2) until the
    // stack-wide limit holds them back (§7): 100 a second by default.
    let rst = harness
        .corpus()
        .into_iter()
        .find(|seed| seed.name == "TCP RST inside the window")
        .expect("the seed");
    let mut answered = 0;
    loop {
        match harness.feed(&rst.frame) {
            "tcp.tx_challenge_acks" => answered += 1,
            outcome => {
                assert_eq!(outcome, "tcp.challenge_acks_limited");
                break;
            }
        }
        assert!(answered <= 120, "the limit never held");
    }
    assert!(
        answered >= 100,
        "{answered} challenge ACKs before the limit"
    );
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
    let mut driver = QueueDriver::new(OUR_MAC);
    let mut now = Instant::from_secs(1);
    let mut feed = |stack: &mut Stack, frame: Vec<u8>| {
        now += Duration::from_millis(1);
        driver.inbox.push_back(frame);
        stack.poll(now, &mut driver);
        driver.outbox.clear();
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
    let (mut resources, mut tcp) = (Resources::new(), Tcp::new());
    let mut harness = Harness::new(&mut resources, &mut tcp);
    let mut corpus = harness.corpus();
    let mut generation = harness.generation;
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
        // The TCP seeds follow the client connection.
        if harness.generation != generation {
            corpus = harness.corpus();
            generation = harness.generation;
        }
        let mutation = MUTATIONS[rng.below(MUTATIONS.len() as u32) as usize];
        let frame = mutate(&mut rng, &corpus, mutation);
        *outcomes.entry(harness.feed(&frame)).or_default() += 1;
        *by_mutation.entry(mutation).or_default() += 1;
        frames += 1;
    }
    println!("{frames} frames; by mutation {by_mutation:?}");
    println!("{} TCP client connections", harness.generation);
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
        "tcp.drop_not_unicast",
        "tcp.drop_malformed",
        "tcp.drop_bad_checksum",
        "tcp.tx_resets_no_socket",
        "tcp.drop_backlog_full",
        "tcp.drop_paws",
        "tcp.drop_out_of_window",
        "tcp.rx_resets",
        "tcp.tx_challenge_acks",
        "tcp.tx_resets_bad_ack",
        "tcp.processed",
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
