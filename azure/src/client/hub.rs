//! The IoT Hub device client: telemetry, cloud-to-device messages, direct
//! methods and Plug and Play commands, the device twin — over Duet's MQTT
//! client, reconnecting on its own.
//!
//! What it adds to MQTT is Azure's device guidance:
//! - a SAS token signed for every connection, and a planned reconnection
//!   with a new one before the old expires (by default at 85 % of its
//!   lifetime), so the hub never cuts the device off for an expired token;
//! - one twin request at a time, sent again with a new `$rid` when the
//!   connection is lost before its answer, and retried with exponential
//!   backoff when the hub answers 429 or 5xx;
//! - subscriptions made again whenever the hub has no session for the
//!   device, or its session may lack one (refused, or cut off before every
//!   SUBACK came); a refusal is reported, never taken for a grant;
//! - typed errors for whatever the hub sends that is not its protocol (an
//!   unknown topic, broken JSON, a message larger than the caller's
//!   buffer), after which the client goes on.

use duet::connector::Connector;
use duet::mqtt::codec::{Publish, SUBACK_FAILURE};
use duet::mqtt::outbox::OutboxStore;
use duet::mqtt::{
    Backoff, Client, ClientBuffers, ClientError, ClientEvent, Clock, QoS, SessionError,
};
use duet::netstack::rand::Rng;
use duet::netstack::time::{Duration, Instant};
use duet_crypto::hash::Hasher;

use super::{
    Credential, MQTT_INBOUND, MQTT_WINDOW, RequestId, SasConnector, azure_connect,
    identity_strings, retry_worthy, service_retry_delay,
};
use crate::AzureError;
use crate::hub::{self, HubOptions, HubTopic, TwinResponseType};
use crate::json::JsonReader;
use crate::properties::{MessageProperties, MessagePropertiesWriter};
use crate::sas::Resource;

/// The filters a connection subscribes to where the hub's session lacks
/// them: methods, twin answers, desired-property patches, cloud-to-device
/// messages (the one the hub holds for an offline device, hence QoS 1).
const SUBSCRIPTIONS: [(&str, QoS); 4] = [
    (hub::METHODS_SUBSCRIBE_TOPIC, QoS::AtMostOnce),
    (hub::TWIN_RESPONSE_SUBSCRIBE_TOPIC, QoS::AtMostOnce),
    (hub::TWIN_PATCH_SUBSCRIBE_TOPIC, QoS::AtMostOnce),
    (hub::C2D_SUBSCRIBE_TOPIC, QoS::AtLeastOnce),
];

/// Who the device is and how it connects.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig<'a> {
    /// The hub's host name, `myhub.azure-devices.net` (also the TLS
    /// server name).
    pub hostname: &'a str,
    pub device_id: &'a str,
    /// A module identity's id; `""` for the device itself.
    pub module_id: &'a str,
    /// The Plug and Play model id (`dtmi:...`); `""` for none.
    pub model_id: &'a str,
    pub credential: Credential<'a>,
    /// How long each SAS token is valid.
    pub token_lifetime_secs: u32,
    /// When, in percent of a token's lifetime, the client reconnects with
    /// a new one.
    pub renew_at_percent: u8,
    pub keep_alive_secs: u16,
    /// Waits between failed connection attempts (exponential, jittered).
    pub backoff: Backoff,
}

impl<'a> HubConfig<'a> {
    /// `device_id` on `hostname` with `credential`; tokens valid for an
    /// hour and renewed at 85 %, the hub's 240 s keep-alive.
    pub fn new(hostname: &'a str, device_id: &'a str, credential: Credential<'a>) -> Self {
        HubConfig {
            hostname,
            device_id,
            module_id: "",
            model_id: "",
            credential,
            token_lifetime_secs: 3600,
            renew_at_percent: 85,
            keep_alive_secs: hub::DEFAULT_KEEPALIVE_SECONDS,
            backoff: Backoff::default(),
        }
    }
}

/// The caller's memory for a [`HubClient`].
#[derive(Debug)]
pub struct HubBuffers<'b> {
    /// The MQTT client's: its receive buffer bounds the largest message
    /// (twin document, C2D payload) the device can take. `topic_aliases:
    /// []`, as IoT Hub speaks MQTT 3.1.1.
    pub mqtt: ClientBuffers<'b>,
    /// The MQTT user name and client id, made once: about 100 bytes plus
    /// the host name, device id and model id.
    pub identity: &'b mut [u8],
    /// The topics the client builds (telemetry with its properties).
    pub topic: &'b mut [u8],
    /// A reported-properties patch, kept until the hub accepted it so it
    /// can be sent again; bounds the largest patch.
    pub twin_patch: &'b mut [u8],
}

/// What [`HubClient::poll`] reports.
#[derive(Debug, PartialEq, Eq)]
pub enum HubEvent<'a> {
    /// Connected (again): the subscriptions the hub granted are in place
    /// (a refusal comes first, as [`HubEvent::SubscriptionRefused`]) and a
    /// twin request that was waiting has gone out.
    Connected,
    /// A connection attempt failed; the next follows the backoff.
    ConnectFailed,
    /// The hub refused the subscription to `filter` (`reason_code` from
    /// its SUBACK, 0x80 and up): what arrives on it (methods, twin
    /// answers, desired properties or cloud-to-device messages) will not
    /// come on this connection. [`HubEvent::Connected`] still follows for
    /// the rest; the next connection subscribes again.
    SubscriptionRefused {
        filter: &'static str,
        reason_code: u8,
    },
    /// The connection was lost, or closed to renew the SAS token; the
    /// next poll reconnects.
    Disconnected,
    /// The hub acknowledged a QoS 1 telemetry message.
    TelemetryAcknowledged,
    /// A cloud-to-device message.
    C2d {
        properties: MessageProperties<'a>,
        payload: &'a [u8],
    },
    /// A direct method, or a Plug and Play command (`component*command`);
    /// answer with [`HubClient::respond`].
    Method {
        component: Option<&'a str>,
        name: &'a str,
        request_id: RequestId,
        payload: &'a [u8],
    },
    /// The twin document [`HubClient::request_twin`] asked for.
    Twin { document: &'a [u8] },
    /// The hub applied the patch of [`HubClient::report_properties`];
    /// `version` is the reported properties' new version.
    ReportedAccepted { version: u64 },
    /// The twin request failed for good (a status retries cannot mend).
    TwinRequestFailed { status: u16 },
    /// The service changed desired properties: the patch, and the desired
    /// properties' new version.
    DesiredUpdate { version: u64, patch: &'a [u8] },
    /// The instant given to [`HubClient::wake_at`] came (time for the
    /// application's periodic work, such as the next telemetry).
    Wake,
    /// A message queued while disconnected (telemetry, a reported
    /// properties patch, a method response) could not go out: larger than
    /// the MQTT send buffer or the hub's packet limit (`error` says which).
    /// It left the queue, so the messages behind it go on.
    PublishRefused { error: SessionError },
}

/// Why a [`HubClient`] call failed. The client stays usable after each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubError {
    /// From the MQTT client (outbox full, not connected, ...).
    Mqtt(ClientError),
    /// Building a topic or copying a patch: a buffer too small, an
    /// argument the protocol forbids.
    Azure(AzureError),
    /// A message on a topic IoT Hub does not send devices; dropped.
    UnknownTopic,
    /// A hub topic that does not parse, or JSON that does not where the
    /// protocol has JSON (a twin document, a desired patch); dropped.
    Malformed,
    /// A message larger than the MQTT receive buffer; dropped.
    MessageTooLarge,
    /// A twin request is still waiting for its answer.
    TwinBusy,
    /// IoT Hub has no QoS 2 (it closes the connection of a device that
    /// tries).
    QosUnsupported,
}

impl From<ClientError> for HubError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::PacketTooLarge => HubError::MessageTooLarge,
            other => HubError::Mqtt(other),
        }
    }
}

impl From<AzureError> for HubError {
    fn from(error: AzureError) -> Self {
        HubError::Azure(error)
    }
}

/// Counts of what the client met, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Messages on topics the hub protocol does not have.
    pub unknown_topics: u32,
    /// Messages whose topic or JSON did not parse.
    pub malformed: u32,
    /// Messages larger than the receive buffer.
    pub oversized: u32,
    /// Twin answers to a request id no longer waited for.
    pub stale_twin_responses: u32,
    /// Twin requests sent again: after a lost connection or a 429/5xx.
    pub twin_resends: u32,
    /// Planned reconnections with a new SAS token.
    pub token_renewals: u32,
    /// Subscriptions the hub refused.
    pub refused_subscriptions: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TwinRequest {
    Get,
    /// A reported patch of this many bytes of `twin_patch`.
    Patch(usize),
}

/// The twin request waiting for its answer.
#[derive(Debug)]
struct PendingTwin {
    request: TwinRequest,
    /// Its `$rid` on the current connection, if it went out on it.
    sent_as: Option<u32>,
    /// Retries after a 429/5xx so far, and when the next is due.
    failures: u16,
    retry_at: Option<Instant>,
}

/// What a received message is, borrowing nothing, so the client can act
/// on it before handing it to the application.
enum Received {
    C2d,
    Method,
    TwinAnswer {
        request_id: Option<u32>,
        status: u16,
        version: Option<u64>,
    },
    Desired {
        version: u64,
    },
}

/// A device's connection to IoT Hub.
///
/// `C` opens the transport (TLS to the hub), `K` is the time the client
/// runs on, `H` computes the SAS tokens' HMAC (software or a secure
/// element), and `W` tells the Unix time the tokens expire by. `WINDOW`
/// and `INBOUND` are the MQTT client's. `S` keeps QoS 1 telemetry across
/// a reboot ([`HubClient::with_store`]); by default it lives in RAM only.
pub struct HubClient<
    'b,
    C: Connector,
    K: Clock,
    H: Hasher + ?Sized,
    W: Fn() -> u64,
    const WINDOW: usize = MQTT_WINDOW,
    const INBOUND: usize = MQTT_INBOUND,
    S: OutboxStore = (),
> {
    mqtt: Client<'b, SasConnector<'b, C, H, W>, K, WINDOW, INBOUND, S>,
    identity: hub::HubClient<'b>,
    topic: &'b mut [u8],
    twin_patch: &'b mut [u8],
    pending: Option<PendingTwin>,
    next_request_id: u32,
    /// How long after connecting the token is renewed; `None` for X.509.
    renew_after: Option<Duration>,
    renew_at: Option<Instant>,
    /// The application's timer ([`HubClient::wake_at`]).
    app_wake: Option<Instant>,
    /// Where each filter of [`SUBSCRIPTIONS`] stands in the hub's session.
    /// Any filter `Missing` makes the next connection subscribe again,
    /// even where the session was resumed.
    subscriptions: [Subscription; SUBSCRIPTIONS.len()],
    /// The last SUBACK was a refusal, reported first: the next poll
    /// reports [`HubEvent::Connected`].
    connected_due: bool,
    /// Retry jitter.
    rng: Rng,
    stats: HubStats,
}

impl<'b, C, K, H, W, const WINDOW: usize, const INBOUND: usize>
    HubClient<'b, C, K, H, W, WINDOW, INBOUND>
where
    C: Connector,
    K: Clock,
    H: Hasher + ?Sized,
    W: Fn() -> u64,
{
    /// A client that connects on its first [`HubClient::poll`]. `seed`
    /// varies backoff jitter and request ids between devices.
    pub fn new(
        config: HubConfig<'b>,
        connector: C,
        clock: K,
        hasher: &'b H,
        unix_secs: W,
        buffers: HubBuffers<'b>,
        seed: u32,
    ) -> Result<Self, AzureError> {
        HubClient::with_store(
            config,
            connector,
            clock,
            hasher,
            unix_secs,
            buffers,
            seed,
            (),
        )
    }
}

impl<'b, C, K, H, W, const WINDOW: usize, const INBOUND: usize, S>
    HubClient<'b, C, K, H, W, WINDOW, INBOUND, S>
where
    C: Connector,
    K: Clock,
    H: Hasher + ?Sized,
    W: Fn() -> u64,
    S: OutboxStore,
{
    /// As [`HubClient::new`], with QoS 1 telemetry also kept in `store`
    /// (`duet::mqtt::journal::Journal` on NOR flash, feature `storage` of
    /// `duet`): messages it holds from before a reboot — queued while the
    /// hub was out of reach, or sent and not yet acknowledged — go out once
    /// connected, and those the hub acknowledged do not come back.
    #[allow(clippy::too_many_arguments)]
    pub fn with_store(
        config: HubConfig<'b>,
        connector: C,
        clock: K,
        hasher: &'b H,
        unix_secs: W,
        buffers: HubBuffers<'b>,
        seed: u32,
        store: S,
    ) -> Result<Self, AzureError> {
        let identity = hub::HubClient::with_options(
            config.hostname,
            config.device_id,
            HubOptions {
                module_id: config.module_id,
                model_id: config.model_id,
                ..HubOptions::default()
            },
        );
        let (user_name, client_id) = identity_strings(
            buffers.identity,
            |out| identity.user_name(out),
            |out| identity.client_id(out),
        )?;
        // The hub keeps subscriptions and undelivered C2D messages of a
        // persistent session.
        let connect = azure_connect(user_name, client_id, config.keep_alive_secs, false);
        let resource = Resource::Hub {
            hostname: config.hostname,
            device_id: config.device_id,
            module_id: (!config.module_id.is_empty()).then_some(config.module_id),
        };
        let sas = SasConnector::new(
            connector,
            hasher,
            unix_secs,
            resource,
            None,
            config.credential,
            config.token_lifetime_secs,
        );
        let renew_after = match config.credential {
            Credential::SymmetricKey(_) => Some(Duration::from_millis(
                u64::from(config.token_lifetime_secs) * u64::from(config.renew_at_percent) * 10,
            )),
            Credential::X509 => None,
        };
        Ok(HubClient {
            mqtt: Client::with_store(
                sas,
                clock,
                connect,
                config.backoff,
                buffers.mqtt,
                seed,
                store,
            ),
            identity,
            topic: buffers.topic,
            twin_patch: buffers.twin_patch,
            pending: None,
            next_request_id: seed % 1_000_000,
            renew_after,
            renew_at: None,
            app_wake: None,
            subscriptions: [Subscription::Granted; SUBSCRIPTIONS.len()],
            connected_due: false,
            rng: Rng::new(u64::from(seed)),
            stats: HubStats::default(),
        })
    }

    pub fn is_connected(&self) -> bool {
        self.mqtt.is_connected()
    }

    pub fn stats(&self) -> HubStats {
        self.stats
    }

    /// The connector, for the TLS layer's diagnostics
    /// (`connector().inner().last_error()`).
    pub fn connector(&self) -> &SasConnector<'b, C, H, W> {
        self.mqtt.connector()
    }

    /// The connector, to change what the next connection opens: a device
    /// that asks DNS for the hub's address again after a disconnection sets
    /// it in the TCP connector (`connector_mut().inner_mut().inner_mut()`),
    /// so that it follows a hub that failed over to another address.
    pub fn connector_mut(&mut self) -> &mut SasConnector<'b, C, H, W> {
        self.mqtt.connector_mut()
    }

    /// The MQTT client underneath.
    pub fn mqtt(&self) -> &Client<'b, SasConnector<'b, C, H, W>, K, WINDOW, INBOUND, S> {
        &self.mqtt
    }

    /// Makes [`HubClient::poll`] return [`HubEvent::Wake`] once `at` has
    /// come. Use it for periodic work rather than racing `poll` against a
    /// timer: a poll cancelled midway (say during a TLS handshake) loses
    /// the connection attempt.
    pub fn wake_at(&mut self, at: Option<Instant>) {
        self.app_wake = at;
        self.plan_wake();
    }

    /// Closes the connection cleanly: everything sent so far (a method's
    /// answer, say) is delivered before it returns — call it before a
    /// reset or power-down. The next poll connects again.
    pub async fn disconnect(&mut self) {
        self.mqtt.disconnect().await;
        self.on_disconnected();
    }

    /// Queues a telemetry message with `properties` (name, value pairs,
    /// URL-encoded here; `$.ct`, `$.ce` and the like included). QoS 1
    /// messages stay queued until the hub acknowledges them, across
    /// reconnections.
    pub async fn send_telemetry(
        &mut self,
        properties: &[(&str, &str)],
        payload: &[u8],
        qos: QoS,
    ) -> Result<(), HubError> {
        self.telemetry(None, properties, payload, qos).await
    }

    /// A Plug and Play component's telemetry (`$.sub` names the
    /// component).
    pub async fn send_component_telemetry(
        &mut self,
        component: &str,
        properties: &[(&str, &str)],
        payload: &[u8],
        qos: QoS,
    ) -> Result<(), HubError> {
        self.telemetry(Some(component), properties, payload, qos)
            .await
    }

    async fn telemetry(
        &mut self,
        component: Option<&str>,
        properties: &[(&str, &str)],
        payload: &[u8],
        qos: QoS,
    ) -> Result<(), HubError> {
        if qos == QoS::ExactlyOnce {
            return Err(HubError::QosUnsupported);
        }
        let n = self.identity.telemetry_topic(None, self.topic)?;
        let mut bag = MessagePropertiesWriter::new(&mut self.topic[n..]);
        if let Some(component) = component {
            bag.append_encoded("$.sub", component)?;
        }
        for (name, value) in properties {
            bag.append_encoded(name, value)?;
        }
        let len = n + bag.len();
        let topic = core::str::from_utf8(&self.topic[..len]).map_err(|_| AzureError::Malformed)?;
        self.mqtt.publish(topic, payload, qos).await?;
        Ok(())
    }

    /// Answers a direct method or command with `status` and a JSON
    /// `payload`.
    pub async fn respond(
        &mut self,
        request_id: &RequestId,
        status: u16,
        payload: &[u8],
    ) -> Result<(), HubError> {
        let n = self
            .identity
            .method_response_topic(request_id.as_str(), status, self.topic)?;
        let topic = core::str::from_utf8(&self.topic[..n]).map_err(|_| AzureError::Malformed)?;
        self.mqtt.publish(topic, payload, QoS::AtMostOnce).await?;
        Ok(())
    }

    /// Asks for the whole twin document; it arrives as [`HubEvent::Twin`].
    pub async fn request_twin(&mut self) -> Result<(), HubError> {
        self.start_twin(TwinRequest::Get).await
    }

    /// Sends a reported-properties patch (a JSON object); the hub's answer
    /// arrives as [`HubEvent::ReportedAccepted`].
    pub async fn report_properties(&mut self, patch: &[u8]) -> Result<(), HubError> {
        if self.pending.is_some() {
            return Err(HubError::TwinBusy);
        }
        self.twin_patch
            .get_mut(..patch.len())
            .ok_or(AzureError::BufferTooSmall)?
            .copy_from_slice(patch);
        self.start_twin(TwinRequest::Patch(patch.len())).await
    }

    /// Gives up on the twin request waiting for its answer (say its answer
    /// came as [`HubError::MessageTooLarge`]); a late answer is ignored.
    pub fn cancel_twin_request(&mut self) {
        self.pending = None;
        self.plan_wake();
    }

    async fn start_twin(&mut self, request: TwinRequest) -> Result<(), HubError> {
        if self.pending.is_some() {
            return Err(HubError::TwinBusy);
        }
        self.pending = Some(PendingTwin {
            request,
            sent_as: None,
            failures: 0,
            retry_at: None,
        });
        self.send_twin().await
    }

    /// Sends the pending twin request under a new `$rid`, if connected
    /// (else [`HubEvent::Connected`] will).
    async fn send_twin(&mut self) -> Result<(), HubError> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        pending.sent_as = None;
        pending.retry_at = None;
        if !self.mqtt.is_connected() {
            return Ok(());
        }
        let number = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        let request_id = RequestId::from_number(number);
        let (n, body): (usize, &[u8]) = match pending.request {
            TwinRequest::Get => (
                self.identity
                    .twin_document_get_topic(request_id.as_str(), self.topic)?,
                &[],
            ),
            TwinRequest::Patch(len) => (
                self.identity
                    .twin_patch_topic(request_id.as_str(), self.topic)?,
                &self.twin_patch[..len],
            ),
        };
        let topic = core::str::from_utf8(&self.topic[..n]).map_err(|_| AzureError::Malformed)?;
        self.mqtt.publish(topic, body, QoS::AtMostOnce).await?;
        pending.sent_as = Some(number);
        Ok(())
    }

    /// Does what is due and reports one event.
    pub async fn poll(&mut self) -> Result<HubEvent<'_>, HubError> {
        loop {
            if core::mem::take(&mut self.connected_due) {
                return Ok(HubEvent::Connected);
            }
            let event = match self.mqtt.poll().await {
                Ok(event) => Step::of(&event),
                Err(error) => {
                    if error == ClientError::PacketTooLarge {
                        self.stats.oversized += 1;
                    }
                    return Err(error.into());
                }
            };
            match event {
                Step::Connected { session_present } => {
                    if self.on_connected(session_present).await {
                        return Ok(HubEvent::Connected);
                    }
                }
                Step::Subscribed {
                    packet_id,
                    reason_code,
                } => {
                    if let Some(event) = self.on_suback(packet_id, reason_code).await {
                        return Ok(event);
                    }
                }
                Step::Nothing => {}
                Step::ConnectFailed => return Ok(HubEvent::ConnectFailed),
                Step::Disconnected => {
                    self.on_disconnected();
                    return Ok(HubEvent::Disconnected);
                }
                Step::Acknowledged => return Ok(HubEvent::TelemetryAcknowledged),
                Step::Refused(error) => return Ok(HubEvent::PublishRefused { error }),
                Step::Wake => {
                    if self.on_wake().await? {
                        return Ok(HubEvent::Disconnected);
                    }
                    if self
                        .app_wake
                        .is_some_and(|at| self.mqtt.clock().now() >= at)
                    {
                        self.app_wake = None;
                        self.plan_wake();
                        return Ok(HubEvent::Wake);
                    }
                }
                Step::Message => {
                    if let Some(answer) = self.on_message()? {
                        return Ok(self.message_event(answer));
                    }
                }
            }
        }
    }

    /// Subscribes where the hub has no session (true: nothing to wait
    /// for, the connection is ready), and plans the token's renewal.
    async fn on_connected(&mut self, session_present: bool) -> bool {
        self.renew_at = self
            .renew_after
            .map(|after| self.mqtt.clock().now() + after);
        self.plan_wake();
        let missing = self.subscriptions.contains(&Subscription::Missing);
        if !session_present || missing {
            for (state, (filter, qos)) in self.subscriptions.iter_mut().zip(SUBSCRIPTIONS) {
                // A failure means the connection is gone; the next one
                // subscribes again.
                *state = match self.mqtt.subscribe(filter, qos).await {
                    Ok(packet_id) => Subscription::Awaiting(packet_id),
                    Err(_) => Subscription::Missing,
                };
            }
        }
        if self.awaiting_any() {
            return false;
        }
        self.after_subscribing().await;
        true
    }

    /// Acts on a SUBACK: reports a refusal, and the connection once the
    /// last SUBACK is in.
    async fn on_suback(&mut self, packet_id: u16, reason_code: u8) -> Option<HubEvent<'static>> {
        let place = self
            .subscriptions
            .iter()
            .position(|state| *state == Subscription::Awaiting(packet_id))?;
        let refused = reason_code >= SUBACK_FAILURE;
        self.subscriptions[place] = if refused {
            Subscription::Missing
        } else {
            Subscription::Granted
        };
        let last = !self.awaiting_any();
        if last {
            self.after_subscribing().await;
        }
        if refused {
            self.stats.refused_subscriptions += 1;
            self.connected_due = last;
            return Some(HubEvent::SubscriptionRefused {
                filter: SUBSCRIPTIONS[place].0,
                reason_code,
            });
        }
        last.then_some(HubEvent::Connected)
    }

    /// The connection is ready: a twin request cut off goes out again.
    async fn after_subscribing(&mut self) {
        if self.pending.is_some() {
            self.stats.twin_resends += 1;
            let _ = self.send_twin().await;
        }
    }

    /// Whether a SUBACK is still to come.
    fn awaiting_any(&self) -> bool {
        self.subscriptions
            .iter()
            .any(|state| matches!(state, Subscription::Awaiting(_)))
    }

    fn on_disconnected(&mut self) {
        // A SUBACK that did not come: the filter may be missing.
        for state in &mut self.subscriptions {
            if matches!(state, Subscription::Awaiting(_)) {
                *state = Subscription::Missing;
            }
        }
        self.connected_due = false;
        if let Some(pending) = self.pending.as_mut() {
            pending.sent_as = None;
        }
        self.renew_at = None;
        self.plan_wake();
    }

    /// Acts on [`ClientEvent::Wake`]: renews the token (true: the
    /// connection was closed for it) or retries the twin request.
    async fn on_wake(&mut self) -> Result<bool, HubError> {
        let now = self.mqtt.clock().now();
        if self.renew_at.is_some_and(|at| now >= at) {
            self.stats.token_renewals += 1;
            self.mqtt.disconnect().await;
            self.on_disconnected();
            return Ok(true);
        }
        if self
            .pending
            .as_ref()
            .and_then(|p| p.retry_at)
            .is_some_and(|at| now >= at)
        {
            self.stats.twin_resends += 1;
            self.send_twin().await?;
        }
        self.plan_wake();
        Ok(false)
    }

    fn plan_wake(&mut self) {
        let retry = self.pending.as_ref().and_then(|p| p.retry_at);
        let wake = [self.renew_at, retry, self.app_wake]
            .into_iter()
            .flatten()
            .min();
        self.mqtt.wake_at(wake);
    }

    /// Reads the message the MQTT client holds: `Some` when the
    /// application should see it (the twin answer, if it is one, taken off
    /// the pending request), `None` when it was the client's alone.
    fn on_message(&mut self) -> Result<Option<Received>, HubError> {
        let received = match self.mqtt.current_message() {
            Some(publish) => classify(&publish),
            None => Err(HubError::Malformed),
        };
        let received = match received {
            Ok(received) => received,
            Err(error) => {
                match error {
                    HubError::UnknownTopic => self.stats.unknown_topics += 1,
                    _ => self.stats.malformed += 1,
                }
                return Err(error);
            }
        };
        let Received::TwinAnswer {
            request_id, status, ..
        } = received
        else {
            return Ok(Some(received));
        };
        let ours = self
            .pending
            .as_ref()
            .is_some_and(|p| p.sent_as.is_some() && p.sent_as == request_id);
        if !ours {
            self.stats.stale_twin_responses += 1;
            return Ok(None);
        }
        if retry_worthy(status) {
            self.schedule_twin_retry();
            return Ok(None);
        }
        self.pending = None;
        self.plan_wake();
        Ok(Some(received))
    }

    /// After a 429/5xx: the same request again after Azure's exponential
    /// backoff (1 s doubling to 60 s, with up to 1 s of jitter).
    fn schedule_twin_retry(&mut self) {
        let now = self.mqtt.clock().now();
        if let Some(pending) = self.pending.as_mut() {
            pending.failures = pending.failures.saturating_add(1);
            pending.sent_as = None;
            pending.retry_at = Some(now + service_retry_delay(pending.failures, &mut self.rng));
        }
        self.plan_wake();
    }

    /// The application's view of the message [`HubClient::on_message`]
    /// let through.
    fn message_event(&self, received: Received) -> HubEvent<'_> {
        let Some(publish) = self.mqtt.current_message() else {
            return HubEvent::ConnectFailed;
        };
        let payload = publish.payload;
        match (received, HubTopic::parse(publish.topic)) {
            (Received::C2d, Ok(HubTopic::C2d(c2d))) => HubEvent::C2d {
                properties: c2d.properties,
                payload,
            },
            (Received::Method, Ok(HubTopic::MethodRequest(method))) => {
                let command = method.command();
                HubEvent::Method {
                    component: command.component,
                    name: command.command,
                    // Checked by `classify`.
                    request_id: RequestId::new(method.request_id)
                        .unwrap_or(RequestId::from_number(0)),
                    payload,
                }
            }
            (Received::Desired { version }, _) => HubEvent::DesiredUpdate {
                version,
                patch: payload,
            },
            (
                Received::TwinAnswer {
                    status, version, ..
                },
                Ok(HubTopic::Twin(answer)),
            ) => match answer.response_type {
                TwinResponseType::Get => HubEvent::Twin { document: payload },
                TwinResponseType::ReportedProperties => HubEvent::ReportedAccepted {
                    version: version.unwrap_or(0),
                },
                _ => HubEvent::TwinRequestFailed { status },
            },
            // The topic parsed the same way a moment ago.
            _ => HubEvent::TwinRequestFailed { status: 0 },
        }
    }
}

/// Where one of the hub client's filters stands in the hub's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscription {
    /// Granted (or, for a new client, taken to be held by a resumed
    /// session).
    Granted,
    /// SUBSCRIBE sent with this packet identifier; its SUBACK is awaited.
    Awaiting(u16),
    /// Refused, not sent, or its SUBACK lost with the connection.
    Missing,
}

/// What one MQTT event is, borrowing nothing.
enum Step {
    Connected {
        session_present: bool,
    },
    ConnectFailed,
    Disconnected,
    Acknowledged,
    Wake,
    Message,
    Subscribed {
        packet_id: u16,
        reason_code: u8,
    },
    /// UNSUBACK: the hub sends no UNSUBSCRIBE, so nothing to do.
    Nothing,
    Refused(SessionError),
}

impl Step {
    fn of(event: &ClientEvent<'_>) -> Step {
        match *event {
            ClientEvent::Connected { session_present } => Step::Connected { session_present },
            ClientEvent::ConnectFailed => Step::ConnectFailed,
            ClientEvent::Disconnected => Step::Disconnected,
            ClientEvent::Published { .. } => Step::Acknowledged,
            ClientEvent::Wake => Step::Wake,
            ClientEvent::Message(_) => Step::Message,
            ClientEvent::Subscribed {
                packet_id,
                reason_code,
            } => Step::Subscribed {
                packet_id,
                reason_code,
            },
            ClientEvent::Unsubscribed { .. } => Step::Nothing,
            ClientEvent::PublishRefused { error } => Step::Refused(error),
        }
    }
}

/// Reads a received message's topic (and, where the protocol has JSON,
/// checks its payload).
fn classify(publish: &Publish<'_>) -> Result<Received, HubError> {
    let topic = match HubTopic::parse(publish.topic) {
        Ok(topic) => topic,
        Err(AzureError::TopicNoMatch) => return Err(HubError::UnknownTopic),
        Err(_) => return Err(HubError::Malformed),
    };
    match topic {
        HubTopic::C2d(_) => Ok(Received::C2d),
        HubTopic::MethodRequest(method) => {
            RequestId::new(method.request_id).map_err(|_| HubError::Malformed)?;
            Ok(Received::Method)
        }
        HubTopic::Twin(answer) => {
            let version = answer
                .version
                .map(|v| v.parse::<u64>().map_err(|_| HubError::Malformed))
                .transpose()?;
            match answer.response_type {
                TwinResponseType::DesiredProperties => {
                    check_json(publish.payload)?;
                    Ok(Received::Desired {
                        version: version.ok_or(HubError::Malformed)?,
                    })
                }
                response_type => {
                    if response_type == TwinResponseType::Get {
                        check_json(publish.payload)?;
                    }
                    Ok(Received::TwinAnswer {
                        request_id: answer.request_id.and_then(|rid| rid.parse().ok()),
                        status: answer.status,
                        version,
                    })
                }
            }
        }
    }
}

/// Whether `payload` is one JSON value.
fn check_json(payload: &[u8]) -> Result<(), HubError> {
    let mut reader = JsonReader::from_bytes(payload);
    reader
        .next_token()
        .and_then(|()| reader.skip_value())
        .and_then(|_| reader.end())
        .map_err(|_| HubError::Malformed)
}

impl<C, K, H, W, const WINDOW: usize, const INBOUND: usize, S> core::fmt::Debug
    for HubClient<'_, C, K, H, W, WINDOW, INBOUND, S>
where
    C: Connector,
    K: Clock,
    H: Hasher + ?Sized,
    W: Fn() -> u64,
    S: OutboxStore,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HubClient")
            .field("device_id", &self.identity.device_id)
            .field("connected", &self.is_connected())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
