//! Device Update for IoT Hub (ADU): the agent's reported properties, the
//! service's update requests and manifests, and the JWS check of a manifest
//! against the ADU root keys — azure-sdk-for-c's `az_iot_adu_client`, in
//! Rust types, over caller buffers.
//!
//! The conversation runs over the Plug and Play component
//! [`COMPONENT_NAME`] of the device twin
//! (<https://learn.microsoft.com/azure/iot-hub-device-update/device-update-plug-and-play>):
//!
//! 1. the agent reports who it is and that it is idle ([`agent`]);
//! 2. the service writes `service` — a workflow, an update manifest (a JSON
//!    document inside a JSON string), its JWS signature and download URLs
//!    ([`service::UpdateRequest`]), which the agent acknowledges
//!    ([`service::write_response`]);
//! 3. the agent checks the signature ([`jws::verify_manifest`]), reads the
//!    manifest ([`manifest::UpdateManifest`]), downloads and installs, and
//!    reports progress and the result ([`agent::AgentReport`]).
//!
//! Every parser borrows from its input; every writer writes into the
//! caller's buffer and returns the length.

pub mod agent;
mod constants;
mod jwk;
pub mod jws;
mod list;
pub mod manifest;
mod read;
pub mod root_keys;
pub mod service;

use core::fmt;

use crate::AzureError;

pub use crate::json::unescape;
pub use agent::{AgentReport, AgentState, DeviceProperties, InstallResult, StepResult};
pub use constants::{
    AGENT_VERSION, AGENT_VERSION_NETXDUO_PREFIX, COMPONENT_NAME, CONTRACT_MODEL_ID,
    DEFAULT_COMPAT_PROPERTY_NAMES, STEP_RESULT_KEY_PREFIX, limits, result_code,
};
pub use list::FixedList;
pub use manifest::UpdateManifest;
pub use service::{FileUrl, RequestDecision, UpdateRequest, Workflow, WorkflowAction};

/// Whether a Plug and Play component is Device Update's
/// (`az_iot_adu_client_is_component_device_update`).
pub fn is_component_device_update(component_name: &str) -> bool {
    component_name == COMPONENT_NAME
}

/// Which fixed capacity an input overflowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// A request's `fileUrls`.
    FileUrls,
    /// A manifest's `instructions.steps`.
    Steps,
    /// One step's `files`.
    StepFiles,
    /// A manifest's `files`.
    Files,
    /// One file's `hashes`.
    FileHashes,
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capacity::FileUrls => "fileUrls",
            Capacity::Steps => "instructions.steps",
            Capacity::StepFiles => "a step's files",
            Capacity::Files => "files",
            Capacity::FileHashes => "a file's hashes",
        })
    }
}

/// Why an ADU parser or the manifest check failed: the layer's own
/// failures, plus the protocol layer's [`AzureError`] for JSON, base64 and
/// buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AduError {
    /// The input holds more items than the parser's capacity (the C SDK's
    /// `AZ_ERROR_NOT_ENOUGH_SPACE`); a parser with larger const
    /// parameters may take it.
    TooMany(Capacity),
    /// A JWS or JWK names an algorithm or key type other than RS256 / RSA.
    UnsupportedAlgorithm,
    /// The signing key is signed under a `kid` that is none of the trusted
    /// root keys.
    UnknownRootKey,
    /// The signing key's signature does not verify under its root key.
    SigningKeyRejected,
    /// The manifest's signature does not verify under the signing key.
    SignatureInvalid,
    /// The manifest is not the one signed: its SHA-256 differs from the
    /// signed `sha256`.
    ManifestHashMismatch,
    /// The JSON or base64 is malformed, a buffer is too small, or the
    /// crypto provider failed.
    Azure(AzureError),
}

impl From<AzureError> for AduError {
    fn from(e: AzureError) -> Self {
        Self::Azure(e)
    }
}

impl fmt::Display for AduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AduError::TooMany(what) => write!(f, "more items in {what} than the parser holds"),
            AduError::UnsupportedAlgorithm => {
                f.write_str("JWS algorithm or key type not RS256/RSA")
            }
            AduError::UnknownRootKey => f.write_str("signing key signed by an unknown root key"),
            AduError::SigningKeyRejected => {
                f.write_str("signing key signature invalid under its root key")
            }
            AduError::SignatureInvalid => f.write_str("update manifest signature invalid"),
            AduError::ManifestHashMismatch => {
                f.write_str("update manifest differs from the one signed")
            }
            AduError::Azure(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl core::error::Error for AduError {}

/// The ADU client's options (`az_iot_adu_client_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AduOptions<'a> {
    /// The device properties the service matches an update's
    /// `compatibility` against, comma-separated (`compatPropertyNames`).
    pub compat_property_names: &'a str,
}

impl Default for AduOptions<'_> {
    fn default() -> Self {
        Self {
            compat_property_names: DEFAULT_COMPAT_PROPERTY_NAMES,
        }
    }
}

/// azure-sdk-for-c's `az_iot_adu_client`: the options, and the C SDK's
/// four calls as methods. The work is in [`agent`], [`service`] and
/// [`manifest`]; a caller that wants NetX Duo's report shape uses
/// [`AgentReport`] directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AduClient<'a> {
    /// The options.
    pub options: AduOptions<'a>,
}

impl<'a> AduClient<'a> {
    /// A client with the default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client with `options`.
    pub fn with_options(options: AduOptions<'a>) -> Self {
        Self { options }
    }

    /// Whether `component_name` is Device Update's.
    pub fn is_component_device_update(&self, component_name: &str) -> bool {
        is_component_device_update(component_name)
    }

    /// The agent's reported properties, C-shaped
    /// (`az_iot_adu_client_get_agent_state_payload`): `deviceProperties`
    /// and `compatPropertyNames` always, then the state, the workflow
    /// being worked on, the installed update id and the last result.
    pub fn agent_state_payload(
        &self,
        device_properties: &DeviceProperties<'_>,
        state: AgentState,
        workflow: Option<&Workflow<'_>>,
        installed_update_id: Option<&str>,
        last_install_result: Option<&InstallResult<'_>>,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        AgentReport {
            device_properties: Some(device_properties),
            compat_property_names: Some(self.options.compat_property_names),
            state,
            workflow,
            installed_update_id,
            last_install_result,
        }
        .write(out)
    }

    /// The acknowledgement of the service's request of twin `version`
    /// (`az_iot_adu_client_get_service_properties_response`).
    pub fn service_properties_response(
        &self,
        version: i32,
        decision: RequestDecision,
        out: &mut [u8],
    ) -> Result<usize, AzureError> {
        service::write_response(version, decision, out)
    }

    /// The update request in the `deviceUpdate` component's value
    /// (`az_iot_adu_client_parse_service_update_request`), with the C SDK's
    /// capacity; [`UpdateRequest::parse`] takes others.
    pub fn parse_service_update_request(
        &self,
        component_value: &'a str,
    ) -> Result<UpdateRequest<'a>, AduError> {
        UpdateRequest::parse(component_value)
    }

    /// An update manifest, unescaped (`az_iot_adu_client_parse_update_manifest`),
    /// with the C SDK's capacities; [`UpdateManifest::parse`] takes others.
    pub fn parse_update_manifest(&self, manifest: &'a str) -> Result<UpdateManifest<'a>, AduError> {
        UpdateManifest::parse(manifest)
    }
}
