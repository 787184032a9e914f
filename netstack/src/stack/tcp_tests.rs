//! TCP through the whole stack: two stacks on the in-memory test wire, with
//! crafted segments where a rule needs one.

extern crate std;

use std::vec::Vec;

use super::tests::{IP_A, IP_B, MAC_A, MAC_B, Resources, TestDriver, driver, stack_on};
use super::*;
use crate::tcp::{TcpError, TcpState};
use crate::time::Duration;
use crate::wire::tcp::{TcpFlags, TcpPacket};
use core::net::IpAddr;

type Tcp = TcpResources<4, 65536>;

/// Two stacks with TCP, the wire between them, and a clock.
struct Pair<'a> {
    a: Stack<'a>,
    b: Stack<'a>,
    da: TestDriver,
    db: TestDriver,
    now: Instant,
    /// Frames carried A→B and B→A so far.
    carried: (usize, usize),
}

impl<'a> Pair<'a> {
    fn new(ra: &'a mut Resources, rb: &'a mut Resources, ta: &'a mut Tcp, tb: &'a mut Tcp) -> Self {
        let mut a = stack_on(ra, MAC_A, IP_A);
        let mut b = stack_on(rb, MAC_B, IP_B);
        a.enable_tcp(ta);
        b.enable_tcp(tb);
        Self {
            a,
            b,
            da: driver(MAC_A),
            db: driver(MAC_B),
            now: Instant::from_secs(1),
            carried: (0, 0),
        }
    }

    /// One round: both stacks poll, frames cross, the clock moves 1 ms.
    fn step(&mut self) {
        self.a.poll(self.now, &mut self.da);
        self.b.poll(self.now, &mut self.db);
        self.carried.0 += self.da.outbox.len();
        self.carried.1 += self.db.outbox.len();
        self.db.inbox.extend(self.da.outbox.drain(..));
        self.da.inbox.extend(self.db.outbox.drain(..));
        self.now += Duration::from_millis(1);
    }

    /// Steps until `done` holds; panics after `limit` steps.
    fn run_until(&mut self, limit: usize, mut done: impl FnMut(&mut Self) -> bool) {
        for _ in 0..limit {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("condition not reached in {limit} steps");
    }
}

fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect()
}

#[test]
fn handshake_transfer_both_ways_and_orderly_close() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let listener = p.b.tcp_listen(80, 2, 8192, 8192).unwrap();
    let client = p.a.add_tcp_socket(8192, 8192).unwrap();
    p.a.tcp(client).connect((IP_B, 80), 0).unwrap();
    assert_eq!(p.a.tcp(client).state(), TcpState::SynSent);
    p.run_until(50, |p| p.a.tcp(client).state() == TcpState::Established);
    let mut server = None;
    p.run_until(50, |p| {
        server = p.b.tcp_accept(listener);
        server.is_some()
    });
    let server = server.unwrap();
    assert_eq!(p.b.tcp(server).state(), TcpState::Established);
    assert_eq!(
        p.b.tcp(server).remote_endpoint().unwrap().addr,
        IpAddr::V4(IP_A)
    );

    // 100 000 bytes A→B and 50 000 B→A at once, through 8 KiB rings.
    let (up, down) = (100_000usize, 50_000usize);
    let (mut sent_up, mut got_up, mut sent_down, mut got_down) = (0, 0, 0, 0);
    let mut received_up = Vec::new();
    let mut received_down = Vec::new();
    p.run_until(5_000, |p| {
        if sent_up < up {
            sent_up +=
                p.a.tcp(client)
                    .send_slice(&pattern(sent_up, (up - sent_up).min(3000)))
                    .unwrap();
        }
        if sent_down < down {
            sent_down +=
                p.b.tcp(server)
                    .send_slice(&pattern(sent_down, (down - sent_down).min(3000)))
                    .unwrap();
        }
        let mut buf = [0u8; 4096];
        let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
        received_up.extend_from_slice(&buf[..n]);
        got_up += n;
        let n = p.a.tcp(client).recv_slice(&mut buf).unwrap();
        received_down.extend_from_slice(&buf[..n]);
        got_down += n;
        got_up == up && got_down == down
    });
    assert!(received_up == pattern(0, up));
    assert!(received_down == pattern(0, down));

    // A closes first: FIN-WAIT, then B reads the end of stream and closes.
    p.a.tcp(client).close();
    p.run_until(100, |p| !p.b.tcp(server).may_recv());
    assert_eq!(p.b.tcp(server).state(), TcpState::CloseWait);
    p.run_until(3, |p| p.a.tcp(client).state() == TcpState::FinWait2);
    p.b.tcp(server).close();
    p.run_until(100, |p| p.b.tcp(server).state() == TcpState::Closed);
    assert_eq!(p.a.tcp(client).state(), TcpState::TimeWait);
    assert_eq!(p.b.tcp(server).error(), None);
    // TIME-WAIT ends after its configured time.
    let time_wait = Config::default().tcp.time_wait;
    p.now += time_wait;
    p.step();
    assert_eq!(p.a.tcp(client).state(), TcpState::Closed);
    assert_eq!(
        p.a.stats().tcp.retransmissions,
        0,
        "a clean wire needs no retransmission"
    );
    assert_eq!(
        p.a.stats().tcp.tx_resets_no_socket + p.b.stats().tcp.tx_resets_no_socket,
        0
    );
}

#[test]
fn a_syn_to_a_closed_port_is_reset_and_connect_reports_refused() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let client = p.a.add_tcp_socket(1024, 1024).unwrap();
    p.a.tcp(client).connect((IP_B, 81), 0).unwrap();
    p.run_until(50, |p| p.a.tcp(client).state() == TcpState::Closed);
    assert_eq!(p.a.tcp(client).error(), Some(TcpError::ConnectionRefused));
    assert_eq!(p.b.stats().tcp.tx_resets_no_socket, 1);
    let stats = &p.a.stats().tcp;
    assert_eq!((stats.rx_resets_refused, stats.rx_resets), (1, 0));
}

#[test]
fn lost_segments_are_retransmitted_and_the_stream_stays_exact() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let listener = p.b.tcp_listen(80, 1, 16384, 4096).unwrap();
    let client = p.a.add_tcp_socket(4096, 16384).unwrap();
    p.a.tcp(client).connect((IP_B, 80), 0).unwrap();
    let mut server = None;
    p.run_until(50, |p| {
        server = server.or_else(|| p.b.tcp_accept(listener));
        server.is_some() && p.a.tcp(client).state() == TcpState::Established
    });
    let server = server.unwrap();
    let total = 300_000usize;
    let (mut sent, mut received) = (0usize, Vec::new());
    let mut frame_count = 0u64;
    for _ in 0..60_000 {
        if sent < total {
            sent +=
                p.a.tcp(client)
                    .send_slice(&pattern(sent, (total - sent).min(4000)))
                    .unwrap();
        }
        let mut buf = [0u8; 8192];
        let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
        received.extend_from_slice(&buf[..n]);
        if received.len() == total {
            break;
        }
        p.a.poll(p.now, &mut p.da);
        p.b.poll(p.now, &mut p.db);
        // Drop every 13th frame in each direction.
        for frame in p.da.outbox.drain(..) {
            frame_count += 1;
            if frame_count % 13 != 0 {
                p.db.inbox.push_back(frame);
            }
        }
        for frame in p.db.outbox.drain(..) {
            frame_count += 1;
            if frame_count % 13 != 0 {
                p.da.inbox.push_back(frame);
            }
        }
        p.now += Duration::from_millis(1);
    }
    assert_eq!(received.len(), total);
    assert!(received == pattern(0, total));
    let stats = p.a.tcp(client).stats();
    assert!(stats.retransmissions > 0);
    assert!(stats.fast_recoveries > 0, "{stats:?}");
}

/// Opens a connection A → B on a clean wire; returns (client, server).
fn connected(p: &mut Pair<'_>) -> (TcpHandle, TcpHandle) {
    let listener = p.b.tcp_listen(80, 1, 16384, 16384).unwrap();
    let client = p.a.add_tcp_socket(16384, 16384).unwrap();
    p.a.tcp(client).connect((IP_B, 80), 0).unwrap();
    let mut server = None;
    p.run_until(50, |p| {
        server = server.or_else(|| p.b.tcp_accept(listener));
        server.is_some() && p.a.tcp(client).state() == TcpState::Established
    });
    (client, server.unwrap())
}

#[test]
fn data_segments_carrying_sack_blocks_still_fit_the_mtu() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected(&mut p);
    // A sends three full segments; the first is lost, so B holds the other
    // two out of order and reports them in SACK blocks.
    p.a.tcp(client).send_slice(&pattern(0, 3 * 1448)).unwrap();
    p.a.poll(p.now, &mut p.da);
    assert_eq!(p.da.outbox.len(), 3);
    p.da.outbox.pop_front();
    p.db.inbox.extend(p.da.outbox.drain(..));
    p.b.poll(p.now, &mut p.db);
    p.db.outbox.clear();
    // B's full-sized data segments now carry timestamps and a SACK option:
    // the payload must shrink to keep each datagram within the 1500-byte MTU.
    p.b.tcp(server).set_nodelay(true);
    p.b.tcp(server).send_slice(&pattern(0, 4000)).unwrap();
    p.b.poll(p.now, &mut p.db);
    let frames: Vec<Vec<u8>> = p.db.outbox.drain(..).collect();
    assert!(frames.iter().all(|f| f.len() <= 1514));
    // Ethernet, IPv4 and TCP headers, timestamps, one SACK block.
    let payload: usize = frames
        .iter()
        .map(|f| f.len() - 14 - 20 - 20 - 12 - 12)
        .sum();
    assert_eq!(
        payload, 4000,
        "every byte went out, none was dropped as too large"
    );
    // A gets B's data without a retransmission.
    p.da.inbox.extend(frames);
    p.a.poll(p.now, &mut p.da);
    let mut buf = [0u8; 8192];
    assert_eq!(p.a.tcp(client).recv_slice(&mut buf).unwrap(), 4000);
    assert!(buf[..4000] == pattern(0, 4000)[..]);
}

#[test]
fn pure_acks_after_retransmission_timeouts_on_both_sides_are_accepted() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected(&mut p);
    // Each side sends three segments; each gets the other's, but every
    // ACK is lost.
    p.a.tcp(client).send_slice(&pattern(0, 3 * 1448)).unwrap();
    p.b.tcp(server).send_slice(&pattern(1, 3 * 1448)).unwrap();
    p.a.poll(p.now, &mut p.da);
    p.b.poll(p.now, &mut p.db);
    p.db.inbox.extend(p.da.outbox.drain(..));
    p.da.inbox.extend(p.db.outbox.drain(..));
    p.a.poll(p.now, &mut p.da);
    p.b.poll(p.now, &mut p.db);
    p.da.outbox.clear();
    p.db.outbox.clear();
    // Both retransmission timers fire: SND.NXT goes back to SND.UNA on both
    // sides, and each resends data the other already holds.
    p.now += Duration::from_secs(1);
    p.step();
    // Each answers the old data with a pure ACK. Sent from SND.NXT it would
    // lie left of the other's window and be dropped unread, answered by
    // another such ACK, forever; from SND.MAX it is taken in at once.
    p.run_until(10, |p| {
        p.a.tcp(client).send_queue() == 0 && p.b.tcp(server).send_queue() == 0
    });
    assert!(p.carried.0 + p.carried.1 < 40, "{:?}", p.carried);
}

#[test]
fn fin_wait_2_lasts_while_the_peer_keeps_sending() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected(&mut p);
    // A closes its sending side and goes on reading what B sends.
    p.a.tcp(client).close();
    p.run_until(10, |p| p.a.tcp(client).state() == TcpState::FinWait2);
    let mut received = 0;
    for round in 0..12 {
        // B sends a little every 10 s, for two minutes.
        p.now += Duration::from_secs(10);
        p.b.tcp(server).send_slice(&pattern(round, 100)).unwrap();
        p.run_until(20, |p| {
            let mut buf = [0u8; 256];
            received += p.a.tcp(client).recv_slice(&mut buf).unwrap();
            received == 100 * (round + 1)
        });
        assert_eq!(p.a.tcp(client).state(), TcpState::FinWait2);
    }
    assert_eq!(p.b.tcp(server).error(), None);
    // B finishes; A goes through TIME-WAIT, nobody was reset.
    p.b.tcp(server).close();
    p.run_until(20, |p| p.b.tcp(server).state() == TcpState::Closed);
    assert_eq!(p.a.tcp(client).state(), TcpState::TimeWait);
    assert_eq!(p.a.stats().tcp.rx_resets + p.b.stats().tcp.rx_resets, 0);
}

#[test]
fn fin_wait_2_waits_for_a_slow_peer_and_keepalive_probes_it() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected(&mut p);
    p.a.tcp(client).set_keepalive(Some(Duration::from_secs(10)));
    p.a.tcp(client).close();
    p.run_until(10, |p| p.a.tcp(client).state() == TcpState::FinWait2);
    // Five silent minutes: keepalive probes B, B answers, A stays.
    let sent_before = p.a.tcp(client).stats().segments_out;
    for _ in 0..300 {
        p.now += Duration::from_secs(1);
        p.step();
        assert_eq!(p.a.tcp(client).state(), TcpState::FinWait2);
    }
    assert!(p.a.tcp(client).stats().segments_out >= sent_before + 25);
    // B still has something to say, then closes.
    p.b.tcp(server).send_slice(b"late words").unwrap();
    p.b.tcp(server).close();
    let mut buf = [0u8; 16];
    p.run_until(20, |p| p.a.tcp(client).state() == TcpState::TimeWait);
    assert_eq!(p.a.tcp(client).recv_slice(&mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], b"late words");
    assert_eq!(p.a.stats().tcp.rx_resets + p.b.stats().tcp.rx_resets, 0);
    assert_eq!(p.a.tcp(client).error(), None);
}

#[test]
fn a_retransmission_timeout_resends_one_whole_segment() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, _server) = connected(&mut p);
    // Three segments, all lost.
    p.a.tcp(client).send_slice(&pattern(0, 3 * 1448)).unwrap();
    p.a.poll(p.now, &mut p.da);
    assert_eq!(p.da.outbox.len(), 3);
    p.da.outbox.clear();
    // The timeout shrinks the window to one SMSS: with timestamps that is
    // 1448 bytes of payload, sent as one segment (no 12-byte runt after it).
    p.now += Duration::from_secs(1);
    p.a.poll(p.now, &mut p.da);
    let lens: Vec<usize> = p.da.outbox.iter().map(Vec::len).collect();
    assert_eq!(lens, [14 + 20 + 32 + 1448]);
}

/// The TCP flags byte of the segment in an Ethernet frame (no IPv4 options).
fn tcp_flags(frame: &[u8]) -> TcpFlags {
    TcpFlags::from_bits(frame[14 + 20 + 13])
}

#[test]
fn a_repeated_syn_in_syn_received_is_answered_with_the_syn_ack() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    // A first connection resolves ARP both ways.
    connected(&mut p);
    p.b.tcp_listen(81, 1, 4096, 4096).unwrap();
    let client = p.a.add_tcp_socket(4096, 4096).unwrap();
    p.a.tcp(client).connect((IP_B, 81), 0).unwrap();
    p.a.poll(p.now, &mut p.da);
    let syn = p.da.outbox.pop_front().unwrap();
    // B's SYN-ACK is lost.
    p.now += Duration::from_millis(500);
    p.db.inbox.push_back(syn);
    p.b.poll(p.now, &mut p.db);
    assert_eq!(tcp_flags(&p.db.outbox[0]), TcpFlags::SYN | TcpFlags::ACK);
    p.db.outbox.clear();
    // A's SYN timer fires first; B answers the repeated SYN with its SYN-ACK
    // at once (a bare ACK would leave A waiting for B's own timer).
    p.now += Duration::from_millis(500);
    p.a.poll(p.now, &mut p.da);
    p.db.inbox.extend(p.da.outbox.drain(..));
    p.b.poll(p.now, &mut p.db);
    let answers: Vec<TcpFlags> = p.db.outbox.iter().map(|f| tcp_flags(f)).collect();
    assert_eq!(answers, [TcpFlags::SYN | TcpFlags::ACK]);
    p.da.inbox.extend(p.db.outbox.drain(..));
    p.a.poll(p.now, &mut p.da);
    assert_eq!(p.a.tcp(client).state(), TcpState::Established);
}

#[test]
fn a_retransmission_timeout_sends_no_sliver_after_a_segment_with_sack_blocks() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected(&mut p);
    // B's first of two segments is lost: A holds the second out of order,
    // so A's segments carry a SACK block and 1436 bytes instead of 1448.
    p.b.tcp(server).send_slice(&pattern(0, 2 * 1448)).unwrap();
    p.b.poll(p.now, &mut p.db);
    p.db.outbox.pop_front();
    p.da.inbox.extend(p.db.outbox.drain(..));
    p.a.poll(p.now, &mut p.da);
    p.da.outbox.clear();
    // A's three segments are all lost.
    p.a.tcp(client).send_slice(&pattern(0, 3 * 1436)).unwrap();
    p.a.poll(p.now, &mut p.da);
    assert_eq!(p.da.outbox.len(), 3);
    p.da.outbox.clear();
    // The timeout leaves a one-SMSS window (1448 bytes): one 1436-byte
    // segment goes out, not that and a 12-byte sliver.
    p.now += Duration::from_secs(1);
    p.a.poll(p.now, &mut p.da);
    let lens: Vec<usize> = p.da.outbox.iter().map(Vec::len).collect();
    assert_eq!(lens, [14 + 20 + 20 + 12 + 12 + 1436]);
}

/// The sequence number and payload length of a TCP segment in an Ethernet
/// frame of the test wire (IPv4, no VLAN).
fn tcp_seq_and_len(frame: &[u8]) -> Option<(u32, usize)> {
    if frame.get(12..14)? != [0x08, 0x00] || *frame.get(23)? != 6 {
        return None;
    }
    let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]));
    let tcp = frame.get(14 + ihl..)?;
    let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let data_offset = usize::from(tcp.get(12)? >> 4) * 4;
    Some((seq, total.checked_sub(ihl + data_offset)?))
}

/// A connected pair with A's client socket (rings: 4 KiB in, 32 KiB out)
/// and B's accepted one (32 KiB in, 4 KiB out).
fn connected_asymmetric(p: &mut Pair<'_>) -> (TcpHandle, TcpHandle) {
    let listener = p.b.tcp_listen(80, 1, 32768, 4096).unwrap();
    let client = p.a.add_tcp_socket(4096, 32768).unwrap();
    p.a.tcp(client).connect((IP_B, 80), 0).unwrap();
    let mut server = None;
    p.run_until(50, |p| {
        server = server.or_else(|| p.b.tcp_accept(listener));
        server.is_some() && p.a.tcp(client).state() == TcpState::Established
    });
    (client, server.unwrap())
}

/// Carries frames for one step: A→B data segments for which `drop` says so
/// are lost, and every B→A frame gets its window field rewritten by
/// `window` (with its checksum fixed), as a receiver would whose window moves.
fn step_with(
    p: &mut Pair<'_>,
    mut drop: impl FnMut(u32, usize) -> bool,
    mut window: impl FnMut(u16) -> u16,
) {
    p.a.poll(p.now, &mut p.da);
    p.b.poll(p.now, &mut p.db);
    for frame in p.da.outbox.drain(..) {
        match tcp_seq_and_len(&frame) {
            Some((seq, len)) if len > 0 && drop(seq, len) => {}
            _ => p.db.inbox.push_back(frame),
        }
    }
    for mut frame in p.db.outbox.drain(..) {
        if tcp_seq_and_len(&frame).is_some() {
            let mut tcp = TcpPacket::new_unchecked(&mut frame[34..]);
            tcp.set_window_len(window(tcp.window_len()));
            tcp.fill_checksum(&IpAddr::V4(IP_B), &IpAddr::V4(IP_A));
        }
        p.da.inbox.push_back(frame);
    }
    p.now += Duration::from_millis(1);
}

#[test]
fn sacks_from_a_receiver_whose_window_moves_count_as_duplicate_acks() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected_asymmetric(&mut p);
    // Four segments; the first is lost, the other three are SACKed by ACKs
    // whose window differs every time (as Linux's do), so none is a
    // duplicate by RFC 5681's definition.
    let total = 4 * 1448;
    assert_eq!(p.a.tcp(client).send_slice(&pattern(0, total)), Ok(total));
    let (mut first, mut dropped_at) = (None, None);
    let mut shrink = 0;
    let mut received = Vec::new();
    for _ in 0..1_000 {
        let mut buf = [0u8; 8192];
        let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
        received.extend_from_slice(&buf[..n]);
        if received.len() == total {
            break;
        }
        let now = p.now;
        step_with(
            &mut p,
            |seq, _| {
                let first = *first.get_or_insert(seq);
                let lose = seq == first && dropped_at.is_none();
                if lose {
                    dropped_at = Some(now);
                }
                lose
            },
            |window| {
                shrink += 1;
                window - shrink
            },
        );
    }
    assert!(received == pattern(0, total));
    let took = p.now - dropped_at.unwrap();
    let stats = p.a.tcp(client).stats();
    assert_eq!(stats.fast_recoveries, 1, "{stats:?}");
    assert!(took < Duration::from_millis(50), "{took:?}");
}

#[test]
fn limited_transmit_lets_a_three_segment_window_detect_a_loss() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected_asymmetric(&mut p);
    let mss = 1448;
    let mut received = Vec::new();
    let mut read = |p: &mut Pair<'_>| {
        let mut buf = [0u8; 8192];
        let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
        received.extend_from_slice(&buf[..n]);
        received.len()
    };

    // Six segments with the first lost: fast recovery halves the window to
    // three segments (ssthresh = FlightSize / 2).
    assert_eq!(
        p.a.tcp(client).send_slice(&pattern(0, 6 * mss)),
        Ok(6 * mss)
    );
    let mut first = None;
    let mut lost = 0;
    for _ in 0..100 {
        if read(&mut p) == 6 * mss && p.a.tcp(client).send_queue() == 0 {
            break;
        }
        step_with(
            &mut p,
            |seq, _| {
                let lose = *first.get_or_insert(seq) == seq && lost == 0;
                lost += usize::from(lose);
                lose
            },
            |window| window,
        );
    }
    assert_eq!(p.a.tcp(client).stats().fast_recoveries, 1);

    // Now the window is three segments. The first of the next flight is
    // lost: two SACKs come back, and only the two new segments they let
    // out (RFC 3042) bring the third that says "lost".
    let total = 26 * mss;
    assert_eq!(
        p.a.tcp(client).send_slice(&pattern(6 * mss, 20 * mss)),
        Ok(20 * mss)
    );
    let target = first.unwrap().wrapping_add(6 * mss as u32);
    let mut dropped_at = None;
    for _ in 0..1_000 {
        if read(&mut p) == total {
            break;
        }
        let now = p.now;
        step_with(
            &mut p,
            |seq, _| {
                let lose = seq == target && dropped_at.is_none();
                if lose {
                    dropped_at = Some(now);
                }
                lose
            },
            |window| window,
        );
    }
    assert!(received == pattern(0, total), "{} bytes", received.len());
    let took = p.now - dropped_at.unwrap();
    let stats = p.a.tcp(client).stats();
    assert_eq!(stats.fast_recoveries, 2, "{stats:?}");
    assert!(took < Duration::from_millis(50), "{took:?}, {stats:?}");
}

#[test]
fn a_lost_retransmission_is_resent_without_waiting_for_the_timeout() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let listener = p.b.tcp_listen(80, 1, 32768, 4096).unwrap();
    let client = p.a.add_tcp_socket(4096, 32768).unwrap();
    p.a.tcp(client).connect((IP_B, 80), 0).unwrap();
    let mut server = None;
    p.run_until(50, |p| {
        server = server.or_else(|| p.b.tcp_accept(listener));
        server.is_some() && p.a.tcp(client).state() == TcpState::Established
    });
    let server = server.unwrap();

    // The 40th data segment is lost, and so is its first retransmission.
    let total = 200_000usize;
    let (mut sent, mut received) = (0usize, Vec::new());
    let mut first_seq = None;
    let (mut dropped, mut first_drop_at) = (0, None);
    for _ in 0..2_000 {
        if sent < total {
            sent +=
                p.a.tcp(client)
                    .send_slice(&pattern(sent, (total - sent).min(8000)))
                    .unwrap();
        }
        let mut buf = [0u8; 8192];
        let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
        received.extend_from_slice(&buf[..n]);
        if received.len() == total {
            break;
        }
        p.a.poll(p.now, &mut p.da);
        p.b.poll(p.now, &mut p.db);
        for frame in p.da.outbox.drain(..) {
            if let Some((seq, len)) = tcp_seq_and_len(&frame).filter(|&(_, len)| len > 0) {
                let first = *first_seq.get_or_insert(seq);
                if seq == first.wrapping_add(39 * len as u32) && dropped < 2 {
                    dropped += 1;
                    first_drop_at.get_or_insert(p.now);
                    continue;
                }
            }
            p.db.inbox.push_back(frame);
        }
        p.da.inbox.extend(p.db.outbox.drain(..));
        p.now += Duration::from_millis(1);
    }
    assert!(received == pattern(0, total), "{} bytes", received.len());
    assert_eq!(dropped, 2);
    let stats = p.a.tcp(client).stats();
    assert!(stats.retransmissions >= 2, "{stats:?}");
    // The retransmission timer (200 ms at least) was not what repaired it.
    let took = p.now - first_drop_at.unwrap();
    assert!(took < Duration::from_millis(100), "{took:?}, {stats:?}");
}

#[test]
fn a_tail_loss_probe_recovers_lost_acks_before_the_timeout() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected_asymmetric(&mut p);
    // A few round trips give the RTT estimator samples.
    assert_eq!(p.a.tcp(client).send_slice(&pattern(0, 1000)), Ok(1000));
    p.run_until(50, |p| p.a.tcp(client).send_queue() == 0);
    let mut buf = [0u8; 8192];
    assert_eq!(p.b.tcp(server).recv_slice(&mut buf), Ok(1000));

    // Four segments arrive, but every ACK for them is lost: nothing comes
    // back that could trigger a fast retransmit.
    let total = 4 * 1448;
    assert_eq!(p.a.tcp(client).send_slice(&pattern(1000, total)), Ok(total));
    let sent_at = p.now;
    let mut acks_lost = 0;
    while p.a.tcp(client).send_queue() > 0 {
        assert!(p.now - sent_at < Duration::from_secs(2));
        p.a.poll(p.now, &mut p.da);
        p.b.poll(p.now, &mut p.db);
        p.db.inbox.extend(p.da.outbox.drain(..));
        if p.now - sent_at < Duration::from_millis(5) {
            acks_lost += p.db.outbox.len();
            p.db.outbox.clear();
        }
        p.da.inbox.extend(p.db.outbox.drain(..));
        p.now += Duration::from_millis(1);
    }
    assert!(acks_lost > 0);
    let took = p.now - sent_at;
    let stats = p.a.tcp(client).stats();
    // One probe (the last segment again) drew the ACK for all four; the
    // retransmission timer (200 ms at least) never fired.
    assert!(took < Duration::from_millis(50), "{took:?}, {stats:?}");
    assert_eq!(stats.retransmissions, 1, "{stats:?}");
    let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
    assert!(buf[..n] == pattern(1000, total));
}

#[test]
fn the_fast_retransmit_goes_out_when_recovery_starts_whatever_the_pipe() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected_asymmetric(&mut p);
    // A flight of ten segments whose first is lost. The third SACK starts
    // recovery with six segments still in the pipe and a window of five;
    // the six ACKs after it are lost, as when a receiver's one stretch ACK
    // for them is.
    let total = 10 * 1448;
    assert_eq!(p.a.tcp(client).send_slice(&pattern(0, total)), Ok(total));
    let sent_at = p.now;
    let (mut first, mut data_lost, mut acks) = (None, false, 0);
    let mut received = Vec::new();
    while received.len() < total {
        assert!(p.now - sent_at < Duration::from_secs(2));
        p.a.poll(p.now, &mut p.da);
        p.b.poll(p.now, &mut p.db);
        for frame in p.da.outbox.drain(..) {
            if let Some((seq, _)) = tcp_seq_and_len(&frame).filter(|&(_, len)| len > 0) {
                if *first.get_or_insert(seq) == seq && !data_lost {
                    data_lost = true;
                    continue;
                }
            }
            p.db.inbox.push_back(frame);
        }
        for frame in p.db.outbox.drain(..) {
            acks += 1;
            if !(4..=9).contains(&acks) {
                p.da.inbox.push_back(frame);
            }
        }
        p.now += Duration::from_millis(1);
        let mut buf = [0u8; 16384];
        let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
        received.extend_from_slice(&buf[..n]);
    }
    assert!(received == pattern(0, total));
    let took = p.now - sent_at;
    let stats = p.a.tcp(client).stats();
    assert!(took < Duration::from_millis(50), "{took:?}, {stats:?}");
    assert_eq!(stats.fast_recoveries, 1, "{stats:?}");
}

#[test]
fn a_probe_recovers_the_lost_ack_that_would_have_ended_a_recovery() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected_asymmetric(&mut p);
    // Ten segments, the first lost; recovery resends it, and every ACK from
    // then on is lost (the one for the retransmission included) until the
    // sender probes.
    let total = 10 * 1448;
    assert_eq!(p.a.tcp(client).send_slice(&pattern(0, total)), Ok(total));
    let sent_at = p.now;
    let (mut first, mut data_lost, mut resent, mut probed) = (None, false, false, false);
    while p.a.tcp(client).send_queue() > 0 {
        assert!(p.now - sent_at < Duration::from_secs(2));
        p.a.poll(p.now, &mut p.da);
        p.b.poll(p.now, &mut p.db);
        for frame in p.da.outbox.drain(..) {
            if let Some((seq, _)) = tcp_seq_and_len(&frame).filter(|&(_, len)| len > 0) {
                let head = *first.get_or_insert(seq);
                if seq == head && !data_lost {
                    data_lost = true;
                    continue;
                }
                if resent {
                    probed = true;
                }
                if seq == head && data_lost {
                    resent = true;
                }
            }
            p.db.inbox.push_back(frame);
        }
        for frame in p.db.outbox.drain(..) {
            if !resent || probed {
                p.da.inbox.push_back(frame);
            }
        }
        p.now += Duration::from_millis(1);
    }
    let took = p.now - sent_at;
    let stats = p.a.tcp(client).stats();
    assert_eq!(stats.fast_recoveries, 1, "{stats:?}");
    // The fast retransmit and one probe; not the RTO (200 ms at least).
    assert!(took < Duration::from_millis(50), "{took:?}, {stats:?}");
    assert_eq!(stats.retransmissions, 2, "{stats:?}");
    let mut buf = [0u8; 16384];
    let n = p.b.tcp(server).recv_slice(&mut buf).unwrap();
    assert!(buf[..n] == pattern(0, total));
}

#[test]
fn a_half_closed_receiver_reopens_its_window_after_reading() {
    let (mut ra, mut rb, mut ta, mut tb) =
        (Resources::new(), Resources::new(), Tcp::new(), Tcp::new());
    let mut p = Pair::new(&mut ra, &mut rb, &mut ta, &mut tb);
    let (client, server) = connected(&mut p);
    p.a.tcp(client).close();
    p.run_until(50, |p| p.a.tcp(client).state() == TcpState::FinWait2);
    // B fills A's receive ring; A does not read yet, so its window closes.
    let total = 64 * 1024;
    let mut sent = 0;
    p.run_until(2000, |p| {
        sent +=
            p.b.tcp(server)
                .send_slice(&pattern(sent, (total - sent).min(4096)))
                .unwrap();
        p.a.tcp(client).recv_queue() > 15000
    });
    // Long enough for B's retransmission and persist timers to run.
    for _ in 0..3000 {
        p.step();
    }
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    p.run_until(20_000, |p| {
        if sent < total {
            sent +=
                p.b.tcp(server)
                    .send_slice(&pattern(sent, (total - sent).min(4096)))
                    .unwrap();
        }
        let n = p.a.tcp(client).recv_slice(&mut buf).unwrap();
        received.extend_from_slice(&buf[..n]);
        received.len() == total
    });
    assert!(received == pattern(0, total));
}
