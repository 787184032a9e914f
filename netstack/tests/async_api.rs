//! The async API end to end: two stacks, each driven by its `Runner`, on one
//! executor, joined by the virtual link (zero delay, so real time and the
//! link's clock need not agree). Timers are embassy-time's std driver.
#![cfg(all(feature = "std", feature = "async"))]

use core::net::{IpAddr, Ipv4Addr};

use duet_netstack::asynch::{self, IcmpSocket, PingError, StackCell, UdpSocket};
use duet_netstack::driver::virtual_link::{LinkConfig, LinkEnd, VirtualClock, VirtualLink};
use duet_netstack::iface::{InterfaceConfig, Ipv4Cidr, Ipv4Config};
use duet_netstack::{Config, Duration, EthernetAddress, Stack, StackResources};
use embassy_futures::block_on;
use embassy_futures::select::{Either, Either3, select, select3};
use embassy_net_driver::LinkState;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb];
const IP_A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);

fn core_stack<'a>(
    resources: &'a mut StackResources<32, 4>,
    mac: [u8; 6],
    ip: Ipv4Addr,
) -> Stack<'a> {
    let mut config = Config {
        seed: u64::from(ip.octets()[3]),
        ..Config::default()
    };
    config.neighbor.retransmit_interval = Duration::from_millis(50);
    let mut stack = Stack::new(resources, config);
    let ipv4 = Ipv4Config {
        address: Ipv4Cidr::new(ip, 24),
        gateway: None,
    };
    stack
        .add_interface(InterfaceConfig {
            hardware_address: EthernetAddress(mac),
            ipv4: Some(ipv4),
        })
        .unwrap();
    stack
}

/// A zero-delay virtual link between A's and B's MAC addresses.
fn link_pair(seed: u64) -> (LinkEnd, LinkEnd) {
    let link = LinkConfig {
        mac_a: MAC_A,
        mac_b: MAC_B,
        ..LinkConfig::default()
    };
    VirtualLink::pair(VirtualClock::default(), seed, link)
}

/// [`core_stack`] with TCP on `tcp`'s memory.
fn tcp_stack<'a, const BYTES: usize>(
    resources: &'a mut StackResources<32, 4>,
    tcp: &'a mut duet_netstack::stack::TcpResources<2, BYTES>,
    mac: [u8; 6],
    ip: Ipv4Addr,
) -> Stack<'a> {
    let mut stack = core_stack(resources, mac, ip);
    stack.enable_tcp(tcp);
    stack
}

#[test]
fn udp_echo_and_ping_through_runners() {
    let (end_a, end_b) = link_pair(1);
    let (mut res_a, mut res_b) = (StackResources::new(), StackResources::new());
    let cell_a = StackCell::new(core_stack(&mut res_a, MAC_A, IP_A));
    let cell_b = StackCell::new(core_stack(&mut res_b, MAC_B, IP_B));
    let (stack_a, mut runner_a) = asynch::new(&cell_a, end_a);
    let (stack_b, mut runner_b) = asynch::new(&cell_b, end_b);

    let server = async {
        let mut socket = UdpSocket::new(stack_b).unwrap();
        socket.bind(7).unwrap();
        let mut buf = [0u8; 1500];
        loop {
            let (len, meta) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(&buf[..len], meta.remote).await.unwrap();
        }
    };
    let client = async {
        stack_a.wait_link_up().await;
        let mut socket = UdpSocket::new(stack_a).unwrap();
        socket.bind(0).unwrap();
        for n in 0..200u32 {
            let payload: Vec<u8> = (0..(n % 1400 + 1)).map(|i| (i ^ n) as u8).collect();
            socket.send_to(&payload, (IP_B, 7)).await.unwrap();
            let echoed = socket
                .recv_with(|data, meta| (data.to_vec(), meta.remote.port))
                .await
                .unwrap();
            assert_eq!(echoed, (payload, 7));
        }
        let pinger = IcmpSocket::new(stack_a).unwrap();
        let timeout = Duration::from_millis(500);
        for seq in 0..5 {
            let rtt = pinger
                .ping(IpAddr::V4(IP_B), seq, b"async ping", timeout)
                .await;
            assert!(rtt.is_ok(), "{rtt:?}");
        }
        let nobody = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 99));
        assert_eq!(
            pinger.ping(nobody, 9, b"anyone?", timeout).await,
            Err(PingError::Timeout)
        );
    };

    match block_on(select3(
        runner_a.run(),
        runner_b.run(),
        select(server, client),
    )) {
        Either3::Third(Either::Second(())) => {}
        _ => panic!("only the client finishes"),
    }
    let (a, b) = (
        stack_a.with(|s| s.stats().clone()),
        stack_b.with(|s| s.stats().clone()),
    );
    assert_eq!(b.udp.rx_datagrams, 200);
    assert_eq!(a.udp.rx_datagrams, 200);
    assert_eq!(b.icmp.tx_echo_replies, 5);
    assert_eq!(
        a.arp.resolution_failures, 1,
        "the unanswered ping's neighbour failed"
    );
    assert_eq!(stack_a.with(|s| s.pool_usage().0), 32, "no buffer leaked");
}

#[test]
fn link_waits_follow_the_driver_down_and_up() {
    let (end_a, end_b) = link_pair(4);
    let mut res_a = StackResources::new();
    let cell_a = StackCell::new(core_stack(&mut res_a, MAC_A, IP_A));
    let (stack_a, mut runner_a) = asynch::new(&cell_a, end_a);
    // Both ends see the state; B's end stays here to flip it.
    let watcher = async {
        stack_a.wait_link_up().await;
        assert!(stack_a.is_link_up());
        end_b.set_link_state(LinkState::Down);
        stack_a.wait_link_down().await;
        assert!(!stack_a.is_link_up());
        end_b.set_link_state(LinkState::Up);
        stack_a.wait_link_up().await;
        assert!(stack_a.is_link_up());
    };
    let deadline = embassy_time::Timer::after_secs(10);
    match block_on(select3(runner_a.run(), watcher, deadline)) {
        Either3::Second(()) => {}
        Either3::Third(()) => panic!("the link change was not seen within 10 s"),
        Either3::First(_) => panic!("the runner stopped"),
    }
}

#[test]
fn tcp_echo_through_runners_with_embedded_io_async() {
    use duet_netstack::asynch::{TcpListener, TcpSocket};
    use duet_netstack::stack::TcpResources;
    use embedded_io_async::Write;

    let (end_a, end_b) = link_pair(2);
    let (mut res_a, mut res_b) = (StackResources::new(), StackResources::new());
    let (mut tcp_a, mut tcp_b) = (
        TcpResources::<2, 32768>::new(),
        TcpResources::<2, 32768>::new(),
    );
    let cell_a = StackCell::new(tcp_stack(&mut res_a, &mut tcp_a, MAC_A, IP_A));
    let cell_b = StackCell::new(tcp_stack(&mut res_b, &mut tcp_b, MAC_B, IP_B));
    let (stack_a, mut runner_a) = asynch::new(&cell_a, end_a);
    let (stack_b, mut runner_b) = asynch::new(&cell_b, end_b);

    let total = 200_000usize;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let server = async {
        let mut listener = TcpListener::bind(stack_b, 7, 1, 8192, 8192).unwrap();
        let mut socket = listener.accept().await;
        let mut buf = [0u8; 1500];
        loop {
            // Through the `embedded_io_async::Read` impl, which generic
            // protocol code (an MQTT or TLS client) calls; the client below
            // reads with the inherent method.
            let n = embedded_io_async::Read::read(&mut socket, &mut buf)
                .await
                .unwrap();
            if n == 0 {
                socket.close();
                socket.flush().await.unwrap();
                return;
            }
            socket.write_all(&buf[..n]).await.unwrap();
        }
    };
    let client = async {
        let mut socket = TcpSocket::new(stack_a, 8192, 8192).unwrap();
        socket.connect((IP_B, 7)).await.unwrap();
        let mut echoed = Vec::new();
        let mut buf = [0u8; 4096];
        let mut sent = 0;
        while echoed.len() < total {
            if sent < total {
                sent += socket
                    .write(&data[sent..(sent + 3000).min(total)])
                    .await
                    .unwrap();
            }
            // Read whatever came back, without waiting when nothing did.
            loop {
                let n = embassy_futures::select::select(
                    socket.read(&mut buf),
                    embassy_time::Timer::after_micros(200),
                )
                .await;
                match n {
                    // The end of the stream this early is a failure, and
                    // reading on would spin without ever yielding.
                    Either::First(Ok(0)) => {
                        panic!("the server closed after {} bytes", echoed.len())
                    }
                    Either::First(n) => echoed.extend_from_slice(&buf[..n.unwrap()]),
                    Either::Second(()) => break,
                }
            }
        }
        socket.close();
        let n = socket.read(&mut buf).await.unwrap();
        assert_eq!(n, 0, "the server closed after echoing everything");
        // The trait sees the same end of stream: `read_exact` calls the
        // impl's `read`, gets `Ok(0)` and reports it as an early EOF.
        assert!(matches!(
            embedded_io_async::Read::read_exact(&mut socket, &mut buf[..1]).await,
            Err(embedded_io_async::ReadExactError::UnexpectedEof)
        ));
        assert!(echoed == data);
    };
    // An echo that loses or mangles bytes never reaches `total`: the
    // deadline makes that a failure rather than a hang (the run takes
    // milliseconds).
    let deadline = embassy_time::Timer::after_secs(30);
    match block_on(select3(
        runner_a.run(),
        runner_b.run(),
        select(embassy_futures::join::join(server, client), deadline),
    )) {
        Either3::Third(Either::First(((), ()))) => {}
        Either3::Third(Either::Second(())) => panic!("the echo did not finish within 30 s"),
        _ => panic!("the runners never finish"),
    }
    let (a, b) = (
        stack_a.with(|s| s.stats().tcp.clone()),
        stack_b.with(|s| s.stats().tcp.clone()),
    );
    assert_eq!(
        (a.retransmissions, b.retransmissions),
        (0, 0),
        "a clean link needs none"
    );
}

/// A DNS response to `query` (RFC 1035 §4.1): its question echoed, then one
/// A record for it, or no answer with `rcode`, or TC set and no answer.
fn dns_response(query: &[u8], answer: Option<Ipv4Addr>, rcode: u8, truncated: bool) -> Vec<u8> {
    let mut response = query.to_vec();
    response[2] = 0x80 | (query[2] & 0x01) | if truncated { 0x02 } else { 0 };
    response[3] = 0x80 | rcode;
    if let Some(address) = answer {
        response[7] = 1; // ANCOUNT
        // Name: a pointer to the question's (offset 12); type A, class IN,
        // TTL 300, 4 bytes of address.
        response.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
        response.extend_from_slice(&address.octets());
    }
    response
}

/// The first label of the query's question name.
fn first_label(query: &[u8]) -> String {
    let len = usize::from(query[12]);
    String::from_utf8_lossy(&query[13..13 + len]).into_owned()
}

#[test]
fn resolve_awaits_answers_over_udp_and_truncated_ones_over_tcp() {
    use duet_netstack::IpEndpoint;
    use duet_netstack::asynch::{TcpListener, resolve};
    use duet_netstack::dns::{self, DnsError, RecordKind, Resolver};
    use duet_netstack::rand::Rng;
    use duet_netstack::stack::TcpResources;
    use embedded_io_async::Write;

    let (end_a, end_b) = link_pair(3);
    let (mut res_a, mut res_b) = (StackResources::new(), StackResources::new());
    let (mut tcp_a, mut tcp_b) = (
        TcpResources::<2, 8192>::new(),
        TcpResources::<2, 8192>::new(),
    );
    let cell_a = StackCell::new(tcp_stack(&mut res_a, &mut tcp_a, MAC_A, IP_A));
    let cell_b = StackCell::new(tcp_stack(&mut res_b, &mut tcp_b, MAC_B, IP_B));
    let (stack_a, mut runner_a) = asynch::new(&cell_a, end_a);
    let (stack_b, mut runner_b) = asynch::new(&cell_b, end_b);
    let (broker, big) = (Ipv4Addr::new(10, 1, 0, 77), Ipv4Addr::new(10, 1, 0, 78));

    // The server on B: "broker" answers over UDP, "big" only over TCP,
    // anything else does not exist.
    let udp_server = async {
        let mut socket = UdpSocket::new(stack_b).unwrap();
        socket.bind(dns::DNS_PORT).unwrap();
        let mut query = [0u8; 512];
        loop {
            let (len, meta) = socket.recv_from(&mut query).await.unwrap();
            let query = &query[..len];
            let response = match first_label(query).as_str() {
                "broker" => dns_response(query, Some(broker), 0, false),
                "big" => dns_response(query, None, 0, true),
                _ => dns_response(query, None, 3, false),
            };
            socket.send_to(&response, meta.remote).await.unwrap();
        }
    };
    let tcp_server = async {
        let mut listener = TcpListener::bind(stack_b, dns::DNS_PORT, 1, 1024, 1024).unwrap();
        loop {
            let mut socket = listener.accept().await;
            let mut query = [0u8; 514];
            let mut have = 0;
            while have < 2 || have < 2 + usize::from(u16::from_be_bytes([query[0], query[1]])) {
                have += socket.read(&mut query[have..]).await.unwrap();
            }
            let response = dns_response(&query[2..have], Some(big), 0, false);
            socket
                .write_all(&(response.len() as u16).to_be_bytes())
                .await
                .unwrap();
            socket.write_all(&response).await.unwrap();
            socket.flush().await.unwrap();
            socket.close();
        }
    };
    let client = async {
        stack_a.wait_link_up().await;
        let mut resolver: Resolver<1, 4> = Resolver::new(dns::Config::default(), Rng::new(5));
        resolver
            .set_servers(&[IpEndpoint::new(IpAddr::V4(IP_B), dns::DNS_PORT)])
            .unwrap();
        let answer = resolve(stack_a, &mut resolver, "broker.test", RecordKind::A)
            .await
            .unwrap();
        assert_eq!(answer.addresses(), [IpAddr::V4(broker)]);
        let answer = resolve(stack_a, &mut resolver, "big.test", RecordKind::A)
            .await
            .unwrap();
        assert_eq!(answer.addresses(), [IpAddr::V4(big)], "over TCP");
        assert_eq!(
            resolve(stack_a, &mut resolver, "nobody.test", RecordKind::A).await,
            Err(DnsError::NameNotFound)
        );
        // Cached: answered without a datagram.
        let sent = stack_a.with(|s| s.stats().udp.tx_datagrams);
        let again = resolve(stack_a, &mut resolver, "broker.test", RecordKind::A)
            .await
            .unwrap();
        assert_eq!(again.addresses(), [IpAddr::V4(broker)]);
        assert_eq!(stack_a.with(|s| s.stats().udp.tx_datagrams), sent);
    };
    match block_on(select3(
        runner_a.run(),
        runner_b.run(),
        select(select(udp_server, tcp_server), client),
    )) {
        Either3::Third(Either::Second(())) => {}
        _ => panic!("only the client finishes"),
    }
}
