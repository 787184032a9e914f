//! Interop with the Linux kernel as the peer: our stack runs on a TAP device
//! in a private network namespace, and the kernel — its ping, its UDP
//! sockets, its ARP, and nftables on the link — is the other host.
//!
//! Needs root (CAP_NET_ADMIN for `unshare(CLONE_NEWNET)` and the TAP) and the
//! `iproute2`, `iputils-ping` and `nftables` packages; a test fails, never
//! skips, when they are missing. Each test has its own TAP name and /24, so
//! they run in parallel.
#![cfg(all(feature = "std", target_os = "linux"))]

#[path = "linux/kernel.rs"]
mod kernel;
#[path = "linux/lab.rs"]
mod lab;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duet_netstack::stack::Config;
use duet_netstack::{EthernetAddress, InterfaceId, RecvError, SendError, SocketHandle};

use lab::{Lab, Net, OUR_MAC, with_lab};

/// Datagrams sent each way by the bulk tests.
const DATAGRAMS: u32 = 10_000;
/// Datagrams one side may have in flight ahead of what the other has read:
/// well below the TAP's queue (500 frames), our transmit queue and the pool.
const WINDOW: u32 = 48;
const OUR_PORT: u16 = 7000;
const KERNEL_PORT: u16 = 7001;
/// UDP payload lengths used, up to what a 1500-byte MTU carries unfragmented.
const MIN_PAYLOAD: usize = 5;
const MAX_PAYLOAD: usize = 1500 - 20 - 8;

/// A stack tuned for bulk traffic: a deeper transmit queue, so one poll
/// every millisecond still moves tens of thousands of datagrams a second.
fn bulk_config() -> Config {
    Config {
        seed: 0x1e7e_da7a,
        tx_queue_limit: 64,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// Payloads: a sequence number, a direction, and a pattern derived from both,
// so a receiver can check every byte of every datagram.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    KernelToUs = 0x4b,
    UsToKernel = 0x55,
}

/// Cycles through every length from `MIN_PAYLOAD` to `MAX_PAYLOAD` (97 is
/// coprime with the 1468 lengths).
fn payload_len(seq: u32) -> usize {
    MIN_PAYLOAD + (seq as usize * 97) % (MAX_PAYLOAD - MIN_PAYLOAD + 1)
}

fn payload(direction: Direction, seq: u32) -> Vec<u8> {
    let len = payload_len(seq);
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.push(direction as u8);
    bytes.extend((MIN_PAYLOAD..len).map(|i| {
        (seq.wrapping_mul(0x9e37_79b1) >> 13) as u8 ^ (i as u8).wrapping_mul(31) ^ direction as u8
    }));
    bytes
}

/// Checks a received payload byte for byte; returns its sequence number.
fn check_payload(direction: Direction, bytes: &[u8]) -> Result<u32, String> {
    let header: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{}-byte datagram", bytes.len()))?;
    let seq = u32::from_be_bytes(header);
    if seq >= DATAGRAMS {
        return Err(format!("sequence number {seq} out of range"));
    }
    let expected = payload(direction, seq);
    if bytes != expected {
        let first_bad = bytes.iter().zip(&expected).position(|(a, b)| a != b);
        return Err(format!(
            "datagram {seq}: {} bytes, expected {}; first difference at {first_bad:?}",
            bytes.len(),
            expected.len()
        ));
    }
    Ok(seq)
}

/// What one receiver saw, shared with the sender that paces on it.
struct Tally {
    direction: Direction,
    /// Where every datagram must come from.
    source: SocketAddr,
    received: AtomicU32,
    /// One past the highest sequence number seen; senders keep at most
    /// `WINDOW` datagrams beyond it.
    next: AtomicU32,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    fn new(direction: Direction, source: SocketAddr) -> Self {
        Self {
            direction,
            source,
            received: AtomicU32::new(0),
            next: AtomicU32::new(0),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// Records one datagram; only one thread records into a tally.
    fn record(&self, bytes: &[u8], from: SocketAddr) {
        if from != self.source {
            return self.error(format!("datagram from {from}, expected {}", self.source));
        }
        match check_payload(self.direction, bytes) {
            Ok(seq) if seq < self.next.load(Ordering::Acquire) => {
                self.error(format!("datagram {seq} duplicated or reordered"));
            }
            Ok(seq) => {
                self.next.store(seq + 1, Ordering::Release);
                self.received.fetch_add(1, Ordering::AcqRel);
            }
            Err(error) => self.error(error),
        }
    }

    fn error(&self, error: String) {
        let mut errors = self.errors.lock().unwrap();
        if errors.len() < 10 {
            errors.push(error);
        }
    }

    fn received(&self) -> u32 {
        self.received.load(Ordering::Acquire)
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Waits while `sent` is a full window ahead of what arrived. Returns
    /// false if nothing arrived for `patience`.
    fn wait_for_room(&self, sent: u32, patience: Duration) -> bool {
        let start = Instant::now();
        while sent >= self.next.load(Ordering::Acquire) + WINDOW {
            if start.elapsed() > patience {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        true
    }
}

// ---------------------------------------------------------------------------
// Bulk exchange in both directions at once.

/// What a bulk exchange measured.
#[derive(Debug)]
struct Exchange {
    /// Received by our socket, from the kernel.
    by_us: u32,
    /// Received by the kernel socket, from us.
    by_kernel: u32,
    /// Windows that made no progress for the sender's patience.
    stalls: u32,
    /// From the first datagram sent to the last received.
    elapsed: Duration,
    /// Our socket.
    ours: SocketHandle,
}

impl Exchange {
    fn summary(&self) -> String {
        format!(
            "{} received by us, {} by the kernel, in {:.2?} ({:.0} datagrams/s each way), \
             {} stalled windows",
            self.by_us,
            self.by_kernel,
            self.elapsed,
            f64::from(DATAGRAMS) / self.elapsed.as_secs_f64(),
            self.stalls
        )
    }
}

/// Sends `DATAGRAMS` from a kernel UDP socket to ours and `DATAGRAMS` from
/// ours to the kernel's, concurrently, each sender keeping at most `WINDOW`
/// datagrams beyond the highest its receiver has seen, checking every byte.
/// `lossy`: the link drops datagrams, so a stalled window is sent past
/// instead of failing, and the receivers stop after a quiet spell.
fn exchange(lab: &Lab<'_, '_>, lossy: bool) -> Exchange {
    let net = lab.net;
    let kernel_addr = SocketAddr::new(IpAddr::V4(net.kernel_ip), KERNEL_PORT);
    let our_addr = SocketAddr::new(IpAddr::V4(net.our_ip), OUR_PORT);
    let kernel_socket = kernel::udp_socket(net.kernel_ip, KERNEL_PORT);
    kernel_socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();

    let ours = lab.with(|stack| {
        let handle = stack.add_udp_socket().expect("a free socket");
        let mut socket = stack.udp(handle);
        assert_eq!(socket.bind(OUR_PORT), Ok(OUR_PORT));
        // Room for a whole window and a full receive budget; the
        // application drains it after every poll.
        socket.set_recv_queue_limit(128);
        handle
    });
    let by_us = Arc::new(Tally::new(Direction::KernelToUs, kernel_addr));
    let by_kernel = Tally::new(Direction::UsToKernel, our_addr);
    lab.set_app(Box::new({
        let tally = Arc::clone(&by_us);
        move |stack| {
            let mut worked = false;
            loop {
                let received = stack
                    .udp(ours)
                    .recv_with(|bytes, meta| tally.record(bytes, meta.remote.into()));
                match received {
                    Ok(()) => worked = true,
                    Err(RecvError::WouldBlock) => return worked,
                    Err(error) => {
                        tally.error(format!("recv: {error:?}"));
                        return worked;
                    }
                }
            }
        }
    }));

    // Without loss a stall is a failure, reported after two seconds; with
    // loss, a window whose datagrams were all dropped is sent past.
    let patience = if lossy {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(2)
    };
    let stalls = AtomicU32::new(0);
    let senders_done = AtomicU32::new(0);
    let start = Instant::now();
    let last_progress = std::thread::scope(|scope| {
        // Kernel → us.
        scope.spawn(|| {
            for seq in 0..DATAGRAMS {
                if !by_us.wait_for_room(seq, patience) {
                    stalls.fetch_add(1, Ordering::Relaxed);
                    if !lossy {
                        break;
                    }
                }
                let bytes = payload(Direction::KernelToUs, seq);
                let sent = kernel_socket
                    .send_to(&bytes, our_addr)
                    .expect("kernel send");
                assert_eq!(sent, bytes.len());
            }
            senders_done.fetch_add(1, Ordering::Release);
        });
        // Us → kernel.
        scope.spawn(|| {
            'datagrams: for seq in 0..DATAGRAMS {
                if !by_kernel.wait_for_room(seq, patience) {
                    stalls.fetch_add(1, Ordering::Relaxed);
                    if !lossy {
                        break;
                    }
                }
                let bytes = payload(Direction::UsToKernel, seq);
                let give_up = Instant::now() + Duration::from_secs(2);
                loop {
                    match lab.with(|stack| stack.udp(ours).send_to(&bytes, kernel_addr)) {
                        Ok(()) => break,
                        // The transmit queue is full: let the stack thread drain it.
                        Err(SendError::WouldBlock) if Instant::now() < give_up => {
                            std::thread::sleep(Duration::from_micros(100));
                        }
                        Err(error) => {
                            by_kernel.error(format!("our send of {seq}: {error:?}"));
                            break 'datagrams;
                        }
                    }
                }
            }
            senders_done.fetch_add(1, Ordering::Release);
        });
        // The kernel's receiver. It stops when all arrived or, once both
        // senders are done, when neither side has received anything for a
        // quiet spell (then every datagram still in flight has landed).
        let quiet = Duration::from_millis(if lossy { 300 } else { 2000 });
        let mut buffer = vec![0; 2048];
        let total = || by_kernel.received() + by_us.received();
        let (mut last_total, mut last_progress) = (0, Instant::now());
        while total() < 2 * DATAGRAMS {
            // Also ends the test if a sender thread died.
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "exchange still running after 30 s: {} of ours and {} of the kernel's received",
                by_us.received(),
                by_kernel.received()
            );
            match kernel_socket.recv_from(&mut buffer) {
                Ok((len, from)) => by_kernel.record(&buffer[..len], from),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("kernel recv: {e}"),
            }
            if total() != last_total {
                (last_total, last_progress) = (total(), Instant::now());
            } else if senders_done.load(Ordering::Acquire) == 2 && last_progress.elapsed() > quiet {
                break;
            }
        }
        last_progress
    });
    let elapsed = last_progress.duration_since(start);

    let errors: Vec<String> = by_us
        .errors()
        .into_iter()
        .chain(by_kernel.errors())
        .collect();
    assert!(errors.is_empty(), "payload or delivery errors: {errors:#?}");
    Exchange {
        by_us: by_us.received(),
        by_kernel: by_kernel.received(),
        stalls: stalls.load(Ordering::Relaxed),
        elapsed,
        ours,
    }
}

/// Asserts the stack dropped nothing for lack of room and prints what it carried.
fn assert_no_local_drops(lab: &Lab<'_, '_>) {
    let (stats, (free, low_water)) = lab.with(|stack| (stack.stats().clone(), stack.pool_usage()));
    assert_eq!(stats.ethernet.drop_no_buffer, 0, "{stats:#?}");
    assert_eq!(stats.pool.exhausted, 0, "{stats:#?}");
    assert_eq!(stats.udp.drop_queue_full, 0, "{stats:#?}");
    assert_eq!(stats.udp.drop_bad_checksum, 0, "{stats:#?}");
    assert_eq!(stats.arp.pending_dropped, 0, "{stats:#?}");
    eprintln!(
        "  our stack: {} frames in, {} out; pool {free} free, low water {low_water}",
        stats.ethernet.rx_frames, stats.ethernet.tx_frames
    );
}

/// Resolves both sides' ARP before bulk traffic, with ICMP (which the loss
/// rules leave alone): the kernel asks for us, we answer and learn it.
fn resolve_neighbors(lab: &Lab<'_, '_>) {
    let our_ip = lab.net.our_ip.to_string();
    kernel::run("ping", &["-c", "1", "-W", "2", "-n", "-q", &our_ip]);
    let kernel_ip = lab.net.kernel_ip;
    assert_eq!(
        lab.with(|stack| stack.neighbor(InterfaceId::FIRST, kernel_ip)),
        Some(lab.kernel_mac())
    );
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn the_kernel_pings_our_stack_100_times_without_loss() {
    with_lab(Net::new("duetping0", 1), Config::default(), |lab| {
        let our_ip = lab.net.our_ip.to_string();
        // -i 0.01: 100 requests a second (root may go below 0.2 s);
        // -W 1: each reply must come within a second; -w: ping's own limit.
        let stdout = kernel::run(
            "ping",
            &[
                "-c", "100", "-i", "0.01", "-W", "1", "-w", "20", "-n", "-q", &our_ip,
            ],
        );
        let summary = kernel::parse_ping(&stdout)
            .unwrap_or_else(|| panic!("no summary in ping output:\n{stdout}"));
        eprintln!("ping {our_ip}: {summary:?}");
        assert_eq!(
            (summary.transmitted, summary.received),
            (100, 100),
            "{stdout}"
        );
        assert_eq!(summary.loss, "0%", "{stdout}");
        assert!(summary.rtt_ms.is_some(), "{stdout}");

        let stats = lab.with(|stack| stack.stats().clone());
        assert_eq!(stats.icmp.rx_echo_requests, 100, "{:#?}", stats.icmp);
        assert_eq!(stats.icmp.tx_echo_replies, 100, "{:#?}", stats.icmp);
        // The kernel's first request made it ask for our address.
        assert_eq!(stats.arp.tx_replies, 1, "{:#?}", stats.arp);
    });
}

#[test]
fn ten_thousand_udp_datagrams_each_way_arrive_byte_exact() {
    with_lab(Net::new("duetudp0", 2), bulk_config(), |lab| {
        resolve_neighbors(lab);
        let before = kernel::udp_counters();
        let result = exchange(lab, false);
        let after = kernel::udp_counters();
        eprintln!("udp both ways, no loss: {}", result.summary());

        assert_eq!(result.stalls, 0, "a window stalled: datagrams were lost");
        assert_eq!(result.by_us, DATAGRAMS, "kernel → us");
        assert_eq!(result.by_kernel, DATAGRAMS, "us → kernel");
        // The kernel accepted every datagram of ours: checksums and lengths
        // were right, and none overflowed its socket.
        assert_eq!(
            after.in_datagrams - before.in_datagrams,
            u64::from(DATAGRAMS)
        );
        assert_eq!(
            after.out_datagrams - before.out_datagrams,
            u64::from(DATAGRAMS)
        );
        assert_eq!(
            (
                after.in_errors,
                after.in_csum_errors,
                after.rcvbuf_errors,
                after.no_ports
            ),
            (
                before.in_errors,
                before.in_csum_errors,
                before.rcvbuf_errors,
                before.no_ports
            ),
        );
        assert_no_local_drops(lab);
        let socket_stats = lab.with(|stack| stack.udp(result.ours).stats());
        assert_eq!(
            (
                socket_stats.rx_datagrams,
                socket_stats.tx_datagrams,
                socket_stats.rx_dropped
            ),
            (DATAGRAMS, DATAGRAMS, 0)
        );
    });
}

#[test]
fn with_5_percent_udp_loss_each_side_receives_sent_minus_nft_drops() {
    with_lab(Net::new("duetloss0", 3), bulk_config(), |lab| {
        resolve_neighbors(lab);
        kernel::install_udp_loss(lab.net.tap, 5);
        let before = kernel::udp_counters();
        let result = exchange(lab, true);
        let after = kernel::udp_counters();
        // Frames our stack sent, dropped on the kernel's ingress; frames the
        // kernel sent, dropped on its egress before reaching the TAP.
        let dropped_from_us = kernel::loss_counter(kernel::FROM_US);
        let dropped_to_us = kernel::loss_counter(kernel::TO_US);
        eprintln!(
            "udp both ways, 5 % loss: {}; nft dropped {dropped_from_us} of ours, \
             {dropped_to_us} of the kernel's",
            result.summary()
        );

        assert_eq!(
            u64::from(result.by_kernel),
            u64::from(DATAGRAMS) - dropped_from_us
        );
        assert_eq!(
            u64::from(result.by_us),
            u64::from(DATAGRAMS) - dropped_to_us
        );
        // 5 % of 10 000 is 500 (σ ≈ 22): the rules really dropped.
        for dropped in [dropped_from_us, dropped_to_us] {
            assert!((300..=700).contains(&dropped), "{dropped} drops");
        }
        assert_eq!(
            after.in_datagrams - before.in_datagrams,
            u64::from(result.by_kernel)
        );
        assert_eq!(
            (after.in_errors, after.in_csum_errors, after.rcvbuf_errors),
            (
                before.in_errors,
                before.in_csum_errors,
                before.rcvbuf_errors
            ),
        );
        assert_no_local_drops(lab);
    });
}

#[test]
fn arp_resolves_both_ways_with_the_kernel() {
    with_lab(Net::new("duetarp0", 4), Config::default(), |lab| {
        let net = lab.net;
        let kernel_mac = lab.kernel_mac();
        assert_ne!(kernel_mac, EthernetAddress(OUR_MAC));
        let kernel_socket = kernel::udp_socket(net.kernel_ip, KERNEL_PORT);
        kernel_socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let ours = lab.with(|stack| {
            let handle = stack.add_udp_socket().unwrap();
            stack.udp(handle).bind(OUR_PORT).unwrap();
            handle
        });

        // Our stack speaks first: it asks for the kernel, the kernel answers.
        assert_eq!(
            lab.with(|s| s.neighbor(InterfaceId::FIRST, net.kernel_ip)),
            None
        );
        lab.with(|stack| {
            stack
                .udp(ours)
                .send_to(b"hello kernel", (net.kernel_ip, KERNEL_PORT))
        })
        .expect("queued while ARP resolves");
        let mut buffer = [0; 64];
        let (len, from) = kernel_socket
            .recv_from(&mut buffer)
            .expect("our datagram arrives");
        assert_eq!(
            (&buffer[..len], from),
            (&b"hello kernel"[..], (net.our_ip, OUR_PORT).into())
        );
        let arp = lab.with(|stack| stack.stats().arp.clone());
        assert_eq!((arp.tx_requests, arp.tx_replies), (1, 0), "{arp:#?}");
        assert_eq!(
            lab.with(|s| s.neighbor(InterfaceId::FIRST, net.kernel_ip)),
            Some(kernel_mac)
        );

        // The kernel forgets us and speaks: it asks, we answer.
        kernel::ip(&["neigh", "flush", "dev", net.tap]);
        assert!(
            kernel::neighbors(net.tap)
                .iter()
                .all(|n| n.ip != net.our_ip || n.lladdr.is_none())
        );
        kernel_socket
            .send_to(b"hello stack", (net.our_ip, OUR_PORT))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let received = loop {
            match lab.with(|stack| stack.udp(ours).recv_from(&mut buffer)) {
                Ok((len, meta)) => break (buffer[..len].to_vec(), SocketAddr::from(meta.remote)),
                Err(RecvError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(error) => panic!("the kernel's datagram did not arrive: {error:?}"),
            }
        };
        assert_eq!(
            received,
            (b"hello stack".to_vec(), (net.kernel_ip, KERNEL_PORT).into())
        );
        let arp = lab.with(|stack| stack.stats().arp.clone());
        assert_eq!(arp.tx_replies, 1, "{arp:#?}");

        let entries = kernel::neighbors(net.tap);
        eprintln!("kernel neighbours on {}: {entries:?}", net.tap);
        let entry = entries
            .iter()
            .find(|n| n.ip == net.our_ip)
            .unwrap_or_else(|| panic!("the kernel has no entry for us: {entries:?}"));
        assert_eq!(entry.lladdr, Some(OUR_MAC));
        assert!(
            ["REACHABLE", "STALE", "DELAY"].contains(&entry.state.as_str()),
            "{entry:?}"
        );
        assert_eq!(
            lab.with(|s| s.neighbor(InterfaceId::FIRST, net.kernel_ip)),
            Some(kernel_mac)
        );
    });
}

#[test]
fn an_unresolvable_neighbor_fails_sends_while_udp_with_the_kernel_flows() {
    with_lab(Net::new("duetunr0", 5), Config::default(), |lab| {
        let net = lab.net;
        let unused = net.unused_ip();
        let kernel_socket = kernel::udp_socket(net.kernel_ip, KERNEL_PORT);
        kernel_socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let (echo, probe) = lab.with(|stack| {
            let echo = stack.add_udp_socket().unwrap();
            stack.udp(echo).bind(OUR_PORT).unwrap();
            let probe = stack.add_udp_socket().unwrap();
            (echo, probe)
        });
        // Our application echoes every datagram back to its sender.
        let echo_errors = Arc::new(AtomicU32::new(0));
        lab.set_app(Box::new({
            let echo_errors = Arc::clone(&echo_errors);
            let mut buffer = vec![0; 2048];
            move |stack| {
                let mut worked = false;
                while let Ok((len, meta)) = stack.udp(echo).recv_from(&mut buffer) {
                    worked = true;
                    if stack
                        .udp(echo)
                        .send_to(&buffer[..len], meta.remote)
                        .is_err()
                    {
                        echo_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                worked
            }
        }));

        let start = Instant::now();
        let mut first_probe = None;
        let mut probes_queued = 0_u32;
        let mut unreachable_at = None;
        let mut unreachable_probes = 0_u32;
        let mut last_probe = start - Duration::from_secs(1);
        let (mut echoes, mut max_rtt) = (0_u32, Duration::ZERO);
        let mut buffer = [0; 64];
        // Echo traffic every 2 ms; a probe to the unused address every 50 ms,
        // until the failure has been seen for half a second.
        while unreachable_at.is_none_or(|at: Instant| at.elapsed() < Duration::from_millis(500)) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no Unreachable within 10 s"
            );
            let message = format!("echo {echoes}");
            let sent_at = Instant::now();
            kernel_socket
                .send_to(message.as_bytes(), (net.our_ip, OUR_PORT))
                .unwrap();
            let (len, from) = kernel_socket
                .recv_from(&mut buffer)
                .unwrap_or_else(|e| panic!("echo {echoes} lost after {:?}: {e}", start.elapsed()));
            max_rtt = max_rtt.max(sent_at.elapsed());
            assert_eq!(
                (&buffer[..len], from),
                (message.as_bytes(), (net.our_ip, OUR_PORT).into())
            );
            echoes += 1;

            if last_probe.elapsed() >= Duration::from_millis(50) {
                last_probe = Instant::now();
                let result = lab.with(|stack| stack.udp(probe).send_to(b"anyone?", (unused, 9)));
                match (result, unreachable_at) {
                    // Parked while ARP asks.
                    (Ok(()), None) => {
                        first_probe.get_or_insert(last_probe);
                        probes_queued += 1;
                    }
                    (Err(SendError::Unreachable), _) => {
                        unreachable_at.get_or_insert(last_probe);
                        unreachable_probes += 1;
                    }
                    (result, _) => panic!("probe after {:?}: {result:?}", start.elapsed()),
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }

        let first_probe = first_probe.expect("the first probe was queued");
        let failed_after = unreachable_at.unwrap().duration_since(first_probe);
        let stats = lab.with(|stack| stack.stats().clone());
        eprintln!(
            "unreachable after {failed_after:?} ({probes_queued} probes parked, then \
             {unreachable_probes} refused); {echoes} echoes meanwhile, max RTT {max_rtt:?}; {:?}",
            stats.arp
        );
        // Three requests one second apart (NeighborConfig::default), then the failure.
        assert!(
            failed_after >= Duration::from_millis(2900) && failed_after < Duration::from_secs(5),
            "{failed_after:?}"
        );
        assert!(
            unreachable_probes >= 5,
            "sends keep failing during the hold"
        );
        assert_eq!(stats.arp.tx_requests, 3, "{:#?}", stats.arp);
        assert_eq!(stats.arp.resolution_failures, 1, "{:#?}", stats.arp);
        // Every parked probe was dropped: while waiting (beyond the four
        // parked per neighbour) or at the failure.
        assert_eq!(stats.arp.pending_dropped, probes_queued, "{:#?}", stats.arp);
        assert_eq!(echo_errors.load(Ordering::Relaxed), 0);
        assert!(echoes >= 100, "{echoes} echoes in {:?}", start.elapsed());
        assert_eq!(
            lab.with(|stack| stack.neighbor(InterfaceId::FIRST, unused)),
            None
        );
    });
}
