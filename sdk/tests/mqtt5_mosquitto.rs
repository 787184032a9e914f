//! MQTT 5.0's own features against a real mosquitto: what the codec writes
//! must mean to a broker what the spec says, and what the broker sends back
//! must be read as it meant it. Subscription options (No Local, Retain As
//! Published, the three Retain Handling choices), Subscription Identifiers
//! on the messages they matched, the request/response and payload
//! properties passed from publisher to subscriber unchanged, shared
//! subscriptions splitting a stream, and the server's Receive Maximum and
//! Maximum Packet Size bounding what the session sends.
//!
//! Each test starts its own mosquitto (`common/mosquitto.rs`), driven by
//! the session engine over std TCP (`common/session_client.rs`).

use std::time::Duration as StdDuration;

use duet::mqtt::codec::{Properties, Property, Publish, RetainHandling, SubscribeOptions};
use duet::mqtt::{ProtocolVersion, QoS, SessionError};

#[path = "common/mosquitto.rs"]
mod mosquitto;
#[allow(dead_code)]
#[path = "common/session_client.rs"]
mod session_client;
use mosquitto::Broker;
use session_client::{Client, Got, MessageProperties};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// The messages in `got`: topic, payload, retain flag and properties.
fn received(got: &[Got]) -> Vec<(String, Vec<u8>, bool, MessageProperties)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Message {
                topic,
                payload,
                retain,
                properties,
                ..
            } => Some((topic.clone(), payload.clone(), *retain, properties.clone())),
            _ => None,
        })
        .collect()
}

/// Everything `client` receives within `wait`.
fn drain(client: &mut Client, wait: u64) -> Vec<(String, Vec<u8>, bool, MessageProperties)> {
    received(&client.pump(StdDuration::from_millis(wait), |_| false))
}

fn subscribe(client: &mut Client, filter: &str, options: SubscribeOptions, id: Option<u32>) {
    let property = id.map(Property::SubscriptionIdentifier);
    let granted = client.subscribe_with(filter, options, Properties::List(property.as_slice()));
    assert_eq!(granted, [options.qos as u8], "SUBACK for {filter}");
}

/// QoS 1 with `retain_handling`.
fn handling(retain_handling: RetainHandling) -> SubscribeOptions {
    SubscribeOptions {
        retain_handling,
        ..SubscribeOptions::qos(QoS::AtLeastOnce)
    }
}

#[test]
fn retain_handling_and_subscription_identifiers_mean_what_the_spec_says() {
    let broker = Broker::start("");
    let mut publisher = Client::connect(&broker, V5, "duet5-pub", 30);
    publisher.publish("r/x", b"retained", QoS::AtLeastOnce, true);
    let mut sub = Client::connect(&broker, V5, "duet5-sub", 30);

    // Retain Handling 2: the retained message is not sent.
    subscribe(
        &mut sub,
        "r/#",
        handling(RetainHandling::DoNotSend),
        Some(7),
    );
    assert_eq!(drain(&mut sub, 300), []);
    // 0: sent at subscribe time, retain set, carrying this subscription's
    // identifier.
    subscribe(
        &mut sub,
        "r/x",
        handling(RetainHandling::SendOnSubscribe),
        Some(9),
    );
    let got = received(&sub.wait_for(|g| matches!(g, Got::Message { .. })));
    let [(topic, payload, retain, properties)] = &got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(
        (topic.as_str(), payload.as_slice(), *retain),
        ("r/x", &b"retained"[..], true)
    );
    assert_eq!(properties.subscription_ids, [9]);
    // 1: sent only for a new subscription, and this one exists.
    subscribe(
        &mut sub,
        "r/x",
        handling(RetainHandling::SendIfNew),
        Some(9),
    );
    assert_eq!(drain(&mut sub, 300), []);

    // A live message matching both subscriptions: mosquitto sends one copy
    // per subscription (5.0 §3.3.4 allows it), each with its identifier.
    publisher.publish("r/x", b"live", QoS::AtLeastOnce, false);
    let mut got = drain(&mut sub, 500);
    got.sort_by_key(|m| m.3.subscription_ids.clone());
    let ids: Vec<Vec<u32>> = got.iter().map(|m| m.3.subscription_ids.clone()).collect();
    assert_eq!(ids, [[7], [9]], "{got:?}");
    assert!(got.iter().all(|m| m.1 == b"live" && !m.2));
}

#[test]
fn no_local_and_retain_as_published_mean_what_the_spec_says() {
    let broker = Broker::start("");
    let mut own = Client::connect(&broker, V5, "duet5-own", 30);
    let no_local = SubscribeOptions {
        no_local: true,
        ..SubscribeOptions::qos(QoS::AtLeastOnce)
    };
    subscribe(&mut own, "n/x", no_local, None);
    // Our own publish does not come back; another client's does.
    own.publish("n/x", b"mine", QoS::AtLeastOnce, false);
    assert_eq!(drain(&mut own, 300), []);
    let mut other = Client::connect(&broker, V5, "duet5-other", 30);
    other.publish("n/x", b"theirs", QoS::AtLeastOnce, false);
    let got = received(&own.wait_for(|g| matches!(g, Got::Message { .. })));
    assert_eq!(
        got.iter().map(|m| m.1.as_slice()).collect::<Vec<_>>(),
        [b"theirs"]
    );

    // A live retained publish: its retain flag reaches a Retain As
    // Published subscriber, and is cleared for the others (§3.3.1.3).
    let as_published = SubscribeOptions {
        retain_as_published: true,
        ..SubscribeOptions::qos(QoS::AtLeastOnce)
    };
    subscribe(&mut own, "p/x", as_published, None);
    let mut plain = Client::connect(&broker, V5, "duet5-plain", 30);
    subscribe(
        &mut plain,
        "p/x",
        SubscribeOptions::qos(QoS::AtLeastOnce),
        None,
    );
    other.publish("p/x", b"kept", QoS::AtLeastOnce, true);
    let flag = |client: &mut Client| {
        let got = received(&client.wait_for(|g| matches!(g, Got::Message { .. })));
        let [(_, payload, retain, _)] = &got[..] else {
            panic!("{got:?}")
        };
        assert_eq!(payload, b"kept");
        *retain
    };
    assert!(flag(&mut own));
    assert!(!flag(&mut plain));
}

#[test]
fn request_response_and_payload_properties_pass_through_unchanged() {
    let broker = Broker::start("");
    let mut responder = Client::connect(&broker, V5, "duet5-responder", 30);
    subscribe(
        &mut responder,
        "req/temp",
        SubscribeOptions::qos(QoS::ExactlyOnce),
        None,
    );
    let mut requester = Client::connect(&broker, V5, "duet5-requester", 30);
    let properties = [
        Property::PayloadFormatIndicator(1),
        Property::MessageExpiryInterval(600),
        Property::ContentType("application/json"),
        Property::ResponseTopic("resp/duet5-requester"),
        Property::CorrelationData(&[0xde, 0xad, 0x00, 0xbe, 0xef]),
        Property::UserProperty("unit", "°C"),
        Property::UserProperty("unit", "K"),
        Property::UserProperty("sensor", "s-01"),
    ];
    requester.publish_with(&Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "req/temp",
        packet_id: 0,
        properties: Properties::List(&properties),
        payload: br#"{"want":"temperature"}"#,
    });
    let got = received(&responder.wait_for(|g| matches!(g, Got::Message { .. })));
    let [(_, payload, _, received)] = &got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(payload, br#"{"want":"temperature"}"#);
    // User Properties keep their order and repeats (§3.3.2.3.7); the
    // expiry is what is left of it, at most what was sent.
    let expiry = received.message_expiry.expect("an expiry");
    assert!((590..=600).contains(&expiry), "{expiry}");
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(
        *received,
        MessageProperties {
            subscription_ids: vec![],
            user: vec![
                pair("unit", "°C"),
                pair("unit", "K"),
                pair("sensor", "s-01")
            ],
            response_topic: Some("resp/duet5-requester".into()),
            correlation_data: Some(vec![0xde, 0xad, 0x00, 0xbe, 0xef]),
            content_type: Some("application/json".into()),
            payload_format: Some(1),
            message_expiry: Some(expiry),
        }
    );
}

#[test]
fn a_shared_subscription_splits_a_stream_between_its_members() {
    let broker = Broker::start("");
    let mut members = [
        Client::connect(&broker, V5, "duet5-worker-a", 30),
        Client::connect(&broker, V5, "duet5-worker-b", 30),
    ];
    for member in &mut members {
        subscribe(
            member,
            "$share/workers/jobs/+",
            SubscribeOptions::qos(QoS::AtLeastOnce),
            None,
        );
    }
    let mut producer = Client::connect(&broker, V5, "duet5-producer", 30);
    const JOBS: usize = 40;
    for job in 0..JOBS {
        producer.publish(
            &format!("jobs/{}", job % 4),
            format!("job {job}").as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
    }
    let mut taken: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    for _ in 0..20 {
        for (member, taken) in members.iter_mut().zip(&mut taken) {
            taken.extend(
                drain(member, 50)
                    .into_iter()
                    .map(|m| String::from_utf8(m.1).unwrap()),
            );
        }
    }
    // Each job went to exactly one member, and both members had work.
    let mut all: Vec<String> = taken.concat();
    all.sort();
    let mut want: Vec<String> = (0..JOBS).map(|job| format!("job {job}")).collect();
    want.sort();
    assert_eq!(all, want);
    assert!(taken.iter().all(|t| !t.is_empty()), "{taken:?}");
}

#[test]
fn the_servers_maximum_qos_and_retain_available_bound_what_is_sent() {
    let broker = Broker::start("max_qos 1\nretain_available false\n");
    let mut client = Client::connect(&broker, V5, "duet5-terms", 30);
    let mut out = [0u8; 512];
    let now = client.now();
    let qos2 = Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "t/x",
        packet_id: 0,
        properties: Properties::EMPTY,
        payload: b"exactly once",
    };
    // CONNACK said Maximum QoS 1 and Retain Available 0, and mosquitto
    // would close the connection on a QoS 2 (0x9B) or retained (0x9A)
    // PUBLISH: the session refuses both with typed errors instead.
    assert_eq!(
        client.session.publish(now, &qos2, &mut out),
        Err(SessionError::QoSNotSupported)
    );
    let retained = Publish {
        qos: QoS::AtLeastOnce,
        retain: true,
        ..qos2
    };
    assert_eq!(
        client.session.publish(now, &retained, &mut out),
        Err(SessionError::RetainNotSupported)
    );
    // What the server takes goes through on the same connection.
    let got = client.publish("t/x", b"at least once", QoS::AtLeastOnce, false);
    assert!(matches!(got.last(), Some(Got::Published(_))), "{got:?}");
}

#[test]
fn the_servers_receive_maximum_and_maximum_packet_size_bound_what_is_sent() {
    let broker = Broker::start("max_inflight_messages 2\nmax_packet_size 200\n");
    let mut client = Client::connect(&broker, V5, "duet5-bounded", 30);
    // CONNACK said Receive Maximum 2: the third QoS 1 publish waits for an
    // acknowledgement rather than overrun the server.
    assert_eq!(client.session.window(), 2);
    let publish = |payload: &'static [u8]| Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "b/x",
        packet_id: 0,
        properties: Properties::EMPTY,
        payload,
    };
    let now = client.now();
    let mut out = [0u8; 512];
    for _ in 0..2 {
        client
            .session
            .publish(now, &publish(b"one of two"), &mut out)
            .unwrap();
    }
    assert_eq!(
        client.session.publish(now, &publish(b"a third"), &mut out),
        Err(SessionError::WindowFull)
    );
    // CONNACK said Maximum Packet Size 200: a bigger PUBLISH is refused
    // here, with a typed error, instead of costing the connection (5.0
    // §3.1.2.11.4); one that fits goes through.
    let mut client = Client::connect(&broker, V5, "duet5-sized", 30);
    let big = [0x42u8; 200];
    let now = client.now();
    let too_big = Publish {
        payload: &big,
        ..publish(b"")
    };
    assert_eq!(
        client.session.publish(now, &too_big, &mut out),
        Err(SessionError::PacketTooLarge)
    );
    let fits = [0x42u8; 150];
    let got = client.publish("b/x", &fits, QoS::AtLeastOnce, false);
    assert!(matches!(got.last(), Some(Got::Published(_))));
}
