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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The stack under test with its driver and clock.
struct Rig<'a> {
    stack: Stack<'a>,
    driver: TestDriver,
    now: Instant,
}

impl<'a> Rig<'a> {
    fn new(resources: &'a mut Resources, tcp: &'a mut Tcp, config: TcpConfig) -> Self {
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
            driver: driver(MAC_A),
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

    /// Polls at the current time; returns the TCP segments sent.
    fn poll(&mut self) -> Vec<Out> {
        self.stack.poll(self.now, &mut self.driver);
        assert!(self.driver.inbox.is_empty());
        self.driver
            .outbox
            .drain(..)
            .filter_map(|frame| Out::read(&frame))
            .collect()
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
}

impl Default for PeerSyn {
    fn default() -> Self {
        PeerSyn {
            mss: Some(1460),
            window_scale: Some(0),
            sack: true,
            timestamps: true,
            window: 65535,
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
        let handle = self.stack.add_tcp_socket(8192, 8192).unwrap();
        self.client_on(handle, peer)
    }

    fn client_on(&mut self, handle: TcpHandle, peer: PeerSyn) -> Conn {
        self.stack
            .tcp(handle)
            .connect((IP_B, PEER_PORT), 0)
            .unwrap();
        let sent = self.poll();
        let [syn] = sent.as_slice() else {
            panic!("one SYN, not {sent:?}")
        };
        assert_eq!(syn.flags, SYN);
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
        conn
    }

    /// The peer opens a connection to the stack's listener; returns it accepted.
    fn server(&mut self, listener: ListenerHandle, peer: PeerSyn, peer_port: u16) -> Conn {
        let mut syn = Seg::new(peer_port, LISTEN_PORT, PEER_ISS, 0, SYN).window(peer.window);
        syn.opts = peer.options(1000, 0);
        let sent = self.send(&syn);
        let [syn_ack] = sent.as_slice() else {
            panic!("one SYN-ACK, not {sent:?}")
        };
        assert_eq!(syn_ack.flags, SYN | ACK);
        assert_eq!(syn_ack.ack, PEER_ISS.wrapping_add(1));
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
        assert_eq!(self.send(&conn.seg(ACK)), []);
        conn.handle = self
            .stack
            .tcp_accept(listener)
            .expect("an established connection");
        conn
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
    assert_eq!(sent, [expected.clone()]);
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
