//! The MQTT codec and session engine against a real mosquitto, over std
//! TCP: publish/subscribe at QoS 0, 1 and 2, retained messages and clearing them, keepalive,
//! unsubscribe, `$SYS` topics and `#`, zero-length client ids, resumed
//! sessions and will messages, in MQTT 3.1.1 and 5.0.
//!
//! Each test starts its own mosquitto (`common/mosquitto.rs`) and kills it
//! when done.

use std::io::Write;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use duet::mqtt::codec::{Connect, Properties, Property, Will};
use duet::mqtt::session::State;
use duet::mqtt::{ProtocolVersion, QoS, Session};

#[path = "common/mosquitto.rs"]
mod mosquitto;
#[allow(dead_code)]
#[path = "common/session_client.rs"]
mod session_client;
use mosquitto::Broker;
use session_client::{Client, Got, basic_connect, messages};

fn publish_subscribe_at_every_qos(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut subscriber = Client::connect(&broker, version, "duet-sub", 30);
    assert_eq!(subscriber.subscribe("duet/test/#", QoS::ExactlyOnce), [2]);
    let mut publisher = Client::connect(&broker, version, "duet-pub", 30);
    let qos_levels = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for round in 0..5 {
        for qos in qos_levels {
            let payload = format!("round {round} qos {}", qos as u8);
            publisher.publish(
                &format!("duet/test/q{}", qos as u8),
                payload.as_bytes(),
                qos,
                false,
            );
        }
    }
    let mut received = Vec::new();
    let expected = 15;
    let deadline = StdInstant::now() + StdDuration::from_secs(10);
    while received.len() < expected && StdInstant::now() < deadline {
        received.extend(messages(
            &subscriber.pump(StdDuration::from_millis(100), |_| false),
        ));
    }
    // Anything resent would arrive now.
    received.extend(messages(
        &subscriber.pump(StdDuration::from_millis(300), |_| false),
    ));
    let mut want = Vec::new();
    for round in 0..5 {
        for qos in qos_levels {
            let payload = format!("round {round} qos {}", qos as u8).into_bytes();
            want.push((format!("duet/test/q{}", qos as u8), payload, qos, false));
        }
    }
    // Per-topic order is preserved; across QoS levels the broker may interleave.
    received.sort();
    want.sort();
    assert_eq!(received, want);
    assert_eq!(subscriber.session.state(), State::Connected);
}

fn retained_message_reaches_a_later_subscriber_until_cleared(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut publisher = Client::connect(&broker, version, "duet-retainer", 30);
    publisher.publish("duet/retained", b"last known state", QoS::AtLeastOnce, true);
    let mut late = Client::connect(&broker, version, "duet-late", 30);
    assert_eq!(late.subscribe("duet/+", QoS::AtLeastOnce), [1]);
    let got = late.wait_for(|g| matches!(g, Got::Message { .. }));
    assert_eq!(
        messages(&got),
        [(
            "duet/retained".to_string(),
            b"last known state".to_vec(),
            QoS::AtLeastOnce,
            true
        )]
    );
    // An empty retained payload clears it (3.1.1 §3.3.1.3, 5.0 §3.3.1.3):
    // a subscriber after that gets no retained message first, only the
    // live one published after it subscribed.
    publisher.publish("duet/retained", b"", QoS::AtLeastOnce, true);
    let mut later = Client::connect(&broker, version, "duet-later", 30);
    assert_eq!(later.subscribe("duet/+", QoS::AtLeastOnce), [1]);
    publisher.publish("duet/live", b"now", QoS::AtLeastOnce, false);
    let got = later.wait_for(|g| matches!(g, Got::Message { .. }));
    assert_eq!(
        messages(&got),
        [(
            "duet/live".to_string(),
            b"now".to_vec(),
            QoS::AtLeastOnce,
            false
        )]
    );
}

fn idle_client_kept_alive(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut idle = Client::connect(&broker, version, "duet-idle", 1);
    // mosquitto drops a client silent for 1.5 × keepalive; stay 3.5 × keepalive.
    let got = idle.pump(StdDuration::from_millis(3500), |_| false);
    assert!(got.is_empty(), "{got:?}");
    assert!(idle.pings_sent >= 3, "only {} PINGREQs", idle.pings_sent);
    assert_eq!(idle.session.state(), State::Connected);
    // Still connected from the broker's side: a QoS 1 round trip works.
    idle.publish("duet/alive", b"yes", QoS::AtLeastOnce, false);
}

fn unsubscribe_stops_delivery(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut client = Client::connect(&broker, version, "duet-unsub", 30);
    assert_eq!(client.subscribe("duet/u/+", QoS::AtLeastOnce), [1]);
    // The broker may deliver our own message before or after its PUBACK.
    let mut got = client.publish("duet/u/1", b"before", QoS::AtLeastOnce, false);
    if messages(&got).is_empty() {
        got = client.wait_for(|g| matches!(g, Got::Message { .. }));
    }
    assert_eq!(messages(&got).len(), 1);
    let now = client.now();
    let (n, _) = client
        .session
        .unsubscribe(now, &["duet/u/+"], &mut client.out)
        .unwrap();
    client.stream.write_all(&client.out[..n]).unwrap();
    client.wait_for(|g| *g == Got::Unsubscribed);
    let mut got = client.publish("duet/u/1", b"after", QoS::AtLeastOnce, false);
    got.extend(client.pump(StdDuration::from_millis(300), |_| false));
    assert!(messages(&got).is_empty(), "{got:?}");
}

fn dollar_sys_not_matched_by_hash(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut everything = Client::connect(&broker, version, "duet-hash", 30);
    assert_eq!(everything.subscribe("#", QoS::AtMostOnce), [0]);
    let mut sys = Client::connect(&broker, version, "duet-sys", 30);
    assert_eq!(sys.subscribe("$SYS/broker/version", QoS::AtMostOnce), [0]);
    // mosquitto keeps $SYS topics retained: an explicit subscription gets one.
    let got = sys.wait_for(|g| matches!(g, Got::Message { .. }));
    assert!(messages(&got).iter().all(|m| m.0 == "$SYS/broker/version"));
    let got = everything.pump(StdDuration::from_millis(500), |_| false);
    assert!(
        messages(&got).iter().all(|m| !m.0.starts_with('$')),
        "{got:?}"
    );
}

fn resumed_session_receives_offline_messages(version: ProtocolVersion) {
    let broker = Broker::start("");
    // 5.0 §3.1.2.11.2: without a Session Expiry Interval the session ends
    // with the connection.
    const KEEP: &[Property<'static>] = &[
        Property::ReceiveMaximum(8),
        Property::SessionExpiryInterval(300),
    ];
    let connect = Connect {
        properties: match version {
            ProtocolVersion::V311 => Properties::EMPTY,
            ProtocolVersion::V5 => Properties::List(KEEP),
        },
        // 3.1.1 §3.1.2.4: a Clean Session connection's session ends with it,
        // so even the first connection asks for a persistent one.
        clean_start: version == ProtocolVersion::V5,
        ..basic_connect(version, "duet-resume", 30)
    };
    let (mut sub, present, _) = Client::open(&broker, Session::new(), &connect);
    assert!(!present);
    assert_eq!(sub.subscribe("duet/offline/#", QoS::ExactlyOnce), [2]);
    let session = sub.close_cleanly();
    std::thread::sleep(StdDuration::from_millis(100));
    let mut publisher = Client::connect(&broker, version, "duet-offline-pub", 30);
    publisher.publish("duet/offline/1", b"one", QoS::AtLeastOnce, false);
    publisher.publish("duet/offline/2", b"two", QoS::ExactlyOnce, false);
    publisher.publish("duet/offline/0", b"zero", QoS::AtMostOnce, false);
    let resume = Connect {
        clean_start: false,
        ..connect
    };
    let (mut sub, present, _) = Client::open(&broker, session, &resume);
    assert!(present, "the broker kept the session");
    let mut received = Vec::new();
    let deadline = StdInstant::now() + StdDuration::from_secs(10);
    while received.len() < 2 && StdInstant::now() < deadline {
        received.extend(messages(
            &sub.pump(StdDuration::from_millis(100), |_| false),
        ));
    }
    received.extend(messages(
        &sub.pump(StdDuration::from_millis(300), |_| false),
    ));
    received.sort();
    // QoS 0 messages are not queued for an offline client (mosquitto's
    // default `queue_qos0_messages false`); QoS 1 and 2 are, once each.
    assert_eq!(
        received,
        [
            (
                "duet/offline/1".to_string(),
                b"one".to_vec(),
                QoS::AtLeastOnce,
                false
            ),
            (
                "duet/offline/2".to_string(),
                b"two".to_vec(),
                QoS::ExactlyOnce,
                false
            ),
        ]
    );
}

fn will_published_on_abrupt_close_only(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut watcher = Client::connect(&broker, version, "duet-watcher", 30);
    assert_eq!(watcher.subscribe("duet/will/#", QoS::AtLeastOnce), [1]);
    for (id, abrupt) in [("clean", false), ("abrupt", true)] {
        let topic = format!("duet/will/{id}");
        let connect = Connect {
            will: Some(Will {
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Properties::EMPTY,
                topic: &topic,
                payload: b"gone",
            }),
            ..basic_connect(version, id, 30)
        };
        let (client, _, _) = Client::open(&broker, Session::new(), &connect);
        if abrupt {
            // The TCP connection ends without DISCONNECT (§3.1.2.5).
            drop(client);
        } else {
            client.close_cleanly();
        }
    }
    let mut received = Vec::new();
    let deadline = StdInstant::now() + StdDuration::from_secs(10);
    while received.is_empty() && StdInstant::now() < deadline {
        received.extend(messages(
            &watcher.pump(StdDuration::from_millis(100), |_| false),
        ));
    }
    received.extend(messages(
        &watcher.pump(StdDuration::from_millis(500), |_| false),
    ));
    assert_eq!(
        received,
        [(
            "duet/will/abrupt".to_string(),
            b"gone".to_vec(),
            QoS::AtLeastOnce,
            false
        )]
    );
}

#[test]
fn v311_resumed_session_delivers_offline_qos1_and_qos2() {
    resumed_session_receives_offline_messages(ProtocolVersion::V311);
}

#[test]
fn v5_resumed_session_delivers_offline_qos1_and_qos2() {
    resumed_session_receives_offline_messages(ProtocolVersion::V5);
}

#[test]
fn v311_will_on_abrupt_close_not_on_disconnect() {
    will_published_on_abrupt_close_only(ProtocolVersion::V311);
}

#[test]
fn v5_will_on_abrupt_close_not_on_disconnect() {
    will_published_on_abrupt_close_only(ProtocolVersion::V5);
}

fn overlapping_subscriptions_deliver_once(version: ProtocolVersion) {
    let broker = Broker::start("");
    let mut sub = Client::connect(&broker, version, "duet-overlap", 30);
    assert_eq!(sub.subscribe("duet/o/#", QoS::AtLeastOnce), [1]);
    assert_eq!(sub.subscribe("duet/o/+", QoS::ExactlyOnce), [2]);
    let mut publisher = Client::connect(&broker, version, "duet-overlap-pub", 30);
    publisher.publish("duet/o/x", b"once", QoS::ExactlyOnce, false);
    let mut received = messages(&sub.wait_for(|g| matches!(g, Got::Message { .. })));
    received.extend(messages(
        &sub.pump(StdDuration::from_millis(300), |_| false),
    ));
    // At least one copy at the highest QoS among the matching subscriptions
    // (3.1.1 §3.3.5, 5.0 §3.3.4). 5.0 also allows a further copy per
    // subscription, and mosquitto 2.0 sends them to 5.0 clients only.
    received.sort();
    let once = (
        "duet/o/x".to_string(),
        b"once".to_vec(),
        QoS::ExactlyOnce,
        false,
    );
    let mut want = vec![once.clone()];
    if version == ProtocolVersion::V5 {
        want.insert(0, (once.0, once.1, QoS::AtLeastOnce, false));
    }
    assert_eq!(received, want);
}

#[test]
fn v311_overlapping_subscriptions() {
    overlapping_subscriptions_deliver_once(ProtocolVersion::V311);
}

#[test]
fn v5_overlapping_subscriptions() {
    overlapping_subscriptions_deliver_once(ProtocolVersion::V5);
}

#[test]
fn v311_unsubscribe() {
    unsubscribe_stops_delivery(ProtocolVersion::V311);
}

#[test]
fn v5_unsubscribe() {
    unsubscribe_stops_delivery(ProtocolVersion::V5);
}

#[test]
fn v311_dollar_sys_not_matched_by_hash() {
    dollar_sys_not_matched_by_hash(ProtocolVersion::V311);
}

#[test]
fn v5_dollar_sys_not_matched_by_hash() {
    dollar_sys_not_matched_by_hash(ProtocolVersion::V5);
}

#[test]
fn zero_length_client_id() {
    let broker = Broker::start("");
    // 3.1.1 §3.1.3.1: accepted with a clean session; no id is reported.
    let (mut v3, assigned) = Client::connect_assigned(&broker, ProtocolVersion::V311, "", 30);
    assert_eq!(assigned, None);
    v3.publish("duet/anon", b"v3", QoS::AtLeastOnce, false);
    // 5.0 §3.2.2.3.7: the server assigns one and says which.
    let (mut v5, assigned) = Client::connect_assigned(&broker, ProtocolVersion::V5, "", 30);
    assert!(assigned.is_some_and(|id| !id.is_empty()));
    v5.publish("duet/anon", b"v5", QoS::ExactlyOnce, false);
}

#[test]
fn v311_publish_subscribe_at_qos_0_1_2() {
    publish_subscribe_at_every_qos(ProtocolVersion::V311);
}

#[test]
fn v5_publish_subscribe_at_qos_0_1_2() {
    publish_subscribe_at_every_qos(ProtocolVersion::V5);
}

#[test]
fn v311_retained_message() {
    retained_message_reaches_a_later_subscriber_until_cleared(ProtocolVersion::V311);
}

#[test]
fn v5_retained_message() {
    retained_message_reaches_a_later_subscriber_until_cleared(ProtocolVersion::V5);
}

#[test]
fn v311_keepalive_past_three_intervals() {
    idle_client_kept_alive(ProtocolVersion::V311);
}

#[test]
fn v5_keepalive_past_three_intervals() {
    idle_client_kept_alive(ProtocolVersion::V5);
}
