//! The Device Provisioning Service's MQTT registration flow
//! (<https://learn.microsoft.com/azure/iot-dps/iot-dps-mqtt-support>):
//!
//! ```text
//! device  SUBSCRIBE $dps/registrations/res/#
//! device  PUBLISH   $dps/registrations/PUT/iotdps-register/?$rid={rid}
//!                   {"registrationId":"...","payload":{...}}
//! DPS     PUBLISH   $dps/registrations/res/202/?$rid={rid}&retry-after={s}
//!                   {"operationId":"...","status":"assigning"}
//! device  PUBLISH   $dps/registrations/GET/iotdps-get-operationstatus/?$rid={rid}&operationId={id}
//! DPS     PUBLISH   $dps/registrations/res/202/...  (assigning, again)  or
//!                   $dps/registrations/res/200/?$rid={rid}
//!                   {"operationId":"...","status":"assigned","registrationState":{...}}
//! ```
//! Once assigned, the device joins the hub's registry under its
//! registration id, with the key (or certificate) it proved itself with.
//! Topics are read with duet-azure's own parser, the device side's.

use std::collections::{HashMap, VecDeque};

use duet_azure::dps::DpsTopic;
use serde_json::{Value, json};

use crate::clock::{iso8601, now_unix};
use crate::config::{DeviceAuth, Dps, Enrollment};
use crate::mqtt::OutPublish;
use crate::state::{Shared, State};
use crate::subscriptions::{InjectedRefusals, Subscriptions};
use crate::{CloseReason, Violation};

const RESPONSE_PREFIX: &str = "$dps/registrations/res/";

/// DPS's memory: its configuration and the registrations under way.
#[derive(Debug)]
pub(crate) struct DpsState {
    config: Dps,
    operations: HashMap<String, Operation>,
    /// The custom payload each registration last sent, by registration id.
    payloads: HashMap<String, Value>,
    next_operation: u64,
    /// Fault injection: statuses (429, 5xx) the next requests are refused
    /// with, one each.
    pub(crate) failures: VecDeque<u16>,
    /// Fault injection: subscriptions to refuse.
    pub(crate) refused_filters: InjectedRefusals,
}

/// One register request and its progress.
#[derive(Debug)]
struct Operation {
    registration_id: String,
    attestation: DeviceAuth,
    /// Status queries answered so far.
    polls: u32,
    created: u64,
    /// When it was assigned, once it was.
    assigned: Option<u64>,
    /// Tells this operation's answers apart (etag, tracking ids).
    serial: u64,
}

impl DpsState {
    pub(crate) fn new(config: Dps) -> Self {
        DpsState {
            config,
            operations: HashMap::new(),
            payloads: HashMap::new(),
            next_operation: 1,
            failures: VecDeque::new(),
            refused_filters: InjectedRefusals::default(),
        }
    }

    pub(crate) fn id_scope(&self) -> &str {
        &self.config.id_scope
    }

    pub(crate) fn enrollments(&self) -> &[Enrollment] {
        &self.config.enrollments
    }

    /// The custom payload `registration_id` sent with its last register
    /// request.
    pub(crate) fn payload(&self, registration_id: &str) -> Option<Value> {
        self.payloads.get(registration_id).cloned()
    }
}

/// The DPS side of one device's connection.
#[derive(Debug)]
pub(crate) struct DpsClient {
    registration_id: String,
    /// What the hub will know the device by once assigned.
    attestation: DeviceAuth,
}

impl DpsClient {
    pub(crate) fn new(registration_id: String, attestation: DeviceAuth) -> Self {
        DpsClient {
            registration_id,
            attestation,
        }
    }

    /// Whether DPS takes a subscription to `filter`: its response topics.
    pub(crate) fn allows_filter(&self, filter: &str) -> bool {
        filter.starts_with("$dps/registrations/res/")
    }

    /// Whether a refusal of `filter` was injected
    /// ([`crate::Emulator::refuse_next_dps_subscription`]); it is used up.
    pub(crate) fn refusal_injected(&self, shared: &Shared, filter: &str) -> bool {
        let mut state = shared.lock();
        state
            .dps
            .as_mut()
            .is_some_and(|dps| dps.refused_filters.take(filter))
    }

    /// Handles a PUBLISH from the device: a register request or a status
    /// query; anything else closes the connection.
    pub(crate) fn on_publish(
        &mut self,
        shared: &Shared,
        subscriptions: &Subscriptions,
        topic: &str,
        payload: &[u8],
        out: &mut Vec<OutPublish>,
    ) -> Result<(), CloseReason> {
        let forbidden = CloseReason::Violation(Violation::ForbiddenTopic);
        let mut state = shared.lock();
        let injected = state
            .dps
            .as_mut()
            .and_then(|dps| dps.failures.pop_front())
            .map(|status| {
                let mut refusal = error(status, u32::from(status) * 1000 + 1, "Injected failure.");
                refusal.retry_after = (status == 429).then_some(1);
                refusal
            });
        let (request_id, response) = match DpsTopic::parse(topic).map_err(|_| forbidden)? {
            DpsTopic::Register { request_id } => (
                request_id,
                injected.unwrap_or_else(|| self.register(&mut state, payload)),
            ),
            DpsTopic::QueryStatus {
                request_id,
                operation_id,
            } => (
                request_id,
                injected.unwrap_or_else(|| self.query(&mut state, operation_id)),
            ),
            DpsTopic::Response { .. } => return Err(forbidden),
        };
        let Response {
            status,
            retry_after,
            body,
        } = response;
        let mut topic = format!("{RESPONSE_PREFIX}{status}/?$rid={request_id}");
        if let Some(seconds) = retry_after {
            topic.push_str(&format!("&retry-after={seconds}"));
        }
        if subscriptions.matches(&topic) {
            out.push(OutPublish::at_most_once(
                topic,
                body.to_string().into_bytes(),
            ));
        }
        Ok(())
    }

    /// A register request: records the custom payload and starts an
    /// operation, `assigning`.
    fn register(&self, state: &mut State, payload: &[u8]) -> Response {
        let Some(dps) = state.dps.as_mut() else {
            return error(400, 400_004, "DPS is not emulated.");
        };
        let request: Value = match serde_json::from_slice(payload) {
            Ok(request) => request,
            Err(_) => return error(400, 400_004, "Malformed register request payload."),
        };
        if request.get("registrationId").and_then(Value::as_str) != Some(&self.registration_id) {
            return error(
                400,
                400_004,
                "The registrationId does not match the authenticated one.",
            );
        }
        match request.get("payload") {
            Some(custom) => dps
                .payloads
                .insert(self.registration_id.clone(), custom.clone()),
            None => dps.payloads.remove(&self.registration_id),
        };
        let serial = dps.next_operation;
        dps.next_operation += 1;
        let operation_id = format!(
            "4.{:016x}.{serial:08x}-0000-4000-8000-{:012x}",
            scope_hash(&dps.config.id_scope),
            now_unix()
        );
        dps.operations.insert(
            operation_id.clone(),
            Operation {
                registration_id: self.registration_id.clone(),
                attestation: self.attestation.clone(),
                polls: 0,
                created: now_unix(),
                assigned: None,
                serial,
            },
        );
        assigning(&operation_id, dps.config.retry_after_secs)
    }

    /// A status query: `assigning` until enough polls, then `assigned`,
    /// adding the device to the hub.
    fn query(&self, state: &mut State, operation_id: &str) -> Response {
        let Some(dps) = state.dps.as_mut() else {
            return error(400, 400_004, "DPS is not emulated.");
        };
        let polls_before_assigned = dps.config.polls_before_assigned;
        let retry_after = dps.config.retry_after_secs;
        let Some(operation) = dps
            .operations
            .get_mut(operation_id)
            .filter(|op| op.registration_id == self.registration_id)
        else {
            return error(404, 404_001, "Operation not found.");
        };
        operation.polls += 1;
        if operation.polls <= polls_before_assigned {
            return assigning(operation_id, retry_after);
        }
        let newly_assigned = operation.assigned.is_none();
        let assigned_at = *operation.assigned.get_or_insert_with(now_unix);
        let registration_state = json!({
            "registrationId": operation.registration_id,
            "createdDateTimeUtc": iso8601(operation.created),
            "assignedHub": dps.config.assigned_hub,
            "deviceId": operation.registration_id,
            "status": "assigned",
            "substatus": "initialAssignment",
            "lastUpdatedDateTimeUtc": iso8601(assigned_at),
            "etag": etag(operation.serial),
        });
        let mut registration_state = registration_state;
        if let Some(reply) = &dps.config.reply_payload {
            registration_state["payload"] = reply.clone();
        }
        let attestation = operation.attestation.clone();
        let body = json!({
            "operationId": operation_id,
            "status": "assigned",
            "registrationState": registration_state,
        });
        if newly_assigned {
            state.register_device(&self.registration_id, attestation);
        }
        Response {
            status: 200,
            retry_after: None,
            body,
        }
    }
}

/// An answer: status, `retry-after`, JSON body.
struct Response {
    status: u16,
    retry_after: Option<u32>,
    body: Value,
}

fn assigning(operation_id: &str, retry_after: u32) -> Response {
    Response {
        status: 202,
        retry_after: Some(retry_after),
        body: json!({"operationId": operation_id, "status": "assigning"}),
    }
}

/// An error answer as DPS words them: `errorCode` is the status times 1000
/// plus a detail.
fn error(status: u16, error_code: u32, message: &str) -> Response {
    let now = now_unix();
    Response {
        status,
        retry_after: None,
        body: json!({
            "errorCode": error_code,
            "trackingId": format!("{now:08x}-0000-4000-8000-{error_code:012x}"),
            "message": message,
            "timestampUtc": iso8601(now),
        }),
    }
}

/// An etag as DPS writes them: base64 of a quoted GUID-like string.
fn etag(serial: u64) -> String {
    let quoted = format!("\"{serial:08x}-0000-0100-0000-{:012x}\"", now_unix());
    let mut out = vec![0u8; quoted.len().div_ceil(3) * 4];
    let n = duet_azure::base64::encode(quoted.as_bytes(), &mut out).unwrap_or(0);
    out.truncate(n);
    String::from_utf8(out).unwrap_or_default()
}

/// FNV-1a of the ID scope: a stable middle part for operation ids.
fn scope_hash(id_scope: &str) -> u64 {
    id_scope.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_azure::dps::{OperationStatus, RegisterResponse};

    fn client_and_state(polls_before_assigned: u32) -> (DpsClient, State) {
        let mut dps = Dps::new("0neFEEDC0DE", "hub.azure-devices.test");
        dps.polls_before_assigned = polls_before_assigned;
        dps.reply_payload = Some(json!({"fw":"2.0"}));
        let state = State::new("hub.azure-devices.test".into(), Some(DpsState::new(dps)));
        let client = DpsClient::new("reg-1".into(), DeviceAuth::SymmetricKey("a2V5".into()));
        (client, state)
    }

    /// Parses an answer with the device side's parser, as a device would.
    fn parsed(response: &Response, f: impl FnOnce(RegisterResponse<'_>)) {
        let mut topic = format!("{RESPONSE_PREFIX}{}/?$rid=1", response.status);
        if let Some(s) = response.retry_after {
            topic.push_str(&format!("&retry-after={s}"));
        }
        let body = response.body.to_string();
        f(RegisterResponse::parse(&topic, body.as_bytes()).unwrap());
    }

    #[test]
    fn a_registration_is_assigning_then_assigned_and_joins_the_hub() {
        let (client, mut state) = client_and_state(1);
        let request = br#"{"registrationId":"reg-1","payload":{"modelId":"dtmi:x;1"}}"#;
        let registered = client.register(&mut state, request);
        let mut operation_id = String::new();
        parsed(&registered, |r| {
            assert_eq!((r.status, r.retry_after_seconds), (202, 1));
            assert_eq!(r.operation_status, OperationStatus::Assigning);
            operation_id = r.operation_id.unwrap().to_owned();
        });
        assert_eq!(
            state.dps.as_ref().unwrap().payload("reg-1"),
            Some(json!({"modelId":"dtmi:x;1"}))
        );
        parsed(&client.query(&mut state, &operation_id), |r| {
            assert_eq!(r.operation_status, OperationStatus::Assigning);
        });
        assert!(!state.devices.contains_key("reg-1"));
        parsed(&client.query(&mut state, &operation_id), |r| {
            assert_eq!(r.status, 200);
            assert_eq!(r.operation_status, OperationStatus::Assigned);
            let s = r.registration_state;
            assert_eq!(s.assigned_hub_hostname, Some("hub.azure-devices.test"));
            assert_eq!(s.device_id, Some("reg-1"));
            assert_eq!(s.payload, Some(r#"{"fw":"2.0"}"#));
        });
        assert_eq!(
            state.devices["reg-1"].auth,
            DeviceAuth::SymmetricKey("a2V5".into())
        );
    }

    #[test]
    fn unknown_operations_and_bad_requests_are_errors() {
        let (client, mut state) = client_and_state(0);
        parsed(&client.query(&mut state, "4.nope"), |r| {
            assert_eq!(r.status, 404);
            assert_eq!(r.operation_status, OperationStatus::Failed);
            assert_eq!(r.registration_state.extended_error_code, 404_001);
        });
        for bad in [&b"{"[..], br#"{"registrationId":"someone-else"}"#] {
            parsed(&client.register(&mut state, bad), |r| {
                assert_eq!((r.status, r.registration_state.error_code), (400, 400));
            });
        }
    }
}
