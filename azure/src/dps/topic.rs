//! DPS topics: the two a device publishes to and the one it receives on,
//! parsed into [`DpsTopic`].

use crate::AzureError;

/// The filter a device subscribes to for every DPS response
/// (`AZ_IOT_PROVISIONING_CLIENT_REGISTER_SUBSCRIBE_TOPIC`).
pub const RESPONSE_SUBSCRIBE_TOPIC: &str = "$dps/registrations/res/#";

const RESPONSE_PREFIX: &str = "$dps/registrations/res/";
const REGISTER_PREFIX: &str = "$dps/registrations/PUT/iotdps-register/?";
const QUERY_PREFIX: &str = "$dps/registrations/GET/iotdps-get-operationstatus/?";
pub(crate) const REGISTER_TOPIC: &str = "$dps/registrations/PUT/iotdps-register/?$rid=1";
pub(crate) const QUERY_TOPIC_PREFIX: &str =
    "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1&operationId=";

/// A DPS topic, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpsTopic<'a> {
    /// A register request (`$dps/registrations/PUT/iotdps-register/?$rid=..`).
    Register {
        /// The `$rid` property.
        request_id: &'a str,
    },
    /// An operation-status query
    /// (`$dps/registrations/GET/iotdps-get-operationstatus/?$rid=..&operationId=..`).
    QueryStatus {
        /// The `$rid` property.
        request_id: &'a str,
        /// The `operationId` property.
        operation_id: &'a str,
    },
    /// A response (`$dps/registrations/res/{status}/?$rid=..&retry-after=..`).
    Response {
        /// The HTTP-like status code.
        status: u16,
        /// The `$rid` property, if any.
        request_id: Option<&'a str>,
        /// The `retry-after` property in seconds; 0 when absent.
        retry_after_seconds: u32,
    },
}

impl<'a> DpsTopic<'a> {
    /// Parses `topic`; [`AzureError::TopicNoMatch`] if it is no DPS topic,
    /// [`AzureError::Malformed`] if it is one with unreadable parts.
    pub fn parse(topic: &'a str) -> Result<Self, AzureError> {
        if let Some(rest) = topic.strip_prefix(RESPONSE_PREFIX) {
            let (status, rest) = rest.split_once('/').unwrap_or((rest, ""));
            let status = parse_decimal(status)
                .and_then(|s| u16::try_from(s).map_err(|_| AzureError::OutOfRange))?;
            let properties = rest.strip_prefix('?').unwrap_or(rest);
            let mut request_id = None;
            let mut retry_after_seconds = 0;
            for (key, value) in properties_of(properties) {
                match key {
                    "$rid" => request_id = Some(value),
                    "retry-after" => retry_after_seconds = parse_decimal(value)?,
                    _ => {}
                }
            }
            Ok(DpsTopic::Response {
                status,
                request_id,
                retry_after_seconds,
            })
        } else if let Some(properties) = topic.strip_prefix(REGISTER_PREFIX) {
            let request_id = property(properties, "$rid").ok_or(AzureError::Malformed)?;
            Ok(DpsTopic::Register { request_id })
        } else if let Some(properties) = topic.strip_prefix(QUERY_PREFIX) {
            let request_id = property(properties, "$rid").ok_or(AzureError::Malformed)?;
            let operation_id = property(properties, "operationId")
                .filter(|o| !o.is_empty())
                .ok_or(AzureError::Malformed)?;
            Ok(DpsTopic::QueryStatus {
                request_id,
                operation_id,
            })
        } else {
            Err(AzureError::TopicNoMatch)
        }
    }
}

/// The `key=value` pairs of a property bag (a key without `=` has an empty
/// value).
fn properties_of(bag: &str) -> impl Iterator<Item = (&str, &str)> {
    bag.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn property<'a>(bag: &'a str, name: &str) -> Option<&'a str> {
    properties_of(bag)
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A non-empty run of ASCII digits as a `u32`.
fn parse_decimal(text: &str) -> Result<u32, AzureError> {
    if text.is_empty() {
        return Err(AzureError::Malformed);
    }
    let mut value: u32 = 0;
    for byte in text.bytes() {
        if !byte.is_ascii_digit() {
            return Err(AzureError::Malformed);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(byte - b'0')))
            .ok_or(AzureError::OutOfRange)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_parse_back() {
        assert_eq!(
            DpsTopic::parse(REGISTER_TOPIC),
            Ok(DpsTopic::Register { request_id: "1" })
        );
        assert_eq!(
            DpsTopic::parse(
                "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=1&operationId=4.a"
            ),
            Ok(DpsTopic::QueryStatus {
                request_id: "1",
                operation_id: "4.a"
            })
        );
    }

    #[test]
    fn responses() {
        assert_eq!(
            DpsTopic::parse("$dps/registrations/res/202/?$rid=7&retry-after=3"),
            Ok(DpsTopic::Response {
                status: 202,
                request_id: Some("7"),
                retry_after_seconds: 3
            })
        );
        assert_eq!(
            DpsTopic::parse("$dps/registrations/res/200"),
            Ok(DpsTopic::Response {
                status: 200,
                request_id: None,
                retry_after_seconds: 0
            })
        );
        assert_eq!(
            DpsTopic::parse("$dps/registrations/res/2x0/"),
            Err(AzureError::Malformed)
        );
        assert_eq!(
            DpsTopic::parse("$dps/registrations/res/70000/"),
            Err(AzureError::OutOfRange)
        );
        assert_eq!(
            DpsTopic::parse("$dps/registrations/res/200/?retry-after=-1"),
            Err(AzureError::Malformed)
        );
        assert_eq!(
            DpsTopic::parse("$iothub/twin/res/200/"),
            Err(AzureError::TopicNoMatch)
        );
        assert_eq!(DpsTopic::parse(""), Err(AzureError::TopicNoMatch));
    }
}
