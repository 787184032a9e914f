//! One test per TCP rule, on crafted segments: the stack under test (A)
//! faces a peer (B) that the test plays by hand, byte by byte, and every
//! segment the stack sends back is read and checked field by field.
//!
//! The rules, in RFC order: resets for strays (RFC 9293 §3.10.7.1) and in
//! SYN-SENT (§3.10.7.3), RST acceptability and challenge ACKs (RFC 5961
//! §3, §4, §5, §7), window updates and zero-window probes (RFC 9293
//! §3.10.7.4, §3.8.6.1), SACK at the receiver and the sender (RFC 2018,
//! RFC 6675, RFC 2883), PAWS and timestamps (RFC 7323), the listen backlog,
//! MSS and window scale (RFC 9293 §3.7.1, RFC 7323 §2), delayed ACKs
//! (RFC 5681 §4.2), Nagle (RFC 9293 §3.7.4), keepalive (§3.8.4), the user
//! timeout (RFC 5482) and TIME-WAIT (RFC 9293 §3.6).

extern crate std;

use std::vec;
use std::vec::Vec;

use core::net::{IpAddr, Ipv4Addr};

use super::tests::{IP_A, IP_B, MAC_A, MAC_B, TestDriver, driver};
use super::*;
use crate::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use crate::tcp::{TcpConfig, TcpError, TcpState};
use crate::time::Duration;
use crate::wire::tcp::{MAX_OPTIONS_LEN, OptionWriter, SegmentOptions};
use crate::wire::{
    ArpOperation, ArpPacket, EtherType, EthernetAddress, EthernetFrame, IpProtocol, Ipv4Packet,
    SeqNumber, TcpFlags, TcpPacket,
};

type Resources = StackResources<32, 4, 4>;
type Tcp = TcpResources<4, 131072>;

/// The peer's port for connections the stack opens.
const PEER_PORT: u16 = 5000;
/// The port the stack listens on, and the peer's port toward it.
const LISTEN_PORT: u16 = 80;
const CLIENT_PORT: u16 = 40_000;
/// The peer's initial sequence number, 100 short of the wrap.
const PEER_ISS: u32 = u32::MAX - 99;
/// The stack's segment size against a peer MSS of 1460 with timestamps on.
const MSS_TS: u32 = 1460 - 12;

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const RST: TcpFlags = TcpFlags::RST;
const FIN: TcpFlags = TcpFlags::FIN;
const PSH: TcpFlags = TcpFlags::PSH;

/// Options of a crafted segment.
#[derive(Debug, Clone, Default)]
struct Opts {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamp: Option<(u32, u32)>,
    sack: Vec<(u32, u32)>,
}

/// A segment the peer sends.
#[derive(Debug, Clone)]
struct Seg {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    opts: Opts,
    payload: Vec<u8>,
}

impl Seg {
    fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: TcpFlags) -> Self {
        Seg {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window: 65535,
            opts: Opts::default(),
            payload: Vec::new(),
        }
    }

    fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    fn ack(mut self, ack: u32) -> Self {
        self.ack = ack;
        self
    }

    fn timestamp(mut self, tsval: u32, tsecr: u32) -> Self {
        self.opts.timestamp = Some((tsval, tsecr));
        self
    }

    fn no_timestamp(mut self) -> Self {
        self.opts.timestamp = None;
        self
    }

    fn sack(mut self, blocks: &[(u32, u32)]) -> Self {
        self.opts.sack = blocks.to_vec();
        self
    }

    /// The Ethernet frame B sends to A.
    fn frame(&self) -> Vec<u8> {
        let mut options = [0u8; MAX_OPTIONS_LEN];
        let mut writer = OptionWriter::new(&mut options);
        if let Some(mss) = self.opts.mss {
            writer.mss(mss);
        }
        if self.opts.sack_permitted {
            writer.sack_permitted();
        }
        if let Some((tsval, tsecr)) = self.opts.timestamp {
            writer.timestamp(tsval, tsecr);
        }
        if let Some(shift) = self.opts.window_scale {
            writer.window_scale(shift);
        }
        if !self.opts.sack.is_empty() {
            let blocks: Vec<_> = self
                .opts
                .sack
                .iter()
                .map(|&(l, r)| (SeqNumber(l), SeqNumber(r)))
                .collect();
            writer.sack(&blocks);
        }
        let options_len = writer.finish();
        let tcp_len = TcpPacket::<&[u8]>::HEADER_LEN + options_len + self.payload.len();
        let mut frame = vec![0u8; 14 + 20 + tcp_len];
        EthernetFrame::new_unchecked(&mut frame[..]).write_header(MAC_A, MAC_B, EtherType::Ipv4);
        Ipv4Packet::new_unchecked(&mut frame[14..]).write_header(
            IP_B,
            IP_A,
            IpProtocol::Tcp,
            64,
            tcp_len as u16,
            1,
        );
        let mut tcp = TcpPacket::new_unchecked(&mut frame[34..]);
        tcp.write_header(
            self.src_port,
            self.dst_port,
            SeqNumber(self.seq),
            SeqNumber(self.ack),
            self.flags,
            self.window,
            options_len,
        );
        tcp.options_mut().copy_from_slice(&options[..options_len]);
        tcp.payload_mut().copy_from_slice(&self.payload);
        tcp.fill_checksum(&IpAddr::V4(IP_B), &IpAddr::V4(IP_A));
        frame
    }
}

/// A segment the stack sent, read back.
#[derive(Clone, PartialEq, Eq)]
struct Out {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: SegmentOptions,
    payload: Vec<u8>,
}

impl core::fmt::Debug for Out {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}->{} seq={} ack={} {:?} wnd={} ts={:?} sack={:?} mss={:?} ws={:?} len={}",
            self.src_port,
            self.dst_port,
            self.seq,
            self.ack,
            self.flags,
            self.window,
            self.options.timestamp,
            self.options.sack_ranges(),
            self.options.mss,
            self.options.window_scale,
            self.payload.len()
        )
    }
}

impl Out {
    /// Reads a TCP segment from A to B out of a frame, checking every
    /// header and checksum on the way.
    fn read(frame: &[u8]) -> Option<Out> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EtherType::Ipv4 {
            return None;
        }
        assert_eq!(eth.dst_addr(), MAC_B);
        let ip = Ipv4Packet::new_checked(eth.payload()).expect("valid IPv4");
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), (IP_A, IP_B));
        assert_eq!(ip.protocol(), IpProtocol::Tcp);
        let tcp = TcpPacket::new_checked(ip.payload()).expect("valid TCP");
        assert!(tcp.verify_checksum(&IpAddr::V4(IP_A), &IpAddr::V4(IP_B)));
        Some(Out {
            src_port: tcp.src_port(),
            dst_port: tcp.dst_port(),
            seq: tcp.seq_number().0,
            ack: tcp.ack_number().0,
            flags: tcp.flags(),
            window: tcp.window_len(),
            options: tcp.segment_options().expect("valid options"),
            payload: tcp.payload().to_vec(),
        })
    }

    fn tsval(&self) -> u32 {
        self.options.timestamp.expect("a timestamp").0
    }

    fn tsecr(&self) -> u32 {
        self.options.timestamp.expect("a timestamp").1
    }

    fn sack_blocks(&self) -> Vec<(u32, u32)> {
        self.options
            .sack_ranges()
            .iter()
            .map(|&(l, r)| (l.0, r.0))
            .collect()
    }
}

/// B's answer to an ARP request from A for B's address.
fn arp_reply_to(frame: &[u8]) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let arp = ArpPacket::new_checked(eth.payload()).ok()?;
    if arp.operation() != ArpOperation::Request || arp.target_protocol_addr() != IP_B {
        return None;
    }
    let mut reply = vec![0u8; 60];
    EthernetFrame::new_unchecked(&mut reply[..]).write_header(MAC_A, MAC_B, EtherType::Arp);
    ArpPacket::new_unchecked(&mut reply[14..]).write_packet(
        ArpOperation::Reply,
        MAC_B,
        IP_B,
        MAC_A,
        IP_A,
    );
    Some(reply)
}

/// The one segment `sent` must be.
fn only_segment(sent: Vec<Out>) -> Out {
    let [out] = <[Out; 1]>::try_from(sent).unwrap_or_else(|sent| panic!("{sent:?}"));
    out
}

/// The stack under test with its driver and clock.
struct Rig<'a> {
    stack: Stack<'a>,
    driver: TestDriver,
    now: Instant,
}

impl<'a> Rig<'a> {
    fn new(resources: &'a mut Resources, tcp: &'a mut Tcp, config: TcpConfig) -> Self {
        Self::with_driver(resources, tcp, config, driver(MAC_A))
    }

    /// A rig whose driver is `driver`: one that reports other capabilities
    /// than the 1514-byte Ethernet frame of [`driver`].
    fn with_driver(
        resources: &'a mut Resources,
        tcp: &'a mut Tcp,
        config: TcpConfig,
        driver: TestDriver,
    ) -> Self {
        let mut stack = Stack::new(
            resources,
            Config {
                seed: 1,
                tcp: config,
                ..Config::default()
            },
        );
        stack
            .add_interface(InterfaceConfig {
                hardware_address: MAC_A,
                ipv4: Some(Ipv4Config {
                    address: Ipv4Cidr::new(IP_A, 24),
                    gateway: None,
                }),
            })
            .unwrap();
        stack.enable_tcp(tcp);
        let mut rig = Rig {
            stack,
            driver,
            now: Instant::from_secs(10),
        };
        // B asks for A, so A learns B and never has to ask.
        let mut request = vec![0u8; 60];
        EthernetFrame::new_unchecked(&mut request[..]).write_header(
            EthernetAddress::BROADCAST,
            MAC_B,
            EtherType::Arp,
        );
        ArpPacket::new_unchecked(&mut request[14..]).write_packet(
            ArpOperation::Request,
            MAC_B,
            IP_B,
            EthernetAddress([0; 6]),
            IP_A,
        );
        rig.driver.inbox.push_back(request);
        rig.stack.poll(rig.now, &mut rig.driver);
        rig.driver.outbox.clear();
        rig
    }

    /// Polls at the current time; returns the TCP segments sent. B answers
    /// A's ARP requests (its cache entry ages out in long tests).
    fn poll(&mut self) -> Vec<Out> {
        let mut sent = Vec::new();
        for round in 0.. {
            assert!(
                round < 1000,
                "the stack never went quiet: {:?}",
                &sent[sent.len().saturating_sub(4)..]
            );
            self.stack.poll(self.now, &mut self.driver);
            assert!(self.driver.inbox.is_empty());
            for frame in self.driver.outbox.drain(..) {
                match Out::read(&frame) {
                    Some(out) => sent.push(out),
                    None => self.driver.inbox.extend(arp_reply_to(&frame)),
                }
            }
            if self.driver.inbox.is_empty() {
                self.stack.check_tcp_invariants();
                return sent;
            }
        }
        unreachable!()
    }

    /// B sends `seg`; returns what A sends at once.
    fn send(&mut self, seg: &Seg) -> Vec<Out> {
        self.driver.inbox.push_back(seg.frame());
        self.poll()
    }

    /// Lets `by` pass; returns what A sends then.
    fn advance(&mut self, by: Duration) -> Vec<Out> {
        self.now += by;
        self.poll()
    }

    /// Steps through `span` in `step`s; returns each segment with the time
    /// it was sent.
    fn run(&mut self, span: Duration, step: Duration) -> Vec<(Instant, Out)> {
        let end = self.now + span;
        let mut sent = Vec::new();
        while self.now < end {
            self.now += step;
            let now = self.now;
            sent.extend(self.poll().into_iter().map(|out| (now, out)));
        }
        sent
    }

    /// Steps time by `step` until A sends something (at most `limit`);
    /// returns when, and what.
    fn until_sent(&mut self, limit: Duration, step: Duration) -> (Instant, Vec<Out>) {
        let end = self.now + limit;
        while self.now < end {
            self.now += step;
            let sent = self.poll();
            if !sent.is_empty() {
                return (self.now, sent);
            }
        }
        panic!("nothing sent within {limit:?}");
    }

    fn tcp_stats(&self) -> crate::stats::TcpStats {
        self.stack.stats().tcp.clone()
    }
}

/// What the peer says in its SYN or SYN-ACK.
#[derive(Debug, Clone, Copy)]
struct PeerSyn {
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack: bool,
    timestamps: bool,
    window: u16,
    /// How long after the stack's SYN (or SYN-ACK) the peer's answer
    /// arrives: the handshake's round trip.
    rtt: Duration,
    /// The stack's first SYN (or SYN-ACK) is lost: the peer answers the
    /// one the retransmission timer sends.
    first_lost: bool,
}

impl Default for PeerSyn {
    fn default() -> Self {
        PeerSyn {
            mss: Some(1460),
            window_scale: Some(0),
            sack: true,
            timestamps: true,
            window: 65535,
            rtt: Duration::ZERO,
            first_lost: false,
        }
    }
}

impl PeerSyn {
    fn plain() -> Self {
        PeerSyn {
            mss: Some(1460),
            window_scale: None,
            sack: false,
            timestamps: false,
            window: 65535,
            rtt: Duration::ZERO,
            first_lost: false,
        }
    }

    fn options(&self, tsval: u32, tsecr: u32) -> Opts {
        Opts {
            mss: self.mss,
            window_scale: self.window_scale,
            sack_permitted: self.sack,
            timestamp: self.timestamps.then_some((tsval, tsecr)),
            sack: Vec::new(),
        }
    }
}

/// An open connection as the peer sees it.
#[derive(Debug, Clone, Copy)]
struct Conn {
    handle: TcpHandle,
    /// The stack's port and the peer's.
    port: u16,
    peer_port: u16,
    /// The stack's initial sequence number.
    iss: u32,
    /// The peer's next sequence number.
    seq: u32,
    /// How far the peer acknowledges the stack.
    ack: u32,
    /// The peer's TSval clock and the stack's last TSval, when timestamps are on.
    ts: Option<(u32, u32)>,
    /// The window the peer advertises (unscaled field).
    window: u16,
}

impl Conn {
    /// A segment from the peer in the connection's current state.
    fn seg(&self, flags: TcpFlags) -> Seg {
        let mut seg = Seg::new(self.peer_port, self.port, self.seq, self.ack, flags);
        seg.window = self.window;
        if let Some((tsval, tsecr)) = self.ts {
            seg = seg.timestamp(tsval, tsecr);
        }
        seg
    }

    /// Data from the peer at its next sequence number; advances it.
    fn data(&mut self, payload: &[u8]) -> Seg {
        let seg = self.seg(ACK | PSH).payload(payload);
        self.seq = self.seq.wrapping_add(payload.len() as u32);
        seg
    }

    /// Moves the peer's clock on, and echoes the stack's latest TSval.
    fn tick(&mut self, out: &Out) {
        if let Some((tsval, _)) = self.ts {
            self.ts = Some((tsval + 1, out.tsval()));
        }
    }

    /// What an ACK from the stack must carry now: `<SEQ=snd_nxt><ACK=rcv_nxt>`.
    fn assert_ack(&self, out: &Out, snd_nxt: u32) {
        assert_eq!(out.flags, ACK, "{out:?}");
        assert_eq!((out.seq, out.ack), (snd_nxt, self.seq), "{out:?}");
        assert!(out.payload.is_empty());
        assert_eq!((out.src_port, out.dst_port), (self.port, self.peer_port));
    }
}

impl Rig<'_> {
    /// The stack opens a connection to the peer, who answers as `peer` says.
    fn client(&mut self, peer: PeerSyn) -> Conn {
        let handle = self.stack.add_tcp_socket(8192, 16384).unwrap();
        self.client_on(handle, peer)
    }

    fn client_on(&mut self, handle: TcpHandle, peer: PeerSyn) -> Conn {
        self.client_handshake(handle, peer).0
    }

    /// [`client_on`](Self::client_on), also returning the stack's SYN.
    fn client_handshake(&mut self, handle: TcpHandle, peer: PeerSyn) -> (Conn, Out) {
        self.stack
            .tcp(handle)
            .connect((IP_B, PEER_PORT), 0)
            .unwrap();
        let sent = self.poll();
        let [syn] = sent.as_slice() else {
            panic!("one SYN, not {sent:?}")
        };
        assert_eq!(syn.flags, SYN);
        if peer.first_lost {
            self.resent_by_timer(syn);
        }
        let tsecr = syn.options.timestamp.map_or(0, |(tsval, _)| tsval);
        let mut syn_ack = Seg::new(
            PEER_PORT,
            syn.src_port,
            PEER_ISS,
            syn.seq.wrapping_add(1),
            SYN | ACK,
        )
        .window(peer.window);
        syn_ack.opts = peer.options(1000, tsecr);
        assert_eq!(self.advance(peer.rtt), []);
        let sent = self.send(&syn_ack);
        let [ack] = sent.as_slice() else {
            panic!("one ACK, not {sent:?}")
        };
        assert_eq!(self.stack.tcp(handle).state(), TcpState::Established);
        let conn = Conn {
            handle,
            port: syn.src_port,
            peer_port: PEER_PORT,
            iss: syn.seq,
            seq: PEER_ISS.wrapping_add(1),
            ack: syn.seq.wrapping_add(1),
            ts: ack.options.timestamp.map(|(tsval, _)| (1001, tsval)),
            window: peer.window,
        };
        conn.assert_ack(ack, conn.ack);
        (conn, syn.clone())
    }

    /// Waits for the retransmission timer to send `segment` again, after
    /// the initial RTO of 1 s.
    fn resent_by_timer(&mut self, segment: &Out) {
        let sent_at = self.now;
        let (at, sent) = self.until_sent(Duration::from_secs(2), Duration::from_millis(1));
        let [resent] = sent.as_slice() else {
            panic!("one resend, not {sent:?}")
        };
        assert_eq!((resent.flags, resent.seq), (segment.flags, segment.seq));
        assert_eq!((at - sent_at).as_millis(), 1000);
    }

    /// The peer opens a connection to the stack's listener; returns it accepted.
    fn server(&mut self, listener: ListenerHandle, peer: PeerSyn, peer_port: u16) -> Conn {
        self.server_handshake(listener, peer, peer_port).0
    }

    /// [`server`](Self::server), also returning the stack's SYN-ACK.
    fn server_handshake(
        &mut self,
        listener: ListenerHandle,
        peer: PeerSyn,
        peer_port: u16,
    ) -> (Conn, Out) {
        let mut syn = Seg::new(peer_port, LISTEN_PORT, PEER_ISS, 0, SYN).window(peer.window);
        syn.opts = peer.options(1000, 0);
        let sent = self.send(&syn);
        let [syn_ack] = sent.as_slice() else {
            panic!("one SYN-ACK, not {sent:?}")
        };
        assert_eq!(syn_ack.flags, SYN | ACK);
        assert_eq!(syn_ack.ack, PEER_ISS.wrapping_add(1));
        if peer.first_lost {
            self.resent_by_timer(syn_ack);
        }
        let mut conn = Conn {
            handle: TcpHandle(u16::MAX),
            port: LISTEN_PORT,
            peer_port,
            iss: syn_ack.seq,
            seq: PEER_ISS.wrapping_add(1),
            ack: syn_ack.seq.wrapping_add(1),
            ts: syn_ack.options.timestamp.map(|(tsval, _)| (1001, tsval)),
            window: peer.window,
        };
        assert_eq!(self.advance(peer.rtt), []);
        assert_eq!(self.send(&conn.seg(ACK)), []);
        conn.handle = self
            .stack
            .tcp_accept(listener)
            .expect("an established connection");
        (conn, syn_ack.clone())
    }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ salt)
        .collect()
}

// ---------------------------------------------------------------------------
// Segments without a connection (RFC 9293 §3.10.7.1) and SYN-SENT (§3.10.7.3).

#[test]
fn a_segment_to_a_closed_port_is_reset_in_both_forms() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    // Without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, where SEG.LEN
    // counts the SYN, the data and the FIN.
    let syn_with_data = Seg::new(CLIENT_PORT, 81, 0xffff_fff0, 0, SYN | FIN).payload(&[7; 30]);
    let sent = rig.send(&syn_with_data);
    let expected = Out {
        src_port: 81,
        dst_port: CLIENT_PORT,
        seq: 0,
        ack: 0xffff_fff0u32.wrapping_add(32),
        flags: RST | ACK,
        window: 0,
        options: SegmentOptions::default(),
        payload: Vec::new(),
    };
    assert_eq!(sent, core::slice::from_ref(&expected));
    let data_without_ack = Seg::new(CLIENT_PORT, 81, 5000, 0, PSH).payload(&[1; 10]);
    assert_eq!(
        rig.send(&data_without_ack),
        [Out {
            ack: 5010,
            ..expected.clone()
        }]
    );
    // With ACK: <SEQ=SEG.ACK><CTL=RST>.
    let with_ack = Seg::new(CLIENT_PORT, 81, 5000, 0x8765_4321, ACK).payload(&[1; 10]);
    assert_eq!(
        rig.send(&with_ack),
        [Out {
            seq: 0x8765_4321,
            ack: 0,
            flags: RST,
            ..expected
        }]
    );
    // A reset is never answered.
    assert_eq!(rig.send(&Seg::new(CLIENT_PORT, 81, 1, 2, RST | ACK)), []);
    assert_eq!(rig.send(&Seg::new(CLIENT_PORT, 81, 1, 0, RST)), []);
    assert_eq!(rig.tcp_stats().tx_resets_no_socket, 3);
}

#[test]
fn syn_sent_answers_an_unacceptable_ack_with_a_reset_and_waits_on() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let handle = rig.stack.add_tcp_socket(4096, 4096).unwrap();
    rig.stack.tcp(handle).connect((IP_B, PEER_PORT), 0).unwrap();
    let sent = rig.poll();
    let [syn] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    let (port, iss) = (syn.src_port, syn.seq);
    let reset = |seq: u32| Out {
        src_port: port,
        dst_port: PEER_PORT,
        seq,
        ack: 0,
        flags: RST,
        window: 0,
        options: SegmentOptions::default(),
        payload: Vec::new(),
    };
    // RFC 9293 §3.10.7.3: SEG.ACK =< ISS or SEG.ACK > SND.NXT is answered
    // <SEQ=SEG.ACK><CTL=RST>, and the connection stays in SYN-SENT.
    for bad in [iss.wrapping_add(5), iss, iss.wrapping_sub(1000)] {
        let syn_ack = Seg::new(PEER_PORT, port, PEER_ISS, bad, SYN | ACK);
        assert_eq!(rig.send(&syn_ack), [reset(bad)]);
        let ack = Seg::new(PEER_PORT, port, PEER_ISS, bad, ACK);
        assert_eq!(rig.send(&ack), [reset(bad)]);
        // A reset with an unacceptable ACK is dropped, not obeyed.
        assert_eq!(rig.send(&Seg::new(PEER_PORT, port, 0, bad, RST | ACK)), []);
        assert_eq!(rig.stack.tcp(handle).state(), TcpState::SynSent);
    }
    assert_eq!(rig.tcp_stats().tx_resets_bad_ack, 6);
    // A reset without ACK is dropped too; with an acceptable ACK it refuses.
    assert_eq!(rig.send(&Seg::new(PEER_PORT, port, 0, 0, RST)), []);
    assert_eq!(rig.stack.tcp(handle).state(), TcpState::SynSent);
    let refused = Seg::new(PEER_PORT, port, 0, iss.wrapping_add(1), RST | ACK);
    assert_eq!(rig.send(&refused), []);
    assert_eq!(rig.stack.tcp(handle).state(), TcpState::Closed);
    assert_eq!(
        rig.stack.tcp(handle).error(),
        Some(TcpError::ConnectionRefused)
    );
}

// ---------------------------------------------------------------------------
// RST and SYN on a synchronized connection (RFC 9293 §3.10.7.4, RFC 5961).

#[test]
fn a_reset_at_rcv_nxt_ends_the_connection() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn::default());
    assert_eq!(rig.send(&conn.seg(RST).no_timestamp()), []);
    let mut tcp = rig.stack.tcp(conn.handle);
    assert_eq!(tcp.state(), TcpState::Closed);
    assert_eq!(tcp.error(), Some(TcpError::ConnectionReset));
    assert_eq!(tcp.recv_slice(&mut [0; 8]), Err(TcpError::ConnectionReset));
    assert_eq!(tcp.send_slice(b"x"), Err(TcpError::ConnectionReset));
    let stats = rig.tcp_stats();
    assert_eq!((stats.rx_resets, stats.rx_resets_refused), (1, 0));
    // Nothing more is sent for it, ever.
    assert_eq!(rig.advance(Duration::from_secs(100)), []);
}

#[test]
fn a_reset_inside_the_window_but_not_at_rcv_nxt_earns_a_challenge_ack() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn::default());
    // RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, nothing else.
    for offset in [1, 4000, 8191] {
        let rst = conn
            .seg(RST)
            .no_timestamp()
            .seq(conn.seq.wrapping_add(offset));
        let sent = rig.send(&rst);
        let [ack] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        conn.assert_ack(ack, conn.ack);
        assert_eq!(ack.window, 8192);
        // The timestamp echoes the peer's last one (RFC 7323 §4.3).
        assert_eq!(ack.tsecr(), 1000);
        assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Established);
    }
    let stats = rig.tcp_stats();
    assert_eq!((stats.tx_challenge_acks, stats.rx_resets), (3, 0));
    assert_eq!(stats.rx_resets_challenged, 3);
    // The peer answers the challenge with a reset at RCV.NXT: now it counts.
    assert_eq!(rig.send(&conn.seg(RST).no_timestamp()), []);
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Closed);
}

#[test]
fn a_reset_outside_the_window_is_ignored_silently() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn::default());
    for seq in [
        conn.seq.wrapping_sub(1),
        conn.seq.wrapping_add(8192),
        conn.seq.wrapping_add(1 << 31),
    ] {
        assert_eq!(rig.send(&conn.seg(RST | ACK).seq(seq)), []);
        assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Established);
    }
    let stats = rig.tcp_stats();
    assert_eq!(stats.drop_out_of_window, 3);
    assert_eq!((stats.tx_challenge_acks, stats.rx_resets), (0, 0));
    assert_eq!(
        (stats.rx_resets_out_of_window, stats.rx_resets_challenged),
        (3, 0)
    );
}

#[test]
fn challenge_acks_are_limited_stack_wide() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let config = TcpConfig {
        challenge_acks_per_second: 2,
        ..TcpConfig::default()
    };
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    // One connection the stack opened, one it accepted.
    let one = rig.client(PeerSyn::default());
    let listener = rig.stack.tcp_listen(LISTEN_PORT, 1, 4096, 4096).unwrap();
    let two = rig.server(listener, PeerSyn::default(), CLIENT_PORT);
    let rst = |conn: &Conn| conn.seg(RST).no_timestamp().seq(conn.seq.wrapping_add(10));
    assert_eq!(rig.send(&rst(&one)).len(), 1);
    assert_eq!(rig.send(&rst(&two)).len(), 1);
    // The third, on either connection, within the second: held back.
    assert_eq!(rig.send(&rst(&one)), []);
    assert_eq!(rig.send(&rst(&two)), []);
    let stats = rig.tcp_stats();
    assert_eq!(
        (stats.tx_challenge_acks, stats.challenge_acks_limited),
        (2, 2)
    );
    // Half a second earns one more (2 a second); a second, the full bucket.
    rig.advance(Duration::from_millis(500));
    assert_eq!(rig.send(&rst(&one)).len(), 1);
    assert_eq!(rig.send(&rst(&one)), []);
    rig.advance(Duration::from_secs(1));
    assert_eq!(rig.send(&rst(&two)).len(), 1);
    assert_eq!(rig.send(&rst(&two)).len(), 1);
    assert_eq!(rig.send(&rst(&two)), []);
    assert_eq!(rig.stack.tcp(one.handle).state(), TcpState::Established);
    assert_eq!(rig.stack.tcp(two.handle).state(), TcpState::Established);
}

#[test]
fn a_syn_on_an_established_connection_earns_a_challenge_ack_not_a_reset() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn::default());
    // RFC 5961 §4.2: whatever its sequence number, a SYN is answered with
    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, never with a reset.
    for seq in [
        conn.seq,
        conn.seq.wrapping_add(100),
        conn.seq.wrapping_sub(5),
        conn.seq.wrapping_add(100_000),
    ] {
        for flags in [SYN, SYN | ACK] {
            let sent = rig.send(&conn.seg(flags).seq(seq));
            let [ack] = sent.as_slice() else {
                panic!("{sent:?}")
            };
            conn.assert_ack(ack, conn.ack);
            assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Established);
        }
    }
    let stats = rig.tcp_stats();
    assert_eq!(stats.tx_challenge_acks, 4);
    assert_eq!(stats.rx_resets + stats.tx_resets_bad_ack, 0);
    // The connection still carries data.
    let mut peer = conn;
    assert_eq!(rig.send(&peer.data(b"still here")).len(), 1);
    let mut buf = [0u8; 16];
    assert_eq!(rig.stack.tcp(conn.handle).recv_slice(&mut buf), Ok(10));
}

#[test]
fn an_ack_for_data_never_sent_is_answered_and_its_segment_dropped() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    rig.stack.tcp(conn.handle).send_slice(&[9; 100]).unwrap();
    let sent = rig.poll();
    assert_eq!(sent.len(), 1);
    let snd_nxt = conn.iss.wrapping_add(101);
    // RFC 9293 §3.10.7.4 fifth / RFC 5961 §5.2: SEG.ACK > SND.NXT.
    let mut data = conn.seg(ACK | PSH).payload(b"dropped").ack(snd_nxt + 1);
    let sent = rig.send(&data);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, snd_nxt);
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 0, "data dropped");
    assert_eq!(
        rig.stack.tcp(conn.handle).send_queue(),
        100,
        "nothing acked"
    );
    // The same data with an acceptable ACK is taken.
    data.ack = snd_nxt;
    let sent = rig.send(&data);
    conn.seq = conn.seq.wrapping_add(7);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, snd_nxt);
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 7);
    assert_eq!(rig.stack.tcp(conn.handle).send_queue(), 0);
}

#[test]
fn an_ack_older_than_the_largest_window_earns_a_challenge_ack() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    // MAX.SND.WND is 1000: the window of the SYN-ACK, the largest seen.
    let peer = PeerSyn {
        window: 1000,
        ..PeerSyn::default()
    };
    let mut conn = rig.client(peer);
    let snd_una = conn.ack;
    // RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND is challenged and
    // the segment dropped, data and all.
    let sent = rig.send(
        &conn
            .seg(ACK | PSH)
            .payload(b"old")
            .ack(snd_una.wrapping_sub(1001)),
    );
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, snd_una);
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 0);
    assert_eq!(rig.tcp_stats().tx_challenge_acks, 1);
    // SND.UNA - MAX.SND.WND itself is acceptable (a duplicate): taken.
    let sent = rig.send(&conn.data(b"fine").ack(snd_una.wrapping_sub(1000)));
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, snd_una);
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 4);
    assert_eq!(rig.tcp_stats().tx_challenge_acks, 1);
}

// ---------------------------------------------------------------------------
// The send window (RFC 9293 §3.10.7.4 fifth, §3.8.6.1).

#[test]
fn only_a_newer_segment_updates_the_send_window() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    let data = pattern(3000, 1);
    rig.stack.tcp(conn.handle).send_slice(&data).unwrap();
    // Two full segments; the 104-byte tail waits for them (Nagle).
    let sent = rig.poll();
    assert_eq!(
        sent.iter().map(|s| s.payload.len()).collect::<Vec<_>>(),
        [MSS_TS as usize; 2]
    );
    conn.ack = conn.iss.wrapping_add(1 + 2 * MSS_TS);
    // Out-of-order data from the peer acknowledges both and closes the
    // window: SND.WL1 moves to its sequence number, RCV.NXT does not.
    let ahead = conn
        .seg(ACK)
        .seq(conn.seq.wrapping_add(100))
        .payload(&[1; 10])
        .window(0);
    let sent = rig.send(&ahead);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, conn.ack);
    // In-order data is older (SEG.SEQ < SND.WL1): its open window is not
    // taken, so the tail stays queued; only the data is acknowledged.
    let sent = rig.send(&conn.data(&[2; 10]).window(30_000));
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, conn.ack);
    // So is an ACK at RCV.NXT, still below SND.WL1.
    assert_eq!(rig.send(&conn.seg(ACK).window(30_000)), []);
    // At SND.WL1, but acknowledging less than SND.WL2: still old.
    let older_ack = conn
        .seg(ACK)
        .seq(conn.seq.wrapping_add(90))
        .ack(conn.ack.wrapping_sub(1))
        .window(30_000);
    assert!(rig.send(&older_ack).iter().all(|s| s.payload.is_empty()));
    // A segment from SND.WL1 on with SEG.ACK >= SND.WL2 opens it.
    let newer = conn.seg(ACK).seq(conn.seq.wrapping_add(90)).window(30_000);
    let sent = rig.send(&newer);
    let [tail] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (tail.seq, tail.payload.as_slice()),
        (conn.ack, &data[2 * MSS_TS as usize..])
    );
    assert_eq!(tail.flags, ACK | PSH);
}

#[test]
fn an_old_segment_does_not_shrink_the_send_window() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    // Out-of-order data moves SND.WL1 ahead with the window open.
    let ahead = conn
        .seg(ACK)
        .seq(conn.seq.wrapping_add(100))
        .payload(&[1; 10]);
    assert_eq!(rig.send(&ahead).len(), 1);
    // An older segment saying "zero window" is not believed.
    let old = conn.data(&[2; 10]).window(0);
    assert_eq!(rig.send(&old).len(), 1);
    rig.stack.tcp(conn.handle).send_slice(&[3; 100]).unwrap();
    let sent = rig.poll();
    let [data] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((data.seq, data.payload.len()), (conn.ack, 100));
}

// ---------------------------------------------------------------------------
// SACK (RFC 2018, RFC 6675, RFC 2883).

#[test]
fn out_of_order_data_is_acknowledged_at_once_with_sack_blocks() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn::default());
    let at = |offset: u32| conn.seq.wrapping_add(offset);
    let piece = |offset: u32, len: usize| conn.seg(ACK).seq(at(offset)).payload(&pattern(len, 9));
    // Each out-of-order arrival is acknowledged at once (RFC 5681 §4.2),
    // RCV.NXT unchanged, the block holding the newest data first (RFC 2018 §4).
    let expect = |sent: Vec<Out>, ack: u32, first: (u32, u32), rest: &[(u32, u32)]| {
        let [out] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        assert_eq!((out.seq, out.ack, out.flags), (conn.ack, ack, ACK));
        assert!(out.payload.is_empty());
        // The in-order data waits unread in the ring; the rest is window.
        assert_eq!(u32::from(out.window), 8192 - ack.wrapping_sub(conn.seq));
        let blocks = out.sack_blocks();
        assert_eq!(blocks.first(), Some(&first), "{blocks:?}");
        let mut others = blocks[1..].to_vec();
        others.sort();
        assert_eq!(others, rest);
    };
    expect(rig.send(&piece(100, 100)), at(0), (at(100), at(200)), &[]);
    expect(
        rig.send(&piece(300, 100)),
        at(0),
        (at(300), at(400)),
        &[(at(100), at(200))],
    );
    expect(
        rig.send(&piece(500, 50)),
        at(0),
        (at(500), at(550)),
        &[(at(100), at(200)), (at(300), at(400))],
    );
    // Filling between two blocks joins them; that block comes first.
    expect(
        rig.send(&piece(200, 100)),
        at(0),
        (at(100), at(400)),
        &[(at(500), at(550))],
    );
    // Filling the front moves RCV.NXT up to the next hole.
    expect(rig.send(&piece(0, 100)), at(400), (at(500), at(550)), &[]);
    // The last hole: no block left, no SACK option.
    let sent = rig.send(&piece(400, 100));
    let [out] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((out.ack, out.options.sack), (at(550), None));
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 550);
}

// ---------------------------------------------------------------------------
// Timestamps and PAWS (RFC 7323).

#[test]
fn paws_drops_a_segment_with_an_old_timestamp_and_acknowledges() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    let first = conn.data(b"fresh").timestamp(5000, 0);
    let sent = rig.send(&first);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, conn.ack);
    // TSecr echoes the TSval of the segment that moved RCV.NXT (§4.3).
    assert_eq!(ack.tsecr(), 5000);
    // RFC 7323 §5.3 R1: TSval < TS.Recent. Dropped, and acknowledged with
    // the current RCV.NXT and TS.Recent.
    let stale = conn.seg(ACK | PSH).payload(b"stale").timestamp(4999, 0);
    let sent = rig.send(&stale);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, conn.ack);
    assert_eq!(ack.tsecr(), 5000);
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 5);
    assert_eq!(rig.tcp_stats().drop_paws, 1);
    // Across the wrap of the timestamp clock, "older" is modular.
    let wrapped = conn
        .data(b"later")
        .timestamp(5000u32.wrapping_add(1 << 30), 0);
    let sent = rig.send(&wrapped);
    assert_eq!(sent[0].tsecr(), 5000 + (1 << 30));
    assert_eq!(rig.stack.tcp(conn.handle).recv_queue(), 10);
    // A reset is not subject to PAWS (§5.2): it still counts at RCV.NXT.
    assert_eq!(rig.send(&conn.seg(RST).timestamp(1, 0)), []);
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Closed);
}

#[test]
fn the_rtt_is_measured_from_the_echoed_timestamp() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut config = TcpConfig::default();
    config.rto.min = Duration::from_millis(10);
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    let mut conn = rig.client(PeerSyn::default());
    rig.stack.tcp(conn.handle).send_slice(b"timed").unwrap();
    let sent = rig.poll();
    let tsval = sent[0].tsval();
    // 100 ms later, the ACK echoes a TSval from 200 ms before the data:
    // the sample is now - TSecr = 300 ms, not the 100 ms the data took.
    rig.advance(Duration::from_millis(100));
    conn.ack = conn.ack.wrapping_add(5);
    let ack = conn.seg(ACK).timestamp(2000, tsval.wrapping_sub(200));
    assert_eq!(rig.send(&ack), []);
    // The handshake measured 0: SRTT 0, RTTVAR 0. Now (RFC 6298 §2.3)
    // RTTVAR = 300/4 = 75 ms, SRTT = 300/8 = 37.5 ms, RTO = 337.5 ms; but a
    // lone segment is resent first by a tail loss probe (RFC 8985 §7.2):
    // PTO = 2 SRTT + WCDelAckT (200 ms) = 275 ms, from the same SRTT.
    rig.stack.tcp(conn.handle).send_slice(b"lost").unwrap();
    let sent_at = rig.now;
    assert_eq!(rig.poll().len(), 1);
    let sent = rig.run(Duration::from_millis(400), Duration::from_millis(1));
    let [(at, resent)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(resent.payload, b"lost");
    assert_eq!((*at - sent_at).as_millis(), 275);
}

/// How long after it left `payload`, sent on `conn` (without timestamps
/// or SACK, so no loss probe comes first), it is resent by the timer: the
/// RTO the connection had.
fn first_resend_ms(rig: &mut Rig<'_>, conn: Conn, payload: &[u8]) -> u64 {
    rig.stack.tcp(conn.handle).send_slice(payload).unwrap();
    let sent_at = rig.now;
    let sent = rig.poll();
    let [seg] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (seg.payload.as_slice(), seg.options.timestamp),
        (payload, None)
    );
    let (at, sent) = rig.until_sent(Duration::from_secs(4), Duration::from_millis(1));
    let [resent] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((resent.seq, resent.payload.as_slice()), (seg.seq, payload));
    (at - sent_at).as_millis()
}

/// Without timestamps the handshake is the first round-trip sample (as
/// Linux takes it): a SYN, or a SYN-ACK, sent once and answered 100 ms
/// later makes the first data segment's RTO 100 + 4 * 50 = 300 ms (RFC
/// 6298 §2.2), not the initial 1 s, whether the peer declined the
/// timestamps offered or none were. A SYN or SYN-ACK resent gives no
/// sample (Karn), and the RTO the data starts with is then 3 s (§5.7).
#[test]
fn without_timestamps_the_handshake_gives_the_first_rtt_sample() {
    let peer = PeerSyn {
        rtt: Duration::from_millis(100),
        ..PeerSyn::plain()
    };
    let mut config = TcpConfig::default();
    config.rto.min = Duration::from_millis(10);
    for offer_timestamps in [true, false] {
        let (mut res, mut tcp) = (Resources::new(), Tcp::new());
        let config = TcpConfig {
            timestamps: offer_timestamps,
            ..config.clone()
        };
        let mut rig = Rig::new(&mut res, &mut tcp, config);
        let conn = rig.client(peer);
        assert_eq!(first_resend_ms(&mut rig, conn, b"active"), 300);
        let listener = rig.stack.tcp_listen(LISTEN_PORT, 1, 1024, 1024).unwrap();
        let conn = rig.server(listener, peer, CLIENT_PORT + 1);
        assert_eq!(first_resend_ms(&mut rig, conn, b"passive"), 300);
    }

    // The first SYN, or SYN-ACK, is lost: answered 100 ms after the resend,
    // so 100 ms or 1.1 s after it left, no telling which.
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    let peer = PeerSyn {
        first_lost: true,
        ..peer
    };
    let conn = rig.client(peer);
    assert_eq!(first_resend_ms(&mut rig, conn, b"active"), 3000);
    let listener = rig.stack.tcp_listen(LISTEN_PORT, 1, 1024, 1024).unwrap();
    let conn = rig.server(listener, peer, CLIENT_PORT + 1);
    assert_eq!(first_resend_ms(&mut rig, conn, b"passive"), 3000);
}

/// Karn's algorithm (RFC 6298 §3): without timestamps the ACK of a segment
/// that went twice cannot say which transmission it answers, so it must not
/// move SRTT, and the backed-off RTO stays for the next segment (§5.7); the
/// ACK of a segment sent once is a sample.
#[test]
fn without_timestamps_the_ack_of_a_resent_segment_gives_no_rtt_sample() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut config = TcpConfig::default();
    config.rto.min = Duration::from_millis(10);
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    // The peer's SYN-ACK carries no timestamps (nor SACK-permitted, so no
    // loss probe comes before the RTO): one segment at a time is timed. It
    // came 100 ms after the SYN, the first sample (§2.2): SRTT 100 ms,
    // RTTVAR 50 ms.
    let peer = PeerSyn {
        rtt: Duration::from_millis(100),
        ..PeerSyn::plain()
    };
    let mut conn = rig.client(peer);

    // A segment sent once, acknowledged 100 ms later, is a sample (§2.3):
    // SRTT 100 ms, RTTVAR 3/4 * 50 = 37.5 ms, RTO 100 + 4 * 37.5 = 250 ms.
    rig.stack.tcp(conn.handle).send_slice(b"timed").unwrap();
    assert_eq!(rig.poll().len(), 1);
    assert_eq!(rig.advance(Duration::from_millis(100)), []);
    conn.ack = conn.ack.wrapping_add(5);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    // The next segment is lost: resent after those 250 ms, and the RTO
    // backs off to 500 ms (§5.5).
    assert_eq!(first_resend_ms(&mut rig, conn, b"lost"), 250);
    // The resend is acknowledged 450 ms after the first transmission. As a
    // sample (450 ms from the first, or 200 from the second) it would make
    // the RTO 606 ms (or 325 ms); Karn's rule keeps SRTT, RTTVAR and the
    // backed-off 500 ms.
    assert_eq!(rig.advance(Duration::from_millis(200)), []);
    conn.ack = conn.ack.wrapping_add(4);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    assert_eq!(first_resend_ms(&mut rig, conn, b"next"), 500);
    assert_eq!(rig.tcp_stats().retransmissions, 2);
}

/// Karn's rule in loss recovery: a segment first sent during recovery is
/// acknowledged only once the holes below it are filled by retransmissions,
/// so that ACK times the retransmissions, not it, and gives no sample.
#[test]
fn without_timestamps_an_ack_that_covers_a_fast_retransmission_gives_no_rtt_sample() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut config = TcpConfig::default();
    config.rto.min = Duration::from_millis(10);
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    // No timestamps and no SACK: the handshake's 100 ms make the RTO 300 ms
    // (see above), and segments carry all 1460 bytes of the peer's MSS. The
    // send ring holds all 13 segments.
    let handle = rig.stack.add_tcp_socket(8192, 32768).unwrap();
    let peer = PeerSyn {
        rtt: Duration::from_millis(100),
        ..PeerSyn::plain()
    };
    let mut conn = rig.client_on(handle, peer);
    const MSS: u32 = 1460;
    let data = pattern(13 * MSS as usize, 8);
    assert_eq!(rig.stack.tcp(handle).send_slice(&data), Ok(data.len()));
    let sent = rig.poll();
    assert_eq!(sent.len(), 10, "the initial window is ten segments");
    let s: Vec<u32> = (0..13).map(|i| conn.ack.wrapping_add(i * MSS)).collect();
    let seqs = |sent: Vec<Out>| sent.iter().map(|seg| seg.seq).collect::<Vec<_>>();
    // Segments 0 and 5 are lost. The first two duplicate ACKs the others
    // draw each let a new segment out (RFC 3042), the third resends
    // segment 0, and recovery begins.
    assert_eq!(seqs(rig.send(&conn.seg(ACK))), [s[10]]);
    assert_eq!(seqs(rig.send(&conn.seg(ACK))), [s[11]]);
    assert_eq!(seqs(rig.send(&conn.seg(ACK))), [s[0]]);
    // 10 ms later the rest of the duplicates arrive; the eighth brings the
    // pipe below ssthresh (five segments) and lets segment 12 out, the one
    // now being timed.
    rig.advance(Duration::from_millis(10));
    let mut new_data = Vec::new();
    for _ in 3..8 {
        new_data.extend(seqs(rig.send(&conn.seg(ACK))));
    }
    assert_eq!(new_data, [s[12]]);
    // The partial ACK (RFC 6582) resends segment 5.
    rig.advance(Duration::from_millis(40));
    conn.ack = s[5];
    assert_eq!(seqs(rig.send(&conn.seg(ACK))), [s[5]]);
    // 100 ms after segment 12 left, its ACK comes, covering the resent
    // segment 5 too. As a sample it would make the RTO 250 ms.
    rig.advance(Duration::from_millis(60));
    conn.ack = s[12].wrapping_add(MSS);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    rig.stack.tcp(conn.handle).send_slice(b"next").unwrap();
    let sent_at = rig.now;
    assert_eq!(rig.poll().len(), 1);
    let (at, sent) = rig.until_sent(Duration::from_secs(2), Duration::from_millis(1));
    assert_eq!(seqs(sent), [conn.ack]);
    assert_eq!((at - sent_at).as_millis(), 300, "still the handshake's RTO");
}

// ---------------------------------------------------------------------------
// Listeners (RFC 9293 §3.10.7.2) and the options of the handshake.

#[test]
fn a_full_backlog_drops_syns_silently_until_accept_makes_room() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let listener = rig.stack.tcp_listen(LISTEN_PORT, 2, 1024, 1024).unwrap();
    let syn = |port: u16| {
        let mut syn = Seg::new(port, LISTEN_PORT, PEER_ISS, 0, SYN);
        syn.opts = PeerSyn::default().options(1000, 0);
        syn
    };
    // Each SYN-ACK: <SEQ=ISS><ACK=SEG.SEQ+1><CTL=SYN,ACK>, the window of the
    // ring, and the options the SYN offered, timestamps echoing its TSval.
    let mut first = None;
    for port in [CLIENT_PORT, CLIENT_PORT + 1] {
        let sent = rig.send(&syn(port));
        let [syn_ack] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        assert_eq!((syn_ack.src_port, syn_ack.dst_port), (LISTEN_PORT, port));
        assert_eq!(
            (syn_ack.ack, syn_ack.flags),
            (PEER_ISS.wrapping_add(1), SYN | ACK)
        );
        assert_eq!(syn_ack.window, 1024);
        assert_eq!(syn_ack.options.mss, Some(1460));
        assert_eq!(syn_ack.options.window_scale, Some(0));
        assert!(syn_ack.options.sack_permitted);
        assert_eq!(syn_ack.tsecr(), 1000);
        assert!(syn_ack.payload.is_empty());
        first.get_or_insert(syn_ack.seq);
    }
    let backlog = |rig: &Rig<'_>| {
        let Backlog { half_open, ready } = rig.stack.tcp_backlog(listener);
        (half_open, ready)
    };
    assert_eq!(backlog(&rig), (2, 0));
    // The third waits in the peer's retransmission queue: no SYN-ACK, no RST.
    assert_eq!(rig.send(&syn(CLIENT_PORT + 2)), []);
    assert_eq!(backlog(&rig), (2, 0));
    let stats = rig.tcp_stats();
    assert_eq!((stats.drop_backlog_full, stats.tx_resets_no_socket), (1, 0));
    // The first completes and is accepted: room for one more.
    let ack = Seg::new(
        CLIENT_PORT,
        LISTEN_PORT,
        PEER_ISS.wrapping_add(1),
        first.unwrap().wrapping_add(1),
        ACK,
    )
    .timestamp(1001, 0);
    assert_eq!(rig.send(&ack), []);
    // Established but not accepted still counts against the backlog.
    assert_eq!(backlog(&rig), (1, 1));
    assert_eq!(rig.send(&syn(CLIENT_PORT + 2)), []);
    assert_eq!(rig.tcp_stats().drop_backlog_full, 2);
    let accepted = rig.stack.tcp_accept(listener).expect("one established");
    assert_eq!(backlog(&rig), (1, 0));
    assert_eq!(rig.stack.tcp(accepted).state(), TcpState::Established);
    assert_eq!(
        rig.stack.tcp_accept(listener),
        None,
        "the other is SYN-RECEIVED"
    );
    let sent = rig.send(&syn(CLIENT_PORT + 2));
    let [syn_ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (syn_ack.dst_port, syn_ack.flags),
        (CLIENT_PORT + 2, SYN | ACK)
    );
}

/// SYN cookies (RFC 4987 §3.6, `tcp::syn_cookie`) for a full listener.
#[cfg(feature = "syn-cookies")]
mod syn_cookies {
    use super::*;

    /// A rig whose stack answers a full listener with SYN cookies, and the
    /// listener: backlog 1, a 1024-byte receive ring, a 4096-byte send ring.
    fn cookie_rig<'a>(res: &'a mut Resources, tcp: &'a mut Tcp) -> (Rig<'a>, ListenerHandle) {
        let config = TcpConfig {
            syn_cookies: true,
            ..TcpConfig::default()
        };
        let mut rig = Rig::new(res, tcp, config);
        let listener = rig.stack.tcp_listen(LISTEN_PORT, 1, 1024, 4096).unwrap();
        (rig, listener)
    }

    /// The peer's SYN from `port`, offering everything: MSS 1400, window
    /// scale 7, SACK, timestamps.
    fn full_syn(port: u16) -> Seg {
        let mut syn = Seg::new(port, LISTEN_PORT, PEER_ISS, 0, SYN);
        syn.opts = PeerSyn {
            mss: Some(1400),
            window_scale: Some(7),
            ..PeerSyn::default()
        }
        .options(1000, 0);
        syn
    }

    /// The peer's ACK completing the handshake from `port` whose SYN-ACK
    /// had sequence number `syn_ack_seq`.
    fn third_ack(port: u16, syn_ack_seq: u32) -> Seg {
        Seg::new(
            port,
            LISTEN_PORT,
            PEER_ISS.wrapping_add(1),
            syn_ack_seq.wrapping_add(1),
            ACK,
        )
    }

    #[test]
    fn syn_cookies_answer_a_full_listener_and_the_returning_ack_makes_the_connection() {
        let (mut res, mut tcp) = (Resources::new(), Tcp::new());
        let (mut rig, listener) = cookie_rig(&mut res, &mut tcp);
        // A half-open connection fills the backlog: its SYN-ACK offers it all.
        let half_open = only_segment(rig.send(&full_syn(CLIENT_PORT)));
        assert_eq!(half_open.options.window_scale, Some(0));
        // The next SYN gets a cookie: <SEQ=cookie><ACK=SEG.SEQ+1><CTL=SYN,ACK>,
        // the listener's window, our MSS and no other option.
        let cookie = only_segment(rig.send(&full_syn(CLIENT_PORT + 1)));
        assert_eq!(
            (cookie.dst_port, cookie.ack, cookie.flags, cookie.window),
            (CLIENT_PORT + 1, PEER_ISS.wrapping_add(1), SYN | ACK, 1024)
        );
        assert_eq!(
            cookie.options,
            SegmentOptions {
                mss: Some(1460),
                ..SegmentOptions::default()
            }
        );
        assert_eq!(
            (
                rig.tcp_stats().tx_syn_cookies,
                rig.tcp_stats().drop_backlog_full
            ),
            (1, 0)
        );
        // Nothing was kept: the listener still has only the half-open one.
        assert_eq!(rig.stack.tcp_accept(listener), None);

        // The peer's ACK returns the cookie, with data: the connection is made
        // in the half-open one's place, established, its data delivered.
        let mut ack = third_ack(CLIENT_PORT + 1, cookie.seq)
            .window(2000)
            .payload(b"hello");
        ack.flags |= PSH;
        rig.send(&ack);
        assert_eq!(rig.tcp_stats().rx_syn_cookies, 1);
        let handle = rig
            .stack
            .tcp_accept(listener)
            .expect("made from the cookie");
        assert_eq!(rig.stack.tcp(handle).state(), TcpState::Established);
        let mut buf = [0u8; 16];
        let n = rig.stack.tcp(handle).recv_slice(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");

        // It runs without the options the cookie could not carry: segments of
        // the MSS the cookie recorded (1400), no timestamps, unscaled windows.
        // The peer's window field is taken unscaled too (its SYN offered a
        // shift of 7, which the cookie's SYN-ACK did not accept): 2000 bytes,
        // one full segment, and the 600 left wait for the window to open
        // (RFC 9293 §3.8.6.2.1; scaled, 1400 + 1400 would have gone).
        rig.stack.tcp(handle).send_slice(&pattern(3000, 1)).unwrap();
        let sent = rig.poll();
        let lens: Vec<usize> = sent.iter().map(|s| s.payload.len()).collect();
        assert_eq!(lens, [1400], "{sent:?}");
        assert_eq!(sent[0].seq, cookie.seq.wrapping_add(1));
        assert_eq!(sent[0].ack, PEER_ISS.wrapping_add(6));
        assert!(sent.iter().all(|s| s.options == SegmentOptions::default()));
        assert!(sent.iter().all(|s| s.window <= 1024));

        // The evicted half-open peer completing its own handshake now finds no
        // connection, and its ISN is no cookie: a reset.
        let late = third_ack(CLIENT_PORT, half_open.seq);
        let reset = only_segment(rig.send(&late));
        assert_eq!(
            (reset.flags, reset.seq),
            (RST, half_open.seq.wrapping_add(1))
        );
    }

    #[test]
    fn forged_misplaced_and_stale_cookies_make_no_connection() {
        let (mut res, mut tcp) = (Resources::new(), Tcp::new());
        let (mut rig, listener) = cookie_rig(&mut res, &mut tcp);
        only_segment(rig.send(&full_syn(CLIENT_PORT)));
        let cookie = only_segment(rig.send(&full_syn(CLIENT_PORT + 1))).seq;
        let ack = |seq: u32, ack: u32| Seg::new(CLIENT_PORT + 1, LISTEN_PORT, seq, ack, ACK);
        let peer_next = PEER_ISS.wrapping_add(1);
        // Each is answered as a stray: a reset at its SEG.ACK.
        for (seq, forged) in [
            (peer_next, cookie.wrapping_add(2)),
            (peer_next, cookie),
            (peer_next, cookie ^ 0x0100_0000),
            (peer_next.wrapping_add(1), cookie.wrapping_add(1)),
        ] {
            let reset = only_segment(rig.send(&ack(seq, forged)));
            assert_eq!((reset.flags, reset.seq), (RST, forged));
        }
        // The same cookie from another port.
        let mut other = ack(peer_next, cookie.wrapping_add(1));
        other.src_port = CLIENT_PORT + 2;
        assert_eq!(only_segment(rig.send(&other)).flags, RST);
        // The right ACK, but 130 s later: the cookie has expired. (The
        // half-open connection's SYN-ACK is due again by then too.)
        rig.now += Duration::from_secs(130);
        let sent = rig.send(&ack(peer_next, cookie.wrapping_add(1)));
        let to_peer: Vec<&Out> = sent
            .iter()
            .filter(|s| s.dst_port == CLIENT_PORT + 1)
            .collect();
        assert!(
            matches!(to_peer[..], [reset] if reset.flags == RST),
            "{sent:?}"
        );
        let stats = rig.tcp_stats();
        assert_eq!((stats.rx_syn_cookies, stats.tx_resets_no_socket), (0, 6));
        assert_eq!(rig.stack.tcp_accept(listener), None);
    }

    #[test]
    fn a_cookie_waits_while_the_backlog_holds_unaccepted_connections() {
        let (mut res, mut tcp) = (Resources::new(), Tcp::new());
        let (mut rig, listener) = cookie_rig(&mut res, &mut tcp);
        // The backlog's place is taken by an established, unaccepted connection.
        let first = only_segment(rig.send(&full_syn(CLIENT_PORT)));
        let complete =
            third_ack(CLIENT_PORT, first.seq).timestamp(1001, first.options.timestamp.unwrap().0);
        assert_eq!(rig.send(&complete), []);
        let cookie = only_segment(rig.send(&full_syn(CLIENT_PORT + 1))).seq;
        let ack = third_ack(CLIENT_PORT + 1, cookie);
        // A valid cookie with no place for it: dropped, not reset, so the
        // peer's retransmission can try again.
        assert_eq!(rig.send(&ack), []);
        assert_eq!(rig.tcp_stats().drop_backlog_full, 1);
        let accepted = rig.stack.tcp_accept(listener).unwrap();
        assert_eq!(rig.stack.tcp(accepted).state(), TcpState::Established);
        // Accepting made room: the retransmitted ACK makes the connection.
        rig.send(&ack);
        assert_eq!(rig.tcp_stats().rx_syn_cookies, 1);
        let from_cookie = rig.stack.tcp_accept(listener).unwrap();
        assert_eq!(rig.stack.tcp(from_cookie).state(), TcpState::Established);
        assert_ne!(from_cookie, accepted);
    }
}

#[test]
fn the_peers_mss_bounds_every_segment() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    // RFC 9293 §3.7.1: our SYN offers the route's MSS (1500 - 40); the peer
    // offers 536, and without timestamps a segment carries all of it.
    let conn = rig.client(PeerSyn {
        mss: Some(536),
        ..PeerSyn::plain()
    });
    rig.stack
        .tcp(conn.handle)
        .send_slice(&pattern(3000, 4))
        .unwrap();
    let sent = rig.poll();
    let lens: Vec<usize> = sent.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [536; 5], "the 320-byte tail waits (Nagle)");
    assert!(sent.iter().all(|s| s.options == SegmentOptions::default()));
    // With timestamps, the option's 12 bytes come out of the 536.
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn {
        mss: Some(536),
        ..PeerSyn::default()
    });
    rig.stack
        .tcp(conn.handle)
        .send_slice(&pattern(3000, 4))
        .unwrap();
    let lens: Vec<usize> = rig.poll().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [524; 5]);
    // No MSS option: 536 (RFC 9293 §3.7.1, MUST-15).
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn {
        mss: None,
        ..PeerSyn::plain()
    });
    rig.stack
        .tcp(conn.handle)
        .send_slice(&pattern(3000, 4))
        .unwrap();
    let lens: Vec<usize> = rig.poll().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [536; 5]);
}

/// RFC 9293 §3.7.1 (MUST-14) and RFC 1122 §4.2.2.6: the MSS each SYN offers
/// is what the interface carries less 40 bytes of IPv4 and TCP headers, and
/// no segment we send outgrows it, however large the peer's MSS: a segment
/// built for 1500 bytes on a smaller link would be dropped (or fragmented)
/// on every send. Congestion control counts in the same SMSS. The driver
/// states the largest frame, Ethernet header included
/// (`Capabilities::max_transmission_unit`).
#[test]
fn the_interface_mtu_sets_the_mss_we_offer_and_bounds_every_segment() {
    // IPv6's minimum link MTU, a common tunnel size; and IPv4's 576.
    for ip_mtu in [1280u16, 576] {
        let mss = ip_mtu - 40;
        let mut small_link = driver(MAC_A);
        let mut caps = embassy_net_driver::Capabilities::default();
        caps.max_transmission_unit = 14 + usize::from(ip_mtu);
        small_link.caps = Some(caps);
        let (mut res, mut tcp) = (Resources::new(), Tcp::new());
        let mut rig = Rig::with_driver(&mut res, &mut tcp, TcpConfig::default(), small_link);
        let data = pattern(13 * usize::from(mss), 5);

        // A connection we open, to a peer offering 1460 and no timestamps:
        // our SYN offers the link's MSS, and data goes in segments of it,
        // ten in the initial window (RFC 6928: 10 * SMSS, the link's MSS).
        // The send ring holds 13 of them.
        let handle = rig.stack.add_tcp_socket(8192, 16384).unwrap();
        let (conn, syn) = rig.client_handshake(handle, PeerSyn::plain());
        assert_eq!(syn.options.mss, Some(mss), "{syn:?}");
        rig.stack.tcp(conn.handle).send_slice(&data).unwrap();
        let lens: Vec<usize> = rig.poll().iter().map(|s| s.payload.len()).collect();
        assert_eq!(lens, [usize::from(mss); 10], "MTU {ip_mtu}");

        // A connection the peer opens, offering 1460 and timestamps: our
        // SYN-ACK offers the link's MSS, the timestamp option's 12 bytes come
        // out of each segment's payload, and the initial window is again
        // 10 * SMSS: ten segments (the 120 bytes left of it would be a sliver).
        let listener = rig.stack.tcp_listen(LISTEN_PORT, 1, 8192, 16384).unwrap();
        let (conn, syn_ack) = rig.server_handshake(listener, PeerSyn::default(), CLIENT_PORT);
        assert_eq!(syn_ack.options.mss, Some(mss), "{syn_ack:?}");
        rig.stack.tcp(conn.handle).send_slice(&data).unwrap();
        let sent = rig.poll();
        assert!(sent.iter().all(|s| s.options.timestamp.is_some()));
        let lens: Vec<usize> = sent.iter().map(|s| s.payload.len()).collect();
        assert_eq!(lens, [usize::from(mss) - 12; 10], "MTU {ip_mtu}");
    }
}

#[test]
fn window_scaling_applies_to_both_directions_once_agreed() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    // A 100 000-byte receive ring needs a shift of 1 to be advertised whole.
    let handle = rig.stack.add_tcp_socket(100_000, 16_384).unwrap();
    rig.stack.tcp(handle).connect((IP_B, PEER_PORT), 0).unwrap();
    let sent = rig.poll();
    let [syn] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    // The SYN's own window is never scaled (RFC 7323 §2.2).
    assert_eq!((syn.options.window_scale, syn.window), (Some(1), 65535));
    let mut syn_ack = Seg::new(
        PEER_PORT,
        syn.src_port,
        PEER_ISS,
        syn.seq.wrapping_add(1),
        SYN | ACK,
    )
    .window(1000);
    syn_ack.opts = PeerSyn {
        window_scale: Some(2),
        ..PeerSyn::default()
    }
    .options(1000, syn.tsval());
    let sent = rig.send(&syn_ack);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(ack.window, 50_000, "100 000 >> 1");
    let mut conn = Conn {
        handle,
        port: syn.src_port,
        peer_port: PEER_PORT,
        iss: syn.seq,
        seq: PEER_ISS.wrapping_add(1),
        ack: syn.seq.wrapping_add(1),
        ts: Some((1001, ack.tsval())),
        window: 1000,
    };
    // From now on the peer's 1000 means 4000 bytes: two full segments fit;
    // the rest of the window (1104 bytes) is too little to send (RFC 9293
    // §3.8.6.2.1) while data is in flight.
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    rig.stack.tcp(handle).send_slice(&pattern(6000, 5)).unwrap();
    let lens: Vec<usize> = rig.poll().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [MSS_TS as usize; 2]);
    // Acknowledging both slides the window by as much.
    conn.ack = conn.ack.wrapping_add(2 * MSS_TS);
    let lens: Vec<usize> = rig
        .send(&conn.seg(ACK))
        .iter()
        .map(|s| s.payload.len())
        .collect();
    assert_eq!(lens, [MSS_TS as usize; 2]);

    // Without the peer's agreement neither side scales: the SYN-ACK has no
    // option, so our window is capped at 65535.
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let handle = rig.stack.add_tcp_socket(100_000, 16_384).unwrap();
    rig.stack.tcp(handle).connect((IP_B, PEER_PORT), 0).unwrap();
    let sent = rig.poll();
    let syn = &sent[0];
    let mut syn_ack = Seg::new(
        PEER_PORT,
        syn.src_port,
        PEER_ISS,
        syn.seq.wrapping_add(1),
        SYN | ACK,
    );
    syn_ack.opts = PeerSyn::plain().options(0, 0);
    let sent = rig.send(&syn_ack);
    assert_eq!(sent[0].window, 65535);
    assert_eq!(sent[0].options, SegmentOptions::default());
}

// ---------------------------------------------------------------------------
// When ACKs and small segments go (RFC 5681 §4.2, RFC 9293 §3.7.4).

#[test]
fn acks_are_delayed_for_one_segment_and_sent_for_every_second() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    let full = pattern(1448, 7);
    // One full segment: the ACK waits delayed_ack (40 ms).
    assert_eq!(rig.send(&conn.data(&full).window(65535)), []);
    let start = rig.now;
    let sent = rig.run(Duration::from_millis(100), Duration::from_millis(1));
    let [(at, ack)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((*at - start).as_millis(), 40);
    conn.assert_ack(ack, conn.ack);
    // Two: the second is acknowledged at once, both together.
    assert_eq!(rig.send(&conn.data(&full)), []);
    let sent = rig.send(&conn.data(&full));
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, conn.ack);
    assert_eq!(
        rig.run(Duration::from_millis(100), Duration::from_millis(1)),
        []
    );
    // Data to send takes the ACK along, without waiting.
    assert_eq!(rig.send(&conn.data(&full)), []);
    rig.stack.tcp(conn.handle).send_slice(b"reply").unwrap();
    let sent = rig.poll();
    let [reply] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (reply.ack, reply.payload.as_slice()),
        (conn.seq, &b"reply"[..])
    );
}

#[test]
fn nagle_holds_a_small_segment_while_data_is_in_flight() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    let mut tcp = rig.stack.tcp(conn.handle);
    tcp.send_slice(b"first").unwrap();
    let sent = rig.poll();
    let [first] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (first.seq, first.payload.as_slice()),
        (conn.ack, &b"first"[..])
    );
    assert_eq!(first.flags, ACK | PSH);
    rig.stack.tcp(conn.handle).send_slice(b"second").unwrap();
    rig.stack.tcp(conn.handle).send_slice(b"third").unwrap();
    assert_eq!(rig.poll(), [], "held while 'first' is unacknowledged");
    // The ACK of the first releases the rest, as one segment.
    conn.ack = conn.ack.wrapping_add(5);
    conn.tick(first);
    let sent = rig.send(&conn.seg(ACK));
    let [rest] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (rest.seq, rest.payload.as_slice()),
        (conn.ack, &b"secondthird"[..])
    );
    // With Nagle off, a small write goes at once even with data in flight.
    rig.stack.tcp(conn.handle).set_nodelay(true);
    rig.stack.tcp(conn.handle).send_slice(b"now").unwrap();
    let sent = rig.poll();
    let [now] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (now.seq, now.payload.as_slice()),
        (conn.ack.wrapping_add(11), &b"now"[..])
    );
}

// ---------------------------------------------------------------------------
// Timers: keepalive (RFC 9293 §3.8.4), user timeout (RFC 5482), TIME-WAIT.

#[test]
fn keepalive_probes_an_idle_peer_and_gives_up_when_it_is_gone() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let config = TcpConfig {
        keepalive_probes: 2,
        ..TcpConfig::default()
    };
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    let mut conn = rig.client(PeerSyn::default());
    rig.stack
        .tcp(conn.handle)
        .set_keepalive(Some(Duration::from_secs(10)));
    let start = rig.now;
    let sent = rig.run(Duration::from_secs(15), Duration::from_millis(100));
    let [(at, probe)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((*at - start).as_millis(), 10_000);
    // <SEQ=SND.NXT-1><ACK=RCV.NXT><CTL=ACK>, no data: the peer must answer.
    conn.assert_ack(probe, conn.ack.wrapping_sub(1));
    // The peer answers: the connection is idle again from now.
    conn.tick(probe);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    let answered = rig.now;
    // Silence: probes every 10 s, and after two unanswered ones the third
    // interval ends it.
    let sent = rig.run(Duration::from_secs(40), Duration::from_millis(100));
    let times: Vec<u64> = sent
        .iter()
        .map(|(at, _)| (*at - answered).as_millis())
        .collect();
    assert_eq!(times, [10_000, 20_000]);
    let mut tcp = rig.stack.tcp(conn.handle);
    assert_eq!(tcp.state(), TcpState::Closed);
    assert_eq!(tcp.error(), Some(TcpError::TimedOut));
    assert_eq!(rig.tcp_stats().timeouts, 1);
}

/// A client that has sent ten full segments the peer has not acknowledged;
/// returns the connection and the start of each segment.
fn ten_segments_in_flight(rig: &mut Rig<'_>, peer: PeerSyn) -> (Conn, Vec<u32>) {
    let mut conn = rig.client(peer);
    let data = pattern(10 * MSS_TS as usize, 3);
    rig.stack.tcp(conn.handle).send_slice(&data).unwrap();
    let sent = rig.poll();
    assert_eq!(sent.len(), 10, "the initial window is ten segments");
    let starts: Vec<u32> = sent.iter().map(|s| s.seq).collect();
    for (i, seg) in sent.iter().enumerate() {
        assert_eq!(seg.seq, conn.ack.wrapping_add(i as u32 * MSS_TS));
        assert_eq!(seg.payload.len(), MSS_TS as usize);
    }
    conn.tick(&sent[9]);
    (conn, starts)
}

#[test]
fn the_third_duplicate_ack_retransmits_at_once_however_much_is_in_flight() {
    for peer in [
        PeerSyn::default(),
        PeerSyn {
            sack: false,
            ..PeerSyn::default()
        },
    ] {
        let (mut res, mut tcp) = (Resources::new(), Tcp::new());
        let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
        let (conn, s) = ten_segments_in_flight(&mut rig, peer);
        // The first segment is lost, the next three arrive: three duplicate
        // ACKs. The third retransmits it at once (RFC 5681 §3.2 step 3),
        // although the flight is twice the new cwnd (FlightSize / 2).
        let dup = |sacked: usize| {
            let seg = conn.seg(ACK);
            if peer.sack {
                seg.sack(&[(s[1], s[1 + sacked])])
            } else {
                seg
            }
        };
        assert_eq!(rig.send(&dup(1)), []);
        assert_eq!(rig.send(&dup(2)), []);
        let sent = rig.send(&dup(3));
        let [resent] = sent.as_slice() else {
            panic!("{sent:?}")
        };
        assert_eq!((resent.seq, resent.payload.len()), (s[0], MSS_TS as usize));
        let stats = rig.tcp_stats();
        // A SACK recovery only where SACK was agreed.
        let sack = u32::from(peer.sack);
        assert_eq!((stats.fast_recoveries, stats.sack_recoveries), (1, sack));
    }
}

/// NewReno (RFC 6582 §3.2): without SACK the sender learns of a second loss
/// in the window only from a partial ACK, and resends the next segment at
/// once (step 5) rather than waiting for three more duplicates or the RTO;
/// recovery lasts until the ACK covers `recover`, SND.MAX when it began.
#[test]
fn without_sack_a_partial_ack_resends_the_next_segment_and_a_full_ack_ends_recovery() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let peer = PeerSyn {
        sack: false,
        ..PeerSyn::default()
    };
    let (mut conn, s) = ten_segments_in_flight(&mut rig, peer);
    let recover = s[9].wrapping_add(MSS_TS);
    // Segments 0 and 5 are lost; 1-4 and 6-9 arrive, each drawing a
    // duplicate ACK. The third resends segment 0 (RFC 5681 §3.2).
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    let sent = rig.send(&conn.seg(ACK));
    let [resent] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((resent.seq, resent.payload.len()), (s[0], MSS_TS as usize));
    conn.tick(resent);
    // The other five say nothing new: nothing goes.
    for _ in 0..5 {
        assert_eq!(rig.send(&conn.seg(ACK)), []);
    }
    // The resent segment 0 fills the first hole: the peer acknowledges up
    // to the second, short of `recover`. Segment 5 goes again at once, and
    // alone: still in recovery, the partial ACK opens no window for more.
    conn.ack = s[5];
    let sent = rig.send(&conn.seg(ACK));
    let [resent] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((resent.seq, resent.payload.len()), (s[5], MSS_TS as usize));
    conn.tick(resent);
    let stats = rig.tcp_stats();
    assert_eq!((stats.fast_recoveries, stats.retransmissions), (1, 2));
    // The full ACK covers `recover`: recovery is over, so a new loss among
    // the next flight (ssthresh, five segments) starts a recovery of its own.
    conn.ack = recover;
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    let data = pattern(5 * MSS_TS as usize, 4);
    rig.stack.tcp(conn.handle).send_slice(&data).unwrap();
    let sent = rig.poll();
    let starts: Vec<u32> = sent.iter().map(|seg| seg.seq).collect();
    let expected: Vec<u32> = (0..5).map(|i| recover.wrapping_add(i * MSS_TS)).collect();
    assert_eq!(starts, expected);
    conn.tick(&sent[4]);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    let sent = rig.send(&conn.seg(ACK));
    let [resent] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (resent.seq, resent.payload.len()),
        (recover, MSS_TS as usize)
    );
    let stats = rig.tcp_stats();
    assert_eq!((stats.fast_recoveries, stats.retransmissions), (2, 3));
    // Both NewReno's: no SACK on this connection.
    assert_eq!(stats.sack_recoveries, 0);
}

#[test]
fn duplicate_sacks_do_not_start_recovery() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let (mut conn, s) = ten_segments_in_flight(&mut rig, PeerSyn::default());
    conn.ack = s[3];
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    // RFC 2883: a first block below the cumulative ACK reports a segment
    // received twice, not a loss. Three of them are no three duplicate ACKs.
    for _ in 0..4 {
        assert_eq!(rig.send(&conn.seg(ACK).sack(&[(s[1], s[2])])), []);
    }
    // One segment SACKed: a duplicate ACK with news, the first.
    assert_eq!(rig.send(&conn.seg(ACK).sack(&[(s[5], s[6])])), []);
    // A D-SACK inside the second block (RFC 2883 §4.1.3) is no news.
    for _ in 0..4 {
        let inside = conn.seg(ACK).sack(&[(s[5], s[6]), (s[5], s[6])]);
        assert_eq!(rig.send(&inside), []);
    }
    let stats = rig.tcp_stats();
    assert_eq!((stats.fast_recoveries, stats.retransmissions), (0, 0));
    // Two more duplicate ACKs make three (RFC 5681 §3.2): the hole goes.
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    let sent = rig.send(&conn.seg(ACK));
    assert_eq!(sent.first().map(|s| s.seq), Some(s[3]), "{sent:?}");
}

#[test]
fn sacked_segments_above_a_hole_start_recovery_and_the_hole_goes_first() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let (conn, s) = ten_segments_in_flight(&mut rig, PeerSyn::default());
    // Two segments SACKed above SND.UNA: not yet a loss (RFC 6675 §4:
    // more than (DupThresh - 1) * SMSS bytes must be SACKed).
    let two = conn.seg(ACK).sack(&[(s[1], s[3])]);
    assert_eq!(rig.send(&two), []);
    assert_eq!(rig.tcp_stats().fast_recoveries, 0);
    // A third: the first segment is lost and goes again at once, alone.
    let three = conn.seg(ACK).sack(&[(s[1], s[4])]);
    let sent = rig.send(&three);
    let [resent] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((resent.seq, resent.payload.len()), (s[0], MSS_TS as usize));
    assert_eq!(resent.ack, conn.seq);
    assert_eq!(rig.tcp_stats().fast_recoveries, 1);
    assert_eq!(rig.tcp_stats().retransmissions, 1);
    // Later SACKs report a second hole: it goes next, before new data.
    let later = conn.seg(ACK).sack(&[(s[5], s[8]), (s[1], s[4])]);
    let sent = rig.send(&later);
    assert_eq!(sent.first().map(|s| s.seq), Some(s[4]), "{sent:?}");
    assert_eq!(rig.tcp_stats().fast_recoveries, 1);
}

#[test]
fn a_zero_window_is_probed_with_one_byte_backing_off_until_it_opens() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut conn = rig.client(PeerSyn::default());
    let data = pattern(500, 2);
    rig.stack.tcp(conn.handle).send_slice(&data[..100]).unwrap();
    let sent = rig.poll();
    assert_eq!(sent[0].payload, &data[..100]);
    conn.ack = conn.ack.wrapping_add(100);
    conn.tick(&sent[0]);
    // The peer takes the 100 bytes and closes its window.
    assert_eq!(rig.send(&conn.seg(ACK).window(0)), []);
    rig.stack.tcp(conn.handle).send_slice(&data[100..]).unwrap();
    assert_eq!(rig.poll(), []);
    // RFC 9293 §3.8.6.1: probes of one byte, the first after an RTO (200 ms
    // after the handshake's measurement), then at doubling intervals, for as
    // long as the peer answers them.
    let start = rig.now;
    let mut probes = Vec::new();
    // More probes than max_retransmissions (12): an answering peer keeps
    // the connection open however long its window stays shut.
    for _ in 0..15 {
        let (at, sent) = rig.until_sent(Duration::from_secs(70), Duration::from_millis(100));
        let [probe] = sent.as_slice() else {
            panic!("one probe, not {sent:?}")
        };
        assert_eq!((probe.seq, probe.flags), (conn.ack, ACK));
        assert_eq!(probe.payload, &data[100..101]);
        probes.push((at - start).as_millis());
        // The peer drops the byte and repeats its zero window.
        conn.tick(probe);
        assert_eq!(rig.send(&conn.seg(ACK).window(0)), []);
    }
    assert_eq!(probes[..6], [200, 600, 1400, 3000, 6200, 12_600]);
    // The interval doubles up to the RTO's bound of 60 s.
    assert_eq!(probes[14] - probes[13], 60_000);
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Established);
    // The window opens: everything queued goes, starting with the probed byte.
    let sent = rig.send(&conn.seg(ACK).window(65535));
    let sent: Vec<u8> = sent.iter().flat_map(|s| s.payload.clone()).collect();
    assert_eq!(sent, &data[100..]);
}

#[test]
fn a_window_smaller_than_a_segment_is_still_used() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    // A tiny receiver: 700 bytes of window, ever. RFC 9293 §3.8.6.2.1 sends
    // when at least half the largest window seen can go.
    let mut conn = rig.client(PeerSyn {
        window: 700,
        ..PeerSyn::default()
    });
    let data = pattern(2000, 6);
    rig.stack.tcp(conn.handle).send_slice(&data).unwrap();
    let mut received = Vec::new();
    let mut lens = Vec::new();
    let mut sent = rig.poll();
    while let [seg] = sent.as_slice() {
        assert_eq!(seg.seq, conn.ack);
        lens.push(seg.payload.len());
        received.extend_from_slice(&seg.payload);
        conn.ack = conn.ack.wrapping_add(seg.payload.len() as u32);
        conn.tick(seg);
        sent = rig.send(&conn.seg(ACK));
    }
    assert_eq!(sent, []);
    assert_eq!(lens, [700, 700, 600]);
    assert!(received == data);
}

#[test]
fn a_repeated_syn_in_syn_received_gets_the_syn_ack_again() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    rig.stack.tcp_listen(LISTEN_PORT, 1, 1024, 1024).unwrap();
    let mut syn = Seg::new(CLIENT_PORT, LISTEN_PORT, PEER_ISS, 0, SYN);
    syn.opts = PeerSyn::default().options(1000, 0);
    let sent = rig.send(&syn);
    let [syn_ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    // The SYN-ACK was lost; the peer's SYN comes again: the same SYN-ACK
    // goes back at once, not an ACK the peer in SYN-SENT would drop.
    rig.advance(Duration::from_millis(100));
    syn.opts.timestamp = Some((1100, 0));
    let sent = rig.send(&syn);
    let [again] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        (again.seq, again.ack, again.flags),
        (syn_ack.seq, syn_ack.ack, SYN | ACK)
    );
    assert_eq!(again.options.mss, Some(1460));
    assert_eq!(again.tsecr(), 1100);
    assert_eq!(rig.tcp_stats().tx_challenge_acks, 0);
}

#[test]
fn the_user_timeout_ends_a_connection_whose_data_stays_unacknowledged() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let conn = rig.client(PeerSyn::default());
    rig.stack
        .tcp(conn.handle)
        // Rounded up to whole seconds: 3 s.
        .set_timeout(Some(Duration::from_millis(2500)));
    rig.stack.tcp(conn.handle).send_slice(b"hello?").unwrap();
    let sent_at = rig.now;
    assert_eq!(rig.poll().len(), 1);
    // Retransmissions at RTO 200, 400, 800, 1600 ms...; the user timeout,
    // not the retransmission due at the same moment, ends the connection.
    let mut ended = None;
    for _ in 0..4000 {
        rig.advance(Duration::from_millis(1));
        if rig.stack.tcp(conn.handle).state() == TcpState::Closed {
            ended = Some(rig.now - sent_at);
            break;
        }
    }
    assert_eq!(ended.map(|d| d.as_millis()), Some(3000));
    assert_eq!(rig.stack.tcp(conn.handle).error(), Some(TcpError::TimedOut));
    assert_eq!(rig.tcp_stats().timeouts, 1);
    assert_eq!(
        rig.tcp_stats().retransmissions,
        3,
        "at 200, 600 and 1400 ms"
    );
    assert_eq!(rig.stack.tcp_deadline(), None, "nothing left to time");
}

#[test]
fn time_wait_acknowledges_a_repeated_fin_and_lasts_its_time() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let config = TcpConfig {
        time_wait: Duration::from_secs(5),
        ..TcpConfig::default()
    };
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    let mut conn = rig.client(PeerSyn::default());
    rig.stack.tcp(conn.handle).close();
    let sent = rig.poll();
    let [fin] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((fin.seq, fin.flags), (conn.ack, FIN | ACK));
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::FinWait1);
    // The peer acknowledges our FIN and sends its own.
    conn.ack = conn.ack.wrapping_add(1);
    conn.tick(fin);
    let peer_fin = conn.seg(FIN | ACK);
    conn.seq = conn.seq.wrapping_add(1);
    let sent = rig.send(&peer_fin);
    let [ack] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(ack, conn.ack);
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::TimeWait);
    // Our ACK was lost: the FIN comes again 2 s later and is acknowledged
    // again, and TIME-WAIT starts over (RFC 9293 §3.10.7.4 eighth).
    rig.advance(Duration::from_secs(2));
    let sent = rig.send(&peer_fin);
    let [again] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    conn.assert_ack(again, conn.ack);
    let restarted = rig.now;
    rig.advance(Duration::from_millis(4999));
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::TimeWait);
    assert_eq!(rig.advance(Duration::from_millis(1)), []);
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Closed);
    assert_eq!(rig.now - restarted, Duration::from_secs(5));
    assert_eq!(rig.stack.tcp(conn.handle).error(), None);
    // The port's connection is gone: the FIN now meets a reset.
    let sent = rig.send(&peer_fin);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].flags, RST);
}

#[test]
fn a_syn_whose_syn_ack_has_no_route_does_not_hold_the_backlog() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    rig.stack.tcp_listen(LISTEN_PORT, 1, 1024, 1024).unwrap();
    // A SYN from beyond the subnet, and no gateway: no SYN-ACK can go.
    let mut frame = Seg::new(CLIENT_PORT, LISTEN_PORT, 7, 0, SYN).frame();
    let stranger = Ipv4Addr::new(192, 0, 2, 9);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_src_addr(stranger);
    ip.fill_checksum();
    let mut tcp = TcpPacket::new_unchecked(&mut frame[34..]);
    tcp.fill_checksum(&IpAddr::V4(stranger), &IpAddr::V4(IP_A));
    rig.driver.inbox.push_back(frame);
    assert_eq!(rig.poll(), []);
    assert_eq!(rig.stack.stats().ipv4.tx_no_route, 1);
    // The backlog's one place is still free for a peer that can be answered.
    rig.advance(Duration::from_secs(1));
    let sent = rig.send(&Seg::new(CLIENT_PORT, LISTEN_PORT, 9, 0, SYN));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].flags, SYN | ACK);
}

#[test]
fn keepalive_settings_leave_time_wait_to_end_on_time() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let config = TcpConfig {
        time_wait: Duration::from_secs(5),
        ..TcpConfig::default()
    };
    let mut rig = Rig::new(&mut res, &mut tcp, config);
    let mut conn = rig.client(PeerSyn::default());
    rig.stack.tcp(conn.handle).close();
    let sent = rig.poll();
    conn.ack = conn.ack.wrapping_add(1);
    conn.tick(&sent[0]);
    let fin = conn.seg(FIN | ACK);
    conn.seq = conn.seq.wrapping_add(1);
    assert_eq!(rig.send(&fin).len(), 1);
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::TimeWait);
    let entered = rig.now;
    // The application turns keepalive off (or on) while in TIME-WAIT.
    rig.stack.tcp(conn.handle).set_keepalive(None);
    rig.stack
        .tcp(conn.handle)
        .set_keepalive(Some(Duration::from_secs(1)));
    assert_eq!(
        rig.run(Duration::from_millis(4999), Duration::from_millis(1)),
        []
    );
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::TimeWait);
    assert_eq!(
        rig.advance(Duration::from_millis(1)),
        [],
        "no keepalive probe"
    );
    assert_eq!(rig.stack.tcp(conn.handle).state(), TcpState::Closed);
    assert_eq!(rig.now - entered, Duration::from_secs(5));
}

#[test]
fn segments_from_or_to_port_zero_are_dropped_as_malformed() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    rig.stack.tcp_listen(LISTEN_PORT, 1, 1024, 1024).unwrap();
    // A SYN from port 0 to a listener: no connection, no SYN-ACK.
    assert_eq!(rig.send(&Seg::new(0, LISTEN_PORT, 1, 0, SYN)), []);
    // Strays from or to port 0: no reset to port 0, none from it.
    assert_eq!(rig.send(&Seg::new(0, 81, 1, 2, ACK)), []);
    assert_eq!(rig.send(&Seg::new(CLIENT_PORT, 0, 1, 0, SYN)), []);
    let stats = rig.tcp_stats();
    assert_eq!((stats.drop_malformed, stats.tx_resets_no_socket), (3, 0));
    // The listener's one place is still free.
    assert_eq!(
        rig.send(&Seg::new(CLIENT_PORT, LISTEN_PORT, 1, 0, SYN))
            .len(),
        1
    );
}

#[test]
fn a_window_that_closes_and_reopens_during_recovery_resends_whole_segments() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let peer = PeerSyn {
        sack: false,
        ..PeerSyn::default()
    };
    let (conn, s) = ten_segments_in_flight(&mut rig, peer);
    // Three duplicate ACKs: recovery, the first segment resent.
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    assert_eq!(rig.send(&conn.seg(ACK)), []);
    assert_eq!(rig.send(&conn.seg(ACK)).len(), 1);
    // The window closes, and opens again: what went into the closed window
    // is sent again, from SND.UNA, in whole segments within the window
    // (ssthresh = 5 segments), not in a stream of runts.
    assert_eq!(rig.send(&conn.seg(ACK).window(0)), []);
    let sent = rig.send(&conn.seg(ACK));
    let starts: Vec<u32> = sent.iter().map(|seg| seg.seq).collect();
    assert_eq!(starts, s[..5]);
    assert!(sent.iter().all(|seg| seg.payload.len() == MSS_TS as usize));
    assert_eq!(rig.poll(), []);
}

// ---------------------------------------------------------------------------
// A neighbour that never answers ARP.

/// An address on A's subnet that nobody holds: the rig answers ARP for B
/// alone.
const GHOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 99);

#[test]
fn a_connect_to_a_host_that_never_answers_arp_holds_up_no_other_connection() {
    let (mut res, mut tcp) = (Resources::new(), Tcp::new());
    let mut rig = Rig::new(&mut res, &mut tcp, TcpConfig::default());
    let mut to_b = rig.client(PeerSyn::default());
    let ghost = rig.stack.add_tcp_socket(1024, 1024).unwrap();
    rig.stack.tcp(ghost).connect((GHOST, 80), 0).unwrap();
    // For 10 s ARP asks for the ghost and gives up (three requests a second
    // apart, then a 5 s hold in which its sends fail at once), while the
    // connection to B moves a segment each way every 100 ms, each at once.
    for round in 0..100u8 {
        rig.stack.tcp(to_b.handle).send_slice(&[round; 10]).unwrap();
        let sent = rig.advance(Duration::from_millis(100));
        let data: Vec<&Out> = sent.iter().filter(|s| s.dst_port == PEER_PORT).collect();
        assert!(
            matches!(data[..], [d] if d.payload == [round; 10]),
            "{:?} at round {round}",
            sent
        );
        to_b.ack = to_b.ack.wrapping_add(10);
        let reply = to_b.data(&[round; 3]);
        rig.send(&reply);
    }
    assert_eq!(rig.stack.stats().arp.resolution_failures, 1);
    // A connection we open outlasts ARP's failures (on a lossy link all
    // three requests can be lost); its own retransmission limit ends it.
    assert_eq!(rig.stack.tcp(ghost).state(), TcpState::SynSent);
    let mut buf = [0u8; 400];
    assert_eq!(rig.stack.tcp(to_b.handle).recv_slice(&mut buf), Ok(300));
}
