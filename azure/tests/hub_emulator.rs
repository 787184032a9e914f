//! The hub and DPS clients end to end: Duet's TLS and MQTT over a tokio TCP
//! socket to the local emulator of IoT Hub and DPS (RSA-2048 chain from
//! the test PKI, SAS checked against the configured keys).

use std::net::SocketAddr;
use std::time::Duration;

use duet::mqtt::journal::Journal;
use duet::mqtt::outbox::{Outbox, OutboxStore};
use duet::mqtt::{QoS, SessionError};
use duet_azure::client::{Credential, HubConfig, HubError, ProvisioningConfig, ProvisioningError};
use duet_azure::dps::RESPONSE_SUBSCRIBE_TOPIC;
use duet_azure::hub::{C2D_SUBSCRIBE_TOPIC, TWIN_RESPONSE_SUBSCRIBE_TOPIC};
use duet_azure_emulator::{Config, DeviceAuth, Dps, Emulator, Enrollment};
use serde_json::json;

#[path = "common/device.rs"]
mod device;
use device::{HUB_HOST, Hub, Seen, hub, provisioning, until};

#[path = "../../sdk/tests/common/ram_flash.rs"]
mod ram_flash;
use ram_flash::RamFlash;

/// A device key (base64 of 32 bytes), as IoT Hub generates them.
const KEY: &str = "dGhlLXRlc3QtZGV2aWNlLWtleS0wMS0zMi1ieXRlcyE=";
const OTHER_KEY: &str = "b3RoZXItdGVzdC1kZXZpY2Uta2V5LTAyLTMyLWJ5dGU=";

async fn emulator_with(config: Config) -> (Emulator, SocketAddr) {
    let emulator = Emulator::new(config);
    let address = emulator.listen("127.0.0.1:0").await.expect("listen");
    (emulator, address)
}

async fn one_device(device_id: &str) -> (Emulator, SocketAddr) {
    let config =
        Config::new(HUB_HOST).with_device(device_id, DeviceAuth::SymmetricKey(KEY.to_owned()));
    emulator_with(config).await
}

fn sas_config(device_id: &'static str) -> HubConfig<'static> {
    HubConfig::new(HUB_HOST, device_id, Credential::SymmetricKey(KEY))
}

async fn connected<S: OutboxStore>(hub: &mut Hub<device::TokioTcp, S>) {
    until(hub, 10, |e| *e == Seen::Connected).await;
}

#[tokio::test]
async fn telemetry_methods_twin_and_c2d_end_to_end() {
    let (emulator, address) = one_device("device-a").await;
    let mut config = sas_config("device-a");
    config.model_id = "dtmi:com:example:Thermostat;1";
    let mut hub = hub(address, config, 8192);
    connected(&mut hub).await;

    // Telemetry at QoS 1 and 0, with properties and a component.
    let properties = [("$.ct", "application/json"), ("alert", "on & off")];
    for n in 0..5 {
        let body = format!("{{\"n\":{n}}}");
        hub.send_telemetry(&properties, body.as_bytes(), QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    for _ in 0..5 {
        until(&mut hub, 5, |e| *e == Seen::TelemetryAcknowledged).await;
    }
    hub.send_component_telemetry(
        "thermostat1",
        &[],
        b"{\"temperature\":21.5}",
        QoS::AtMostOnce,
    )
    .await
    .unwrap();
    assert_eq!(
        hub.send_telemetry(&[], b"{}", QoS::ExactlyOnce).await,
        Err(HubError::QosUnsupported)
    );
    assert!(
        emulator
            .wait_for_telemetry("device-a", 6, Duration::from_secs(5))
            .await
    );
    let telemetry = emulator.telemetry("device-a");
    assert_eq!(telemetry.len(), 6);
    for (n, message) in telemetry[..5].iter().enumerate() {
        assert_eq!(message.payload, format!("{{\"n\":{n}}}").into_bytes());
        let has = |k: &str, v: &str| message.properties.iter().any(|(a, b)| a == k && b == v);
        assert!(has("$.ct", "application/json"), "{:?}", message.properties);
        assert!(has("alert", "on & off"), "{:?}", message.properties);
    }
    assert!(
        telemetry[5]
            .properties
            .iter()
            .any(|(k, v)| k == "$.sub" && v == "thermostat1")
    );

    // A direct method and a Plug and Play command, answered.
    for (method, component, name) in [
        ("reboot", None, "reboot"),
        (
            "thermostat1*getMaxMinReport",
            Some("thermostat1"),
            "getMaxMinReport",
        ),
    ] {
        let invoke =
            emulator.invoke_method("device-a", method, "{\"delay\":1}", Duration::from_secs(5));
        let answer = async {
            let Seen::Method {
                component: got_component,
                name: got_name,
                request_id,
                payload,
            } = until(&mut hub, 5, |e| matches!(e, Seen::Method { .. })).await
            else {
                unreachable!()
            };
            assert_eq!(got_component.as_deref(), component);
            assert_eq!(got_name, name);
            assert_eq!(payload, b"{\"delay\":1}");
            hub.respond(&request_id, 201, b"{\"done\":true}")
                .await
                .unwrap();
        };
        let (response, ()) = tokio::join!(invoke, answer);
        let response = response.expect("the device answered");
        assert_eq!(response.status, 201);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&response.payload).unwrap(),
            json!({"done": true})
        );
    }

    // Twin: reported patch, desired update pushed, whole document.
    hub.report_properties(
        b"{\"firmware\":\"1.2.3\",\"thermostat1\":{\"__t\":\"c\",\"maxTempSinceLastReboot\":30}}",
    )
    .await
    .unwrap();
    assert_eq!(
        hub.request_twin().await,
        Err(HubError::TwinBusy),
        "one twin request at a time"
    );
    let Seen::ReportedAccepted(reported_version) =
        until(&mut hub, 5, |e| matches!(e, Seen::ReportedAccepted(_))).await
    else {
        unreachable!()
    };
    assert_eq!(emulator.reported("device-a")["firmware"], "1.2.3");
    let desired_version = emulator.patch_desired("device-a", json!({"targetTemperature": 22}));
    let Seen::DesiredUpdate(version, patch) =
        until(&mut hub, 5, |e| matches!(e, Seen::DesiredUpdate(..))).await
    else {
        unreachable!()
    };
    assert_eq!(version, desired_version);
    assert_eq!(patch["targetTemperature"], 22);
    hub.request_twin().await.unwrap();
    let Seen::Twin(document) = until(&mut hub, 5, |e| matches!(e, Seen::Twin(_))).await else {
        unreachable!()
    };
    assert_eq!(document["desired"]["targetTemperature"], 22);
    assert_eq!(document["desired"]["$version"], desired_version);
    assert_eq!(document["reported"]["firmware"], "1.2.3");
    assert_eq!(document["reported"]["$version"], reported_version);

    // Cloud to device, with a property bag.
    emulator.send_c2d(
        "device-a",
        &[("priority", "high"), ("$.ct", "text/plain")],
        b"hello device",
    );
    let Seen::C2d {
        properties,
        payload,
    } = until(&mut hub, 5, |e| matches!(e, Seen::C2d { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(payload, b"hello device");
    assert!(properties.contains(&("priority".to_owned(), "high".to_owned())));
    assert_eq!(emulator.connections("device-a"), 1);
}

/// Telemetry queued before the first connection that is larger than the
/// 4 KiB MQTT send buffer cannot ever go out: it is reported and dropped,
/// and the telemetry queued behind it still reaches the hub.
#[tokio::test]
async fn telemetry_too_large_to_send_is_reported_and_holds_up_nothing() {
    let (emulator, address) = one_device("device-big").await;
    let mut hub = hub(address, sas_config("device-big"), 8192);
    let big = vec![b'x'; 6000];
    hub.send_telemetry(&[], &big, QoS::AtLeastOnce)
        .await
        .unwrap();
    hub.send_telemetry(&[], b"{\"n\":1}", QoS::AtLeastOnce)
        .await
        .unwrap();
    let refused = until(&mut hub, 10, |e| matches!(e, Seen::PublishRefused(_))).await;
    assert_eq!(
        refused,
        Seen::PublishRefused(SessionError::Codec(
            duet::mqtt::codec::Error::BufferTooSmall
        ))
    );
    until(&mut hub, 10, |e| *e == Seen::TelemetryAcknowledged).await;
    let telemetry = emulator.telemetry("device-big");
    assert_eq!(telemetry.len(), 1);
    assert_eq!(telemetry[0].payload, b"{\"n\":1}");
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_retried_with_backoff() {
    let (emulator, address) = one_device("device-b").await;
    let mut config = HubConfig::new(HUB_HOST, "device-b", Credential::SymmetricKey(OTHER_KEY));
    config.backoff.initial = duet::netstack::time::Duration::from_millis(50);
    let mut hub = hub(address, config, 4096);
    for _ in 0..3 {
        assert_eq!(
            until(&mut hub, 5, |_| true).await,
            Seen::ConnectFailed,
            "a CONNACK refusal is a failed attempt"
        );
    }
    assert!(emulator.refusals().total() >= 3);
    assert!(!emulator.is_connected("device-b"));
    // The refusal's code reaches the application: 5, not authorised.
    assert_eq!(
        hub.mqtt().last_error(),
        Some(duet::mqtt::SessionError::ConnectionRefused(5))
    );
}

#[tokio::test]
async fn the_token_is_renewed_during_a_qos1_stream_without_losing_a_message() {
    let (emulator, address) = one_device("device-c").await;
    let mut config = sas_config("device-c");
    // Four-second tokens renewed at 60 %: the stream outlives two of them.
    // (`se` has whole seconds, so the renewal comes a second early at least.)
    config.token_lifetime_secs = 4;
    config.renew_at_percent = 60;
    let mut hub = hub(address, config, 4096);
    connected(&mut hub).await;
    let started = tokio::time::Instant::now();
    let mut sent = 0u32;
    let mut acknowledged = 0u32;
    while started.elapsed() < Duration::from_secs(7) || acknowledged < sent {
        if sent < 400 && started.elapsed() < Duration::from_secs(7) {
            hub.send_telemetry(&[], format!("{sent}").as_bytes(), QoS::AtLeastOnce)
                .await
                .unwrap();
            sent += 1;
        }
        let polled = tokio::time::timeout(Duration::from_millis(15), hub.poll()).await;
        if let Ok(event) = polled {
            if event.unwrap() == duet_azure::client::HubEvent::TelemetryAcknowledged {
                acknowledged += 1;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "stream stalled"
        );
    }
    assert!(hub.stats().token_renewals >= 2, "{:?}", hub.stats());
    assert!(emulator.connections("device-c") >= 3);
    let mut seen: Vec<u32> = emulator
        .telemetry("device-c")
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).parse().unwrap())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, (0..sent).collect::<Vec<_>>(), "every message arrived");
    assert_eq!(emulator.refusals().total(), 0, "no token was ever refused");
}

/// The `n` (the body) of every telemetry message the hub has from
/// `device_id`, in arrival order.
fn telemetry_numbers(emulator: &Emulator, device_id: &str) -> Vec<u32> {
    emulator
        .telemetry(device_id)
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).parse().unwrap())
        .collect()
}

/// Flash for the telemetry journal: two halves of 2 KiB.
const JOURNAL_HALF: u32 = 2048;

/// A hub client whose QoS 1 telemetry is kept in a journal on `flash`, as
/// a device mounts it at boot.
fn hub_on_flash<'f>(
    address: SocketAddr,
    device_id: &'static str,
    flash: &'f mut RamFlash,
) -> Hub<device::TokioTcp, Journal<&'f mut RamFlash>> {
    let journal = Journal::mount(flash, 0, JOURNAL_HALF).expect("mounted");
    let provider = device::leak(duet::crypto::soft::Soft::new());
    let tls = device::tls(device::TokioTcp(address), HUB_HOST, provider, None, 1);
    device::hub_with_store(tls, provider, sas_config(device_id), 4096, journal)
}

#[tokio::test]
async fn telemetry_kept_on_flash_reaches_the_hub_after_a_power_cut_and_acknowledged_does_not_return()
 {
    let (emulator, address) = one_device("device-j").await;
    let mut flash = RamFlash::new(2 * JOURNAL_HALF as usize);

    let mut hub = hub_on_flash(address, "device-j", &mut flash);
    connected(&mut hub).await;
    let send = async |hub: &mut Hub<_, _>, numbers: std::ops::Range<u32>| {
        for n in numbers {
            hub.send_telemetry(&[], n.to_string().as_bytes(), QoS::AtLeastOnce)
                .await
                .unwrap();
        }
    };
    send(&mut hub, 0..5).await;
    for _ in 0..5 {
        until(&mut hub, 10, |e| *e == Seen::TelemetryAcknowledged).await;
    }
    // Five more, and the power goes before their acknowledgements are
    // read: the RAM outbox is gone, the flash stays.
    send(&mut hub, 5..10).await;
    drop(hub);

    let mut hub = hub_on_flash(address, "device-j", &mut flash);
    connected(&mut hub).await;
    for _ in 0..5 {
        until(&mut hub, 10, |e| *e == Seen::TelemetryAcknowledged).await;
    }
    drop(hub);

    let seen = telemetry_numbers(&emulator, "device-j");
    for n in 0..5 {
        let times = seen.iter().filter(|&&m| m == n).count();
        assert_eq!(times, 1, "acknowledged message {n} came back: {seen:?}");
    }
    let mut distinct = seen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct, (0..10).collect::<Vec<_>>(), "{seen:?}");
    // Everything acknowledged: the next boot has nothing to send.
    let mut journal = Journal::mount(&mut flash, 0, JOURNAL_HALF).unwrap();
    let mut memory = [0u8; 1024];
    let mut outbox = Outbox::new(&mut memory);
    journal.restore(&mut outbox);
    assert!(outbox.is_empty());
}

#[tokio::test]
async fn a_twin_request_cut_off_is_sent_again_with_a_new_request_id() {
    let (emulator, address) = one_device("device-d").await;
    let mut hub = hub(address, sas_config("device-d"), 4096);
    connected(&mut hub).await;
    emulator.patch_desired("device-d", json!({"mode": "eco"}));
    until(&mut hub, 5, |e| matches!(e, Seen::DesiredUpdate(..))).await;
    emulator.drop_next_twin_request("device-d");
    hub.request_twin().await.unwrap();
    assert_eq!(until(&mut hub, 5, |_| true).await, Seen::Disconnected);
    assert_eq!(until(&mut hub, 5, |_| true).await, Seen::Connected);
    let Seen::Twin(document) = until(&mut hub, 5, |e| matches!(e, Seen::Twin(_))).await else {
        unreachable!()
    };
    assert_eq!(document["desired"]["mode"], "eco");
    assert_eq!(hub.stats().twin_resends, 1);
    let request_ids = emulator.twin_request_ids("device-d");
    assert_eq!(request_ids.len(), 2, "{request_ids:?}");
    assert_ne!(request_ids[0], request_ids[1]);
}

#[tokio::test]
async fn a_refused_subscription_is_reported_and_asked_for_again_on_the_next_connection() {
    let (emulator, address) = one_device("device-s").await;
    // The hub subscribes to C2D last: its refusal is the last SUBACK.
    for filter in [TWIN_RESPONSE_SUBSCRIBE_TOPIC, C2D_SUBSCRIBE_TOPIC] {
        emulator.refuse_next_subscription("device-s", filter);
    }
    let mut hub = hub(address, sas_config("device-s"), 4096);
    // The refusals first, then the connection, ready for what was granted.
    for filter in [TWIN_RESPONSE_SUBSCRIBE_TOPIC, C2D_SUBSCRIBE_TOPIC] {
        assert_eq!(
            until(&mut hub, 10, |_| true).await,
            Seen::SubscriptionRefused(filter)
        );
    }
    assert_eq!(until(&mut hub, 5, |_| true).await, Seen::Connected);
    assert_eq!(hub.stats().refused_subscriptions, 2);
    let held = emulator.subscriptions("device-s");
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(!held.iter().any(|f| f == TWIN_RESPONSE_SUBSCRIBE_TOPIC));
    emulator.patch_desired("device-s", json!({"mode": "eco"}));
    until(&mut hub, 5, |e| matches!(e, Seen::DesiredUpdate(..))).await;

    // The hub keeps the session, but it lacks a filter: the next
    // connection subscribes again, and twin answers arrive.
    assert!(emulator.drop_connection("device-s"));
    assert_eq!(until(&mut hub, 5, |_| true).await, Seen::Disconnected);
    assert_eq!(until(&mut hub, 10, |_| true).await, Seen::Connected);
    assert_eq!(emulator.subscriptions("device-s").len(), 4);
    hub.request_twin().await.unwrap();
    let Seen::Twin(document) = until(&mut hub, 5, |e| matches!(e, Seen::Twin(_))).await else {
        unreachable!()
    };
    assert_eq!(document["desired"]["mode"], "eco");

    // Now the session holds every filter: a resumed session subscribes to
    // nothing, so a refusal waiting in the hub never fires.
    emulator.refuse_next_subscription("device-s", TWIN_RESPONSE_SUBSCRIBE_TOPIC);
    assert!(emulator.drop_connection("device-s"));
    assert_eq!(until(&mut hub, 5, |_| true).await, Seen::Disconnected);
    assert_eq!(until(&mut hub, 10, |_| true).await, Seen::Connected);
    assert_eq!(hub.stats().refused_subscriptions, 2);
    assert_eq!(emulator.subscriptions("device-s").len(), 4);
}

#[tokio::test]
async fn malformed_hub_messages_are_typed_errors_and_the_client_goes_on() {
    let (emulator, address) = one_device("device-e").await;
    let mut hub = hub(address, sas_config("device-e"), 2048);
    connected(&mut hub).await;

    emulator.publish_raw("device-e", "$iothub/unheard/of", b"{}");
    assert_eq!(hub.poll().await.unwrap_err(), HubError::UnknownTopic);
    emulator.publish_raw(
        "device-e",
        "$iothub/twin/PATCH/properties/desired/?$version=9",
        b"{\"broken\":",
    );
    assert_eq!(hub.poll().await.unwrap_err(), HubError::Malformed);
    emulator.publish_raw(
        "device-e",
        "$iothub/twin/PATCH/properties/desired/?$version=x",
        b"{}",
    );
    assert_eq!(hub.poll().await.unwrap_err(), HubError::Malformed);

    // A twin larger than the 2 KiB receive buffer.
    let big = "x".repeat(4000);
    emulator.patch_desired("device-e", json!({ "blob": big }));
    assert_eq!(hub.poll().await.unwrap_err(), HubError::MessageTooLarge);
    hub.request_twin().await.unwrap();
    assert_eq!(hub.poll().await.unwrap_err(), HubError::MessageTooLarge);
    hub.cancel_twin_request();

    // Still connected and working.
    hub.send_telemetry(&[], b"after", QoS::AtLeastOnce)
        .await
        .unwrap();
    until(&mut hub, 5, |e| *e == Seen::TelemetryAcknowledged).await;
    emulator.patch_desired("device-e", json!({ "blob": null, "small": 1 }));
    let Seen::DesiredUpdate(_, patch) =
        until(&mut hub, 5, |e| matches!(e, Seen::DesiredUpdate(..))).await
    else {
        unreachable!()
    };
    assert_eq!(patch["small"], 1);
    let stats = hub.stats();
    assert_eq!(
        (stats.unknown_topics, stats.malformed, stats.oversized),
        (1, 2, 2)
    );
    assert_eq!(emulator.connections("device-e"), 1);
}

#[tokio::test]
async fn dps_assigns_an_individual_enrollment_and_the_device_reaches_its_hub() {
    let dps = Dps::new("0ne00000001", HUB_HOST).with_enrollment(Enrollment::Individual {
        registration_id: "sensor-1".to_owned(),
        key: KEY.to_owned(),
    });
    let dps = Dps {
        polls_before_assigned: 2,
        reply_payload: Some(json!({"tier": "gold"})),
        ..dps
    };
    let (emulator, address) = emulator_with(Config::new(HUB_HOST).with_dps(dps)).await;
    let mut config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000001",
        "sensor-1",
        Credential::SymmetricKey(KEY),
    );
    config.custom_payload = Some("{\"modelId\":\"dtmi:com:example:Thermostat;1\"}");
    let mut dps = provisioning(address, config);
    let started = tokio::time::Instant::now();
    let assignment = dps.register().await.expect("assigned");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two retry-after waits of 1 s"
    );
    assert_eq!(assignment.assigned_hub, HUB_HOST);
    assert_eq!(assignment.device_id, "sensor-1");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(assignment.payload.unwrap()).unwrap(),
        json!({"tier": "gold"})
    );
    assert_eq!(
        emulator.registration_payload("sensor-1"),
        Some(json!({"modelId": "dtmi:com:example:Thermostat;1"}))
    );
    let device_id: &'static str = String::leak(assignment.device_id.to_owned());
    let mut hub = hub(address, sas_config(device_id), 4096);
    connected(&mut hub).await;
    hub.send_telemetry(&[], b"{\"provisioned\":true}", QoS::AtLeastOnce)
        .await
        .unwrap();
    until(&mut hub, 5, |e| *e == Seen::TelemetryAcknowledged).await;
}

#[tokio::test]
async fn dps_group_enrollment_with_a_derived_key() {
    let group_key = OTHER_KEY;
    let dps = Dps::new("0ne00000002", HUB_HOST).with_enrollment(Enrollment::Group {
        key: group_key.to_owned(),
    });
    let dps = Dps {
        polls_before_assigned: 0,
        ..dps
    };
    let (_emulator, address) = emulator_with(Config::new(HUB_HOST).with_dps(dps)).await;
    let soft = duet::crypto::soft::Soft::<4>::new();
    let mut derived = [0u8; 64];
    let n = duet_azure::sas::derive_device_key(&soft, group_key, "member-7", &mut derived).unwrap();
    let derived: &'static str = String::leak(String::from_utf8(derived[..n].to_vec()).unwrap());
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000002",
        "member-7",
        Credential::SymmetricKey(derived),
    );
    let mut dps = provisioning(address, config);
    let assignment = dps.register().await.expect("assigned");
    assert_eq!(assignment.device_id, "member-7");
    let config = HubConfig::new(HUB_HOST, "member-7", Credential::SymmetricKey(derived));
    let mut hub = hub(address, config, 4096);
    connected(&mut hub).await;

    // A wrong group key is refused for good.
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000002",
        "member-8",
        Credential::SymmetricKey(KEY),
    );
    let mut config = config;
    config.max_connect_attempts = 2;
    config.backoff.initial = duet::netstack::time::Duration::from_millis(20);
    let mut refused = provisioning(address, config);
    assert_eq!(
        refused.register().await.unwrap_err(),
        ProvisioningError::Unreachable
    );
}

#[path = "../../sdk/tests/common/device.rs"]
mod device_identity;

#[tokio::test]
async fn an_x509_device_connects_without_a_password() {
    let config = Config::new(HUB_HOST).with_device("device-01", DeviceAuth::X509);
    let (emulator, address) = emulator_with(config).await;
    // device-01's key lives in the provider's slot; TLS signs by handle.
    let (soft, chain) = device_identity::device_provider();
    let provider = device::leak(soft);
    let chain: Vec<&'static [u8]> = chain.into_iter().map(|der| &*Vec::leak(der)).collect();
    let certificate = duet::tls::ClientCertificate {
        chain: Vec::leak(chain),
        key: device_identity::DEVICE_KEY,
    };
    let transport = device::tls(
        device::TokioTcp(address),
        HUB_HOST,
        provider,
        Some(certificate),
        9,
    );
    let config = HubConfig::new(HUB_HOST, "device-01", Credential::X509);
    let mut hub = device::hub_with(transport, provider, config, 4096);
    connected(&mut hub).await;
    hub.send_telemetry(&[], b"{\"auth\":\"x509\"}", QoS::AtLeastOnce)
        .await
        .unwrap();
    until(&mut hub, 5, |e| *e == Seen::TelemetryAcknowledged).await;
    assert_eq!(emulator.telemetry("device-01").len(), 1);
    assert_eq!(hub.stats().token_renewals, 0);
    assert_eq!(emulator.refusals().total(), 0);
}

#[tokio::test]
async fn throttled_and_failing_twin_requests_are_retried_with_backoff() {
    let (emulator, address) = one_device("device-f").await;
    let mut hub = hub(address, sas_config("device-f"), 4096);
    connected(&mut hub).await;
    emulator.fail_next_twin_requests("device-f", &[429, 503]);
    let started = tokio::time::Instant::now();
    hub.request_twin().await.unwrap();
    let Seen::Twin(document) = until(&mut hub, 15, |e| matches!(e, Seen::Twin(_))).await else {
        unreachable!()
    };
    // Waits of 1 s then 2 s (plus jitter) before the second and third try.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(3), "{waited:?}");
    assert!(document["desired"].is_object());
    let request_ids = emulator.twin_request_ids("device-f");
    assert_eq!(request_ids.len(), 3, "{request_ids:?}");
    assert!(request_ids[0] != request_ids[1] && request_ids[1] != request_ids[2]);
    assert_eq!(hub.stats().twin_resends, 2);

    // A status retrying cannot mend ends the request.
    emulator.fail_next_twin_requests("device-f", &[400]);
    hub.report_properties(b"{\"a\":1}").await.unwrap();
    assert_eq!(
        until(&mut hub, 5, |e| matches!(e, Seen::TwinRequestFailed(_))).await,
        Seen::TwinRequestFailed(400)
    );
    hub.report_properties(b"{\"a\":2}").await.unwrap();
    until(&mut hub, 5, |e| matches!(e, Seen::ReportedAccepted(_))).await;
    assert_eq!(emulator.reported("device-f")["a"], 2);
}

#[tokio::test]
async fn dps_retries_throttling_and_server_errors_and_stops_at_a_refusal() {
    let dps = Dps {
        polls_before_assigned: 0,
        ..Dps::new("0ne00000003", HUB_HOST).with_enrollment(Enrollment::Group {
            key: KEY.to_owned(),
        })
    };
    let (emulator, address) = emulator_with(Config::new(HUB_HOST).with_dps(dps)).await;
    let soft = duet::crypto::soft::Soft::<4>::new();
    let key_of = |registration_id: &str| -> &'static str {
        let mut derived = [0u8; 64];
        let n =
            duet_azure::sas::derive_device_key(&soft, KEY, registration_id, &mut derived).unwrap();
        String::leak(String::from_utf8(derived[..n].to_vec()).unwrap())
    };
    emulator.fail_next_dps_requests(&[429, 503]);
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000003",
        "retrier",
        Credential::SymmetricKey(key_of("retrier")),
    );
    let started = tokio::time::Instant::now();
    let assignment = provisioning(address, config)
        .register()
        .await
        .map(|a| a.device_id.to_owned());
    assert_eq!(assignment.as_deref(), Ok("retrier"));
    assert!(started.elapsed() >= Duration::from_secs(3));

    emulator.fail_next_dps_requests(&[401]);
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000003",
        "refused",
        Credential::SymmetricKey(key_of("refused")),
    );
    assert_eq!(
        provisioning(address, config).register().await.unwrap_err(),
        ProvisioningError::Refused {
            status: 401,
            error_code: 401_001
        }
    );
}

#[tokio::test]
async fn dps_ends_the_flow_when_its_answers_cannot_be_subscribed_to() {
    let dps = Dps {
        polls_before_assigned: 0,
        ..Dps::new("0ne00000004", HUB_HOST).with_enrollment(Enrollment::Individual {
            registration_id: "sub-refused".to_owned(),
            key: KEY.to_owned(),
        })
    };
    let (emulator, address) = emulator_with(Config::new(HUB_HOST).with_dps(dps)).await;
    emulator.refuse_next_dps_subscription(RESPONSE_SUBSCRIBE_TOPIC);
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000004",
        "sub-refused",
        Credential::SymmetricKey(KEY),
    );
    let mut client = provisioning(address, config);
    // No answer could come: the flow ends at once rather than waiting.
    let refused = tokio::time::timeout(Duration::from_secs(10), client.register()).await;
    assert_eq!(
        refused
            .expect("register() returned")
            .map(|a| a.device_id.to_owned()),
        Err(ProvisioningError::SubscriptionRefused { reason_code: 0x80 })
    );
    // The next attempt is granted its subscription and assigned.
    let assignment = client.register().await.map(|a| a.device_id.to_owned());
    assert_eq!(assignment.as_deref(), Ok("sub-refused"));
}

#[tokio::test]
async fn dps_x509_enrollment_then_hub_with_the_same_certificate() {
    let dps = Dps {
        polls_before_assigned: 0,
        ..Dps::new("0ne00000004", HUB_HOST).with_enrollment(Enrollment::X509 {
            registration_id: "device-01".to_owned(),
        })
    };
    let (emulator, address) = emulator_with(Config::new(HUB_HOST).with_dps(dps)).await;
    let (soft, chain) = device_identity::device_provider();
    let provider = device::leak(soft);
    let chain: Vec<&'static [u8]> = chain.into_iter().map(|der| &*Vec::leak(der)).collect();
    let certificate = duet::tls::ClientCertificate {
        chain: Vec::leak(chain),
        key: device_identity::DEVICE_KEY,
    };
    let transport = device::tls(
        device::TokioTcp(address),
        device::DPS_HOST,
        provider,
        Some(certificate),
        12,
    );
    let config = ProvisioningConfig::new(
        device::DPS_HOST,
        "0ne00000004",
        "device-01",
        Credential::X509,
    );
    let mut dps = device::provisioning_with(transport, provider, config);
    let assignment = dps.register().await.expect("assigned by certificate");
    assert_eq!(assignment.device_id, "device-01");
    let transport = device::tls(
        device::TokioTcp(address),
        HUB_HOST,
        provider,
        Some(certificate),
        13,
    );
    let mut hub = device::hub_with(
        transport,
        provider,
        HubConfig::new(HUB_HOST, "device-01", Credential::X509),
        4096,
    );
    connected(&mut hub).await;
    assert!(emulator.is_connected("device-01"));
}

#[tokio::test]
async fn plug_and_play_model_id_and_a_writable_property_acknowledgement() {
    use duet_azure::hub::pnp;
    use duet_azure::json::JsonWriter;

    let (emulator, address) = one_device("device-g").await;
    let mut config = sas_config("device-g");
    config.model_id = "dtmi:com:example:TemperatureController;2";
    let mut hub = hub(address, config, 4096);
    connected(&mut hub).await;
    assert_eq!(
        emulator.model_id("device-g").as_deref(),
        Some("dtmi:com:example:TemperatureController;2")
    );
    let version = emulator.patch_desired(
        "device-g",
        json!({"thermostat1": {"__t": "c", "targetTemperature": 23}}),
    );
    until(&mut hub, 5, |e| matches!(e, Seen::DesiredUpdate(..))).await;
    // Acknowledge it in the component, as the PnP convention has it.
    let mut out = [0u8; 256];
    let mut writer = JsonWriter::new(&mut out);
    writer.begin_object().unwrap();
    pnp::begin_component(&mut writer, "thermostat1").unwrap();
    pnp::begin_response_status(
        &mut writer,
        "targetTemperature",
        200,
        version as i32,
        "applied",
    )
    .unwrap();
    writer.int32(23).unwrap();
    pnp::end_response_status(&mut writer).unwrap();
    pnp::end_component(&mut writer).unwrap();
    writer.end_object().unwrap();
    let patch = writer.as_str().as_bytes().to_vec();
    hub.report_properties(&patch).await.unwrap();
    until(&mut hub, 5, |e| matches!(e, Seen::ReportedAccepted(_))).await;
    assert_eq!(
        emulator.reported("device-g")["thermostat1"],
        json!({"__t": "c", "targetTemperature": {"ac": 200, "av": version, "ad": "applied", "value": 23}})
    );
}
