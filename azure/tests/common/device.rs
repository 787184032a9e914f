//! A device for the client tests: Duet's TLS over a tokio TCP socket (the
//! emulator listens on loopback), tokio's clock, the software crypto
//! provider, and buffers that live as long as the test.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use duet::connector::Connector;
use duet::crypto::soft::Soft;
use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet::mqtt::outbox::OutboxStore;
use duet::mqtt::{ClientBuffers, Clock};
use duet::netstack::time::Instant;
use duet::tls::{Buffers, ClientCertificate, ClientConfig, TlsConnector};
use duet_azure::client::{
    HubBuffers, HubClient, HubConfig, HubEvent, MQTT_INBOUND, MQTT_WINDOW, ProvisioningBuffers,
    ProvisioningClient, ProvisioningConfig,
};
use embedded_io_adapters::tokio_1::FromTokio;
use tokio::net::TcpStream;

#[path = "../../../sdk/tests/common/test_rng.rs"]
mod test_rng;
pub use test_rng::TestRng;

pub const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs/test/");
pub const HUB_HOST: &str = "hub.azure-devices.test";
pub const DPS_HOST: &str = "global.azure-devices-provisioning.test";

/// Opens a TCP connection to the emulator.
pub struct TokioTcp(pub SocketAddr);

impl Connector for TokioTcp {
    type Transport = FromTokio<TcpStream>;

    async fn connect(&mut self) -> Result<Self::Transport, embedded_io::ErrorKind> {
        let stream = TcpStream::connect(self.0)
            .await
            .map_err(|_| embedded_io::ErrorKind::ConnectionRefused)?;
        stream.set_nodelay(true).ok();
        Ok(FromTokio::new(stream))
    }
}

/// tokio's monotonic clock, counted from when the device was made.
pub struct TokioClock(pub tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }

    async fn sleep_until(&self, deadline: Instant) {
        let at = self.0 + std::time::Duration::from_micros(deadline.as_micros());
        tokio::time::sleep_until(at).await;
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub type Tls<C = TokioTcp> = TlsConnector<'static, Soft, C, TestRng, fn() -> u64>;
/// A hub client as the tests make it; `S` keeps its QoS 1 telemetry
/// ([`hub_with_store`]).
pub type Hub<C = TokioTcp, S = ()> =
    HubClient<'static, Tls<C>, TokioClock, Soft, fn() -> u64, MQTT_WINDOW, MQTT_INBOUND, S>;
pub type Provisioning<C = TokioTcp> =
    ProvisioningClient<'static, Tls<C>, TokioClock, Soft, fn() -> u64>;

/// `len` zeroed bytes that outlive the test.
pub fn memory(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// The test root, which the emulator's RSA chain leads to.
fn anchors() -> &'static [TrustAnchor<'static>] {
    let der: &'static [u8] = Box::leak(
        std::fs::read(format!("{CERTS}root-ca.der"))
            .unwrap()
            .into_boxed_slice(),
    );
    Box::leak(Box::new([trust_anchor_from_der(der).unwrap()]))
}

/// Duet's TLS to `server_name` at `address`, presenting `certificate` if
/// the server asks for one.
pub fn tls<C: Connector>(
    transport: C,
    server_name: &'static str,
    provider: &'static Soft,
    certificate: Option<ClientCertificate<'static>>,
    seed: u64,
) -> Tls<C> {
    let config = ClientConfig {
        server_name,
        trust_anchors: anchors(),
        now_unix_secs: 0,
        alpn_protocols: &[],
        resume: None,
        max_fragment_length: None,
        record_size_limit: None,
        client_certificate: certificate,
    };
    let buffers = Buffers {
        receive: memory(17 * 1024),
        send: memory(17 * 1024),
        handshake: memory(8 * 1024),
        certificate: memory(8 * 1024),
    };
    TlsConnector::new(
        transport,
        provider,
        config,
        buffers,
        TestRng(seed, 0),
        unix_now as fn() -> u64,
    )
}

/// A hub client for `config` at the emulator's `address`, with a
/// `receive`-byte MQTT receive buffer.
pub fn hub(address: SocketAddr, config: HubConfig<'static>, receive: usize) -> Hub {
    let provider = leak(Soft::new());
    hub_with(
        tls(TokioTcp(address), HUB_HOST, provider, None, 1),
        provider,
        config,
        receive,
    )
}

/// A hub client over `tls`, whose provider `provider` also signs tokens.
pub fn hub_with<C: Connector>(
    tls: Tls<C>,
    provider: &'static Soft,
    config: HubConfig<'static>,
    receive: usize,
) -> Hub<C> {
    hub_with_store(tls, provider, config, receive, ())
}

/// [`hub_with`], with QoS 1 telemetry also kept in `store`.
pub fn hub_with_store<C: Connector, S: OutboxStore>(
    tls: Tls<C>,
    provider: &'static Soft,
    config: HubConfig<'static>,
    receive: usize,
    store: S,
) -> Hub<C, S> {
    let buffers = HubBuffers {
        mqtt: ClientBuffers {
            receive: memory(receive),
            send: memory(4096),
            outbox: memory(64 * 1024),
            topic_aliases: [],
        },
        identity: memory(512),
        topic: memory(512),
        twin_patch: memory(2048),
    };
    HubClient::with_store(
        config,
        tls,
        TokioClock(tokio::time::Instant::now()),
        provider,
        unix_now as fn() -> u64,
        buffers,
        7,
        store,
    )
    .unwrap()
}

pub fn provisioning(address: SocketAddr, config: ProvisioningConfig<'static>) -> Provisioning {
    provisioning_over(TokioTcp(address), config)
}

pub fn provisioning_over<C: Connector>(
    transport: C,
    config: ProvisioningConfig<'static>,
) -> Provisioning<C> {
    let provider = leak(Soft::new());
    provisioning_with(
        tls(transport, DPS_HOST, provider, None, 2),
        provider,
        config,
    )
}

/// A provisioning client over `tls`, whose provider `provider` also signs
/// tokens.
pub fn provisioning_with<C: Connector>(
    tls: Tls<C>,
    provider: &'static Soft,
    config: ProvisioningConfig<'static>,
) -> Provisioning<C> {
    let buffers = ProvisioningBuffers {
        mqtt: ClientBuffers {
            receive: memory(4096),
            send: memory(4096),
            outbox: memory(4096),
            topic_aliases: [],
        },
        identity: memory(512),
        scratch: memory(1024),
        assignment: memory(512),
    };
    ProvisioningClient::new(
        config,
        tls,
        TokioClock(tokio::time::Instant::now()),
        provider,
        unix_now as fn() -> u64,
        buffers,
        11,
    )
    .unwrap()
}

/// A [`HubEvent`] the test keeps: strings and bytes copied.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Connected,
    ConnectFailed,
    SubscriptionRefused(&'static str),
    Disconnected,
    TelemetryAcknowledged,
    C2d {
        properties: Vec<(String, String)>,
        payload: Vec<u8>,
    },
    Method {
        component: Option<String>,
        name: String,
        request_id: duet_azure::client::RequestId,
        payload: Vec<u8>,
    },
    Twin(serde_json::Value),
    ReportedAccepted(u64),
    TwinRequestFailed(u16),
    DesiredUpdate(u64, serde_json::Value),
    Wake,
    PublishRefused(duet::mqtt::SessionError),
}

impl Seen {
    pub fn of(event: HubEvent<'_>) -> Seen {
        let json = |bytes: &[u8]| serde_json::from_slice(bytes).expect("JSON from the hub");
        match event {
            HubEvent::Connected => Seen::Connected,
            HubEvent::ConnectFailed => Seen::ConnectFailed,
            HubEvent::SubscriptionRefused {
                filter,
                reason_code,
            } => {
                assert!(reason_code >= 0x80, "a refusal with code {reason_code:#x}");
                Seen::SubscriptionRefused(filter)
            }
            HubEvent::Disconnected => Seen::Disconnected,
            HubEvent::TelemetryAcknowledged => Seen::TelemetryAcknowledged,
            HubEvent::C2d {
                properties,
                payload,
            } => Seen::C2d {
                properties: properties
                    .iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
                payload: payload.to_vec(),
            },
            HubEvent::Method {
                component,
                name,
                request_id,
                payload,
            } => Seen::Method {
                component: component.map(str::to_owned),
                name: name.to_owned(),
                request_id,
                payload: payload.to_vec(),
            },
            HubEvent::Twin { document } => Seen::Twin(json(document)),
            HubEvent::ReportedAccepted { version } => Seen::ReportedAccepted(version),
            HubEvent::TwinRequestFailed { status } => Seen::TwinRequestFailed(status),
            HubEvent::DesiredUpdate { version, patch } => Seen::DesiredUpdate(version, json(patch)),
            HubEvent::Wake => Seen::Wake,
            HubEvent::PublishRefused { error } => Seen::PublishRefused(error),
        }
    }
}

/// Polls `hub` until `want` accepts an event (returning it), failing after
/// `seconds`. Errors from the poll fail the test.
pub async fn until<C: Connector, S: OutboxStore>(
    hub: &mut Hub<C, S>,
    seconds: u64,
    mut want: impl FnMut(&Seen) -> bool,
) -> Seen {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let polled = tokio::time::timeout_at(deadline, hub.poll())
            .await
            .expect("the awaited event did not come in time");
        let seen = Seen::of(polled.expect("poll"));
        if want(&seen) {
            return seen;
        }
    }
}
