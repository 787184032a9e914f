//! The register (and operation-status) response
//! (`az_iot_provisioning_client_register_response`).

use super::topic::DpsTopic;
use crate::AzureError;
use crate::json::{JsonReader, JsonTokenKind};

/// Where a registration stands (`az_iot_provisioning_client_operation_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationStatus {
    /// `unassigned`.
    Unassigned,
    /// `assigning`: ask again after the retry-after delay.
    Assigning,
    /// `assigned`: the device has its hub and id.
    Assigned,
    /// `failed` (also reported for error responses without an operation).
    Failed,
    /// `disabled`: the enrollment is disabled.
    Disabled,
}

impl OperationStatus {
    /// The status named `text` in a DPS response.
    pub fn from_name(text: &str) -> Option<Self> {
        Some(match text {
            "unassigned" => OperationStatus::Unassigned,
            "assigning" => OperationStatus::Assigning,
            "assigned" => OperationStatus::Assigned,
            "failed" => OperationStatus::Failed,
            "disabled" => OperationStatus::Disabled,
            _ => return None,
        })
    }

    /// Its name in DPS responses.
    pub fn name(self) -> &'static str {
        match self {
            OperationStatus::Unassigned => "unassigned",
            OperationStatus::Assigning => "assigning",
            OperationStatus::Assigned => "assigned",
            OperationStatus::Failed => "failed",
            OperationStatus::Disabled => "disabled",
        }
    }

    /// Whether the operation is over: assigned, failed or disabled
    /// (`az_iot_provisioning_client_operation_complete`).
    pub fn is_complete(self) -> bool {
        matches!(
            self,
            OperationStatus::Assigned | OperationStatus::Failed | OperationStatus::Disabled
        )
    }
}

/// The registration state of a response
/// (`az_iot_provisioning_client_registration_state`). Strings are the raw
/// JSON string contents (escapes not decoded), borrowed from the payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationState<'a> {
    /// `assignedHub`: the IoT Hub host the device was assigned to.
    pub assigned_hub_hostname: Option<&'a str>,
    /// `deviceId`: the device's id on that hub.
    pub device_id: Option<&'a str>,
    /// `extended_error_code / 1000`, the HTTP-like part.
    pub error_code: u32,
    /// `errorCode`, as DPS sends it (for example 401002).
    pub extended_error_code: u32,
    /// `errorMessage` (or an error response's `message`).
    pub error_message: Option<&'a str>,
    /// An error response's `trackingId`.
    pub error_tracking_id: Option<&'a str>,
    /// `lastUpdatedDateTimeUtc` (or an error response's `timestampUtc`).
    pub error_timestamp: Option<&'a str>,
    /// `payload`: the custom allocation payload, the JSON object text
    /// verbatim.
    pub payload: Option<&'a str>,
}

/// A DPS response, parsed (`az_iot_provisioning_client_register_response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterResponse<'a> {
    /// The status code from the topic.
    pub status: u16,
    /// The topic's `retry-after` in seconds; 0 when absent, and for error
    /// responses without an operation.
    pub retry_after_seconds: u32,
    /// `operationId`: what to query the status of; `None` for error
    /// responses.
    pub operation_id: Option<&'a str>,
    /// `status`; [`OperationStatus::Failed`] for error responses.
    pub operation_status: OperationStatus,
    /// `registrationState`, or the error of an error response.
    pub registration_state: RegistrationState<'a>,
}

impl<'a> RegisterResponse<'a> {
    /// Parses a message received on a DPS response topic. A topic that is
    /// not a response is [`AzureError::TopicNoMatch`]. The payload must be
    /// one JSON object with `operationId` and `status`, or an error object
    /// with `errorCode`; otherwise [`AzureError::Malformed`]
    /// ([`AzureError::OutOfRange`] for numbers that do not fit).
    pub fn parse(topic: &'a str, payload: &'a [u8]) -> Result<Self, AzureError> {
        let DpsTopic::Response {
            status,
            retry_after_seconds,
            ..
        } = DpsTopic::parse(topic)?
        else {
            return Err(AzureError::TopicNoMatch);
        };
        let mut state = RegistrationState::default();
        let mut operation_id = None;
        let mut operation_status = None;
        let mut found_error = false;

        let mut reader = JsonReader::from_bytes(payload);
        reader.next_token()?;
        if reader.kind() != JsonTokenKind::BeginObject {
            return Err(AzureError::Malformed);
        }
        while let Some(name) = reader.next_member()? {
            match name {
                "operationId" => operation_id = Some(reader.next_string()?),
                "status" => {
                    let text = reader.next_string()?;
                    operation_status =
                        Some(OperationStatus::from_name(text).ok_or(AzureError::Malformed)?);
                }
                "registrationState" => parse_registration_state(&mut reader, &mut state)?,
                "errorCode" => {
                    state.extended_error_code = reader.next_u32()?;
                    state.error_code = state.extended_error_code / 1000;
                    found_error = true;
                }
                "message" => state.error_message = Some(reader.next_string()?),
                "trackingId" => state.error_tracking_id = Some(reader.next_string()?),
                "timestampUtc" => state.error_timestamp = Some(reader.next_string()?),
                _ => {
                    reader.skip_value()?;
                }
            }
        }
        reader.end()?;

        match (operation_id, operation_status) {
            (Some(id), Some(op_status)) => Ok(RegisterResponse {
                status,
                retry_after_seconds,
                operation_id: Some(id),
                operation_status: op_status,
                registration_state: state,
            }),
            // An error response (azure-sdk-for-c's rule): no operation.
            _ if found_error => Ok(RegisterResponse {
                status,
                retry_after_seconds: 0,
                operation_id: None,
                operation_status: OperationStatus::Failed,
                registration_state: state,
            }),
            _ => Err(AzureError::Malformed),
        }
    }
}

fn parse_registration_state<'a>(
    reader: &mut JsonReader<'a>,
    state: &mut RegistrationState<'a>,
) -> Result<(), AzureError> {
    reader.next_token()?;
    if reader.kind() != JsonTokenKind::BeginObject {
        return Err(AzureError::Malformed);
    }
    while let Some(name) = reader.next_member()? {
        match name {
            "assignedHub" => state.assigned_hub_hostname = Some(reader.next_string()?),
            "deviceId" => state.device_id = Some(reader.next_string()?),
            "errorCode" => {
                state.extended_error_code = reader.next_u32()?;
                state.error_code = state.extended_error_code / 1000;
            }
            "errorMessage" => state.error_message = Some(reader.next_string()?),
            "lastUpdatedDateTimeUtc" => state.error_timestamp = Some(reader.next_string()?),
            "payload" => {
                reader.next_token()?;
                if reader.kind() != JsonTokenKind::BeginObject {
                    return Err(AzureError::Malformed);
                }
                state.payload = Some(reader.skip_value()?);
            }
            _ => {
                reader.skip_value()?;
            }
        }
    }
    // Both or neither.
    if state.assigned_hub_hostname.is_some() != state.device_id.is_some() {
        return Err(AzureError::Malformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion() {
        assert!(!OperationStatus::Assigning.is_complete());
        assert!(!OperationStatus::Unassigned.is_complete());
        assert!(OperationStatus::Assigned.is_complete());
        for s in [
            OperationStatus::Unassigned,
            OperationStatus::Assigned,
            OperationStatus::Disabled,
        ] {
            assert_eq!(OperationStatus::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn status_must_be_known_and_a_string() {
        let topic = "$dps/registrations/res/200/?$rid=1";
        assert_eq!(
            RegisterResponse::parse(topic, br#"{"operationId":"x","status":"bogus"}"#),
            Err(AzureError::Malformed)
        );
        assert_eq!(
            RegisterResponse::parse(topic, br#"{"operationId":"x","status":1}"#),
            Err(AzureError::Malformed)
        );
        assert_eq!(
            RegisterResponse::parse(topic, br#"{"operationId":"x","status":"assigned"} x"#),
            Err(AzureError::Malformed)
        );
        assert_eq!(
            RegisterResponse::parse("$dps/registrations/PUT/iotdps-register/?$rid=1", b"{}"),
            Err(AzureError::TopicNoMatch)
        );
    }
}
