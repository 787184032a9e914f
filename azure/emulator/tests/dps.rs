//! Provisioning through the emulated DPS: individual, group and X.509
//! enrollments, `assigning` then `assigned`, and the device then connecting
//! to the hub it was assigned to. Requests and responses go through
//! duet-azure's `ProvisioningClient`, as a device's would.

mod common;

use common::*;
use duet::mqtt::QoS;
use duet_azure::dps::{
    OperationStatus, ProvisioningClient, RESPONSE_SUBSCRIBE_TOPIC, RegisterPayloadOptions,
    RegisterResponse,
};
use duet_azure_emulator::{Config, Dps, Enrollment, Refusal};
use serde_json::json;

const SCOPE: &str = "0neFEEDC0DE";
const GROUP_KEY: &str = "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=";

/// An emulator whose DPS has individual `reg-1` (key [`KEY`]), X.509
/// `device-01` and a group, assigning to the emulated hub after one
/// `assigning` answer.
async fn dps() -> (duet_azure_emulator::Emulator, std::net::SocketAddr) {
    let mut dps = Dps::new(SCOPE, HUB)
        .with_enrollment(Enrollment::Individual {
            registration_id: "reg-1".into(),
            key: KEY.into(),
        })
        .with_enrollment(Enrollment::X509 {
            registration_id: "device-01".into(),
        })
        .with_enrollment(Enrollment::Group {
            key: GROUP_KEY.into(),
        });
    dps.polls_before_assigned = 1;
    dps.retry_after_secs = 1;
    dps.reply_payload = Some(json!({"firmware":"2.1"}));
    start(Config::new(HUB).with_dps(dps)).await
}

fn built(build: impl FnOnce(&mut [u8]) -> Result<usize, duet_azure::AzureError>) -> String {
    let mut out = [0u8; 512];
    let n = build(&mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

/// TLS to the DPS host name, CONNECT as `client`'s registration with
/// `password` (and `client_cert`); the CONNACK code.
async fn connect(
    addr: std::net::SocketAddr,
    client: &ProvisioningClient<'_>,
    password: Option<&[u8]>,
    client_cert: Option<&str>,
) -> (TestDevice, u8) {
    let config = tls_config(rustls::ALL_VERSIONS, client_cert);
    let mut device = TestDevice::open_with(addr, config, DPS_HOST).await.unwrap();
    let user = built(|o| client.user_name(o));
    let client_id = built(|o| client.client_id(o));
    let Ok(Incoming::ConnAck { code, .. }) =
        device.connect(&client_id, &user, password, true).await
    else {
        panic!("no CONNACK");
    };
    (device, code)
}

/// Publishes `topic` with `payload` and returns the response, parsed by
/// the device-side parser, owned.
async fn ask(
    device: &mut TestDevice,
    topic: &str,
    payload: &[u8],
) -> (u16, u32, OperationStatus, String, String) {
    device.publish(topic, payload, QoS::AtMostOnce).await;
    let (topic, body) = device.recv_publish(WAIT).await.unwrap().publish();
    let response = RegisterResponse::parse(&topic, &body).unwrap();
    (
        response.status,
        response.retry_after_seconds,
        response.operation_status,
        response.operation_id.unwrap_or_default().to_owned(),
        String::from_utf8(body.clone()).unwrap(),
    )
}

/// Registers over an open DPS connection: register, one `assigning`
/// query, then `assigned`; the final response body.
async fn register(
    device: &mut TestDevice,
    client: &ProvisioningClient<'_>,
    custom: Option<&str>,
) -> serde_json::Value {
    assert_eq!(device.subscribe(&[RESPONSE_SUBSCRIBE_TOPIC]).await, [1]);
    let options = RegisterPayloadOptions {
        custom_payload: custom,
    };
    let payload = built(|o| client.register_payload(&options, o));
    let register = built(|o| client.register_topic(o));
    let (status, retry_after, op_status, operation_id, _) =
        ask(device, &register, payload.as_bytes()).await;
    assert_eq!(
        (status, retry_after, op_status),
        (202, 1, OperationStatus::Assigning)
    );
    let query = built(|o| client.query_topic(&operation_id, o));
    let (status, retry_after, op_status, same_id, _) = ask(device, &query, b"").await;
    assert_eq!(
        (status, retry_after, op_status),
        (202, 1, OperationStatus::Assigning)
    );
    assert_eq!(same_id, operation_id);
    let (status, retry_after, op_status, same_id, body) = ask(device, &query, b"").await;
    assert_eq!(
        (status, retry_after, op_status),
        (200, 0, OperationStatus::Assigned)
    );
    assert_eq!(same_id, operation_id);
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn an_individual_enrollment_is_assigned_and_then_reaches_the_hub() {
    let (emulator, addr) = dps().await;
    let client = provisioning(SCOPE, "reg-1");
    let password = dps_token(SCOPE, "reg-1", KEY, now() + 3600);
    let (mut device, code) = connect(addr, &client, Some(&password), None).await;
    assert_eq!(code, 0);
    assert!(!emulator.has_device("reg-1"));
    let body = register(
        &mut device,
        &client,
        Some(r#"{"modelId":"dtmi:com:example:Thermostat;1"}"#),
    )
    .await;
    let state = &body["registrationState"];
    assert_eq!(state["assignedHub"], HUB);
    assert_eq!(state["deviceId"], "reg-1");
    assert_eq!(state["registrationId"], "reg-1");
    assert_eq!(state["status"], "assigned");
    assert_eq!(state["substatus"], "initialAssignment");
    assert_eq!(state["payload"], json!({"firmware":"2.1"}));
    for stamp in ["createdDateTimeUtc", "lastUpdatedDateTimeUtc"] {
        assert!(state[stamp].as_str().unwrap().ends_with('Z'), "{stamp}");
    }
    assert_eq!(
        emulator.registration_payload("reg-1"),
        Some(json!({"modelId":"dtmi:com:example:Thermostat;1"}))
    );
    assert!(emulator.has_device("reg-1"));

    // The assigned identity connects to the hub with the same key.
    let mut hub_device = TestDevice::hub(addr, "reg-1", KEY).await;
    let topic = "devices/reg-1/messages/events/";
    hub_device
        .publish(topic, b"provisioned", QoS::AtMostOnce)
        .await;
    assert!(emulator.wait_for_telemetry("reg-1", 1, WAIT).await);
}

#[tokio::test]
async fn a_group_enrollment_derives_each_device_key() {
    let (emulator, addr) = dps().await;
    let registration_id = "sn-007-888";
    let device_key = derived_key(GROUP_KEY, registration_id);
    let client = provisioning(SCOPE, registration_id);

    // The group key itself is not the device's key.
    let wrong = dps_token(SCOPE, registration_id, GROUP_KEY, now() + 3600);
    let (_, code) = connect(addr, &client, Some(&wrong), None).await;
    assert_eq!(code, 5);
    assert_eq!(emulator.refusals().get(Refusal::BadSignature), 1);

    let password = dps_token(SCOPE, registration_id, &device_key, now() + 3600);
    let (mut device, code) = connect(addr, &client, Some(&password), None).await;
    assert_eq!(code, 0);
    let body = register(&mut device, &client, None).await;
    assert_eq!(body["registrationState"]["deviceId"], registration_id);
    assert_eq!(emulator.registration_payload(registration_id), None);

    let _hub_device = TestDevice::hub(addr, registration_id, &device_key).await;
    assert!(emulator.is_connected(registration_id));
}

#[tokio::test]
async fn an_x509_enrollment_registers_and_connects_with_its_certificate() {
    let (emulator, addr) = dps().await;
    let client = provisioning(SCOPE, "device-01");
    let (mut device, code) = connect(addr, &client, None, Some("device-01")).await;
    assert_eq!(code, 0);
    register(&mut device, &client, None).await;
    let config = tls_config(rustls::ALL_VERSIONS, Some("device-01"));
    let mut hub_device = TestDevice::open_with(addr, config, HUB).await.unwrap();
    let ack = hub_device
        .connect("device-01", &hub_user_name("device-01"), None, true)
        .await;
    assert_eq!(
        ack,
        Ok(Incoming::ConnAck {
            session_present: false,
            code: 0
        })
    );
    assert!(emulator.is_connected("device-01"));
}

#[tokio::test]
async fn unknown_operations_and_registrations_are_refused() {
    let mut dps = Dps::new(SCOPE, HUB).with_enrollment(Enrollment::Individual {
        registration_id: "reg-1".into(),
        key: KEY.into(),
    });
    dps.polls_before_assigned = 0;
    let (emulator, addr) = start(Config::new(HUB).with_dps(dps)).await;

    // No group: an unknown registration id is nobody.
    let stranger = provisioning(SCOPE, "stranger");
    let password = dps_token(SCOPE, "stranger", KEY, now() + 3600);
    let (_, code) = connect(addr, &stranger, Some(&password), None).await;
    assert_eq!(code, 5);
    assert_eq!(emulator.refusals().unknown_identity, 1);
    // An expired token.
    let client = provisioning(SCOPE, "reg-1");
    let expired = dps_token(SCOPE, "reg-1", KEY, now() - 1);
    let (_, code) = connect(addr, &client, Some(&expired), None).await;
    assert_eq!(code, 5);
    assert_eq!(emulator.refusals().expired_token, 1);

    let password = dps_token(SCOPE, "reg-1", KEY, now() + 3600);
    let (mut device, code) = connect(addr, &client, Some(&password), None).await;
    assert_eq!(code, 0);
    device.subscribe(&[RESPONSE_SUBSCRIBE_TOPIC]).await;
    let query = built(|o| client.query_topic("4.nosuchoperation", o));
    let (status, _, op_status, _, body) = ask(&mut device, &query, b"").await;
    assert_eq!((status, op_status), (404, OperationStatus::Failed));
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["errorCode"], 404_001);
    assert!(error["trackingId"].is_string() && error["message"].is_string());

    // With no `assigning` polls configured, the first query assigns.
    let register = built(|o| client.register_topic(o));
    let payload = built(|o| client.register_payload(&RegisterPayloadOptions::default(), o));
    let (status, _, _, operation_id, _) = ask(&mut device, &register, payload.as_bytes()).await;
    assert_eq!(status, 202);
    let query = built(|o| client.query_topic(&operation_id, o));
    let (status, _, op_status, _, _) = ask(&mut device, &query, b"").await;
    assert_eq!((status, op_status), (200, OperationStatus::Assigned));

    // A device may not publish to the hub's topics on a DPS connection.
    device
        .publish("devices/reg-1/messages/events/", b"x", QoS::AtMostOnce)
        .await;
    assert!(device.closed_within(WAIT).await);
    assert!(emulator.telemetry("reg-1").is_empty());
}
