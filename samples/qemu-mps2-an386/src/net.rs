//! The network: Duet's stack on the LAN9118 and the task that runs it,
//! the DHCP client (its own task, for renewals), the wall clock from SNTP,
//! and TCP connections for TLS.

use core::net::{IpAddr, Ipv4Addr};
use core::sync::atomic::{AtomicU32, Ordering};

use duet::connector::Connector;
use duet_netstack::asynch::{self, Runner, StackCell, TcpSocket, UdpSocket};
use duet_netstack::dhcpv4::{self, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event, Lease};
use duet_netstack::iface::{InterfaceConfig, InterfaceId};
use duet_netstack::rand::Rng;
use duet_netstack::sntp::{SntpClient, SntpConfig, TimeSample};
use duet_netstack::stack::TcpResources;
use duet_netstack::{
    Config, Duration, EthernetAddress, Instant, IpEndpoint, Stack, StackResources,
};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Timer, with_timeout};
use lan9118::Lan9118;
use static_cell::StaticCell;

use crate::shared::{HOST_ADDRESS, SNTP_PORT};
use crate::time_driver;
use crate::timeline::log;

/// The stack handle every socket holds.
pub type Net = asynch::Stack<'static>;

/// Packet buffers (≈1.5 KiB each) and sockets: DHCP, SNTP, and TCP.
static RESOURCES: StaticCell<StackResources<24, 4>> = StaticCell::new();
/// Two TCP connections' rings: the hub's, and one closing behind it when
/// the client reconnects.
static TCP: StaticCell<TcpResources<2, { 2 * 2 * TCP_RING }>> = StaticCell::new();
static STACK: StaticCell<StackCell<'static>> = StaticCell::new();

/// Each direction of a TCP connection: a few full segments.
const TCP_RING: usize = 8 * 1024;

/// The guest's view of the host: the hub emulator and the SNTP responder.
pub const HOST: Ipv4Addr = Ipv4Addr::new(
    HOST_ADDRESS[0],
    HOST_ADDRESS[1],
    HOST_ADDRESS[2],
    HOST_ADDRESS[3],
);

/// The lease the DHCP task got, for the application to wait on.
pub static LEASE: Signal<CriticalSectionRawMutex, Lease> = Signal::new();

/// Unix seconds at uptime zero: from the build until SNTP answers.
static UNIX_AT_BOOT: AtomicU32 = AtomicU32::new(0);

/// The stack on `nic`, its interface unconfigured until DHCP.
pub fn stack(nic: Lan9118, seed: u64) -> (Net, Runner<'static, Lan9118>) {
    let mut stack = Stack::new(
        RESOURCES.init(StackResources::new()),
        Config {
            seed,
            ..Config::default()
        },
    );
    let interface = InterfaceConfig {
        hardware_address: EthernetAddress(nic.mac_address()),
        ipv4: None,
    };
    if let Err(error) = stack.add_interface(interface) {
        crate::timeline::fail(format_args!("stack: no interface: {error:?}"));
    }
    stack.enable_tcp(TCP.init(TcpResources::new()));
    asynch::new(STACK.init(StackCell::new(stack)), nic)
}

/// Moves frames between the stack and the controller, and runs the
/// stack's timers.
#[embassy_executor::task]
pub async fn run(mut runner: Runner<'static, Lan9118>) {
    runner.run().await
}

/// The stack's clock: embassy-time's.
pub fn now() -> Instant {
    Instant::from_micros(time_driver::micros())
}

/// The DHCP client, for as long as the firmware runs: the first lease
/// goes to [`LEASE`], renewals and losses to the timeline.
#[embassy_executor::task]
pub async fn dhcp(stack: Net, mac: [u8; 6], seed: u64) {
    let mut socket = match UdpSocket::new(stack) {
        Ok(socket) => socket,
        Err(error) => crate::timeline::fail(format_args!("dhcp: no socket: {error:?}")),
    };
    if let Err(error) = socket.bind(dhcpv4::CLIENT_PORT) {
        crate::timeline::fail(format_args!("dhcp: port 68: {error:?}"));
    }
    let config = Dhcpv4Config {
        host_name: Some("duet-mps2-an386"),
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

/// Puts the link's ups and downs on the timeline (the PHY's interrupt
/// wakes the runner, which updates the interface).
#[embassy_executor::task]
pub async fn watch_link(stack: Net) {
    let mut was_up = false;
    loop {
        let up = stack.with(|s| {
            s.interface(InterfaceId::FIRST)
                .is_some_and(|interface| interface.is_link_up())
        });
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
    u64::from(UNIX_AT_BOOT.load(Ordering::Relaxed)) + time_driver::micros() / 1_000_000
}

/// Starts the wall clock at the build's time, until SNTP has answered.
pub fn start_clock(build_unix_secs: u32) {
    let uptime = (time_driver::micros() / 1_000_000) as u32;
    UNIX_AT_BOOT.store(build_unix_secs.saturating_sub(uptime), Ordering::Relaxed);
}

/// Why the clock could not be set.
#[derive(Debug)]
pub enum ClockError {
    /// No UDP socket (or port) for the request.
    Socket,
    /// No reply within the time given.
    NoReply,
}

impl core::fmt::Display for ClockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ClockError::Socket => "no UDP socket",
            ClockError::NoReply => "no reply",
        })
    }
}

/// Asks the host's SNTP responder for the time, waiting up to `within`,
/// and sets the wall clock from its reply.
pub async fn set_clock(stack: Net, seed: u64, within: Duration) -> Result<TimeSample, ClockError> {
    let mut socket = UdpSocket::new(stack).map_err(|_| ClockError::Socket)?;
    socket.bind(0).map_err(|_| ClockError::Socket)?;
    let server = IpEndpoint::new(IpAddr::V4(HOST), SNTP_PORT);
    let config = SntpConfig {
        server_port: SNTP_PORT,
        initial_retry_timeout: Duration::from_millis(500),
        max_retry_timeout: Duration::from_secs(2),
        ..SntpConfig::new()
    };
    let mut client = SntpClient::new(config, Rng::new(seed));
    let sample = asynch::sntp::next_sample(stack, &mut client, &socket, server);
    let within = embassy_time::Duration::from_micros(within.as_micros());
    let sample = with_timeout(within, sample)
        .await
        .map_err(|_| ClockError::NoReply)?;
    let at_boot = sample
        .unix_time
        .as_micros()
        .saturating_sub(sample.received_at.as_micros());
    UNIX_AT_BOOT.store((at_boot / 1_000_000) as u32, Ordering::Relaxed);
    Ok(sample)
}

/// Opens TCP connections to the hub emulator, for TLS on top.
pub struct HubTcp {
    pub stack: Net,
    pub port: u16,
}

impl Connector for HubTcp {
    type Transport = TcpSocket<'static>;

    async fn connect(&mut self) -> Result<TcpSocket<'static>, embedded_io::ErrorKind> {
        let mut socket = TcpSocket::new(self.stack, TCP_RING, TCP_RING)
            .map_err(|_| embedded_io::ErrorKind::OutOfMemory)?;
        let started = now();
        match socket.connect((HOST, self.port)).await {
            Ok(()) => {
                log!(
                    "tcp: connected to {HOST}:{} in {} ms",
                    self.port,
                    (now() - started).as_millis()
                );
                Ok(socket)
            }
            Err(error) => {
                log!("tcp: connection to {HOST}:{} failed: {error:?}", self.port);
                Err(embedded_io::ErrorKind::ConnectionRefused)
            }
        }
    }
}
