//! Messaging with the emulated hub: telemetry, cloud-to-device messages,
//! direct methods, the twin, the hub's limits and what makes it hang up.
//! Topics are built and parsed with duet-azure's device-side functions.

mod common;

use std::time::Duration;

use common::*;
use duet::mqtt::{Packet, QoS};
use duet_azure::hub::{C2dRequest, HubClient, MethodRequest, TwinResponse, TwinResponseType};
use duet_azure::properties::{MessagePropertiesWriter, names};
use duet_azure_emulator::{ControlError, MethodResponse, Violation};
use serde_json::{Value, json};

const C2D: &str = duet_azure::hub::C2D_SUBSCRIBE_TOPIC;
const METHODS: &str = duet_azure::hub::METHODS_SUBSCRIBE_TOPIC;
const TWIN_RES: &str = duet_azure::hub::TWIN_RESPONSE_SUBSCRIBE_TOPIC;
const TWIN_DESIRED: &str = duet_azure::hub::TWIN_PATCH_SUBSCRIBE_TOPIC;

fn topic(build: impl FnOnce(&mut [u8]) -> Result<usize, duet_azure::AzureError>) -> String {
    let mut out = [0u8; 512];
    let n = build(&mut out).unwrap();
    String::from_utf8(out[..n].to_vec()).unwrap()
}

#[tokio::test]
async fn telemetry_is_recorded_with_its_properties() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    let client = HubClient::new(HUB, "dev-1");
    let mut bag = [0u8; 256];
    let mut writer = MessagePropertiesWriter::new(&mut bag);
    writer
        .append(names::CONTENT_TYPE, "application%2Fjson")
        .unwrap();
    writer.append(names::CONTENT_ENCODING, "utf-8").unwrap();
    writer.append(names::COMPONENT_NAME, "thermostat1").unwrap();
    writer.append_encoded("alert level", "high/urgent").unwrap();
    let with_bag = topic(|o| client.telemetry_topic(Some(writer.properties()), o));
    let bare = topic(|o| client.telemetry_topic(None, o));

    let id = device
        .publish(&with_bag, br#"{"temperature":21.5}"#, QoS::AtLeastOnce)
        .await;
    assert_eq!(device.recv(WAIT).await, Ok(Incoming::PubAck(id)));
    device.publish(&bare, b"plain", QoS::AtMostOnce).await;
    assert!(emulator.wait_for_telemetry("dev-1", 2, WAIT).await);
    assert!(!emulator.wait_for_telemetry("dev-1", 3, BRIEF).await);

    let telemetry = emulator.telemetry("dev-1");
    assert_eq!(telemetry[0].payload, br#"{"temperature":21.5}"#);
    let properties: Vec<(&str, &str)> = telemetry[0]
        .properties
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        properties,
        [
            ("$.ct", "application/json"),
            ("$.ce", "utf-8"),
            ("$.sub", "thermostat1"),
            ("alert level", "high/urgent"),
        ]
    );
    assert_eq!(telemetry[0].property("$.sub"), Some("thermostat1"));
    assert_eq!(
        (
            telemetry[1].payload.as_slice(),
            telemetry[1].properties.len()
        ),
        (&b"plain"[..], 0)
    );
    assert!(emulator.telemetry("dev-2").is_empty());
}

#[tokio::test]
async fn publishing_as_another_device_or_to_an_unknown_topic_closes_the_connection() {
    let (emulator, addr) = hub().await;
    for bad_topic in [
        "devices/dev-2/messages/events/",
        "devices/dev-1/somewhere",
        "$iothub/nothing",
    ] {
        let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
        device.publish(bad_topic, b"x", QoS::AtLeastOnce).await;
        assert!(device.closed_within(WAIT).await, "{bad_topic}");
    }
    assert!(emulator.telemetry("dev-2").is_empty());
    assert_eq!(emulator.violations().get(Violation::ForbiddenTopic), 3);
}

#[tokio::test]
async fn a_qos2_publish_closes_the_connection() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device
        .publish("devices/dev-1/messages/events/", b"x", QoS::ExactlyOnce)
        .await;
    assert!(device.closed_within(WAIT).await);
    assert_eq!(emulator.violations().qos2_publishes, 1);
    assert!(emulator.telemetry("dev-1").is_empty());
}

#[tokio::test]
async fn a_sixth_subscription_is_refused() {
    let (_emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    let five = [
        METHODS,
        TWIN_RES,
        TWIN_DESIRED,
        C2D,
        "devices/dev-1/messages/devicebound/#",
    ];
    assert_eq!(device.subscribe(&five).await, [1; 5]);
    assert_eq!(device.subscribe(&["$iothub/twin/#"]).await, [0x80]);
    // Subscribing again to a held filter is no new subscription.
    assert_eq!(device.subscribe(&[METHODS]).await, [1]);
    device.unsubscribe(&[TWIN_DESIRED]).await;
    assert_eq!(
        device.subscribe(&["$iothub/twin/#", TWIN_DESIRED]).await,
        [1, 0x80]
    );
    // Not the hub's topics, or another device's: refused whatever the count.
    let mut other = TestDevice::hub(addr, "dev-2", KEY).await;
    assert_eq!(
        other
            .subscribe(&[
                "devices/dev-1/messages/devicebound/#",
                "#",
                "$dps/registrations/res/#"
            ])
            .await,
        [0x80; 3]
    );
}

#[tokio::test]
async fn cloud_to_device_messages_are_redelivered_until_acknowledged() {
    let (emulator, addr) = hub().await;
    // Queued while the device is offline.
    emulator.send_c2d("dev-1", &[("colour", "dark blue")], b"first");
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    assert_eq!(
        device.recv(BRIEF).await,
        Err(Ended::Timeout),
        "sent before SUBSCRIBE"
    );
    assert_eq!(device.subscribe(&[C2D]).await, [1]);
    let Ok(Incoming::Publish {
        topic,
        payload,
        qos,
        packet_id,
        dup,
    }) = device.recv(WAIT).await
    else {
        panic!("no C2D message");
    };
    assert_eq!(
        (payload.as_slice(), qos, dup),
        (&b"first"[..], QoS::AtLeastOnce, false)
    );
    let request = C2dRequest::parse(&topic).unwrap();
    assert!(topic.starts_with("devices/dev-1/messages/devicebound/"));
    assert_eq!(request.properties.find("colour"), Some("dark%20blue"));
    assert_eq!(
        request.properties.find("%24.to"),
        Some("%2Fdevices%2Fdev-1%2Fmessages%2FdeviceBound")
    );
    assert!(request.properties.find("%24.mid").is_some());

    // Not acknowledged: the next connection gets it again, marked DUP.
    drop(device);
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.subscribe(&[C2D]).await;
    let Ok(Incoming::Publish {
        topic: again,
        payload,
        packet_id: id,
        dup,
        ..
    }) = device.recv(WAIT).await
    else {
        panic!("not redelivered");
    };
    assert_eq!(
        (again.as_str(), payload.as_slice(), dup),
        (topic.as_str(), &b"first"[..], true)
    );
    assert_eq!(emulator.pending_c2d("dev-1"), 1);
    // A PUBACK for some other id changes nothing; the right one removes it.
    device.puback(id.wrapping_add(7)).await;
    device.puback(id).await;
    // Packets are handled in order: once PINGRESP is back, so is the PUBACK.
    device.send(Packet::PingReq).await;
    assert_eq!(device.recv(WAIT).await, Ok(Incoming::PingResp));
    assert_eq!(emulator.pending_c2d("dev-1"), 0);
    assert_ne!(packet_id, 0);
    emulator.send_c2d("dev-1", &[], b"second");
    let (_, payload) = device.recv_publish(WAIT).await.unwrap().publish();
    assert_eq!(payload, b"second");
    assert_eq!(emulator.pending_c2d("dev-1"), 1);
    drop(device);
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.subscribe(&[C2D]).await;
    let (_, payload) = device.recv_publish(WAIT).await.unwrap().publish();
    assert_eq!(payload, b"second", "the acknowledged message came back");
    assert_eq!(device.recv(BRIEF).await, Err(Ended::Timeout));
    assert_eq!(
        emulator.try_send_c2d("ghost", &[], b""),
        Err(ControlError::UnknownDevice)
    );
}

#[tokio::test]
async fn a_direct_method_round_trips_as_a_pnp_command() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.subscribe(&[METHODS]).await;
    let invoke = emulator.invoke_method(
        "dev-1",
        "thermostat*getMaxMinReport",
        r#"{"since":"2024-01-01"}"#,
        WAIT,
    );
    let answer = async {
        let (request_topic, payload) = device.recv_publish(WAIT).await.unwrap().publish();
        let request = MethodRequest::parse(&request_topic).unwrap();
        let command = request.command();
        assert_eq!(
            (command.component, command.command),
            (Some("thermostat"), "getMaxMinReport")
        );
        let payload: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(payload, json!({"since":"2024-01-01"}));
        let client = HubClient::new(HUB, "dev-1");
        let response = topic(|o| client.method_response_topic(request.request_id, 200, o));
        device
            .publish(&response, br#"{"max":30}"#, QoS::AtMostOnce)
            .await;
    };
    let (result, ()) = tokio::join!(invoke, answer);
    assert_eq!(
        result,
        Ok(MethodResponse {
            status: 200,
            payload: r#"{"max":30}"#.into()
        })
    );
}

#[tokio::test]
async fn a_direct_method_fails_when_the_device_cannot_answer() {
    let (emulator, addr) = hub().await;
    let call = |name: &'static str, wait: Duration| {
        let emulator = emulator.clone();
        async move { emulator.invoke_method("dev-1", name, "null", wait).await }
    };
    assert_eq!(call("reboot", BRIEF).await, Err(ControlError::NotConnected));
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    assert_eq!(
        call("reboot", BRIEF).await,
        Err(ControlError::NotSubscribed)
    );
    device.subscribe(&[METHODS]).await;
    // Subscribed but silent.
    assert_eq!(
        call("reboot", Duration::from_millis(200)).await,
        Err(ControlError::Timeout)
    );
    let (topic, _) = device.recv_publish(WAIT).await.unwrap().publish();
    assert!(topic.starts_with("$iothub/methods/POST/reboot/?$rid="));
    // Gone before answering.
    let (result, ()) = tokio::join!(call("reboot", WAIT), async {
        device.recv_publish(WAIT).await.unwrap();
        drop(device);
    });
    assert_eq!(result, Err(ControlError::Disconnected));
    assert_eq!(
        call("a/b", BRIEF).await,
        Err(ControlError::InvalidMethodName)
    );
    assert_eq!(
        emulator.invoke_method("ghost", "x", "1", BRIEF).await,
        Err(ControlError::UnknownDevice)
    );
    assert_eq!(
        emulator
            .invoke_method("dev-1", "x", "{not json", BRIEF)
            .await,
        Err(ControlError::InvalidPayload)
    );
}

/// Sends a twin request to `topic` and returns the response topic, parsed,
/// with its payload.
async fn twin_request(device: &mut TestDevice, topic: &str, payload: &[u8]) -> (String, Vec<u8>) {
    device.publish(topic, payload, QoS::AtMostOnce).await;
    device.recv_publish(WAIT).await.unwrap().publish()
}

#[tokio::test]
async fn the_twin_versions_reported_and_desired_properties() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.subscribe(&[TWIN_RES, TWIN_DESIRED]).await;
    let client = HubClient::new(HUB, "dev-1");

    let get = topic(|o| client.twin_document_get_topic("get1", o));
    let (topic_1, body) = twin_request(&mut device, &get, b"").await;
    let response = TwinResponse::parse(&topic_1).unwrap();
    assert_eq!(
        (response.response_type, response.status, response.request_id),
        (TwinResponseType::Get, 200, Some("get1"))
    );
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        document,
        json!({"desired":{"$version":1},"reported":{"$version":1}})
    );

    let patch = topic(|o| client.twin_patch_topic("patch1", o));
    let (topic_2, body) = twin_request(
        &mut device,
        &patch,
        br#"{"temp":21,"fw":{"version":"1.0","state":"ok"}}"#,
    )
    .await;
    let response = TwinResponse::parse(&topic_2).unwrap();
    assert_eq!(
        (
            response.response_type,
            response.status,
            response.request_id,
            response.version
        ),
        (
            TwinResponseType::ReportedProperties,
            204,
            Some("patch1"),
            Some("2")
        )
    );
    assert!(body.is_empty());
    let (topic_3, _) = twin_request(&mut device, &patch, br#"{"fw":{"state":null}}"#).await;
    assert_eq!(TwinResponse::parse(&topic_3).unwrap().version, Some("3"));
    assert_eq!(
        emulator.reported("dev-1"),
        json!({"temp":21,"fw":{"version":"1.0"},"$version":3})
    );
    let (topic_4, _) = twin_request(&mut device, &patch, b"{not json").await;
    let response = TwinResponse::parse(&topic_4).unwrap();
    assert_eq!(
        (response.response_type, response.status),
        (TwinResponseType::RequestError, 400)
    );
    assert_eq!(emulator.reported("dev-1")["$version"], 3);

    // The solution writes a desired property: the device hears of it.
    assert_eq!(emulator.patch_desired("dev-1", json!({"targetTemp":25})), 2);
    let (topic_5, body) = device.recv_publish(WAIT).await.unwrap().publish();
    let pushed = TwinResponse::parse(&topic_5).unwrap();
    assert_eq!(
        (pushed.response_type, pushed.version),
        (TwinResponseType::DesiredProperties, Some("2"))
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"targetTemp":25,"$version":2}));
    let (_, body) = twin_request(&mut device, &get, b"").await;
    let document: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(document["desired"], json!({"targetTemp":25,"$version":2}));
    assert_eq!(document["reported"]["$version"], 3);
    assert_eq!(emulator.desired("dev-1"), document["desired"]);
    assert_eq!(
        emulator.try_patch_desired("dev-1", json!([1])),
        Err(ControlError::InvalidPatch)
    );
    assert_eq!(
        emulator.try_patch_desired("ghost", json!({})),
        Err(ControlError::UnknownDevice)
    );
}

#[tokio::test]
async fn twin_requests_are_answered_only_to_subscribers() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device
        .publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=1",
            br#"{"a":1}"#,
            QoS::AtLeastOnce,
        )
        .await;
    assert!(matches!(device.recv(WAIT).await, Ok(Incoming::PubAck(_))));
    assert_eq!(device.recv(BRIEF).await, Err(Ended::Timeout));
    assert_eq!(emulator.reported("dev-1"), json!({"a":1,"$version":2}));
    emulator.patch_desired("dev-1", json!({"b":2}));
    assert_eq!(device.recv(BRIEF).await, Err(Ended::Timeout));
}

#[tokio::test]
async fn a_dropped_twin_request_closes_the_connection_unanswered() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.subscribe(&[TWIN_RES]).await;
    emulator.drop_next_twin_request("dev-1");
    device
        .publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=7",
            br#"{"a":1}"#,
            QoS::AtLeastOnce,
        )
        .await;
    // Closed with neither PUBACK nor response.
    assert_eq!(device.recv(WAIT).await, Err(Ended::Closed));
    assert_eq!(emulator.reported("dev-1"), json!({"$version":1}));
    // Only the next request: the one after that is answered.
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.subscribe(&[TWIN_RES]).await;
    let (topic, _) = twin_request(&mut device, "$iothub/twin/GET/?$rid=8", b"").await;
    assert_eq!(TwinResponse::parse(&topic).unwrap().status, 200);
    assert_eq!(emulator.twin_request_ids("dev-1"), ["7", "8"]);
}

#[tokio::test]
async fn publish_raw_reaches_the_device_whatever_it_subscribed() {
    let (emulator, addr) = hub().await;
    assert!(!emulator.publish_raw("dev-1", "$iothub/unheard/of", b"{}"));
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    assert!(emulator.publish_raw("dev-1", "$iothub/unheard/of", b"{\"x\":"));
    let (topic, payload) = device.recv_publish(WAIT).await.unwrap().publish();
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("$iothub/unheard/of", &b"{\"x\":"[..])
    );
}

#[tokio::test]
async fn drop_connection_closes_the_device_connection() {
    let (emulator, addr) = hub().await;
    assert!(!emulator.drop_connection("dev-1"));
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    assert!(emulator.drop_connection("dev-1"));
    assert!(device.closed_within(WAIT).await);
    assert!(eventually(|| !emulator.is_connected("dev-1")).await);
}

#[tokio::test]
async fn malformed_packets_close_the_connection_without_harm() {
    let (emulator, addr) = hub().await;
    // Garbage instead of CONNECT.
    let mut device = TestDevice::open(addr).await;
    device.send_raw(&[0x00, 0x02, 0xde, 0xad]).await;
    assert!(device.closed_within(WAIT).await);
    // Something else before CONNECT.
    let mut device = TestDevice::open(addr).await;
    device.send(Packet::PingReq).await;
    assert!(device.closed_within(WAIT).await);
    let cases: [&[u8]; 5] = [
        // A PUBLISH with a wildcard in its topic.
        b"\x30\x03\x00\x01+",
        // A remaining length that never ends.
        b"\x30\xff\xff\xff\xff\x01",
        // A remaining length past the hub's limit.
        b"\x30\xff\xff\xff\x7f",
        // SUBSCRIBE with reserved flags wrong.
        b"\x80\x08\x00\x01\x00\x03a/#\x01",
        // A second CONNECT.
        b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01a",
    ];
    for bytes in cases {
        let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
        device.send_raw(bytes).await;
        assert!(device.closed_within(WAIT).await, "{bytes:02x?}");
    }
    let violations = emulator.violations();
    assert_eq!(violations.malformed_packets, 4);
    assert_eq!(violations.oversized_packets, 1);
    assert_eq!(violations.unexpected_packets, 2);
    // Random bytes after CONNECT, many times: never a panic, always closed.
    let mut seed = 0x2545_f491_u32;
    for _ in 0..20 {
        let mut device = TestDevice::hub(addr, "dev-2", KEY).await;
        let junk: Vec<u8> = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        device.send_raw(&junk).await;
        device.send(Packet::PingReq).await;
        // Either closed, or the junk happened to be valid and the ping is
        // answered; never a hang.
        let _ = device.closed_within(Duration::from_millis(100)).await;
    }
    // The emulator still serves.
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    device.send(Packet::PingReq).await;
    assert_eq!(device.recv(WAIT).await, Ok(Incoming::PingResp));
}

#[tokio::test]
async fn a_test_can_wait_for_a_device_to_subscribe() {
    let (emulator, addr) = hub().await;
    let mut device = TestDevice::hub(addr, "dev-1", KEY).await;
    let desired = "$iothub/twin/PATCH/properties/desired/?$version=2";
    assert!(
        !emulator
            .wait_for_subscription("dev-1", desired, BRIEF)
            .await
    );
    // SUBSCRIBE sent, SUBACK not awaited: as some device clients do.
    let filters = [(
        TWIN_DESIRED,
        duet::mqtt::codec::SubscribeOptions::qos(QoS::AtMostOnce),
    )];
    device
        .send(Packet::Subscribe(duet::mqtt::codec::Subscribe {
            packet_id: 9,
            properties: duet::mqtt::codec::Properties::EMPTY,
            filters: duet::mqtt::codec::SubscribeFilters::List(&filters),
        }))
        .await;
    assert!(emulator.wait_for_subscription("dev-1", desired, WAIT).await);
    assert_eq!(emulator.subscriptions("dev-1"), [TWIN_DESIRED]);
    assert_eq!(emulator.patch_desired("dev-1", json!({"mode":"eco"})), 2);
    assert_eq!(
        device.recv(WAIT).await,
        Ok(Incoming::SubAck {
            packet_id: 9,
            codes: vec![0]
        })
    );
    let (topic, body) = device.recv_publish(WAIT).await.unwrap().publish();
    assert_eq!(topic, desired);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"mode":"eco","$version":2})
    );
    assert!(emulator.subscriptions("dev-2").is_empty());
}
