//! SYN cookies (RFC 4987 §3.6) with the Linux kernel as the peer: a SYN
//! flood fills our listener's backlog with connections that never complete,
//! and a kernel client still gets in — its handshake completed by a cookie
//! — and exchanges a mebibyte each way with our echo; without cookies the
//! same client is kept out for as long as the flood lasts.
//!
//! The flood is the kernel's own connects from a second host (a namespace
//! behind the lab's kernel, which forwards), whose SYN-ACKs an nftables
//! rule on the lab's side of the TAP drops: their SYNs reach us, and are
//! retransmitted, but no handshake completes — what a flood from spoofed
//! addresses looks like to a listener. The client connects from the lab's
//! kernel itself, on the TAP's subnet.
//!
//! Needs root (CAP_NET_ADMIN), `iproute2`, `nftables` and `ss`; fails,
//! never skips, without them.
#![cfg(all(feature = "std", feature = "syn-cookies", target_os = "linux"))]

#[allow(dead_code)]
#[path = "linux/kernel.rs"]
mod kernel;
#[allow(dead_code)]
#[path = "linux/lab.rs"]
mod lab;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duet_netstack::stack::{Config, ListenerHandle, Stack, TcpHandle};
use duet_netstack::stats::TcpStats;
use duet_netstack::tcp::TcpConfig;

use lab::{Lab, Net, Netns, add_routed_peer, with_tcp_lab};

/// Our listener's port and backlog.
const PORT: u16 = 5003;
const BACKLOG: u16 = 2;
/// Kernel connects in the flood: more than the backlog holds.
const FLOOD: usize = 6;
/// How long a flooding connect keeps retrying its SYN.
const FLOOD_FOR: Duration = Duration::from_secs(6);
/// Bytes the client sends through our echo, and gets back.
const ECHOED: usize = 1 << 20;
/// Rings of our connections.
const RING: usize = 16 * 1024;
const SOCKETS: usize = 4;

/// The echo our stack runs for the first connection it accepts.
struct Echo {
    listener: ListenerHandle,
    connection: Option<TcpHandle>,
    pending: Vec<u8>,
}

impl Echo {
    /// One round of the application: accept, read what fits, write it back.
    fn pump(&mut self, stack: &mut Stack<'_>) -> bool {
        let mut worked = false;
        if self.connection.is_none() {
            self.connection = stack.tcp_accept(self.listener);
            worked = self.connection.is_some();
        }
        let Some(connection) = self.connection else {
            return worked;
        };
        let mut tcp = stack.tcp(connection);
        if self.pending.is_empty() {
            let mut buf = [0u8; 4096];
            if let Ok(n @ 1..) = tcp.recv_slice(&mut buf) {
                self.pending.extend_from_slice(&buf[..n]);
                worked = true;
            }
        }
        if let Ok(n @ 1..) = tcp.send_slice(&self.pending) {
            self.pending.drain(..n);
            worked = true;
        }
        worked
    }
}

/// Byte `i` of the client's stream.
fn stream_byte(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 11)) as u8
}

/// Connects to our echo from the lab's kernel, sends [`ECHOED`] bytes and
/// reads them back; returns the connection's `ss -tino` line, read while it
/// was established.
fn echo_through(addr: SocketAddrV4) -> std::io::Result<kernel::SsSocket> {
    let mut stream = TcpStream::connect_timeout(&SocketAddr::V4(addr), Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let local = stream.local_addr()?.to_string();
    let mut writer = stream.try_clone()?;
    let sender = std::thread::spawn(move || {
        let data: Vec<u8> = (0..ECHOED).map(stream_byte).collect();
        writer.write_all(&data)
    });
    let mut back = vec![0u8; ECHOED];
    stream.read_exact(&mut back)?;
    sender.join().expect("the sending thread")?;
    let ss = kernel::ss_tcp()
        .into_iter()
        .find(|s| s.local == local)
        .expect("ss shows the client's connection");
    let wrong = (0..ECHOED).find(|&i| back[i] != stream_byte(i));
    assert_eq!(wrong, None, "the echo differs from what was sent");
    stream.shutdown(Shutdown::Both)?;
    Ok(ss)
}

/// What one run showed.
struct Outcome {
    client: std::io::Result<kernel::SsSocket>,
    stats: TcpStats,
    /// Flood connects our stack answered while the client ran (their
    /// retransmitted SYNs keep coming).
    flood_failed: usize,
}

/// Floods our listener from a second host, then lets the lab's kernel
/// connect as a client, with or without SYN cookies.
fn flood_then_connect(net: Net, syn_cookies: bool) -> Outcome {
    let config = Config {
        seed: 0x5c_0031,
        tcp: TcpConfig {
            syn_cookies,
            ..TcpConfig::default()
        },
        ..Config::default()
    };
    with_tcp_lab::<SOCKETS, { SOCKETS * 2 * RING }, _>(net, config, |lab: &Lab<'_, '_>| {
        let tap = net.tap;
        let flooder_ns = Netns::new();
        let flooder_ip = net.unused_ip();
        let veth = (&*format!("{tap}f"), &*format!("{tap}v"));
        add_routed_peer(&net, &flooder_ns, flooder_ip, veth);
        // Our SYN-ACKs to the flooder die on the way: its handshakes never
        // complete.
        kernel::nft(&format!(
            "table netdev synflood {{\n\
             \tchain from_us {{ type filter hook ingress device \"{tap}\" priority 0;\n\
             \t\tmeta protocol ip ip daddr {flooder_ip} tcp flags & (syn | ack) == syn | ack \
             counter drop; }}\n\
             }}\n"
        ));
        let listener =
            lab.with(|stack| stack.tcp_listen(PORT, BACKLOG, RING, RING).expect("listen"));
        let echo = Arc::new(Mutex::new(Echo {
            listener,
            connection: None,
            pending: Vec::new(),
        }));
        lab.set_app(Box::new({
            let echo = Arc::clone(&echo);
            move |stack| echo.lock().expect("echo").pump(stack)
        }));
        let ours = SocketAddrV4::new(net.our_ip, PORT);

        std::thread::scope(|scope| {
            let flood: Vec<_> = (0..FLOOD)
                .map(|_| {
                    scope.spawn(|| {
                        flooder_ns.run(|| {
                            TcpStream::connect_timeout(&SocketAddr::V4(ours), FLOOD_FOR).is_err()
                        })
                    })
                })
                .collect();
            // The backlog is full of half-open connections once a SYN finds
            // no place: answered with a cookie, or dropped.
            let started = Instant::now();
            loop {
                let stats = lab.with(|stack| stack.stats().tcp.clone());
                if stats.tx_syn_cookies + stats.drop_backlog_full > 0 {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the flood never filled the backlog: {stats:?}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            let client = echo_through(ours);
            let stats = lab.with(|stack| stack.stats().tcp.clone());
            let flood_failed = flood
                .into_iter()
                .map(|connect| connect.join().expect("a flooding connect"))
                .filter(|&failed| failed)
                .count();
            Outcome {
                client,
                stats,
                flood_failed,
            }
        })
    })
}

#[test]
fn with_syn_cookies_a_client_gets_past_a_syn_flood() {
    let outcome = flood_then_connect(Net::new("duetsyn0", 51), true);
    let ss = outcome
        .client
        .unwrap_or_else(|e| panic!("the client: {e}; ours: {:?}", outcome.stats));
    eprintln!(
        "syn cookies: {} sent, {} returned; client echoed {ECHOED} bytes; kernel: {}",
        outcome.stats.tx_syn_cookies, outcome.stats.rx_syn_cookies, ss.info
    );
    assert!(outcome.stats.tx_syn_cookies >= 1, "{:?}", outcome.stats);
    assert!(outcome.stats.rx_syn_cookies >= 1, "{:?}", outcome.stats);
    // The connection came from a cookie: the kernel agreed to none of the
    // options a cookie's SYN-ACK leaves out.
    assert_eq!(ss.state, "ESTAB", "{ss:?}");
    assert!(
        !ss.has("sack") && !ss.has("ts") && ss.field("wscale").is_none(),
        "{ss:?}"
    );
    // The flood itself never got in.
    assert_eq!(outcome.flood_failed, FLOOD);
}

#[test]
fn without_syn_cookies_the_same_flood_keeps_the_client_out() {
    let outcome = flood_then_connect(Net::new("duetsyn1", 52), false);
    match outcome.client {
        Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}"),
        Ok(ss) => panic!("the client got in without cookies: {ss:?}"),
    }
    assert!(outcome.stats.drop_backlog_full >= 1, "{:?}", outcome.stats);
    assert_eq!(
        (outcome.stats.tx_syn_cookies, outcome.stats.rx_syn_cookies),
        (0, 0)
    );
    assert_eq!(outcome.flood_failed, FLOOD);
}
