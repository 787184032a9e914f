//! The Device Provisioning Service device protocol (azure-sdk-for-c
//! `az_iot_provisioning_client`): the MQTT user name and client id, the
//! register and operation-status query topics with their parser, the
//! register request payload and the register response parser.
//!
//! A device connects to the global endpoint
//! ([`ProvisioningClient::global_device_hostname`]) with
//! [`ProvisioningClient::client_id`] and [`ProvisioningClient::user_name`],
//! subscribes to [`RESPONSE_SUBSCRIBE_TOPIC`], publishes
//! [`ProvisioningClient::register_payload`] to
//! [`ProvisioningClient::register_topic`], and reads each answer with
//! [`ProvisioningClient::parse_response`]; while the operation is not
//! [complete](OperationStatus::is_complete) it waits
//! [`RegisterResponse::retry_after_seconds`] and asks again on
//! [`ProvisioningClient::query_topic`].

mod response;
mod topic;

pub use response::{OperationStatus, RegisterResponse, RegistrationState};
pub use topic::{DpsTopic, RESPONSE_SUBSCRIBE_TOPIC};

use crate::AzureError;
use crate::json::JsonReader;
use crate::out::Out;

/// The DPS service API version the user name asks for.
pub const API_VERSION: &str = "2019-03-31";

/// Optional settings of a [`ProvisioningClient`]
/// (`az_iot_provisioning_client_options`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOptions<'a> {
    /// Sent as `ClientVersion` in the user name when present and not empty.
    pub user_agent: Option<&'a str>,
}

/// Optional contents of the register request payload
/// (`az_iot_provisioning_client_payload_options` and the custom payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegisterPayloadOptions<'a> {
    /// JSON text sent verbatim as the `payload` member (for example a Plug
    /// and Play `{"modelId":"dtmi:..."}`); it must be one valid JSON value.
    pub custom_payload: Option<&'a str>,
}

/// One device's identity towards DPS (`az_iot_provisioning_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisioningClient<'a> {
    global_device_hostname: &'a str,
    id_scope: &'a str,
    registration_id: &'a str,
    options: ClientOptions<'a>,
}

impl<'a> ProvisioningClient<'a> {
    /// A client for `registration_id` in the DPS instance `id_scope`,
    /// reached at `global_device_hostname`; none of them may be empty
    /// ([`AzureError::InvalidArgument`]).
    pub fn new(
        global_device_hostname: &'a str,
        id_scope: &'a str,
        registration_id: &'a str,
        options: ClientOptions<'a>,
    ) -> Result<Self, AzureError> {
        if global_device_hostname.is_empty() || id_scope.is_empty() || registration_id.is_empty() {
            return Err(AzureError::InvalidArgument);
        }
        Ok(ProvisioningClient {
            global_device_hostname,
            id_scope,
            registration_id,
            options,
        })
    }

    /// The host to open the MQTT (TLS) connection to.
    pub fn global_device_hostname(&self) -> &'a str {
        self.global_device_hostname
    }

    /// The DPS ID scope.
    pub fn id_scope(&self) -> &'a str {
        self.id_scope
    }

    /// The registration id.
    pub fn registration_id(&self) -> &'a str {
        self.registration_id
    }

    /// The MQTT user name (`az_iot_provisioning_client_get_user_name`):
    /// `{id_scope}/registrations/{registration_id}/api-version=2019-03-31`,
    /// then `&ClientVersion={user_agent}` if there is a user agent.
    pub fn user_name(&self, out: &mut [u8]) -> Result<usize, AzureError> {
        let mut w = Out::new(out);
        w.put_str(self.id_scope)?;
        w.put_str("/registrations/")?;
        w.put_str(self.registration_id)?;
        w.put_str("/api-version=")?;
        w.put_str(API_VERSION)?;
        if let Some(agent) = self.options.user_agent.filter(|a| !a.is_empty()) {
            w.put_str("&ClientVersion=")?;
            w.put_str(agent)?;
        }
        Ok(w.position())
    }

    /// The MQTT client id (`az_iot_provisioning_client_get_client_id`): the
    /// registration id.
    pub fn client_id(&self, out: &mut [u8]) -> Result<usize, AzureError> {
        let mut w = Out::new(out);
        w.put_str(self.registration_id)?;
        Ok(w.position())
    }

    /// The topic a register request is published to
    /// (`az_iot_provisioning_client_register_get_publish_topic`); parses back
    /// as [`DpsTopic::Register`].
    pub fn register_topic(&self, out: &mut [u8]) -> Result<usize, AzureError> {
        let mut w = Out::new(out);
        w.put_str(topic::REGISTER_TOPIC)?;
        Ok(w.position())
    }

    /// The topic an operation-status query for `operation_id` is published
    /// to (`az_iot_provisioning_client_query_status_get_publish_topic`);
    /// parses back as [`DpsTopic::QueryStatus`]. An empty operation id is
    /// [`AzureError::InvalidArgument`].
    pub fn query_topic(&self, operation_id: &str, out: &mut [u8]) -> Result<usize, AzureError> {
        if operation_id.is_empty() {
            return Err(AzureError::InvalidArgument);
        }
        let mut w = Out::new(out);
        w.put_str(topic::QUERY_TOPIC_PREFIX)?;
        w.put_str(operation_id)?;
        Ok(w.position())
    }

    /// The register request payload
    /// (`az_iot_provisioning_client_get_request_payload`):
    /// `{"registrationId":"..."}`, with `,"payload":{custom}` when there is
    /// a custom payload. A custom payload that is not one JSON value is
    /// [`AzureError::InvalidArgument`].
    pub fn register_payload(
        &self,
        options: &RegisterPayloadOptions<'_>,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        let custom = options.custom_payload.filter(|c| !c.is_empty());
        if let Some(custom) = custom {
            let mut reader = JsonReader::new(custom);
            reader
                .next_token()
                .and_then(|()| reader.skip_value())
                .and_then(|_| reader.end())
                .map_err(|_| AzureError::InvalidArgument)?;
        }
        let mut w = Out::new(out);
        w.put_str("{\"registrationId\":\"")?;
        w.put_json_escaped(self.registration_id)?;
        w.put_str("\"")?;
        if let Some(custom) = custom {
            w.put_str(",\"payload\":")?;
            w.put_str(custom)?;
        }
        w.put_str("}")?;
        Ok(w.position())
    }

    /// Reads a message received on [`RESPONSE_SUBSCRIBE_TOPIC`]
    /// (`az_iot_provisioning_client_parse_received_topic_and_payload`).
    /// A topic that is not a DPS response is [`AzureError::TopicNoMatch`];
    /// a payload that is not a register response is
    /// [`AzureError::Malformed`] (or [`AzureError::OutOfRange`] for numbers
    /// that do not fit).
    pub fn parse_response<'m>(
        &self,
        topic: &'m str,
        payload: &'m [u8],
    ) -> Result<RegisterResponse<'m>, AzureError> {
        RegisterResponse::parse(topic, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(registration_id: &str) -> ProvisioningClient<'_> {
        ProvisioningClient::new(
            "global.azure-devices-provisioning.net",
            "0ne",
            registration_id,
            ClientOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn empty_identities_are_refused() {
        let opts = ClientOptions::default();
        assert_eq!(
            ProvisioningClient::new("", "s", "r", opts),
            Err(AzureError::InvalidArgument)
        );
        assert_eq!(
            ProvisioningClient::new("h", "", "r", opts),
            Err(AzureError::InvalidArgument)
        );
        assert_eq!(
            ProvisioningClient::new("h", "s", "", opts),
            Err(AzureError::InvalidArgument)
        );
        assert_eq!(
            client("r").query_topic("", &mut [0; 64]),
            Err(AzureError::InvalidArgument)
        );
    }

    #[test]
    fn registration_id_is_json_escaped_and_custom_payload_checked() {
        let mut out = [0u8; 64];
        let n = client("a\"b\\c\u{1}")
            .register_payload(&RegisterPayloadOptions::default(), &mut out)
            .unwrap();
        assert_eq!(&out[..n], br#"{"registrationId":"a\"b\\c\u0001"}"#);
        let bad = RegisterPayloadOptions {
            custom_payload: Some("{\"a\":"),
        };
        assert_eq!(
            client("r").register_payload(&bad, &mut out),
            Err(AzureError::InvalidArgument)
        );
    }

    #[test]
    fn every_builder_reports_a_short_buffer() {
        let c = client("myRegistrationId");
        let opts = RegisterPayloadOptions {
            custom_payload: Some("{}"),
        };
        type Builder<'b> = &'b dyn Fn(&mut [u8]) -> Result<usize, AzureError>;
        let builders: [Builder<'_>; 5] = [
            &|o| c.user_name(o),
            &|o| c.client_id(o),
            &|o| c.register_topic(o),
            &|o| c.query_topic("op", o),
            &|o| c.register_payload(&opts, o),
        ];
        for build in builders {
            let mut big = [0u8; 256];
            let n = build(&mut big).unwrap();
            assert_eq!(build(&mut big[..n]), Ok(n));
            assert_eq!(build(&mut big[..n - 1]), Err(AzureError::BufferTooSmall));
        }
    }
}
