//! The service's side of the `deviceUpdate` component: the update request
//! it writes into the twin's desired properties, and the agent's
//! acknowledgement of it
//! (<https://learn.microsoft.com/azure/iot-hub-device-update/device-update-plug-and-play#service-metadata>).
//!
//! ```text
//! "deviceUpdate": {"__t": "c", "service": {
//!     "workflow": {"action": 3, "id": "<guid>", "retryTimestamp": "<time>"},
//!     "updateManifest": "<the manifest, a JSON document, as a JSON string>",
//!     "updateManifestSignature": "<JWS over the manifest's SHA-256>",
//!     "fileUrls": {"<file id>": "<url>" | null, ...},
//!     "rootKeyPackageUrl": "<url>"}}
//! ```
//!
//! The acknowledgement is a writable-property response with an empty
//! value: `{"deviceUpdate":{"__t":"c","service":{"ac":200,"av":<version>,"value":{}}}}`.

use super::constants::{COMPONENT_NAME, limits};
use super::list::FixedList;
use super::{AduError, Capacity, read};
use crate::AzureError;
use crate::hub::PropertiesMessageType;
use crate::hub::pnp::{self, PropertiesError, PropertiesReader, PropertyType};
use crate::json::unescape;
use crate::json::{JsonReader, JsonTokenKind, JsonWriter};

/// The member names of the service's request; the agent echoes the
/// workflow's in its reports.
pub(crate) mod member {
    /// The component's member the service writes.
    pub(crate) const SERVICE: &str = "service";
    pub(crate) const WORKFLOW: &str = "workflow";
    pub(crate) const ACTION: &str = "action";
    pub(crate) const ID: &str = "id";
    pub(crate) const RETRY_TIMESTAMP: &str = "retryTimestamp";
    pub(super) const UPDATE_MANIFEST: &str = "updateManifest";
    pub(super) const UPDATE_MANIFEST_SIGNATURE: &str = "updateManifestSignature";
    pub(super) const FILE_URLS: &str = "fileUrls";
    pub(super) const ROOT_KEY_PACKAGE_URL: &str = "rootKeyPackageUrl";
}

/// What the service asks the agent to do (`workflow.action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowAction {
    /// `0`: download only (the first-generation protocol).
    LegacyDownload,
    /// `1`: install only (first generation).
    LegacyInstall,
    /// `2`: apply only (first generation).
    LegacyApply,
    /// `3`: process the whole deployment: download, install, apply.
    ApplyDeployment,
    /// `255`: cancel the deployment under way (the id is then
    /// `nodeployment`).
    Cancel,
    /// Any other code: kept, so the agent can echo it and report failure.
    Unknown(i32),
}

impl WorkflowAction {
    /// The action a code names.
    pub const fn from_code(code: i32) -> Self {
        match code {
            0 => Self::LegacyDownload,
            1 => Self::LegacyInstall,
            2 => Self::LegacyApply,
            3 => Self::ApplyDeployment,
            255 => Self::Cancel,
            other => Self::Unknown(other),
        }
    }

    /// Its code on the wire.
    pub const fn code(self) -> i32 {
        match self {
            Self::LegacyDownload => 0,
            Self::LegacyInstall => 1,
            Self::LegacyApply => 2,
            Self::ApplyDeployment => 3,
            Self::Cancel => 255,
            Self::Unknown(code) => code,
        }
    }
}

/// The deployment a request belongs to; the agent echoes it in its reports
/// so the service can tell which deployment a state is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workflow<'a> {
    /// What to do.
    pub action: WorkflowAction,
    /// The deployment's id (a GUID, or `nodeployment` on a cancel), raw
    /// JSON text as received.
    pub id: &'a str,
    /// When the service last retried the deployment; a retry with a new
    /// timestamp asks for the same deployment again.
    pub retry_timestamp: Option<&'a str>,
}

/// The agent's answer to a request (`az_iot_adu_client_request_decision`),
/// sent as the writable property's status `ac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDecision {
    /// `200`: the agent takes the request.
    Accept,
    /// `406`: the agent refuses it.
    Reject,
}

impl RequestDecision {
    /// The status code it is sent as.
    pub const fn status(self) -> i32 {
        match self {
            Self::Accept => 200,
            Self::Reject => 406,
        }
    }
}

/// Where to download one of the manifest's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileUrl<'a> {
    /// The file's id in the manifest's `files` and steps.
    pub file_id: &'a str,
    /// Its URL, raw JSON text as received.
    pub url: &'a str,
}

/// The service's request, parsed (`az_iot_adu_client_update_request`), with
/// room for `FILE_URLS` download URLs (the C SDK's 2 unless asked).
/// Strings borrow from the payload, raw: their JSON escapes undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateRequest<'a, const FILE_URLS: usize = { limits::MAX_TOTAL_FILE_COUNT }> {
    /// The deployment and what to do with it.
    pub workflow: Workflow<'a>,
    /// The update manifest as the service sends it: a JSON document inside
    /// a JSON string, still escaped — the signature is over the unescaped
    /// bytes, so decode it with [`update_manifest_into`](Self::update_manifest_into)
    /// before checking or parsing it. `None` when the service sent `null`
    /// or nothing (a cancel).
    pub update_manifest: Option<&'a str>,
    /// The manifest's JWS ([`super::jws::verify_manifest`]).
    pub update_manifest_signature: Option<&'a str>,
    /// The download URL of each file; `null` entries are left out.
    pub file_urls: FixedList<FileUrl<'a>, FILE_URLS>,
    /// Where to fetch a newer root-key package (agent 1.1.0 and later).
    pub root_key_package_url: Option<&'a str>,
}

impl<'a, const FILE_URLS: usize> UpdateRequest<'a, FILE_URLS> {
    /// Parses the `deviceUpdate` component's value,
    /// `{"service":{...}[,"__t":"c"]}`, members in any order; other members
    /// are skipped. No `service` (or a `null` one) is
    /// [`AzureError::Malformed`]; more non-null `fileUrls` than
    /// `FILE_URLS` is [`AduError::TooMany`].
    pub fn parse(component_value: &'a str) -> Result<Self, AduError> {
        let mut reader = JsonReader::new(component_value);
        read::object(&mut reader)?;
        let mut request = None;
        while let Some(name) = reader.next_member()? {
            if name == member::SERVICE {
                request = Self::read_service(&mut reader)?;
            } else {
                reader.skip_children()?;
            }
        }
        reader.end()?;
        request.ok_or(AduError::Azure(AzureError::Malformed))
    }

    /// Finds the request among received writable properties — a desired
    /// PATCH ([`PropertiesMessageType::WritableUpdated`]) or the desired
    /// section of a twin GET ([`PropertiesMessageType::GetResponse`]) —
    /// walking them with [`PropertiesReader`]. `None` when the payload
    /// carries no `deviceUpdate.service` (or a `null` one). The twin
    /// version to acknowledge is [`pnp::properties_version`]'s. Another
    /// message type is [`AzureError::InvalidArgument`].
    pub fn from_properties(
        payload: &'a str,
        message_type: PropertiesMessageType,
    ) -> Result<Option<Self>, AduError> {
        const COMPONENTS: &[&str] = &[COMPONENT_NAME];
        let mut walk =
            PropertiesReader::new(payload, message_type, PropertyType::Writable, COMPONENTS)?;
        let mut request = None;
        while let Some(property) = walk.next_component_property().map_err(walk_error)? {
            let json = walk.json();
            if property.component == Some(COMPONENT_NAME) && property.name == member::SERVICE {
                request = Self::read_service(json)?;
            } else {
                json.skip_children()?;
            }
            // The walk goes on from a value's end: past a scalar, or on
            // an object's or array's closing token.
            if !matches!(
                json.kind(),
                JsonTokenKind::EndObject | JsonTokenKind::EndArray
            ) {
                json.next_token()?;
            }
        }
        Ok(request)
    }

    /// From the `service` member's name, reads its object (leaving the
    /// reader on its `}`), or `None` for `null`.
    fn read_service(reader: &mut JsonReader<'a>) -> Result<Option<Self>, AduError> {
        reader.next_token()?;
        match reader.kind() {
            JsonTokenKind::Null => return Ok(None),
            JsonTokenKind::BeginObject => {}
            _ => return Err(AzureError::Malformed.into()),
        }
        let mut workflow = None;
        let mut update_manifest = None;
        let mut update_manifest_signature = None;
        let mut file_urls = FixedList::new();
        let mut root_key_package_url = None;
        while let Some(name) = reader.next_member()? {
            match name {
                member::WORKFLOW => workflow = Some(read_workflow(reader)?),
                member::UPDATE_MANIFEST => update_manifest = read::nullable_string(reader)?,
                member::UPDATE_MANIFEST_SIGNATURE => {
                    update_manifest_signature = read::nullable_string(reader)?;
                }
                member::FILE_URLS => file_urls = read_file_urls(reader)?,
                member::ROOT_KEY_PACKAGE_URL => {
                    root_key_package_url = read::nullable_string(reader)?
                }
                _ => reader.skip_children()?,
            }
        }
        Ok(Some(Self {
            workflow: workflow.ok_or(AzureError::Malformed)?,
            update_manifest,
            update_manifest_signature,
            file_urls,
            root_key_package_url,
        }))
    }

    /// Writes the update manifest, unescaped, into `out`; `None` when the
    /// request carries none.
    pub fn update_manifest_into<'o>(
        &self,
        out: &'o mut [u8],
    ) -> Result<Option<&'o str>, AzureError> {
        let Some(escaped) = self.update_manifest else {
            return Ok(None);
        };
        let len = unescape(escaped, out)?;
        let text = out.get(..len).ok_or(AzureError::BufferTooSmall)?;
        core::str::from_utf8(text)
            .map(Some)
            .map_err(|_| AzureError::Malformed)
    }

    /// The download URL of file `file_id`.
    pub fn file_url(&self, file_id: &str) -> Option<&'a str> {
        self.file_urls
            .iter()
            .find(|f| f.file_id == file_id)
            .map(|f| f.url)
    }
}

/// From `workflow`'s name, its object: `action` and `id` required.
fn read_workflow<'a>(reader: &mut JsonReader<'a>) -> Result<Workflow<'a>, AduError> {
    read::object(reader)?;
    let mut action = None;
    let mut id = None;
    let mut retry_timestamp = None;
    while let Some(name) = reader.next_member()? {
        match name {
            member::ACTION => action = Some(WorkflowAction::from_code(read::int32(reader)?)),
            member::ID => id = Some(read::string(reader)?),
            member::RETRY_TIMESTAMP => retry_timestamp = read::nullable_string(reader)?,
            _ => reader.skip_children()?,
        }
    }
    match (action, id) {
        (Some(action), Some(id)) => Ok(Workflow {
            action,
            id,
            retry_timestamp,
        }),
        _ => Err(AzureError::Malformed.into()),
    }
}

/// From `fileUrls`' name, its map (or `null`, an empty one); entries
/// whose URL is `null` are left out, as the C SDK does.
fn read_file_urls<'a, const N: usize>(
    reader: &mut JsonReader<'a>,
) -> Result<FixedList<FileUrl<'a>, N>, AduError> {
    let mut urls = FixedList::new();
    reader.next_token()?;
    match reader.kind() {
        JsonTokenKind::Null => return Ok(urls),
        JsonTokenKind::BeginObject => {}
        _ => return Err(AzureError::Malformed.into()),
    }
    while let Some(file_id) = reader.next_member()? {
        if let Some(url) = read::nullable_string(reader)? {
            urls.push(FileUrl { file_id, url }, Capacity::FileUrls)?;
        }
    }
    Ok(urls)
}

fn walk_error(e: PropertiesError) -> AduError {
    match e {
        PropertiesError::Azure(e) => e.into(),
        // The walk above always leaves the reader where the walker expects
        // it; should it not, the payload is what confused it.
        PropertiesError::InvalidState => AzureError::Malformed.into(),
    }
}

/// Writes the agent's acknowledgement of the request of twin `version`
/// into `out`: `{"deviceUpdate":{"__t":"c","service":{"ac":<status>,"av":<version>,"value":{}}}}`.
/// The value is left empty: the service does not need its request echoed,
/// and it keeps the message small.
pub fn write_response(
    version: i32,
    decision: RequestDecision,
    out: &mut [u8],
) -> Result<usize, AzureError> {
    let mut w = JsonWriter::new(out);
    w.begin_object()?;
    pnp::begin_component(&mut w, COMPONENT_NAME)?;
    pnp::begin_response_status(&mut w, member::SERVICE, decision.status(), version, "")?;
    w.begin_object()?;
    w.end_object()?;
    pnp::end_response_status(&mut w)?;
    pnp::end_component(&mut w)?;
    w.end_object()?;
    Ok(w.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_their_codes() {
        for code in [0, 1, 2, 3, 255, -1, 7] {
            assert_eq!(WorkflowAction::from_code(code).code(), code);
        }
        assert_eq!(
            WorkflowAction::from_code(3),
            WorkflowAction::ApplyDeployment
        );
        assert_eq!(WorkflowAction::from_code(-1), WorkflowAction::Unknown(-1));
    }

    /// With the C SDK's capacity.
    fn parse(text: &str) -> Result<UpdateRequest<'_>, AduError> {
        UpdateRequest::parse(text)
    }

    #[test]
    fn requests_need_a_workflow_and_typed_members() {
        let ok = r#"{"service":{"workflow":{"id":"x","action":3},"fileUrls":null}}"#;
        let request = parse(ok).unwrap();
        assert_eq!(request.workflow.id, "x");
        assert!(request.file_urls.is_empty());
        for bad in [
            r#"{"__t":"c"}"#,
            r#"{"service":null}"#,
            r#"{"service":{"updateManifest":null}}"#,
            r#"{"service":{"workflow":{"action":3}}}"#,
            r#"{"service":{"workflow":{"action":"3","id":"x"}}}"#,
            r#"{"service":{"workflow":{"action":3,"id":"x"},"updateManifest":1}}"#,
            r#"{"service":{"workflow":{"action":3,"id":"x"},"fileUrls":[]}}"#,
            r#"{"service":{"workflow":{"action":3,"id":"x"},"fileUrls":{"a":1}}}"#,
            r#"{"service":{"workflow":{"action":3,"id":"x"}}} x"#,
            r#"{"service":{"workflow":{"action":3,"id":"x"}"#,
        ] {
            assert_eq!(
                parse(bad),
                Err(AduError::Azure(AzureError::Malformed)),
                "{bad}"
            );
        }
        let three = r#"{"service":{"workflow":{"action":3,"id":"x"},"fileUrls":{"a":"1","b":"2","c":"3"}}}"#;
        assert_eq!(parse(three), Err(AduError::TooMany(Capacity::FileUrls)));
        let request = UpdateRequest::<'_, 3>::parse(three).unwrap();
        assert_eq!(request.file_url("c"), Some("3"));
        assert_eq!(request.file_url("d"), None);
    }
}
