//! TCP interop with the Linux kernel as the peer: our stack on a TAP device
//! in a private network namespace, the kernel's own TCP on the other side.
//!
//! Both opens are covered: a kernel client connects to our listener and
//! sends a stream, and our client connects to a kernel listener and sends
//! one. Every byte is checked against the sender's pattern and both ends'
//! SHA-256 must agree. While a connection is established, `ss -tino` must
//! show that the kernel negotiated SACK, timestamps and window scaling with
//! us.
//!
//! The lossy variant moves the kernel's end to a second namespace behind the
//! lab's kernel, which forwards between a veth and the TAP, so that nftables
//! can lose frames in both directions on the way, where a wire would: 5 % of
//! the TCP frames from us (TAP ingress) and from the kernel (veth ingress)
//! are dropped, and 1 % of those to us duplicated (TAP egress).
//!
//! Needs root (CAP_NET_ADMIN) and the `iproute2` and `nftables` packages; a
//! test fails, never skips, when they are missing. `DUET_TCP_CAPTURE=dir`
//! writes a capture of each link for debugging.
#![cfg(all(feature = "std", target_os = "linux"))]

#[allow(dead_code)]
#[path = "linux/kernel.rs"]
mod kernel;
#[allow(dead_code)]
#[path = "linux/lab.rs"]
mod lab;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duet_netstack::stack::{Config, ListenerHandle, Stack, TcpHandle};
use duet_netstack::tcp::{TcpError, TcpSocketStats, TcpState};
use sha2::{Digest, Sha256};

use lab::{Lab, Net, Netns, add_routed_peer, with_tcp_lab};

/// Bytes carried each way on a clean link.
const CLEAN_BYTES: u64 = 100_000_000;
/// Bytes carried each way through 5 % loss and 1 % duplication.
const LOSSY_BYTES: u64 = 100_000_000;
/// Receive and send ring of every connection of ours.
const RING: usize = 64 * 1024;
/// Sockets of the lab: a connection each way, and one spare.
const SOCKETS: usize = 3;
/// Our listener (kernel client → us) and the kernel's (us → kernel).
const OUR_PORT: u16 = 5001;
const KERNEL_PORT: u16 = 5002;
/// A transfer that moves no byte this long has failed.
const STALL_LIMIT: Duration = Duration::from_secs(15);
/// Kernel socket calls give up after this, so no thread outlives a failure.
const KERNEL_TIMEOUT: Duration = Duration::from_secs(20);

/// The TCP lab: our stack with `SOCKETS` sockets and their rings.
fn with_lab<R: Send>(net: Net, body: impl for<'l, 'a> FnOnce(&Lab<'l, 'a>) -> R + Send) -> R {
    let config = Config {
        seed: 0x7c9_11a0,
        // A whole 64 KiB window of segments leaves in one poll.
        tx_queue_limit: 64,
        ..Config::default()
    };
    with_tcp_lab::<SOCKETS, { SOCKETS * 2 * RING }, R>(net, config, body)
}

/// Where the kernel's end of the connections lives: the lab's own namespace
/// (on the TAP's subnet), or a second host the lab's kernel routes to.
#[derive(Clone, Copy)]
struct Peer<'n> {
    ip: Ipv4Addr,
    ns: Option<&'n Netns>,
}

impl Peer<'_> {
    /// The lab's kernel itself.
    fn lab(lab: &Lab<'_, '_>) -> Self {
        Self {
            ip: lab.net.kernel_ip,
            ns: None,
        }
    }

    /// Moves the calling thread to the peer's namespace.
    fn enter(&self) {
        if let Some(ns) = self.ns {
            ns.enter();
        }
    }

    /// Runs `f` in the peer's namespace (sockets made there stay there).
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self.ns {
            Some(ns) => ns.run(f),
            None => f(),
        }
    }
}

// ---------------------------------------------------------------------------
// The streams: a pattern any stretch of which can be made or checked alone.

/// splitmix64's output function: a bijective mix of a 64-bit counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Byte `i` of a stream is byte `i % 8` of `splitmix64(seed + i / 8)`.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    seed: u64,
}

impl Pattern {
    const KERNEL_TO_US: Pattern = Pattern { seed: 0x4b45_524e };
    const US_TO_KERNEL: Pattern = Pattern { seed: 0x4455_4554 };

    /// Writes the stream's bytes `offset..offset + out.len()` into `out`.
    fn fill(self, offset: u64, out: &mut [u8]) {
        let mut position = offset;
        let mut done = 0;
        while done < out.len() {
            let word = splitmix64(self.seed.wrapping_add(position / 8)).to_le_bytes();
            let start = (position % 8) as usize;
            let n = (8 - start).min(out.len() - done);
            out[done..done + n].copy_from_slice(&word[start..start + n]);
            done += n;
            position += n as u64;
        }
    }
}

/// A sender's side of one stream: makes the bytes and hashes what it made.
struct Source {
    pattern: Pattern,
    total: u64,
    produced: u64,
    hasher: Sha256,
}

impl Source {
    fn new(pattern: Pattern, total: u64) -> Self {
        Self {
            pattern,
            total,
            produced: 0,
            hasher: Sha256::new(),
        }
    }

    fn remaining(&self) -> u64 {
        self.total - self.produced
    }

    /// Fills as much of `out` as the stream has left; returns how much.
    fn produce(&mut self, out: &mut [u8]) -> usize {
        let n = out
            .len()
            .min(usize::try_from(self.remaining()).unwrap_or(usize::MAX));
        self.pattern.fill(self.produced, &mut out[..n]);
        self.hasher.update(&out[..n]);
        self.produced += n as u64;
        n
    }
}

/// A receiver's side: checks every byte against the pattern, hashes them,
/// and notes the longest wait between two arrivals.
struct Sink {
    pattern: Pattern,
    received: u64,
    hasher: Sha256,
    /// Stream offset of the first byte that differs from the pattern.
    first_wrong: Option<u64>,
    expected: Vec<u8>,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    longest_gap: Duration,
    /// `received`, readable by the monitoring thread.
    progress: Arc<AtomicU64>,
}

impl Sink {
    fn new(pattern: Pattern) -> Self {
        Self {
            pattern,
            received: 0,
            hasher: Sha256::new(),
            first_wrong: None,
            expected: Vec::new(),
            first_at: None,
            last_at: None,
            longest_gap: Duration::ZERO,
            progress: Arc::new(AtomicU64::new(0)),
        }
    }

    fn take(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let now = Instant::now();
        if let Some(last) = self.last_at {
            self.longest_gap = self.longest_gap.max(now - last);
        }
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
        if self.first_wrong.is_none() {
            self.expected.resize(data.len(), 0);
            self.pattern.fill(self.received, &mut self.expected);
            if let Some(i) = data.iter().zip(&self.expected).position(|(a, b)| a != b) {
                self.first_wrong = Some(self.received + i as u64);
            }
        }
        self.hasher.update(data);
        self.received += data.len() as u64;
        self.progress.store(self.received, Ordering::Release);
    }

    fn summary(&self) -> Received {
        Received {
            bytes: self.received,
            digest: self.hasher.clone().finalize().into(),
            first_wrong: self.first_wrong,
            elapsed: match (self.first_at, self.last_at) {
                (Some(first), Some(last)) => last - first,
                _ => Duration::ZERO,
            },
            longest_gap: self.longest_gap,
        }
    }
}

/// What a receiver saw.
#[derive(Debug, Clone, Copy)]
struct Received {
    bytes: u64,
    digest: [u8; 32],
    first_wrong: Option<u64>,
    /// From the first byte to the last.
    elapsed: Duration,
    longest_gap: Duration,
}

fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// Our side, run by the stack thread after every poll.

/// Our server: accepts the kernel's connection and reads it to the end.
struct OurReceiver {
    listener: ListenerHandle,
    connection: Option<TcpHandle>,
    sink: Sink,
    /// Set when the stream ended: at the peer's FIN, or with an error.
    end: Option<Result<(), TcpError>>,
}

impl OurReceiver {
    fn pump(&mut self, stack: &mut Stack<'_>) -> bool {
        if self.end.is_some() {
            return false;
        }
        let connection = match self.connection {
            Some(connection) => connection,
            None => match stack.tcp_accept(self.listener) {
                Some(connection) => *self.connection.insert(connection),
                None => return false,
            },
        };
        let mut tcp = stack.tcp(connection);
        let mut worked = false;
        loop {
            let sink = &mut self.sink;
            match tcp.recv_with(|data| {
                sink.take(data);
                (data.len(), data.len())
            }) {
                Ok(0) => break,
                Ok(_) => worked = true,
                Err(error) => {
                    self.end = Some(Err(error));
                    return true;
                }
            }
        }
        if !tcp.may_recv() {
            // The kernel's FIN came and everything before it was read.
            self.end = Some(match tcp.error() {
                Some(error) => Err(error),
                None => Ok(()),
            });
            tcp.close();
            worked = true;
        }
        worked
    }
}

/// Our client: sends its stream once connected, then closes.
struct OurSender {
    /// Set while the kernel's view is read: nothing more is sent.
    paused: Arc<AtomicBool>,
    connection: TcpHandle,
    source: Source,
    closed: bool,
    error: Option<TcpError>,
}

impl OurSender {
    fn pump(&mut self, stack: &mut Stack<'_>) -> bool {
        let mut tcp = stack.tcp(self.connection);
        if self.closed || self.error.is_some() || self.paused.load(Ordering::Acquire) {
            return false;
        }
        match tcp.state() {
            TcpState::Established | TcpState::CloseWait => {}
            TcpState::SynSent => return false,
            state => {
                self.error = Some(tcp.error().unwrap_or(TcpError::InvalidState));
                eprintln!("  our sender: connection in {state:?}");
                return false;
            }
        }
        let mut worked = false;
        while self.source.remaining() > 0 {
            let source = &mut self.source;
            match tcp.send_with(|buffer| {
                let n = source.produce(buffer);
                (n, n)
            }) {
                Ok(0) => break,
                Ok(_) => worked = true,
                Err(error) => {
                    self.error = Some(error);
                    return false;
                }
            }
        }
        if self.source.remaining() == 0 {
            tcp.close();
            self.closed = true;
            worked = true;
        }
        worked
    }
}

// ---------------------------------------------------------------------------
// The kernel's side.

/// The kernel client's sending: `total` bytes of the pattern; returns
/// their digest.
fn kernel_send(
    stream: &mut TcpStream,
    total: u64,
    stop: &AtomicBool,
    paused: &AtomicBool,
) -> [u8; 32] {
    stream.set_write_timeout(Some(KERNEL_TIMEOUT)).unwrap();
    stream.set_read_timeout(Some(KERNEL_TIMEOUT)).unwrap();
    let mut source = Source::new(Pattern::KERNEL_TO_US, total);
    let mut chunk = vec![0; 256 * 1024];
    while source.remaining() > 0 && !stop.load(Ordering::Acquire) {
        if paused.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let n = source.produce(&mut chunk);
        stream
            .write_all(&chunk[..n])
            .unwrap_or_else(|e| panic!("kernel send after {} bytes: {e}", source.produced));
    }
    source.hasher.finalize().into()
}

/// The kernel server's reader: reads to the end of the stream.
fn kernel_receive(stream: &mut TcpStream, sink: &mut Sink, stop: &AtomicBool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buffer = vec![0; 256 * 1024];
    let mut idle_since = Instant::now();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                sink.take(&buffer[..n]);
                idle_since = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::Acquire) || idle_since.elapsed() > KERNEL_TIMEOUT {
                    return;
                }
            }
            Err(e) => panic!("kernel receive after {} bytes: {e}", sink.received),
        }
    }
}

/// The kernel's socket with peer `peer`, from `ss -tino`.
fn ss_socket(peer: SocketAddrV4) -> Option<kernel::SsSocket> {
    let peer = peer.to_string();
    kernel::ss_tcp().into_iter().find(|s| s.peer == peer)
}

/// Asserts that the kernel negotiated SACK, timestamps and window scaling
/// with us (RFC 2018, RFC 7323), reading `ss -tino` while established.
fn assert_options_in_use(socket: &kernel::SsSocket) {
    assert_eq!(socket.state, "ESTAB", "{socket:?}");
    assert!(socket.has("sack"), "no SACK: {socket:?}");
    assert!(socket.has("ts"), "no timestamps: {socket:?}");
    let wscale = socket
        .field("wscale")
        .unwrap_or_else(|| panic!("no window scaling: {socket:?}"));
    // "snd_wscale,rcv_wscale": the first is the shift we announced, the
    // smallest that lets our whole ring be offered.
    let ours: u32 = wscale
        .split(',')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad wscale {wscale:?}"));
    let mut expected = 0;
    while (RING >> expected) > 0xffff {
        expected += 1;
    }
    assert_eq!(ours, expected, "{socket:?}");
}

// ---------------------------------------------------------------------------
// One transfer each way.

/// What one transfer showed.
#[derive(Debug)]
struct Transfer {
    label: &'static str,
    sent: [u8; 32],
    received: Received,
    /// The kernel's view of the connection mid-transfer.
    ss: kernel::SsSocket,
    /// Our connection's counters at the end.
    ours: TcpSocketStats,
}

impl Transfer {
    fn megabytes_per_second(&self) -> f64 {
        self.received.bytes as f64 / 1e6 / self.received.elapsed.as_secs_f64().max(1e-9)
    }

    fn report(&self) {
        eprintln!(
            "  {}: {} bytes in {:.2?} = {:.1} MB/s, longest gap {:.1?}, sha256 {}",
            self.label,
            self.received.bytes,
            self.received.elapsed,
            self.megabytes_per_second(),
            self.received.longest_gap,
            hex(&self.received.digest)
        );
        eprintln!("    our connection: {:?}", self.ours);
        eprintln!("    kernel (ss -tino, mid-transfer): {}", self.ss.info);
    }

    fn assert_exact(&self, total: u64) {
        assert_eq!(
            self.received.first_wrong, None,
            "{}: wrong byte at this stream offset",
            self.label
        );
        assert_eq!(self.received.bytes, total, "{}: length", self.label);
        assert_eq!(
            hex(&self.received.digest),
            hex(&self.sent),
            "{}: SHA-256 of what was received vs what was sent",
            self.label
        );
    }
}

/// What [`monitor`] reads and steers of a transfer.
struct Flow<'a> {
    /// Bytes the receiving application has taken.
    progress: &'a AtomicU64,
    /// Holds the sender while set.
    paused: &'a AtomicBool,
}

/// Watches the flow's progress until `done`, checking the kernel's view of
/// the connection once a tenth has arrived, with the sender paused
/// meanwhile. Panics on a stall, with `diagnose`'s account of our side.
fn monitor(
    label: &str,
    total: u64,
    peer: Peer<'_>,
    Flow { progress, paused }: Flow<'_>,
    done: impl Fn() -> bool,
    kernel_peer: impl Fn() -> Option<SocketAddrV4>,
    diagnose: impl Fn() -> String,
) -> kernel::SsSocket {
    let mut ss = None;
    let (mut last, mut last_change) = (0, Instant::now());
    while !done() {
        std::thread::sleep(Duration::from_millis(5));
        let now = progress.load(Ordering::Acquire);
        if now != last {
            (last, last_change) = (now, Instant::now());
        }
        if ss.is_none() && now >= total / 10 && now < total {
            // Looking our end up waits for the stack thread's lock, and `ss`
            // starts in the peer's namespace: on a loaded machine the two have
            // taken longer than the rest of the transfer (90 MB at 500 MB/s),
            // and an ended connection is not listed. So the sender waits from
            // before the lookup until `ss` has answered. (Held by the
            // receiver instead, a full kernel receive queue drops segments,
            // which we then resend.)
            paused.store(true, Ordering::Release);
            let socket = kernel_peer().map(|our_end| (our_end, peer.run(|| ss_socket(our_end))));
            paused.store(false, Ordering::Release);
            if let Some((our_end, socket)) = socket {
                last_change = Instant::now();
                let socket = socket
                    .unwrap_or_else(|| panic!("{label}: ss shows no connection with {our_end}"));
                assert_options_in_use(&socket);
                ss = Some(socket);
            }
        }
        assert!(
            last_change.elapsed() < STALL_LIMIT,
            "{label}: no progress for {STALL_LIMIT:?} at {last} of {total} bytes; {}",
            diagnose()
        );
    }
    ss.unwrap_or_else(|| panic!("{label}: ended before the kernel's view was taken"))
}

/// Our side's state, for a failure message.
fn diagnose(lab: &Lab<'_, '_>, connection: Option<TcpHandle>) -> String {
    lab.with(|stack| {
        let socket = connection.map(|c| {
            let mut tcp = stack.tcp(c);
            format!(
                "{:?} err {:?} send_queue {} recv_queue {} {:?}",
                tcp.state(),
                tcp.error(),
                tcp.send_queue(),
                tcp.recv_queue(),
                tcp.stats()
            )
        });
        format!("our socket: {socket:?}; stack: {:?}", stack.stats().tcp)
    })
}

/// Waits until our `connection` is `Closed` or in TIME-WAIT, then frees it.
fn wait_closed_and_remove(lab: &Lab<'_, '_>, label: &str, connection: TcpHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = lab.with(|stack| stack.tcp(connection).state());
        if matches!(state, TcpState::Closed | TcpState::TimeWait) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: our connection still {state:?}; {}",
            diagnose(lab, Some(connection))
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let error = lab.with(|stack| {
        let error = stack.tcp(connection).error();
        stack.remove_tcp_socket(connection).unwrap();
        error
    });
    assert_eq!(error, None, "{label}: the connection ended badly");
}

/// A kernel client connects to our listener and sends `total` bytes.
fn kernel_to_us(lab: &Lab<'_, '_>, peer: Peer<'_>, total: u64) -> Transfer {
    let label = "kernel → us";
    let net = lab.net;
    let listener = lab.with(|stack| stack.tcp_listen(OUR_PORT, 1, RING, RING).unwrap());
    let receiver = Arc::new(Mutex::new(OurReceiver {
        listener,
        connection: None,
        sink: Sink::new(Pattern::KERNEL_TO_US),
        end: None,
    }));
    let progress = Arc::clone(&receiver.lock().unwrap().sink.progress);
    lab.set_app(Box::new({
        let receiver = Arc::clone(&receiver);
        move |stack| receiver.lock().unwrap().pump(stack)
    }));
    let our_addr = SocketAddrV4::new(net.our_ip, OUR_PORT);
    let stop = AtomicBool::new(false);
    let paused = AtomicBool::new(false);

    let (sent, ss) = std::thread::scope(|scope| {
        let kernel = scope.spawn(|| {
            peer.enter();
            let mut stream =
                TcpStream::connect_timeout(&SocketAddr::V4(our_addr), Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("the kernel's connect to us: {e}"));
            let digest = kernel_send(&mut stream, total, &stop, &paused);
            stream.shutdown(Shutdown::Write).unwrap();
            // Our FIN answers: read to the end of our (empty) stream.
            let mut rest = Vec::new();
            stream
                .read_to_end(&mut rest)
                .unwrap_or_else(|e| panic!("kernel waiting for our FIN: {e}"));
            assert!(rest.is_empty(), "we sent {} bytes", rest.len());
            digest
        });
        let _stop = StopOnDrop(&stop);
        let ss = monitor(
            label,
            total,
            peer,
            Flow {
                progress: &progress,
                paused: &paused,
            },
            || kernel.is_finished(),
            || Some(our_addr),
            || {
                let connection = receiver.lock().unwrap().connection;
                diagnose(lab, connection)
            },
        );
        let sent = kernel
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (sent, ss)
    });

    let (connection, end, received) = {
        let receiver = receiver.lock().unwrap();
        (receiver.connection, receiver.end, receiver.sink.summary())
    };
    let connection = connection.expect("the kernel's connection was accepted");
    assert_eq!(end, Some(Ok(())), "{label}: our receiver");
    let ours = lab.with(|stack| stack.tcp(connection).stats());
    wait_closed_and_remove(lab, label, connection);
    lab.with(|stack| stack.tcp_unlisten(listener));
    Transfer {
        label,
        sent,
        received,
        ss,
        ours,
    }
}

/// Our client connects to a kernel listener and sends `total` bytes.
fn us_to_kernel(lab: &Lab<'_, '_>, peer: Peer<'_>, total: u64) -> Transfer {
    let label = "us → kernel";
    let net = lab.net;
    let kernel_listener = peer.run(|| TcpListener::bind((peer.ip, KERNEL_PORT)).unwrap());
    kernel_listener.set_nonblocking(true).unwrap();
    let connection = lab.with(|stack| {
        let connection = stack.add_tcp_socket(RING, RING).unwrap();
        stack
            .tcp(connection)
            .connect((peer.ip, KERNEL_PORT), 0)
            .unwrap();
        connection
    });
    let paused = Arc::new(AtomicBool::new(false));
    let sender = Arc::new(Mutex::new(OurSender {
        paused: Arc::clone(&paused),
        connection,
        source: Source::new(Pattern::US_TO_KERNEL, total),
        closed: false,
        error: None,
    }));
    lab.set_app(Box::new({
        let sender = Arc::clone(&sender);
        move |stack| sender.lock().unwrap().pump(stack)
    }));
    let mut sink = Sink::new(Pattern::US_TO_KERNEL);
    let progress = Arc::clone(&sink.progress);
    let stop = AtomicBool::new(false);

    let ss = std::thread::scope(|scope| {
        let kernel = scope.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut stream = loop {
                match kernel_listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("the kernel's accept of our connection: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            kernel_receive(&mut stream, &mut sink, &stop);
            // Dropping the stream closes it: our connection goes to TIME-WAIT.
        });
        let _stop = StopOnDrop(&stop);
        let ss = monitor(
            label,
            total,
            peer,
            Flow {
                progress: &progress,
                paused: &paused,
            },
            || kernel.is_finished(),
            || {
                let local = lab.with(|stack| stack.tcp(connection).local_endpoint())?;
                Some(SocketAddrV4::new(net.our_ip, local.port))
            },
            || diagnose(lab, Some(connection)),
        );
        kernel
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        ss
    });

    let (sent, error) = {
        let sender = sender.lock().unwrap();
        (sender.source.hasher.clone().finalize().into(), sender.error)
    };
    assert_eq!(error, None, "{label}: our sender");
    let ours = lab.with(|stack| stack.tcp(connection).stats());
    wait_closed_and_remove(lab, label, connection);
    Transfer {
        label,
        sent,
        received: sink.summary(),
        ss,
        ours,
    }
}

/// Sets the stop flag when dropped, also by a panic, so the kernel's
/// threads end and the scope can be left.
struct StopOnDrop<'s>(&'s AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A packet capture of the test's TAP while it lives, when the environment
/// asks for one (`DUET_TCP_CAPTURE=dir`): headers only, for debugging.
struct Capture(Option<std::process::Child>);

impl Capture {
    fn start(tap: &str) -> Self {
        let Some(dir) = std::env::var_os("DUET_TCP_CAPTURE") else {
            return Self(None);
        };
        let file = std::path::Path::new(&dir).join(format!("{tap}.pcap"));
        let child = std::process::Command::new("tcpdump")
            .args(["-i", tap, "-s", "128", "-B", "32768", "-w"])
            .arg(&file)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tcpdump must be installed");
        // Let it attach before traffic starts.
        std::thread::sleep(Duration::from_millis(300));
        eprintln!("  capturing {tap} to {}", file.display());
        Self(Some(child))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            std::thread::sleep(Duration::from_millis(200));
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resolves both sides' ARP (the kernel asks for us) before the transfers.
fn resolve_neighbors(lab: &Lab<'_, '_>) {
    let our_ip = lab.net.our_ip.to_string();
    kernel::run("ping", &["-c", "1", "-W", "2", "-n", "-q", &our_ip]);
}

/// Asserts the stack dropped nothing for lack of room, and prints its counters.
fn report_stack(lab: &Lab<'_, '_>) {
    let stats = lab.with(|stack| stack.stats().clone());
    eprintln!("  our stack: {:?}", stats.tcp);
    assert_eq!(stats.ethernet.drop_no_buffer, 0, "{stats:#?}");
    assert_eq!(stats.pool.exhausted, 0, "{stats:#?}");
    assert_eq!(stats.tcp.drop_bad_checksum, 0, "{stats:#?}");
    assert_eq!(stats.tcp.drop_malformed, 0, "{stats:#?}");
    assert_eq!(stats.tcp.timeouts, 0, "{stats:#?}");
}

/// The kernel's TCP counters that say how loss was handled.
const KERNEL_LOSS_COUNTERS: &[&str] = &[
    "Tcp.RetransSegs",
    "TcpExt.TCPSackRecovery",
    "TcpExt.TCPRenoRecovery",
    "TcpExt.TCPFastRetrans",
    "TcpExt.TCPTimeouts",
    "TcpExt.TCPLossProbes",
    "TcpExt.TCPLostRetransmit",
    "TcpExt.TCPSpuriousRTOs",
    "TcpExt.TCPDSACKRecv",
    "TcpExt.TCPDSACKOldSent",
    "TcpExt.TCPSACKReorder",
    "TcpExt.TCPOFOQueue",
    "TcpExt.TCPSACKDiscard",
    "TcpExt.PAWSEstab",
];

fn report_kernel(peer: Peer<'_>, before: &kernel::NetCounters) -> kernel::NetCounters {
    let grown = peer.run(kernel::NetCounters::read).since(before);
    let shown: Vec<String> = KERNEL_LOSS_COUNTERS
        .iter()
        .map(|name| format!("{name} {}", grown.get(name)))
        .collect();
    eprintln!("  kernel: {}", shown.join(", "));
    grown
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn hundred_megabytes_each_way_with_the_kernel_arrive_exact() {
    with_lab(Net::new("duettcp0", 21), |lab| {
        let _capture = Capture::start(lab.net.tap);
        resolve_neighbors(lab);
        let peer = Peer::lab(lab);
        let before = kernel::NetCounters::read();
        let down = kernel_to_us(lab, peer, CLEAN_BYTES);
        down.report();
        let up = us_to_kernel(lab, peer, CLEAN_BYTES);
        up.report();
        report_stack(lab);
        let kernel = report_kernel(peer, &before);

        down.assert_exact(CLEAN_BYTES);
        up.assert_exact(CLEAN_BYTES);
        // A clean link: we resent nothing, and the kernel recovered no loss.
        // (It may send a tail loss probe when our stack thread is not
        // scheduled for a few milliseconds on a busy machine; that is a
        // retransmission but not a recovery.)
        assert_eq!((down.ours.retransmissions, up.ours.retransmissions), (0, 0));
        for counter in [
            "TcpExt.TCPSackRecovery",
            "TcpExt.TCPRenoRecovery",
            "TcpExt.TCPTimeouts",
        ] {
            assert_eq!(kernel.get(counter), 0, "{counter}: {kernel:?}");
        }
        assert!(
            kernel.get("Tcp.RetransSegs") <= kernel.get("TcpExt.TCPLossProbes"),
            "{kernel:?}"
        );
        // Far below what both directions do (150-300 MB/s here): a floor that
        // catches a transfer stalling on timers, not a benchmark.
        for transfer in [&down, &up] {
            assert!(transfer.megabytes_per_second() > 20.0, "{transfer:?}");
        }
    });
}

#[test]
fn with_5_percent_loss_and_1_percent_duplication_the_streams_stay_exact() {
    with_lab(Net::new("duettcp1", 22), |lab| {
        let tap = lab.net.tap;
        let _capture = Capture::start(tap);
        // The kernel's end is a second host behind the lab's kernel, so that
        // frames from it can be lost on a link (the lab's ingress from the
        // veth) without its TCP learning of it: a drop at the sending host's
        // own egress is reported back to its TCP as local congestion.
        let peer_ns = Netns::new();
        let (outer, inner) = ("duettcp1p", "duettcp1v");
        let peer = Peer {
            ip: lab.net.unused_ip(),
            ns: Some(&peer_ns),
        };
        add_routed_peer(&lab.net, &peer_ns, peer.ip, (outer, inner));
        // One segment per skb, so that a drop or a copy is one segment and
        // not a whole GSO burst.
        peer.run(|| kernel::ip(&["link", "set", "dev", outer, "gso_max_segs", "1"]));
        let _peer_capture = peer.run(|| Capture::start(outer));
        resolve_neighbors(lab);
        let tcp = "meta protocol ip ip protocol tcp";
        kernel::nft(&format!(
            "table netdev {FAULTS} {{\n\
             \tchain {FROM_US} {{ type filter hook ingress device \"{tap}\" priority 0;\n\
             \t\t{tcp} numgen random mod 100 < 5 counter drop; }}\n\
             \tchain {FROM_PEER} {{ type filter hook ingress device \"{inner}\" priority 0;\n\
             \t\t{tcp} numgen random mod 100 < 5 counter drop; }}\n\
             \tchain {TO_US} {{ type filter hook egress device \"{tap}\" priority 0;\n\
             \t\t{tcp} numgen random mod 100 < 1 counter dup to \"{tap}\"; }}\n\
             }}\n"
        ));
        let before = peer.run(kernel::NetCounters::read);
        let down = kernel_to_us(lab, peer, LOSSY_BYTES);
        down.report();
        let up = us_to_kernel(lab, peer, LOSSY_BYTES);
        up.report();
        report_stack(lab);
        let kernel = report_kernel(peer, &before);
        let counter = |chain: &str| {
            let listing = kernel::run("nft", &["list", "chain", "netdev", FAULTS, chain]);
            kernel::parse_counter_packets(&listing)
                .unwrap_or_else(|| panic!("no counter in\n{listing}"))
        };
        let (ours_dropped, peers_dropped, duplicated) =
            (counter(FROM_US), counter(FROM_PEER), counter(TO_US));
        eprintln!(
            "  nft: dropped {ours_dropped} of our frames and {peers_dropped} of the kernel's, \
             duplicated {duplicated} of the kernel's"
        );

        down.assert_exact(LOSSY_BYTES);
        up.assert_exact(LOSSY_BYTES);
        // The faults happened, and each side repaired the other's losses.
        assert!(ours_dropped > 0 && peers_dropped > 0 && duplicated > 0);
        assert!(up.ours.retransmissions > 0, "{:?}", up.ours);
        assert!(up.ours.fast_recoveries > 0, "{:?}", up.ours);
        assert!(kernel.get("TcpExt.TCPSackRecovery") > 0, "{kernel:?}");
        for transfer in [&down, &up] {
            assert!(transfer.megabytes_per_second() > 2.0, "{transfer:?}");
        }
    });
}

/// The nftables table of the lossy test and its chains.
const FAULTS: &str = "duet_tcp_faults";
const FROM_US: &str = "from_us";
const FROM_PEER: &str = "from_peer";
const TO_US: &str = "to_us";
