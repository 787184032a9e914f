//! IoT Hub's device protocol (azure-sdk-for-c `az_iot_hub_client`): the MQTT
//! user name and client id, every topic a device publishes to (builders)
//! and every topic it receives (parsers, into [`HubTopic`] or one struct per
//! feature), all over caller buffers.
//!
//! Plug and Play property payloads (components, writable-property acks) are
//! in [`pnp`], over the small JSON cursor of [`crate::json`].

pub mod pnp;

use crate::AzureError;
use crate::out::Out;
use crate::properties::MessageProperties;

/// The default user agent: `azsdk-c/<version>` URL-encoded, as the C SDK
/// sends it (IoT Hub counts device SDKs by it).
pub const DEFAULT_USER_AGENT: &str = "azsdk-c%2F1.6.0-beta.1";

/// The IoT Hub API version the topics and user name speak.
pub const API_VERSION: &str = "2020-09-30";

/// Subscribe filter for cloud-to-device messages (any device id: the hub
/// only sends a device its own).
pub const C2D_SUBSCRIBE_TOPIC: &str = "devices/+/messages/devicebound/#";
/// Subscribe filter for direct-method (and Plug and Play command) requests.
pub const METHODS_SUBSCRIBE_TOPIC: &str = "$iothub/methods/POST/#";
/// Subscribe filter for twin responses (GET and reported-property PATCH).
pub const TWIN_RESPONSE_SUBSCRIBE_TOPIC: &str = "$iothub/twin/res/#";
/// Subscribe filter for desired-property updates.
pub const TWIN_PATCH_SUBSCRIBE_TOPIC: &str = "$iothub/twin/PATCH/properties/desired/#";

const METHODS_REQUEST_PREFIX: &str = "$iothub/methods/POST/";
const METHODS_RESPONSE_PREFIX: &str = "$iothub/methods/res/";
const TWIN_PREFIX: &str = "$iothub/twin/";
const TWIN_RESPONSE: &str = "res/";
const TWIN_DESIRED_PATCH: &str = "PATCH/properties/desired/";
const RID_QUERY: &str = "/?$rid=";
const VERSION_QUERY: &str = "?$version=";
const VERSION_PARAM: &str = "$version=";
const C2D_SEGMENT: &str = "/messages/devicebound/";
/// Between component and command in a Plug and Play command's method
/// name (`thermostat*getMaxMinReport`).
pub const COMMAND_COMPONENT_SEPARATOR: char = '*';

/// IoT Hub's MQTT port (TLS).
pub const MQTT_PORT: u16 = 8883;
/// The keep-alive the C SDK connects with, in seconds.
pub const DEFAULT_KEEPALIVE_SECONDS: u16 = 240;
/// Telemetry's default QoS (the hub takes 0 and 1; C2D arrives at 1,
/// methods and twin at 0).
pub const TELEMETRY_DEFAULT_QOS: u8 = 0;
/// The user-name parameter carrying the device SDK's name and version.
pub const USER_AGENT_PARAM: &str = "DeviceClientType";
/// The user-name parameter carrying the Plug and Play model id.
pub const MODEL_ID_PARAM: &str = "model-id";
/// MQTT over WebSockets: the path, and the one for SAS without a client
/// certificate.
pub const WEBSOCKET_PATH: &str = "/$iothub/websocket";
pub const WEBSOCKET_PATH_NO_CLIENT_CERT: &str = "/$iothub/websocket?iothub-no-client-cert=true";

/// Who the device is, and what it tells the hub when it connects
/// (azure-sdk-for-c `az_iot_hub_client` with its options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubClient<'a> {
    /// The hub's host name, `myhub.azure-devices.net`.
    pub hostname: &'a str,
    /// The device id.
    pub device_id: &'a str,
    /// The options.
    pub options: HubOptions<'a>,
}

/// What a [`HubClient`] may add to the defaults. `""` means absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubOptions<'a> {
    /// The module id, for a module identity.
    pub module_id: &'a str,
    /// The user agent, already URL-encoded (sent as `DeviceClientType`).
    pub user_agent: &'a str,
    /// The Plug and Play model id (`dtmi:...`), URL-encoded when sent.
    pub model_id: &'a str,
}

impl Default for HubOptions<'_> {
    fn default() -> Self {
        Self {
            module_id: "",
            user_agent: DEFAULT_USER_AGENT,
            model_id: "",
        }
    }
}

impl<'a> HubClient<'a> {
    /// A device with the default options.
    pub fn new(hostname: &'a str, device_id: &'a str) -> Self {
        Self::with_options(hostname, device_id, HubOptions::default())
    }

    /// A device (or module) with `options`.
    pub fn with_options(hostname: &'a str, device_id: &'a str, options: HubOptions<'a>) -> Self {
        Self {
            hostname,
            device_id,
            options,
        }
    }

    fn check(&self) -> Result<(), AzureError> {
        if self.hostname.is_empty() || self.device_id.is_empty() {
            return Err(AzureError::InvalidArgument);
        }
        Ok(())
    }

    /// The MQTT user name:
    /// `{hostname}/{device_id}[/{module_id}]/?api-version=...&DeviceClientType={user_agent}[&model-id={model_id}]`.
    pub fn user_name(&self, out: &mut [u8]) -> Result<usize, AzureError> {
        self.check()?;
        let mut o = Out::new(out);
        o.put_str(self.hostname)?
            .put_str("/")?
            .put_str(self.device_id)?
            .put_str("/")?;
        if !self.options.module_id.is_empty() {
            o.put_str(self.options.module_id)?.put_str("/")?;
        }
        o.put_str("?api-version=")?.put_str(API_VERSION)?;
        if !self.options.user_agent.is_empty() {
            o.put_str("&")?
                .put_str(USER_AGENT_PARAM)?
                .put_str("=")?
                .put_str(self.options.user_agent)?;
        }
        if !self.options.model_id.is_empty() {
            o.put_str("&")?
                .put_str(MODEL_ID_PARAM)?
                .put_str("=")?
                .put_url_encoded(self.options.model_id)?;
        }
        Ok(o.position())
    }

    /// The MQTT client id: `{device_id}[/{module_id}]`.
    pub fn client_id(&self, out: &mut [u8]) -> Result<usize, AzureError> {
        self.check()?;
        let mut o = Out::new(out);
        o.put_str(self.device_id)?;
        if !self.options.module_id.is_empty() {
            o.put_str("/")?.put_str(self.options.module_id)?;
        }
        Ok(o.position())
    }

    /// The telemetry topic:
    /// `devices/{device_id}[/modules/{module_id}]/messages/events/[{properties}]`.
    pub fn telemetry_topic(
        &self,
        properties: Option<MessageProperties<'_>>,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        if self.device_id.is_empty() {
            return Err(AzureError::InvalidArgument);
        }
        let mut o = Out::new(out);
        o.put_str("devices/")?.put_str(self.device_id)?;
        if !self.options.module_id.is_empty() {
            o.put_str("/modules/")?.put_str(self.options.module_id)?;
        }
        o.put_str("/messages/events/")?;
        if let Some(properties) = properties {
            o.put_str(properties.as_str())?;
        }
        Ok(o.position())
    }

    /// The topic answering a direct method: `$iothub/methods/res/{status}/?$rid={request_id}`.
    pub fn method_response_topic(
        &self,
        request_id: &str,
        status: u16,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        method_response_topic(request_id, status, out)
    }

    /// The topic answering a Plug and Play command (the same as a method's).
    pub fn command_response_topic(
        &self,
        request_id: &str,
        status: u16,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        method_response_topic(request_id, status, out)
    }

    /// The topic requesting the twin document: `$iothub/twin/GET/?$rid={request_id}`.
    pub fn twin_document_get_topic(
        &self,
        request_id: &str,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        twin_topic("GET", request_id, out)
    }

    /// The topic patching reported properties:
    /// `$iothub/twin/PATCH/properties/reported/?$rid={request_id}`.
    pub fn twin_patch_topic(&self, request_id: &str, out: &mut [u8]) -> Result<usize, AzureError> {
        twin_topic("PATCH/properties/reported", request_id, out)
    }

    /// Plug and Play name of [`HubClient::twin_document_get_topic`].
    pub fn properties_document_get_topic(
        &self,
        request_id: &str,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        self.twin_document_get_topic(request_id, out)
    }

    /// Plug and Play name of [`HubClient::twin_patch_topic`].
    pub fn properties_reported_topic(
        &self,
        request_id: &str,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        self.twin_patch_topic(request_id, out)
    }

    /// Parses a received cloud-to-device topic.
    pub fn parse_c2d_topic<'t>(&self, topic: &'t str) -> Result<C2dRequest<'t>, AzureError> {
        C2dRequest::parse(topic)
    }

    /// Parses a received direct-method request topic.
    pub fn parse_method_topic<'t>(&self, topic: &'t str) -> Result<MethodRequest<'t>, AzureError> {
        MethodRequest::parse(topic)
    }

    /// Parses a received Plug and Play command request topic.
    pub fn parse_command_topic<'t>(
        &self,
        topic: &'t str,
    ) -> Result<CommandRequest<'t>, AzureError> {
        CommandRequest::parse(topic)
    }

    /// Parses a received twin topic (a response or a desired-property patch).
    pub fn parse_twin_topic<'t>(&self, topic: &'t str) -> Result<TwinResponse<'t>, AzureError> {
        TwinResponse::parse(topic)
    }

    /// Parses a received Plug and Play properties topic.
    pub fn parse_properties_topic<'t>(
        &self,
        topic: &'t str,
    ) -> Result<PropertiesMessage<'t>, AzureError> {
        PropertiesMessage::parse(topic)
    }
}

fn method_response_topic(
    request_id: &str,
    status: u16,
    out: &mut [u8],
) -> Result<usize, AzureError> {
    if request_id.is_empty() {
        return Err(AzureError::InvalidArgument);
    }
    let mut o = Out::new(out);
    o.put_str(METHODS_RESPONSE_PREFIX)?
        .put_decimal(u64::from(status))?
        .put_str(RID_QUERY)?
        .put_str(request_id)?;
    Ok(o.position())
}

fn twin_topic(verb: &str, request_id: &str, out: &mut [u8]) -> Result<usize, AzureError> {
    if request_id.is_empty() {
        return Err(AzureError::InvalidArgument);
    }
    let mut o = Out::new(out);
    o.put_str(TWIN_PREFIX)?
        .put_str(verb)?
        .put_str(RID_QUERY)?
        .put_str(request_id)?;
    Ok(o.position())
}

/// A cloud-to-device message's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct C2dRequest<'t> {
    /// The message's properties (URL-encoded, as received).
    pub properties: MessageProperties<'t>,
}

impl<'t> C2dRequest<'t> {
    /// Parses `devices/{device_id}[/modules/{module_id}]/messages/devicebound/{properties}`.
    pub fn parse(topic: &'t str) -> Result<Self, AzureError> {
        let rest = topic
            .strip_prefix("devices/")
            .ok_or(AzureError::TopicNoMatch)?;
        let (_, properties) = split_at_first(rest, C2D_SEGMENT).ok_or(AzureError::TopicNoMatch)?;
        Ok(Self {
            properties: MessageProperties::new(properties),
        })
    }
}

/// Splits `{name}/?$rid={request_id}` after a request prefix.
fn method_parts(topic: &str) -> Result<(&str, &str), AzureError> {
    let rest = topic
        .strip_prefix(METHODS_REQUEST_PREFIX)
        .ok_or(AzureError::TopicNoMatch)?;
    let (name, request_id) = split_at_first(rest, RID_QUERY).ok_or(AzureError::TopicNoMatch)?;
    if name.is_empty() || request_id.is_empty() {
        return Err(AzureError::TopicNoMatch);
    }
    Ok((name, request_id))
}

/// A direct-method request's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodRequest<'t> {
    /// The method name.
    pub name: &'t str,
    /// The request id, to echo in the response topic.
    pub request_id: &'t str,
}

impl<'t> MethodRequest<'t> {
    /// Parses `$iothub/methods/POST/{name}/?$rid={request_id}`.
    pub fn parse(topic: &'t str) -> Result<Self, AzureError> {
        let (name, request_id) = method_parts(topic)?;
        Ok(Self { name, request_id })
    }

    /// The same request seen as a Plug and Play command.
    pub fn command(&self) -> CommandRequest<'t> {
        let (component, command) = match self.name.split_once(COMMAND_COMPONENT_SEPARATOR) {
            Some((component, command)) => (Some(component), command),
            None => (None, self.name),
        };
        CommandRequest {
            component,
            command,
            request_id: self.request_id,
        }
    }
}

/// A Plug and Play command request's topic: a method named
/// `[{component}*]{command}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRequest<'t> {
    /// The component, `None` for the root (default) component.
    pub component: Option<&'t str>,
    /// The command name.
    pub command: &'t str,
    /// The request id, to echo in the response topic.
    pub request_id: &'t str,
}

impl<'t> CommandRequest<'t> {
    /// Parses `$iothub/methods/POST/[{component}*]{command}/?$rid={request_id}`.
    pub fn parse(topic: &'t str) -> Result<Self, AzureError> {
        MethodRequest::parse(topic).map(|m| m.command())
    }
}

/// What a twin topic answers (C `az_iot_hub_client_twin_response_type`,
/// same numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TwinResponseType {
    /// The answer to a document GET.
    Get = 1,
    /// A desired-property patch from the service.
    DesiredProperties = 2,
    /// The answer to a reported-property PATCH.
    ReportedProperties = 3,
    /// A request that failed (status 400 or above).
    RequestError = 4,
}

/// A received twin topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwinResponse<'t> {
    /// What it answers.
    pub response_type: TwinResponseType,
    /// The status (200 for a desired-property patch).
    pub status: u16,
    /// The request id, `None` for a desired-property patch.
    pub request_id: Option<&'t str>,
    /// The twin version, when the topic carries one.
    pub version: Option<&'t str>,
}

impl<'t> TwinResponse<'t> {
    /// Parses `$iothub/twin/res/{status}/?$rid={request_id}[&$version={version}]`
    /// or `$iothub/twin/PATCH/properties/desired/?$version={version}`.
    /// A response topic cut short is [`AzureError::OutOfRange`] (the C
    /// SDK's `AZ_ERROR_UNEXPECTED_END`).
    pub fn parse(topic: &'t str) -> Result<Self, AzureError> {
        let rest = topic
            .strip_prefix(TWIN_PREFIX)
            .ok_or(AzureError::TopicNoMatch)?;
        if let Some(rest) = rest.strip_prefix(TWIN_RESPONSE) {
            let (status, query) = split_at_first(rest, RID_QUERY).ok_or(AzureError::OutOfRange)?;
            let status = parse_status(status)?;
            let (request_id, version) = match query.split_once('&') {
                Some((rid, params)) => (rid, find_param(params, VERSION_PARAM)),
                None => (query, None),
            };
            let response_type = if status >= 400 {
                TwinResponseType::RequestError
            } else if status == 204 {
                TwinResponseType::ReportedProperties
            } else {
                TwinResponseType::Get
            };
            Ok(Self {
                response_type,
                status,
                request_id: Some(request_id),
                version,
            })
        } else if let Some(rest) = rest.strip_prefix(TWIN_DESIRED_PATCH) {
            let version = rest
                .strip_prefix(VERSION_QUERY)
                .ok_or(AzureError::OutOfRange)?;
            Ok(Self {
                response_type: TwinResponseType::DesiredProperties,
                status: 200,
                request_id: None,
                version: Some(version),
            })
        } else {
            Err(AzureError::TopicNoMatch)
        }
    }
}

/// `haystack` before and after the first `needle`, which is ASCII. A
/// plain byte search: topics are short, and `str::split_once` with a
/// string pattern brings in a two-way searcher of 1.3 KB.
fn split_at_first<'t>(haystack: &'t str, needle: &str) -> Option<(&'t str, &'t str)> {
    let at = haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window == needle.as_bytes())?;
    // An ASCII needle starts and ends on character boundaries.
    Some((haystack.get(..at)?, haystack.get(at + needle.len()..)?))
}

fn find_param<'t>(params: &'t str, prefix: &str) -> Option<&'t str> {
    params.split('&').find_map(|p| p.strip_prefix(prefix))
}

fn parse_status(text: &str) -> Result<u16, AzureError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AzureError::Malformed);
    }
    text.parse().map_err(|_| AzureError::OutOfRange)
}

/// What a Plug and Play properties topic carries (C
/// `az_iot_hub_client_properties_message_type`, same numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PropertiesMessageType {
    /// The whole properties document, answering a GET.
    GetResponse = 1,
    /// Writable properties the service updated.
    WritableUpdated = 2,
    /// The hub acknowledging reported properties.
    Acknowledgement = 3,
    /// A request that failed.
    Error = 4,
}

/// A received Plug and Play properties topic (the twin, in PnP words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertiesMessage<'t> {
    /// What it carries.
    pub message_type: PropertiesMessageType,
    /// The status (200 for an update).
    pub status: u16,
    /// The request id, `None` for a writable-property update.
    pub request_id: Option<&'t str>,
}

impl<'t> PropertiesMessage<'t> {
    /// Parses a twin topic into its Plug and Play meaning.
    pub fn parse(topic: &'t str) -> Result<Self, AzureError> {
        let twin = TwinResponse::parse(topic)?;
        Ok(Self {
            message_type: twin.response_type.into(),
            status: twin.status,
            request_id: twin.request_id,
        })
    }
}

impl From<TwinResponseType> for PropertiesMessageType {
    fn from(kind: TwinResponseType) -> Self {
        match kind {
            TwinResponseType::Get => Self::GetResponse,
            TwinResponseType::DesiredProperties => Self::WritableUpdated,
            TwinResponseType::ReportedProperties => Self::Acknowledgement,
            TwinResponseType::RequestError => Self::Error,
        }
    }
}

/// Any topic IoT Hub sends a device, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubTopic<'t> {
    /// A cloud-to-device message.
    C2d(C2dRequest<'t>),
    /// A direct-method request (see [`MethodRequest::command`] for its
    /// Plug and Play reading).
    MethodRequest(MethodRequest<'t>),
    /// A twin response or desired-property patch.
    Twin(TwinResponse<'t>),
}

impl<'t> HubTopic<'t> {
    /// Parses any received topic; [`AzureError::TopicNoMatch`] if it is
    /// none of them.
    pub fn parse(topic: &'t str) -> Result<Self, AzureError> {
        if topic.starts_with(TWIN_PREFIX) {
            TwinResponse::parse(topic).map(Self::Twin)
        } else if topic.starts_with(METHODS_REQUEST_PREFIX) {
            MethodRequest::parse(topic).map(Self::MethodRequest)
        } else {
            C2dRequest::parse(topic).map(Self::C2d)
        }
    }
}
