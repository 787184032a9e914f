//! The device with a broker of its own rather than Azure: Duet's MQTT
//! client over Duet's TCP to any MQTT 3.1.1 broker (mosquitto, say). It
//! subscribes to its own topic, publishes numbered messages there at the
//! same QoS, and counts them back: at QoS 1 each must come back at least
//! once, at QoS 2 exactly once, however often the connection dies on the
//! way (the client reconnects with backoff, resumes its session and resends
//! what was not acknowledged).

use std::collections::BTreeSet;

use duet::mqtt::codec::{Connect, Properties};
use duet::mqtt::{Backoff, Client, ClientBuffers, ClientEvent, ProtocolVersion, QoS};
use duet::netstack::time::Duration;
use duet_netstack::asynch;

use crate::device::{Network, TcpTo, Ticks};

/// The broker's plain MQTT port (no TLS).
pub const MQTT_PORT: u16 = 1883;

/// Publishes the client keeps in flight.
const WINDOW: usize = 20;

/// What came of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Echoes {
    pub acknowledged: u32,
    /// Distinct message numbers that came back.
    pub received: u32,
    /// Messages that came back more than once (QoS 1 allows it, 2 not).
    pub duplicates: u32,
    pub connections: u32,
}

/// Publishes `count` numbered messages at `qos` to `duet/<client_id>/echo`
/// on the broker at `host`:`port`, subscribed to the same topic at `qos`,
/// until every one is acknowledged and has come back; then disconnects
/// cleanly.
pub async fn run(
    stack: asynch::Stack<'static>,
    network: &Network,
    (host, port): (&'static str, u16),
    client_id: &str,
    (count, qos): (u32, QoS),
    report: &dyn Fn(String),
) -> Result<Echoes, String> {
    let topic = format!("duet/{client_id}/echo");
    let connector = TcpTo {
        stack,
        host,
        port,
        dns_server: network.dns_server,
        last_failure: None,
    };
    let connect = Connect {
        version: ProtocolVersion::V311,
        // A session the broker keeps across connections: the subscription
        // and the messages it could not deliver wait for the next one.
        clean_start: false,
        keep_alive: 30,
        properties: Properties::EMPTY,
        client_id,
        will: None,
        username: None,
        password: None,
    };
    let backoff = Backoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(5),
    };
    let (mut receive, mut send, mut outbox) =
        (vec![0u8; 4096], vec![0u8; 4096], vec![0u8; 64 * 1024]);
    let buffers = ClientBuffers {
        receive: &mut receive,
        send: &mut send,
        outbox: &mut outbox,
        topic_aliases: [],
    };
    let mut client: Client<'_, TcpTo, Ticks, WINDOW, WINDOW> = Client::new(
        connector,
        Ticks,
        connect,
        backoff,
        buffers,
        crate::device::seed() as u32,
    );
    let mut echoes = Echoes::default();
    let mut seen = BTreeSet::new();
    let mut published = false;
    while echoes.acknowledged < count || seen.len() < count as usize {
        match client.poll().await.map_err(|e| format!("MQTT: {e:?}"))? {
            ClientEvent::Connected { session_present } => {
                echoes.connections += 1;
                report(format!(
                    "device: connected to the broker {host}:{port} (session present: {session_present})"
                ));
                if !session_present {
                    client
                        .subscribe(&topic, qos)
                        .await
                        .map_err(|e| format!("subscribe: {e:?}"))?;
                }
            }
            ClientEvent::Subscribed { .. } if !published => {
                // Every publish at once: the outbox holds them, the window
                // lets WINDOW at a time go out.
                for n in 0..count {
                    client
                        .publish(&topic, format!("n{n}").as_bytes(), qos)
                        .await
                        .map_err(|e| format!("publish: {e:?}"))?;
                }
                published = true;
                report(format!(
                    "device: {count} messages published to {topic} at {qos:?}"
                ));
            }
            ClientEvent::Published { .. } => echoes.acknowledged += 1,
            ClientEvent::Message(message) => match message_number(message.payload) {
                Some(n) if seen.insert(n) => {
                    if seen.len() % 50 == 0 {
                        report(format!("device: {} of {count} came back", seen.len()));
                    }
                }
                Some(_) => echoes.duplicates += 1,
                None => report(format!("device: a stranger's message on {topic}")),
            },
            ClientEvent::ConnectFailed => {
                let below = client.connector().last_failure.as_deref().unwrap_or("none");
                report(format!(
                    "device: connecting to the broker failed ({below}); retrying with backoff"
                ));
            }
            ClientEvent::Disconnected => report("device: disconnected; reconnecting".into()),
            _ => {}
        }
    }
    client.disconnect().await;
    echoes.received = seen.len() as u32;
    Ok(echoes)
}

/// The number of a message `n<number>`.
fn message_number(payload: &[u8]) -> Option<u32> {
    std::str::from_utf8(payload)
        .ok()?
        .strip_prefix('n')?
        .parse()
        .ok()
}
