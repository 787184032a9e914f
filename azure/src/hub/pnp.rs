//! Plug and Play properties (azure-sdk-for-c `az_iot_hub_client_properties`):
//! writing reported properties with components and writable-property
//! acknowledgements, and walking received properties component by
//! component.

use super::PropertiesMessageType;
use crate::AzureError;
use crate::json::{JsonReader, JsonTokenKind, JsonWriter};

/// The member marking a component's object in reported properties, and its
/// value (`"__t":"c"`).
pub const COMPONENT_MARKER_NAME: &str = "__t";
pub const COMPONENT_MARKER_VALUE: &str = "c";
/// A writable property's acknowledgement: status code, acknowledged
/// version, description, value (Plug and Play conventions).
pub const ACK_STATUS: &str = "ac";
pub const ACK_VERSION: &str = "av";
pub const ACK_DESCRIPTION: &str = "ad";
pub const ACK_VALUE: &str = "value";
const VERSION_NAME: &str = "$version";
const DESIRED: &str = "desired";
const REPORTED: &str = "reported";

/// Opens a component's object in reported properties:
/// `"{component}":{"__t":"c"`.
pub fn begin_component(writer: &mut JsonWriter<'_>, component: &str) -> Result<(), AzureError> {
    writer.property_name(component)?;
    writer.begin_object()?;
    writer.property_name(COMPONENT_MARKER_NAME)?;
    writer.string(COMPONENT_MARKER_VALUE)
}

/// Closes what [`begin_component`] opened.
pub fn end_component(writer: &mut JsonWriter<'_>) -> Result<(), AzureError> {
    writer.end_object()
}

/// Opens a writable property's acknowledgement:
/// `"{name}":{"ac":{status},"av":{version}[,"ad":"{description}"],"value":`;
/// the caller then writes the value and calls [`end_response_status`].
/// An empty description is left out.
pub fn begin_response_status(
    writer: &mut JsonWriter<'_>,
    name: &str,
    status: i32,
    version: i32,
    description: &str,
) -> Result<(), AzureError> {
    writer.property_name(name)?;
    writer.begin_object()?;
    writer.property_name(ACK_STATUS)?;
    writer.int32(status)?;
    writer.property_name(ACK_VERSION)?;
    writer.int32(version)?;
    if !description.is_empty() {
        writer.property_name(ACK_DESCRIPTION)?;
        writer.string(description)?;
    }
    writer.property_name(ACK_VALUE)
}

/// Closes what [`begin_response_status`] opened.
pub fn end_response_status(writer: &mut JsonWriter<'_>) -> Result<(), AzureError> {
    writer.end_object()
}

/// Which properties to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PropertyType {
    /// Properties the device reported (in a GET response's `reported`).
    ReportedFromDevice = 0,
    /// Writable properties the service set (`desired`).
    Writable = 1,
}

/// The `$version` of a received properties payload: the root's for a
/// writable-property update, `desired`'s for a GET response.
pub fn properties_version(
    payload: &str,
    message_type: PropertiesMessageType,
) -> Result<i32, AzureError> {
    let mut reader = JsonReader::new(payload);
    reader.next_token()?;
    if reader.kind() != JsonTokenKind::BeginObject {
        return Err(AzureError::Malformed);
    }
    match message_type {
        PropertiesMessageType::WritableUpdated => {}
        PropertiesMessageType::GetResponse => {
            find_member(&mut reader, DESIRED)?;
            reader.next_token()?;
            if reader.kind() != JsonTokenKind::BeginObject {
                return Err(AzureError::Malformed);
            }
        }
        _ => return Err(AzureError::InvalidArgument),
    }
    find_member(&mut reader, VERSION_NAME)?;
    reader.next_token()?;
    reader.i32()
}

/// From just inside an object, moves to the member called `name` (the
/// reader on its name); [`AzureError::Malformed`] if there is none.
fn find_member(reader: &mut JsonReader<'_>, name: &str) -> Result<(), AzureError> {
    let depth = reader.depth();
    loop {
        reader.next_token()?;
        match reader.kind() {
            JsonTokenKind::PropertyName if reader.text() == name => return Ok(()),
            JsonTokenKind::PropertyName if reader.depth() == depth => reader.skip_children()?,
            _ => return Err(AzureError::Malformed),
        }
    }
}

/// A property [`PropertiesReader::next_component_property`] stopped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentProperty<'a> {
    /// Its component, `None` for the root (default) component.
    pub component: Option<&'a str>,
    /// Its name.
    pub name: &'a str,
}

/// Walks the properties of a received payload, component by component
/// (`az_iot_hub_client_properties_get_next_component_property`).
///
/// [`next_component_property`](Self::next_component_property) leaves the
/// JSON reader on the property's name; the caller reads its value through
/// [`json`](Self::json) and moves past it (`next_token` to the value, then
/// `skip_children` if it is an object or array, or `next_token` past a
/// scalar) before asking for the next one. A reader left anywhere else is
/// [`PropertiesError::InvalidState`]. `$version` and components' `__t`
/// markers are skipped.
#[derive(Debug, Clone)]
pub struct PropertiesReader<'a, 'c> {
    json: JsonReader<'a>,
    message_type: PropertiesMessageType,
    property_type: PropertyType,
    components: &'c [&'c str],
    component: Option<&'a str>,
    /// Depth of the properties' object: 1 for an update, 2 for a GET
    /// response's `desired`/`reported`.
    base: u32,
    started: bool,
}

/// Why [`PropertiesReader::next_component_property`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertiesError {
    /// The caller left the JSON reader somewhere other than just past a
    /// property's value (`AZ_ERROR_JSON_INVALID_STATE`).
    InvalidState,
    /// The payload or arguments failed.
    Azure(AzureError),
}

impl From<AzureError> for PropertiesError {
    fn from(e: AzureError) -> Self {
        Self::Azure(e)
    }
}

impl<'a, 'c> PropertiesReader<'a, 'c> {
    /// A walk of `payload` (received with `message_type`, which must be a
    /// GET response or a writable-property update) over the properties of
    /// `property_type`, knowing the model's `components`. A writable
    /// update only carries [`PropertyType::Writable`].
    pub fn new(
        payload: &'a str,
        message_type: PropertiesMessageType,
        property_type: PropertyType,
        components: &'c [&'c str],
    ) -> Result<Self, AzureError> {
        let base = match (message_type, property_type) {
            (PropertiesMessageType::WritableUpdated, PropertyType::Writable) => 1,
            (PropertiesMessageType::GetResponse, _) => 2,
            _ => return Err(AzureError::InvalidArgument),
        };
        Ok(Self {
            json: JsonReader::new(payload),
            message_type,
            property_type,
            components,
            component: None,
            base,
            started: false,
        })
    }

    /// The JSON reader, to read the current property's value.
    pub fn json(&mut self) -> &mut JsonReader<'a> {
        &mut self.json
    }

    /// The next property, `Ok(None)` at the end (the C SDK's
    /// `AZ_ERROR_IOT_END_OF_PROPERTIES`; asked again, it stays there).
    pub fn next_component_property(
        &mut self,
    ) -> Result<Option<ComponentProperty<'a>>, PropertiesError> {
        if !self.started {
            self.start()?;
            self.started = true;
        }
        loop {
            let level = self.base + u32::from(self.component.is_some());
            let depth = self.json.depth();
            match self.json.kind() {
                JsonTokenKind::PropertyName if depth == level => {
                    let name = self.json.text();
                    if name == VERSION_NAME
                        || (self.component.is_some() && name == COMPONENT_MARKER_NAME)
                    {
                        self.skip_member()?;
                        continue;
                    }
                    if self.component.is_none() && self.components.contains(&name) {
                        let mut ahead = self.json.clone();
                        ahead.next_token()?;
                        if ahead.kind() == JsonTokenKind::BeginObject {
                            ahead.next_token()?;
                            self.json = ahead;
                            self.component = Some(name);
                            continue;
                        }
                    }
                    return Ok(Some(ComponentProperty {
                        component: self.component,
                        name,
                    }));
                }
                // The end of a value the caller skipped.
                JsonTokenKind::EndObject | JsonTokenKind::EndArray if depth == level => {
                    self.json.next_token()?;
                }
                JsonTokenKind::EndObject if depth + 1 == level => {
                    if self.component.is_some() {
                        self.component = None;
                        self.json.next_token()?;
                    } else {
                        return Ok(None);
                    }
                }
                _ => return Err(PropertiesError::InvalidState),
            }
        }
    }

    /// Moves past the member whose name the reader is on.
    fn skip_member(&mut self) -> Result<(), AzureError> {
        self.json.skip_children()?;
        self.json.next_token()
    }

    /// Moves onto the first member of the properties' object.
    fn start(&mut self) -> Result<(), AzureError> {
        self.json.next_token()?;
        if self.json.kind() != JsonTokenKind::BeginObject {
            return Err(AzureError::Malformed);
        }
        if self.message_type == PropertiesMessageType::GetResponse {
            let section = match self.property_type {
                PropertyType::Writable => DESIRED,
                PropertyType::ReportedFromDevice => REPORTED,
            };
            loop {
                self.json.next_token()?;
                match self.json.kind() {
                    JsonTokenKind::PropertyName if self.json.text() == section => break,
                    JsonTokenKind::PropertyName => self.json.skip_children()?,
                    // No such section: an empty walk. The reader is on the
                    // root's `}`, which reads as the end with a base of 1.
                    _ => {
                        self.base = 1;
                        return Ok(());
                    }
                }
            }
            self.json.next_token()?;
            if self.json.kind() != JsonTokenKind::BeginObject {
                return Err(AzureError::Malformed);
            }
        }
        self.json.next_token()
    }
}
