//! The few reading steps every ADU parser repeats over
//! [`JsonReader`]: each moves from a member's name to its value and checks
//! the value's kind, so a wrong type is [`AzureError::Malformed`] at the
//! member that has it.

use crate::AzureError;
use crate::json::{JsonReader, JsonTokenKind};

/// From a member's name (or before a root value), moves onto the value,
/// which must be an object: the reader is then on its `{`, ready for
/// [`JsonReader::next_member`].
pub(crate) fn object(reader: &mut JsonReader<'_>) -> Result<(), AzureError> {
    enter(reader, JsonTokenKind::BeginObject)
}

/// From a member's name, moves onto the value, which must be an array.
pub(crate) fn array(reader: &mut JsonReader<'_>) -> Result<(), AzureError> {
    enter(reader, JsonTokenKind::BeginArray)
}

fn enter(reader: &mut JsonReader<'_>, kind: JsonTokenKind) -> Result<(), AzureError> {
    reader.next_token()?;
    if reader.kind() == kind {
        Ok(())
    } else {
        Err(AzureError::Malformed)
    }
}

/// From a member's name, the value, which must be a string (raw text).
pub(crate) fn string<'a>(reader: &mut JsonReader<'a>) -> Result<&'a str, AzureError> {
    reader.next_string()
}

/// From a member's name, the value, a string or `null` (`None`).
pub(crate) fn nullable_string<'a>(
    reader: &mut JsonReader<'a>,
) -> Result<Option<&'a str>, AzureError> {
    reader.next_token()?;
    match reader.kind() {
        JsonTokenKind::String => Ok(Some(reader.text())),
        JsonTokenKind::Null => Ok(None),
        _ => Err(AzureError::Malformed),
    }
}

/// From a member's name, the value, which must be an integer that fits
/// an `i32`.
pub(crate) fn int32(reader: &mut JsonReader<'_>) -> Result<i32, AzureError> {
    reader.next_token()?;
    reader.i32()
}

/// From a member's name, the value, which must be a non-negative integer
/// that fits a `u64` (a file size).
pub(crate) fn uint64(reader: &mut JsonReader<'_>) -> Result<u64, AzureError> {
    reader.next_token()?;
    let digits = reader.text();
    if reader.kind() != JsonTokenKind::Number
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AzureError::Malformed);
    }
    digits.parse().map_err(|_| AzureError::OutOfRange)
}

/// Reads a whole JSON document that must be one flat object, and returns
/// the string values of the members named `names` (`None` for those
/// absent); other members are skipped, a named member that is not a
/// string is [`AzureError::Malformed`]. For the small JOSE objects of a
/// JWS: headers, payloads, keys.
pub(crate) fn string_members<'a, const K: usize>(
    json: &'a str,
    names: [&str; K],
) -> Result<[Option<&'a str>; K], AzureError> {
    let mut found = [None; K];
    let mut reader = JsonReader::new(json);
    object(&mut reader)?;
    while let Some(name) = reader.next_member()? {
        match names.iter().position(|&wanted| wanted == name) {
            Some(index) => {
                let value = string(&mut reader)?;
                if let Some(slot) = found.get_mut(index) {
                    *slot = Some(value);
                }
            }
            None => reader.skip_children()?,
        }
    }
    reader.end()?;
    Ok(found)
}
