//! The emulated cloud's network services: what a real network gives a
//! device before it reaches Azure (an address, a resolver, the time).
//!
//! The host demo has no OS network: a simulated device's Duet stack and a
//! "cloud" Duet stack share an in-process virtual Ethernet link. So that the
//! device boots the way a real one does, the cloud stack runs three small
//! servers, each a sans-IO responder ([`dhcp::DhcpServer`],
//! [`dns::DnsServer`], [`sntp::SntpServer`]: bytes and time in, bytes out)
//! behind a thin async loop on a [`duet_netstack::asynch::UdpSocket`]:
//!
//! - DHCPv4 on port 67 ([RFC 2131]): one subnet, a small pool, the cloud as
//!   router, DNS and NTP server;
//! - DNS on port 53 ([RFC 1035]): A records for the cloud's host names;
//! - SNTP on port 123 ([RFC 4330]): the time of a caller-given clock.
//!
//! [`serve`] runs all three on one stack; [`serve_dhcp`], [`serve_dns`] and
//! [`serve_sntp`] run one each, on a server the caller keeps (to read its
//! leases or counters afterwards).
//!
//! [RFC 2131]: https://www.rfc-editor.org/rfc/rfc2131
//! [RFC 1035]: https://www.rfc-editor.org/rfc/rfc1035
//! [RFC 4330]: https://www.rfc-editor.org/rfc/rfc4330

pub mod dhcp;
pub mod dns;
pub mod sntp;

use core::convert::Infallible;
use core::fmt;
use core::net::Ipv4Addr;
use std::time::SystemTime;

use duet_netstack::asynch::{Stack, UdpSocket};
use duet_netstack::iface::Ipv4Cidr;
use duet_netstack::{BindError, Duration, Instant, StackError};
use embassy_futures::select::{Either3, select3};

use dhcp::{DhcpConfig, DhcpServer};
use dns::DnsServer;
use sntp::{SntpServer, SntpServerConfig};

/// Addresses in the pool [`CloudConfig::new`] sets up.
const DEFAULT_POOL_SIZE: u16 = 16;
/// Lease length [`CloudConfig::new`] sets up: long enough that a demo never
/// renews, short enough that a crashed device's address comes back.
const DEFAULT_LEASE: Duration = Duration::from_secs(3600);
/// TTL of the DNS answers [`CloudConfig::new`] sets up (RFC 1035 §3.2.1).
const DEFAULT_DNS_TTL_SECS: u32 = 60;

/// What the emulated cloud's network looks like.
#[derive(Debug, Clone, Copy)]
pub struct CloudConfig<'a> {
    /// The cloud stack's address on the device subnet, e.g. 10.42.0.1/24:
    /// DHCP server identifier, router, DNS and NTP server in every lease.
    pub address: Ipv4Cidr,
    /// The first address leased to devices.
    pub pool_start: Ipv4Addr,
    /// Addresses leased, counting up from `pool_start`.
    pub pool_size: u16,
    /// Lease length (RFC 2132 §9.2).
    pub lease_time: Duration,
    /// Host names the DNS server answers (case-insensitively, RFC 4343),
    /// with their IPv4 address; a name may appear more than once.
    pub hosts: &'a [(&'a str, Ipv4Addr)],
    /// TTL of the A records, in seconds.
    pub dns_ttl_secs: u32,
    /// Stratum and reference of the time server.
    pub sntp: SntpServerConfig,
    /// The time the SNTP server tells.
    pub clock: fn() -> SystemTime,
}

impl<'a> CloudConfig<'a> {
    /// The cloud at `address`, leasing the 16 addresses after it for an
    /// hour, naming `hosts`, telling the host's time at stratum 1.
    pub fn new(address: Ipv4Cidr, hosts: &'a [(&'a str, Ipv4Addr)]) -> Self {
        CloudConfig {
            address,
            pool_start: Ipv4Addr::from_bits(address.address().to_bits().wrapping_add(1)),
            pool_size: DEFAULT_POOL_SIZE,
            lease_time: DEFAULT_LEASE,
            hosts,
            dns_ttl_secs: DEFAULT_DNS_TTL_SECS,
            sntp: SntpServerConfig::default(),
            clock: SystemTime::now,
        }
    }

    /// The DHCP server's part: the cloud is router, DNS and NTP server.
    pub fn dhcp(&self) -> DhcpConfig {
        let cloud = self.address.address();
        DhcpConfig {
            server: self.address,
            pool_start: self.pool_start,
            pool_size: self.pool_size,
            router: Some(cloud),
            dns_server: Some(cloud),
            ntp_server: Some(cloud),
            lease_time: self.lease_time,
        }
    }
}

/// Why a server's configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// A pool of no addresses.
    EmptyPool,
    /// A pool address is off the subnet, or is its network or broadcast
    /// address.
    PoolOutsideSubnet,
    /// The pool holds the server's own address.
    PoolHoldsServer,
    /// A DNS host name is not an LDH host name (RFC 1123 §2.1).
    InvalidHostName,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::EmptyPool => "the DHCP pool is empty",
            ConfigError::PoolOutsideSubnet => "the DHCP pool reaches outside the subnet",
            ConfigError::PoolHoldsServer => "the DHCP pool holds the server's address",
            ConfigError::InvalidHostName => "a DNS host name is not a valid host name",
        })
    }
}

impl core::error::Error for ConfigError {}

/// Why a server stopped (they otherwise run forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeError {
    /// The configuration was refused.
    Config(ConfigError),
    /// The stack has no free socket slot.
    Socket(StackError),
    /// The server's port could not be bound (another socket holds it).
    Bind { port: u16, error: BindError },
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Config(error) => write!(f, "bad configuration: {error}"),
            ServeError::Socket(error) => write!(f, "no socket: {error}"),
            ServeError::Bind { port, error } => write!(f, "cannot bind port {port}: {error}"),
        }
    }
}

impl core::error::Error for ServeError {}

impl From<ConfigError> for ServeError {
    fn from(error: ConfigError) -> Self {
        ServeError::Config(error)
    }
}

/// Runs the DHCP, DNS and SNTP servers of `config` on `stack` until one of
/// them fails to start.
pub async fn serve(stack: Stack<'_>, config: &CloudConfig<'_>) -> Result<Infallible, ServeError> {
    let mut dhcp = DhcpServer::new(config.dhcp())?;
    let mut dns = DnsServer::new(config.hosts, config.dns_ttl_secs)?;
    let mut sntp = SntpServer::new(config.sntp);
    match select3(
        serve_dhcp(stack, &mut dhcp),
        serve_dns(stack, &mut dns),
        serve_sntp(stack, &mut sntp, config.clock),
    )
    .await
    {
        Either3::First(result) | Either3::Second(result) | Either3::Third(result) => result,
    }
}

/// Serves DHCP on port 67 of `stack` with `server`, forever.
pub async fn serve_dhcp(
    stack: Stack<'_>,
    server: &mut DhcpServer,
) -> Result<Infallible, ServeError> {
    let socket = bound_socket(stack, duet_netstack::dhcpv4::SERVER_PORT)?;
    let mut out = [0u8; dhcp::MAX_REPLY_LEN];
    loop {
        let now = stack_now();
        let answered = socket
            .recv_with(|request, _meta| server.answer(now, request, &mut out))
            .await;
        // Refused requests are counted by the server.
        if let Ok(Ok(Some(reply))) = answered {
            let to = (reply.to, duet_netstack::dhcpv4::CLIENT_PORT);
            // No route or no ARP answer loses this reply; the client retransmits.
            let _ = socket.send_to(&out[..reply.len], to).await;
        }
    }
}

/// Serves DNS over UDP on port 53 of `stack` with `server`, forever.
pub async fn serve_dns(stack: Stack<'_>, server: &mut DnsServer) -> Result<Infallible, ServeError> {
    let socket = bound_socket(stack, duet_netstack::dns::DNS_PORT)?;
    let mut out = [0u8; dns::MAX_UDP_RESPONSE];
    loop {
        let answered = socket
            .recv_with(|query, meta| (server.answer(query, &mut out), meta.remote))
            .await;
        if let Ok((Ok(len), client)) = answered {
            let _ = socket.send_to(&out[..len], client).await;
        }
    }
}

/// Serves SNTP on port 123 of `stack` with `server`, telling `clock`'s time,
/// forever.
pub async fn serve_sntp(
    stack: Stack<'_>,
    server: &mut SntpServer,
    clock: impl Fn() -> SystemTime,
) -> Result<Infallible, ServeError> {
    let socket = bound_socket(stack, duet_netstack::sntp::NTP_PORT)?;
    let mut out = [0u8; sntp::REPLY_LEN];
    loop {
        let answered = socket
            .recv_with(|request, meta| {
                // The datagram is read the moment it is handed over, so T2
                // and T3 are one reading (RFC 4330 §5 allows T2 = T3).
                let now = clock();
                (server.answer(request, now, now, &mut out), meta.remote)
            })
            .await;
        if let Ok((Ok(len), client)) = answered {
            let _ = socket.send_to(&out[..len], client).await;
        }
    }
}

/// A UDP socket on `stack` bound to `port`.
fn bound_socket(stack: Stack<'_>, port: u16) -> Result<UdpSocket<'_>, ServeError> {
    let mut socket = UdpSocket::new(stack).map_err(ServeError::Socket)?;
    socket
        .bind(port)
        .map_err(|error| ServeError::Bind { port, error })?;
    Ok(socket)
}

/// The stack's clock: embassy-time's, as the async runner reads it.
fn stack_now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}
