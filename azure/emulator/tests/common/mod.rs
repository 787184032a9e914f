//! A test device: TLS from tokio-rustls (an independent client, trusting
//! only the test root), MQTT 3.1.1 from Duet's codec, user names, topics
//! and SAS tokens from duet-azure's device-side builders — so the emulator
//! is checked against what a real device sends.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use duet::mqtt::codec::{
    Ack, Connect, Properties, Publish, Subscribe, SubscribeFilters, SubscribeOptions, Unsubscribe,
    UnsubscribeFilters,
};
use duet::mqtt::{Packet, ProtocolVersion, QoS};
use duet_azure::dps::{ClientOptions, ProvisioningClient};
use duet_azure::hub::HubClient;
use duet_azure::sas::{self, Resource};
use duet_azure_emulator::{Config, DeviceAuth, Emulator};
use duet_crypto::soft::Soft;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const HUB: &str = "hub.azure-devices.test";
pub const DPS_HOST: &str = "global.azure-devices-provisioning.test";
pub const CERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../certs/test/");
/// The derived.sas vectors' device key.
pub const KEY: &str = "6CLK6It9jOiABpFVu11CQDv9O49ebAneK3KbsvaoU1o=";
/// Another key, for wrong signatures.
pub const OTHER_KEY: &str = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";
/// Long enough for anything a test waits for that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// Short: for things that should not happen.
pub const BRIEF: Duration = Duration::from_millis(300);

const V3: ProtocolVersion = ProtocolVersion::V311;

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until `condition` holds, for things the emulator does after the
/// device has seen their effect (such as counting a closed connection).
pub async fn eventually(condition: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    condition()
}

/// An emulator with SAS devices `dev-1` and `dev-2` (key [`KEY`]) and X.509
/// device `device-01`, listening on loopback.
pub async fn hub() -> (Emulator, std::net::SocketAddr) {
    let config = Config::new(HUB)
        .with_device("dev-1", DeviceAuth::SymmetricKey(KEY.into()))
        .with_device("dev-2", DeviceAuth::SymmetricKey(KEY.into()))
        .with_device("device-01", DeviceAuth::X509);
    start(config).await
}

/// `config`'s emulator, listening on loopback.
pub async fn start(config: Config) -> (Emulator, std::net::SocketAddr) {
    let emulator = Emulator::new(config);
    let addr = emulator.listen("127.0.0.1:0").await.unwrap();
    (emulator, addr)
}

/// A hub SAS token for `device_id`, signed with `key`, expiring at `expiry`.
pub fn hub_token(device_id: &str, key: &str, expiry: u64) -> Vec<u8> {
    let resource = Resource::Hub {
        hostname: HUB,
        device_id,
        module_id: None,
    };
    token(&resource, key, expiry, None)
}

/// A DPS SAS token for `registration_id` in `id_scope`.
pub fn dps_token(id_scope: &str, registration_id: &str, key: &str, expiry: u64) -> Vec<u8> {
    let resource = Resource::Dps {
        id_scope,
        registration_id,
    };
    token(&resource, key, expiry, Some("registration"))
}

fn token(resource: &Resource<'_>, key: &str, expiry: u64, key_name: Option<&str>) -> Vec<u8> {
    let mut out = [0u8; 512];
    let n = sas::token(&Soft::<0>::new(), resource, key, expiry, key_name, &mut out).unwrap();
    out[..n].to_vec()
}

/// A device key derived from a group enrollment's key.
pub fn derived_key(group_key: &str, registration_id: &str) -> String {
    let mut out = [0u8; 44];
    let n =
        sas::derive_device_key(&Soft::<0>::new(), group_key, registration_id, &mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// The hub user name the C SDK sends for `device_id`.
pub fn hub_user_name(device_id: &str) -> String {
    let mut out = [0u8; 256];
    let n = HubClient::new(HUB, device_id).user_name(&mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// The DPS client for `registration_id`.
pub fn provisioning<'a>(id_scope: &'a str, registration_id: &'a str) -> ProvisioningClient<'a> {
    ProvisioningClient::new(
        DPS_HOST,
        id_scope,
        registration_id,
        ClientOptions::default(),
    )
    .unwrap()
}

/// A client TLS configuration trusting the test root, offering
/// `versions`, presenting test certificate `client_cert` if given.
pub fn tls_config(
    versions: &[&'static SupportedProtocolVersion],
    client_cert: Option<&str>,
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(format!("{CERTS}root-ca.pem")).unwrap())
        .unwrap();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match client_cert {
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(format!("{CERTS}{name}.chain.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(format!("{CERTS}{name}.key")).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A packet from the emulator, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    ConnAck {
        session_present: bool,
        code: u8,
    },
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        packet_id: u16,
        dup: bool,
    },
    PubAck(u16),
    SubAck {
        packet_id: u16,
        codes: Vec<u8>,
    },
    UnsubAck(u16),
    PingResp,
    Other(String),
}

impl Incoming {
    /// The topic and payload of a PUBLISH; panics on anything else.
    pub fn publish(self) -> (String, Vec<u8>) {
        match self {
            Incoming::Publish { topic, payload, .. } => (topic, payload),
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }
}

/// How waiting for a packet ended without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The emulator closed the connection.
    Closed,
    /// Nothing came in time.
    Timeout,
}

/// One device connection, over TCP or any other tokio byte stream.
pub struct TestDevice<IO = TcpStream> {
    stream: TlsStream<IO>,
    inbox: Vec<u8>,
    next_id: u16,
}

impl TestDevice {
    /// TLS to the emulator as `hub.azure-devices.test`, TLS 1.2 or 1.3, no
    /// client certificate.
    pub async fn open(addr: std::net::SocketAddr) -> Self {
        let config = tls_config(rustls::ALL_VERSIONS, None);
        Self::open_with(addr, config, HUB).await.unwrap()
    }

    /// TLS to the emulator with `config`, asking for `server_name`.
    pub async fn open_with(
        addr: std::net::SocketAddr,
        config: Arc<ClientConfig>,
        server_name: &str,
    ) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        TestDevice::over(tcp, config, server_name).await
    }

    /// TLS, then CONNECT as hub device `device_id` with a one-hour token
    /// signed with `key`; asserts the CONNACK accepts.
    pub async fn hub(addr: std::net::SocketAddr, device_id: &str, key: &str) -> Self {
        let mut device = Self::open(addr).await;
        let password = hub_token(device_id, key, now() + 3600);
        let ack = device
            .connect(device_id, &hub_user_name(device_id), Some(&password), true)
            .await;
        assert_eq!(
            ack,
            Ok(Incoming::ConnAck {
                session_present: false,
                code: 0
            })
        );
        device
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TestDevice<IO> {
    /// TLS over `io` with `config`, asking for `server_name`.
    pub async fn over(
        io: IO,
        config: Arc<ClientConfig>,
        server_name: &str,
    ) -> std::io::Result<Self> {
        let name = ServerName::try_from(server_name.to_owned()).unwrap();
        let stream = TlsConnector::from(config).connect(name, io).await?;
        Ok(TestDevice {
            stream,
            inbox: Vec::new(),
            next_id: 1,
        })
    }

    /// Sends `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // The emulator may already have closed; the caller checks that.
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// Sends `packet`.
    pub async fn send(&mut self, packet: Packet<'_>) {
        let mut buf = vec![0u8; 1024 + packet_payload_len(&packet)];
        let n = packet.encode_from_client(V3, &mut buf).unwrap();
        self.send_raw(&buf[..n]).await;
    }

    /// CONNECT (keep-alive 60 s); the answer.
    pub async fn connect(
        &mut self,
        client_id: &str,
        user_name: &str,
        password: Option<&[u8]>,
        clean_session: bool,
    ) -> Result<Incoming, Ended> {
        self.connect_with_keep_alive(client_id, user_name, password, clean_session, 60)
            .await
    }

    /// CONNECT with `keep_alive` seconds; the answer.
    pub async fn connect_with_keep_alive(
        &mut self,
        client_id: &str,
        user_name: &str,
        password: Option<&[u8]>,
        clean_session: bool,
        keep_alive: u16,
    ) -> Result<Incoming, Ended> {
        self.send(Packet::Connect(Connect {
            version: V3,
            clean_start: clean_session,
            keep_alive,
            properties: Properties::EMPTY,
            client_id,
            will: None,
            username: Some(user_name),
            password,
        }))
        .await;
        self.recv(WAIT).await
    }

    /// SUBSCRIBE at QoS 1 to `filters`; the SUBACK's return codes.
    pub async fn subscribe(&mut self, filters: &[&str]) -> Vec<u8> {
        let list: Vec<(&str, SubscribeOptions)> = filters
            .iter()
            .map(|f| (*f, SubscribeOptions::qos(QoS::AtLeastOnce)))
            .collect();
        let packet_id = self.packet_id();
        self.send(Packet::Subscribe(Subscribe {
            packet_id,
            properties: Properties::EMPTY,
            filters: SubscribeFilters::List(&list),
        }))
        .await;
        match self.recv(WAIT).await {
            Ok(Incoming::SubAck {
                packet_id: id,
                codes,
            }) if id == packet_id => codes,
            other => panic!("expected SUBACK {packet_id}, got {other:?}"),
        }
    }

    /// UNSUBSCRIBE from `filters`; waits for the UNSUBACK.
    pub async fn unsubscribe(&mut self, filters: &[&str]) {
        let packet_id = self.packet_id();
        self.send(Packet::Unsubscribe(Unsubscribe {
            packet_id,
            properties: Properties::EMPTY,
            filters: UnsubscribeFilters::List(filters),
        }))
        .await;
        assert_eq!(self.recv(WAIT).await, Ok(Incoming::UnsubAck(packet_id)));
    }

    /// PUBLISH at `qos`; the packet id used (0 at QoS 0).
    pub async fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS) -> u16 {
        let packet_id = if qos == QoS::AtMostOnce {
            0
        } else {
            self.packet_id()
        };
        self.send(Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic,
            packet_id,
            properties: Properties::EMPTY,
            payload,
        }))
        .await;
        packet_id
    }

    /// PUBACK for `packet_id`.
    pub async fn puback(&mut self, packet_id: u16) {
        self.send(Packet::PubAck(Ack::success(packet_id))).await;
    }

    /// The next packet, within `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Result<Incoming, Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(packet) = self.take_packet() {
                return Ok(packet);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(Ended::Timeout),
                Ok(Ok(0) | Err(_)) => return Err(Ended::Closed),
                Ok(Ok(n)) => self.inbox.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next PUBLISH within `wait`, skipping acknowledgements.
    pub async fn recv_publish(&mut self, wait: Duration) -> Result<Incoming, Ended> {
        loop {
            match self.recv(wait).await? {
                publish @ Incoming::Publish { .. } => return Ok(publish),
                Incoming::PubAck(_) => {}
                other => panic!("expected a PUBLISH, got {other:?}"),
            }
        }
    }

    /// Whether the emulator closes the connection within `wait`, whatever
    /// it sends first.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Ok(_) => {}
                Err(Ended::Closed) => return true,
                Err(Ended::Timeout) => return false,
            }
        }
    }

    fn take_packet(&mut self) -> Option<Incoming> {
        let (packet, used) = match Packet::decode_from_server(&self.inbox, V3) {
            Ok(decoded) => decoded,
            Err(duet::mqtt::Error::Incomplete) => return None,
            Err(e) => panic!("the emulator sent a malformed packet: {e}"),
        };
        let owned = match packet {
            Packet::ConnAck(c) => Incoming::ConnAck {
                session_present: c.session_present,
                code: c.reason_code,
            },
            Packet::Publish(p) => Incoming::Publish {
                topic: p.topic.to_owned(),
                payload: p.payload.to_vec(),
                qos: p.qos,
                packet_id: p.packet_id,
                dup: p.dup,
            },
            Packet::PubAck(a) => Incoming::PubAck(a.packet_id),
            Packet::SubAck(s) => Incoming::SubAck {
                packet_id: s.packet_id,
                codes: s.reason_codes.to_vec(),
            },
            Packet::UnsubAck(u) => Incoming::UnsubAck(u.packet_id),
            Packet::PingResp => Incoming::PingResp,
            other => Incoming::Other(format!("{other:?}")),
        };
        self.inbox.drain(..used);
        Some(owned)
    }

    fn packet_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }
}

fn packet_payload_len(packet: &Packet<'_>) -> usize {
    match packet {
        Packet::Publish(p) => p.payload.len() + p.topic.len(),
        Packet::Connect(c) => c.password.map_or(0, <[u8]>::len) + c.username.map_or(0, str::len),
        _ => 0,
    }
}
