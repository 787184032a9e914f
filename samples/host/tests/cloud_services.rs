//! The emulated cloud's DHCP, DNS and SNTP servers against Duet's own
//! clients, end to end: two Duet stacks on the in-process virtual link, each
//! driven by its runner on one executor; the cloud statically addressed and
//! serving, the device starting with no address at all, as a board does.

use core::convert::Infallible;
use core::net::{IpAddr, Ipv4Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use duet_netstack::asynch::{self, StackCell};
use duet_netstack::dhcpv4::{
    self, CLIENT_PORT, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event, Dhcpv4Stats, Lease,
};
use duet_netstack::dns::{self, DnsError, RecordKind, Resolver};
use duet_netstack::driver::virtual_link::{LinkConfig, VirtualClock, VirtualLink};
use duet_netstack::iface::{InterfaceConfig, InterfaceId, Ipv4Cidr, Ipv4Config};
use duet_netstack::rand::Rng;
use duet_netstack::sntp::{self, NTP_PORT, SntpClient, SntpConfig};
use duet_netstack::{
    Config, Duration, EthernetAddress, Instant, IpEndpoint, Stack, StackResources,
};
use duet_sample_host::cloud::{self, CloudConfig};
use embassy_futures::block_on;
use embassy_futures::select::{Either, Either3, select, select3};
use embassy_time::Timer;

const CLOUD_MAC: [u8; 6] = [0x02, 0xc1, 0x0d, 0, 0, 1];
const DEVICE_MAC: [u8; 6] = [0x02, 0xde, 0x71, 0xce, 0, 1];
const CLOUD_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
const HUB: &str = "hub.azure-devices.test";
const DPS: &str = "global.azure-devices-provisioning.test";
const HOSTS: &[(&str, Ipv4Addr)] = &[(HUB, CLOUD_IP), (DPS, CLOUD_IP)];
/// Everything a test does takes well under this.
const DEADLINE: embassy_time::Duration = embassy_time::Duration::from_secs(10);

type Resources = StackResources<32, 8>;

fn stack(resources: &mut Resources, mac: [u8; 6], ipv4: Option<Ipv4Config>) -> Stack<'_> {
    let mut config = Config {
        seed: u64::from(mac[5]) + u64::from(mac[1]),
        ..Config::default()
    };
    config.neighbor.retransmit_interval = Duration::from_millis(50);
    let mut stack = Stack::new(resources, config);
    stack
        .add_interface(InterfaceConfig {
            hardware_address: EthernetAddress(mac),
            ipv4,
        })
        .unwrap();
    stack
}

/// Runs the cloud's servers and `squatter` on the cloud stack, `run_device` on
/// an unconfigured device stack, until `device` returns.
fn on_the_link<R>(
    config: &CloudConfig<'_>,
    squatter: impl AsyncFnOnce(asynch::Stack<'_>),
    run_device: impl AsyncFnOnce(asynch::Stack<'_>) -> R,
) -> R {
    let link = LinkConfig {
        mac_a: CLOUD_MAC,
        mac_b: DEVICE_MAC,
        ..LinkConfig::default()
    };
    let (cloud_end, device_end) = VirtualLink::pair(VirtualClock::default(), 1, link);
    let (mut cloud_res, mut device_res) = (Resources::new(), Resources::new());
    let cloud_ipv4 = Ipv4Config {
        address: Ipv4Cidr::new(CLOUD_IP, 24),
        gateway: None,
    };
    let cloud_cell = StackCell::new(stack(&mut cloud_res, CLOUD_MAC, Some(cloud_ipv4)));
    let device_cell = StackCell::new(stack(&mut device_res, DEVICE_MAC, None));
    let (cloud, mut cloud_runner) = asynch::new(&cloud_cell, cloud_end);
    let (device, mut device_runner) = asynch::new(&device_cell, device_end);
    let cloud_side = async {
        let squatting = async {
            squatter(cloud).await;
            core::future::pending::<Infallible>().await
        };
        match select(cloud::serve(cloud, config), squatting).await {
            Either::First(Err(e)) => panic!("the cloud stopped: {e}"),
            Either::First(Ok(never)) | Either::Second(never) => match never {},
        }
    };
    let device_side = select(run_device(device), Timer::after(DEADLINE));
    match block_on(select3(
        cloud_runner.run(),
        device_runner.run(),
        select(cloud_side, device_side),
    )) {
        Either3::Third(Either::Second(Either::First(result))) => result,
        Either3::Third(Either::Second(Either::Second(()))) => {
            panic!("the device did not finish in {DEADLINE:?}")
        }
        _ => unreachable!("runners and servers run forever"),
    }
}

fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// Runs Duet's DHCP client on `device` until it is bound.
async fn lease(device: asynch::Stack<'_>, config: Dhcpv4Config<'_>) -> (Lease, Dhcpv4Stats) {
    let socket = device.with(|s| {
        let socket = s.add_udp_socket().unwrap();
        s.udp(socket).bind(CLIENT_PORT).unwrap();
        socket
    });
    let mut client = Dhcpv4Client::new(config, 7, now());
    let lease = loop {
        let event = device
            .with(|s| dhcpv4::run_on_stack(&mut client, s, InterfaceId::FIRST, socket, now()));
        if let Some(Dhcpv4Event::Bound(lease)) = event {
            break lease;
        }
        Timer::after_millis(5).await;
    };
    device.with(|s| s.remove_socket(socket)).unwrap();
    (lease, *client.stats())
}

fn dhcp_config<'a>() -> Dhcpv4Config<'a> {
    Dhcpv4Config {
        host_name: Some("duet-device"),
        // Short enough to keep the tests quick, long enough for ARP.
        address_check: Some(Duration::from_millis(300)),
        decline_backoff: Duration::from_millis(200),
        ..Dhcpv4Config::new(EthernetAddress(DEVICE_MAC))
    }
}

fn unix_micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

#[test]
fn a_device_gets_its_address_then_the_hub_and_dps_then_the_time() {
    let config = CloudConfig::new(Ipv4Cidr::new(CLOUD_IP, 24), HOSTS);
    on_the_link(
        &config,
        async |_| {},
        async |device| {
            // An address, "the way a real device would" (with the default
            // second of ARP checking).
            let (lease, stats) =
                lease(device, Dhcpv4Config::new(EthernetAddress(DEVICE_MAC))).await;
            assert_eq!(
                lease.address,
                Ipv4Cidr::new(Ipv4Addr::new(10, 42, 0, 2), 24)
            );
            assert_eq!(lease.router, Some(CLOUD_IP));
            assert_eq!(lease.dns_servers, [Some(CLOUD_IP), None, None]);
            assert_eq!(lease.ntp_servers, [Some(CLOUD_IP), None]);
            assert_eq!(lease.server, CLOUD_IP);
            assert_eq!(lease.duration, Some(Duration::from_secs(3600)));
            assert_eq!((stats.sent, stats.naks, stats.declines), (2, 0, 0));
            let configured = device.with(|s| s.interface(InterfaceId::FIRST).unwrap().ipv4());
            assert_eq!(configured, Some(lease.ipv4_config()));
            assert_eq!(lease.ipv4_config().gateway, Some(CLOUD_IP));

            // The names, from the resolver the lease named.
            let mut resolver: Resolver<1, 4> = Resolver::new(dns::Config::default(), Rng::new(3));
            let server = IpEndpoint::new(IpAddr::V4(lease.dns_servers[0].unwrap()), dns::DNS_PORT);
            resolver.set_servers(&[server]).unwrap();
            for name in [HUB, DPS, "Global.Azure-Devices-Provisioning.TEST"] {
                let answer = asynch::resolve(device, &mut resolver, name, RecordKind::A)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(answer.addresses(), [IpAddr::V4(CLOUD_IP)], "{name}");
                assert_eq!(answer.ttl_secs, 60);
            }
            let unknown =
                asynch::resolve(device, &mut resolver, "nowhere.test", RecordKind::A).await;
            assert_eq!(unknown, Err(DnsError::NameNotFound));
            let aaaa = asynch::resolve(device, &mut resolver, HUB, RecordKind::Aaaa).await;
            assert_eq!(aaaa, Err(DnsError::NoAddresses));
            let stats = resolver.stats();
            assert_eq!(
                (stats.timeouts, stats.malformed, stats.question_mismatch),
                (0, 0, 0)
            );

            // The time, from the server the lease named.
            let ntp = IpEndpoint::new(IpAddr::V4(lease.ntp_servers[0].unwrap()), NTP_PORT);
            let socket = device.with(|s| s.add_udp_socket()).unwrap();
            let mut sntp = SntpClient::new(SntpConfig::default(), Rng::new(5));
            let sample = loop {
                let sample = device.with(|s| sntp::run_on_stack(&mut sntp, s, socket, ntp, now()));
                if let Some(sample) = sample {
                    break sample;
                }
                Timer::after_millis(2).await;
            };
            assert_eq!(sample.stratum, 1);
            let device_time = sntp.now_unix(now()).unwrap().as_micros() as i64;
            let host_time = unix_micros(SystemTime::now());
            let error = (device_time - host_time).abs();
            assert!(error < 50_000, "the device's clock is {error} µs off");
            assert_eq!(sntp.stats().rejected(), 0);
        },
    );
}

#[test]
fn a_device_remembering_another_network_is_naked_and_after_a_reboot_keeps_its_lease() {
    let config = CloudConfig::new(Ipv4Cidr::new(CLOUD_IP, 24), HOSTS);
    on_the_link(
        &config,
        async |_| {},
        async |device| {
            // INIT-REBOOT with an address from home: NAK, then DISCOVER.
            let elsewhere = Dhcpv4Config {
                remembered: Some(Ipv4Addr::new(192, 168, 1, 50)),
                ..dhcp_config()
            };
            let (first, stats) = lease(device, elsewhere).await;
            assert_eq!(first.address.address(), Ipv4Addr::new(10, 42, 0, 2));
            assert_eq!(stats.naks, 1);
            assert_eq!(stats.sent, 3, "REQUEST, DISCOVER, REQUEST");

            // A reboot: the interface forgets, the client remembers.
            device
                .with(|s| s.set_ipv4(InterfaceId::FIRST, None))
                .unwrap();
            let reboot = Dhcpv4Config {
                remembered: Some(first.address.address()),
                ..dhcp_config()
            };
            let (again, stats) = lease(device, reboot).await;
            assert_eq!(again.address, first.address);
            assert_eq!((stats.sent, stats.naks), (1, 0), "one REQUEST, ACKed");

            // A free pool address it remembers from an earlier run: granted.
            device
                .with(|s| s.set_ipv4(InterfaceId::FIRST, None))
                .unwrap();
            let other = Ipv4Addr::new(10, 42, 0, 9);
            let reboot = Dhcpv4Config {
                remembered: Some(other),
                ..dhcp_config()
            };
            let (moved, stats) = lease(device, reboot).await;
            assert_eq!(moved.address.address(), other);
            assert_eq!((stats.sent, stats.naks), (1, 0));
        },
    );
}

#[test]
fn an_address_someone_else_probes_for_is_declined_and_the_next_one_leased() {
    let config = CloudConfig::new(Ipv4Cidr::new(CLOUD_IP, 24), HOSTS);
    let taken = Ipv4Addr::new(10, 42, 0, 2);
    // A host that wants 10.42.0.2 too: its ARP probes make the device's
    // check of that address fail (RFC 5227 §2.1.1).
    let squatter = async |cloud: asynch::Stack<'_>| loop {
        let _ = cloud.with(|s| s.send_arp_probe(InterfaceId::FIRST, taken));
        Timer::after_millis(20).await;
    };
    on_the_link(&config, squatter, async |device| {
        let (lease, stats) = lease(device, dhcp_config()).await;
        assert_eq!(stats.declines, 1);
        assert_eq!(lease.address.address(), Ipv4Addr::new(10, 42, 0, 3));
        assert_eq!(
            stats.sent, 5,
            "DISCOVER, REQUEST, DECLINE, DISCOVER, REQUEST"
        );
    });
}
