//! The update manifest (versions 4 and 5,
//! <https://learn.microsoft.com/azure/iot-hub-device-update/update-manifest>):
//! what to install and how, as the service publishes it inside the request
//! (`az_iot_adu_client_update_manifest`).
//!
//! ```text
//! {"manifestVersion": "5",
//!  "updateId": {"provider", "name", "version"},
//!  "compatibility": [{"manufacturer": "Contoso", "model": "Foobar"}, ...],
//!  "instructions": {"steps": [
//!      {"handler": "microsoft/swupdate:1", "files": ["<file id>"],
//!       "handlerProperties": {"installedCriteria": "1.0"}},
//!      {"type": "reference", "detachedManifestFileId": "<file id>"}]},
//!  "files": {"<file id>": {"fileName", "sizeInBytes", "hashes": {"sha256": "<base64>"}}},
//!  "createdDateTime": "2022-07-07T03:02:48.8449038Z"}
//! ```
//!
//! Parse the manifest only after [`super::jws::verify_manifest`] accepted
//! it. Members may come in any order; members this parser does not know
//! (delta updates' `relatedFiles`, `downloadHandler`, `mimeType`, ...) are
//! skipped. Strings borrow from the manifest, raw.

use super::constants::limits;
use super::list::FixedList;
use super::{AduError, Capacity, read};
use crate::AzureError;
use crate::json::{JsonReader, JsonTokenKind};

/// The manifest's member names and the values of `type`.
mod member {
    pub(super) const MANIFEST_VERSION: &str = "manifestVersion";
    pub(super) const UPDATE_ID: &str = "updateId";
    pub(super) const PROVIDER: &str = "provider";
    pub(super) const NAME: &str = "name";
    pub(super) const VERSION: &str = "version";
    pub(super) const COMPATIBILITY: &str = "compatibility";
    pub(super) const INSTRUCTIONS: &str = "instructions";
    pub(super) const STEPS: &str = "steps";
    pub(super) const TYPE: &str = "type";
    pub(super) const TYPE_INLINE: &str = "inline";
    pub(super) const TYPE_REFERENCE: &str = "reference";
    pub(super) const HANDLER: &str = "handler";
    pub(super) const FILES: &str = "files";
    pub(super) const HANDLER_PROPERTIES: &str = "handlerProperties";
    pub(super) const INSTALLED_CRITERIA: &str = "installedCriteria";
    pub(super) const DETACHED_MANIFEST_FILE_ID: &str = "detachedManifestFileId";
    pub(super) const FILE_NAME: &str = "fileName";
    pub(super) const SIZE_IN_BYTES: &str = "sizeInBytes";
    pub(super) const HASHES: &str = "hashes";
    pub(super) const SHA256: &str = "sha256";
    pub(super) const CREATED_DATE_TIME: &str = "createdDateTime";
}

/// An update's identity (`az_iot_adu_update_id`); the agent reports
/// the installed one as `installedUpdateId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpdateId<'m> {
    /// Who publishes it (`Contoso`).
    pub provider: &'m str,
    /// What it updates (`Foobar`).
    pub name: &'m str,
    /// Its version (`1.1`).
    pub version: &'m str,
}

/// How a step is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepType {
    /// `inline` (the default): a handler installs the step's files.
    #[default]
    Inline,
    /// `reference`: the step is another manifest, the file
    /// [`Step::detached_manifest_file_id`] (a proxy or leaf update).
    Reference,
}

/// One step of `instructions.steps`, with room for `FILES` file ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Step<'m, const FILES: usize> {
    /// Inline or reference.
    pub step_type: StepType,
    /// The update handler (`microsoft/swupdate:1`); inline steps only.
    pub handler: Option<&'m str>,
    /// The ids of the files the handler installs.
    pub files: FixedList<&'m str, FILES>,
    /// `handlerProperties.installedCriteria`: what the device compares
    /// with what it has to tell whether the step is already installed.
    pub installed_criteria: Option<&'m str>,
    /// `handlerProperties` whole, as JSON text, for handlers that read
    /// more than the installed criteria.
    pub handler_properties: Option<&'m str>,
    /// The detached manifest's file id; reference steps only.
    pub detached_manifest_file_id: Option<&'m str>,
}

/// One hash of a file (`az_iot_adu_client_update_manifest_file_hash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileHash<'m> {
    /// The algorithm (`sha256`).
    pub hash_type: &'m str,
    /// The digest, base64.
    pub hash_value: &'m str,
}

/// One file of `files`, with room for `HASHES` hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct File<'m, const HASHES: usize> {
    /// Its id, the key steps and `fileUrls` name it by.
    pub id: &'m str,
    /// Its name.
    pub file_name: &'m str,
    /// Its size, to check the download against.
    pub size_in_bytes: u64,
    /// Its digests, to check the download against.
    pub hashes: FixedList<FileHash<'m>, HASHES>,
}

impl<'m, const HASHES: usize> File<'m, HASHES> {
    /// The base64 SHA-256 of the file, the hash ADU always provides.
    pub fn sha256(&self) -> Option<&'m str> {
        self.hashes
            .iter()
            .find(|h| h.hash_type == member::SHA256)
            .map(|h| h.hash_value)
    }
}

/// A parsed update manifest, with room for `STEPS` steps of up to
/// `STEP_FILES` files, and `FILES` files of up to `HASHES` hashes — the C
/// SDK's 2 each unless asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateManifest<
    'm,
    const STEPS: usize = { limits::MAX_INSTRUCTIONS_STEPS },
    const STEP_FILES: usize = { limits::MAX_FILE_COUNT_PER_STEP },
    const FILES: usize = { limits::MAX_TOTAL_FILE_COUNT },
    const HASHES: usize = { limits::MAX_FILE_HASH_COUNT },
> {
    /// The schema version (`"5"`).
    pub manifest_version: &'m str,
    /// The update's identity.
    pub update_id: UpdateId<'m>,
    /// `compatibility` as JSON text: an array of property sets, any of
    /// which a device must match all of. The service has already matched
    /// them; see [`is_compatible`](Self::is_compatible) to check again.
    pub compatibility: Option<&'m str>,
    /// `instructions.steps`, in order.
    pub steps: FixedList<Step<'m, STEP_FILES>, STEPS>,
    /// `files`, in the manifest's order.
    pub files: FixedList<File<'m, HASHES>, FILES>,
    /// When the manifest was made.
    pub create_date_time: Option<&'m str>,
}

impl<'m, const STEPS: usize, const STEP_FILES: usize, const FILES: usize, const HASHES: usize>
    UpdateManifest<'m, STEPS, STEP_FILES, FILES, HASHES>
{
    /// Parses an unescaped manifest
    /// ([`super::UpdateRequest::update_manifest_into`]).
    /// `manifestVersion`, `updateId` and `instructions` are required
    /// ([`AzureError::Malformed`] without them); more steps, files or
    /// hashes than the capacities is [`AduError::TooMany`].
    pub fn parse(manifest: &'m str) -> Result<Self, AduError> {
        let mut reader = JsonReader::new(manifest);
        read::object(&mut reader)?;
        let mut manifest_version = None;
        let mut update_id = None;
        let mut compatibility = None;
        let mut steps = None;
        let mut files = FixedList::new();
        let mut create_date_time = None;
        while let Some(name) = reader.next_member()? {
            match name {
                member::MANIFEST_VERSION => manifest_version = Some(read::string(&mut reader)?),
                member::UPDATE_ID => update_id = Some(read_update_id(&mut reader)?),
                member::COMPATIBILITY => compatibility = Some(reader.skip_value()?),
                member::INSTRUCTIONS => steps = Some(read_instructions(&mut reader)?),
                member::FILES => files = read_files(&mut reader)?,
                member::CREATED_DATE_TIME => create_date_time = Some(read::string(&mut reader)?),
                _ => reader.skip_children()?,
            }
        }
        reader.end()?;
        match (manifest_version, update_id, steps) {
            (Some(manifest_version), Some(update_id), Some(steps)) => Ok(Self {
                manifest_version,
                update_id,
                compatibility,
                steps,
                files,
                create_date_time,
            }),
            _ => Err(AzureError::Malformed.into()),
        }
    }

    /// The file with id `file_id`.
    pub fn file(&self, file_id: &str) -> Option<&File<'m, HASHES>> {
        self.files.iter().find(|f| f.id == file_id)
    }

    /// Whether a device with `properties` (name, value) matches one of the
    /// `compatibility` sets: every member of the set names a property the
    /// device has, with the same value. No `compatibility` matches every
    /// device. Values are compared as raw JSON text.
    pub fn is_compatible(&self, properties: &[(&str, &str)]) -> Result<bool, AzureError> {
        let Some(text) = self.compatibility else {
            return Ok(true);
        };
        let mut reader = JsonReader::new(text);
        reader.next_token()?;
        if reader.kind() != JsonTokenKind::BeginArray {
            return Err(AzureError::Malformed);
        }
        let mut compatible = false;
        loop {
            reader.next_token()?;
            match reader.kind() {
                JsonTokenKind::EndArray => break,
                JsonTokenKind::BeginObject => {}
                _ => return Err(AzureError::Malformed),
            }
            let mut all = true;
            while let Some(name) = reader.next_member()? {
                let value = read::string(&mut reader)?;
                all &= properties.iter().any(|&(n, v)| n == name && v == value);
            }
            compatible |= all;
        }
        Ok(compatible)
    }
}

/// From `updateId`'s name, its object; all three members required.
fn read_update_id<'m>(reader: &mut JsonReader<'m>) -> Result<UpdateId<'m>, AduError> {
    read::object(reader)?;
    let (mut provider, mut name, mut version) = (None, None, None);
    while let Some(member) = reader.next_member()? {
        match member {
            member::PROVIDER => provider = Some(read::string(reader)?),
            member::NAME => name = Some(read::string(reader)?),
            member::VERSION => version = Some(read::string(reader)?),
            _ => reader.skip_children()?,
        }
    }
    match (provider, name, version) {
        (Some(provider), Some(name), Some(version)) => Ok(UpdateId {
            provider,
            name,
            version,
        }),
        _ => Err(AzureError::Malformed.into()),
    }
}

/// From `instructions`' name, its `steps`.
fn read_instructions<'m, const STEPS: usize, const STEP_FILES: usize>(
    reader: &mut JsonReader<'m>,
) -> Result<FixedList<Step<'m, STEP_FILES>, STEPS>, AduError> {
    read::object(reader)?;
    let mut steps = FixedList::new();
    while let Some(name) = reader.next_member()? {
        if name != member::STEPS {
            reader.skip_children()?;
            continue;
        }
        read::array(reader)?;
        loop {
            reader.next_token()?;
            match reader.kind() {
                JsonTokenKind::EndArray => break,
                JsonTokenKind::BeginObject => steps.push(read_step(reader)?, Capacity::Steps)?,
                _ => return Err(AzureError::Malformed.into()),
            }
        }
    }
    Ok(steps)
}

/// From a step's `{`, the step.
fn read_step<'m, const FILES: usize>(
    reader: &mut JsonReader<'m>,
) -> Result<Step<'m, FILES>, AduError> {
    let mut step = Step::default();
    while let Some(name) = reader.next_member()? {
        match name {
            member::TYPE => {
                step.step_type = match read::string(reader)? {
                    member::TYPE_INLINE => StepType::Inline,
                    member::TYPE_REFERENCE => StepType::Reference,
                    _ => return Err(AzureError::Malformed.into()),
                }
            }
            member::HANDLER => step.handler = Some(read::string(reader)?),
            member::FILES => {
                read::array(reader)?;
                loop {
                    reader.next_token()?;
                    match reader.kind() {
                        JsonTokenKind::EndArray => break,
                        JsonTokenKind::String => {
                            step.files.push(reader.text(), Capacity::StepFiles)?;
                        }
                        _ => return Err(AzureError::Malformed.into()),
                    }
                }
            }
            member::HANDLER_PROPERTIES => {
                let mut ahead = reader.clone();
                step.handler_properties = Some(ahead.skip_value()?);
                read::object(reader)?;
                while let Some(property) = reader.next_member()? {
                    if property == member::INSTALLED_CRITERIA {
                        step.installed_criteria = Some(read::string(reader)?);
                    } else {
                        reader.skip_children()?;
                    }
                }
            }
            member::DETACHED_MANIFEST_FILE_ID => {
                step.detached_manifest_file_id = Some(read::string(reader)?);
            }
            _ => reader.skip_children()?,
        }
    }
    Ok(step)
}

/// From `files`' name, its map of file id to file.
fn read_files<'m, const FILES: usize, const HASHES: usize>(
    reader: &mut JsonReader<'m>,
) -> Result<FixedList<File<'m, HASHES>, FILES>, AduError> {
    read::object(reader)?;
    let mut files = FixedList::new();
    while let Some(id) = reader.next_member()? {
        read::object(reader)?;
        let mut file = File {
            id,
            ..File::default()
        };
        let (mut file_name, mut size) = (None, None);
        while let Some(name) = reader.next_member()? {
            match name {
                member::FILE_NAME => file_name = Some(read::string(reader)?),
                member::SIZE_IN_BYTES => size = Some(read::uint64(reader)?),
                member::HASHES => {
                    read::object(reader)?;
                    while let Some(hash_type) = reader.next_member()? {
                        let hash_value = read::string(reader)?;
                        file.hashes.push(
                            FileHash {
                                hash_type,
                                hash_value,
                            },
                            Capacity::FileHashes,
                        )?;
                    }
                }
                _ => reader.skip_children()?,
            }
        }
        let (Some(file_name), Some(size)) = (file_name, size) else {
            return Err(AzureError::Malformed.into());
        };
        file.file_name = file_name;
        file.size_in_bytes = size;
        files.push(file, Capacity::Files)?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]}}"#;

    /// With the C SDK's capacities.
    fn parse(text: &str) -> Result<UpdateManifest<'_>, AduError> {
        UpdateManifest::parse(text)
    }

    #[test]
    fn required_members_and_types() {
        let manifest = parse(MINIMAL).unwrap();
        assert!(manifest.steps.is_empty() && manifest.files.is_empty());
        assert_eq!(manifest.is_compatible(&[]), Ok(true));
        for bad in [
            r#"{"updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]}}"#,
            r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N"},"instructions":{"steps":[]}}"#,
            r#"{"manifestVersion":5,"updateId":{"provider":"P","name":"N","version":"1"},"instructions":{}}"#,
            r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[1]}}"#,
            r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[{"type":"x"}]}}"#,
            r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]},"files":{"a":{"fileName":"f","sizeInBytes":-1}}}"#,
            r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]},"files":{"a":{"fileName":"f"}}}"#,
            "[]",
        ] {
            assert_eq!(
                parse(bad),
                Err(AduError::Azure(AzureError::Malformed)),
                "{bad}"
            );
        }
        let huge = r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]},"files":{"a":{"fileName":"f","sizeInBytes":18446744073709551616}}}"#;
        assert_eq!(parse(huge), Err(AduError::Azure(AzureError::OutOfRange)));
    }

    #[test]
    fn capacities_are_typed() {
        let three_steps = r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[{},{},{}]}}"#;
        assert_eq!(parse(three_steps), Err(AduError::TooMany(Capacity::Steps)));
        assert_eq!(
            UpdateManifest::<'_, 3>::parse(three_steps).map(|m| m.steps.len()),
            Ok(3)
        );
        let hashes = r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]},"files":{"a":{"fileName":"f","sizeInBytes":1,"hashes":{"sha256":"x","sha384":"y","md5":"z"}}}}"#;
        assert_eq!(parse(hashes), Err(AduError::TooMany(Capacity::FileHashes)));
        let manifest = UpdateManifest::<'_, 2, 2, 2, 3>::parse(hashes).unwrap();
        assert_eq!(manifest.file("a").and_then(File::sha256), Some("x"));
    }

    #[test]
    fn compatibility_sets_match_any_set_all_members() {
        let text = r#"{"manifestVersion":"5","updateId":{"provider":"P","name":"N","version":"1"},"instructions":{"steps":[]},"compatibility":[{"manufacturer":"A","model":"X"},{"manufacturer":"B"}]}"#;
        let manifest = parse(text).unwrap();
        assert_eq!(
            manifest.is_compatible(&[("manufacturer", "A"), ("model", "X")]),
            Ok(true)
        );
        assert_eq!(manifest.is_compatible(&[("manufacturer", "A")]), Ok(false));
        assert_eq!(
            manifest.is_compatible(&[("manufacturer", "B"), ("model", "Z")]),
            Ok(true)
        );
    }
}
