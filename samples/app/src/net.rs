//! The network: Duet's stack on the board's driver, the DHCP client (its
//! own task, for renewals), the link watcher, names resolved by DNS, the
//! wall clock from SNTP, and TCP connections for TLS.

use core::net::{IpAddr, Ipv4Addr};
use core::sync::atomic::{AtomicU32, Ordering};

use duet::connector::Connector;
use duet_netstack::asynch::{self, Runner, StackCell, TcpSocket, UdpSocket};
use duet_netstack::dhcpv4::{self, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event, Lease};
use duet_netstack::dns::{self, DnsError, RecordKind, Resolver};
use duet_netstack::iface::InterfaceConfig;
use duet_netstack::rand::Rng;
use duet_netstack::sntp::{SntpClient, SntpConfig};
use duet_netstack::stack::TcpResources;
use duet_netstack::{
    Config, Duration, EthernetAddress, Instant, IpEndpoint, Stack, StackResources,
};
use embassy_net_driver::Driver;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Timer, with_timeout};
use static_cell::{ConstStaticCell, StaticCell};

use crate::{HashRng, Host, SntpServer, config};

/// The stack handle every socket holds.
pub type Net = asynch::Stack<'static>;

/// Packet buffers (≈1.5 KiB each) and sockets: DHCP, SNTP, DNS and TCP.
/// In `.bss` (their `new` is all zero bytes): built at run time they would
/// first take their 37 KB on the stack.
static RESOURCES: ConstStaticCell<StackResources<24, 4>> =
    ConstStaticCell::new(StackResources::new());
/// Two TCP connections' rings: the hub's, and one closing behind it when
/// the client reconnects.
static TCP: ConstStaticCell<TcpResources<2, { 2 * 2 * TCP_RING }>> =
    ConstStaticCell::new(TcpResources::new());
static STACK: StaticCell<StackCell<'static>> = StaticCell::new();

/// Each direction of a TCP connection: a few full segments.
const TCP_RING: usize = 8 * 1024;

/// How long SNTP may take to answer before the clock stays as it is.
const SNTP_PATIENCE: Duration = Duration::from_secs(5);

/// The lease the DHCP task got, for the run to wait on.
pub static LEASE: Signal<CriticalSectionRawMutex, Lease> = Signal::new();

/// Unix seconds at uptime zero: from the build until SNTP answers.
static UNIX_AT_BOOT: AtomicU32 = AtomicU32::new(0);

/// The stack on `driver`, whose hardware address is `mac`, its interface
/// unconfigured until DHCP. The board spawns a task running the
/// [`Runner`]: it moves frames between the stack and the driver and runs
/// the stack's timers.
///
/// # Panics
///
/// When called twice: the stack's memory is static.
pub fn stack<D: Driver>(driver: D, mac: [u8; 6], seed: u64) -> (Net, Runner<'static, D>) {
    let mut stack = Stack::new(
        RESOURCES.take(),
        Config {
            seed,
            ..Config::default()
        },
    );
    let interface = InterfaceConfig {
        hardware_address: EthernetAddress(mac),
        ipv4: None,
    };
    if let Err(error) = stack.add_interface(interface) {
        crate::fail(format_args!("stack: no interface: {error:?}"));
    }
    stack.enable_tcp(TCP.take());
    asynch::new(STACK.init(StackCell::new(stack)), driver)
}

/// The stack's clock: embassy-time's.
pub fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// The DHCP client, for as long as the firmware runs: the first lease
/// goes to [`LEASE`], renewals and losses to the timeline. It starts once
/// the link is up, so that a Wi-Fi join that takes seconds does not send
/// its first DISCOVERs nowhere and leave it in a long backoff.
#[embassy_executor::task]
pub async fn dhcp(stack: Net, mac: [u8; 6], seed: u64) {
    stack.wait_link_up().await;
    let mut socket = match UdpSocket::new(stack) {
        Ok(socket) => socket,
        Err(error) => crate::fail(format_args!("dhcp: no socket: {error:?}")),
    };
    if let Err(error) = socket.bind(dhcpv4::CLIENT_PORT) {
        crate::fail(format_args!("dhcp: port 68: {error:?}"));
    }
    let config = Dhcpv4Config {
        host_name: Some(config().dhcp_host_name),
        initial_retransmit: Duration::from_secs(2),
        address_check: Some(Duration::from_millis(500)),
        ..Dhcpv4Config::new(EthernetAddress(mac))
    };
    let mut client = Dhcpv4Client::new(config, seed, now());
    log!("dhcp: discovering");
    loop {
        match asynch::dhcp::next_event(stack, &mut client, &socket).await {
            Dhcpv4Event::Bound(lease) => {
                log_lease(&lease);
                LEASE.signal(lease);
            }
            Dhcpv4Event::Lost => log!("dhcp: lease lost; discovering again"),
        }
    }
}

/// Puts the link's ups and downs on the timeline (the driver wakes the
/// runner, which updates the interface).
#[embassy_executor::task]
pub async fn watch_link(stack: Net) {
    let mut was_up = false;
    loop {
        let up = stack.is_link_up();
        if up != was_up {
            log!("link: {}", if up { "up" } else { "down" });
            was_up = up;
        }
        Timer::after_millis(20).await;
    }
}

fn log_lease(lease: &Lease) {
    let address = lease.address;
    let unspecified = Ipv4Addr::UNSPECIFIED;
    log!(
        "dhcp: bound {}/{} router {} dns {} server {} lease {} s",
        address.address(),
        address.prefix_len(),
        lease.router.unwrap_or(unspecified),
        lease.dns_servers[0].unwrap_or(unspecified),
        lease.server,
        lease.duration.map_or(0, |d| d.as_millis() / 1_000)
    );
}

/// The wall clock: Unix seconds now.
pub fn unix_now() -> u64 {
    u64::from(UNIX_AT_BOOT.load(Ordering::Relaxed)) + now().as_micros() / 1_000_000
}

/// Starts the wall clock at the build's time, until SNTP has answered.
pub fn start_clock(build_unix_secs: u32) {
    let uptime = (now().as_micros() / 1_000_000) as u32;
    UNIX_AT_BOOT.store(build_unix_secs.saturating_sub(uptime), Ordering::Relaxed);
}

/// Why the clock could not be set.
#[derive(Debug)]
enum ClockError {
    /// The server's name did not resolve.
    Address(AddressError),
    /// No UDP socket (or port) for the request.
    Socket,
    /// No reply within [`SNTP_PATIENCE`].
    NoReply,
}

impl core::fmt::Display for ClockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClockError::Address(error) => write!(f, "no address: {error}"),
            ClockError::Socket => f.write_str("no UDP socket"),
            ClockError::NoReply => f.write_str("no reply"),
        }
    }
}

/// Asks `server` for the time and sets the wall clock from its reply; on
/// the timeline either way. Without a reply the clock keeps the build's
/// time.
pub async fn set_clock(stack: Net, lease: &Lease, server: SntpServer, rng: &mut HashRng) {
    match ask_time(stack, lease, server, rng).await {
        Ok(()) => {}
        Err(error) => log!(
            "sntp: {error}; the clock stays at the build time, so the hub may refuse \
             the SAS token of an old build"
        ),
    }
}

async fn ask_time(
    stack: Net,
    lease: &Lease,
    server: SntpServer,
    rng: &mut HashRng,
) -> Result<(), ClockError> {
    let address = address_of(stack, lease, server.host, rng.seed())
        .await
        .map_err(ClockError::Address)?;
    let mut socket = UdpSocket::new(stack).map_err(|_| ClockError::Socket)?;
    socket.bind(0).map_err(|_| ClockError::Socket)?;
    let endpoint = IpEndpoint::new(IpAddr::V4(address), server.port);
    let config = SntpConfig {
        server_port: server.port,
        initial_retry_timeout: Duration::from_millis(500),
        max_retry_timeout: Duration::from_secs(2),
        ..SntpConfig::new()
    };
    let mut client = SntpClient::new(config, Rng::new(rng.seed()));
    let sample = asynch::sntp::next_sample(stack, &mut client, &socket, endpoint);
    let within = embassy_time::Duration::from_micros(SNTP_PATIENCE.as_micros());
    let sample = with_timeout(within, sample)
        .await
        .map_err(|_| ClockError::NoReply)?;
    let at_boot = sample
        .unix_time
        .as_micros()
        .saturating_sub(sample.received_at.as_micros());
    UNIX_AT_BOOT.store((at_boot / 1_000_000) as u32, Ordering::Relaxed);
    log!(
        "sntp: {} from {address}:{} (stratum {}, round trip {} us)",
        sample.unix_time.utc(),
        server.port,
        sample.stratum,
        sample.round_trip_delay.as_micros()
    );
    Ok(())
}

/// Why a host has no address.
#[derive(Debug)]
pub enum AddressError {
    /// The lease named no DNS server.
    NoDnsServer,
    /// The resolver failed (no answer, NXDOMAIN, ...).
    Dns(DnsError),
    /// The answer held no IPv4 address.
    NoIpv4,
}

impl core::fmt::Display for AddressError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AddressError::NoDnsServer => f.write_str("the lease names no DNS server"),
            AddressError::Dns(error) => write!(f, "DNS: {error}"),
            AddressError::NoIpv4 => f.write_str("DNS answered no IPv4 address"),
        }
    }
}

/// The IPv4 address of `host`: as given, or from the lease's DNS servers
/// (and on the timeline); `seed` picks the query's ID and source port.
pub async fn address_of(
    stack: Net,
    lease: &Lease,
    host: Host,
    seed: u64,
) -> Result<Ipv4Addr, AddressError> {
    let name = match host {
        Host::Address(address) => return Ok(address),
        Host::Name(name) => name,
    };
    let mut servers = [IpEndpoint::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0); 3];
    let mut count = 0;
    for (slot, server) in servers.iter_mut().zip(lease.dns_servers.iter().flatten()) {
        *slot = IpEndpoint::new(IpAddr::V4(*server), dns::DNS_PORT);
        count += 1;
    }
    if count == 0 {
        return Err(AddressError::NoDnsServer);
    }
    let mut resolver: Resolver<3, 1> = Resolver::new(dns::Config::default(), Rng::new(seed));
    resolver
        .set_servers(&servers[..count])
        .map_err(AddressError::Dns)?;
    let answer = asynch::resolve(stack, &mut resolver, name, RecordKind::A)
        .await
        .map_err(AddressError::Dns)?;
    let address = answer
        .addresses()
        .iter()
        .find_map(|address| match address {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
        .ok_or(AddressError::NoIpv4)?;
    log!("dns: {name} is {address}");
    Ok(address)
}

/// Opens TCP connections to the hub, for TLS on top.
pub struct HubTcp {
    pub stack: Net,
    pub address: Ipv4Addr,
    pub port: u16,
}

impl Connector for HubTcp {
    type Transport = TcpSocket<'static>;

    async fn connect(&mut self) -> Result<TcpSocket<'static>, embedded_io::ErrorKind> {
        let mut socket = TcpSocket::new(self.stack, TCP_RING, TCP_RING)
            .map_err(|_| embedded_io::ErrorKind::OutOfMemory)?;
        let started = now();
        let (address, port) = (self.address, self.port);
        match socket.connect((address, port)).await {
            Ok(()) => {
                log!(
                    "tcp: connected to {address}:{port} in {} ms",
                    (now() - started).as_millis()
                );
                Ok(socket)
            }
            Err(error) => {
                log!("tcp: connection to {address}:{port} failed: {error:?}");
                Err(embedded_io::ErrorKind::ConnectionRefused)
            }
        }
    }
}
