//! The device's IoT Hub session: TLS to the hub (the configured roots as
//! the only trust anchors), MQTT with a SAS token signed from the device's
//! symmetric key, [`Config::telemetry_messages`] telemetry messages at QoS
//! 1, one every [`Config::telemetry_interval_ms`], and the direct method
//! [`Config::method_name`] answered once.
//!
//! The client reconnects by itself when the connection is lost (the link
//! went down, the hub closed it): telemetry queued meanwhile waits in the
//! MQTT outbox and goes out, with what was not acknowledged, on the next
//! connection.

use core::fmt::{self, Write as _};
use core::net::Ipv4Addr;

use duet::connector::{Connector, connect_through_slot};
use duet::crypto::x509::{TrustAnchor, trust_anchor_from_der};
use duet::mqtt::{ClientBuffers, Clock, QoS};
use duet::tls::{Buffers, ClientConfig, TicketSlot, TlsConnector};
use duet_azure::client::{Credential, HubBuffers, HubClient, HubConfig, HubEvent, RequestId};
use duet_crypto::soft::Soft;
use duet_crypto::x509::X509Error;
use duet_netstack::Instant;
use duet_netstack::dhcpv4::Lease;
use embassy_time::{Timer, with_deadline};
use rustls_pki_types::Der;
use static_cell::{ConstStaticCell, StaticCell};

use crate::net::{self, HubTcp, Net};
use crate::rng::HashRng;
use crate::{Config, Host, config, fail};

/// Connection attempts that may fail in a row before the run does.
const MAX_CONNECT_FAILURES: u32 = 3;
/// Errors from the hub client that may come before the run fails.
const MAX_HUB_ERRORS: u32 = 10;

/// The software crypto provider: TLS, and the SAS tokens' HMAC.
static PROVIDER: Soft<0> = Soft::new();
/// Roots the TLS client can trust at once: Azure's two, or a test PKI's.
const MAX_ANCHORS: usize = 4;
static ANCHORS: StaticCell<[TrustAnchor<'static>; MAX_ANCHORS]> = StaticCell::new();
static TLS_MEMORY: ConstStaticCell<TlsMemory> = ConstStaticCell::new(TlsMemory::ZERO);
static HUB_MEMORY: ConstStaticCell<HubMemory> = ConstStaticCell::new(HubMemory::ZERO);
/// The hub's newest session ticket, so a reconnection resumes the TLS
/// session (a board with a flash driver would keep it in
/// `duet::tls::FlashTickets`, to resume after a reboot too).
static TICKETS: ConstStaticCell<TicketSlot<1024>> = ConstStaticCell::new(TicketSlot::new());
/// The hub client, put here by [`connect`].
static HUB: StaticCell<Hub> = StaticCell::new();

/// TLS's buffers: a whole 16 KiB record in, and the server's chain.
struct TlsMemory {
    receive: [u8; 16 * 1024 + 512],
    send: [u8; 4096],
    handshake: [u8; 8192],
    certificate: [u8; 8192],
}

impl TlsMemory {
    const ZERO: Self = TlsMemory {
        receive: [0; 16 * 1024 + 512],
        send: [0; 4096],
        handshake: [0; 8192],
        certificate: [0; 8192],
    };
}

/// The hub client's buffers: the MQTT outbox holds every unacknowledged
/// QoS 1 message.
struct HubMemory {
    receive: [u8; 4096],
    send: [u8; 2048],
    outbox: [u8; 8192],
    identity: [u8; 256],
    topic: [u8; 512],
    twin_patch: [u8; 512],
}

impl HubMemory {
    const ZERO: Self = HubMemory {
        receive: [0; 4096],
        send: [0; 2048],
        outbox: [0; 8192],
        identity: [0; 256],
        topic: [0; 512],
        twin_patch: [0; 512],
    };
}

type Tls = TlsConnector<'static, Soft<0>, HubTcp, HashRng, fn() -> u64>;
type Hub = HubClient<'static, TracedTls, EmbassyClock, Soft<0>, fn() -> u64>;

/// TLS, with each handshake on the timeline.
struct TracedTls(Tls);

impl Connector for TracedTls {
    type Transport = <Tls as Connector>::Transport;

    async fn connect(&mut self) -> Result<Self::Transport, embedded_io::ErrorKind> {
        connect_through_slot(self).await
    }

    async fn connect_into(
        &mut self,
        slot: &mut Option<Self::Transport>,
    ) -> Result<(), embedded_io::ErrorKind> {
        let started = net::now();
        let result = self.0.connect_into(slot).await;
        match (&result, slot.as_ref()) {
            (Ok(()), Some(connection)) => {
                let engine = connection.engine();
                let config = config();
                log!(
                    "tls: handshake with {} done in {} ms: {:?}, {:?}, chain to {} valid",
                    config.hub_host,
                    (net::now() - started).as_millis(),
                    engine.cipher_suite(),
                    engine.key_exchange_group(),
                    config.trust_anchors_name
                );
            }
            (Err(kind), _) => match self.0.last_error() {
                Some(error) => log!("tls: handshake failed: {error:?}"),
                None => log!("tls: no connection: {kind:?}"),
            },
            (Ok(()), None) => {}
        }
        result
    }

    fn release(&mut self, transport: Self::Transport) {
        self.0.release(transport)
    }

    fn release_slot(&mut self, slot: &mut Option<Self::Transport>) {
        self.0.release_slot(slot)
    }

    fn password(&self) -> Option<&[u8]> {
        self.0.password()
    }
}

/// embassy-time, as the MQTT client's clock.
struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        net::now()
    }

    async fn sleep_until(&self, deadline: Instant) {
        Timer::at(embassy_time::Instant::from_micros(deadline.as_micros())).await
    }
}

/// What one poll of the hub client came to, owning nothing of it.
enum Step {
    Connected,
    ConnectFailed,
    Disconnected,
    Acknowledged,
    /// Time for the next telemetry message.
    Wake,
    Method {
        request_id: RequestId,
        ours: bool,
    },
    Other,
}

/// How far the run has come.
#[derive(Debug, Default)]
struct Progress {
    connections: u32,
    connect_failures: u32,
    errors: u32,
    queued: u32,
    acknowledged: u32,
    method_answered: bool,
}

impl Progress {
    fn done(&self) -> bool {
        self.acknowledged >= config().telemetry_messages && self.method_answered
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connection(s), {}/{} telemetry acknowledged, method {}",
            self.connections,
            self.acknowledged,
            config().telemetry_messages,
            if self.method_answered {
                "answered"
            } else {
                "not invoked yet"
            }
        )
    }
}

/// Runs the session with the hub at `address` until the telemetry is
/// acknowledged and the method answered; fails the run at `deadline`. A
/// hub known by name is looked up again (with the servers of `lease`)
/// whenever its connection is lost or refused, so that the device follows
/// a hub that failed over to another address.
pub async fn run(
    stack: Net,
    lease: &Lease,
    address: Ipv4Addr,
    mut rng: HashRng,
    deadline: embassy_time::Instant,
) {
    let config = config();
    let hub = connect(config, stack, address, &mut rng);
    let mut progress = Progress::default();
    log!(
        "hub: connecting to {} as {} (SAS, symmetric key)",
        config.hub_host,
        config.device_id
    );
    while !progress.done() {
        // Racing a poll against a timer loses what it was doing; here the
        // timer ends the run, so nothing is lost that matters.
        let step = match with_deadline(deadline, hub.poll()).await {
            Err(_) => fail(format_args!("timed out: {progress}")),
            Ok(Ok(event)) => step(event),
            Ok(Err(error)) => {
                progress.errors += 1;
                log!("hub: {error:?}");
                if progress.errors > MAX_HUB_ERRORS {
                    fail(format_args!("too many hub errors: {progress}"));
                }
                continue;
            }
        };
        match step {
            Step::Connected => {
                progress.connections += 1;
                progress.connect_failures = 0;
                log!("mqtt: connected, subscribed to methods, twin and C2D topics");
                if progress.queued == 0 {
                    send_telemetry(hub, &mut progress).await;
                }
            }
            Step::Wake => send_telemetry(hub, &mut progress).await,
            Step::ConnectFailed => {
                progress.connect_failures += 1;
                let sas = hub.connector().last_error();
                let mqtt = hub.mqtt().last_error();
                log!("mqtt: connection attempt failed (SAS: {sas:?}, MQTT: {mqtt:?})");
                if progress.connect_failures >= MAX_CONNECT_FAILURES {
                    fail(format_args!("could not connect: {progress}"));
                }
                log!("mqtt: retrying after the backoff");
                look_up_again(hub, stack, lease, &mut rng, deadline).await;
            }
            Step::Disconnected => {
                log!("mqtt: disconnected; reconnecting");
                look_up_again(hub, stack, lease, &mut rng, deadline).await;
            }
            Step::Acknowledged => {
                progress.acknowledged += 1;
                log!(
                    "telemetry: {}/{} acknowledged (PUBACK)",
                    progress.acknowledged,
                    config.telemetry_messages
                );
            }
            Step::Method { request_id, ours } => {
                let (status, payload) = if ours {
                    progress.method_answered = true;
                    (config.method_status, status_payload(&progress))
                } else {
                    (404, Text::from_str("{\"error\":\"unknown method\"}"))
                };
                match hub.respond(&request_id, status, payload.as_bytes()).await {
                    Ok(()) => log!("method: answered {status} {}", payload.as_str()),
                    Err(error) => fail(format_args!("method: answer failed: {error:?}")),
                }
            }
            Step::Other => {}
        }
    }
    log!("hub: done: {progress}");
    // The method's answer may still be in TCP's send buffer: it reaches the
    // hub before the board ends the run (QEMU exits, a board idles).
    if with_deadline(deadline, hub.disconnect()).await.is_err() {
        fail(format_args!("timed out closing the connection: {progress}"));
    }
    log!("mqtt: disconnected, everything sent delivered");
}

/// Asks DNS for the address of a hub known by name, for the next
/// connection: between polls, so that the query's buffers never add to the
/// client's own (deep) connect path. Without an answer the next connection
/// goes where the last one did.
async fn look_up_again(
    hub: &mut Hub,
    stack: Net,
    lease: &Lease,
    rng: &mut HashRng,
    deadline: embassy_time::Instant,
) {
    let host = config().hub_address;
    if let Host::Name(name) = host {
        let looking = net::address_of(stack, lease, host, rng.seed());
        match embassy_time::with_deadline(deadline, looking).await {
            Ok(Ok(address)) => hub.connector_mut().inner_mut().0.inner_mut().address = address,
            Ok(Err(error)) => log!("hub: {name} not looked up again ({error}); same address"),
            Err(_) => fail(format_args!("timed out looking {name} up")),
        }
    }
}

/// The TLS connector and the hub client over it, built out of line and
/// kept in a static: returned by value, the client would be built on the
/// task's stack and copied into the task, and that 3 KB of frame would
/// stay under every handshake.
#[inline(never)]
fn connect(
    config: &'static Config,
    stack: Net,
    address: Ipv4Addr,
    rng: &mut HashRng,
) -> &'static mut Hub {
    if config.trust_anchors.len() > MAX_ANCHORS {
        fail(format_args!("more than {MAX_ANCHORS} trust anchors"));
    }
    let anchors = match trust_anchors(config.trust_anchors) {
        Ok(anchors) => anchors,
        Err(error) => fail(format_args!(
            "{} do not parse: {error:?}",
            config.trust_anchors_name
        )),
    };
    let tls_memory = TLS_MEMORY.take();
    let seed = rng.seed();
    let mut tls = TlsConnector::new(
        HubTcp {
            stack,
            address,
            port: config.hub_port,
        },
        &PROVIDER,
        ClientConfig {
            server_name: config.hub_host,
            trust_anchors: anchors,
            now_unix_secs: 0,
            alpn_protocols: &[],
            resume: None,
            max_fragment_length: None,
            record_size_limit: None,
            client_certificate: None,
        },
        Buffers {
            receive: &mut tls_memory.receive,
            send: &mut tls_memory.send,
            handshake: &mut tls_memory.handshake,
            certificate: &mut tls_memory.certificate,
        },
        HashRng::new(&[&seed.to_le_bytes(), b"tls"]),
        net::unix_now as fn() -> u64,
    );
    tls.store_tickets_in(TICKETS.take());
    let hub_memory = HUB_MEMORY.take();
    let buffers = HubBuffers {
        mqtt: ClientBuffers {
            receive: &mut hub_memory.receive,
            send: &mut hub_memory.send,
            outbox: &mut hub_memory.outbox,
            topic_aliases: [],
        },
        identity: &mut hub_memory.identity,
        topic: &mut hub_memory.topic,
        twin_patch: &mut hub_memory.twin_patch,
    };
    let hub_config = HubConfig::new(
        config.hub_host,
        config.device_id,
        Credential::SymmetricKey(config.device_key),
    );
    match HubClient::new(
        hub_config,
        TracedTls(tls),
        EmbassyClock,
        &PROVIDER,
        net::unix_now as fn() -> u64,
        buffers,
        rng.seed() as u32,
    ) {
        Ok(hub) => HUB.init(hub),
        Err(error) => fail(format_args!("hub client: {error:?}")),
    }
}

/// The hub's event, logged, reduced to what the run acts on.
fn step(event: HubEvent<'_>) -> Step {
    match event {
        HubEvent::Connected => Step::Connected,
        HubEvent::ConnectFailed => Step::ConnectFailed,
        HubEvent::Disconnected => Step::Disconnected,
        HubEvent::TelemetryAcknowledged => Step::Acknowledged,
        HubEvent::Wake => Step::Wake,
        HubEvent::Method {
            component,
            name,
            request_id,
            payload,
        } => {
            log!(
                "method: {name} invoked (request {}, {} byte payload{})",
                request_id.as_str(),
                payload.len(),
                if component.is_some() {
                    ", component"
                } else {
                    ""
                }
            );
            Step::Method {
                request_id,
                ours: component.is_none() && name == config().method_name,
            }
        }
        other => {
            log!("hub: {other:?} (not used by this sample)");
            Step::Other
        }
    }
}

/// Queues the next telemetry message (sent at once when connected, else
/// on the next connection) and plans the one after.
async fn send_telemetry(hub: &mut Hub, progress: &mut Progress) {
    let config = config();
    if progress.queued >= config.telemetry_messages {
        return;
    }
    progress.queued += 1;
    let sequence = progress.queued;
    let mut payload = Text::<128>::new();
    let _ = write!(
        payload,
        "{{\"sequence\":{sequence},\"temperature\":{}.{},\"uptimeMs\":{}}}",
        20 + sequence % 5,
        sequence % 10,
        uptime_ms()
    );
    let properties = [("$.ct", "application/json"), ("$.ce", "utf-8")];
    match hub
        .send_telemetry(&properties, payload.as_bytes(), QoS::AtLeastOnce)
        .await
    {
        Ok(()) => log!(
            "telemetry: {sequence}/{} {} (QoS 1): {}",
            config.telemetry_messages,
            if hub.is_connected() {
                "sent"
            } else {
                "queued until connected"
            },
            payload.as_str()
        ),
        Err(error) => fail(format_args!("telemetry {sequence}: {error:?}")),
    }
    let interval = duet_netstack::Duration::from_millis(config.telemetry_interval_ms);
    let next = (progress.queued < config.telemetry_messages).then(|| net::now() + interval);
    hub.wake_at(next);
}

/// The method's answer: what the device has done so far.
fn status_payload(progress: &Progress) -> Text<STATUS_LEN> {
    let mut payload = Text::new();
    let _ = write!(
        payload,
        "{{\"device\":\"{}\",\"telemetrySent\":{},\"telemetryAcknowledged\":{},\"uptimeMs\":{}}}",
        config().device_id,
        progress.queued,
        progress.acknowledged,
        uptime_ms()
    );
    payload
}

/// Room for the method's answer: a device id (up to 128 characters) and
/// the counts.
const STATUS_LEN: usize = 256;

fn uptime_ms() -> u64 {
    net::now().as_micros() / 1_000
}

/// The configured roots (at most [`MAX_ANCHORS`]) as trust anchors, in
/// static memory; they borrow their DER, which is `'static` too.
fn trust_anchors(
    ders: &'static [&'static [u8]],
) -> Result<&'static [TrustAnchor<'static>], X509Error> {
    // Fills the slots no root takes; never given to TLS.
    const UNUSED: TrustAnchor<'static> = TrustAnchor {
        subject: Der::from_slice(&[]),
        subject_public_key_info: Der::from_slice(&[]),
        name_constraints: None,
    };
    let mut first_error = None;
    let anchors =
        core::array::from_fn(
            |i| match ders.get(i).map(|der| trust_anchor_from_der(der)) {
                Some(Ok(anchor)) => anchor,
                Some(Err(error)) => {
                    first_error.get_or_insert(error);
                    UNUSED
                }
                None => UNUSED,
            },
        );
    match first_error {
        Some(error) => Err(error),
        None => Ok(&ANCHORS.init(anchors)[..ders.len().min(MAX_ANCHORS)]),
    }
}

/// A short text composed with `write!`, without an allocator; what does
/// not fit is cut off.
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }

    fn from_str(text: &str) -> Self {
        let mut out = Self::new();
        let _ = out.write_str(text);
        out
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
