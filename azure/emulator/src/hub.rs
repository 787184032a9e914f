//! IoT Hub's side of one device's connection
//! (<https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub>):
//!
//! ```text
//! device → hub  devices/{id}/messages/events/{property_bag}            telemetry, QoS 0/1
//!               $iothub/methods/res/{status}/?$rid={rid}               method response
//!               $iothub/twin/GET/?$rid={rid}                           twin request
//!               $iothub/twin/PATCH/properties/reported/?$rid={rid}     reported patch
//! hub → device  devices/{id}/messages/devicebound/{property_bag}       C2D, QoS 1
//!               $iothub/methods/POST/{name}/?$rid={rid}                method request, QoS 0
//!               $iothub/twin/res/{status}/?$rid={rid}[&$version={v}]   twin response, QoS 0
//!               $iothub/twin/PATCH/properties/desired/?$version={v}    desired patch, QoS 0
//! ```
//! A device that publishes anywhere else (another device's topics
//! included) is disconnected, as the hub does.

use std::collections::HashMap;

use duet::mqtt::QoS;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::mqtt::OutPublish;
use crate::state::{C2dMessage, Command, Delivery, DeviceState, Shared};
use crate::subscriptions::Subscriptions;
use crate::{CloseReason, MethodResponse, Telemetry, Violation, url};

/// Cloud-to-device messages in flight on one connection at most (the hub
/// allows 50 unacknowledged per device).
const MAX_C2D_IN_FLIGHT: usize = 50;

/// What a device publishes, by topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceTopic<'t> {
    Telemetry {
        device_id: &'t str,
        properties: &'t str,
    },
    MethodResponse {
        status: i32,
        request_id: &'t str,
    },
    TwinGet {
        request_id: &'t str,
    },
    TwinPatchReported {
        request_id: &'t str,
    },
}

impl<'t> DeviceTopic<'t> {
    fn parse(topic: &'t str) -> Option<Self> {
        if let Some(rest) = topic.strip_prefix("devices/") {
            let (device_id, rest) = rest.split_once("/messages/events")?;
            let properties = match rest {
                "" => "",
                _ => rest.strip_prefix('/')?,
            };
            return Some(DeviceTopic::Telemetry {
                device_id,
                properties,
            });
        }
        if let Some(rest) = topic.strip_prefix("$iothub/methods/res/") {
            let (status, query) = rest.split_once("/?")?;
            if status.is_empty() || !status.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return None;
            }
            return Some(DeviceTopic::MethodResponse {
                status: status.parse().ok()?,
                request_id: request_id(query)?,
            });
        }
        let rest = topic.strip_prefix("$iothub/twin/")?;
        if let Some(query) = rest.strip_prefix("GET/?") {
            return Some(DeviceTopic::TwinGet {
                request_id: request_id(query)?,
            });
        }
        let query = rest.strip_prefix("PATCH/properties/reported/?")?;
        Some(DeviceTopic::TwinPatchReported {
            request_id: request_id(query)?,
        })
    }
}

/// The non-empty `$rid` of a topic's query.
fn request_id(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("$rid="))
        .filter(|rid| !rid.is_empty())
}

/// The hub side of one device's connection.
#[derive(Debug)]
pub(crate) struct HubDevice {
    device_id: String,
    connection: u64,
    /// Method requests sent and not yet answered, by `$rid`.
    methods: HashMap<String, oneshot::Sender<MethodResponse>>,
    next_request: u64,
    next_packet_id: u16,
}

impl HubDevice {
    pub(crate) fn new(device_id: String, connection: u64) -> Self {
        HubDevice {
            device_id,
            connection,
            methods: HashMap::new(),
            next_request: 1,
            next_packet_id: 1,
        }
    }

    /// Whether the hub takes a subscription to `filter`: its own `$iothub`
    /// topics and this device's (or any device's, `+`) cloud-to-device
    /// topic.
    pub(crate) fn allows_filter(&self, filter: &str) -> bool {
        filter.starts_with("$iothub/")
            || filter.starts_with("devices/+/messages/devicebound/")
            || filter
                .strip_prefix("devices/")
                .and_then(|rest| rest.strip_prefix(self.device_id.as_str()))
                .is_some_and(|rest| rest.starts_with("/messages/devicebound/"))
    }

    /// Whether a refusal of `filter` was injected
    /// ([`crate::Emulator::refuse_next_subscription`]); it is used up.
    pub(crate) fn refusal_injected(&self, shared: &Shared, filter: &str) -> bool {
        self.with_device(shared, |device| device.refused_filters.take(filter))
            .unwrap_or(false)
    }

    /// Handles a PUBLISH from the device.
    pub(crate) fn on_publish(
        &mut self,
        shared: &Shared,
        subscriptions: &Subscriptions,
        topic: &str,
        payload: &[u8],
        out: &mut Vec<OutPublish>,
    ) -> Result<(), CloseReason> {
        let forbidden = CloseReason::Violation(Violation::ForbiddenTopic);
        match DeviceTopic::parse(topic).ok_or(forbidden)? {
            DeviceTopic::Telemetry {
                device_id,
                properties,
            } => {
                if device_id != self.device_id {
                    return Err(forbidden);
                }
                let properties = url::parse_bag(properties).ok_or(forbidden)?;
                self.record_telemetry(shared, properties, payload);
            }
            DeviceTopic::MethodResponse { status, request_id } => {
                if let Some(reply) = self.methods.remove(request_id) {
                    let _ = reply.send(MethodResponse {
                        status,
                        payload: String::from_utf8_lossy(payload).into_owned(),
                    });
                }
            }
            DeviceTopic::TwinGet { request_id } => {
                if let Some(refusal) = self.note_twin_request(shared, request_id)? {
                    push_if_subscribed(out, subscriptions, refusal);
                    return Ok(());
                }
                let document = self.with_device(shared, |d| d.twin.document());
                let topic = format!("$iothub/twin/res/200/?$rid={request_id}");
                if let (Some(document), true) = (document, subscriptions.matches(&topic)) {
                    out.push(OutPublish::at_most_once(
                        topic,
                        document.to_string().into_bytes(),
                    ));
                }
            }
            DeviceTopic::TwinPatchReported { request_id } => {
                if let Some(refusal) = self.note_twin_request(shared, request_id)? {
                    push_if_subscribed(out, subscriptions, refusal);
                    return Ok(());
                }
                let applied = serde_json::from_slice::<Value>(payload)
                    .ok()
                    .and_then(|patch| {
                        self.with_device(shared, |d| d.twin.patch_reported(&patch).ok())
                            .flatten()
                    });
                let (topic, body) = match applied {
                    Some(version) => (
                        format!("$iothub/twin/res/204/?$rid={request_id}&$version={version}"),
                        Vec::new(),
                    ),
                    None => (
                        format!("$iothub/twin/res/400/?$rid={request_id}"),
                        br#"{"errorCode":400004,"message":"Malformed reported properties patch."}"#
                            .to_vec(),
                    ),
                };
                if subscriptions.matches(&topic) {
                    out.push(OutPublish::at_most_once(topic, body));
                }
            }
        }
        Ok(())
    }

    /// A PUBACK: the cloud-to-device message it acknowledges is done.
    pub(crate) fn on_puback(&mut self, shared: &Shared, packet_id: u16) {
        let delivery = Delivery {
            connection: self.connection,
            packet_id,
        };
        self.with_device(shared, |device| {
            device.c2d.retain(|m| m.delivery != Some(delivery));
        });
    }

    /// Carries out a control-API command.
    pub(crate) fn on_command(
        &mut self,
        shared: &Shared,
        subscriptions: &Subscriptions,
        command: Command,
        out: &mut Vec<OutPublish>,
    ) -> Result<(), CloseReason> {
        match command {
            Command::Close(reason) => return Err(reason),
            Command::InvokeMethod {
                name,
                payload,
                reply,
            } => {
                self.methods.retain(|_, waiting| !waiting.is_closed());
                let request_id = format!("{:x}", self.next_request);
                self.next_request += 1;
                let topic = format!("$iothub/methods/POST/{name}/?$rid={request_id}");
                self.methods.insert(request_id, reply);
                out.push(OutPublish::at_most_once(topic, payload));
            }
            Command::DesiredPatch { version, mut patch } => {
                let topic = format!("$iothub/twin/PATCH/properties/desired/?$version={version}");
                if let Value::Object(members) = &mut patch {
                    members.insert("$version".to_owned(), Value::from(version));
                }
                if subscriptions.matches(&topic) {
                    out.push(OutPublish::at_most_once(
                        topic,
                        patch.to_string().into_bytes(),
                    ));
                }
            }
            Command::C2dQueued => self.deliver_c2d(shared, subscriptions, out),
            Command::PublishRaw { topic, payload } => {
                out.push(OutPublish::at_most_once(topic, payload));
            }
        }
        Ok(())
    }

    /// Sends the queued cloud-to-device messages not yet in flight here,
    /// if the device subscribed to them. Messages sent on an earlier
    /// connection and never acknowledged go again, with DUP.
    pub(crate) fn deliver_c2d(
        &mut self,
        shared: &Shared,
        subscriptions: &Subscriptions,
        out: &mut Vec<OutPublish>,
    ) {
        let connection = self.connection;
        let topic_prefix = format!("devices/{}/messages/devicebound/", self.device_id);
        let mut state = shared.lock();
        let Some(device) = state.devices.get_mut(&self.device_id) else {
            return;
        };
        if !device.is_served_by(connection) {
            return;
        }
        let in_flight = |m: &C2dMessage| m.delivery.is_some_and(|d| d.connection == connection);
        let mut used: Vec<u16> = device
            .c2d
            .iter()
            .filter(|m| in_flight(m))
            .filter_map(|m| m.delivery.map(|d| d.packet_id))
            .collect();
        for message in device.c2d.iter_mut() {
            if used.len() >= MAX_C2D_IN_FLIGHT {
                break;
            }
            if in_flight(message) {
                continue;
            }
            let topic = format!("{topic_prefix}{}", message.properties);
            if !subscriptions.matches(&topic) {
                continue;
            }
            let packet_id = next_free_id(&mut self.next_packet_id, &used);
            used.push(packet_id);
            message.delivery = Some(Delivery {
                connection,
                packet_id,
            });
            out.push(OutPublish {
                topic,
                payload: message.payload.clone(),
                qos: QoS::AtLeastOnce,
                packet_id,
                dup: message.sent_before,
            });
            message.sent_before = true;
        }
    }

    /// Saves the subscriptions into the device's session, while this
    /// connection is the device's.
    pub(crate) fn save_subscriptions(&self, shared: &Shared, subscriptions: &Subscriptions) {
        let connection = self.connection;
        self.with_device(shared, |device| {
            if device.is_served_by(connection) {
                device.session = Some(subscriptions.clone());
            }
        });
        shared.changed();
    }

    /// The connection ends: the device is offline, and its session stays
    /// only if it asked for a persistent one.
    pub(crate) fn finish(self, shared: &Shared, clean_session: bool) {
        let connection = self.connection;
        self.with_device(shared, |device| {
            if device.is_served_by(connection) {
                device.live = None;
                if clean_session {
                    device.session = None;
                }
            }
        });
    }

    fn record_telemetry(&self, shared: &Shared, properties: Vec<(String, String)>, payload: &[u8]) {
        let recorded = self.with_device(shared, |device| {
            device.telemetry.push(Telemetry {
                properties,
                payload: payload.to_vec(),
            });
        });
        if recorded.is_some() {
            shared.changed();
        }
    }

    /// Records a twin request; the first one after
    /// `drop_next_twin_request` closes the connection unanswered, and one
    /// met by a queued failure is refused with it (the answer returned).
    fn note_twin_request(
        &self,
        shared: &Shared,
        request_id: &str,
    ) -> Result<Option<OutPublish>, CloseReason> {
        let fault = self.with_device(shared, |device| {
            device.twin_requests.push(request_id.to_owned());
            let drop = std::mem::take(&mut device.drop_next_twin_request);
            (drop, device.twin_failures.pop_front())
        });
        match fault {
            Some((true, _)) => Err(CloseReason::FaultInjected),
            Some((false, Some(status))) => Ok(Some(OutPublish::at_most_once(
                format!("$iothub/twin/res/{status}/?$rid={request_id}"),
                format!(r#"{{"errorCode":{status}001,"message":"Injected failure."}}"#)
                    .into_bytes(),
            ))),
            _ => Ok(None),
        }
    }

    fn with_device<R>(&self, shared: &Shared, f: impl FnOnce(&mut DeviceState) -> R) -> Option<R> {
        shared.lock().devices.get_mut(&self.device_id).map(f)
    }
}

/// Queues `publish` if the device subscribed to its topic.
fn push_if_subscribed(
    out: &mut Vec<OutPublish>,
    subscriptions: &Subscriptions,
    publish: OutPublish,
) {
    if subscriptions.matches(&publish.topic) {
        out.push(publish);
    }
}

/// The next packet id after `next` that is not 0 and not in `used`.
fn next_free_id(next: &mut u16, used: &[u16]) -> u16 {
    loop {
        let id = *next;
        *next = next.wrapping_add(1);
        if id != 0 && !used.contains(&id) {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_topics_from_the_vectors_parse() {
        // hub.telemetry, hub.methods and hub.twin vectors.
        assert_eq!(
            DeviceTopic::parse("devices/my_device/messages/events/%24.ct=application%2Fjson"),
            Some(DeviceTopic::Telemetry {
                device_id: "my_device",
                properties: "%24.ct=application%2Fjson"
            })
        );
        assert_eq!(
            DeviceTopic::parse("devices/my_device/messages/events/"),
            Some(DeviceTopic::Telemetry {
                device_id: "my_device",
                properties: ""
            })
        );
        assert_eq!(
            DeviceTopic::parse("$iothub/methods/res/200/?$rid=2"),
            Some(DeviceTopic::MethodResponse {
                status: 200,
                request_id: "2"
            })
        );
        assert_eq!(
            DeviceTopic::parse("$iothub/twin/GET/?$rid=1"),
            Some(DeviceTopic::TwinGet { request_id: "1" })
        );
        assert_eq!(
            DeviceTopic::parse("$iothub/twin/PATCH/properties/reported/?$rid=3"),
            Some(DeviceTopic::TwinPatchReported { request_id: "3" })
        );
        for unknown in [
            "devices/my_device/messages/eventsX",
            "devices/my_device/messages/devicebound/",
            "$iothub/methods/res/abc/?$rid=1",
            "$iothub/methods/res/200/?$rid=",
            "$iothub/twin/GET/",
            "$iothub/twin/PATCH/properties/desired/?$rid=1",
            "something/else",
        ] {
            assert_eq!(DeviceTopic::parse(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn packet_ids_skip_zero_and_those_in_flight() {
        let mut next = u16::MAX;
        assert_eq!(next_free_id(&mut next, &[]), u16::MAX);
        assert_eq!(next_free_id(&mut next, &[1, 2]), 3);
    }
}
