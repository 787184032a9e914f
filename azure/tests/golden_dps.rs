//! Golden tests for `duet_azure::dps` against `tests/vectors.json` (areas
//! dps.connect, dps.topics, dps.payload, dps.parse), plus a no-panic sweep
//! of the response parser over mutated topics and payloads.

#[path = "common/mutate.rs"]
mod mutate;
#[path = "common/vectors.rs"]
mod vectors;

use duet_azure::AzureError;
use duet_azure::dps::{
    ClientOptions, DpsTopic, OperationStatus, ProvisioningClient, RESPONSE_SUBSCRIBE_TOPIC,
    RegisterPayloadOptions, RegisterResponse,
};
use mutate::{Rng, mutate};
use serde_json::Value;
use vectors::{text, vectors};

const DEFAULT_HOST: &str = "global.azure-devices-provisioning.net";
const DEFAULT_SCOPE: &str = "0neFEEDC0DE";

/// azure-sdk-for-c's result name as this crate's result.
fn expected_error(result: &str) -> Option<AzureError> {
    match result {
        "AZ_OK" => None,
        "AZ_ERROR_NOT_ENOUGH_SPACE" => Some(AzureError::BufferTooSmall),
        "AZ_ERROR_IOT_TOPIC_NO_MATCH" => Some(AzureError::TopicNoMatch),
        "PRECONDITION_FAILED" => Some(AzureError::InvalidArgument),
        "AZ_ERROR_UNEXPECTED_CHAR" | "AZ_ERROR_ITEM_NOT_FOUND" | "AZ_ERROR_JSON_INVALID_STATE" => {
            Some(AzureError::Malformed)
        }
        "AZ_ERROR_UNEXPECTED_END" => Some(AzureError::OutOfRange),
        other => panic!("unmapped result {other}"),
    }
}

fn client<'v>(inputs: &'v Value) -> Result<ProvisioningClient<'v>, AzureError> {
    ProvisioningClient::new(
        text(inputs, "global_device_hostname").unwrap_or(DEFAULT_HOST),
        text(inputs, "id_scope").unwrap_or(DEFAULT_SCOPE),
        text(inputs, "registration_id").expect("registration_id"),
        ClientOptions {
            user_agent: text(inputs, "user_agent"),
        },
    )
}

/// The client of the vectors that name none.
fn default_client() -> ProvisioningClient<'static> {
    ProvisioningClient::new(
        DEFAULT_HOST,
        DEFAULT_SCOPE,
        "myRegistrationId",
        ClientOptions::default(),
    )
    .unwrap()
}

/// Runs a builder as the vector says (a buffer of `buffer_size - 1` bytes
/// when it gives one, C sizes counting the NUL) and checks its result.
fn check_builder(v: &Value, build: impl Fn(&mut [u8]) -> Result<usize, AzureError>) {
    let name = &v["name"];
    let expected = &v["expected"];
    let mut buffer = vec![0u8; 1024];
    let size = match v["inputs"].get("buffer_size").and_then(Value::as_u64) {
        Some(c_size) => usize::try_from(c_size).unwrap() - 1,
        None => buffer.len(),
    };
    let got = build(&mut buffer[..size]);
    match expected_error(expected["result"].as_str().expect("result")) {
        Some(error) => assert_eq!(got, Err(error), "{name}"),
        None => {
            let n = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let output = std::str::from_utf8(&buffer[..n]).unwrap();
            assert_eq!(Some(output), text(expected, "output"), "{name}");
            if let Some(length) = expected.get("length") {
                assert_eq!(n as u64, length.as_u64().unwrap(), "{name}");
            }
        }
    }
}

#[test]
fn dps_connect() {
    let all = vectors("dps.connect");
    for v in &all {
        let name = v["name"].as_str().unwrap();
        let c = client(&v["inputs"]).unwrap();
        if name.starts_with("user_name") {
            check_builder(v, |out| c.user_name(out));
        } else if name.starts_with("client_id") {
            check_builder(v, |out| c.client_id(out));
        } else {
            panic!("dps.connect vector {name} names no known builder");
        }
    }
    eprintln!("dps.connect: {} vectors pass", all.len());
}

#[test]
fn dps_topics() {
    let all = vectors("dps.topics");
    let c = default_client();
    for v in &all {
        let name = v["name"].as_str().unwrap();
        let inputs = &v["inputs"];
        if let Some(filter) = text(&v["expected"], "topic_filter") {
            assert_eq!(RESPONSE_SUBSCRIBE_TOPIC, filter, "{name}");
        } else if let Some(operation_id) = text(inputs, "operation_id") {
            check_builder(v, |out| c.query_topic(operation_id, out));
            // Builder and parser are a pair.
            let mut out = [0u8; 256];
            let n = c.query_topic(operation_id, &mut out).unwrap();
            let topic = std::str::from_utf8(&out[..n]).unwrap();
            assert_eq!(
                DpsTopic::parse(topic),
                Ok(DpsTopic::QueryStatus {
                    request_id: "1",
                    operation_id
                }),
                "{name}"
            );
        } else {
            panic!("dps.topics vector {name} is neither a filter nor a query topic");
        }
    }
    // The register topic has no vector of its own: the brief's string.
    let mut out = [0u8; 128];
    let n = c.register_topic(&mut out).unwrap();
    assert_eq!(&out[..n], b"$dps/registrations/PUT/iotdps-register/?$rid=1");
    let topic = std::str::from_utf8(&out[..n]).unwrap();
    assert_eq!(
        DpsTopic::parse(topic),
        Ok(DpsTopic::Register { request_id: "1" })
    );
    eprintln!("dps.topics: {} vectors pass", all.len());
}

#[test]
fn dps_payload() {
    let all = vectors("dps.payload");
    for v in &all {
        let inputs = &v["inputs"];
        let c = client(inputs).unwrap();
        let options = RegisterPayloadOptions {
            custom_payload: text(inputs, "custom_payload_property"),
        };
        check_builder(v, |out| c.register_payload(&options, out));
    }
    eprintln!("dps.payload: {} vectors pass", all.len());
}

fn status_name(status: OperationStatus) -> &'static str {
    match status {
        OperationStatus::Unassigned => "UNASSIGNED",
        OperationStatus::Assigning => "ASSIGNING",
        OperationStatus::Assigned => "ASSIGNED",
        OperationStatus::Failed => "FAILED",
        OperationStatus::Disabled => "DISABLED",
    }
}

#[test]
fn dps_parse() {
    let all = vectors("dps.parse");
    let c = default_client();
    for v in &all {
        let name = v["name"].as_str().unwrap();
        let topic = text(&v["inputs"], "received_topic").unwrap();
        let payload = text(&v["inputs"], "received_payload").unwrap();
        let expected = v["expected"].as_object().unwrap();
        let got = c.parse_response(topic, payload.as_bytes());
        if let Some(error) = expected_error(expected["result"].as_str().unwrap()) {
            assert_eq!(got, Err(error), "{name}");
            continue;
        }
        let r: RegisterResponse<'_> = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let s = &r.registration_state;
        for (field, want) in expected {
            let want_text = want.as_str();
            let want_u64 = want.as_u64();
            match field.as_str() {
                "result" => {}
                "status" => assert_eq!(Some(u64::from(r.status)), want_u64, "{name}"),
                "retry_after_seconds" => {
                    assert_eq!(Some(u64::from(r.retry_after_seconds)), want_u64, "{name}")
                }
                "operation_id" => assert_eq!(r.operation_id, want_text, "{name}"),
                "operation_status" => {
                    assert_eq!(Some(status_name(r.operation_status)), want_text, "{name}")
                }
                "assigned_hub_hostname" => assert_eq!(s.assigned_hub_hostname, want_text, "{name}"),
                "device_id" => assert_eq!(s.device_id, want_text, "{name}"),
                "error_code" => assert_eq!(Some(u64::from(s.error_code)), want_u64, "{name}"),
                "extended_error_code" => {
                    assert_eq!(Some(u64::from(s.extended_error_code)), want_u64, "{name}")
                }
                "error_message" => assert_eq!(s.error_message, want_text, "{name}"),
                "error_timestamp" => assert_eq!(s.error_timestamp, want_text, "{name}"),
                "error_tracking_id" => assert_eq!(s.error_tracking_id, want_text, "{name}"),
                "payload" => assert_eq!(s.payload, want_text, "{name}"),
                other => panic!("{name}: expected field {other} is not checked"),
            }
        }
    }
    eprintln!("dps.parse: {} vectors pass", all.len());
}

#[test]
fn parser_never_panics_on_mutated_input() {
    let seeds: Vec<(String, String)> = vectors("dps.parse")
        .iter()
        .map(|v| {
            (
                text(&v["inputs"], "received_topic").unwrap().to_owned(),
                text(&v["inputs"], "received_payload").unwrap().to_owned(),
            )
        })
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for round in 0..40_000 {
        let (topic, payload) = &seeds[round % seeds.len()];
        let topic_bytes = if rng.below(4) == 0 {
            mutate(&mut rng, topic.as_bytes())
        } else {
            topic.as_bytes().to_vec()
        };
        let topic = String::from_utf8_lossy(&topic_bytes);
        let payload = if rng.below(8) == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            mutate(&mut rng, payload.as_bytes())
        };
        let _ = DpsTopic::parse(&topic);
        if let Ok(r) = RegisterResponse::parse(&topic, &payload) {
            parsed += 1;
            // Whatever is borrowed lies inside the payload.
            let range = payload.as_ptr_range();
            for s in [
                r.operation_id,
                r.registration_state.payload,
                r.registration_state.device_id,
            ]
            .into_iter()
            .flatten()
            {
                assert!(range.contains(&s.as_ptr()) || s.is_empty());
            }
        }
    }
    // Deep nesting is refused, not recursed into.
    let deep = format!(
        "{{\"operationId\":\"x\",\"status\":\"assigned\",\"a\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        RegisterResponse::parse("$dps/registrations/res/200/", deep.as_bytes()),
        Err(AzureError::OutOfRange)
    );
    assert!(parsed > 0, "the sweep should still parse some inputs");
}
