//! Network services on our stack against real servers: the stack on a TAP
//! in a network namespace the test creates, dnsmasq (DHCP and DNS) and
//! chronyd (NTP) serving on the kernel side of the TAP.
//!
//! - DHCPv4: a lease with router, DNS, NTP and domain; a renewal at T1
//!   (dnsmasq sends T1 = 3 s); and, after the pool changes under an
//!   authoritative server, a NAK at the next renewal and a new lease from
//!   the new pool.
//! - From cable to time, as a device boots: DHCP, then the broker's address
//!   from the DNS server the lease names, then the time from its NTP server,
//!   within 50 ms of the namespace's clock.
//!
//! Needs root and the `dnsmasq-base` and `chrony` packages; fails, never
//! skips, without them.
#![cfg(all(feature = "std", target_os = "linux"))]

#[path = "common/chrony.rs"]
mod chrony;
#[path = "linux/kernel.rs"]
#[allow(dead_code)] // This test uses `run` and little else.
mod kernel;
#[path = "linux/lab.rs"]
#[allow(dead_code)] // The lab's UDP and TCP helpers are not needed here.
mod lab;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration as StdDuration;
use std::time::{SystemTime, UNIX_EPOCH};

use duet_netstack::dhcpv4::{
    CLIENT_PORT, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event, Dhcpv4Stats, Lease, SERVER_PORT,
    run_on_stack,
};
use duet_netstack::dns::{self, DnsError, RecordKind, Resolver, ResolverSocket};
use duet_netstack::rand::Rng;
use duet_netstack::sntp::{self, NTP_PORT, SntpClient, SntpConfig};
use duet_netstack::stack::Config;
use duet_netstack::time::Duration;
use duet_netstack::{EthernetAddress, InterfaceId, IpEndpoint};

use lab::{Net, OUR_MAC, with_lab};

/// dnsmasq serving DHCP and DNS on the TAP; killed on drop.
struct Dnsmasq {
    child: Child,
    dir: PathBuf,
}

impl Dnsmasq {
    /// Serves `first..=last` of the lab's /24, authoritatively (a request
    /// for an address outside the pool gets a NAK, RFC 2131 §4.3.2), and
    /// the `iot.test` zone: `broker.iot.test` is [`broker_ip`].
    fn start(net: &Net, first: u8, last: u8) -> Dnsmasq {
        let dir = std::env::temp_dir().join(format!("duet-dnsmasq-{}", net.tap));
        std::fs::create_dir_all(&dir).unwrap();
        let [a, b, c, _] = net.kernel_ip.octets();
        let range = format!("{a}.{b}.{c}.{first},{a}.{b}.{c}.{last},255.255.255.0,2m");
        let server = net.kernel_ip.to_string();
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--local=/iot.test/",
                "--user=root",
                "--dhcp-authoritative",
            ])
            .arg(format!("--interface={}", net.tap))
            .arg(format!(
                "--host-record=broker.iot.test,{},{BROKER_IPV6}",
                broker_ip(net)
            ))
            .arg("--cname=alias.iot.test,broker.iot.test")
            .arg(format!("--dhcp-range={range}"))
            .arg(format!("--dhcp-option=option:router,{server}"))
            .arg(format!("--dhcp-option=option:dns-server,{server}"))
            .arg(format!("--dhcp-option=option:ntp-server,{server}"))
            .arg("--dhcp-option=option:domain-name,iot.test")
            .arg("--dhcp-option=option:T1,3")
            .arg("--dhcp-option=option:T2,100")
            .arg(format!("--dhcp-leasefile={}", dir.join("leases").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq is installed (apt-get install dnsmasq-base)");
        Dnsmasq { child, dir }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

thread_local! {
    /// The DHCP client socket of the lab this thread runs (one per test).
    static CLIENT_SOCKET: std::cell::Cell<Option<duet_netstack::SocketHandle>> =
        const { std::cell::Cell::new(None) };
}

/// `broker.iot.test`'s AAAA record.
const BROKER_IPV6: &str = "fd00::9";

/// The names the booting device looks up, in turn.
const LOOKUPS: [(&str, RecordKind); 4] = [
    ("broker.iot.test", RecordKind::A),
    ("broker.iot.test", RecordKind::Aaaa),
    ("alias.iot.test", RecordKind::A),
    ("nobody.iot.test", RecordKind::A),
];

/// The address DNS gives for `broker.iot.test`.
fn broker_ip(net: &Net) -> Ipv4Addr {
    let [a, b, c, _] = net.kernel_ip.octets();
    Ipv4Addr::new(a, b, c, 9)
}

/// Runs the client after every stack poll, sending each lease event to the
/// test body.
fn start_client(lab: &lab::Lab<'_, '_>) -> mpsc::Receiver<(Dhcpv4Event, Dhcpv4Stats)> {
    start_client_remembering(lab, None)
}

/// [`start_client`] as after a reboot, with the address of the previous
/// lease remembered (the previous client's socket is closed first).
fn start_client_remembering(
    lab: &lab::Lab<'_, '_>,
    remembered: Option<Ipv4Addr>,
) -> mpsc::Receiver<(Dhcpv4Event, Dhcpv4Stats)> {
    let (events, received) = mpsc::channel();
    let (socket, now) = lab.with(|stack| {
        stack.set_ipv4(InterfaceId::FIRST, None).unwrap();
        if let Some(previous) = CLIENT_SOCKET.take() {
            stack.remove_socket(previous).unwrap();
        }
        let socket = stack.add_udp_socket().unwrap();
        CLIENT_SOCKET.set(Some(socket));
        stack.udp(socket).bind(CLIENT_PORT).unwrap();
        (socket, stack.now())
    });
    let config = Dhcpv4Config {
        host_name: Some("duet-test"),
        initial_retransmit: Duration::from_secs(1),
        address_check: Some(Duration::from_millis(500)),
        decline_backoff: Duration::from_secs(1),
        remembered,
        ..Dhcpv4Config::new(EthernetAddress(OUR_MAC))
    };
    let mut client = Dhcpv4Client::new(config, 7, now);
    lab.set_app(Box::new(move |stack| {
        let now = stack.now();
        match run_on_stack(&mut client, stack, InterfaceId::FIRST, socket, now) {
            Some(event) => {
                let _ = events.send((event, *client.stats()));
                true
            }
            None => false,
        }
    }));
    received
}

fn next_lease(events: &mpsc::Receiver<(Dhcpv4Event, Dhcpv4Stats)>, within: StdDuration) -> Lease {
    match events.recv_timeout(within) {
        Ok((Dhcpv4Event::Bound(lease), _)) => lease,
        other => panic!("expected a lease, got {other:?}"),
    }
}

fn host(lease: &Lease) -> u8 {
    lease.address.address().octets()[3]
}

#[test]
fn a_lease_from_dnsmasq_is_renewed_and_replaced_after_a_nak() {
    let net = Net::new("duetdhcp0", 31);
    with_lab(net, Config::default(), |lab| {
        let mut server = Dnsmasq::start(&net, 100, 150);
        let events = start_client(lab);
        let lease = next_lease(&events, StdDuration::from_secs(15));
        assert!((100..=150).contains(&host(&lease)), "{lease:?}");
        assert_eq!(lease.address.prefix_len(), 24);
        assert_eq!(lease.router, Some(net.kernel_ip));
        assert_eq!(lease.dns_servers[0], Some(net.kernel_ip));
        assert_eq!(lease.ntp_servers[0], Some(net.kernel_ip));
        assert_eq!(lease.domain(), Some("iot.test"));
        assert_eq!(lease.server, net.kernel_ip);
        assert_eq!(lease.duration, Some(Duration::from_secs(120)));
        // The interface has the address: the kernel reaches us there.
        let address = lease.address.address().to_string();
        kernel::run("ping", &["-c", "1", "-W", "2", &address]);

        // T1 = 3 s: a unicast renewal keeps the same address.
        let renewed = next_lease(&events, StdDuration::from_secs(10));
        assert_eq!(renewed.address, lease.address);

        // The pool moves; the next renewal is refused and a new lease
        // comes from the new pool.
        drop(server);
        server = Dnsmasq::start(&net, 200, 210);
        let next = || {
            events
                .recv_timeout(StdDuration::from_secs(15))
                .map(|(e, _)| e)
        };
        let mut event = next();
        while let Ok(Dhcpv4Event::Bound(same)) = event {
            // A renewal answered before the old server went away.
            assert_eq!(same.address, lease.address);
            event = next();
        }
        assert_eq!(event, Ok(Dhcpv4Event::Lost), "NAK for the old address");
        let moved = next_lease(&events, StdDuration::from_secs(15));
        assert!((200..=210).contains(&host(&moved)), "{moved:?}");
        let configured = lab.with(|stack| {
            stack
                .interface(InterfaceId::FIRST)
                .and_then(|i| i.ipv4())
                .map(|c| c.address.address())
        });
        assert_eq!(configured, Some(moved.address.address()));
        let address = moved.address.address().to_string();
        kernel::run("ping", &["-c", "1", "-W", "2", &address]);
        drop(server);
    });
}

/// What the booting device reports, stage by stage.
#[derive(Debug)]
enum Boot {
    Lease(Lease),
    Resolved(Result<Vec<IpAddr>, DnsError>),
    /// The device's wall clock and the namespace's, in µs since 1970, read
    /// at the same moment.
    Time {
        device: u64,
        host: u64,
    },
}

#[test]
fn a_device_gets_its_address_then_its_broker_then_the_time() {
    let net = Net::new("duetboot0", 32);
    with_lab(net, Config::default(), |lab| {
        let _dnsmasq = Dnsmasq::start(&net, 100, 150);
        let mut chronyd = chrony::Chronyd::start_on(net.kernel_ip, NTP_PORT);
        let (reports, received) = mpsc::channel();
        let (dhcp_socket, sntp_socket, now) = lab.with(|stack| {
            stack.set_ipv4(InterfaceId::FIRST, None).unwrap();
            let dhcp = stack.add_udp_socket().unwrap();
            stack.udp(dhcp).bind(CLIENT_PORT).unwrap();
            (dhcp, stack.add_udp_socket().unwrap(), stack.now())
        });
        let config = Dhcpv4Config {
            host_name: Some("duet-boot"),
            initial_retransmit: Duration::from_secs(1),
            ..Dhcpv4Config::new(EthernetAddress(OUR_MAC))
        };
        let mut dhcp = Dhcpv4Client::new(config, 11, now);
        let mut resolver: Resolver<2, 4> = Resolver::new(dns::Config::default(), Rng::new(12));
        let mut resolver_socket = ResolverSocket::new();
        let mut sntp = SntpClient::new(
            SntpConfig {
                initial_retry_timeout: Duration::from_millis(500),
                ..SntpConfig::default()
            },
            Rng::new(13),
        );
        let mut lease: Option<Lease> = None;
        let mut timed = false;
        let mut looked_up = 0;
        lab.set_app(Box::new(move |stack| {
            let now = stack.now();
            let mut busy = false;
            if let Some(Dhcpv4Event::Bound(granted)) =
                run_on_stack(&mut dhcp, stack, InterfaceId::FIRST, dhcp_socket, now)
            {
                // The lease names the resolver: ask it for the broker.
                let server = granted.dns_servers[0].expect("a DNS server");
                let servers = [IpEndpoint::new(IpAddr::V4(server), dns::DNS_PORT)];
                resolver.set_servers(&servers).unwrap();
                let (name, kind) = LOOKUPS[0];
                resolver.start_query(now, name, kind).unwrap();
                lease = Some(granted);
                let _ = reports.send(Boot::Lease(granted));
                busy = true;
            }
            let Some(lease) = lease else {
                return busy;
            };
            dns::run_on_stack(&mut resolver, stack, &mut resolver_socket, now);
            while let Some(event) = resolver.poll_event() {
                let result = match event {
                    dns::Event::Resolved { answer, .. } => Ok(answer.addresses().to_vec()),
                    dns::Event::Failed { error, .. } => Err(error),
                    dns::Event::Truncated { .. } => panic!("DNS: {event:?}"),
                };
                let _ = reports.send(Boot::Resolved(result));
                looked_up += 1;
                if let Some(&(name, kind)) = LOOKUPS.get(looked_up) {
                    resolver.start_query(now, name, kind).unwrap();
                }
                busy = true;
            }
            // The lease names the time server too.
            let ntp = lease.ntp_servers[0].expect("an NTP server");
            let server = IpEndpoint::new(IpAddr::V4(ntp), NTP_PORT);
            if !timed && sntp::run_on_stack(&mut sntp, stack, sntp_socket, server, now).is_some() {
                timed = true;
                let device = sntp.now_unix(now).expect("the clock is set").as_micros();
                let host = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_micros() as u64;
                let _ = reports.send(Boot::Time { device, host });
                busy = true;
            }
            busy
        }));
        let mut stages = Vec::new();
        while stages.len() < 2 + LOOKUPS.len() {
            chronyd.assert_running();
            match received.recv_timeout(StdDuration::from_secs(20)) {
                Ok(report) => stages.push(report),
                Err(e) => panic!("stuck after {stages:?}: {e}"),
            }
        }
        let Boot::Lease(lease) = &stages[0] else {
            panic!("the lease comes first: {stages:?}");
        };
        assert_eq!(lease.dns_servers[0], Some(net.kernel_ip));
        assert_eq!(
            lease.ntp_servers[0].map(IpAddr::V4),
            Some(chronyd.address.ip()),
            "the NTP server from the lease is chronyd"
        );
        // Through our stack and the TAP to dnsmasq: A, AAAA (before the
        // stack speaks IPv6), a CNAME followed, and NXDOMAIN.
        let resolved: Vec<_> = stages
            .iter()
            .filter_map(|s| match s {
                Boot::Resolved(result) => Some(result.clone()),
                _ => None,
            })
            .collect();
        let broker = IpAddr::V4(broker_ip(&net));
        assert_eq!(
            resolved,
            [
                Ok(vec![broker]),
                Ok(vec![BROKER_IPV6.parse().unwrap()]),
                Ok(vec![broker]),
                Err(DnsError::NameNotFound),
            ]
        );
        let (device, host) = stages
            .iter()
            .find_map(|s| match s {
                Boot::Time { device, host } => Some((*device, *host)),
                _ => None,
            })
            .expect("a time sample");
        let difference = device.abs_diff(host);
        assert!(difference < 50_000, "device clock {difference} µs off");
        eprintln!("boot: device clock {difference} µs from the namespace's");
    });
}

/// A DHCP reply as a server would build it, with `options` after the
/// message type (and no END when `end` is false).
fn server_reply(kind: u8, xid: [u8; 4], yiaddr: Ipv4Addr, options: &[u8], end: bool) -> Vec<u8> {
    let mut bytes = vec![0u8; 240];
    bytes[..4].copy_from_slice(&[2, 1, 6, 0]);
    bytes[4..8].copy_from_slice(&xid);
    bytes[16..20].copy_from_slice(&yiaddr.octets());
    bytes[28..34].copy_from_slice(&OUR_MAC);
    bytes[236..240].copy_from_slice(&[99, 130, 83, 99]);
    bytes.extend_from_slice(&[53, 1, kind]);
    bytes.extend_from_slice(options);
    if end {
        bytes.push(255);
    }
    bytes
}

/// A DHCP server written in the test: a plain UDP socket on the kernel
/// side of the TAP, answering by limited broadcast.
struct TestServer {
    socket: std::net::UdpSocket,
    /// Its server identifier: the kernel's address.
    id: Ipv4Addr,
}

impl TestServer {
    fn start(net: &Net) -> TestServer {
        let socket = std::net::UdpSocket::bind(("0.0.0.0", SERVER_PORT)).unwrap();
        nix::sys::socket::setsockopt(
            &socket,
            nix::sys::socket::sockopt::BindToDevice,
            &std::ffi::OsString::from(net.tap),
        )
        .unwrap();
        socket.set_broadcast(true).unwrap();
        socket
            .set_read_timeout(Some(StdDuration::from_secs(10)))
            .unwrap();
        TestServer {
            socket,
            id: net.kernel_ip,
        }
    }

    /// The next client message of type `kind` (others are skipped): its
    /// xid and options.
    fn receive(&self, kind: u8) -> ([u8; 4], Vec<u8>) {
        let mut message = [0u8; 600];
        loop {
            let (len, _) = self
                .socket
                .recv_from(&mut message)
                .unwrap_or_else(|e| panic!("no message of type {kind}: {e}"));
            if len > 243 && message[242] == kind {
                let xid = message[4..8].try_into().unwrap();
                return (xid, message[243..len].to_vec());
            }
        }
    }

    /// The options of an honest lease of 120 s on a /24.
    fn lease_options(&self) -> Vec<u8> {
        let id = self.id.octets();
        [
            &[54, 4][..],
            &id,
            &[51, 4, 0, 0, 0, 120, 1, 4, 255, 255, 255, 0],
        ]
        .concat()
    }

    fn send(&self, reply: &[u8]) {
        self.socket
            .send_to(reply, ("255.255.255.255", CLIENT_PORT))
            .unwrap();
    }

    /// Answers one DISCOVER/REQUEST round with an honest offer and ACK of
    /// `address`.
    fn grant(&self, address: Ipv4Addr) {
        let (xid, _) = self.receive(1);
        self.send(&server_reply(2, xid, address, &self.lease_options(), true));
        let (xid, options) = self.receive(3);
        assert!(requests(&options, address), "the REQUEST names {address}");
        self.send(&server_reply(5, xid, address, &self.lease_options(), true));
    }
}

/// Whether client `options` carry option 50 (requested address) `address`.
fn requests(options: &[u8], address: Ipv4Addr) -> bool {
    options
        .windows(6)
        .any(|w| w[..2] == [50, 4] && w[2..] == address.octets())
}

#[test]
fn hostile_dhcp_replies_are_refused_and_the_honest_one_is_taken() {
    let net = Net::new("duetdhcpx0", 33);
    with_lab(net, Config::default(), |lab| {
        let server = TestServer::start(&net);
        let events = start_client(lab);
        let (xid, _) = server.receive(1);
        let offered = Ipv4Addr::new(10, 207, 33, 77);
        let honest = server.lease_options();
        let wrong_xid = [xid[0] ^ 0xff, xid[1], xid[2], xid[3]];
        let hostile = [
            // An option running past the datagram.
            server_reply(2, xid, offered, &[6, 250, 1, 2, 3, 4], false),
            // Another transaction's offer.
            server_reply(2, wrong_xid, offered, &honest, true),
            // Cut short inside the fixed part.
            server_reply(2, xid, offered, &honest, true)[..100].to_vec(),
            // A server identifier of five bytes.
            server_reply(2, xid, offered, &[54, 5, 10, 207, 33, 1, 0], true),
            // The limited broadcast as our address.
            server_reply(2, xid, Ipv4Addr::BROADCAST, &honest, true),
        ];
        for reply in &hostile {
            server.send(reply);
        }
        server.send(&server_reply(2, xid, offered, &honest, true));
        // The client requests the honest offer; acknowledge it.
        let (xid, options) = server.receive(3);
        assert!(
            requests(&options, offered),
            "the REQUEST names the honest offer"
        );
        server.send(&server_reply(5, xid, offered, &honest, true));
        let (event, stats) = events
            .recv_timeout(StdDuration::from_secs(10))
            .expect("a lease");
        let Dhcpv4Event::Bound(lease) = event else {
            panic!("{event:?}");
        };
        assert_eq!(lease.address.address(), offered);
        assert_eq!(lease.server, net.kernel_ip);
        // Three malformed (overlong, truncated, bad server id), one foreign,
        // one unusable address.
        assert_eq!(
            (stats.malformed, stats.not_ours, stats.unexpected),
            (3, 1, 1),
            "{stats:?}"
        );
    });
}

#[test]
fn an_address_someone_holds_is_declined_and_another_taken() {
    let net = Net::new("duetdhcpd0", 34);
    with_lab(net, Config::default(), |lab| {
        let taken = Ipv4Addr::new(10, 207, 34, 77);
        let free = Ipv4Addr::new(10, 207, 34, 78);
        // The kernel holds .77, so it answers our ARP probe for it.
        kernel::ip(&["addr", "add", &format!("{taken}/24"), "dev", net.tap]);
        let server = TestServer::start(&net);
        let events = start_client(lab);
        server.grant(taken);
        let (_, options) = server.receive(4);
        assert!(requests(&options, taken), "DECLINE of {taken}");
        // After the pause, the next offer is free and used.
        server.grant(free);
        let (event, stats) = events
            .recv_timeout(StdDuration::from_secs(10))
            .expect("a lease");
        assert!(
            matches!(event, Dhcpv4Event::Bound(lease) if lease.address.address() == free),
            "{event:?}"
        );
        assert_eq!((stats.declines, stats.leases), (1, 1));
        kernel::run("ping", &["-c", "1", "-W", "2", &free.to_string()]);
    });
}

#[test]
fn a_rebooted_device_asks_for_its_remembered_address_first() {
    let net = Net::new("duetdhcpr0", 35);
    with_lab(net, Config::default(), |lab| {
        let _server = Dnsmasq::start(&net, 100, 150);
        let first = next_lease(&start_client(lab), StdDuration::from_secs(15));
        // A reboot: RAM gone but the address kept (INIT-REBOOT, RFC 2131
        // §3.2): one REQUEST, no DISCOVER, the same address back.
        let events = start_client_remembering(lab, Some(first.address.address()));
        let (event, stats) = events
            .recv_timeout(StdDuration::from_secs(15))
            .expect("a lease");
        assert!(
            matches!(event, Dhcpv4Event::Bound(lease) if lease.address == first.address),
            "{event:?}"
        );
        assert_eq!(stats.sent, 1, "INIT-REBOOT needs a single REQUEST");
    });
}

#[test]
fn without_a_dhcp_server_a_link_local_address_then_the_lease_once_one_answers() {
    use duet_netstack::autoip::{AddressEvent, AutoIpConfig, DhcpWithFallback};

    let net = Net::new("duetfall0", 36);
    with_lab(net, Config::default(), |lab| {
        // The kernel's own link-local address gives it a route to 169.254/16.
        kernel::ip(&["addr", "add", "169.254.0.1/16", "dev", net.tap]);
        let (socket, now) = lab.with(|stack| {
            stack.set_ipv4(InterfaceId::FIRST, None).unwrap();
            let socket = stack.add_udp_socket().unwrap();
            stack.udp(socket).bind(CLIENT_PORT).unwrap();
            (socket, stack.now())
        });
        let mac = EthernetAddress(OUR_MAC);
        let dhcp = Dhcpv4Client::new(
            Dhcpv4Config {
                initial_retransmit: Duration::from_secs(1),
                address_check: Some(Duration::from_millis(300)),
                ..Dhcpv4Config::new(mac)
            },
            21,
            now,
        );
        let autoip = AutoIpConfig {
            probe_wait: Duration::from_millis(100),
            probe_min: Duration::from_millis(100),
            probe_max: Duration::from_millis(200),
            announce_wait: Duration::from_millis(200),
            announce_interval: Duration::from_millis(200),
            ..AutoIpConfig::new(mac)
        };
        let mut client = DhcpWithFallback::new(dhcp, socket, autoip, Duration::from_secs(2), now);
        let (reports, events) = mpsc::channel();
        lab.set_app(Box::new(move |stack| {
            let now = stack.now();
            match client.run_on_stack(stack, InterfaceId::FIRST, now) {
                Some(event) => {
                    let _ = reports.send(event);
                    true
                }
                None => false,
            }
        }));
        let configured = || {
            lab.with(|stack| {
                stack
                    .interface(InterfaceId::FIRST)
                    .and_then(|i| i.ipv4())
                    .map(|c| c.address)
            })
        };
        // Nobody answers DHCP: a link-local address after 2 s.
        let Ok(AddressEvent::LinkLocal(link_local)) =
            events.recv_timeout(StdDuration::from_secs(15))
        else {
            panic!("no link-local address");
        };
        assert_eq!(link_local.address().octets()[..2], [169, 254]);
        assert_eq!(configured(), Some(link_local));
        kernel::run(
            "ping",
            &["-c", "1", "-W", "2", &link_local.address().to_string()],
        );
        // A server appears: DHCP, still asking, gets a lease that replaces it.
        let _server = Dnsmasq::start(&net, 100, 150);
        let Ok(AddressEvent::Leased(lease)) = events.recv_timeout(StdDuration::from_secs(40))
        else {
            panic!("no lease");
        };
        assert!((100..=150).contains(&host(&lease)), "{lease:?}");
        assert_eq!(configured(), Some(lease.address));
        kernel::run(
            "ping",
            &["-c", "1", "-W", "2", &lease.address.address().to_string()],
        );
    });
}
