//! The Device Provisioning Service client: registers the device and
//! returns the hub it was assigned to, following DPS's MQTT flow —
//! subscribe to the responses, PUT the registration, then query its
//! operation every `retry-after` seconds until it is assigned.
//!
//! A lost connection resumes where the flow was (the query of a known
//! operation, else a new registration); 429 and 5xx answers are retried
//! with Azure's exponential backoff; any other error ends the flow with
//! its status and DPS's error code.

use duet::connector::Connector;
use duet::mqtt::codec::SUBACK_FAILURE;
use duet::mqtt::{Backoff, Client, ClientBuffers, ClientError, ClientEvent, Clock, QoS};
use duet::netstack::rand::Rng;
use duet::netstack::time::Duration;
use duet_crypto::hash::Hasher;

use super::{
    Credential, MQTT_INBOUND, MQTT_WINDOW, SasConnector, azure_connect, identity_strings,
    retry_worthy, service_retry_delay,
};
use crate::AzureError;
use crate::dps::{self, ClientOptions, OperationStatus, RegisterPayloadOptions, RegisterResponse};
use crate::sas::Resource;

/// The longest operation id kept (DPS's are about 55 bytes).
const MAX_OPERATION_ID: usize = 128;

/// Seconds between status queries when DPS does not say (the C SDK's
/// samples wait 3 s too).
const DEFAULT_RETRY_AFTER_SECS: u32 = 3;

/// Who registers, where, and how.
#[derive(Debug, Clone, Copy)]
pub struct ProvisioningConfig<'a> {
    /// `global.azure-devices-provisioning.net` (also the TLS server name).
    pub hostname: &'a str,
    pub id_scope: &'a str,
    pub registration_id: &'a str,
    /// The enrollment's key (a group member's derived key), or X.509.
    pub credential: Credential<'a>,
    /// JSON sent as the registration's `payload`, for example
    /// `{"modelId":"dtmi:..."}`.
    pub custom_payload: Option<&'a str>,
    pub token_lifetime_secs: u32,
    pub keep_alive_secs: u16,
    pub backoff: Backoff,
    /// Failed connection attempts in a row before
    /// [`ProvisioningClient::register`] gives up.
    pub max_connect_attempts: u32,
}

impl<'a> ProvisioningConfig<'a> {
    pub fn new(
        hostname: &'a str,
        id_scope: &'a str,
        registration_id: &'a str,
        credential: Credential<'a>,
    ) -> Self {
        ProvisioningConfig {
            hostname,
            id_scope,
            registration_id,
            credential,
            custom_payload: None,
            token_lifetime_secs: 3600,
            keep_alive_secs: 120,
            backoff: Backoff::default(),
            max_connect_attempts: 10,
        }
    }
}

/// The caller's memory for a [`ProvisioningClient`].
#[derive(Debug)]
pub struct ProvisioningBuffers<'b> {
    /// The MQTT client's; `topic_aliases: []`, as DPS speaks MQTT 3.1.1.
    pub mqtt: ClientBuffers<'b>,
    /// The MQTT user name and client id.
    pub identity: &'b mut [u8],
    /// Topics and the registration payload.
    pub scratch: &'b mut [u8],
    /// The assignment returned (hub, device id, custom payload).
    pub assignment: &'b mut [u8],
}

/// Where DPS assigned the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment<'r> {
    /// The IoT Hub host to connect to.
    pub assigned_hub: &'r str,
    /// The device's id there.
    pub device_id: &'r str,
    /// The custom allocation payload (JSON), if DPS returned one.
    pub payload: Option<&'r str>,
}

/// Why registration failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisioningError {
    Mqtt(ClientError),
    Azure(AzureError),
    /// `max_connect_attempts` connection attempts in a row failed (see
    /// the connectors' `last_error`).
    Unreachable,
    /// DPS refused the request with `status` (not 429 or 5xx) and its
    /// `errorCode`.
    Refused {
        status: u16,
        error_code: u32,
    },
    /// The registration ended `failed` or `disabled`.
    Failed {
        status: OperationStatus,
        error_code: u32,
    },
    /// DPS's answer does not parse.
    Malformed,
    /// DPS refused the subscription to its answers (`reason_code` from
    /// the SUBACK): none would come, so the flow ends.
    SubscriptionRefused {
        reason_code: u8,
    },
}

impl From<ClientError> for ProvisioningError {
    fn from(error: ClientError) -> Self {
        ProvisioningError::Mqtt(error)
    }
}

impl From<AzureError> for ProvisioningError {
    fn from(error: AzureError) -> Self {
        ProvisioningError::Azure(error)
    }
}

/// What to send next, after an answer or a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Register,
    Query,
}

/// What DPS's answer called for, borrowing nothing.
enum Answer {
    /// Ask again (query, or register anew) after this wait.
    Wait(Next, Duration),
    /// Assigned: the lengths of hub, device id and payload copied to the
    /// assignment buffer.
    Assigned(usize, usize, Option<usize>),
    Failed(ProvisioningError),
    /// Not DPS's answer.
    Ignore,
}

/// A device registering with DPS.
pub struct ProvisioningClient<'b, C: Connector, K: Clock, H: Hasher + ?Sized, W: Fn() -> u64> {
    /// The hub client's window and inbound slots, though DPS has one
    /// request in flight at a time: the same `Client` type serves both, so
    /// a device that provisions and then connects links the MQTT client
    /// once (a few hundred bytes of RAM against kilobytes of flash).
    mqtt: Client<'b, SasConnector<'b, C, H, W>, K, MQTT_WINDOW, MQTT_INBOUND>,
    identity: dps::ProvisioningClient<'b>,
    custom_payload: Option<&'b str>,
    scratch: &'b mut [u8],
    assignment: &'b mut [u8],
    operation_id: [u8; MAX_OPERATION_ID],
    operation_len: usize,
    max_connect_attempts: u32,
    /// Retry jitter.
    rng: Rng,
}

impl<'b, C, K, H, W> ProvisioningClient<'b, C, K, H, W>
where
    C: Connector,
    K: Clock,
    H: Hasher + ?Sized,
    W: Fn() -> u64,
{
    pub fn new(
        config: ProvisioningConfig<'b>,
        connector: C,
        clock: K,
        hasher: &'b H,
        unix_secs: W,
        buffers: ProvisioningBuffers<'b>,
        seed: u32,
    ) -> Result<Self, AzureError> {
        let identity = dps::ProvisioningClient::new(
            config.hostname,
            config.id_scope,
            config.registration_id,
            ClientOptions::default(),
        )?;
        let (user_name, client_id) = identity_strings(
            buffers.identity,
            |out| identity.user_name(out),
            |out| identity.client_id(out),
        )?;
        let connect = azure_connect(user_name, client_id, config.keep_alive_secs, true);
        let resource = Resource::Dps {
            id_scope: config.id_scope,
            registration_id: config.registration_id,
        };
        let sas = SasConnector::new(
            connector,
            hasher,
            unix_secs,
            resource,
            Some("registration"),
            config.credential,
            config.token_lifetime_secs,
        );
        Ok(ProvisioningClient {
            mqtt: Client::new(sas, clock, connect, config.backoff, buffers.mqtt, seed),
            identity,
            custom_payload: config.custom_payload,
            scratch: buffers.scratch,
            assignment: buffers.assignment,
            operation_id: [0; MAX_OPERATION_ID],
            operation_len: 0,
            max_connect_attempts: config.max_connect_attempts,
            rng: Rng::new(u64::from(seed)),
        })
    }

    /// Registers (or finishes a registration begun before) and returns the
    /// assignment; the connection to DPS is closed.
    pub async fn register(&mut self) -> Result<Assignment<'_>, ProvisioningError> {
        let mut failed_attempts = 0;
        let mut retriable_errors: u16 = 0;
        let mut next = if self.operation_len > 0 {
            Next::Query
        } else {
            Next::Register
        };
        let (hub, device, payload) = loop {
            let step = match self.mqtt.poll().await? {
                ClientEvent::Connected { .. } => Step::Connected,
                ClientEvent::ConnectFailed => Step::ConnectFailed,
                ClientEvent::Wake => Step::Wake,
                ClientEvent::Message(_) => Step::Message,
                ClientEvent::Subscribed { reason_code, .. } if reason_code >= SUBACK_FAILURE => {
                    Step::SubscriptionRefused(reason_code)
                }
                _ => Step::Other,
            };
            match step {
                Step::Connected => {
                    failed_attempts = 0;
                    self.mqtt
                        .subscribe(dps::RESPONSE_SUBSCRIBE_TOPIC, QoS::AtMostOnce)
                        .await?;
                    self.send(next).await?;
                }
                Step::ConnectFailed => {
                    failed_attempts += 1;
                    if failed_attempts >= self.max_connect_attempts {
                        return Err(ProvisioningError::Unreachable);
                    }
                }
                Step::Wake => self.send(next).await?,
                Step::SubscriptionRefused(reason_code) => {
                    self.mqtt.disconnect().await;
                    return Err(ProvisioningError::SubscriptionRefused { reason_code });
                }
                Step::Other => {}
                Step::Message => match self.read_answer(&mut retriable_errors) {
                    Answer::Wait(then, wait) => {
                        next = then;
                        let at = self.mqtt.clock().now() + wait;
                        self.mqtt.wake_at(Some(at));
                    }
                    Answer::Assigned(hub, device, payload) => break (hub, device, payload),
                    Answer::Ignore => {}
                    Answer::Failed(error) => {
                        self.mqtt.disconnect().await;
                        return Err(error);
                    }
                },
            }
        };
        self.mqtt.disconnect().await;
        self.operation_len = 0;
        let text = |range: core::ops::Range<usize>| {
            core::str::from_utf8(&self.assignment[range]).map_err(|_| ProvisioningError::Malformed)
        };
        Ok(Assignment {
            assigned_hub: text(0..hub)?,
            device_id: text(hub..hub + device)?,
            payload: match payload {
                Some(len) => Some(text(hub + device..hub + device + len)?),
                None => None,
            },
        })
    }

    /// Publishes the registration, or the query of its operation.
    async fn send(&mut self, next: Next) -> Result<(), ProvisioningError> {
        let (topic_len, body_len) = match next {
            Next::Query => {
                let operation = core::str::from_utf8(&self.operation_id[..self.operation_len])
                    .map_err(|_| ProvisioningError::Malformed)?;
                (self.identity.query_topic(operation, self.scratch)?, 0)
            }
            Next::Register => {
                let topic_len = self.identity.register_topic(self.scratch)?;
                let options = RegisterPayloadOptions {
                    custom_payload: self.custom_payload,
                };
                let body_len = self
                    .identity
                    .register_payload(&options, &mut self.scratch[topic_len..])?;
                (topic_len, body_len)
            }
        };
        let (topic, body) = self.scratch.split_at(topic_len);
        let topic = core::str::from_utf8(topic).map_err(|_| ProvisioningError::Malformed)?;
        self.mqtt
            .publish(topic, &body[..body_len], QoS::AtMostOnce)
            .await?;
        Ok(())
    }

    /// Reads DPS's answer, the message the MQTT client holds.
    fn read_answer(&mut self, retriable_errors: &mut u16) -> Answer {
        let Some(publish) = self.mqtt.current_message() else {
            return Answer::Failed(ProvisioningError::Malformed);
        };
        let response = match RegisterResponse::parse(publish.topic, publish.payload) {
            Ok(response) => response,
            // Not an answer to us: wait for the next message.
            Err(AzureError::TopicNoMatch) => return Answer::Ignore,
            Err(_) => return Answer::Failed(ProvisioningError::Malformed),
        };
        let state = response.registration_state;
        if response.status >= 400 {
            if retry_worthy(response.status) {
                *retriable_errors = retriable_errors.saturating_add(1);
                let backoff = service_retry_delay(*retriable_errors, &mut self.rng);
                let asked = Duration::from_secs(u64::from(response.retry_after_seconds));
                let next = if self.operation_len > 0 {
                    Next::Query
                } else {
                    Next::Register
                };
                return Answer::Wait(next, backoff.max(asked));
            }
            return Answer::Failed(ProvisioningError::Refused {
                status: response.status,
                error_code: state.extended_error_code,
            });
        }
        match response.operation_status {
            OperationStatus::Assigned => {
                let (Some(hub), Some(device)) = (state.assigned_hub_hostname, state.device_id)
                else {
                    return Answer::Failed(ProvisioningError::Malformed);
                };
                let parts = [Some(hub), Some(device), state.payload];
                let mut at = 0;
                for part in parts.into_iter().flatten() {
                    let Some(space) = self.assignment.get_mut(at..at + part.len()) else {
                        return Answer::Failed(AzureError::BufferTooSmall.into());
                    };
                    space.copy_from_slice(part.as_bytes());
                    at += part.len();
                }
                Answer::Assigned(hub.len(), device.len(), state.payload.map(str::len))
            }
            OperationStatus::Failed | OperationStatus::Disabled => {
                Answer::Failed(ProvisioningError::Failed {
                    status: response.operation_status,
                    error_code: state.extended_error_code,
                })
            }
            // Unassigned or assigning: query the operation after the wait.
            _ => {
                let Some(operation) = response.operation_id else {
                    return Answer::Failed(ProvisioningError::Malformed);
                };
                let Some(space) = self.operation_id.get_mut(..operation.len()) else {
                    return Answer::Failed(AzureError::BufferTooSmall.into());
                };
                space.copy_from_slice(operation.as_bytes());
                self.operation_len = operation.len();
                let secs = match response.retry_after_seconds {
                    0 => DEFAULT_RETRY_AFTER_SECS,
                    secs => secs,
                };
                Answer::Wait(Next::Query, Duration::from_secs(u64::from(secs)))
            }
        }
    }
}

/// What one MQTT event is, borrowing nothing.
enum Step {
    Connected,
    ConnectFailed,
    Wake,
    Message,
    SubscriptionRefused(u8),
    Other,
}

impl<C, K, H, W> core::fmt::Debug for ProvisioningClient<'_, C, K, H, W>
where
    C: Connector,
    K: Clock,
    H: Hasher + ?Sized,
    W: Fn() -> u64,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProvisioningClient")
            .field("registration_id", &self.identity.registration_id())
            .field("connected", &self.mqtt.is_connected())
            .finish_non_exhaustive()
    }
}
