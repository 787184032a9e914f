//! The simulated device's side of the demo: what firmware on a board
//! does, in order — bring the network up (DHCP, DNS, SNTP), provision
//! through DPS, then live on IoT Hub — on Duet's stack and clients.

use core::cell::Cell;
use core::net::{IpAddr, Ipv4Addr};
use std::time::{SystemTime, UNIX_EPOCH};

use duet::connector::Connector;
use duet::crypto::soft::Soft;
use duet::crypto::x509::TrustAnchor;
use duet::crypto::{HashAlgorithm, Hasher};
use duet::mqtt::{ClientBuffers, Clock, QoS};
use duet::netstack::time::Instant;
use duet::tls::{Buffers, ClientConfig, TicketSlot, TlsConnector};
use duet_azure::client::{
    Credential, HubBuffers, HubClient, HubConfig, HubEvent, ProvisioningBuffers,
    ProvisioningClient, ProvisioningConfig,
};
use duet_netstack::asynch::{self, TcpSocket, UdpSocket};
use duet_netstack::dhcpv4::{self, Dhcpv4Client, Dhcpv4Config, Dhcpv4Event, Lease};
use duet_netstack::dns::{self, RecordKind, Resolver};
use duet_netstack::rand::Rng;
use duet_netstack::sntp::{SntpClient, SntpConfig};
use duet_netstack::{EthernetAddress, IpEndpoint};
use rand_core::{TryCryptoRng, TryRng};

/// How long the device waits for the time before it falls back.
const SNTP_PATIENCE_SECS: u64 = 3;

/// What the device is told at the factory.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub mac: [u8; 6],
    pub dps_host: &'static str,
    pub id_scope: &'static str,
    pub registration_id: &'static str,
    /// The enrollment's symmetric key, base64.
    pub key: &'static str,
    pub model_id: &'static str,
}

/// What the network gave the device.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    pub lease: Lease,
    /// The lease's first DNS server, which the device's connections ask.
    pub dns_server: Ipv4Addr,
    /// Unix time minus the monotonic clock, from SNTP, in microseconds.
    pub clock_offset_us: i64,
}

/// The monotonic clock (embassy-time's, as on a board).
#[derive(Debug, Clone, Copy)]
pub struct Ticks;

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    async fn sleep_until(&self, deadline: Instant) {
        embassy_time::Timer::at(embassy_time::Instant::from_micros(deadline.as_micros())).await;
    }
}

/// Brings the network up the way a board does: a DHCP lease, the first
/// server it will talk to (`first_host`) resolved with the lease's DNS
/// server, the time from its NTP server.
pub async fn join_network(
    stack: asynch::Stack<'_>,
    identity: &Identity,
    first_host: &str,
    report: &dyn Fn(String),
) -> Result<Network, String> {
    stack.wait_link_up().await;
    report("device: link up, asking for an address (DHCP)".into());
    let mut socket = UdpSocket::new(stack).map_err(|e| format!("socket: {e:?}"))?;
    socket
        .bind(dhcpv4::CLIENT_PORT)
        .map_err(|e| format!("bind: {e:?}"))?;
    let mut config = Dhcpv4Config::new(EthernetAddress(identity.mac));
    config.host_name = Some(identity.registration_id);
    config.address_check = Some(duet_netstack::Duration::from_millis(200));
    let mut dhcp = Dhcpv4Client::new(config, seed(), asynch_now());
    let lease = match asynch::dhcp::next_event(stack, &mut dhcp, &socket).await {
        Dhcpv4Event::Bound(lease) => lease,
        Dhcpv4Event::Lost => return Err("DHCP: no lease".into()),
    };
    let dns_server = lease.dns_servers[0].ok_or("DHCP: the lease names no DNS server")?;
    report(format!(
        "device: DHCP lease {}/{} from {}, router {}, DNS {}",
        lease.address.address(),
        lease.address.prefix_len(),
        lease.server,
        lease.router.map_or("none".into(), |r| r.to_string()),
        dns_server,
    ));

    let address = resolve_v4(stack, dns_server, first_host, DNS_QUERIES, report).await?;
    report(format!("device: DNS {first_host} -> {address}"));

    let ntp_server = lease.ntp_servers[0].unwrap_or(dns_server);
    let mut sntp = SntpClient::new(SntpConfig::new(), Rng::new(seed()));
    let sntp_socket = UdpSocket::new(stack).map_err(|e| format!("socket: {e:?}"))?;
    let server = IpEndpoint::new(IpAddr::V4(ntp_server), duet_netstack::sntp::NTP_PORT);
    let answer = embassy_futures::select::select(
        asynch::sntp::next_sample(stack, &mut sntp, &sntp_socket, server),
        embassy_time::Timer::after_secs(SNTP_PATIENCE_SECS),
    )
    .await;
    let clock_offset_us = match answer {
        embassy_futures::select::Either::First(sample) => {
            report(format!(
                "device: SNTP from {ntp_server}: {} (round trip {} µs)",
                sample.unix_time.utc(),
                sample.round_trip_delay.as_micros(),
            ));
            sample.unix_time.as_micros() as i64 - sample.received_at.as_micros() as i64
        }
        embassy_futures::select::Either::Second(()) => {
            // A board would fall back to its RTC; the simulated device has
            // the host's clock.
            let host = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            report(format!(
                "device: no SNTP answer from {ntp_server} in {SNTP_PATIENCE_SECS} s; using the host's clock"
            ));
            host - Ticks.now().as_micros() as i64
        }
    };
    Ok(Network {
        lease,
        dns_server,
        clock_offset_us,
    })
}

/// How many times the device asks for a host's address while it boots.
const DNS_QUERIES: u32 = 5;

/// `host`'s IPv4 address from `dns_server`, asking up to `queries` times
/// with a doubling pause between: each query makes the resolver's own two
/// attempts (3 s with one server), and on a lossy link both can be lost,
/// which is no reason for a device to give up its boot.
async fn resolve_v4(
    stack: asynch::Stack<'_>,
    dns_server: Ipv4Addr,
    host: &str,
    queries: u32,
    report: &dyn Fn(String),
) -> Result<Ipv4Addr, String> {
    let mut resolver: Resolver<1, 4, 2> = Resolver::new(dns::Config::default(), Rng::new(seed()));
    resolver
        .set_servers(&[IpEndpoint::new(IpAddr::V4(dns_server), dns::DNS_PORT)])
        .map_err(|e| format!("DNS: {e:?}"))?;
    let (mut asked, mut pause_secs) = (1, 1);
    loop {
        match asynch::resolve(stack, &mut resolver, host, RecordKind::A).await {
            Ok(answer) => {
                return answer
                    .addresses()
                    .iter()
                    .find_map(|address| match address {
                        IpAddr::V4(v4) => Some(*v4),
                        IpAddr::V6(_) => None,
                    })
                    .ok_or(format!("DNS: no IPv4 address for {host}"));
            }
            Err(e) if asked < queries => {
                report(format!(
                    "device: DNS {host}: {e:?}; asking again in {pause_secs} s"
                ));
                embassy_time::Timer::after_secs(pause_secs).await;
                (asked, pause_secs) = (asked + 1, pause_secs * 2);
            }
            Err(e) => return Err(format!("DNS: {host} did not resolve: {e:?}")),
        }
    }
}

fn asynch_now() -> Instant {
    Ticks.now()
}

/// Opens TCP connections to `host`:`port` on the device's stack, asking DNS
/// for its address on every connection: a hub that fails over to another
/// region answers at another address, and a device that kept knocking at
/// the old one would never come back. A failed query is a failed
/// connection, which the client retries with backoff.
#[derive(Debug)]
pub struct TcpTo {
    pub stack: asynch::Stack<'static>,
    pub host: &'static str,
    pub port: u16,
    pub dns_server: Ipv4Addr,
    /// Why the last connection failed below TLS (DNS, or TCP), if it did.
    pub last_failure: Option<String>,
}

impl Connector for TcpTo {
    type Transport = TcpSocket<'static>;

    async fn connect(&mut self) -> Result<TcpSocket<'static>, embedded_io::ErrorKind> {
        self.last_failure = None;
        let address = resolve_v4(self.stack, self.dns_server, self.host, 1, &|_| {})
            .await
            .map_err(|failure| {
                self.last_failure = Some(failure);
                embedded_io::ErrorKind::NotFound
            })?;
        let mut socket = TcpSocket::new(self.stack, 8192, 8192)
            .map_err(|_| embedded_io::ErrorKind::OutOfMemory)?;
        let endpoint = (address, self.port);
        socket.connect(endpoint).await.map_err(|error| {
            self.last_failure = Some(format!("TCP to {address}: {error:?}"));
            embedded_io::ErrorKind::ConnectionRefused
        })?;
        Ok(socket)
    }
}

/// The Unix time the device knows: its clock plus SNTP's offset.
fn unix_clock(offset_us: i64) -> impl Fn() -> u64 + Copy {
    move || ((Ticks.now().as_micros() as i64 + offset_us) / 1_000_000) as u64
}

type Tls<W> = TlsConnector<'static, Soft, TcpTo, DeviceRng, W>;

/// Duet's TLS to `server_name` (its address from `dns_server` on every
/// connection), checking the chain against `anchors`, with certificate
/// validity judged by `unix`; a reconnection resumes the session with the
/// ticket the connection before received (a board would keep it on flash,
/// `duet::tls::FlashTickets`, to resume after a reboot too).
fn tls<W: Fn() -> u64>(
    stack: asynch::Stack<'static>,
    dns_server: Ipv4Addr,
    server_name: &'static str,
    anchors: &'static [TrustAnchor<'static>],
    provider: &'static Soft,
    unix: W,
) -> Result<Tls<W>, String> {
    let config = ClientConfig {
        server_name,
        trust_anchors: anchors,
        now_unix_secs: 0,
        alpn_protocols: &[],
        resume: None,
        max_fragment_length: None,
        record_size_limit: None,
        client_certificate: None,
    };
    let buffers = Buffers {
        receive: memory(17 * 1024),
        send: memory(17 * 1024),
        handshake: memory(8 * 1024),
        certificate: memory(8 * 1024),
    };
    let mut connector = TlsConnector::new(
        TcpTo {
            stack,
            host: server_name,
            port: duet_azure::hub::MQTT_PORT,
            dns_server,
            last_failure: None,
        },
        provider,
        config,
        buffers,
        DeviceRng::from_os()?,
        unix,
    );
    let tickets: &'static mut TicketSlot<2048> = Box::leak(Box::default());
    connector.store_tickets_in(tickets);
    Ok(connector)
}

/// Registers with DPS; returns the assigned hub and device id.
pub async fn provision(
    stack: asynch::Stack<'static>,
    identity: &Identity,
    network: &Network,
    anchors: &'static [TrustAnchor<'static>],
    report: &dyn Fn(String),
) -> Result<(String, String), String> {
    let provider: &'static Soft = Box::leak(Box::new(Soft::new()));
    let unix = unix_clock(network.clock_offset_us);
    let transport = tls(
        stack,
        network.dns_server,
        identity.dps_host,
        anchors,
        provider,
        unix,
    )?;
    let mut config = ProvisioningConfig::new(
        identity.dps_host,
        identity.id_scope,
        identity.registration_id,
        Credential::SymmetricKey(identity.key),
    );
    let payload = format!("{{\"modelId\":\"{}\"}}", identity.model_id);
    config.custom_payload = Some(String::leak(payload));
    let buffers = ProvisioningBuffers {
        mqtt: ClientBuffers {
            receive: memory(4096),
            send: memory(2048),
            outbox: memory(2048),
            topic_aliases: [],
        },
        identity: memory(512),
        scratch: memory(1024),
        assignment: memory(512),
    };
    let mut dps = ProvisioningClient::new(
        config,
        transport,
        Ticks,
        provider,
        unix,
        buffers,
        seed() as u32,
    )
    .map_err(|e| format!("DPS: {e}"))?;
    report(format!(
        "device: registering with DPS (ID scope {}, registration {}) over TLS",
        identity.id_scope, identity.registration_id
    ));
    let assignment = dps
        .register()
        .await
        .map_err(|e| format!("DPS: registration failed: {e:?}"))?;
    report(format!(
        "device: DPS assigned hub {} as device {}",
        assignment.assigned_hub, assignment.device_id
    ));
    Ok((
        assignment.assigned_hub.to_owned(),
        assignment.device_id.to_owned(),
    ))
}

/// The hub client the demo runs.
pub type DemoHub<W> = HubClient<'static, Tls<W>, Ticks, Soft, W>;

/// Connects to the assigned hub (its address from DNS).
pub async fn connect_hub(
    stack: asynch::Stack<'static>,
    identity: &Identity,
    network: &Network,
    hub: (&'static str, &'static str),
    anchors: &'static [TrustAnchor<'static>],
    report: &dyn Fn(String),
) -> Result<DemoHub<impl Fn() -> u64 + Copy>, String> {
    let (hub_host, device_id) = hub;
    let address = resolve_v4(stack, network.dns_server, hub_host, DNS_QUERIES, report).await?;
    report(format!("device: DNS {hub_host} -> {address}"));
    let provider: &'static Soft = Box::leak(Box::new(Soft::new()));
    let unix = unix_clock(network.clock_offset_us);
    let transport = tls(stack, network.dns_server, hub_host, anchors, provider, unix)?;
    let mut config = HubConfig::new(hub_host, device_id, Credential::SymmetricKey(identity.key));
    config.model_id = identity.model_id;
    let buffers = HubBuffers {
        mqtt: ClientBuffers {
            receive: memory(8192),
            send: memory(4096),
            outbox: memory(16 * 1024),
            topic_aliases: [],
        },
        identity: memory(512),
        topic: memory(512),
        twin_patch: memory(2048),
    };
    HubClient::new(
        config,
        transport,
        Ticks,
        provider,
        unix,
        buffers,
        seed() as u32,
    )
    .map_err(|e| format!("hub: {e}"))
}

/// The stack's counters a field engineer reads first: what the link cost
/// (segments, retransmissions, timeouts) and what arrived damaged and was
/// thrown away (bad checksums), one line.
pub fn network_counters(stack: asynch::Stack<'_>) -> String {
    let stats = stack.with(|s| s.stats().clone());
    let (tcp, udp) = (&stats.tcp, &stats.udp);
    format!(
        "device: network counters: TCP {} in, {} out, {} retransmitted, {} timeouts, {} bad checksums; \
         UDP {} in, {} out, {} bad checksums; IPv4 {} bad checksums",
        tcp.rx_segments,
        tcp.tx_segments,
        tcp.retransmissions,
        tcp.timeouts,
        tcp.drop_bad_checksum,
        udp.rx_datagrams,
        udp.tx_datagrams,
        udp.drop_bad_checksum,
        stats.ipv4.drop_bad_checksum,
    )
}

/// What the device did on the hub.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HubSession {
    pub telemetry_acknowledged: u32,
    pub methods_answered: u32,
    pub desired_applied: u32,
    pub c2d_received: u32,
}

/// The device's life on the hub: telemetry every `interval`, methods
/// answered, desired properties acknowledged, C2D messages shown — until
/// `done` says the session has seen enough.
pub async fn live_on_hub<W: Fn() -> u64 + Copy>(
    hub: &mut DemoHub<W>,
    report: &dyn Fn(String),
    done: impl Fn(&HubSession) -> bool,
) -> Result<HubSession, String> {
    let mut session = HubSession::default();
    let mut temperature = 21.0f32;
    let telemetry_interval = duet::netstack::time::Duration::from_millis(500);
    while !done(&session) {
        let event = hub.poll().await;
        let reply = match event {
            Ok(HubEvent::Connected) => {
                report("device: connected to IoT Hub over TLS, subscribed".into());
                Some(Reply::Telemetry)
            }
            Ok(HubEvent::Wake) => Some(Reply::Telemetry),
            Ok(HubEvent::ConnectFailed) => {
                let tls = hub.connector().inner();
                let below = tls.inner().last_failure.as_deref().unwrap_or("none");
                let mqtt = hub.mqtt().last_error();
                report(format!(
                    "device: hub connection failed (below TLS: {below}; TLS: {:?}, MQTT: {mqtt:?}); retrying with backoff",
                    tls.last_error()
                ));
                None
            }
            Ok(HubEvent::Disconnected) => {
                report("device: disconnected; reconnecting".into());
                None
            }
            Ok(HubEvent::TelemetryAcknowledged) => {
                session.telemetry_acknowledged += 1;
                None
            }
            Ok(HubEvent::Method {
                component,
                name,
                request_id,
                payload,
            }) => {
                report(format!(
                    "device: direct method {}{name}({}) -> 200",
                    component.map_or(String::new(), |c| format!("{c}*")),
                    String::from_utf8_lossy(payload)
                ));
                Some(Reply::Method(request_id))
            }
            Ok(HubEvent::DesiredUpdate { version, patch }) => {
                report(format!(
                    "device: desired properties v{version}: {}",
                    String::from_utf8_lossy(patch)
                ));
                let target = target_temperature(patch);
                Some(Reply::Desired(version, target))
            }
            Ok(HubEvent::C2d {
                properties,
                payload,
            }) => {
                report(format!(
                    "device: cloud-to-device message {:?} (properties {})",
                    String::from_utf8_lossy(payload),
                    properties.as_str()
                ));
                session.c2d_received += 1;
                None
            }
            Ok(HubEvent::ReportedAccepted { version }) => {
                report(format!("device: reported properties accepted, v{version}"));
                session.desired_applied += 1;
                None
            }
            Ok(other) => {
                report(format!("device: {other:?}"));
                None
            }
            Err(error) => {
                report(format!("device: hub said something unexpected: {error:?}"));
                None
            }
        };
        match reply {
            Some(Reply::Telemetry) if hub.is_connected() => {
                temperature += 0.25;
                let body = format!("{{\"temperature\":{temperature:.2}}}");
                report(format!("device: telemetry {body}"));
                hub.send_component_telemetry(
                    "thermostat1",
                    &[("$.ct", "application/json"), ("$.ce", "utf-8")],
                    body.as_bytes(),
                    QoS::AtLeastOnce,
                )
                .await
                .map_err(|e| format!("telemetry: {e:?}"))?;
                hub.wake_at(Some(Ticks.now() + telemetry_interval));
            }
            Some(Reply::Method(request_id)) => {
                hub.respond(&request_id, 200, b"{\"rebooting\":false,\"uptime_s\":1}")
                    .await
                    .map_err(|e| format!("method response: {e:?}"))?;
                session.methods_answered += 1;
            }
            Some(Reply::Desired(version, target)) => {
                // The Plug and Play acknowledgement, in the component.
                let ack = format!(
                    "{{\"thermostat1\":{{\"__t\":\"c\",\"targetTemperature\":{{\"ac\":200,\"av\":{version},\"ad\":\"applied\",\"value\":{target}}}}}}}"
                );
                temperature = target as f32;
                hub.report_properties(ack.as_bytes())
                    .await
                    .map_err(|e| format!("reported properties: {e:?}"))?;
            }
            Some(Reply::Telemetry) | None => {}
        }
    }
    Ok(session)
}

enum Reply {
    Telemetry,
    Method(duet_azure::client::RequestId),
    Desired(u64, i64),
}

/// `thermostat1.targetTemperature` of a desired patch, or 21.
fn target_temperature(patch: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(patch);
    text.split("\"targetTemperature\":")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            digits.parse().ok()
        })
        .unwrap_or(21)
}

/// `len` zeroed bytes for the life of the demo (a board's statics).
fn memory(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

/// A seed from the host clock; a board uses its TRNG.
pub fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1
}

/// SHA-256 of a key and a counter: the device's randomness for TLS (its
/// ECDHE keys, the ClientHello random).
///
/// The key is 32 bytes of the host's own random source, as a board keys its
/// generator from its TRNG: a clock reading, which the ports and sequence
/// numbers make do with ([`seed`]), is a guessable ECDHE key.
#[derive(Debug)]
pub struct DeviceRng {
    key: [u8; 32],
    counter: Cell<u64>,
}

impl DeviceRng {
    fn from_os() -> Result<Self, String> {
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut source| std::io::Read::read_exact(&mut source, &mut key))
            .map_err(|e| format!("no randomness for TLS: /dev/urandom: {e}"))?;
        Ok(DeviceRng {
            key,
            counter: Cell::new(0),
        })
    }
}

impl TryRng for DeviceRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dest.chunks_mut(32) {
            self.counter.set(self.counter.get() + 1);
            let counter = self.counter.get().to_le_bytes();
            if let Ok(digest) = Soft::<0>::new().hash(HashAlgorithm::Sha256, &[&self.key, &counter])
            {
                chunk.copy_from_slice(&digest.as_bytes()[..chunk.len()]);
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for DeviceRng {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keyed from the OS, two generators made in the same instant differ
    /// (a clock-keyed pair would need distinct clock readings), and a stream
    /// does not repeat itself.
    #[test]
    fn device_randomness_is_keyed_by_the_os() {
        let (mut a, mut b) = (DeviceRng::from_os().unwrap(), DeviceRng::from_os().unwrap());
        assert_ne!(a.key, b.key);
        assert_ne!(a.key, [0; 32]);
        let mut blocks = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut block = [0u8; 32];
            a.try_fill_bytes(&mut block).unwrap();
            assert!(blocks.insert(block), "a block repeated");
        }
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        a.try_fill_bytes(&mut x).unwrap();
        b.try_fill_bytes(&mut y).unwrap();
        assert_ne!(x, y);
    }
}
