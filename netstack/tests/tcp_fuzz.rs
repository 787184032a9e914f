//! Bounded TCP fuzzing: sockets in every state of RFC 9293 §3.3.2 take
//! hundreds of thousands of random and mutated segments aimed at their
//! 4-tuples, and the stack never panics, never leaks a packet buffer, and
//! keeps every connection's state consistent.
//!
//! Each round builds, with a peer the test plays by hand, a listener and
//! one connection in each of SYN-SENT, SYN-RECEIVED, ESTABLISHED (twice:
//! with data in flight both ways and data held out of order), FIN-WAIT-1,
//! FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK and TIME-WAIT, then fires
//! segments at them: random control bits, sequence and acknowledgment
//! numbers at, near and far from what the stack last said, random windows,
//! payloads, valid and malformed options, SACK blocks and timestamps, now and
//! then a bad checksum or a wrong port. Between segments time moves on by
//! random steps and the application acts (sends, reads, closes, aborts,
//! changes options). After every segment the stack's own consistency checks
//! run ([`Stack::check_tcp_invariants`]: SND.UNA =< SND.NXT =< SND.MAX, rings
//! within capacity, data in flight held in the send ring, reassembly and
//! SACK ranges inside the windows, a timer for everything outstanding) and
//! every pool buffer must be back.
//!
//! Every byte on either side is a function of its sequence number (the
//! peer's of its own, the application's of its stream offset), so the data
//! needs no bookkeeping to be checked: each byte the application reads must
//! be the peer's byte for that place in the stream, and each byte the stack
//! sends (new, retransmitted or a window probe) the application's byte for
//! that sequence number. A byte reassembled in the wrong place, resent from
//! the wrong ring offset or read twice shows at once.
//!
//! The run must have fired segments at every state built: at the listener
//! itself (LISTEN), at the connection built in SYN-RECEIVED while the
//! listener's backlog still held a half-open connection (seen through
//! `Stack::tcp_backlog`, as such a connection has no handle yet), and at
//! each other connection while it was still in the state it was built in.
//!
//! Seeded with the crate's own `Rng`; `DUET_TCP_FUZZ_SEGMENTS` and
//! `DUET_TCP_FUZZ_SEED` run longer or elsewhere.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

mod common;
use common::queue_driver::QueueDriver;

use duet_netstack::rand::Rng;
use duet_netstack::stack::{ListenerHandle, TcpHandle, TcpResources};
use duet_netstack::stats::TcpStats;
use duet_netstack::tcp::congestion::Algorithm;
use duet_netstack::tcp::{TcpConfig, TcpState};
use duet_netstack::wire::tcp::{MAX_OPTIONS_LEN, OptionWriter};
use duet_netstack::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetFrame, IpProtocol, Ipv4Packet, SeqNumber, TcpFlags,
    TcpPacket,
};
use duet_netstack::{
    Config, Duration, EthernetAddress, Instant, InterfaceConfig, Ipv4Cidr, Ipv4Config, Stack,
    StackResources,
};

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const LISTEN_PORT: u16 = 80;
const BACKLOG: u16 = 3;
const RX_RING: usize = 2048;
const TX_RING: usize = 4096;

const PACKETS: usize = 32;
type Resources = StackResources<PACKETS, 4, 8>;
type Tcp = TcpResources<16, { 16 * (RX_RING + TX_RING) }>;

/// Segments per round; each round builds every state afresh (a random
/// RST at RCV.NXT or an abort ends a connection every few hundred).
const ROUND: usize = 400;
/// The most segments one poll may send (the fuzz sees up to about 15).
const MAX_BURST: usize = 48;
/// Segments fired when `DUET_TCP_FUZZ_SEGMENTS` is unset.
const DEFAULT_SEGMENTS: usize = 300_000;

// ---------------------------------------------------------------------------
// Segments, both ways.

/// A segment from the peer.
#[derive(Clone)]
struct Segment {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    /// Option bytes, any content, at most 40 (padded to a multiple of 4).
    options: Vec<u8>,
    payload: Vec<u8>,
    bad_checksum: bool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}->{} seq={} ack={} {:?} wnd={} options={:02x?} len={}{}",
            self.src_port,
            self.dst_port,
            self.seq,
            self.ack,
            self.flags,
            self.window,
            self.options,
            self.payload.len(),
            if self.bad_checksum {
                " bad checksum"
            } else {
                ""
            }
        )
    }
}

impl Segment {
    fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: TcpFlags) -> Self {
        Segment {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window: 65535,
            options: Vec::new(),
            payload: Vec::new(),
            bad_checksum: false,
        }
    }

    fn frame(&self) -> Vec<u8> {
        let mut options = self.options.clone();
        options.truncate(MAX_OPTIONS_LEN);
        while options.len() % 4 != 0 {
            options.push(0);
        }
        let tcp_len = 20 + options.len() + self.payload.len();
        let mut frame = vec![0u8; 34 + tcp_len];
        EthernetFrame::new_unchecked(&mut frame[..]).write_header(
            OUR_MAC,
            PEER_MAC,
            EtherType::Ipv4,
        );
        Ipv4Packet::new_unchecked(&mut frame[14..]).write_header(
            PEER_IP,
            OUR_IP,
            IpProtocol::Tcp,
            64,
            tcp_len as u16,
            7,
        );
        let mut tcp = TcpPacket::new_unchecked(&mut frame[34..]);
        tcp.write_header(
            self.src_port,
            self.dst_port,
            SeqNumber(self.seq),
            SeqNumber(self.ack),
            self.flags,
            self.window,
            options.len(),
        );
        tcp.options_mut().copy_from_slice(&options);
        tcp.payload_mut().copy_from_slice(&self.payload);
        tcp.fill_checksum(&IpAddr::V4(PEER_IP), &IpAddr::V4(OUR_IP));
        if self.bad_checksum {
            let checksum = tcp.checksum();
            tcp.set_checksum(checksum ^ 0x0100);
        }
        frame
    }
}

/// A segment the stack sent.
#[derive(Debug, Clone)]
struct Sent {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    len: u32,
    tsval: Option<u32>,
    payload: Vec<u8>,
}

/// The peer's byte at sequence number `seq`, whatever segment carries it.
fn peer_byte(seq: u32) -> u8 {
    (seq.wrapping_mul(2_654_435_761) >> 24) as u8
}

/// The application's byte at offset `offset` of its stream.
fn app_byte(offset: u64) -> u8 {
    (offset.wrapping_mul(7) ^ (offset >> 8)) as u8
}

impl Sent {
    /// Reads a frame the stack sent: every TCP segment must be well formed.
    fn read(frame: &[u8]) -> Option<Sent> {
        let eth = EthernetFrame::new_checked(frame).expect("a whole Ethernet header");
        if eth.ethertype() != EtherType::Ipv4 {
            return None;
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).expect("valid IPv4");
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), (OUR_IP, PEER_IP));
        assert_eq!(ip.protocol(), IpProtocol::Tcp);
        let tcp = TcpPacket::new_checked(ip.payload()).expect("valid TCP");
        assert!(tcp.verify_checksum(&IpAddr::V4(OUR_IP), &IpAddr::V4(PEER_IP)));
        let options = tcp.segment_options().expect("valid options");
        assert!(tcp.payload().len() <= 1460);
        Some(Sent {
            src_port: tcp.src_port(),
            dst_port: tcp.dst_port(),
            seq: tcp.seq_number().0,
            ack: tcp.ack_number().0,
            flags: tcp.flags(),
            len: tcp.segment_len(),
            tsval: options.timestamp.map(|(tsval, _)| tsval),
            payload: tcp.payload().to_vec(),
        })
    }
}

/// The peer's answer to an ARP request for its address.
fn arp_reply_to(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let arp = ArpPacket::new_checked(eth.payload()).ok()?;
    if arp.operation() != ArpOperation::Request || arp.target_protocol_addr() != PEER_IP {
        return None;
    }
    let mut reply = vec![0u8; 60];
    EthernetFrame::new_unchecked(&mut reply[..]).write_header(OUR_MAC, PEER_MAC, EtherType::Arp);
    ArpPacket::new_unchecked(&mut reply[14..]).write_packet(
        ArpOperation::Reply,
        PEER_MAC,
        PEER_IP,
        OUR_MAC,
        OUR_IP,
    );
    Some(reply)
}

// ---------------------------------------------------------------------------
// Connections as the peer sees them.

/// Options the peer offers in its SYN or SYN-ACK.
#[derive(Debug, Clone, Copy)]
struct Offer {
    timestamps: bool,
    sack: bool,
    window_scale: Option<u8>,
    mss: u16,
}

impl Offer {
    fn random(rng: &mut Rng) -> Self {
        Offer {
            timestamps: rng.chance(700_000),
            sack: rng.chance(700_000),
            window_scale: rng.chance(600_000).then(|| rng.below(15) as u8),
            mss: [536, 1000, 1460][rng.below(3) as usize],
        }
    }

    fn options(&self, tsval: u32, tsecr: u32) -> Vec<u8> {
        let mut buffer = [0u8; MAX_OPTIONS_LEN];
        let mut writer = OptionWriter::new(&mut buffer);
        writer.mss(self.mss);
        if self.sack {
            writer.sack_permitted();
        }
        if self.timestamps {
            writer.timestamp(tsval, tsecr);
        }
        if let Some(shift) = self.window_scale {
            writer.window_scale(shift);
        }
        let len = writer.finish();
        buffer[..len].to_vec()
    }
}

/// One connection of the stack, from the peer's side: what the stack last
/// said, as anchors for the next segment.
#[derive(Debug, Clone)]
struct Link {
    /// The state it was built in.
    built: TcpState,
    /// The application's handle; none while a listener holds it.
    handle: Option<TcpHandle>,
    local_port: u16,
    peer_port: u16,
    /// The stack's highest SEG.SEQ + SEG.LEN (its SND.MAX).
    stack_max: u32,
    /// The lowest of the stack's sequence numbers the peer has not
    /// acknowledged (the peer's idea of SND.UNA).
    stack_una: u32,
    /// The stack's last ACK: its RCV.NXT, where the peer's data goes.
    peer_nxt: u32,
    /// The peer's timestamp clock and the stack's last TSval.
    ts: u32,
    ts_echo: u32,
    timestamps: bool,
    /// The stack's initial sequence number, from its SYN or SYN-ACK.
    iss: Option<u32>,
    /// The peer's initial sequence number, once the stack acknowledged it.
    irs: Option<u32>,
    /// Bytes the application queued, and read.
    written: u64,
    read: u64,
}

impl Link {
    fn new(built: TcpState, handle: Option<TcpHandle>, local_port: u16, peer_port: u16) -> Self {
        Link {
            built,
            handle,
            local_port,
            peer_port,
            stack_max: 0,
            stack_una: 0,
            peer_nxt: 0,
            ts: 1_000,
            ts_echo: 0,
            timestamps: false,
            iss: None,
            irs: None,
            written: 0,
            read: 0,
        }
    }

    /// Learns from a segment the stack sent on this connection.
    fn learn(&mut self, sent: &Sent) {
        let end = sent.seq.wrapping_add(sent.len);
        if (end.wrapping_sub(self.stack_max) as i32) > 0 || self.stack_max == 0 {
            self.stack_max = end;
        }
        if sent.flags.contains(TcpFlags::SYN) {
            self.stack_una = sent.seq;
            self.iss = Some(sent.seq);
        }
        if sent.flags.contains(TcpFlags::ACK) {
            self.peer_nxt = sent.ack;
            // The first ACK acknowledges the peer's SYN.
            self.irs.get_or_insert(sent.ack.wrapping_sub(1));
        }
        // Every byte sent is the application's byte for its place, and was
        // queued: new data, a retransmission or a window probe alike.
        if let (Some(iss), false) = (self.iss, sent.payload.is_empty()) {
            let offset = u64::from(sent.seq.wrapping_sub(iss).wrapping_sub(1));
            assert!(
                offset + sent.payload.len() as u64 <= self.written,
                "{} bytes sent at offset {offset}, {} written",
                sent.payload.len(),
                self.written
            );
            for (i, &byte) in sent.payload.iter().enumerate() {
                assert_eq!(
                    byte,
                    app_byte(offset + i as u64),
                    "byte {} sent",
                    offset + i as u64
                );
            }
        }
        if let Some(tsval) = sent.tsval {
            self.ts_echo = tsval;
        }
    }

    /// A well-formed segment on this connection: at RCV.NXT, acknowledging
    /// all the stack sent, with the timestamp option when agreed.
    fn segment(&mut self, flags: TcpFlags) -> Segment {
        let mut segment = Segment::new(
            self.peer_port,
            self.local_port,
            self.peer_nxt,
            self.stack_max,
            flags,
        );
        if self.timestamps {
            self.ts = self.ts.wrapping_add(1);
            let mut buffer = [0u8; 12];
            let len = OptionWriter::new(&mut buffer)
                .timestamp(self.ts, self.ts_echo)
                .finish();
            segment.options = buffer[..len].to_vec();
        }
        segment
    }
}

// ---------------------------------------------------------------------------
// The fuzzer.

/// The stack, its wire, the peer's view of every connection, and a clock.
struct Fuzzer<'a> {
    stack: Stack<'a>,
    wire: QueueDriver,
    rng: Rng,
    now: Instant,
    listener: Option<ListenerHandle>,
    links: Vec<Link>,
    /// The next peer port to use: every connection has a 4-tuple of its own.
    next_port: u16,
    /// States seen after a segment, per state built (coverage).
    seen: BTreeMap<String, u64>,
    segments: u64,
    /// Bytes checked: sent by the stack, read by the application.
    checked_sent: u64,
    checked_read: u64,
    /// The most segments one poll sent.
    largest_burst: usize,
}

impl<'a> Fuzzer<'a> {
    fn new(resources: &'a mut Resources, tcp: &'a mut Tcp, seed: u64, config: TcpConfig) -> Self {
        let mut stack = Stack::new(
            resources,
            Config {
                seed,
                tcp: config,
                ..Config::default()
            },
        );
        stack
            .add_interface(InterfaceConfig {
                hardware_address: OUR_MAC,
                ipv4: Some(Ipv4Config {
                    address: Ipv4Cidr::new(OUR_IP, 24),
                    gateway: None,
                }),
            })
            .expect("one interface");
        stack.enable_tcp(tcp);
        Fuzzer {
            stack,
            wire: QueueDriver::new(OUR_MAC.0),
            rng: Rng::new(seed),
            now: Instant::from_secs(1),
            listener: None,
            links: Vec::new(),
            next_port: 20_000,
            seen: BTreeMap::new(),
            segments: 0,
            checked_sent: 0,
            checked_read: 0,
            largest_burst: 0,
        }
    }

    fn port(&mut self) -> u16 {
        self.next_port = if self.next_port >= 60_000 {
            20_000
        } else {
            self.next_port + 1
        };
        self.next_port
    }

    /// Polls until the stack is quiet (answering its ARP requests), checks
    /// the invariants and the pool, and returns the TCP segments it sent,
    /// each also taught to its link.
    fn poll(&mut self) -> Vec<Sent> {
        let mut sent = Vec::new();
        for _ in 0..16 {
            self.stack.poll(self.now, &mut self.wire);
            for frame in std::mem::take(&mut self.wire.outbox) {
                match Sent::read(&frame) {
                    Some(segment) => sent.push(segment),
                    None => self.wire.inbox.extend(arp_reply_to(&frame)),
                }
            }
            if self.wire.inbox.is_empty() {
                break;
            }
        }
        assert!(self.wire.inbox.is_empty(), "the stack never went quiet");
        for segment in &sent {
            assert_ne!(segment.dst_port, 0);
            self.checked_sent += segment.payload.len() as u64;
            if let Some(link) = self
                .links
                .iter_mut()
                .find(|l| l.local_port == segment.src_port && l.peer_port == segment.dst_port)
            {
                link.learn(segment);
            }
        }
        self.stack.check_tcp_invariants();
        assert_eq!(self.stack.pool_usage().0, PACKETS, "every buffer is back");
        // Each send ring holds 4096 bytes, under eight segments of the
        // smallest MSS used here: no poll has a reason to send dozens.
        assert!(
            sent.len() <= MAX_BURST,
            "a storm of {} segments",
            sent.len()
        );
        self.largest_burst = self.largest_burst.max(sent.len());
        sent
    }

    fn send(&mut self, segment: &Segment) -> Vec<Sent> {
        self.wire.inbox.push_back(segment.frame());
        self.poll()
    }

    fn link_mut(&mut self, port: u16) -> &mut Link {
        self.links
            .iter_mut()
            .find(|l| l.peer_port == port)
            .expect("a link")
    }

    // -- Building each state. -------------------------------------------

    /// The stack opens a connection; the peer does not answer yet.
    fn syn_sent(&mut self) -> u16 {
        let handle = self
            .stack
            .add_tcp_socket(RX_RING, TX_RING)
            .expect("a socket");
        let peer_port = self.port();
        self.stack
            .tcp(handle)
            .connect((PEER_IP, peer_port), 0)
            .expect("connect");
        let local_port = self.stack.tcp(handle).local_endpoint().expect("bound").port;
        self.links.push(Link::new(
            TcpState::SynSent,
            Some(handle),
            local_port,
            peer_port,
        ));
        let sent = self.poll();
        assert!(sent.iter().any(|s| s.flags == TcpFlags::SYN));
        assert_eq!(self.stack.tcp(handle).state(), TcpState::SynSent);
        peer_port
    }

    /// The stack opens a connection and the peer completes the handshake.
    fn established_client(&mut self, built: TcpState) -> u16 {
        let peer_port = self.syn_sent();
        let offer = Offer::random(&mut self.rng);
        let peer_iss = self.rng.next_u32();
        let link = self.link_mut(peer_port);
        link.built = built;
        link.timestamps = offer.timestamps;
        let mut syn_ack = Segment::new(
            peer_port,
            link.local_port,
            peer_iss,
            link.stack_max,
            TcpFlags::SYN | TcpFlags::ACK,
        );
        syn_ack.options = offer.options(link.ts, link.ts_echo);
        link.peer_nxt = peer_iss.wrapping_add(1);
        link.stack_una = link.stack_max;
        let handle = link.handle.expect("a client");
        self.send(&syn_ack);
        assert_eq!(self.stack.tcp(handle).state(), TcpState::Established);
        peer_port
    }

    /// The peer opens a connection to the listener and, if `complete`,
    /// finishes the handshake and the application accepts it.
    fn through_listener(&mut self, complete: bool) -> u16 {
        let peer_port = self.port();
        let offer = Offer::random(&mut self.rng);
        let peer_iss = self.rng.next_u32();
        let built = if complete {
            TcpState::Established
        } else {
            TcpState::SynReceived
        };
        let mut link = Link::new(built, None, LISTEN_PORT, peer_port);
        link.timestamps = offer.timestamps;
        let mut syn = Segment::new(peer_port, LISTEN_PORT, peer_iss, 0, TcpFlags::SYN);
        syn.options = offer.options(link.ts, 0);
        self.links.push(link);
        let sent = self.send(&syn);
        assert!(
            sent.iter()
                .any(|s| s.flags == TcpFlags::SYN | TcpFlags::ACK && s.dst_port == peer_port),
            "a SYN-ACK for {peer_port}: {sent:?}"
        );
        let link = self.link_mut(peer_port);
        link.stack_una = link.stack_max;
        if complete {
            let ack = link.segment(TcpFlags::ACK);
            self.send(&ack);
            let handle = self
                .stack
                .tcp_accept(self.listener.expect("listening"))
                .expect("an established connection");
            assert_eq!(
                self.stack.tcp(handle).remote_endpoint().map(|r| r.port),
                Some(peer_port)
            );
            self.link_mut(peer_port).handle = Some(handle);
        }
        peer_port
    }

    fn handle(&mut self, port: u16) -> TcpHandle {
        self.link_mut(port).handle.expect("a handle")
    }

    /// The application of link `index` queues up to `len` bytes of its stream.
    fn write(&mut self, index: usize, len: usize) {
        let link = &self.links[index];
        let Some(handle) = link.handle else { return };
        let data: Vec<u8> = (link.written..link.written + len as u64)
            .map(app_byte)
            .collect();
        if let Ok(queued) = self.stack.tcp(handle).send_slice(&data) {
            self.links[index].written += queued as u64;
        }
    }

    /// The application of link `index` reads what it can; each byte must be
    /// the peer's byte for its place in the stream.
    fn read(&mut self, index: usize) {
        let link = &self.links[index];
        let Some(handle) = link.handle else { return };
        let mut buffer = [0u8; 1024];
        let n = match self.stack.tcp(handle).recv_slice(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let irs = link
            .irs
            .expect("data only after the peer's SYN was acknowledged");
        let start = irs.wrapping_add(1).wrapping_add(link.read as u32);
        for (i, &byte) in buffer[..n].iter().enumerate() {
            let seq = start.wrapping_add(i as u32);
            assert_eq!(byte, peer_byte(seq), "byte {} read", link.read + i as u64);
        }
        self.links[index].read += n as u64;
        self.checked_read += n as u64;
    }

    fn index(&self, port: u16) -> usize {
        self.links
            .iter()
            .position(|l| l.peer_port == port)
            .expect("a link")
    }

    /// ESTABLISHED with data in flight both ways and data held out of order.
    fn busy(&mut self, port: u16) {
        let handle = self.handle(port);
        let index = self.index(port);
        self.write(index, 3000);
        assert_eq!(self.links[index].written, 3000);
        self.poll();
        let link = self.link_mut(port);
        let mut ahead = link.segment(TcpFlags::ACK);
        ahead.ack = link.stack_una;
        ahead.seq = link.peer_nxt.wrapping_add(300);
        ahead.payload = (0..200)
            .map(|i| peer_byte(ahead.seq.wrapping_add(i)))
            .collect();
        self.send(&ahead);
        assert_eq!(self.stack.tcp(handle).state(), TcpState::Established);
    }

    /// The application closes; the FIN goes out (after `data`).
    fn close(&mut self, port: u16, data: usize) {
        let handle = self.handle(port);
        let index = self.index(port);
        self.write(index, data);
        assert_eq!(self.links[index].written, data as u64);
        self.stack.tcp(handle).close();
        let sent = self.poll();
        assert!(
            sent.iter().any(|s| s.flags.contains(TcpFlags::FIN)),
            "{sent:?}"
        );
    }

    /// The peer sends its FIN, acknowledging `ours` (or only up to SND.UNA).
    fn peer_fin(&mut self, port: u16, ack_ours: bool) {
        let link = self.link_mut(port);
        let mut fin = link.segment(TcpFlags::FIN | TcpFlags::ACK);
        if !ack_ours {
            fin.ack = link.stack_una;
        }
        self.send(&fin);
    }

    /// The peer acknowledges everything the stack sent.
    fn peer_ack(&mut self, port: u16) {
        let link = self.link_mut(port);
        let ack = link.segment(TcpFlags::ACK);
        link.stack_una = link.stack_max;
        self.send(&ack);
    }

    fn expect(&mut self, port: u16, state: TcpState) {
        let handle = self.handle(port);
        assert_eq!(self.stack.tcp(handle).state(), state, "building {state:?}");
        self.link_mut(port).built = state;
    }

    /// A listener and a connection in every state.
    fn build_round(&mut self) {
        self.listener = Some(
            self.stack
                .tcp_listen(LISTEN_PORT, BACKLOG, RX_RING, TX_RING)
                .expect("port 80 is free"),
        );
        self.syn_sent();
        self.through_listener(false);
        let client = self.established_client(TcpState::Established);
        self.busy(client);
        let server = self.through_listener(true);
        self.busy(server);

        let port = self.established_client(TcpState::FinWait1);
        self.close(port, 1000);
        self.expect(port, TcpState::FinWait1);

        let port = self.established_client(TcpState::FinWait2);
        self.close(port, 0);
        self.peer_ack(port);
        self.expect(port, TcpState::FinWait2);

        let port = self.established_client(TcpState::CloseWait);
        self.peer_fin(port, true);
        self.expect(port, TcpState::CloseWait);

        let port = self.established_client(TcpState::Closing);
        self.close(port, 0);
        self.peer_fin(port, false);
        self.expect(port, TcpState::Closing);

        let port = self.established_client(TcpState::LastAck);
        self.peer_fin(port, true);
        self.close(port, 0);
        self.expect(port, TcpState::LastAck);

        let port = self.established_client(TcpState::TimeWait);
        self.close(port, 0);
        self.peer_fin(port, true);
        self.expect(port, TcpState::TimeWait);
    }

    /// Ends the round: every socket removed, the listener closed; after a
    /// while nothing is left to time and every buffer is back.
    fn end_round(&mut self) {
        for link in std::mem::take(&mut self.links) {
            if let Some(handle) = link.handle {
                self.stack.remove_tcp_socket(handle).expect("a socket");
            }
        }
        if let Some(listener) = self.listener.take() {
            while let Some(handle) = self.stack.tcp_accept(listener) {
                self.stack.remove_tcp_socket(handle).expect("a socket");
            }
            self.stack.tcp_unlisten(listener);
        }
        self.now += Duration::from_secs(1);
        self.poll();
        // Every socket slot and every byte of ring memory is free again.
        let all: Vec<TcpHandle> = (0..16)
            .map(|_| {
                self.stack
                    .add_tcp_socket(RX_RING, TX_RING)
                    .expect("a free slot with free memory")
            })
            .collect();
        for handle in all {
            self.stack.remove_tcp_socket(handle).expect("a socket");
        }
        assert!(self.poll().is_empty());
    }

    // -- Fuzzing. --------------------------------------------------------

    /// A random segment for a random connection (or a stray).
    fn random_segment(&mut self) -> Segment {
        let rng = &mut self.rng;
        let stray = self.links.is_empty() || rng.chance(30_000);
        let mut segment = if stray {
            let ports = [LISTEN_PORT, rng.below(65536) as u16];
            let mut segment = Segment::new(
                rng.below(65536) as u16,
                ports[rng.below(2) as usize],
                rng.next_u32(),
                rng.next_u32(),
                TcpFlags::SYN,
            );
            if rng.chance(300_000) {
                segment.flags = TcpFlags::from_bits(rng.next_u32() as u8);
            }
            if rng.chance(500_000) {
                // A listener meets every option value in a SYN.
                let stranger = Link::new(TcpState::Listen, None, 0, 0);
                segment.options = random_options(rng, &stranger);
            }
            segment
        } else {
            let index = rng.below(self.links.len() as u32) as usize;
            let link = &mut self.links[index];
            let flags = pick_flags(rng);
            let mut segment = link.segment(flags);
            segment.seq = near(rng, link.peer_nxt, 70_000);
            segment.ack = match rng.below(6) {
                0 => link.stack_una,
                1 => near(rng, link.stack_una, 4_000),
                2 => near(rng, link.stack_max, 4_000),
                _ => link.stack_max,
            };
            // What the peer acknowledged (if the stack takes it).
            let acked = segment.ack.wrapping_sub(link.stack_una) as i32;
            let sent = link.stack_max.wrapping_sub(link.stack_una) as i32;
            if acked > 0 && acked <= sent && segment.flags.contains(TcpFlags::ACK) {
                link.stack_una = segment.ack;
            }
            if rng.chance(300_000) {
                segment.options = random_options(rng, link);
            }
            segment
        };
        let rng = &mut self.rng;
        segment.window = match rng.below(6) {
            0 => 0,
            1 => rng.below(1500) as u16,
            2 => rng.next_u32() as u16,
            _ => 65535,
        };
        let len = match rng.below(10) {
            0..=4 => 0,
            5 => 1,
            6 => rng.below(100) as usize,
            _ => rng.below(1400) as usize,
        };
        // The peer's bytes for those sequence numbers.
        segment.payload = (0..len as u32)
            .map(|i| peer_byte(segment.seq.wrapping_add(i)))
            .collect();
        if rng.chance(20_000) {
            segment.bad_checksum = true;
        }
        if rng.chance(20_000) {
            segment.src_port ^= 1 << rng.below(16);
        }
        if rng.chance(20_000) {
            std::mem::swap(&mut segment.src_port, &mut segment.dst_port);
        }
        segment
    }

    /// What the application might do now and then.
    fn application(&mut self) {
        let Some(index) =
            (!self.links.is_empty()).then(|| self.rng.below(self.links.len() as u32) as usize)
        else {
            return;
        };
        let Some(handle) = self.links[index].handle else {
            return;
        };
        let action = self.rng.below(30);
        match action {
            0..=11 => {
                let len = self.rng.below(3000) as usize;
                return self.write(index, len);
            }
            12..=21 => return self.read(index),
            _ => {}
        }
        let mut tcp = self.stack.tcp(handle);
        match action {
            22..=23 => tcp.close(),
            24 => tcp.abort(),
            25..=26 => tcp.set_nodelay(self.rng.chance(500_000)),
            27..=28 => {
                let interval = Duration::from_millis(u64::from(500 + self.rng.below(5000)));
                tcp.set_keepalive(self.rng.chance(500_000).then_some(interval));
            }
            _ => {
                let limit = Duration::from_millis(u64::from(1000 + self.rng.below(20_000)));
                tcp.set_timeout(self.rng.chance(500_000).then_some(limit));
            }
        }
        if let Some(listener) = self.listener {
            if self.rng.chance(100_000) {
                if let Some(accepted) = self.stack.tcp_accept(listener) {
                    let _ = self.stack.remove_tcp_socket(accepted);
                }
            }
        }
    }

    /// Duplicate ACKs for a connection with data in flight: the same ACK
    /// of SND.UNA three to five times, now and then with SACK blocks above.
    fn duplicate_acks(&mut self) -> Vec<Segment> {
        let busy: Vec<usize> = (0..self.links.len())
            .filter(|&i| self.links[i].stack_max != self.links[i].stack_una)
            .collect();
        if busy.is_empty() {
            return Vec::new();
        }
        let index = busy[self.rng.below(busy.len() as u32) as usize];
        let count = 3 + self.rng.below(3);
        let sack = self.rng.chance(500_000);
        let link = &mut self.links[index];
        let mut acks = Vec::new();
        for k in 0..count {
            let mut ack = link.segment(TcpFlags::ACK);
            ack.ack = link.stack_una;
            ack.window = 65535;
            if sack {
                let mut buffer = [0u8; MAX_OPTIONS_LEN];
                let mut writer = OptionWriter::new(&mut buffer);
                if link.timestamps {
                    writer.timestamp(link.ts, link.ts_echo);
                }
                let left = SeqNumber(link.stack_una.wrapping_add(1000));
                writer.sack(&[(left, left + 500 * (k + 1))]);
                let len = writer.finish();
                ack.options = buffer[..len].to_vec();
            }
            acks.push(ack);
        }
        acks
    }

    /// One step: maybe time passes, maybe the application acts, then a
    /// segment (or a burst of duplicate ACKs) arrives.
    fn step(&mut self) {
        self.now += match self.rng.below(100) {
            0..=69 => Duration::ZERO,
            70..=97 => Duration::from_millis(u64::from(1 + self.rng.below(50))),
            _ => Duration::from_millis(u64::from(100 + self.rng.below(3000))),
        };
        if self.rng.chance(100_000) {
            self.application();
        }
        let mut segments = if self.rng.chance(20_000) {
            self.duplicate_acks()
        } else {
            Vec::new()
        };
        if segments.is_empty() {
            segments.push(self.random_segment());
        }
        for segment in segments {
            // A segment the listener itself takes: to its port, from no
            // connection of the round.
            let to_listener = self.listener.is_some()
                && segment.dst_port == LISTEN_PORT
                && !self
                    .links
                    .iter()
                    .any(|l| l.local_port == LISTEN_PORT && l.peer_port == segment.src_port);
            if to_listener {
                *self.seen.entry("Listen -> Listen".to_owned()).or_default() += 1;
            }
            // A segment to the connection built in SYN-RECEIVED, which has
            // no handle yet: the listener's backlog says whether a
            // connection is still half-open after it (its own, unless it
            // ended and a stray SYN opened another meanwhile).
            let to_half_open = self.links.iter().any(|l| {
                l.handle.is_none()
                    && l.built == TcpState::SynReceived
                    && l.peer_port == segment.src_port
                    && segment.dst_port == LISTEN_PORT
            });
            let frame = segment.frame();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                self.wire.inbox.push_back(frame);
                self.poll();
            }));
            if let Err(panic) = outcome {
                eprintln!("segment {} at {:?}: {segment:?}", self.segments, self.now);
                resume_unwind(panic);
            }
            self.segments += 1;
            let half_open = self
                .listener
                .is_some_and(|listener| self.stack.tcp_backlog(listener).half_open > 0);
            if to_half_open && half_open {
                *self
                    .seen
                    .entry("SynReceived -> SynReceived".to_owned())
                    .or_default() += 1;
            }
        }
        for link in &self.links {
            let state = match link.handle {
                Some(handle) => self.stack.tcp(handle).state(),
                None => continue,
            };
            *self
                .seen
                .entry(format!("{:?} -> {state:?}", link.built))
                .or_default() += 1;
        }
    }
}

/// A sequence number at `anchor`, close to it, or anywhere.
fn near(rng: &mut Rng, anchor: u32, spread: u32) -> u32 {
    match rng.below(8) {
        0..=2 => anchor,
        3 => anchor.wrapping_add(rng.below(spread)),
        4 => anchor.wrapping_sub(rng.below(spread)),
        5 => anchor.wrapping_add(1 << 31).wrapping_add(rng.below(16)),
        6 => anchor.wrapping_add(rng.below(3)).wrapping_sub(1),
        _ => rng.next_u32(),
    }
}

/// Control bits: mostly the combinations peers send, sometimes any.
fn pick_flags(rng: &mut Rng) -> TcpFlags {
    // ACK, PSH|ACK, FIN|ACK, SYN, SYN|ACK, FIN, and (rarely: a reset at
    // RCV.NXT ends the connection) RST, RST|ACK.
    const COMMON: [u8; 40] = [
        0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x18, 0x18, 0x18,
        0x18, 0x18, 0x18, 0x18, 0x18, 0x11, 0x11, 0x11, 0x19, 0x19, 0x02, 0x02, 0x12, 0x12, 0x12,
        0x01, 0x01, 0x10, 0x18, 0x10, 0x18, 0x10, 0x18, 0x04, 0x14,
    ];
    if rng.chance(50_000) {
        TcpFlags::from_bits(rng.next_u32() as u8)
    } else {
        TcpFlags::from_bits(COMMON[rng.below(COMMON.len() as u32) as usize])
    }
}

/// Options, well formed or not: the agreed ones with random values, SACK
/// blocks around the stack's sequence space, and random bytes.
fn random_options(rng: &mut Rng, link: &Link) -> Vec<u8> {
    let mut buffer = [0u8; MAX_OPTIONS_LEN];
    let mut writer = OptionWriter::new(&mut buffer);
    if rng.chance(300_000) {
        writer.mss(rng.next_u32() as u16);
    }
    if rng.chance(200_000) {
        writer.window_scale(rng.below(20) as u8);
    }
    if rng.chance(200_000) {
        writer.sack_permitted();
    }
    if rng.chance(600_000) {
        let tsval = near(rng, link.ts, 1 << 20);
        let tsecr = near(rng, link.ts_echo, 5_000);
        writer.timestamp(tsval, tsecr);
    }
    if rng.chance(600_000) {
        let mut blocks = Vec::new();
        for _ in 0..=rng.below(4) {
            let left = near(rng, link.stack_una, 8_000);
            let right = match rng.below(4) {
                0 => left.wrapping_sub(rng.below(2_000)),
                1 => near(rng, link.stack_max, 4_000),
                _ => left.wrapping_add(rng.below(3_000)),
            };
            blocks.push((SeqNumber(left), SeqNumber(right)));
        }
        writer.sack(&blocks);
    }
    let len = writer.finish();
    let mut options = buffer[..len].to_vec();
    if rng.chance(250_000) {
        // Damage: a random byte anywhere, or random bytes appended.
        if !options.is_empty() && rng.chance(500_000) {
            let at = rng.below(options.len() as u32) as usize;
            options[at] = rng.next_u32() as u8;
        } else {
            let mut extra = vec![0u8; rng.below(12) as usize];
            rng.fill(&mut extra);
            options.extend_from_slice(&extra);
        }
    }
    options
}

/// `name` from the environment, parsed, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Fires `total` segments at a stack configured with `config`; returns the
/// fuzzer's findings.
fn fuzz(seed: u64, total: u64, config: TcpConfig) -> Report {
    let mut resources = Resources::new();
    let mut tcp = Box::new(Tcp::new());
    let mut fuzzer = Fuzzer::new(&mut resources, &mut tcp, seed, config);
    // The peer introduces itself, so the stack knows its MAC.
    let mut hello = vec![0u8; 60];
    EthernetFrame::new_unchecked(&mut hello[..]).write_header(
        EthernetAddress::BROADCAST,
        PEER_MAC,
        EtherType::Arp,
    );
    ArpPacket::new_unchecked(&mut hello[14..]).write_packet(
        ArpOperation::Request,
        PEER_MAC,
        PEER_IP,
        EthernetAddress([0; 6]),
        OUR_IP,
    );
    fuzzer.wire.inbox.push_back(hello);
    fuzzer.poll();

    let mut rounds = 0;
    while fuzzer.segments < total {
        fuzzer.build_round();
        for _ in 0..ROUND {
            fuzzer.step();
        }
        fuzzer.end_round();
        rounds += 1;
    }
    assert_eq!(fuzzer.stack.pool_usage().0, PACKETS);
    let stats = fuzzer.stack.stats().tcp.clone();
    println!("{} segments in {rounds} rounds; {stats:?}", fuzzer.segments);
    println!(
        "bytes checked: {} sent by the stack, {} read by the application; at most {} segments \
         in one poll",
        fuzzer.checked_sent, fuzzer.checked_read, fuzzer.largest_burst
    );
    Report {
        stats,
        seen: fuzzer.seen,
        checked_sent: fuzzer.checked_sent,
        checked_read: fuzzer.checked_read,
    }
}

/// What a fuzz run saw.
struct Report {
    stats: TcpStats,
    /// States after each segment, by the state built.
    seen: BTreeMap<String, u64>,
    checked_sent: u64,
    checked_read: u64,
}

#[test]
fn random_segments_against_every_state_never_panic_leak_or_break_invariants() {
    let total = env_or("DUET_TCP_FUZZ_SEGMENTS", DEFAULT_SEGMENTS) as u64;
    let seed = env_or("DUET_TCP_FUZZ_SEED", 0x7c9_f022_u64);
    let base = TcpConfig {
        time_wait: Duration::from_secs(20),
        keepalive_probes: 3,
        ..TcpConfig::default()
    };
    // Two thirds of the segments against the defaults (NewReno, every
    // option offered), a third against CUBIC offering none, its full
    // listener answering with SYN cookies.
    let full = fuzz(seed, total - total / 3, base.clone());
    let bare = fuzz(
        seed ^ 0x5eed,
        total / 3,
        TcpConfig {
            congestion: Algorithm::Cubic,
            timestamps: false,
            sack: false,
            window_scaling: false,
            #[cfg(feature = "syn-cookies")]
            syn_cookies: true,
            ..base
        },
    );
    for report in [&full, &bare] {
        // Each state built lived on under fire.
        for built in [
            TcpState::Listen,
            TcpState::SynSent,
            TcpState::SynReceived,
            TcpState::Established,
            TcpState::FinWait1,
            TcpState::FinWait2,
            TcpState::CloseWait,
            TcpState::Closing,
            TcpState::LastAck,
            TcpState::TimeWait,
        ] {
            let key = format!("{built:?} -> {built:?}");
            assert!(report.seen.contains_key(&key), "never fuzzed in {built:?}");
        }
    }
    if total < DEFAULT_SEGMENTS as u64 {
        return;
    }
    println!(
        "states after each segment, by the state built: {:#?}",
        full.seen
    );
    // The data was checked, and every verdict was given.
    for report in [&full, &bare] {
        assert!(report.checked_sent > 0 && report.checked_read > 0);
    }
    let (stats, bare) = (&full.stats, &bare.stats);
    for (name, count) in [
        ("rx_resets", stats.rx_resets),
        ("rx_resets_refused", stats.rx_resets_refused),
        ("rx_resets_challenged", stats.rx_resets_challenged),
        ("rx_resets_out_of_window", stats.rx_resets_out_of_window),
        ("sack_recoveries", stats.sack_recoveries),
        ("tx_challenge_acks", stats.tx_challenge_acks),
        ("drop_out_of_window", stats.drop_out_of_window),
        ("drop_paws", stats.drop_paws),
        ("drop_malformed", stats.drop_malformed),
        ("drop_bad_checksum", stats.drop_bad_checksum),
        ("drop_backlog_full", stats.drop_backlog_full),
        ("tx_resets_no_socket", stats.tx_resets_no_socket),
        ("tx_resets_bad_ack", stats.tx_resets_bad_ack),
        ("fast_recoveries", stats.fast_recoveries),
        ("retransmissions", stats.retransmissions),
        ("timeouts", stats.timeouts),
        ("CUBIC fast_recoveries", bare.fast_recoveries),
        ("CUBIC retransmissions", bare.retransmissions),
    ] {
        assert!(count > 0, "{name} never moved");
    }
    // Its cookies went out, and some came back complete.
    #[cfg(feature = "syn-cookies")]
    assert!(
        bare.tx_syn_cookies > 0 && bare.rx_syn_cookies > 0,
        "{bare:?}"
    );
    assert_eq!(bare.drop_paws, 0, "no timestamps, no PAWS");
}
